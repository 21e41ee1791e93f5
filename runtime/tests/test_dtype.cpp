// Tests for dtype.cpp: names, parsing, and the f16 conversions. The f16
// checks use references independent of the implementation: literal IEEE bit
// patterns, the round-to-nearest-even property at every midpoint between
// adjacent halves, and (where the compiler has it) the _Float16 type.
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace ingot;

namespace {

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::F16), 2u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::I32), 4u);
  EXPECT_EQ(dtypeSize(DType::I64), 8u);
  EXPECT_EQ(dtypeSize(DType::U8), 1u);
  EXPECT_STREQ(dtypeName(DType::F32), "f32");
  EXPECT_STREQ(dtypeName(DType::F16), "f16");
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_STREQ(dtypeName(DType::I32), "i32");
  EXPECT_STREQ(dtypeName(DType::I64), "i64");
  EXPECT_STREQ(dtypeName(DType::U8), "u8");
}

TEST(DType, Parse) {
  struct Case {
    const char *s;
    DType t;
  };
  const Case cases[] = {
      {"f32", DType::F32},   {"F32", DType::F32},   {"float32", DType::F32},
      {"F16", DType::F16},   {"f16", DType::F16},   {"float16", DType::F16},
      {"BF16", DType::BF16}, {"bf16", DType::BF16}, {"bfloat16", DType::BF16},
      {"I32", DType::I32},   {"int32", DType::I32}, {"I64", DType::I64},
      {"int64", DType::I64}, {"U8", DType::U8},     {"F64", DType::F64},
      {"double", DType::F64}, {"int8", DType::I8},  {"u64", DType::U64},
      {"BOOL", DType::Bool},
  };
  for (const Case &c : cases) {
    DType t = DType::U8;
    EXPECT_TRUE(parseDType(c.s, t)) << c.s;
    EXPECT_EQ(t, c.t) << c.s;
  }
  DType t;
  EXPECT_FALSE(parseDType("", t));
  EXPECT_FALSE(parseDType("complex64", t));
  EXPECT_FALSE(parseDType("f8", t));
  EXPECT_FALSE(parseDType("f32 ", t));
}

TEST(DType, F16KnownValues) {
  struct Case {
    uint16_t h;
    float f;
  };
  const Case cases[] = {
      {0x3c00, 1.0f},
      {0xc000, -2.0f},
      {0x3800, 0.5f},
      {0x7bff, 65504.0f},
      {0x0001, 5.9604644775390625e-08f}, // 2^-24, smallest subnormal
      {0x03ff, 6.097555160522461e-05f},  // largest subnormal, 1023 * 2^-24
      {0x0400, 6.103515625e-05f},        // 2^-14, smallest normal
      {0x3555, 0.333251953125f},
      {0x2e66, 0.0999755859375f},
      {0x8000, -0.0f},
      {0x0000, 0.0f},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(bitsOf(f16ToFloat(c.h)), bitsOf(c.f)) << std::hex << c.h;
    EXPECT_EQ(floatToF16(c.f), c.h) << c.f;
  }
  EXPECT_EQ(f16ToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16ToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(f16ToFloat(0xfc01)));
}

TEST(DType, F16Rounding) {
  EXPECT_EQ(floatToF16(0.1f), 0x2e66);
  EXPECT_EQ(floatToF16(65519.99f), 0x7bff);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00); // tie with odd 0x7bff: to inf
  EXPECT_EQ(floatToF16(1e6f), 0x7c00);
  EXPECT_EQ(floatToF16(-1e6f), 0xfc00);
  EXPECT_EQ(floatToF16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(floatToF16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -25)), 0x0000); // tie to even (0)
  EXPECT_EQ(floatToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(floatToF16(std::ldexp(3.0f, -25)), 0x0002); // tie 1|2 -> 2
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(floatToF16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00); // tie -> even
  EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(floatToF16(fromBits(0x00000001)), 0x0000); // f32 denormal
  uint16_t n = floatToF16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(n & 0x7c00, 0x7c00);
  EXPECT_NE(n & 0x03ff, 0);
  uint16_t sn = floatToF16(fromBits(0x7f800001)); // signalling NaN stays NaN
  EXPECT_TRUE(std::isnan(f16ToFloat(sn)));
}

// Every finite half survives a round trip, and every midpoint between two
// adjacent halves rounds to the even one (just above/below: to the nearer).
TEST(DType, F16RoundTripAndMidpoints) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00)
      continue; // inf / NaN
    EXPECT_EQ(floatToF16(f16ToFloat(uint16_t(h))), h) << std::hex << h;
  }
  for (uint32_t sign = 0; sign < 2; ++sign)
    for (uint32_t h = 0; h < 0x7bff; ++h) {
      uint16_t lo = uint16_t(h | (sign << 15)),
               hi = uint16_t((h + 1) | (sign << 15));
      float a = f16ToFloat(lo), b = f16ToFloat(hi);
      float mid = (a + b) / 2; // exact: halves have few significant bits
      ASSERT_EQ(double(mid), (double(a) + double(b)) / 2);
      uint16_t even = (h & 1) ? hi : lo;
      EXPECT_EQ(floatToF16(mid), even) << std::hex << h;
      float toward0 = std::nextafter(mid, 0.0f),
            away = std::nextafter(mid, sign ? -1e9f : 1e9f);
      EXPECT_EQ(floatToF16(toward0), lo) << std::hex << h;
      EXPECT_EQ(floatToF16(away), hi) << std::hex << h;
    }
}

#ifdef __FLT16_MAX__
// Against the compiler's IEEE half type (libgcc soft-float or F16C).
TEST(DType, F16MatchesCompilerFloat16) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    _Float16 x;
    uint16_t hb = uint16_t(h);
    std::memcpy(&x, &hb, 2);
    float ref = float(x);
    float got = f16ToFloat(hb);
    if (std::isnan(ref))
      EXPECT_TRUE(std::isnan(got));
    else
      EXPECT_EQ(bitsOf(got), bitsOf(ref)) << std::hex << h;
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 65521) {
    float f = fromBits(uint32_t(u));
    if (std::isnan(f))
      continue;
    _Float16 r = _Float16(f);
    uint16_t rb;
    std::memcpy(&rb, &r, 2);
    EXPECT_EQ(floatToF16(f), rb) << std::hex << u;
  }
}
#endif

TEST(DType, BF16) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16ToFloat(0xc040), -3.0f);
  EXPECT_EQ(floatToBf16(fromBits(0x3f808000)), 0x3f80); // tie -> even
  EXPECT_EQ(floatToBf16(fromBits(0x3f818000)), 0x3f82); // tie -> even
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(std::nanf("")))));
}

TEST(DType, ConvertBuffers) {
  const float src[5] = {1.0f, -2.5f, 0.1f, 65504.0f, 1e-8f};
  // Unaligned destination/source on purpose (safetensors data may be).
  std::vector<uint8_t> buf(1 + 5 * 4);
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    convertFromF32(src, buf.data() + 1, t, 5);
    float back[5];
    convertToF32(buf.data() + 1, t, back, 5);
    for (int i = 0; i < 5; ++i) {
      float expect = t == DType::F32   ? src[i]
                     : t == DType::F16 ? f16ToFloat(floatToF16(src[i]))
                                       : bf16ToFloat(floatToBf16(src[i]));
      EXPECT_EQ(back[i], expect) << dtypeName(t) << " " << i;
    }
  }
  const int64_t i64[3] = {-5, 0, 1 << 20};
  float f[3];
  convertToF32(i64, DType::I64, f, 3);
  EXPECT_EQ(f[0], -5.0f);
  EXPECT_EQ(f[2], 1048576.0f);
  const int32_t i32[2] = {7, -8};
  convertToF32(i32, DType::I32, f, 2);
  EXPECT_EQ(f[1], -8.0f);
  const uint8_t u8[2] = {0, 255};
  convertToF32(u8, DType::U8, f, 2);
  EXPECT_EQ(f[1], 255.0f);
  int32_t out[2];
  EXPECT_THROW(convertFromF32(f, out, DType::I32, 2), Error);
}

} // namespace
