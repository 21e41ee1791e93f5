// Paged attention over the KV cache (docs/dev/cuda-abi.md, docs/cuda.md
// "Attention kernels"). Reference: ingot::cpu::pagedAttention
// (runtime/src/cpu_kernels_attention.cpp); parameters and launch geometry:
// attention_abi.h.
//
// Templates over the storage type T (float, __nv_bfloat16, __half), the head
// dim D and the GQA group G (query heads per KV head; query head h uses KV
// head h / G). Math is fp32. Cache layout per layer:
// [num_blocks][block_size][num_kv_heads][D]; position j of sequence s lives
// in physical block block_tables[s][j / block_size], offset j % block_size.
//
// Entry points (defined by the INGOT_DEFINE_ATTN_* macros at the end):
//  - ingot_attn_decode_<TN>_d<D>_g<G> + ingot_attn_decode_combine_<TN>_d<D>:
//    FlashDecoding for steps where every sequence has query_len 1.
//  - ingot_attn_prefill_<TN>_d<D>_g<G>: FlashAttention-2 schedule on CUDA
//    cores, any query_len (mixed prefill/decode batches). Portable subset.
//  - ingot_attn_prefill_mma_<TN>_d<D>_g<G> (bf16/f16): the same schedule on
//    sm_80 tensor cores (mma.sync m16n8k16). Only under __CUDA_ARCH__ >= 800.
//
// Determinism (DESIGN-NOTES 8): every reduction order depends only on the
// sequence's own data and on compile-time constants (D, G, tile sizes) plus
// split_tokens, which the executor fixes per model
// (ingot_attn_decode_split_tokens), never on the batch. Prefill key tiles are
// aligned to absolute cache positions (multiples of BK), so a row sees the
// same tiles in the same order whichever query tile or chunk it is in; tiles
// fully masked for a row leave its state bit-for-bit unchanged.
#pragma once
#include "common.cuh"
#include "attention_abi.h"

__device__ __forceinline__ int ingot_attn_imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int ingot_attn_imax(int a, int b) { return a > b ? a : b; }

// scale * dot, then the optional tanh soft cap.
__device__ __forceinline__ float ingot_attn_score(float dot, float scale, float softcap) {
  float s = dot * scale;
  if (softcap > 0.0f)
    s = softcap * tanhf(s / softcap);
  return s;
}

// Element offset of (cache position pos, kv head kvh) of sequence s.
__device__ __forceinline__ long long ingot_attn_kv_offset(const IngotAttnParams &p, int s, int pos,
                                                          int kvh, int D) {
  const int blk = p.block_tables[(long long)s * p.max_blocks_per_seq + pos / p.block_size];
  return (((long long)blk * p.block_size + pos % p.block_size) * p.num_kv_heads + kvh) * (long long)D;
}

// Largest power of two <= cap dividing n (n >= 1).
__host__ __device__ constexpr int ingot_attn_pow2_div(int n, int cap) {
  return (cap > 1 && n % cap == 0) ? cap : (cap > 1 ? ingot_attn_pow2_div(n, cap / 2) : 1);
}

// =============================================================================
// Decode (FlashDecoding).
//
// Block (split, kvh, s), 128 threads = 4 warps. The G query heads that share
// KV head kvh are handled together, so each K/V row is read once for G heads.
// A lane group of LPK lanes covers one key row with 16-byte loads (chunk c of
// lane `part` is part + c*LPK: a group reads contiguous 16*LPK bytes), a warp
// covers KPW = 32/LPK keys at once and takes UNR = 4 such groups per step
// (all their loads issued first), the 4 warps interleave over the split's
// keys [split*ST, min((split+1)*ST, ctx)).
//  1. scores: per (key, head) a lane-partial dot, reduced by a butterfly over
//     the LPK lanes; written (scaled, capped, masked) to shared sc[G][ST];
//  2. softmax: warp w owns heads w, w+4, ...: max and sum of exp over the
//     split (lane-strided then butterfly; fixed order); sc becomes weights;
//  3. values: same key mapping; per lane fp32 accumulators [G][D/LPK],
//     butterfly over the KPW key slots, then warps 0..3 add into shared acc
//     in warp order.
// Output: if the sequence has ONE split, the block writes out = acc / sum
// directly (the combine kernel skips such sequences); otherwise it writes the
// unnormalised acc to partial_out[s][h][split][:] and (max, sum) to
// partial_lse[s][h][split][0..1]. A split that the sliding window excludes
// entirely writes (max, sum) = (-inf, 0) and zeros.
// =============================================================================
template <class T, int D, int G>
__device__ __forceinline__ void ingot_attn_decode_impl(const IngotAttnParams &p) {
  constexpr int CH = ingot_vec<T>::n; // elements per 16-byte chunk
  static_assert(D % CH == 0, "head dim must be a multiple of 16 bytes");
  constexpr int NC = D / CH;
  constexpr int LPK = ingot_attn_pow2_div(NC, 32);
  constexpr int CPL = NC / LPK;
  constexpr int KPW = 32 / LPK;
  constexpr int NW = INGOT_ATTN_DECODE_THREADS / 32;
  constexpr int UNR = 4; // key groups in flight per warp
  const int split = blockIdx.x, kvh = blockIdx.y, s = blockIdx.z;
  const int ctx = p.context_lens[s];
  const int ST = p.split_tokens;
  const int nsplit = (ctx + ST - 1) / ST;
  if (split >= nsplit)
    return; // whole block: no barrier reached yet
  const int tok = p.query_start[s + 1] - 1;
  const int pos = ctx - 1;
  const int lo = p.sliding_window > 0 ? ingot_attn_imax(0, pos - p.sliding_window + 1) : 0;
  const int j0 = split * ST;
  const int j1 = ingot_attn_imin(j0 + ST, ctx);

  INGOT_DYNAMIC_SHARED(float, smem);
  float *sc = smem;           // [G][ST] scores, then weights
  float *ml = smem + G * ST;  // [G][2] (max, sum)
  float *accs = ml + 2 * G;   // [G][D]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int kl = lane / LPK, part = lane % LPK;

  float qr[G][CPL * CH];
  const T *qb = static_cast<const T *>(p.q) + ((long long)tok * p.num_heads + kvh * G) * D;
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int c = 0; c < CPL; ++c)
      ingot_ld16(qb + g * D + (part + c * LPK) * CH, &qr[g][c * CH]);

  const T *kc = static_cast<const T *>(p.k_cache);
  const T *vc = static_cast<const T *>(p.v_cache);

  // 1. Scores. A warp takes UNR groups of KPW keys per step and issues all
  // their loads (block-table entry, then K) before the arithmetic.
  for (int base = j0 + warp * KPW * UNR; base < j1; base += NW * KPW * UNR) {
    float kv[UNR][CPL * CH];
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int j = base + u * KPW + kl;
      if (j < j1 && j >= lo) {
        const T *kr = kc + ingot_attn_kv_offset(p, s, j, kvh, D);
#pragma unroll
        for (int c = 0; c < CPL; ++c)
          ingot_ld16(kr + (part + c * LPK) * CH, &kv[u][c * CH]);
      } else {
#pragma unroll
        for (int i = 0; i < CPL * CH; ++i)
          kv[u][i] = 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int j = base + u * KPW + kl;
      const bool valid = j < j1 && j >= lo;
      float dot[G];
#pragma unroll
      for (int g = 0; g < G; ++g) {
        dot[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < CPL * CH; ++i)
          dot[g] += qr[g][i] * kv[u][i];
        for (int o = LPK / 2; o > 0; o >>= 1)
          dot[g] += __shfl_xor_sync(INGOT_FULL_MASK, dot[g], o);
      }
      if (part == 0 && j < j1)
#pragma unroll
        for (int g = 0; g < G; ++g)
          sc[g * ST + (j - j0)] =
              valid ? ingot_attn_score(dot[g], p.scale, p.softcap) : ingot_neg_inf();
    }
  }
  __syncthreads();

  // 2. Softmax statistics per head (one warp per head).
  const int n = j1 - j0;
  for (int g = warp; g < G; g += NW) {
    float m = ingot_neg_inf();
    for (int i = lane; i < n; i += 32)
      m = fmaxf(m, sc[g * ST + i]);
    m = ingot_warp_max(m);
    float l = 0.0f;
    for (int i = lane; i < n; i += 32) {
      const float e = m == ingot_neg_inf() ? 0.0f : expf(sc[g * ST + i] - m);
      sc[g * ST + i] = e;
      l += e;
    }
    l = ingot_warp_sum(l);
    if (lane == 0) {
      ml[2 * g] = m;
      ml[2 * g + 1] = l;
    }
  }
  __syncthreads();

  // 3. Weighted values.
  float acc[G][CPL * CH];
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int i = 0; i < CPL * CH; ++i)
      acc[g][i] = 0.0f;
  for (int base = j0 + warp * KPW * UNR; base < j1; base += NW * KPW * UNR) {
    float vv[UNR][CPL * CH];
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int j = base + u * KPW + kl;
      if (j < j1 && j >= lo) {
        const T *vr = vc + ingot_attn_kv_offset(p, s, j, kvh, D);
#pragma unroll
        for (int c = 0; c < CPL; ++c)
          ingot_ld16(vr + (part + c * LPK) * CH, &vv[u][c * CH]);
      }
    }
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int j = base + u * KPW + kl;
      if (j < j1 && j >= lo) {
#pragma unroll
        for (int g = 0; g < G; ++g) {
          const float w = sc[g * ST + (j - j0)];
#pragma unroll
          for (int i = 0; i < CPL * CH; ++i)
            acc[g][i] += w * vv[u][i];
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int i = 0; i < CPL * CH; ++i)
      for (int o = LPK; o < 32; o <<= 1)
        acc[g][i] += __shfl_xor_sync(INGOT_FULL_MASK, acc[g][i], o);
  for (int w = 0; w < NW; ++w) {
    if (warp == w && kl == 0) {
#pragma unroll
      for (int g = 0; g < G; ++g)
#pragma unroll
        for (int c = 0; c < CPL; ++c)
#pragma unroll
          for (int e = 0; e < CH; ++e) {
            float *a = accs + g * D + (part + c * LPK) * CH + e;
            *a = (w == 0 ? 0.0f : *a) + acc[g][c * CH + e];
          }
    }
    __syncthreads();
  }

  // Output.
  const int h0 = kvh * G;
  if (nsplit == 1) {
    T *ob = static_cast<T *>(p.out) + ((long long)tok * p.num_heads + h0) * D;
    for (int i = threadIdx.x; i < G * D; i += blockDim.x)
      ingot_st(ob + i, accs[i] * (1.0f / ml[2 * (i / D) + 1]));
  } else {
    for (int i = threadIdx.x; i < G * D; i += blockDim.x) {
      const int g = i / D;
      const long long row = ((long long)s * p.num_heads + h0 + g) * p.max_splits + split;
      p.partial_out[row * D + (i % D)] = accs[i];
    }
    if (threadIdx.x < G) {
      const int g = threadIdx.x;
      const long long row = ((long long)s * p.num_heads + h0 + g) * p.max_splits + split;
      p.partial_lse[2 * row] = ml[2 * g];
      p.partial_lse[2 * row + 1] = ml[2 * g + 1];
    }
  }
}

// Block (h, s): out = sum_i e^(m_i - M) acc_i / sum_i e^(m_i - M) l_i over
// the splits i in order (splits with l_i = 0 contribute nothing). A context
// needing more than max_splits splits (a host bug) writes NaN.
template <class T, int D>
__device__ __forceinline__ void ingot_attn_decode_combine_impl(const IngotAttnParams &p) {
  const int h = blockIdx.x, s = blockIdx.y;
  const int ctx = p.context_lens[s];
  const int nsplit = (ctx + p.split_tokens - 1) / p.split_tokens;
  if (nsplit <= 1)
    return;
  const int tok = p.query_start[s + 1] - 1;
  T *o = static_cast<T *>(p.out) + ((long long)tok * p.num_heads + h) * D;
  if (nsplit > p.max_splits) { // max_splits too small for this context: fail loudly
    for (int d = threadIdx.x; d < D; d += blockDim.x)
      ingot_st(o + d, __int_as_float(0x7fc00000));
    return;
  }
  const long long row0 = ((long long)s * p.num_heads + h) * p.max_splits;
  const float *lse = p.partial_lse + 2 * row0;
  float M = ingot_neg_inf();
  for (int i = 0; i < nsplit; ++i)
    if (lse[2 * i + 1] > 0.0f)
      M = fmaxf(M, lse[2 * i]);
  float L = 0.0f;
  for (int i = 0; i < nsplit; ++i)
    if (lse[2 * i + 1] > 0.0f)
      L += lse[2 * i + 1] * expf(lse[2 * i] - M);
  const float inv = 1.0f / L;
  const float *po = p.partial_out + row0 * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float a = 0.0f;
    for (int i = 0; i < nsplit; ++i)
      if (lse[2 * i + 1] > 0.0f)
        a += expf(lse[2 * i] - M) * po[(long long)i * D + d];
    ingot_st(o + d, a * inv);
  }
}

// =============================================================================
// Prefill, CUDA cores (FlashAttention-2 schedule).
//
// Block (qtile, kvh, s), 128 threads. A row is one (query token, head of
// the GQA group) pair: row r = token_in_tile * G + g, so the G heads sharing
// KV head kvh share every staged K/V tile. TPR = clamp(D/32, 1, 8) threads
// per row (rounded down to a power of two dividing D/8), ROWS = 128/TPR rows,
// TT = floor(ROWS/G) tokens per block (G <= ROWS; rows past TT*G idle). Thread
// (r, part) keeps its 16-byte chunks part, part+TPR, ... of q and of the fp32
// output accumulator in registers.
// Key loop: tiles of BK = clamp(2048/D, 16, 64) keys aligned to absolute
// cache positions, from the tile holding the block's lowest visible key
// (window) to the one holding its last query position (causal): tiles fully
// masked for the whole block are never visited. Each tile is staged into
// static shared memory as fp32 (K and V: 2*BK*D*4 <= 16 KiB for D <= 128) with 16-byte
// global loads through the block table; keys past the block's last position
// (possibly unwritten cache) are staged as zeros. Per row and tile: BK
// scores (a row's TPR partial dots reduced by a butterfly), masked to -inf
// outside [pos-W+1, pos]; online softmax (running max m and sum l, rescale by
// e^(m_old - m_new)); o += p_j v_j in key order. Out = o / l.
// Shared-memory reads: the threads of a row read consecutive 16-byte chunks
// of one key row, the rows of a warp read the same key (broadcast).
// =============================================================================
__host__ __device__ constexpr int ingot_attn_pow2_floor(int n) {
  return n >= 2 ? 2 * ingot_attn_pow2_floor(n / 2) : 1;
}
// Threads per row: the largest power of two <= clamp(D/32, 1, 8) dividing
// D/8 (so it divides the 16-byte chunk count for every storage type). Same
// formula as the host's ingot_attn_prefill_tpr (attention_abi.h).
template <int D> __host__ __device__ constexpr int ingot_attn_prefill_tpr_c() {
  return ingot_attn_pow2_div(D / 8, ingot_attn_pow2_floor((D / 32 < 1) ? 1 : (D / 32 > 8 ? 8 : D / 32)));
}

template <class T, int D, int G>
__device__ __forceinline__ void ingot_attn_prefill_impl(const IngotAttnParams &p) {
  constexpr int CH = ingot_vec<T>::n;
  static_assert(D % 8 == 0, "head dim must be a multiple of 8");
  constexpr int NC = D / CH;
  constexpr int TPR = ingot_attn_prefill_tpr_c<D>();
  constexpr int ROWS = INGOT_ATTN_PREFILL_THREADS / TPR;
  // G need not divide ROWS (Qwen2.5: G = 7, Qwen2: G = 6): the last ROWS - TT*G
  // rows of the tile are idle (their token index r / G >= TT lies past t1, so
  // `active` below is false for them; they still take part in the shuffles).
  static_assert(G <= ROWS, "GQA group larger than the row tile");
  constexpr int TT = ROWS / G;
  constexpr int CPT = NC / TPR;
  constexpr int BK = (2048 / D) < 16 ? 16 : ((2048 / D) > 64 ? 64 : (2048 / D));
  static_assert(2 * BK * D * 4 <= 32 * 1024, "K/V tiles exceed 32 KiB of shared memory");

  const int qtile = blockIdx.x, kvh = blockIdx.y, s = blockIdx.z;
  const int qs = p.query_start[s];
  const int qlen = p.query_start[s + 1] - qs;
  const int ctx = p.context_lens[s];
  const int t0 = qtile * TT;
  if (t0 >= qlen)
    return; // whole block, before any barrier
  const int t1 = ingot_attn_imin(t0 + TT, qlen);
  const int W = p.sliding_window;
  const int bpos_lo = ctx - qlen + t0, bpos_hi = ctx - qlen + t1 - 1;
  const int klo = W > 0 ? ingot_attn_imax(0, bpos_lo - W + 1) : 0;
  const int tile_first = klo / BK, tile_last = bpos_hi / BK;

  const int r = threadIdx.x / TPR, part = threadIdx.x % TPR;
  const int ti = t0 + r / G, g = r % G;
  const bool active = ti < t1;
  const int pos = ctx - qlen + ti;
  const int rlo = W > 0 ? pos - W + 1 : 0;

  float qr[CPT * CH], o[CPT * CH];
  const long long qoff = ((long long)(qs + ti) * p.num_heads + kvh * G + g) * D;
#pragma unroll
  for (int c = 0; c < CPT; ++c) {
    if (active)
      ingot_ld16(static_cast<const T *>(p.q) + qoff + (part + c * TPR) * CH, &qr[c * CH]);
    else
#pragma unroll
      for (int e = 0; e < CH; ++e)
        qr[c * CH + e] = 0.0f;
#pragma unroll
    for (int e = 0; e < CH; ++e)
      o[c * CH + e] = 0.0f;
  }
  float m = ingot_neg_inf(), l = 0.0f;

  INGOT_SHARED_ARRAY(float, ks, BK * D);
  INGOT_SHARED_ARRAY(float, vs, BK * D);
  const T *kc = static_cast<const T *>(p.k_cache);
  const T *vc = static_cast<const T *>(p.v_cache);

  for (int tile = tile_first; tile <= tile_last; ++tile) {
    const int kbase = tile * BK;
    __syncthreads(); // the previous tile's readers are done
    for (int c = threadIdx.x; c < BK * NC; c += INGOT_ATTN_PREFILL_THREADS) {
      const int j = c / NC, ch = c % NC;
      const int kp = kbase + j;
      float kv[CH], vv[CH];
      if (kp >= klo && kp <= bpos_hi) {
        const long long off = ingot_attn_kv_offset(p, s, kp, kvh, D) + ch * CH;
        ingot_ld16(kc + off, kv);
        ingot_ld16(vc + off, vv);
      } else {
#pragma unroll
        for (int e = 0; e < CH; ++e)
          kv[e] = vv[e] = 0.0f;
      }
      float4 *kd = reinterpret_cast<float4 *>(ks + j * D + ch * CH);
      float4 *vd = reinterpret_cast<float4 *>(vs + j * D + ch * CH);
#pragma unroll
      for (int e = 0; e < CH / 4; ++e) {
        kd[e] = make_float4(kv[4 * e], kv[4 * e + 1], kv[4 * e + 2], kv[4 * e + 3]);
        vd[e] = make_float4(vv[4 * e], vv[4 * e + 1], vv[4 * e + 2], vv[4 * e + 3]);
      }
    }
    __syncthreads();

    float sc[BK];
    float tmax = ingot_neg_inf();
#pragma unroll
    for (int j = 0; j < BK; ++j) {
      float dot = 0.0f;
#pragma unroll
      for (int c = 0; c < CPT; ++c) {
        const float4 *kr = reinterpret_cast<const float4 *>(ks + j * D + (part + c * TPR) * CH);
#pragma unroll
        for (int e = 0; e < CH / 4; ++e) {
          const float4 k4 = kr[e];
          const float *qq = &qr[c * CH + 4 * e];
          dot += qq[0] * k4.x;
          dot += qq[1] * k4.y;
          dot += qq[2] * k4.z;
          dot += qq[3] * k4.w;
        }
      }
      for (int x = TPR / 2; x > 0; x >>= 1)
        dot += __shfl_xor_sync(INGOT_FULL_MASK, dot, x);
      const int kp = kbase + j;
      const bool valid = active && kp <= pos && kp >= rlo;
      sc[j] = valid ? ingot_attn_score(dot, p.scale, p.softcap) : ingot_neg_inf();
      tmax = fmaxf(tmax, sc[j]);
    }
    const float mn = fmaxf(m, tmax);
    if (mn != ingot_neg_inf()) { // else every key so far is masked for this row
      const float alpha = expf(m - mn); // 0 when m = -inf, 1 when unchanged
      l *= alpha;
#pragma unroll
      for (int i = 0; i < CPT * CH; ++i)
        o[i] *= alpha;
#pragma unroll
      for (int j = 0; j < BK; ++j) {
        const float pj = expf(sc[j] - mn);
        l += pj;
#pragma unroll
        for (int c = 0; c < CPT; ++c) {
          const float4 *vr = reinterpret_cast<const float4 *>(vs + j * D + (part + c * TPR) * CH);
#pragma unroll
          for (int e = 0; e < CH / 4; ++e) {
            const float4 v4 = vr[e];
            float *oo = &o[c * CH + 4 * e];
            oo[0] += pj * v4.x;
            oo[1] += pj * v4.y;
            oo[2] += pj * v4.z;
            oo[3] += pj * v4.w;
          }
        }
      }
      m = mn;
    }
  }

  if (active) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int i = 0; i < CPT * CH; ++i)
      o[i] *= inv;
#pragma unroll
    for (int c = 0; c < CPT; ++c)
      ingot_st16(static_cast<T *>(p.out) + qoff + (part + c * TPR) * CH, &o[c * CH]);
  }
}

// =============================================================================
// Prefill on sm_80+ tensor cores (bf16/f16 storage only). The same schedule
// as ingot_attn_prefill_impl (rows = (token, head of the group) pairs, key
// tiles aligned to absolute positions, tiles outside the block's causal /
// window range skipped, online softmax in fp32), with the two products on
// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}:
//  - block (qtile, kvh, s): 4 warps, warp w owns rows 16w..16w+15 of the
//    64-row tile (64/G tokens);
//  - Q: A fragments for the D/16 k-steps kept in registers all along;
//  - per tile of BK keys (64, or 32 for D > 128): K staged row-major in
//    shared memory [BK][D+8], V transposed [D][BK+8] (the +8 halves make the
//    32-bit fragment loads of the 8 groups x 4 threads hit 32 distinct
//    banks); S = Q K^T as BK/8 m16n8 accumulators; masking, scale, softcap;
//    row max / sum over the quad of lanes that share a row (shfl_xor 1, 2);
//    P is converted to T and reused directly as the A fragments of P V (the
//    m16n8 accumulator layout of two adjacent key blocks is the m16k16 A
//    layout); O += P V as D/8 m16n8 accumulators (rescaled by e^(m_old-m_new)).
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16", g = lane/4,
// t = lane%4): A regs {(g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)};
// B regs {(k = 2t..2t+1, n = g), (k = 2t+8.., n = g)}; C {(g, 2t), (g, 2t+1),
// (g+8, 2t), (g+8, 2t+1)}; the lower column / k index in the low 16 bits.
// Results differ from the plain kernel by the rounding of P to T before P V.
// =============================================================================
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define INGOT_ATTN_HAVE_MMA 1
template <class T> __device__ __forceinline__ unsigned ingot_attn_pack2(float lo, float hi);
template <> __device__ __forceinline__ unsigned ingot_attn_pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned *>(&v);
}
template <> __device__ __forceinline__ unsigned ingot_attn_pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const unsigned *>(&v);
}

// c += a * b, m16n8k16, fp32 accumulators.
template <class T>
__device__ __forceinline__ void ingot_attn_mma(float *c, const unsigned *a, unsigned b0, unsigned b1);
template <>
__device__ __forceinline__ void ingot_attn_mma<__nv_bfloat16>(float *c, const unsigned *a, unsigned b0,
                                                               unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
               "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void ingot_attn_mma<__half>(float *c, const unsigned *a, unsigned b0,
                                                        unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
               "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#elif defined(INGOT_ATTN_MMA_MODEL)
// The including translation unit provides ingot_attn_pack2<T> and
// ingot_attn_mma<T> as a CPU model of the PTX fragment layouts (built on
// warp shuffles; runtime/tests/test_cuda_attention.cpp), so the kernel's
// index math runs under the emulation.
#define INGOT_ATTN_HAVE_MMA 1
#endif

#ifdef INGOT_ATTN_HAVE_MMA
template <class T, int D, int G>
__device__ __forceinline__ void ingot_attn_prefill_mma_impl(const IngotAttnParams &p) {
  static_assert(sizeof(T) == 2, "the mma variant is for bf16/f16 storage");
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
  // As the plain kernel: rows past TT*G (G not dividing 64) are idle (inactive).
  static_assert(G <= INGOT_ATTN_MMA_ROWS, "GQA group larger than the 64-row tile");
  constexpr int TT = INGOT_ATTN_MMA_ROWS / G;
  constexpr int BK = D <= 128 ? 64 : 32;
  constexpr int KS = D + 8;  // K row stride (elements)
  constexpr int VS = BK + 8; // V^T row stride
  constexpr int NC = D / 8;  // 16-byte chunks per row
  static_assert((BK * KS + D * VS) * 2 <= 48 * 1024, "K/V tiles exceed 48 KiB");

  const int qtile = blockIdx.x, kvh = blockIdx.y, s = blockIdx.z;
  const int qs = p.query_start[s];
  const int qlen = p.query_start[s + 1] - qs;
  const int ctx = p.context_lens[s];
  const int t0 = qtile * TT;
  if (t0 >= qlen)
    return;
  const int t1 = ingot_attn_imin(t0 + TT, qlen);
  const int W = p.sliding_window;
  const int bpos_lo = ctx - qlen + t0, bpos_hi = ctx - qlen + t1 - 1;
  const int klo = W > 0 ? ingot_attn_imax(0, bpos_lo - W + 1) : 0;
  const int tile_first = klo / BK, tile_last = bpos_hi / BK;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int gq = lane >> 2, tq = lane & 3;
  // The two rows of this thread: 16*warp + gq (+8).
  bool active[2];
  int pos[2], rlo[2];
  long long roff[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = 16 * warp + gq + 8 * h;
    const int ti = t0 + r / G;
    active[h] = ti < t1;
    pos[h] = ctx - qlen + ti;
    rlo[h] = W > 0 ? pos[h] - W + 1 : 0;
    roff[h] = ((long long)(qs + ti) * p.num_heads + kvh * G + r % G) * D;
  }

  // Q A fragments.
  const T *qg = static_cast<const T *>(p.q);
  unsigned qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int h = i & 1, col = kk * 16 + 2 * tq + 8 * (i >> 1);
      qa[kk][i] = active[h] ? *reinterpret_cast<const unsigned *>(qg + roff[h] + col) : 0u;
    }

  float o[D / 8][4];
#pragma unroll
  for (int nd = 0; nd < D / 8; ++nd)
#pragma unroll
    for (int i = 0; i < 4; ++i)
      o[nd][i] = 0.0f;
  float m[2] = {ingot_neg_inf(), ingot_neg_inf()}, l[2] = {0.0f, 0.0f};

  INGOT_SHARED_ARRAY(T, kt, BK * KS);
  INGOT_SHARED_ARRAY(T, vt, D * VS);
  const T *kc = static_cast<const T *>(p.k_cache);
  const T *vc = static_cast<const T *>(p.v_cache);

  for (int tile = tile_first; tile <= tile_last; ++tile) {
    const int kbase = tile * BK;
    __syncthreads();
    // K: chunk-fastest (coalesced 16-byte loads, row-major stores).
    for (int c = threadIdx.x; c < BK * NC; c += INGOT_ATTN_MMA_THREADS) {
      const int j = c / NC, ch = c % NC, kp = kbase + j;
      uint4 v;
      v.x = v.y = v.z = v.w = 0u;
      if (kp >= klo && kp <= bpos_hi)
        v = *reinterpret_cast<const uint4 *>(kc + ingot_attn_kv_offset(p, s, kp, kvh, D) + ch * 8);
      *reinterpret_cast<uint4 *>(kt + j * KS + ch * 8) = v;
    }
    // V: key-fastest, so the transposed 16-bit stores of a warp are
    // consecutive along a V^T row.
    for (int c = threadIdx.x; c < BK * NC; c += INGOT_ATTN_MMA_THREADS) {
      const int j = c % BK, ch = c / BK, kp = kbase + j;
      uint4 v;
      v.x = v.y = v.z = v.w = 0u;
      if (kp >= klo && kp <= bpos_hi)
        v = *reinterpret_cast<const uint4 *>(vc + ingot_attn_kv_offset(p, s, kp, kvh, D) + ch * 8);
      const T *e = reinterpret_cast<const T *>(&v);
#pragma unroll
      for (int i = 0; i < 8; ++i)
        vt[(ch * 8 + i) * VS + j] = e[i];
    }
    __syncthreads();

    // S = Q K^T.
    float sc[BK / 8][4];
#pragma unroll
    for (int nb = 0; nb < BK / 8; ++nb) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        sc[nb][i] = 0.0f;
      const T *kr = kt + (nb * 8 + gq) * KS + 2 * tq;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ingot_attn_mma<T>(sc[nb], qa[kk], *reinterpret_cast<const unsigned *>(kr + kk * 16),
                          *reinterpret_cast<const unsigned *>(kr + kk * 16 + 8));
    }
    // Mask, scale, cap; row maxima over the quad.
    float tmax[2] = {ingot_neg_inf(), ingot_neg_inf()};
#pragma unroll
    for (int nb = 0; nb < BK / 8; ++nb)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int h = i >> 1, kp = kbase + nb * 8 + 2 * tq + (i & 1);
        const bool valid = active[h] && kp <= pos[h] && kp >= rlo[h];
        sc[nb][i] = valid ? ingot_attn_score(sc[nb][i], p.scale, p.softcap) : ingot_neg_inf();
        tmax[h] = fmaxf(tmax[h], sc[nb][i]);
      }
    float mu[2], alpha[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tmax[h] = fmaxf(tmax[h], __shfl_xor_sync(INGOT_FULL_MASK, tmax[h], 1));
      tmax[h] = fmaxf(tmax[h], __shfl_xor_sync(INGOT_FULL_MASK, tmax[h], 2));
      const float mn = fmaxf(m[h], tmax[h]);
      // All keys so far masked: exponentiate against 0 (every weight is 0).
      mu[h] = mn == ingot_neg_inf() ? 0.0f : mn;
      alpha[h] = expf(m[h] - mu[h]);
      m[h] = mn;
      l[h] *= alpha[h];
    }
#pragma unroll
    for (int nd = 0; nd < D / 8; ++nd)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        o[nd][i] *= alpha[i >> 1];
    // P (thread-partial row sums; the quad is summed at the end) as A
    // fragments, then O += P V.
#pragma unroll
    for (int kb = 0; kb < BK / 16; ++kb) {
      unsigned pa[4];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float e[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          e[i] = expf(sc[2 * kb + half][i] - mu[i >> 1]);
          l[i >> 1] += e[i];
        }
        pa[2 * half] = ingot_attn_pack2<T>(e[0], e[1]);
        pa[2 * half + 1] = ingot_attn_pack2<T>(e[2], e[3]);
      }
#pragma unroll
      for (int nd = 0; nd < D / 8; ++nd) {
        const T *vr = vt + (nd * 8 + gq) * VS + kb * 16 + 2 * tq;
        ingot_attn_mma<T>(o[nd], pa, *reinterpret_cast<const unsigned *>(vr),
                          *reinterpret_cast<const unsigned *>(vr + 8));
      }
    }
  }

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(INGOT_FULL_MASK, l[h], 1);
    l[h] += __shfl_xor_sync(INGOT_FULL_MASK, l[h], 2);
  }
  T *og = static_cast<T *>(p.out);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (!active[h])
      continue;
    const float inv = 1.0f / l[h];
#pragma unroll
    for (int nd = 0; nd < D / 8; ++nd)
      *reinterpret_cast<unsigned *>(og + roff[h] + nd * 8 + 2 * tq) =
          ingot_attn_pack2<T>(o[nd][2 * h] * inv, o[nd][2 * h + 1] * inv);
  }
}

#define INGOT_DEFINE_ATTN_PREFILL_MMA(T, TN, D, G)                                          \
  extern "C" __global__ void __launch_bounds__(INGOT_ATTN_MMA_THREADS)                     \
      ingot_attn_prefill_mma_##TN##_d##D##_g##G(IngotAttnParams p) {                       \
    ingot_attn_prefill_mma_impl<T, D, G>(p);                                               \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_attn_prefill_mma_##TN##_d##D##_g##G)
#else
// Not emulated (no mma) and not built below sm_80: the executor checks for
// the function with cuModuleGetFunction and falls back to the plain kernel.
#define INGOT_DEFINE_ATTN_PREFILL_MMA(T, TN, D, G)
#endif

// ---- Entry points ----
#define INGOT_DEFINE_ATTN_DECODE(T, TN, D, G)                                               \
  extern "C" __global__ void __launch_bounds__(INGOT_ATTN_DECODE_THREADS)                  \
      ingot_attn_decode_##TN##_d##D##_g##G(IngotAttnParams p) {                            \
    ingot_attn_decode_impl<T, D, G>(p);                                                    \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_attn_decode_##TN##_d##D##_g##G)

#define INGOT_DEFINE_ATTN_DECODE_COMBINE(T, TN, D)                                          \
  extern "C" __global__ void __launch_bounds__(128)                                        \
      ingot_attn_decode_combine_##TN##_d##D(IngotAttnParams p) {                           \
    ingot_attn_decode_combine_impl<T, D>(p);                                               \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_attn_decode_combine_##TN##_d##D)

#define INGOT_DEFINE_ATTN_PREFILL(T, TN, D, G)                                              \
  extern "C" __global__ void __launch_bounds__(INGOT_ATTN_PREFILL_THREADS)                 \
      ingot_attn_prefill_##TN##_d##D##_g##G(IngotAttnParams p) {                           \
    ingot_attn_prefill_impl<T, D, G>(p);                                                   \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_attn_prefill_##TN##_d##D##_g##G)

#ifdef INGOT_KERNELS_INSTANTIATE_ALL
INGOT_DEFINE_ATTN_DECODE_COMBINE(float, f32, 64)
INGOT_DEFINE_ATTN_DECODE_COMBINE(float, f32, 128)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__nv_bfloat16, bf16, 64)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__nv_bfloat16, bf16, 128)
INGOT_DEFINE_ATTN_DECODE(float, f32, 64, 1)
INGOT_DEFINE_ATTN_DECODE(float, f32, 64, 4)
INGOT_DEFINE_ATTN_DECODE(float, f32, 128, 1)
INGOT_DEFINE_ATTN_DECODE(float, f32, 128, 4)
INGOT_DEFINE_ATTN_DECODE(__nv_bfloat16, bf16, 64, 1)
INGOT_DEFINE_ATTN_DECODE(__nv_bfloat16, bf16, 64, 4)
INGOT_DEFINE_ATTN_DECODE(__nv_bfloat16, bf16, 128, 1)
INGOT_DEFINE_ATTN_DECODE(__nv_bfloat16, bf16, 128, 4)
INGOT_DEFINE_ATTN_PREFILL(float, f32, 64, 1)
INGOT_DEFINE_ATTN_PREFILL(float, f32, 64, 4)
INGOT_DEFINE_ATTN_PREFILL(float, f32, 128, 1)
INGOT_DEFINE_ATTN_PREFILL(float, f32, 128, 4)
INGOT_DEFINE_ATTN_PREFILL(__nv_bfloat16, bf16, 64, 1)
INGOT_DEFINE_ATTN_PREFILL(__nv_bfloat16, bf16, 64, 4)
INGOT_DEFINE_ATTN_PREFILL(__nv_bfloat16, bf16, 128, 1)
INGOT_DEFINE_ATTN_PREFILL(__nv_bfloat16, bf16, 128, 4)
INGOT_DEFINE_ATTN_PREFILL_MMA(__nv_bfloat16, bf16, 64, 1)
INGOT_DEFINE_ATTN_PREFILL_MMA(__nv_bfloat16, bf16, 64, 4)
INGOT_DEFINE_ATTN_PREFILL_MMA(__nv_bfloat16, bf16, 128, 1)
INGOT_DEFINE_ATTN_PREFILL_MMA(__nv_bfloat16, bf16, 128, 4)
INGOT_DEFINE_ATTN_PREFILL_MMA(__half, f16, 128, 4)
#endif
