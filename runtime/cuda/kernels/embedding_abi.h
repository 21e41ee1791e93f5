// Parameters and launch geometry of the row-copy kernels (embedding.cuh):
//   ingot_embedding_<TN>:    out[t,:] = table[ids[t],:] (Embedding step;
//                            ingot::cpu::embedding). Ids outside [0, vocab)
//                            write a zero row (the host validates ids first,
//                            as the CPU executor does, and reports them).
//   ingot_gather_rows_<TN>:  out[i,:] = x[row_i,:], row_i = rows_idx[i], or
//                            with last_of_query_start = 1 row_i =
//                            rows_idx[i+1] - 1 where rows_idx is the batch's
//                            query_start [n+1] (GatherLast, and the Logits
//                            step's gather of each sequence's last token:
//                            ingot::cpu::gatherLast). out_f32 = 1 writes
//                            fp32 rows (for the fp32 logits GEMM), else T.
//                            Rows outside [0, x_rows) write zeros.
//   ingot_cast_<TN>_to_f32,
//   ingot_cast_f32_to_<TN>:  n elements between fp32 and T (round to nearest
//                            even); defined for TN = bf16, f16.
#pragma once
#include "abi.h"

struct IngotEmbeddingParams {
  const int *ids;    // [rows] int32
  const void *table; // [vocab, hidden] T
  void *out;         // [rows, hidden] T
  long long rows, hidden, vocab;
};

struct IngotGatherRowsParams {
  const void *x;        // [x_rows, cols] T
  void *out;            // [n, cols] T, or fp32 when out_f32
  const int *rows_idx;  // [n] row indices, or query_start [n+1]
  long long n, cols;
  long long x_rows;
  int out_f32;
  int last_of_query_start;
};

struct IngotCastParams {
  const void *x; // [n] source type
  void *out;     // [n] destination type
  long long n;
};

// Row copies: one block per output row, threads over the row's 16-byte
// vectors (one each, 32..256 threads). elem_bytes = sizeof(T).
inline KernelLaunch ingot_row_copy_launch(long long rows, long long cols, int elem_bytes) {
  const long long per = 16 / (elem_bytes > 0 ? elem_bytes : 4);
  long long t = ((cols + per - 1) / per + 31) / 32 * 32;
  t = t < 32 ? 32 : t > 256 ? 256 : t;
  return ingot_make_launch(unsigned(rows > 0 ? rows : 1), 1, 1, unsigned(t));
}
inline KernelLaunch ingot_embedding_launch(const IngotEmbeddingParams &p, int elem_bytes) {
  return ingot_row_copy_launch(p.rows, p.hidden, elem_bytes);
}
inline KernelLaunch ingot_gather_rows_launch(const IngotGatherRowsParams &p, int elem_bytes) {
  return ingot_row_copy_launch(p.n, p.cols, elem_bytes);
}
// Grid-stride over 16-byte vectors of the 16-bit side (8 elements per
// thread), 256 threads, at most 65535 blocks.
inline KernelLaunch ingot_cast_launch(const IngotCastParams &p) {
  long long blocks = ((p.n + 7) / 8 + 255) / 256;
  blocks = blocks < 1 ? 1 : blocks > 65535 ? 65535 : blocks;
  return ingot_make_launch(unsigned(blocks), 1, 1, 256);
}
