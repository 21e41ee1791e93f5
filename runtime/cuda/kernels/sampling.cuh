// Token sampling over fp32 logits (portable subset; see common.cuh):
// `ingot_sample_f32`, one block of INGOT_SAMPLE_THREADS (256) threads per
// row. Host-side reference for the RNG: sampling_abi.h.
//
// Definition (row r, vocab V, logits l):
//  * Greedy when !(temperature > 0), 1 / temperature overflows fp32 (denormal
//    temperatures) or top_k == 1: argmax of l, lowest index
//    on ties, NaN never wins (all NaN: 0). Also when the largest non-NaN
//    logit is not finite (+inf, or all -inf/NaN), as the CPU sampler does.
//  * Otherwise weights w_i = expf((l_i - max) / T) in fp32 (NaN: 0), so the
//    most probable token has weight 1. Candidates are ordered by
//    (w desc, index asc) -- a strict total order, encoded as the 64-bit key
//    (float bits of w) << 32 | (0xFFFFFFFF - i), larger key = earlier.
//  * top-k (0 < k < V): keep the k first candidates in that order.
//  * top-p (p < 1): of those, keep the shortest prefix (same order) whose
//    weight reaches p * (kept mass) (always at least one token).
//  * Draw: u = ingot_sample_uniform(seed, counter) in [0, 1); the token is
//    the smallest index j (INDEX order, not probability order) such that the
//    sum of the kept weights w_i over i <= j exceeds u * (total kept
//    weight). If rounding leaves no such j, the largest kept index with
//    w > 0.
//  All sums are fp32 in a fixed order (per thread in index order, then a
//  fixed tree), so the result depends only on the row's logits and
//  parameters (batch invariant, deterministic run to run).
//
// Algorithm (no sort). Each kept set is a threshold on the key: kept =
// {key >= T}. T is found by a most-significant-digit radix descent over the
// 64-bit key, 4 bits per pass: a pass streams the row, recomputes w and the
// key, and builds a 16-bucket histogram (counts; for top-p also weight sums)
// of the keys that match the digits chosen so far, in per-thread shared
// columns (no atomics) reduced by a fixed tree; every thread then picks the
// same bucket. top-k picks the bucket holding the k-th key and stops as soon
// as a bucket is taken whole; top-p picks the bucket where the running mass
// (from the top) reaches the target and stops when that bucket holds one
// key. Float weights are mostly distinct within 5-8 digits, so a row costs
// about 2 (max, mass) + 5..16 (top-k) + 5..16 (top-p) + 1 (draw) streaming
// passes of V / 256 elements per thread, i.e. O(passes * V) work, O(V / 256 +
// passes * log) span, 32 KiB shared memory; the draw is a block-wide scan in
// index order in tiles of 1024 (4 consecutive elements per thread).
//
// Differences from the CPU sampler (runtime/src/sampling.cpp): same
// greedy rule, same filter semantics (top-k, then top-p over the top-k
// mass, inclusive of the token that reaches the target), but fp32 weights
// and sums (CPU: double), no min-p or penalties (applied to the logits
// before, if ever), the RNG is Philox keyed by (seed, counter) instead of a
// per-sequence mt19937_64 stream, and the draw walks the kept set in index
// order instead of probability order: same distribution, different token
// for a given u.
#pragma once
#include "common.cuh"
#include "sampling_abi.h"

#define INGOT_SAMPLE_NONE (-1)

__device__ __forceinline__ unsigned long long ingot_sample_key(float w, long long i) {
  return ((unsigned long long)(unsigned)__float_as_int(w) << 32) |
         (unsigned long long)(0xFFFFFFFFu - (unsigned)i);
}

__device__ __forceinline__ float ingot_sample_weight(float l, float mx, float invT) {
  return l != l ? 0.0f : expf((l - mx) * invT);
}

// (value, index) better: larger value, then lower index; index -1 = none.
__device__ __forceinline__ void ingot_sample_argmax_merge(float &v, int &i, float ov, int oi) {
  if (oi < 0)
    return;
  if (i < 0 || ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

// Argmax of the row, lowest index on ties, NaN skipped (all NaN: 0).
__device__ __forceinline__ int ingot_sample_argmax(const float *l, long long V, float *redv,
                                                   int *redi) {
  float bv = 0.0f;
  int bi = -1;
  for (long long i = threadIdx.x; i < V; i += INGOT_SAMPLE_THREADS) {
    const float v = l[i];
    if (v == v && (bi < 0 || v > bv)) {
      bv = v;
      bi = (int)i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(INGOT_FULL_MASK, bv, o);
    const int oi = __shfl_xor_sync(INGOT_FULL_MASK, bi, o);
    ingot_sample_argmax_merge(bv, bi, ov, oi);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) {
    redv[warp] = bv;
    redi[warp] = bi;
  }
  __syncthreads();
  float rv = redv[0];
  int ri = redi[0];
  for (int w = 1; w < INGOT_SAMPLE_THREADS / 32; ++w)
    ingot_sample_argmax_merge(rv, ri, redv[w], redi[w]);
  return ri < 0 ? 0 : ri;
}

// Block-wide max of an int (every thread gets it).
__device__ __forceinline__ int ingot_sample_block_max_int(int v, int *red) {
  for (int o = 16; o > 0; o >>= 1) {
    const int u = __shfl_xor_sync(INGOT_FULL_MASK, v, o);
    v = u > v ? u : v;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0)
    red[threadIdx.x >> 5] = v;
  __syncthreads();
  int r = red[0];
  for (int w = 1; w < INGOT_SAMPLE_THREADS / 32; ++w)
    r = red[w] > r ? red[w] : r;
  return r;
}

// One radix pass: over the keys >= keep_min whose bits above `shift + 4`
// equal those of `prefix`, counts (cnt) and weight sums (sum) per 4-bit
// digit at `shift`. hc/hs: [16][256] per-thread columns; cnt/sum: [16].
__device__ __forceinline__ void ingot_sample_digit_pass(const float *l, long long V, float mx,
                                                        float invT, unsigned long long keep_min,
                                                        unsigned long long prefix, int shift,
                                                        int *hc, float *hs, int *cnt, float *sum) {
  const int t = threadIdx.x;
  const unsigned long long mask = shift >= 60 ? 0ull : (~0ull << (shift + 4));
#pragma unroll
  for (int d = 0; d < 16; ++d) {
    hc[d * INGOT_SAMPLE_THREADS + t] = 0;
    hs[d * INGOT_SAMPLE_THREADS + t] = 0.0f;
  }
  for (long long i = t; i < V; i += INGOT_SAMPLE_THREADS) {
    const float w = ingot_sample_weight(l[i], mx, invT);
    const unsigned long long key = ingot_sample_key(w, i);
    if (key >= keep_min && (key & mask) == prefix) {
      const int d = (int)((key >> shift) & 15ull);
      hc[d * INGOT_SAMPLE_THREADS + t] += 1;
      hs[d * INGOT_SAMPLE_THREADS + t] += w;
    }
  }
  __syncthreads();
  // Thread (bin = t / 16, part = t % 16) sums columns part, part + 16, ...
  // of its bin; then a 16-lane butterfly.
  const int bin = t >> 4, part = t & 15;
  int c = 0;
  float s = 0.0f;
  for (int j = 0; j < INGOT_SAMPLE_THREADS / 16; ++j) {
    c += hc[bin * INGOT_SAMPLE_THREADS + j * 16 + part];
    s += hs[bin * INGOT_SAMPLE_THREADS + j * 16 + part];
  }
  for (int o = 8; o > 0; o >>= 1) {
    c += __shfl_xor_sync(INGOT_FULL_MASK, c, o);
    s += __shfl_xor_sync(INGOT_FULL_MASK, s, o);
  }
  if (part == 0) {
    cnt[bin] = c;
    sum[bin] = s;
  }
  __syncthreads();
}

// Sum of the weights with key >= keep_min (fixed order).
__device__ __forceinline__ float ingot_sample_mass(const float *l, long long V, float mx,
                                                   float invT, unsigned long long keep_min,
                                                   float *red) {
  float s = 0.0f;
  for (long long i = threadIdx.x; i < V; i += INGOT_SAMPLE_THREADS) {
    const float w = ingot_sample_weight(l[i], mx, invT);
    if (ingot_sample_key(w, i) >= keep_min)
      s += w;
  }
  return ingot_block_reduce(s, red, false);
}

__device__ __forceinline__ void ingot_sample_f32_impl(const IngotSampleParams &p) {
  INGOT_SHARED_ARRAY(int, ingot_sample_hc, 16 * INGOT_SAMPLE_THREADS);
  INGOT_SHARED_ARRAY(float, ingot_sample_hs, 16 * INGOT_SAMPLE_THREADS);
  INGOT_SHARED_ARRAY(int, ingot_sample_cnt, 16);
  INGOT_SHARED_ARRAY(float, ingot_sample_sum, 16);
  INGOT_SHARED_ARRAY(float, ingot_sample_red, 33);
  INGOT_SHARED_ARRAY(int, ingot_sample_redi, 33);
  INGOT_SHARED_ARRAY(int, ingot_sample_found, 1);
  const long long row = blockIdx.x;
  const long long V = p.vocab;
  const float *l = p.logits + row * V;
  const float temp = p.temperature[row];
  const int topk = p.top_k ? p.top_k[row] : 0;
  const float topp = p.top_p ? p.top_p[row] : 1.0f;
  // A temperature below ~2.9e-39 (denormal) has 1 / T = +inf in fp32, and the top
  // token's weight would be expf(0 * inf) = NaN (the draw then returns token 0);
  // the CPU sampler (double 1 / T) picks the argmax there, so do that.
  if (!(temp > 0.0f) || topk == 1 || !(1.0f / temp <= 3.402823466e38f)) {
    const int best = ingot_sample_argmax(l, V, ingot_sample_red, ingot_sample_redi);
    if (threadIdx.x == 0)
      p.out_tokens[row] = best;
    return;
  }
  float mx = ingot_neg_inf();
  for (long long i = threadIdx.x; i < V; i += INGOT_SAMPLE_THREADS)
    mx = fmaxf(mx, l[i]); // fmaxf ignores NaN
  mx = ingot_block_reduce(mx, ingot_sample_red, true);
  if (!(mx - mx == 0.0f)) { // +inf, or nothing but -inf/NaN
    const int best = ingot_sample_argmax(l, V, ingot_sample_red, ingot_sample_redi);
    if (threadIdx.x == 0)
      p.out_tokens[row] = best;
    return;
  }
  const float invT = 1.0f / temp;

  // ---- top-k: T_k = the k-th largest key. ----
  unsigned long long tk = 0;
  if (topk > 0 && (long long)topk < V) {
    unsigned long long prefix = 0;
    int need = topk;
    for (int shift = 60; shift >= 0; shift -= 4) {
      ingot_sample_digit_pass(l, V, mx, invT, 0ull, prefix, shift, ingot_sample_hc,
                              ingot_sample_hs, ingot_sample_cnt, ingot_sample_sum);
      int d = 15;
      for (; d > 0; --d) {
        if (need <= ingot_sample_cnt[d])
          break;
        need -= ingot_sample_cnt[d];
      }
      prefix |= (unsigned long long)d << shift;
      if (ingot_sample_cnt[d] == need)
        break; // the whole bucket is in: every key >= prefix
    }
    tk = prefix;
  }

  // ---- top-p: T_p = the key at which the mass from the top reaches the
  // target, among keys >= T_k. ----
  unsigned long long thr = tk;
  if (topp < 1.0f) {
    const float mass = ingot_sample_mass(l, V, mx, invT, tk, ingot_sample_red);
    const float target = fmaxf(topp, 0.0f) * mass;
    unsigned long long prefix = 0;
    float above = 0.0f; // mass of the kept keys above the current bucket range
    for (int shift = 60; shift >= 0; shift -= 4) {
      ingot_sample_digit_pass(l, V, mx, invT, tk, prefix, shift, ingot_sample_hc,
                              ingot_sample_hs, ingot_sample_cnt, ingot_sample_sum);
      int d = 15;
      for (; d >= 0; --d) {
        if (ingot_sample_cnt[d] == 0)
          continue;
        if (above + ingot_sample_sum[d] >= target)
          break;
        above += ingot_sample_sum[d];
      }
      if (d < 0)
        break; // rounding: the target is not reached inside this range; keep all of it
      prefix |= (unsigned long long)d << shift;
      if (ingot_sample_cnt[d] == 1)
        break;
    }
    thr = prefix > tk ? prefix : tk;
  }

  // ---- draw, in index order ----
  const float total = ingot_sample_mass(l, V, mx, invT, thr, ingot_sample_red);
  const float r = ingot_sample_uniform(p.seeds[row], p.counters[row]) * total;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  float carry = 0.0f;
  if (t == 0)
    ingot_sample_found[0] = INGOT_SAMPLE_NONE;
  for (long long base = 0; base < V; base += 4 * INGOT_SAMPLE_THREADS) {
    const long long i0 = base + 4 * t;
    float w4[4];
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float w = 0.0f;
      if (i0 + e < V) {
        w = ingot_sample_weight(l[i0 + e], mx, invT);
        if (ingot_sample_key(w, i0 + e) < thr)
          w = 0.0f;
      }
      w4[e] = w;
      s += w;
    }
    // Inclusive block scan of s: warp scan, then the warp totals.
    float incl = s;
    for (int o = 1; o < 32; o <<= 1) {
      const float u = __shfl_up_sync(INGOT_FULL_MASK, incl, o);
      if (lane >= o)
        incl += u;
    }
    __syncthreads(); // previous tile's readers of red are done
    if (lane == 31)
      ingot_sample_red[warp] = incl;
    __syncthreads();
    float woff = 0.0f;
    for (int w = 0; w < warp; ++w)
      woff += ingot_sample_red[w];
    incl += woff;
    float tile = 0.0f;
    for (int w = 0; w < INGOT_SAMPLE_THREADS / 32; ++w)
      tile += ingot_sample_red[w];
    float excl = __shfl_up_sync(INGOT_FULL_MASK, incl, 1);
    if (lane == 0)
      excl = woff;
    const float lo = carry + excl, hi = carry + incl;
    if (lo <= r && r < hi) { // exactly one thread of the block (lo, hi monotone)
      float cum = lo;
      int j = INGOT_SAMPLE_NONE;
      for (int e = 0; e < 4; ++e) {
        if (w4[e] > 0.0f)
          j = (int)(i0 + e); // fallback: this thread's last kept token
        cum += w4[e];
        if (w4[e] > 0.0f && cum > r)
          break;
      }
      ingot_sample_found[0] = j;
    }
    carry = carry + tile;
    __syncthreads();
    if (ingot_sample_found[0] != INGOT_SAMPLE_NONE)
      break;
  }
  int tok = ingot_sample_found[0];
  if (tok == INGOT_SAMPLE_NONE) { // u * total >= the scanned total: last kept token
    int last = -1;
    for (long long i = t; i < V; i += INGOT_SAMPLE_THREADS) {
      const float w = ingot_sample_weight(l[i], mx, invT);
      if (w > 0.0f && ingot_sample_key(w, i) >= thr)
        last = (int)i;
    }
    tok = ingot_sample_block_max_int(last, ingot_sample_redi);
    if (tok < 0)
      tok = 0;
  }
  if (t == 0)
    p.out_tokens[row] = tok;
}

#define INGOT_DEFINE_SAMPLE()                                                              \
  extern "C" __global__ void __launch_bounds__(INGOT_SAMPLE_THREADS)                       \
      ingot_sample_f32(IngotSampleParams p) {                                              \
    ingot_sample_f32_impl(p);                                                              \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_sample_f32)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_SAMPLE()
#endif
