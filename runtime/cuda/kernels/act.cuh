// Gated activations silu(gate) * up and gelu(gate) * up (portable subset;
// see common.cuh), templated over the storage type T, fp32 math with the CPU
// formulas (act_abi.h; references ingot::cpu::siluMul and the CPU's gelu).
//
// Schedule: grid-stride loop over 16-byte vectors (ingot_vec<T>::n elements
// per thread per iteration, consecutive threads on consecutive vectors) when
// gate, up and out are all 16-byte aligned, then a scalar tail (and all
// scalar otherwise). Any grid and block size works; ingot_act_launch gives
// one vector per thread. Each element is read and written by one thread, so
// out may alias an input.
#pragma once
#include "common.cuh"
#include "act_abi.h"

__device__ __forceinline__ float ingot_silu_mul1(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}
__device__ __forceinline__ float ingot_gelu_mul1(float x, float u, int tanhApprox) {
  const float gl =
      tanhApprox ? 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)))
                 : 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
  return gl * u;
}

template <class T, bool GELU>
__device__ __forceinline__ void ingot_act_mul_impl(const IngotActMulParams &p) {
  constexpr int V = ingot_vec<T>::n;
  const T *gate = static_cast<const T *>(p.gate);
  const T *up = static_cast<const T *>(p.up);
  T *out = static_cast<T *>(p.out);
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long step = (long long)gridDim.x * blockDim.x;
  const bool vec = ingot_aligned16(gate) && ingot_aligned16(up) && ingot_aligned16(out);
  const long long nv = vec ? p.n / V : 0;
  for (long long q = first; q < nv; q += step) {
    float g[V], u[V];
    ingot_ld16(gate + q * V, g);
    ingot_ld16(up + q * V, u);
#pragma unroll
    for (int i = 0; i < V; ++i)
      g[i] = GELU ? ingot_gelu_mul1(g[i], u[i], p.tanh_approx) : ingot_silu_mul1(g[i], u[i]);
    ingot_st16(out + q * V, g);
  }
  for (long long i = nv * V + first; i < p.n; i += step) {
    const float g = ingot_ld(gate + i), u = ingot_ld(up + i);
    ingot_st(out + i, GELU ? ingot_gelu_mul1(g, u, p.tanh_approx) : ingot_silu_mul1(g, u));
  }
}

#define INGOT_DEFINE_SILU_MUL(T, TN)                                                       \
  extern "C" __global__ void ingot_silu_mul_##TN(IngotActMulParams p) {                    \
    ingot_act_mul_impl<T, false>(p);                                                       \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_silu_mul_##TN)
#define INGOT_DEFINE_GELU_MUL(T, TN)                                                       \
  extern "C" __global__ void ingot_gelu_mul_##TN(IngotActMulParams p) {                    \
    ingot_act_mul_impl<T, true>(p);                                                        \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_gelu_mul_##TN)
#define INGOT_DEFINE_ACTS(T, TN)                                                           \
  INGOT_DEFINE_SILU_MUL(T, TN)                                                             \
  INGOT_DEFINE_GELU_MUL(T, TN)

#if defined(INGOT_KERNELS_INSTANTIATE_ALL) && !defined(INGOT_ACT_NO_INSTANTIATE_ALL)
INGOT_DEFINE_ACTS(float, f32)
INGOT_DEFINE_ACTS(__nv_bfloat16, bf16)
INGOT_DEFINE_ACTS(__half, f16)
#endif
