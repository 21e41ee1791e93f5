// Rotary position embedding and the paged-KV append (portable subset; see
// common.cuh), templated over the storage type T and the head dim D, fp32
// math. Parameters and semantics: rope_abi.h. References: ingot::cpu::rope
// (runtime/src/cpu_kernels_rope.cpp) and pagedAttention's cache append.
//
// Schedule: one block per token (gridDim.x = tokens). The block first puts
// the token's rotary_dim/2 cos/sin values in shared memory (computed once
// per token, not per head), then its threads walk the token's heads in
// chunks: with 16-byte aligned rows (and rotary_dim a multiple of 2n,
// "half", or n, "interleaved", n = ingot_vec<T>::n) a chunk is one 16-byte
// vector (n pairs from the two halves, or n/2 adjacent pairs), otherwise one
// pair. Consecutive threads take consecutive chunks of a head, so a warp's
// loads are contiguous. The append kernel treats the q heads (rotated in
// place) and the k heads (rotated into the cache slot) as one list of
// heads, then copies v (and k's pass-through dims) into the cache with
// 16-byte vectors where aligned.
#pragma once
#include "common.cuh"
#include "rope_abi.h"

// cs[j] = cos, cs[D/2 + j] = sin of float(pos) * inv_freq[j], j < half, as
// the CPU rope (fp32 angle, cos/sin in double rounded to fp32), times scale.
template <int D>
__device__ __forceinline__ void ingot_rope_cos_sin(float *cs, int pos, const float *inv_freq,
                                                   int half, float scale) {
  for (int j = threadIdx.x; j < half; j += blockDim.x) {
    const float ang = (float)pos * inv_freq[j];
    cs[j] = (float)cos((double)ang) * scale;
    cs[D / 2 + j] = (float)sin((double)ang) * scale;
  }
  __syncthreads();
}

// Rotates chunk c of one head from s to d (s may equal d: both elements of
// every pair are read before either is written).
template <class T, int D, bool VEC>
__device__ __forceinline__ void ingot_rope_chunk(const T *s, T *d, int c, const float *cs,
                                                 int half, int neox) {
  constexpr int V = ingot_vec<T>::n;
  if (VEC) {
    if (neox) {
      const int j0 = c * V;
      float a[V], b[V];
      ingot_ld16(s + j0, a);
      ingot_ld16(s + half + j0, b);
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const float co = cs[j0 + i], si = cs[D / 2 + j0 + i];
        const float x = a[i], y = b[i];
        a[i] = x * co - y * si;
        b[i] = y * co + x * si;
      }
      ingot_st16(d + j0, a);
      ingot_st16(d + half + j0, b);
    } else {
      const int e0 = c * V;
      float v[V];
      ingot_ld16(s + e0, v);
#pragma unroll
      for (int i = 0; i < V / 2; ++i) {
        const int j = e0 / 2 + i;
        const float co = cs[j], si = cs[D / 2 + j];
        const float x = v[2 * i], y = v[2 * i + 1];
        v[2 * i] = x * co - y * si;
        v[2 * i + 1] = y * co + x * si;
      }
      ingot_st16(d + e0, v);
    }
  } else {
    const int ia = neox ? c : 2 * c, ib = neox ? c + half : 2 * c + 1;
    const float co = cs[c], si = cs[D / 2 + c];
    const float x = ingot_ld(s + ia), y = ingot_ld(s + ib);
    ingot_st(d + ia, x * co - y * si);
    ingot_st(d + ib, y * co + x * si);
  }
}

// Rotates `heads` heads: head h < nA is src A[h] -> dst A[h] (in place), the
// rest src B[h - nA] -> dst Bd[h - nA].
template <class T, int D, bool VEC>
__device__ __forceinline__ void ingot_rope_heads(T *a, int nA, const T *b, T *bd, int nB,
                                                 const float *cs, int rotary_dim, int neox) {
  constexpr int V = ingot_vec<T>::n;
  const int half = rotary_dim / 2;
  const int cpr = VEC ? (neox ? half / V : rotary_dim / V) : half; // chunks per head
  const int items = (nA + nB) * cpr;
  for (int it = threadIdx.x; it < items; it += blockDim.x) {
    const int h = it / cpr, c = it % cpr;
    if (h < nA)
      ingot_rope_chunk<T, D, VEC>(a + (long long)h * D, a + (long long)h * D, c, cs, half, neox);
    else
      ingot_rope_chunk<T, D, VEC>(b + (long long)(h - nA) * D, bd + (long long)(h - nA) * D, c,
                                  cs, half, neox);
  }
}

template <class T, int D>
__device__ __forceinline__ bool ingot_rope_vec_ok(int rotary_dim, int neox) {
  constexpr int V = ingot_vec<T>::n;
  return (D * (int)sizeof(T)) % 16 == 0 && (neox ? (rotary_dim / 2) % V == 0 : rotary_dim % V == 0);
}

template <class T, int D>
__device__ __forceinline__ void ingot_rope_impl(const IngotRopeParams &p) {
  INGOT_SHARED_ARRAY(float, cs, D);
  const long long t = blockIdx.x;
  if (t >= p.tokens)
    return; // whole block
  ingot_rope_cos_sin<D>(cs, p.positions[t], p.inv_freq, p.rotary_dim / 2, p.attn_scale);
  T *row = static_cast<T *>(p.x) + t * p.num_heads * D;
  if (ingot_aligned16(row) && ingot_rope_vec_ok<T, D>(p.rotary_dim, p.neox))
    ingot_rope_heads<T, D, true>(row, p.num_heads, nullptr, nullptr, 0, cs, p.rotary_dim, p.neox);
  else
    ingot_rope_heads<T, D, false>(row, p.num_heads, nullptr, nullptr, 0, cs, p.rotary_dim, p.neox);
}

// Copies elements [e0, D) of n heads from s to d (rows of n * D).
template <class T, int D>
__device__ __forceinline__ void ingot_copy_heads(const T *s, T *d, int n, int e0) {
  constexpr int V = ingot_vec<T>::n;
  const bool vec = ingot_aligned16(s) && ingot_aligned16(d) && (D * (int)sizeof(T)) % 16 == 0 &&
                   e0 % V == 0;
  const int per = vec ? (D - e0) / V : D - e0;
  const int items = n * per;
  for (int it = threadIdx.x; it < items; it += blockDim.x) {
    const long long h = it / per;
    const int c = it % per;
    if (vec) {
      float v[V];
      ingot_ld16(s + h * D + e0 + c * V, v);
      ingot_st16(d + h * D + e0 + c * V, v);
    } else {
      d[h * D + e0 + c] = s[h * D + e0 + c];
    }
  }
}

template <class T, int D>
__device__ __forceinline__ void ingot_rope_kv_append_impl(const IngotRopeKvParams &p) {
  INGOT_SHARED_ARRAY(float, cs, D);
  const long long t = blockIdx.x;
  if (t >= p.tokens)
    return; // whole block
  const int nh = p.num_heads, nkv = p.num_kv_heads;
  const long long slot = p.slot_mapping[t];
  T *q = static_cast<T *>(p.q) + t * nh * D;
  const T *k = static_cast<const T *>(p.k) + t * nkv * D;
  const T *v = static_cast<const T *>(p.v) + t * nkv * D;
  T *kc = slot >= 0 ? static_cast<T *>(p.k_cache) + slot * nkv * D : nullptr;
  T *vc = slot >= 0 ? static_cast<T *>(p.v_cache) + slot * nkv * D : nullptr;
  const int nk = kc ? nkv : 0;
  if (p.apply_rope) { // uniform: the barrier in ingot_rope_cos_sin is reached by all
    ingot_rope_cos_sin<D>(cs, p.positions[t], p.inv_freq, p.rotary_dim / 2, p.attn_scale);
    const bool vec = ingot_aligned16(q) && ingot_aligned16(k) && (!kc || ingot_aligned16(kc)) &&
                     ingot_rope_vec_ok<T, D>(p.rotary_dim, p.neox);
    if (vec)
      ingot_rope_heads<T, D, true>(q, nh, k, kc, nk, cs, p.rotary_dim, p.neox);
    else
      ingot_rope_heads<T, D, false>(q, nh, k, kc, nk, cs, p.rotary_dim, p.neox);
  }
  if (kc) {
    if (!p.apply_rope || p.rotary_dim < D)
      ingot_copy_heads<T, D>(k, kc, nkv, p.apply_rope ? p.rotary_dim : 0);
    ingot_copy_heads<T, D>(v, vc, nkv, 0);
  }
}

#define INGOT_DEFINE_ROPE(T, TN, D)                                                        \
  extern "C" __global__ void ingot_rope_##TN##_d##D(IngotRopeParams p) {                   \
    ingot_rope_impl<T, D>(p);                                                              \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_rope_##TN##_d##D)
#define INGOT_DEFINE_ROPE_KV_APPEND(T, TN, D)                                              \
  extern "C" __global__ void ingot_rope_kv_append_##TN##_d##D(IngotRopeKvParams p) {       \
    ingot_rope_kv_append_impl<T, D>(p);                                                    \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_rope_kv_append_##TN##_d##D)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_ROPE(float, f32, 64)
INGOT_DEFINE_ROPE(float, f32, 128)
INGOT_DEFINE_ROPE(__nv_bfloat16, bf16, 64)
INGOT_DEFINE_ROPE(__nv_bfloat16, bf16, 128)
INGOT_DEFINE_ROPE(__half, f16, 64)
INGOT_DEFINE_ROPE(__half, f16, 128)
INGOT_DEFINE_ROPE_KV_APPEND(float, f32, 64)
INGOT_DEFINE_ROPE_KV_APPEND(float, f32, 128)
INGOT_DEFINE_ROPE_KV_APPEND(__nv_bfloat16, bf16, 64)
INGOT_DEFINE_ROPE_KV_APPEND(__nv_bfloat16, bf16, 128)
INGOT_DEFINE_ROPE_KV_APPEND(__half, f16, 64)
INGOT_DEFINE_ROPE_KV_APPEND(__half, f16, 128)
#endif
