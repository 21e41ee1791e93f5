// CUDA-core GEMM (portable subset; see common.cuh): `ingot_gemm_<TN>`,
// C[m,n] = A[m,k] · W[n,k]ᵀ (+ bias[n]) (+ GELU), storage type T, fp32 math.
// The fallback when cuBLASLt is unavailable and what the fake driver runs.
// Reference: ingot::cpu::linear (runtime/src/cpu_kernels_gemm.cpp).
//
// Schedule. One block of 256 threads computes a BM x BN tile of C. For each
// k-step of BK, the block stages A[rows, k0:k0+BK] and W[cols, k0:k0+BK]
// into shared memory as fp32, transposed to k-major ([BK][BM+4] and
// [BK][BN+4]) so that a thread's micro-tile reads are contiguous (float4 for
// 4-wide micro-tiles); then each thread updates its TM x TN register
// micro-tile for kk = 0..BK-1. The next k-step's global loads are issued
// into registers before that math (register prefetch), and stored to shared
// memory after the step's closing barrier: 2 barriers per k-step.
// Global loads: 16 bytes (ingot_ld16) when the source is 16-byte aligned and
// the vector lies inside K, else scalar with zero fill (odd k, odd lda,
// edges); consecutive threads take consecutive tile rows of the same k
// vector, so the transposed shared stores of a warp hit consecutive banks.
// Two configurations (gemm_abi.h): 64x64x32 with 4x4 micro-tiles (m > 16)
// and 16x32x128 with 2x1 (m <= 16, decode: 4x more blocks along n than the
// large tile and 4x fewer barriers per k).
//
// Determinism. Every output is acc = 0; acc = fmaf(a[k], w[k], acc) for
// k = 0, 1, ..., K-1 (zero padding past K adds exact zeros); then
// + bias[n]; then the epilogue; then one rounding to the output type. No
// split-K, no atomics: the result of an output depends only on its row of A
// and its row of W, never on m, the tile or the configuration (batch
// invariance, DESIGN-NOTES 8). The CPU GEMM sums in a different (vectorised)
// order, so the two agree to fp32 rounding, not bitwise.
// Not (yet) done: 16-byte stores of C, tensor cores (cuBLASLt is the fast
// path on the GPU), a warp-per-column GEMV (it would change the k order).
#pragma once
#include "common.cuh"
#include "gemm_abi.h"

// Not inlined: the store loop runs it for each of a thread's TM x TN outputs,
// and inlined erff/tanhf copies made the kernels several times larger.
static __device__ __noinline__ float ingot_gemm_gelu(float v, int epi) {
  if (epi == INGOT_GEMM_EPI_GELU_TANH) {
    const float kk = 0.79788456080286535588f; // sqrt(2/pi), as ingot::cpu
    return 0.5f * v * (1.0f + tanhf(kk * (v + 0.044715f * v * v * v)));
  }
  if (epi == INGOT_GEMM_EPI_GELU_ERF)
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
  return v;
}

// One thread's share of a k-step tile of rows [0, R) x k [k0, k0 + BK) of a
// row-major matrix, held in registers as raw 16-byte vectors of T between
// the global load (issued before the current k-step's math, so its latency
// overlaps it) and the store to shared memory (after the next barrier).
template <class T, int R, int BK> struct ingot_gemm_frag {
  static constexpr int VN = ingot_vec<T>::n;  // elements per 16-byte vector
  static constexpr int KV = BK / VN;          // vectors per tile row
  static constexpr int NV = (R * KV + INGOT_GEMM_THREADS - 1) / INGOT_GEMM_THREADS;
  uint4 raw[NV];
};

// Vector v of the tile is row v % R, k [(v / R) * VN, + VN): consecutive
// threads take consecutive rows, so the transposed shared stores of a warp
// hit consecutive banks. rowoff[r]: element offset of row r in base, or -1
// past the end (zeros); elements past K are zeros.
template <class T, int R, int BK>
__device__ __forceinline__ void ingot_gemm_load(ingot_gemm_frag<T, R, BK> &f, const T *base,
                                                const long long *rowoff, long long k0,
                                                long long K) {
  constexpr int VN = ingot_gemm_frag<T, R, BK>::VN;
#pragma unroll
  for (int s = 0; s < ingot_gemm_frag<T, R, BK>::NV; ++s) {
    const int v = threadIdx.x + s * INGOT_GEMM_THREADS;
    if (v >= R * ingot_gemm_frag<T, R, BK>::KV)
      break;
    const int r = v % R;
    const long long off = rowoff[r];
    const long long kg = k0 + (v / R) * VN;
    if (off >= 0 && kg + VN <= K && ingot_aligned16(base + off + kg)) {
      f.raw[s] = *reinterpret_cast<const uint4 *>(base + off + kg);
    } else { // edges, odd leading dimensions
      T *e = reinterpret_cast<T *>(&f.raw[s]);
#pragma unroll
      for (int i = 0; i < VN; ++i)
        e[i] = (off >= 0 && kg + i < K) ? base[off + kg + i] : ingot_from_f32<T>(0.0f);
    }
  }
}

// Stores a fragment as fp32 into s ([BK][R + 4], k-major).
template <class T, int R, int BK>
__device__ __forceinline__ void ingot_gemm_store(const ingot_gemm_frag<T, R, BK> &f, float *s) {
  constexpr int VN = ingot_gemm_frag<T, R, BK>::VN;
#pragma unroll
  for (int q = 0; q < ingot_gemm_frag<T, R, BK>::NV; ++q) {
    const int v = threadIdx.x + q * INGOT_GEMM_THREADS;
    if (v >= R * ingot_gemm_frag<T, R, BK>::KV)
      break;
    const int r = v % R, kk = (v / R) * VN;
    const T *e = reinterpret_cast<const T *>(&f.raw[q]);
#pragma unroll
    for (int i = 0; i < VN; ++i)
      s[(kk + i) * (R + 4) + r] = ingot_to_f32(e[i]);
  }
}

// The block's BM x BN tile: acc[i][j] = Σ_k A[arow i][k] · W[wrow j][k] in
// the fixed order above, for this thread's micro-tile (rows ty*TM + i,
// columns tx*TN + j with tx = tid % (BN/TN), ty = tid / (BN/TN)).
// aoff/woff (shared, BM and BN entries) give each tile row's offset in a/w
// (-1 past the end); they must be visible to all threads (barrier before).
// smem: dynamic shared memory of ingot_gemm_shmem bytes.
template <class T, int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void ingot_gemm_tile(const T *a, const long long *aoff, const T *w,
                                                const long long *woff, long long K, float *smem,
                                                float (&acc)[TM][TN]) {
  static_assert((BM / TM) * (BN / TN) == INGOT_GEMM_THREADS, "one micro-tile per thread");
  static_assert(BK % 8 == 0, "k-step must hold whole 16-byte vectors");
  float *As = smem;                  // [BK][BM + 4]
  float *Ws = smem + BK * (BM + 4);  // [BK][BN + 4]
  const int tx = threadIdx.x % (BN / TN);
  const int ty = threadIdx.x / (BN / TN);
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j)
      acc[i][j] = 0.0f;
  ingot_gemm_frag<T, BM, BK> fa;
  ingot_gemm_frag<T, BN, BK> fw;
  if (K > 0) {
    ingot_gemm_load(fa, a, aoff, 0, K);
    ingot_gemm_load(fw, w, woff, 0, K);
  }
  for (long long k0 = 0; k0 < K; k0 += BK) {
    ingot_gemm_store(fa, As);
    ingot_gemm_store(fw, Ws);
    __syncthreads();
    if (k0 + BK < K) { // prefetch the next k-step while this one computes
      ingot_gemm_load(fa, a, aoff, k0 + BK, K);
      ingot_gemm_load(fw, w, woff, k0 + BK, K);
    }
#pragma unroll 2 // (4: ~+60% code and NVRTC time for little gain)
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], wv[TN];
      const float *ar = As + kk * (BM + 4) + ty * TM;
      const float *wr = Ws + kk * (BN + 4) + tx * TN;
      if (TM % 4 == 0) {
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
          const float4 q = *reinterpret_cast<const float4 *>(ar + i);
          av[i] = q.x, av[i + 1] = q.y, av[i + 2] = q.z, av[i + 3] = q.w;
        }
      } else {
#pragma unroll
        for (int i = 0; i < TM; ++i)
          av[i] = ar[i];
      }
      if (TN % 4 == 0) {
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
          const float4 q = *reinterpret_cast<const float4 *>(wr + j);
          wv[j] = q.x, wv[j + 1] = q.y, wv[j + 2] = q.z, wv[j + 3] = q.w;
        }
      } else {
#pragma unroll
        for (int j = 0; j < TN; ++j)
          wv[j] = wr[j];
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j)
          acc[i][j] = fmaf(av[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
}

template <class T, int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void ingot_gemm_run(const IngotGemmParams &p) {
  INGOT_SHARED_ARRAY(long long, ingot_gemm_off, BM + BN);
  INGOT_DYNAMIC_SHARED(float, smem);
  const T *a = static_cast<const T *>(p.a);
  const T *w = static_cast<const T *>(p.w);
  const long long row0 = (long long)blockIdx.y * BM;
  const long long col0 = (long long)blockIdx.x * BN;
  for (int i = threadIdx.x; i < BM + BN; i += INGOT_GEMM_THREADS) {
    if (i < BM)
      ingot_gemm_off[i] = row0 + i < p.m ? (row0 + i) * p.lda : -1;
    else
      ingot_gemm_off[i] = col0 + (i - BM) < p.n ? (col0 + (i - BM)) * p.ldw : -1;
  }
  __syncthreads();
  float acc[TM][TN];
  ingot_gemm_tile<T, BM, BN, BK, TM, TN>(a, ingot_gemm_off, w, ingot_gemm_off + BM, p.k, smem, acc);
  const int tx = threadIdx.x % (BN / TN);
  const int ty = threadIdx.x / (BN / TN);
  const T *bias = static_cast<const T *>(p.bias);
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const long long r = row0 + ty * TM + i;
    if (r >= p.m)
      continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const long long c = col0 + tx * TN + j;
      if (c >= p.n)
        continue;
      float v = acc[i][j];
      if (bias)
        v += ingot_ld(bias + c);
      if (p.epilogue != INGOT_GEMM_EPI_NONE)
        v = ingot_gemm_gelu(v, p.epilogue);
      if (p.c_f32)
        static_cast<float *>(p.c)[r * p.ldc + c] = v;
      else
        ingot_st(static_cast<T *>(p.c) + r * p.ldc + c, v);
    }
  }
}

template <class T> __device__ __forceinline__ void ingot_gemm_impl(const IngotGemmParams &p) {
  if (p.m <= INGOT_GEMM_SMALL_M_MAX)
    ingot_gemm_run<T, 16, 32, 128, 2, 1>(p);
  else
    ingot_gemm_run<T, 64, 64, 32, 4, 4>(p);
}

#define INGOT_DEFINE_GEMM(T, TN)                                                           \
  extern "C" __global__ void __launch_bounds__(INGOT_GEMM_THREADS)                         \
      ingot_gemm_##TN(IngotGemmParams p) {                                                 \
    ingot_gemm_impl<T>(p);                                                                 \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_gemm_##TN)

// moe.cuh includes this file for the tile code without instantiating it.
#if defined(INGOT_KERNELS_INSTANTIATE_ALL) && !defined(INGOT_GEMM_NO_INSTANTIATE_ALL)
INGOT_DEFINE_GEMM(float, f32)
INGOT_DEFINE_GEMM(__nv_bfloat16, bf16)
INGOT_DEFINE_GEMM(__half, f16)
#endif
