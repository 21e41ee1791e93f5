// Parameters and launch geometry of the rotary-embedding kernels (rope.cuh):
//   ingot_rope_<TN>_d<D>:           the Rope step, in place
//                                   (ingot::cpu::rope).
//   ingot_rope_kv_append_<TN>_d<D>: the Attention step's prologue: rotates q
//                                   in place, writes rotated k and v into
//                                   this layer's paged cache at
//                                   slot_mapping (the CPU's Rope steps on q
//                                   and k, then pagedAttention's append).
// D is the head dim (compile time); the first rotary_dim (even, <= D) dims
// of each head rotate, the rest pass through. neox = 1: "half" style, pairs
// (j, j + rotary_dim/2); neox = 0: "interleaved", pairs (2j, 2j+1).
// Angles: ang = float(positions[t]) * inv_freq[j] in fp32,
// cos/sin = float(cos/sin(double(ang))) times attn_scale (Hugging Face's
// attention_scaling; 1 for every rope the CPU executor runs), exactly as
// the CPU rope. inv_freq [rotary_dim/2] fp32 is computed on the host by the
// CPU executor's own code: cpuexec::ropeStepAttrs (runtime/src/
// cpu_executor_impl.h) returns it for a Rope step's attributes (default,
// linear, llama3 and "table" scaling), so both backends use the same table.
// KV cache layout (kv_cache.h): [num_blocks][block_size][num_kv_heads][D]
// per layer, storage type T; slot = block * block_size + offset; a negative
// slot (padding) writes nothing.
#pragma once
#include "abi.h"

struct IngotRopeParams {
  void *x;              // [tokens, num_heads, D] T, rotated in place
  const int *positions; // [tokens]
  const float *inv_freq; // [rotary_dim / 2]
  long long tokens;
  int num_heads;
  int rotary_dim;
  int neox;
  float attn_scale;
};

struct IngotRopeKvParams {
  void *q;                       // [tokens, num_heads, D] T, rotated in place
  const void *k;                 // [tokens, num_kv_heads, D] T
  const void *v;                 // [tokens, num_kv_heads, D] T
  void *k_cache;                 // this layer's [num_blocks][block_size][num_kv_heads][D] T
  void *v_cache;
  const int *positions;          // [tokens]
  const long long *slot_mapping; // [tokens]
  const float *inv_freq;         // [rotary_dim / 2]
  long long tokens;
  int num_heads, num_kv_heads, rotary_dim, neox, block_size;
  int apply_rope;                // 0: append k and v unrotated, q untouched
  float attn_scale;
};

// One block per token; threads: one per 16-byte chunk of rotated pairs over
// all heads of the token, rounded up to a warp, 32..256.
inline unsigned ingot_rope_threads(long long heads, int head_dim, int elem_bytes) {
  const long long per = 16 / (elem_bytes > 0 ? elem_bytes : 4);
  long long t = (heads * (head_dim / 2) / per + 31) / 32 * 32;
  return unsigned(t < 32 ? 32 : t > 256 ? 256 : t);
}
inline KernelLaunch ingot_rope_launch(const IngotRopeParams &p, int head_dim, int elem_bytes) {
  return ingot_make_launch(unsigned(p.tokens > 0 ? p.tokens : 1), 1, 1,
                           ingot_rope_threads(p.num_heads, head_dim, elem_bytes));
}
inline KernelLaunch ingot_rope_kv_append_launch(const IngotRopeKvParams &p, int head_dim,
                                                int elem_bytes) {
  return ingot_make_launch(
      unsigned(p.tokens > 0 ? p.tokens : 1), 1, 1,
      ingot_rope_threads((long long)p.num_heads + 2ll * p.num_kv_heads, head_dim, elem_bytes));
}
