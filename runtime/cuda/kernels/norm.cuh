// Normalisation kernels (portable subset; see common.cuh), templated over the
// storage type T (float, __nv_bfloat16, __half) with fp32 math. Parameters
// and semantics: norm_abi.h. References: ingot::cpu::rmsNorm, addRmsNorm,
// layerNorm, addLayerNorm (runtime/src/cpu_kernels.h).
//
// Schedule: one block per row (gridDim.x = rows), blockDim.x a multiple of
// 32 (ingot_norm_launch: one 16-byte vector per thread, 32..512 threads).
// A row whose pointers (x, residual, sum, out, gamma, beta) are all 16-byte
// aligned is read in 16-byte vectors (ingot_vec<T>::n elements: 4 fp32 or
// 8 bf16/f16; consecutive threads take consecutive vectors, so a warp reads
// 512 contiguous bytes) for its first cols / n * n elements, then a scalar
// tail; other rows are all scalar. Pass 1 reads x (+ residual, storing the
// rounded sum) and accumulates sum(x^2) (rms) or sum(x) (layer) in fp32 per
// thread; a warp-shuffle + shared-memory block reduction combines them (its
// order depends only on blockDim.x, so a row's result does not depend on the
// batch). Layer norm takes a second pass for sum((x - mean)^2) (two-pass
// variance, as the CPU reference). The last pass writes out. Rows of at most
// 2 vectors per thread (up to 8192 bf16 / 4096 fp32 elements at 512
// threads) keep their vectors in registers between the passes, so DRAM
// sees one read of x (+ residual) and gamma and one write of out (+ sum);
// longer rows reread them (L1/L2 hits: each thread rereads only the
// elements it read or wrote itself). Because every thread touches the same
// elements in every pass, out may alias x and sum may alias x or residual
// (no __restrict__).
#pragma once
#include "common.cuh"
#include "norm_abi.h"

// Loads vector q of the row into v: x, or with ADD the sum x + residual
// rounded to T, which is also stored.
template <class T, bool ADD>
__device__ __forceinline__ void ingot_norm_load(const T *xr, const T *rr, T *sr, long long q,
                                                float *v) {
  constexpr int V = ingot_vec<T>::n;
  ingot_ld16(xr + q * V, v);
  if (ADD) {
    float r[V];
    ingot_ld16(rr + q * V, r);
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = ingot_to_f32(ingot_from_f32<T>(v[i] + r[i]));
    ingot_st16(sr + q * V, v);
  }
}
// Writes vector q of out from the normalised values v.
template <class T, bool LAYER>
__device__ __forceinline__ void ingot_norm_store(T *orow, const T *g, const T *b, long long q,
                                                 const float *v, float mean, float inv) {
  constexpr int V = ingot_vec<T>::n;
  float o[V], gv[V], bv[V];
  ingot_ld16(g + q * V, gv);
  if (LAYER)
    ingot_ld16(b + q * V, bv);
#pragma unroll
  for (int i = 0; i < V; ++i)
    o[i] = LAYER ? (v[i] - mean) * inv * gv[i] + bv[i] : v[i] * inv * gv[i];
  ingot_st16(orow + q * V, o);
}

// Rows of at most INGOT_NORM_KEEP vectors per thread keep their values in
// registers between the passes instead of rereading them.
#define INGOT_NORM_KEEP 2

template <class T, bool ADD, bool LAYER>
__device__ __forceinline__ void ingot_norm_impl(const IngotNormParams &p) {
  INGOT_SHARED_ARRAY(float, red, 33);
  const long long row = blockIdx.x;
  if (row >= p.rows)
    return; // whole block: no barrier is skipped by part of it
  const long long H = p.cols;
  constexpr int V = ingot_vec<T>::n;
  constexpr int K = INGOT_NORM_KEEP;
  const T *xr = static_cast<const T *>(p.x) + row * H;
  const T *rr = ADD ? static_cast<const T *>(p.residual) + row * H : nullptr;
  T *sr = ADD ? static_cast<T *>(p.sum) + row * H : nullptr;
  T *orow = static_cast<T *>(p.out) + row * H;
  const T *g = static_cast<const T *>(p.gamma);
  const T *b = LAYER ? static_cast<const T *>(p.beta) : nullptr;
  const bool vec = ingot_aligned16(xr) && ingot_aligned16(orow) && ingot_aligned16(g) &&
                   (!ADD || (ingot_aligned16(rr) && ingot_aligned16(sr))) &&
                   (!LAYER || ingot_aligned16(b));
  const long long nv = vec ? H / V : 0;
  const long long tail = nv * V;
  const long long step = blockDim.x;
  const long long tid = threadIdx.x;
  const bool regs = nv <= K * step; // uniform over the block
  float keep[K][V];
  // The values that are normalised: x, or the stored (rounded) sum.
  const T *src = ADD ? static_cast<const T *>(sr) : xr;

  // Pass 1: (sum =) x (+ residual); acc = sum of squares (rms) or sum (layer).
  float acc = 0.0f;
  if (regs) {
#pragma unroll
    for (int k = 0; k < K; ++k)
      if (tid + k * step < nv) {
        ingot_norm_load<T, ADD>(xr, rr, sr, tid + k * step, keep[k]);
#pragma unroll
        for (int i = 0; i < V; ++i)
          acc += LAYER ? keep[k][i] : keep[k][i] * keep[k][i];
      }
  } else {
    for (long long q = tid; q < nv; q += step) {
      float v[V];
      ingot_norm_load<T, ADD>(xr, rr, sr, q, v);
#pragma unroll
      for (int i = 0; i < V; ++i)
        acc += LAYER ? v[i] : v[i] * v[i];
    }
  }
  for (long long i = tail + tid; i < H; i += step) {
    float v = ingot_ld(xr + i);
    if (ADD) {
      v = ingot_to_f32(ingot_from_f32<T>(v + ingot_ld(rr + i)));
      ingot_st(sr + i, v);
    }
    acc += LAYER ? v : v * v;
  }
  acc = ingot_block_reduce(acc, red, false);

  float mean = 0.0f, inv;
  if (LAYER) {
    mean = acc / (float)H;
    float var = 0.0f;
    if (regs) {
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (tid + k * step < nv) {
#pragma unroll
          for (int i = 0; i < V; ++i) {
            const float d = keep[k][i] - mean;
            var += d * d;
          }
        }
    } else {
      for (long long q = tid; q < nv; q += step) {
        float v[V];
        ingot_ld16(src + q * V, v);
#pragma unroll
        for (int i = 0; i < V; ++i) {
          const float d = v[i] - mean;
          var += d * d;
        }
      }
    }
    for (long long i = tail + tid; i < H; i += step) {
      const float d = ingot_ld(src + i) - mean;
      var += d * d;
    }
    var = ingot_block_reduce(var, red, false);
    inv = rsqrtf(var / (float)H + p.eps);
  } else {
    inv = rsqrtf(acc / (float)H + p.eps);
  }

  // Last pass: out = (x - mean) * inv * gamma (+ beta).
  if (regs) {
#pragma unroll
    for (int k = 0; k < K; ++k)
      if (tid + k * step < nv)
        ingot_norm_store<T, LAYER>(orow, g, b, tid + k * step, keep[k], mean, inv);
  } else {
    for (long long q = tid; q < nv; q += step) {
      float v[V];
      ingot_ld16(src + q * V, v);
      ingot_norm_store<T, LAYER>(orow, g, b, q, v, mean, inv);
    }
  }
  for (long long i = tail + tid; i < H; i += step) {
    const float v = ingot_ld(src + i);
    ingot_st(orow + i, LAYER ? (v - mean) * inv * ingot_ld(g + i) + ingot_ld(b + i)
                             : v * inv * ingot_ld(g + i));
  }
}

#define INGOT_DEFINE_RMS_NORM(T, TN)                                                       \
  extern "C" __global__ void ingot_rms_norm_##TN(IngotNormParams p) {                      \
    ingot_norm_impl<T, false, false>(p);                                                   \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_rms_norm_##TN)
#define INGOT_DEFINE_ADD_RMS_NORM(T, TN)                                                   \
  extern "C" __global__ void ingot_add_rms_norm_##TN(IngotNormParams p) {                  \
    ingot_norm_impl<T, true, false>(p);                                                    \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_add_rms_norm_##TN)
#define INGOT_DEFINE_LAYER_NORM(T, TN)                                                     \
  extern "C" __global__ void ingot_layer_norm_##TN(IngotNormParams p) {                    \
    ingot_norm_impl<T, false, true>(p);                                                    \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_layer_norm_##TN)
#define INGOT_DEFINE_ADD_LAYER_NORM(T, TN)                                                 \
  extern "C" __global__ void ingot_add_layer_norm_##TN(IngotNormParams p) {                \
    ingot_norm_impl<T, true, true>(p);                                                     \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_add_layer_norm_##TN)
// All four entry points for one storage type.
#define INGOT_DEFINE_NORMS(T, TN)                                                          \
  INGOT_DEFINE_RMS_NORM(T, TN)                                                             \
  INGOT_DEFINE_ADD_RMS_NORM(T, TN)                                                         \
  INGOT_DEFINE_LAYER_NORM(T, TN)                                                           \
  INGOT_DEFINE_ADD_LAYER_NORM(T, TN)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_NORMS(float, f32)
INGOT_DEFINE_NORMS(__nv_bfloat16, bf16)
INGOT_DEFINE_NORMS(__half, f16)
#endif
