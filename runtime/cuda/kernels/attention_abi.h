// Paged attention kernels' parameters and launch geometry (attention.cuh,
// docs/dev/cuda-abi.md "IngotAttnParams", docs/cuda.md "Attention kernels").
// Plain C++, includes only abi.h: compiles on the host, under NVRTC and
// under the emulation.
//
// Semantics (the CPU's ingot::cpu::pagedAttention): query token i of
// sequence s sits at cache position pos = context_lens[s] - query_len + i and
// attends to cache positions j with j <= pos and, when sliding_window W > 0,
// j > pos - W. Scores are scale * q.k, then (softcap > 0)
// softcap * tanh(score / softcap). Softmax and accumulation are fp32.
// The cache holds this step's K/V already (rope_kv_append runs first).
#pragma once
#include "abi.h"

struct IngotAttnParams {
  const void *q;           // [tokens, num_heads, D], rope already applied
  const void *k_cache;     // this layer: [num_blocks][block_size][num_kv_heads][D]
  const void *v_cache;
  void *out;               // [tokens, num_heads, D]
  const int *block_tables; // [num_seqs][max_blocks_per_seq]
  const int *query_start;  // [num_seqs + 1]
  const int *context_lens; // [num_seqs]: tokens in the cache incl. this step's
  float *partial_out;      // decode: [num_seqs][num_heads][max_splits][D] fp32
  float *partial_lse;      // decode: [num_seqs][num_heads][max_splits] (max, sum) pairs
  long long num_tokens;
  int num_seqs, num_heads, num_kv_heads, block_size, max_blocks_per_seq;
  int max_query_len; // host-computed max over sequences (grid size)
  int split_tokens;  // decode split size (multiple of block_size)
  int max_splits;    // ceil(max context / split_tokens)
  int sliding_window; // 0 = none; else attend to the last W positions
  float scale;        // softmax scale
  float softcap;      // 0 = none
};

// ---- Decode (FlashDecoding) ----
// ingot_attn_decode_<TN>_d<D>_g<G>: grid (max_splits, num_kv_heads, num_seqs),
// INGOT_ATTN_DECODE_THREADS threads. Block (split, kvh, s) handles the G query
// heads kvh*G .. kvh*G+G-1 of sequence s's (single) query token over cache
// positions [split*split_tokens, (split+1)*split_tokens). Dynamic shared
// memory: scores [G][split_tokens], (max, sum) [G][2], value accumulator [G][D].
#define INGOT_ATTN_DECODE_THREADS 128
#define INGOT_ATTN_SMEM_LIMIT (48 * 1024)

inline unsigned ingot_attn_decode_shmem(int split_tokens, int G, int D) {
  return unsigned(4ll * ((long long)G * split_tokens + 2ll * G + (long long)G * D));
}

// The split size the executor should use: the largest multiple of
// block_size <= 512 whose shared memory fits 48 KiB (at least block_size).
// Depends only on the model (block_size, G, D), never on the batch, so a
// request's reduction order is the same in every batch (DESIGN-NOTES 8).
inline int ingot_attn_decode_split_tokens(int block_size, int G, int D) {
  if (block_size <= 0)
    return 0;
  int st = (512 / block_size) * block_size;
  if (st < block_size)
    st = block_size;
  while (st > block_size && ingot_attn_decode_shmem(st, G, D) > INGOT_ATTN_SMEM_LIMIT)
    st -= block_size;
  return st;
}

// Splits needed for a context of `context_len` tokens.
inline int ingot_attn_decode_num_splits(int context_len, int split_tokens) {
  return split_tokens > 0 ? (context_len + split_tokens - 1) / split_tokens : 0;
}

// fp32 scratch the executor allocates for partial_out / partial_lse.
inline long long ingot_attn_decode_scratch_floats(int num_seqs, int num_heads, int max_splits,
                                                  int D) {
  return (long long)num_seqs * num_heads * max_splits * D;
}
inline long long ingot_attn_decode_lse_floats(int num_seqs, int num_heads, int max_splits) {
  return 2ll * num_seqs * num_heads * max_splits;
}

// The decode kernel _d<D>_g<G>; p.max_splits and p.split_tokens must be set.
// (The contract's (p, G) also needs D: the shared memory depends on it.)
inline KernelLaunch ingot_attn_decode_launch(const IngotAttnParams &p, int G, int D) {
  return ingot_make_launch(unsigned(p.max_splits), unsigned(p.num_kv_heads),
                           unsigned(p.num_seqs), INGOT_ATTN_DECODE_THREADS,
                           ingot_attn_decode_shmem(p.split_tokens, G, D));
}

// ingot_attn_decode_combine_<TN>_d<D>: grid (num_heads, num_seqs), 128
// threads; merges the splits of sequences with more than one split (in split
// order) and writes out. Sequences with one split were written by the decode
// kernel directly; the combine kernel leaves them alone. Launch it after
// every decode launch (it is a no-op when max_splits == 1, the executor may
// skip it then).
inline KernelLaunch ingot_attn_decode_combine_launch(const IngotAttnParams &p) {
  return ingot_make_launch(unsigned(p.num_heads), unsigned(p.num_seqs), 1, 128, 0);
}

// ---- Prefill (FlashAttention-2 schedule; any query_len) ----
// Plain (CUDA cores): 128 threads; TPR threads per query row (a row is one
// (token, head of the GQA group) pair), rows = 128 / TPR per block, i.e.
// rows / G tokens. K/V tiles of BK keys live in static shared memory (fp32).
#define INGOT_ATTN_PREFILL_THREADS 128
// MMA (sm_80 mma.sync, bf16/f16): 4 warps x 16 rows = 64 rows per block.
#define INGOT_ATTN_MMA_THREADS 128
#define INGOT_ATTN_MMA_ROWS 64

// Threads per row of the plain kernel: the largest power of two
// <= clamp(D/32, 1, 8) that divides D/8 (attention.cuh computes the same at
// compile time; the test checks they agree).
inline int ingot_attn_prefill_tpr(int D) {
  int t = D / 32;
  t = t < 1 ? 1 : (t > 8 ? 8 : t);
  int p = 1;
  while (p * 2 <= t)
    p *= 2;
  while (p > 1 && (D / 8) % p != 0)
    p /= 2;
  return p;
}
inline int ingot_attn_prefill_rows(int D) { return INGOT_ATTN_PREFILL_THREADS / ingot_attn_prefill_tpr(D); }
// Query tokens per block: floor(rows / G) (plain) or floor(64 / G) (mma); G need
// not divide the row tile (the rows past tokens * G are idle), but G <= rows.
inline int ingot_attn_prefill_tile_tokens(int D, int G, bool mma) {
  const int rows = mma ? INGOT_ATTN_MMA_ROWS : ingot_attn_prefill_rows(D);
  const int t = G > 0 ? rows / G : 0;
  return t < 1 ? 1 : t;
}

// grid (ceil(max_query_len / tile_tokens), num_kv_heads, num_seqs). Static
// shared memory only. The plain kernel needs D (to size the row tile); the
// mma kernel tiles 64 rows whatever D.
inline KernelLaunch ingot_attn_prefill_launch(const IngotAttnParams &p, int G, bool mma, int D) {
  const int tt = ingot_attn_prefill_tile_tokens(D, G, mma);
  const int tiles = (p.max_query_len + tt - 1) / tt;
  return ingot_make_launch(unsigned(tiles < 1 ? 1 : tiles), unsigned(p.num_kv_heads),
                           unsigned(p.num_seqs),
                           mma ? INGOT_ATTN_MMA_THREADS : INGOT_ATTN_PREFILL_THREADS, 0);
}

// Host-side check of the scalar fields before a launch of the _d<D>_g<G>
// kernels (decode: the decode + combine pair; else prefill). Returns nullptr
// when they are consistent, else a message naming the field. (Per-sequence
// data in device memory - context lengths, block tables - is the executor's
// to validate on the host, as the CPU executor does.)
inline const char *ingot_attn_check(const IngotAttnParams &p, int G, int D, bool decode) {
  if (G <= 0 || D <= 0)
    return "attention: G and D must be positive";
  if (p.num_kv_heads <= 0 || p.num_heads != p.num_kv_heads * G)
    return "attention: num_heads must equal num_kv_heads * G of the kernel";
  if (p.block_size <= 0 || p.max_blocks_per_seq <= 0)
    return "attention: block_size and max_blocks_per_seq must be positive";
  if (p.num_seqs <= 0 || p.num_tokens <= 0)
    return "attention: empty batch (num_seqs / num_tokens)";
  if (p.sliding_window < 0)
    return "attention: sliding_window must be >= 0";
  // The kernels read q and the caches and write out with 16-byte (uint4) accesses
  // and no unaligned fallback: on a GPU a misaligned one faults (the emulation on
  // x86 does not), so check the bases here (the per-row offsets are multiples of
  // D elements, i.e. of 16 bytes).
  if (((reinterpret_cast<unsigned long long>(p.q) | reinterpret_cast<unsigned long long>(p.k_cache) |
        reinterpret_cast<unsigned long long>(p.v_cache) | reinterpret_cast<unsigned long long>(p.out)) &
       15ull) != 0)
    return "attention: q, k_cache, v_cache and out must be 16-byte aligned";
  if (!(p.softcap >= 0.0f))
    return "attention: softcap must be >= 0";
  if (decode) {
    if (p.split_tokens <= 0 || p.split_tokens % p.block_size != 0)
      return "attention decode: split_tokens must be a positive multiple of block_size";
    if (p.max_splits <= 0)
      return "attention decode: max_splits must cover the longest context";
    if (ingot_attn_decode_shmem(p.split_tokens, G, D) > INGOT_ATTN_SMEM_LIMIT)
      return "attention decode: split_tokens too large for 48 KiB of shared memory "
             "(use ingot_attn_decode_split_tokens)";
    if (!p.partial_out || !p.partial_lse)
      return "attention decode: partial_out / partial_lse scratch not set";
  } else if (p.max_query_len <= 0) {
    return "attention prefill: max_query_len must be positive";
  }
  return nullptr;
}
