// Parameters and launch geometry of ingot_softmax_<TN> (softmax.cuh):
// softmax over the last axis of [rows, cols], storage type T, fp32 math
// (reference ingot::cpu::softmax; docs/dev/cuda-abi.md).
#pragma once
#include "abi.h"

struct IngotSoftmaxParams {
  const void *x; // [rows, cols] T
  void *out;     // [rows, cols] T (may alias x)
  long long rows;
  long long cols;
};

// One block per row; threads as the norms (one 16-byte vector per thread,
// 32..512). elem_bytes = sizeof(T).
inline KernelLaunch ingot_softmax_launch(const IngotSoftmaxParams &p, int elem_bytes) {
  const long long per = 16 / (elem_bytes > 0 ? elem_bytes : 4);
  long long t = ((p.cols + per - 1) / per + 31) / 32 * 32;
  t = t < 32 ? 32 : t > 512 ? 512 : t;
  return ingot_make_launch(unsigned(p.rows > 0 ? p.rows : 1), 1, 1, unsigned(t));
}
