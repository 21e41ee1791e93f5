// Mixture-of-experts kernels (portable subset; see common.cuh). The launch
// sequence of one MoE step is in moe_abi.h. Reference: ingot::cpu::moe
// (runtime/src/cpu_kernels_moe.cpp).
//
//  ingot_moe_route_<TN>: one warp per token (4 per block); lanes stride the
//    experts. p = softmax(logits) (fp32, expf(l - max) * (1 / sum)); top-k by
//    K warp-argmax passes, each taking the best expert strictly after the
//    previous pick in the order (p desc, id asc) -- ties go to the lower
//    expert id, as the CPU's partial_sort comparator; normalize divides by
//    the sum of the K picks, summed in pick order. O(K * E / 32) per token.
//    (The template parameter only names the entry point: logits are fp32.)
//  ingot_moe_permute: a single block; deterministic stable counting sort of
//    the (token, slot) pairs by expert without atomics: thread t owns a
//    contiguous chunk of pairs and a private count column scratch[e][t];
//    an exclusive scan over (e, t) gives each (expert, thread) its first
//    row; a second pass places the pairs. Rows of an expert are therefore in
//    pair order. O(pairs + 256 E).
//  ingot_moe_gemm_<TN>: grouped GEMM, one launch for all experts. Block
//    (bx, by) finds the by-th (expert, row-tile) by walking the expert
//    offsets (surplus blocks return), then runs gemm.cuh's tile code with
//    that expert's weights and, for the first GEMMs, rows gathered from x.
//    Same per-output operation order as ingot_gemm (fixed k order).
//  ingot_moe_silu_mul_<TN>: g = silu(g) * u, grid-stride, 16-byte when
//    aligned (private to the MoE sequence; act.cuh has the general one).
//  ingot_moe_combine_<TN>: out[t,:] = Σ_j w[t,j] * y[pos[t,j],:] in slot
//    order j = 0..K-1, fp32, one rounding; grid-stride over 16-byte vectors
//    of out when hidden and the pointers allow, else scalar.
#pragma once
#include "common.cuh"
#define INGOT_GEMM_NO_INSTANTIATE_ALL 1 // only the tile code
#include "gemm.cuh"
#undef INGOT_GEMM_NO_INSTANTIATE_ALL
#define INGOT_ACT_NO_INSTANTIATE_ALL 1 // only the kernel body
#include "act.cuh"
#undef INGOT_ACT_NO_INSTANTIATE_ALL
#include "moe_abi.h"

// ---- route ----
__device__ __forceinline__ bool ingot_moe_better(float pa, int a, float pb, int b) {
  return pa > pb || (pa == pb && a < b);
}

__device__ __forceinline__ void ingot_moe_route_impl(const IngotMoeRouteParams &p) {
  const int lane = threadIdx.x & 31;
  const long long tok = (long long)blockIdx.x * INGOT_MOE_ROUTE_WARPS + (threadIdx.x >> 5);
  if (tok >= p.tokens)
    return; // whole warp; no block barrier below
  const int E = p.num_experts, K = p.top_k;
  const float *l = p.router_logits + tok * E;
  float mx = ingot_neg_inf();
  for (int e = lane; e < E; e += 32)
    mx = fmaxf(mx, l[e]);
  mx = ingot_warp_max(mx);
  float s = 0.0f;
  for (int e = lane; e < E; e += 32)
    s += expf(l[e] - mx);
  s = ingot_warp_sum(s);
  const float inv = 1.0f / s;
  float prev_p = 0.0f;
  int prev_e = -1;
  float wsum = 0.0f;
  int *ids = p.topk_ids + tok * K;
  float *ws = p.topk_w + tok * K;
  for (int j = 0; j < K; ++j) {
    float bp = 0.0f;
    int be = -1;
    for (int e = lane; e < E; e += 32) {
      const float pe = expf(l[e] - mx) * inv;
      if (prev_e >= 0 && !ingot_moe_better(prev_p, prev_e, pe, e))
        continue; // already picked (not strictly after the previous pick)
      if (be < 0 || ingot_moe_better(pe, e, bp, be)) {
        bp = pe;
        be = e;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float op = __shfl_xor_sync(INGOT_FULL_MASK, bp, o);
      const int oe = __shfl_xor_sync(INGOT_FULL_MASK, be, o);
      if (oe >= 0 && (be < 0 || ingot_moe_better(op, oe, bp, be))) {
        bp = op;
        be = oe;
      }
    }
    prev_p = bp;
    prev_e = be;
    wsum += bp;
    if (lane == 0) {
      ids[j] = be;
      ws[j] = bp;
    }
  }
  if (p.normalize) {
    const float norm = wsum > 0.0f ? 1.0f / wsum : 1.0f;
    __syncwarp(INGOT_FULL_MASK);
    if (lane == 0)
      for (int j = 0; j < K; ++j)
        ws[j] = ws[j] * norm;
  }
}

// ---- permute ----
// Inclusive block scan of one int per thread (INGOT_MOE_PERMUTE_THREADS);
// also returns the block total. red: 8 ints of shared memory.
__device__ __forceinline__ int ingot_moe_block_scan(int v, int *red, int &total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 1; o < 32; o <<= 1) {
    const int u = __shfl_up_sync(INGOT_FULL_MASK, v, o);
    if (lane >= o)
      v += u;
  }
  __syncthreads();
  if (lane == 31)
    red[warp] = v;
  __syncthreads();
  int off = 0;
  total = 0;
  for (int w = 0; w < INGOT_MOE_PERMUTE_THREADS / 32; ++w) {
    if (w < warp)
      off += red[w];
    total += red[w];
  }
  return v + off;
}

__device__ __forceinline__ void ingot_moe_permute_impl(const IngotMoePermuteParams &p) {
  INGOT_SHARED_ARRAY(int, ingot_moe_red, INGOT_MOE_PERMUTE_THREADS / 32);
  const int t = threadIdx.x;
  const int E = p.num_experts;
  const long long N = p.pairs;
  const long long chunk = (N + INGOT_MOE_PERMUTE_THREADS - 1) / INGOT_MOE_PERMUTE_THREADS;
  const long long b = t * chunk;
  const long long end = b + chunk < N ? b + chunk : N;
  int *col = p.scratch + t; // this thread's column: col[e * THREADS]
  for (int e = 0; e < E; ++e)
    col[e * INGOT_MOE_PERMUTE_THREADS] = 0;
  for (long long i = b; i < end; ++i)
    col[p.topk_ids[i] * INGOT_MOE_PERMUTE_THREADS] += 1;
  __syncthreads();
  // Exclusive scan in (expert, thread) order: one 256-entry tile per expert.
  int carry = 0;
  for (int e = 0; e < E; ++e) {
    const int c = col[e * INGOT_MOE_PERMUTE_THREADS];
    int total;
    const int incl = ingot_moe_block_scan(c, ingot_moe_red, total);
    if (t == 0)
      p.expert_offsets[e] = carry;
    col[e * INGOT_MOE_PERMUTE_THREADS] = carry + incl - c;
    carry += total;
  }
  if (t == 0)
    p.expert_offsets[E] = carry;
  // Each thread only rereads its own column: no barrier needed for it.
  for (long long i = b; i < end; ++i) {
    int *slot = col + p.topk_ids[i] * INGOT_MOE_PERMUTE_THREADS;
    const int pos = *slot;
    *slot = pos + 1;
    p.sorted_pairs[pos] = (int)i;
    p.pair_pos[i] = pos;
  }
}

// ---- grouped GEMM ----
template <class T, int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void ingot_moe_gemm_run(const IngotMoeGemmParams &p) {
  INGOT_SHARED_ARRAY(long long, ingot_moe_off, BM + BN);
  INGOT_DYNAMIC_SHARED(float, smem);
  // Find this block's (expert, row tile); uniform over the block.
  long long tile = blockIdx.y;
  int e = 0;
  for (; e < p.num_experts; ++e) {
    const long long rows = (long long)p.expert_offsets[e + 1] - p.expert_offsets[e];
    const long long tiles = (rows + BM - 1) / BM;
    if (tile < tiles)
      break;
    tile -= tiles;
  }
  if (e >= p.num_experts)
    return; // surplus block (the grid is an upper bound)
  const long long row0 = p.expert_offsets[e] + tile * BM;
  const long long rowEnd = p.expert_offsets[e + 1];
  const long long col0 = (long long)blockIdx.x * BN;
  for (int i = threadIdx.x; i < BM + BN; i += INGOT_GEMM_THREADS) {
    if (i < BM) {
      const long long r = row0 + i;
      long long off = -1;
      if (r < rowEnd)
        off = (p.gather ? (long long)(p.gather[r] / p.gather_div) : r) * p.lda;
      ingot_moe_off[i] = off;
    } else {
      const long long c = col0 + (i - BM);
      ingot_moe_off[i] = c < p.n ? c * p.k : -1;
    }
  }
  __syncthreads();
  const T *a = static_cast<const T *>(p.a);
  const T *w = static_cast<const T *>(p.w) + e * p.w_expert_stride;
  float acc[TM][TN];
  ingot_gemm_tile<T, BM, BN, BK, TM, TN>(a, ingot_moe_off, w, ingot_moe_off + BM, p.k, smem, acc);
  const int tx = threadIdx.x % (BN / TN);
  const int ty = threadIdx.x / (BN / TN);
  T *c = static_cast<T *>(p.c);
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const long long r = row0 + ty * TM + i;
    if (r >= rowEnd)
      continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const long long cc = col0 + tx * TN + j;
      if (cc < p.n)
        ingot_st(c + r * p.ldc + cc, acc[i][j]);
    }
  }
}

template <class T> __device__ __forceinline__ void ingot_moe_gemm_impl(const IngotMoeGemmParams &p) {
  if (ingot_moe_gemm_config(p) == INGOT_GEMM_CFG_SMALL)
    ingot_moe_gemm_run<T, 16, 32, 128, 2, 1>(p);
  else
    ingot_moe_gemm_run<T, 64, 64, 32, 4, 4>(p);
}

// ---- silu(gate) * up: act.cuh's kernel body (one implementation) ----
template <class T>
__device__ __forceinline__ void ingot_moe_silu_mul_impl(const IngotMoeSiluMulParams &p) {
  IngotActMulParams a;
  a.gate = p.gate;
  a.up = p.up;
  a.out = p.out;
  a.n = p.n;
  a.tanh_approx = 0;
  ingot_act_mul_impl<T, false>(a);
}

// ---- combine ----
template <class T>
__device__ __forceinline__ void ingot_moe_combine_impl(const IngotMoeCombineParams &p) {
  constexpr int VN = ingot_vec<T>::n;
  const T *y = static_cast<const T *>(p.y);
  T *out = static_cast<T *>(p.out);
  const long long H = p.hidden;
  const int K = p.top_k;
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long step = (long long)gridDim.x * blockDim.x;
  const bool vec = H % VN == 0 && ingot_aligned16(y) && ingot_aligned16(out);
  if (vec) {
    const long long hv = H / VN;
    for (long long q = first; q < p.tokens * hv; q += step) {
      const long long t = q / hv, h = (q % hv) * VN;
      float acc[VN];
#pragma unroll
      for (int i = 0; i < VN; ++i)
        acc[i] = 0.0f;
      for (int j = 0; j < K; ++j) {
        const float wj = p.topk_w[t * K + j];
        float yv[VN];
        ingot_ld16(y + (long long)p.pair_pos[t * K + j] * H + h, yv);
#pragma unroll
        for (int i = 0; i < VN; ++i)
          acc[i] += wj * yv[i];
      }
      ingot_st16(out + t * H + h, acc);
    }
  } else {
    for (long long q = first; q < p.tokens * H; q += step) {
      const long long t = q / H, h = q % H;
      float acc = 0.0f;
      for (int j = 0; j < K; ++j)
        acc += p.topk_w[t * K + j] * ingot_ld(y + (long long)p.pair_pos[t * K + j] * H + h);
      ingot_st(out + q, acc);
    }
  }
}

// Definition macros (names per docs/dev/cuda-abi.md, "Definition macros").
#define INGOT_DEFINE_MOE_ROUTE(T, TN)                                                      \
  extern "C" __global__ void ingot_moe_route_##TN(IngotMoeRouteParams p) {                 \
    ingot_moe_route_impl(p);                                                               \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_moe_route_##TN)

#define INGOT_DEFINE_MOE_GEMM(T, TN)                                                       \
  extern "C" __global__ void __launch_bounds__(INGOT_GEMM_THREADS)                         \
      ingot_moe_gemm_##TN(IngotMoeGemmParams p) {                                          \
    ingot_moe_gemm_impl<T>(p);                                                             \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_moe_gemm_##TN)

#define INGOT_DEFINE_MOE_SILU_MUL(T, TN)                                                   \
  extern "C" __global__ void ingot_moe_silu_mul_##TN(IngotMoeSiluMulParams p) {            \
    ingot_moe_silu_mul_impl<T>(p);                                                         \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_moe_silu_mul_##TN)

#define INGOT_DEFINE_MOE_COMBINE(T, TN)                                                    \
  extern "C" __global__ void ingot_moe_combine_##TN(IngotMoeCombineParams p) {             \
    ingot_moe_combine_impl<T>(p);                                                          \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_moe_combine_##TN)

// Convenience: the four dtype-specific MoE entry points of one dtype.
#define INGOT_DEFINE_MOE(T, TN)                                                            \
  INGOT_DEFINE_MOE_ROUTE(T, TN)                                                            \
  INGOT_DEFINE_MOE_GEMM(T, TN)                                                             \
  INGOT_DEFINE_MOE_SILU_MUL(T, TN)                                                         \
  INGOT_DEFINE_MOE_COMBINE(T, TN)

// The dtype-independent counting sort (define once per module).
#define INGOT_DEFINE_MOE_PERMUTE()                                                         \
  extern "C" __global__ void __launch_bounds__(INGOT_MOE_PERMUTE_THREADS)                  \
      ingot_moe_permute(IngotMoePermuteParams p) {                                         \
    ingot_moe_permute_impl(p);                                                             \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_moe_permute)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_MOE_PERMUTE()
INGOT_DEFINE_MOE(float, f32)
INGOT_DEFINE_MOE(__nv_bfloat16, bf16)
INGOT_DEFINE_MOE(__half, f16)
#endif
