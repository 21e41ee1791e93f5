// The emulation's kernel registry (what the fake CUDA driver launches by
// name) and its 16-bit float types (round to nearest even, as cuda_bf16.h /
// cuda_fp16.h convert).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"
#include "cuda/kernels/common.cuh"

namespace {

struct ScaleParams {
  const float *x;
  float *y;
  long long n;
  float s;
};

extern "C" __global__ void ingot_test_scale(ScaleParams p) {
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += blockDim.x * gridDim.x)
    p.y[i] = p.x[i] * p.s;
}
INGOT_REGISTER_KERNEL(ingot_test_scale)

TEST(CudaEmuRegistry, LaunchesByNameWithParamStruct) {
  const auto *k = ingot::cudaemu::findKernel("ingot_test_scale");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->paramBytes, sizeof(ScaleParams));
  EXPECT_EQ(ingot::cudaemu::findKernel("ingot_no_such_kernel"), nullptr);
  std::vector<float> x(100), y(100, 0.f);
  for (int i = 0; i < 100; ++i)
    x[i] = float(i);
  ScaleParams p{x.data(), y.data(), 100, 2.5f};
  void *args[] = {&p};
  k->run(ingot::cudaemu::LaunchOptions{}, dim3(3), dim3(32), 0, args);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(y[i], 2.5f * float(i));
  auto names = ingot::cudaemu::registeredKernels();
  EXPECT_NE(std::find(names.begin(), names.end(), "ingot_test_scale"), names.end());
}

float bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(CudaEmuDtypes, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(__float2bfloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6: rounds up.
  EXPECT_EQ(__float2bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);
  EXPECT_EQ(__float2bfloat16(-2.0f).bits, 0xc000);
  EXPECT_TRUE(std::isnan(__bfloat162float(__float2bfloat16(bits(0x7f800001u)))));
  EXPECT_TRUE(std::isinf(__bfloat162float(__float2bfloat16(3.4e38f * 10))));
  EXPECT_EQ(__bfloat162float(__float2bfloat16(3.140625f)), 3.140625f);
}

TEST(CudaEmuDtypes, F16MatchesIeee) {
  EXPECT_EQ(__float2half(1.0f).bits, 0x3c00);
  EXPECT_EQ(__float2half(65504.0f).bits, 0x7bff);
  EXPECT_EQ(__float2half(1e6f).bits, 0x7c00);
  EXPECT_EQ(__half2float(__float2half(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));
  EXPECT_EQ(__half2float(__float2half(0.333333f)), 0.333251953125f);
}

TEST(CudaEmuDtypes, VectorLoadsConvert) {
  alignas(16) __nv_bfloat16 h[8];
  for (int i = 0; i < 8; ++i)
    h[i] = __float2bfloat16(float(i) - 3.5f);
  float v[8];
  ingot_ld16(h, v);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(v[i], float(i) - 3.5f);
  alignas(16) __half o[8];
  ingot_st16(o, v);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(ingot_ld(o + i), float(i) - 3.5f);
  EXPECT_EQ(ingot_vec<float>::n, 4);
  EXPECT_EQ(ingot_vec<__half>::n, 8);
}

} // namespace
