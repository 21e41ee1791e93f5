// Helpers shared by the portable fp32 kernels (runtime/cuda/kernels/*.cuh).
// The portable subset (docs/cuda.md): no host code, no CUDA headers, no
// inline PTX; the same text compiles with NVRTC for the GPU and with the host
// compiler against runtime/cuda/emu/cuda_emu.h (include that first).
// Block reductions assume blockDim.x is a multiple of 32 (full warps) and
// blockDim.y == blockDim.z == 1; their order depends only on blockDim.x and
// the row, never on other rows (batch invariance).
#pragma once

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define INGOT_SHARED_ARRAY(T, name, n) __shared__ __align__(16) T name[n]
#define INGOT_DYNAMIC_SHARED(T, name)                                                      \
  extern __shared__ __align__(16) unsigned char ingot_dynamic_smem_[];                     \
  T *const name = reinterpret_cast<T *>(ingot_dynamic_smem_)
#elif !defined(INGOT_CUDA_EMU)
#error "include runtime/cuda/emu/cuda_emu.h before the kernel sources on the host"
#endif

#ifndef INGOT_REGISTER_KERNEL
#define INGOT_REGISTER_KERNEL(fn)
#endif

#define INGOT_FULL_MASK 0xffffffffu

__device__ __forceinline__ bool ingot_aligned16(const void *p) {
  return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0;
}

__device__ __forceinline__ float ingot_neg_inf() { return __int_as_float(0xff800000); }

// Butterfly: every lane ends with the warp's total.
__device__ __forceinline__ float ingot_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(INGOT_FULL_MASK, v, o);
  return v;
}
__device__ __forceinline__ float ingot_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(INGOT_FULL_MASK, v, o));
  return v;
}

// Block-wide sum (isMax: max) returned to every thread. `red` holds 33
// floats of shared memory; the leading barrier lets callers reuse it.
__device__ __forceinline__ float ingot_block_reduce(float v, float *red, bool isMax) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int nwarps = blockDim.x >> 5;
  v = isMax ? ingot_warp_max(v) : ingot_warp_sum(v);
  __syncthreads();
  if (lane == 0)
    red[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const float id = isMax ? ingot_neg_inf() : 0.0f;
    float t = lane < nwarps ? red[lane] : id;
    for (int o = 16; o > 0; o >>= 1) {
      const float u = __shfl_down_sync(INGOT_FULL_MASK, t, o);
      t = isMax ? fmaxf(t, u) : t + u;
    }
    if (lane == 0)
      red[32] = t;
  }
  __syncthreads();
  return red[32];
}

// ---- Storage dtypes. Kernels are templates over the storage type T of
// their activations: float, __nv_bfloat16 or __half (the emulation defines
// the same names with the same round-to-nearest-even conversions). Math is
// always fp32: load with ingot_ld, store with ingot_st. ----
__device__ __forceinline__ float ingot_to_f32(float v) { return v; }
__device__ __forceinline__ float ingot_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ingot_to_f32(__half v) { return __half2float(v); }
template <class T> __device__ __forceinline__ T ingot_from_f32(float v);
template <> __device__ __forceinline__ float ingot_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 ingot_from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __half ingot_from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <class T> __device__ __forceinline__ float ingot_ld(const T *p) { return ingot_to_f32(*p); }
template <class T> __device__ __forceinline__ void ingot_st(T *p, float v) {
  *p = ingot_from_f32<T>(v);
}

// 16-byte vectors: ingot_vec<T>::n elements of T in one uint4 load/store.
// p must be 16-byte aligned (check with ingot_aligned16).
template <class T> struct ingot_vec { static constexpr int n = 16 / (int)sizeof(T); };
template <class T> __device__ __forceinline__ void ingot_ld16(const T *p, float *out) {
  const uint4 raw = *reinterpret_cast<const uint4 *>(p);
  const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
  for (int i = 0; i < ingot_vec<T>::n; ++i)
    out[i] = ingot_to_f32(e[i]);
}
template <class T> __device__ __forceinline__ void ingot_st16(T *p, const float *v) {
  uint4 raw;
  T *e = reinterpret_cast<T *>(&raw);
#pragma unroll
  for (int i = 0; i < ingot_vec<T>::n; ++i)
    e[i] = ingot_from_f32<T>(v[i]);
  *reinterpret_cast<uint4 *>(p) = raw;
}
