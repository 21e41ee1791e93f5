// Element types: sizes, names, parsing, and the IEEE binary16 <-> binary32
// conversions used by checkpoint loading and weight casts.
// Invariants: floatToF16 rounds to nearest, ties to even, produces subnormals
// and +-inf on overflow exactly as IEEE 754 requires; f16ToFloat is exact
// (every half is representable as a float). NaNs stay NaN (quiet).
// Conversions read and write through memcpy so unaligned buffers (e.g.
// safetensors data, which is not guaranteed to be aligned) are fine.
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"

#include <algorithm>
#include <cctype>

namespace ingot {

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F32:
    return 4;
  case DType::F16:
    return 2;
  case DType::BF16:
    return 2;
  case DType::I32:
    return 4;
  case DType::I64:
    return 8;
  case DType::U8:
  case DType::I8:
  case DType::Bool:
    return 1;
  case DType::F64:
  case DType::U64:
    return 8;
  case DType::I16:
  case DType::U16:
    return 2;
  case DType::U32:
    return 4;
  }
  throw Error("dtypeSize: invalid dtype value " + std::to_string(int(t)));
}

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::U8:
    return "u8";
  case DType::F64:
    return "f64";
  case DType::I8:
    return "i8";
  case DType::I16:
    return "i16";
  case DType::U16:
    return "u16";
  case DType::U32:
    return "u32";
  case DType::U64:
    return "u64";
  case DType::Bool:
    return "bool";
  }
  return "invalid";
}

bool isValidDType(uint8_t v) { return v < kNumDTypes; }

bool parseDType(const std::string &s, DType &out) {
  // Case-insensitive so the safetensors spelling ("F32", "BF16") and the
  // CLI / numpy spelling ("f32", "float32", "bfloat16") both work.
  std::string l(s);
  std::transform(l.begin(), l.end(), l.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  struct Name {
    const char *name;
    DType t;
  };
  static const Name names[] = {
      {"f32", DType::F32},   {"float32", DType::F32},   {"float", DType::F32},
      {"f16", DType::F16},   {"float16", DType::F16},   {"half", DType::F16},
      {"bf16", DType::BF16}, {"bfloat16", DType::BF16}, {"i32", DType::I32},
      {"int32", DType::I32}, {"i64", DType::I64},       {"int64", DType::I64},
      {"u8", DType::U8},     {"uint8", DType::U8},      {"f64", DType::F64},
      {"float64", DType::F64}, {"double", DType::F64},  {"i8", DType::I8},
      {"int8", DType::I8},   {"i16", DType::I16},       {"int16", DType::I16},
      {"u16", DType::U16},   {"uint16", DType::U16},    {"u32", DType::U32},
      {"uint32", DType::U32}, {"u64", DType::U64},      {"uint64", DType::U64},
      {"bool", DType::Bool},
  };
  for (const Name &n : names)
    if (l == n.name) {
      out = n.t;
      return true;
    }
  return false;
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign; // +-0
    } else {
      // Subnormal half: normalise into a float (always representable).
      uint32_t e = 113; // 127 - 15 + 1
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
      }
      bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13); // inf, or NaN with its payload
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) // NaN: keep it quiet, keep the top payload bits
    return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  int e = int(a >> 23) - 127;
  if (e > 15) // >= 65536 (and inf): beyond every finite half after rounding
    return uint16_t(sign | 0x7c00u);
  if (e >= -14) {
    // Normal half. A carry out of the mantissa bumps the exponent, and out
    // of exponent 30 yields 0x7c00 = inf, which is the correct rounding.
    uint32_t mant = a & 0x7fffffu;
    uint32_t h = (uint32_t(e + 15) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
      ++h;
    return uint16_t(sign | h);
  }
  if (e < -25) // below half the smallest subnormal (2^-25): rounds to zero
    return sign;
  // Subnormal half: units of 2^-24. The 24-bit significand `mant` has value
  // mant * 2^(e-23), so the half mantissa is mant >> (-e - 1).
  uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  int shift = -e - 1; // 14..24
  uint32_t h = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u)))
    ++h; // may carry into the smallest normal (0x0400), which is correct
  return uint16_t(sign | h);
}

void convertToF32(const void *src, DType from, float *dst, size_t n) {
  const uint8_t *s = static_cast<const uint8_t *>(src);
  switch (from) {
  case DType::F32:
    std::memcpy(dst, s, n * 4);
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, s + 2 * i, 2);
      dst[i] = f16ToFloat(h);
    }
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, s + 2 * i, 2);
      dst[i] = bf16ToFloat(h);
    }
    return;
  case DType::I32:
    for (size_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, s + 4 * i, 4);
      dst[i] = float(v);
    }
    return;
  case DType::I64:
    for (size_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, s + 8 * i, 8);
      dst[i] = float(v);
    }
    return;
  case DType::U8:
    for (size_t i = 0; i < n; ++i)
      dst[i] = float(s[i]);
    return;
  case DType::F64:
    for (size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, s + 8 * i, 8);
      dst[i] = float(v);
    }
    return;
  default:
    break;
  }
  throw Error("convertToF32: unsupported source dtype " +
              std::to_string(int(from)));
}

void convertFromF32(const float *src, void *dst, DType to, size_t n) {
  uint8_t *d = static_cast<uint8_t *>(dst);
  switch (to) {
  case DType::F32:
    std::memcpy(d, src, n * 4);
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = floatToF16(src[i]);
      std::memcpy(d + 2 * i, &h, 2);
    }
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = floatToBf16(src[i]);
      std::memcpy(d + 2 * i, &h, 2);
    }
    return;
  default:
    // Float -> integer is never a weight transform; refusing it avoids
    // silently picking a rounding rule.
    throw Error(std::string("convertFromF32: cannot convert f32 to ") +
                dtypeName(to) + " (only f32, f16 and bf16 are targets)");
  }
}

} // namespace ingot
