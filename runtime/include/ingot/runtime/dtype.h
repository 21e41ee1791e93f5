// Element types shared by plans, checkpoints and kernels.
// Twin: enum DType in runtime/schema/plan.fbs (same numeric values).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ingot {

enum class DType : uint8_t {
  F32 = 0, F16 = 1, BF16 = 2, I32 = 3, I64 = 4, U8 = 5,
  F64 = 6, I8 = 7, I16 = 8, U16 = 9, U32 = 10, U64 = 11, Bool = 12
};
constexpr int kNumDTypes = 13;
bool isValidDType(uint8_t v);

size_t dtypeSize(DType t);
const char *dtypeName(DType t);            // "f32", "f16", "bf16", ...
bool parseDType(const std::string &s, DType &out); // accepts f32/F32/float32/BF16/...

inline float bf16ToFloat(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t floatToBf16(float f) { // round to nearest even, NaN kept
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16ToFloat(uint16_t h);
uint16_t floatToF16(float f);

// Converts `n` elements from `src` (type `from`) to float32.
void convertToF32(const void *src, DType from, float *dst, size_t n);
// Converts `n` float32 elements to `to`.
void convertFromF32(const float *src, void *dst, DType to, size_t n);

} // namespace ingot
