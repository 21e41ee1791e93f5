// Softmax over the last axis (portable subset; see common.cuh), templated
// over the storage type T, fp32 math. Parameters: softmax_abi.h. Reference:
// ingot::cpu::softmax (max, exp(x - max), sum, times 1/sum).
//
// Schedule: one block per row (gridDim.x = rows), blockDim.x a multiple of
// 32. Three passes over the row, each in 16-byte vectors (consecutive
// threads on consecutive vectors) when x and out are 16-byte aligned, plus a
// scalar tail: max (block reduction), sum of exp(x - max) (block reduction,
// fp32), then out = exp(x - max) / sum. Each thread rereads only its own
// elements before writing them, so out may alias x.
#pragma once
#include "common.cuh"
#include "softmax_abi.h"

template <class T>
__device__ __forceinline__ void ingot_softmax_impl(const IngotSoftmaxParams &p) {
  INGOT_SHARED_ARRAY(float, red, 33);
  const long long row = blockIdx.x;
  if (row >= p.rows)
    return;
  constexpr int V = ingot_vec<T>::n;
  const long long C = p.cols;
  const T *xr = static_cast<const T *>(p.x) + row * C;
  T *orow = static_cast<T *>(p.out) + row * C;
  const long long nv = ingot_aligned16(xr) && ingot_aligned16(orow) ? C / V : 0;
  const long long tail = nv * V;
  const long long step = blockDim.x;
  float m = ingot_neg_inf();
  for (long long q = threadIdx.x; q < nv; q += step) {
    float v[V];
    ingot_ld16(xr + q * V, v);
#pragma unroll
    for (int i = 0; i < V; ++i)
      m = fmaxf(m, v[i]);
  }
  for (long long i = tail + threadIdx.x; i < C; i += step)
    m = fmaxf(m, ingot_ld(xr + i));
  m = ingot_block_reduce(m, red, true);
  float s = 0.0f;
  for (long long q = threadIdx.x; q < nv; q += step) {
    float v[V];
    ingot_ld16(xr + q * V, v);
#pragma unroll
    for (int i = 0; i < V; ++i)
      s += expf(v[i] - m);
  }
  for (long long i = tail + threadIdx.x; i < C; i += step)
    s += expf(ingot_ld(xr + i) - m);
  s = ingot_block_reduce(s, red, false);
  const float inv = 1.0f / s;
  for (long long q = threadIdx.x; q < nv; q += step) {
    float v[V];
    ingot_ld16(xr + q * V, v);
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = expf(v[i] - m) * inv;
    ingot_st16(orow + q * V, v);
  }
  for (long long i = tail + threadIdx.x; i < C; i += step)
    ingot_st(orow + i, expf(ingot_ld(xr + i) - m) * inv);
}

#define INGOT_DEFINE_SOFTMAX(T, TN)                                                        \
  extern "C" __global__ void ingot_softmax_##TN(IngotSoftmaxParams p) {                    \
    ingot_softmax_impl<T>(p);                                                              \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_softmax_##TN)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_SOFTMAX(float, f32)
INGOT_DEFINE_SOFTMAX(__nv_bfloat16, bf16)
INGOT_DEFINE_SOFTMAX(__half, f16)
#endif
