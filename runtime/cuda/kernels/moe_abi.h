// Parameters, launch geometry and scratch layout of the mixture-of-experts
// kernels (moe.cuh, docs/dev/cuda-abi.md). Plain C++, includes only abi.h
// and gemm_abi.h (the grouped GEMM shares the GEMM's tile configurations).
//
// One MoE step (OpKind MoE: x[T,H]; router[E,H], gate/up[E,I,H], down[E,H,I];
// attrs top_k, normalize), with K = min(top_k, E) and N = T*K (token, slot)
// pairs; T = storage type, scratch laid out by ingot_moe_scratch_layout:
//   1. ingot_gemm_<TN>        {a=x, w=router, c=logits, m=T, n=E, k=H, c_f32=1}
//   2. ingot_moe_route_<TN>   logits -> topk_ids[T,K], topk_w[T,K] (fp32)
//   3. ingot_moe_permute      topk_ids -> sorted_pairs[N], pair_pos[N],
//                             expert_offsets[E+1] (stable counting sort)
//   4. ingot_moe_gemm_<TN>    {a=x, gather=sorted_pairs, gather_div=K,
//                              w=gate, w_expert_stride=I*H, n=I, k=H, c=g[N,I]}
//   5. ingot_moe_gemm_<TN>    same with w=up, c=u[N,I]
//   6. ingot_moe_silu_mul_<TN> g = silu(g) * u   (n = N*I)
//   7. ingot_moe_gemm_<TN>    {a=g, gather=null, w=down, w_expert_stride=H*I,
//                              n=H, k=I, c=y[N,H]}
//   8. ingot_moe_combine_<TN> out[t,:] = Σ_{j<K} topk_w[t,j] * y[pair_pos[t*K+j],:]
// All launches on one stream, in this order; nothing is read back to the host
// (the grouped GEMM's grid is an upper bound, surplus blocks exit at once).
// Row order inside an expert is the pair order (token-major), so every
// output element is computed by the same operations whatever the batch.
#pragma once
#include "abi.h"
#include "gemm_abi.h"

struct IngotMoeRouteParams {
  const float *router_logits; // [tokens, num_experts] fp32
  int *topk_ids;              // [tokens, top_k]
  float *topk_w;              // [tokens, top_k]
  long long tokens;
  int num_experts, top_k; // 1 <= top_k <= num_experts (pass min(top_k, E))
  int normalize;          // 1: the top_k probabilities are divided by their sum
};

struct IngotMoePermuteParams {
  const int *topk_ids;  // [pairs], values in [0, num_experts)
  int *sorted_pairs;    // [pairs]: pair indices (token*top_k + slot) by expert
  int *pair_pos;        // [pairs]: inverse, the row of each pair in sorted order
  int *expert_offsets;  // [num_experts + 1]: expert e owns rows [off[e], off[e+1])
  int *scratch;         // [num_experts * INGOT_MOE_PERMUTE_THREADS] ints
  long long pairs;
  int num_experts;
};

// c[p, :] = a[row(p), :] · W_e[n, k]ᵀ for p in expert e's rows, where
// row(p) = gather ? gather[p] / gather_div : p and W_e = w + e * w_expert_stride.
struct IngotMoeGemmParams {
  const void *a;              // [*, lda] of T
  const int *gather;          // [pairs] or null
  const void *w;              // [num_experts][n][k] of T (row stride k)
  void *c;                    // [pairs, ldc] of T
  const int *expert_offsets;  // [num_experts + 1]
  long long pairs, n, k;
  long long lda, ldc;
  long long w_expert_stride;  // elements between experts' matrices
  int num_experts;
  int gather_div;
};

struct IngotMoeSiluMulParams {
  const void *gate, *up; // [n] of T
  void *out;             // [n] of T (may alias gate or up)
  long long n;
};

struct IngotMoeCombineParams {
  const void *y;       // [pairs, hidden] of T (sorted order)
  const float *topk_w; // [tokens, top_k]
  const int *pair_pos; // [tokens * top_k]
  void *out;           // [tokens, hidden] of T
  long long tokens, hidden;
  int top_k;
};

#define INGOT_MOE_ROUTE_WARPS 4      // tokens per block, one warp each
#define INGOT_MOE_PERMUTE_THREADS 256
#define INGOT_MOE_EW_THREADS 256

inline KernelLaunch ingot_moe_route_launch(const IngotMoeRouteParams &p) {
  const long long blocks = (p.tokens + INGOT_MOE_ROUTE_WARPS - 1) / INGOT_MOE_ROUTE_WARPS;
  return ingot_make_launch(unsigned(blocks), 1, 1, 32 * INGOT_MOE_ROUTE_WARPS, 0);
}

// A single block: the counting sort's scan runs over num_experts * 256 counts.
inline KernelLaunch ingot_moe_permute_launch(const IngotMoePermuteParams &) {
  return ingot_make_launch(1, 1, 1, INGOT_MOE_PERMUTE_THREADS, 0);
}

// Small tiles when experts average at most INGOT_GEMM_SMALL_M_MAX rows.
inline int ingot_moe_gemm_config(const IngotMoeGemmParams &p) {
  return p.pairs <= (long long)INGOT_GEMM_SMALL_M_MAX * (p.num_experts > 0 ? p.num_experts : 1)
             ? INGOT_GEMM_CFG_SMALL
             : INGOT_GEMM_CFG_LARGE;
}
// grid = (n tiles, an upper bound on Σ_e ceil(rows_e / tile_m)):
// min(pairs, ceil(pairs / tile_m) + min(E, pairs)).
inline KernelLaunch ingot_moe_gemm_launch(const IngotMoeGemmParams &p) {
  const int cfg = ingot_moe_gemm_config(p);
  const long long tm = ingot_gemm_tile_m(cfg), tn = ingot_gemm_tile_n(cfg);
  const long long e = p.num_experts < p.pairs ? p.num_experts : p.pairs;
  long long mt = (p.pairs + tm - 1) / tm + e;
  if (mt > p.pairs)
    mt = p.pairs;
  return ingot_make_launch(unsigned((p.n + tn - 1) / tn), unsigned(mt), 1, INGOT_GEMM_THREADS,
                           ingot_gemm_shmem(cfg));
}

inline long long ingot_moe_ew_blocks(long long work) {
  long long b = (work + INGOT_MOE_EW_THREADS - 1) / INGOT_MOE_EW_THREADS;
  if (b < 1)
    b = 1;
  if (b > 65535)
    b = 65535;
  return b;
}
// Grid-stride; `vec` = 16 / sizeof(T) elements per thread (upper bound).
inline KernelLaunch ingot_moe_silu_mul_launch(const IngotMoeSiluMulParams &p, int vec) {
  return ingot_make_launch(unsigned(ingot_moe_ew_blocks(p.n / (vec > 0 ? vec : 1) + 1)), 1, 1,
                           INGOT_MOE_EW_THREADS, 0);
}
inline KernelLaunch ingot_moe_combine_launch(const IngotMoeCombineParams &p, int vec) {
  return ingot_make_launch(
      unsigned(ingot_moe_ew_blocks(p.tokens * p.hidden / (vec > 0 ? vec : 1) + 1)), 1, 1,
      INGOT_MOE_EW_THREADS, 0);
}

// Byte offsets of one MoE step's scratch buffers (each 256-byte aligned).
struct IngotMoeScratchLayout {
  long long logits;         // float [T, E]
  long long topk_ids;       // int   [T, K]
  long long topk_w;         // float [T, K]
  long long sorted_pairs;   // int   [N]
  long long pair_pos;       // int   [N]
  long long expert_offsets; // int   [E + 1]
  long long permute;        // int   [E * INGOT_MOE_PERMUTE_THREADS]
  long long gate;           // T     [N, I] (silu(gate)*up in place)
  long long up;             // T     [N, I]
  long long y;              // T     [N, H]
  long long total;
};

// tokens T, hidden H, intermediate I, experts E, top_k (clamped to E),
// elem_bytes = sizeof(T). Returns the total size in bytes.
inline long long ingot_moe_scratch_layout(long long tokens, long long hidden, long long inter,
                                          int experts, int top_k, int elem_bytes,
                                          IngotMoeScratchLayout *out) {
  const long long k = top_k < experts ? top_k : experts;
  const long long n = tokens * k;
  long long at = 0;
  auto take = [&at](long long bytes) {
    const long long o = at;
    at += (bytes + 255) / 256 * 256;
    return o;
  };
  IngotMoeScratchLayout l;
  l.logits = take(4 * tokens * experts);
  l.topk_ids = take(4 * n);
  l.topk_w = take(4 * n);
  l.sorted_pairs = take(4 * n);
  l.pair_pos = take(4 * n);
  l.expert_offsets = take(4 * (experts + 1ll));
  l.permute = take(4ll * experts * INGOT_MOE_PERMUTE_THREADS);
  l.gate = take(elem_bytes * n * inter);
  l.up = take(elem_bytes * n * inter);
  l.y = take(elem_bytes * n * hidden);
  l.total = at;
  if (out)
    *out = l;
  return at;
}
