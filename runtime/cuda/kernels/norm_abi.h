// Parameters and launch geometry of the normalisation kernels (norm.cuh):
// ingot_rms_norm_<TN>, ingot_add_rms_norm_<TN>, ingot_layer_norm_<TN>,
// ingot_add_layer_norm_<TN> (docs/dev/cuda-abi.md). Semantics are the CPU
// executor's RmsNorm / AddRmsNorm / LayerNorm / AddLayerNorm
// (runtime/src/cpu_kernels.cpp):
//   rms:   out = x * rsqrt(mean(x^2) + eps) * gamma
//   layer: out = (x - mean) * rsqrt(var + eps) * gamma + beta   (biased var)
//   add_*: sum = x + residual (stored in T, i.e. rounded to bf16/f16 for
//          16-bit T, as torch does on bf16 tensors); the norm is taken of
//          that stored, rounded sum.
// RmsNorm's `group_size` attribute (Qwen3's per-head q/k norm: gamma has
// group_size elements and every consecutive group of a row is normalised on
// its own) is the same kernel on a [rows * cols / group_size, group_size]
// view: the executor sets rows = rows * cols / g and cols = g.
// There is no unit offset (gamma is used as stored; models whose norm is
// x * (1 + w) have the 1 folded into the weight by the importer).
#pragma once
#include "abi.h"

struct IngotNormParams {
  const void *x;        // [rows, cols] T
  const void *residual; // add_*: [rows, cols] T; else unused
  const void *gamma;    // [cols] T
  const void *beta;     // layer norms: [cols] T; else unused
  void *out;            // [rows, cols] T (may alias x)
  void *sum;            // add_*: [rows, cols] T, x + residual (may alias x or residual)
  long long rows;
  long long cols;
  float eps;
};

// One block per row (gridDim.x = rows; rows beyond 2^31-1 are the
// executor's to split). Threads: enough for one 16-byte vector each
// (cols / (16 / elem_bytes)), rounded up to a warp, between 32 and 512.
// elem_bytes = sizeof(T) (4, 2).
inline unsigned ingot_row_threads(long long cols, int elem_bytes) {
  const long long per = 16 / (elem_bytes > 0 ? elem_bytes : 4);
  long long t = (cols + per - 1) / per;
  t = (t + 31) / 32 * 32;
  if (t < 32)
    t = 32;
  if (t > 512)
    t = 512;
  return unsigned(t);
}

inline KernelLaunch ingot_norm_launch(const IngotNormParams &p, int elem_bytes) {
  return ingot_make_launch(unsigned(p.rows > 0 ? p.rows : 1), 1, 1,
                           ingot_row_threads(p.cols, elem_bytes));
}
