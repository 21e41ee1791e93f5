// Row copies and dtype casts (portable subset; see common.cuh), templated
// over the storage type T. Parameters and semantics: embedding_abi.h.
//
// Schedule (embedding, gather_rows): one block per output row
// (gridDim.x = rows); the block's threads copy the row in 16-byte vectors
// (consecutive threads on consecutive vectors: coalesced) when source and
// destination rows are 16-byte aligned, else element by element. fp32
// output of a 16-bit T writes two 16-byte vectors per 16-byte load.
// Casts: grid-stride loop, each thread converting ingot_vec<16-bit T>::n = 8
// elements per iteration (one 16-byte access on the 16-bit side, two on the
// fp32 side) when both buffers are aligned, then a scalar tail.
#pragma once
#include "common.cuh"
#include "embedding_abi.h"

// V = ingot_vec<S>::n values of S at p (16-byte aligned) -> fp32 v[V], and
// fp32 v[V] -> V values of D at q (aligned), V a multiple of both vectors.
template <class S, int V> __device__ __forceinline__ void ingot_ldv(const S *p, float *v) {
#pragma unroll
  for (int c = 0; c < V; c += ingot_vec<S>::n)
    ingot_ld16(p + c, v + c);
}
template <class D, int V> __device__ __forceinline__ void ingot_stv(D *q, const float *v) {
#pragma unroll
  for (int c = 0; c < V; c += ingot_vec<D>::n)
    ingot_st16(q + c, v + c);
}

// Copies one row of `cols` elements from src (T or nothing: zeros) to dst.
template <class T, class O>
__device__ __forceinline__ void ingot_copy_row(const T *src, O *dst, long long cols) {
  constexpr int V = ingot_vec<T>::n; // >= ingot_vec<O>::n (O is T or float)
  const long long step = blockDim.x;
  const bool vec = (src == nullptr || ingot_aligned16(src)) && ingot_aligned16(dst);
  const long long nv = vec ? cols / V : 0;
  for (long long q = threadIdx.x; q < nv; q += step) {
    float v[V];
    if (src) {
      ingot_ld16(src + q * V, v);
    } else {
#pragma unroll
      for (int i = 0; i < V; ++i)
        v[i] = 0.0f;
    }
    ingot_stv<O, V>(dst + q * V, v);
  }
  for (long long i = nv * V + threadIdx.x; i < cols; i += step)
    ingot_st(dst + i, src ? ingot_ld(src + i) : 0.0f);
}

template <class T>
__device__ __forceinline__ void ingot_embedding_impl(const IngotEmbeddingParams &p) {
  const long long row = blockIdx.x;
  if (row >= p.rows)
    return;
  const long long id = p.ids[row];
  const T *src =
      id >= 0 && id < p.vocab ? static_cast<const T *>(p.table) + id * p.hidden : nullptr;
  ingot_copy_row<T, T>(src, static_cast<T *>(p.out) + row * p.hidden, p.hidden);
}

template <class T>
__device__ __forceinline__ void ingot_gather_rows_impl(const IngotGatherRowsParams &p) {
  const long long i = blockIdx.x;
  if (i >= p.n)
    return;
  const long long r = p.last_of_query_start ? (long long)p.rows_idx[i + 1] - 1 : p.rows_idx[i];
  const T *src = r >= 0 && r < p.x_rows ? static_cast<const T *>(p.x) + r * p.cols : nullptr;
  if (p.out_f32)
    ingot_copy_row<T, float>(src, static_cast<float *>(p.out) + i * p.cols, p.cols);
  else
    ingot_copy_row<T, T>(src, static_cast<T *>(p.out) + i * p.cols, p.cols);
}

// S -> D elementwise, 8 elements (one 16-bit vector) per thread iteration.
template <class S, class D>
__device__ __forceinline__ void ingot_cast_impl(const IngotCastParams &p) {
  constexpr int V = 8;
  const S *x = static_cast<const S *>(p.x);
  D *out = static_cast<D *>(p.out);
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long step = (long long)gridDim.x * blockDim.x;
  const long long nv = ingot_aligned16(x) && ingot_aligned16(out) ? p.n / V : 0;
  for (long long q = first; q < nv; q += step) {
    float v[V];
    ingot_ldv<S, V>(x + q * V, v);
    ingot_stv<D, V>(out + q * V, v);
  }
  for (long long i = nv * V + first; i < p.n; i += step)
    ingot_st(out + i, ingot_ld(x + i));
}

#define INGOT_DEFINE_EMBEDDING(T, TN)                                                      \
  extern "C" __global__ void ingot_embedding_##TN(IngotEmbeddingParams p) {                \
    ingot_embedding_impl<T>(p);                                                            \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_embedding_##TN)
#define INGOT_DEFINE_GATHER_ROWS(T, TN)                                                    \
  extern "C" __global__ void ingot_gather_rows_##TN(IngotGatherRowsParams p) {             \
    ingot_gather_rows_impl<T>(p);                                                          \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_gather_rows_##TN)
// Casts between fp32 and a 16-bit T (not defined for float itself).
#define INGOT_DEFINE_CAST_TO_F32(T, TN)                                                    \
  extern "C" __global__ void ingot_cast_##TN##_to_f32(IngotCastParams p) {                 \
    ingot_cast_impl<T, float>(p);                                                          \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_cast_##TN##_to_f32)
#define INGOT_DEFINE_CAST_FROM_F32(T, TN)                                                  \
  extern "C" __global__ void ingot_cast_f32_to_##TN(IngotCastParams p) {                   \
    ingot_cast_impl<float, T>(p);                                                          \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_cast_f32_to_##TN)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_EMBEDDING(float, f32)
INGOT_DEFINE_EMBEDDING(__nv_bfloat16, bf16)
INGOT_DEFINE_EMBEDDING(__half, f16)
INGOT_DEFINE_GATHER_ROWS(float, f32)
INGOT_DEFINE_GATHER_ROWS(__nv_bfloat16, bf16)
INGOT_DEFINE_GATHER_ROWS(__half, f16)
INGOT_DEFINE_CAST_TO_F32(__nv_bfloat16, bf16)
INGOT_DEFINE_CAST_TO_F32(__half, f16)
INGOT_DEFINE_CAST_FROM_F32(__nv_bfloat16, bf16)
INGOT_DEFINE_CAST_FROM_F32(__half, f16)
#endif
