// Parameters and launch geometry of the CUDA-core GEMM (gemm.cuh,
// docs/dev/cuda-abi.md): C[m,n] = A[m,k] · W[n,k]ᵀ (+ bias[n]) with an
// optional GELU epilogue. A, W, bias and C (unless c_f32) hold the storage
// type T of the entry point (`ingot_gemm_<TN>`); leading dimensions are in
// elements. Plain C++, includes only abi.h.
#pragma once
#include "abi.h"

struct IngotGemmParams {
  const void *a;    // [m, lda] of T
  const void *w;    // [n, ldw] of T (row n is output column n)
  const void *bias; // [n] of T, or null
  void *c;          // [m, ldc] of T, or of float when c_f32
  long long m, n, k;
  long long lda, ldw, ldc;
  int c_f32;    // 1: C is fp32 whatever T is (logits, router logits)
  int epilogue; // INGOT_GEMM_EPI_*
};

#define INGOT_GEMM_EPI_NONE 0
#define INGOT_GEMM_EPI_GELU_TANH 1
#define INGOT_GEMM_EPI_GELU_ERF 2

// Threads per block of every GEMM tile configuration.
#define INGOT_GEMM_THREADS 256

// Tile configurations (gemm.cuh has the schedule). Both compute every output
// with the same operation sequence (acc = fma(a[k], w[k], acc) for k = 0..K-1
// from acc = 0, then + bias, then the epilogue), so a row's result does not
// depend on m or on which configuration ran it (batch invariance).
//  0: "large": 64x64 output tile, k-step 32, each thread a 4x4 micro-tile.
//  1: "small m" (decode, m <= 16): 16x32 output tile, k-step 128, each thread
//     2x1 outputs; more blocks over n and a longer k-step per barrier.
#define INGOT_GEMM_CFG_LARGE 0
#define INGOT_GEMM_CFG_SMALL 1
#define INGOT_GEMM_SMALL_M_MAX 16

inline int ingot_gemm_config(long long m) {
  return m <= INGOT_GEMM_SMALL_M_MAX ? INGOT_GEMM_CFG_SMALL : INGOT_GEMM_CFG_LARGE;
}
inline int ingot_gemm_tile_m(int cfg) { return cfg == INGOT_GEMM_CFG_SMALL ? 16 : 64; }
inline int ingot_gemm_tile_n(int cfg) { return cfg == INGOT_GEMM_CFG_SMALL ? 32 : 64; }
inline int ingot_gemm_tile_k(int cfg) { return cfg == INGOT_GEMM_CFG_SMALL ? 128 : 32; }
// Dynamic shared memory: the A and W tiles in fp32, k-major, rows padded by 4.
inline unsigned ingot_gemm_shmem(int cfg) {
  return unsigned(ingot_gemm_tile_k(cfg) *
                  (ingot_gemm_tile_m(cfg) + 4 + ingot_gemm_tile_n(cfg) + 4) * 4);
}

// grid = (ceil(n / tile_n), ceil(m / tile_m)), 256 threads. m = 0 or n = 0
// gives an empty grid dimension (the executor skips the launch).
inline KernelLaunch ingot_gemm_launch(const IngotGemmParams &p) {
  const int cfg = ingot_gemm_config(p.m);
  const long long tn = ingot_gemm_tile_n(cfg), tm = ingot_gemm_tile_m(cfg);
  return ingot_make_launch(unsigned((p.n + tn - 1) / tn), unsigned((p.m + tm - 1) / tm), 1,
                           INGOT_GEMM_THREADS, ingot_gemm_shmem(cfg));
}
