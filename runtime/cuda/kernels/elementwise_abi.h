// Parameters of the generated Elementwise kernels (lib/CudaGen,
// `ingot_ew_<hash>_<TN>` and its 16-byte variant `..._v`). Inputs of rank 1
// are rows broadcast over the step's rows (which inputs those are is baked
// into the generated kernel). See docs/dev/cuda-abi.md.
#pragma once
#include "abi.h"

#define INGOT_EW_MAX_INPUTS 8
#define INGOT_EW_MAX_OUTPUTS 4

struct IngotEwParams {
  const void *in[INGOT_EW_MAX_INPUTS];
  void *out[INGOT_EW_MAX_OUTPUTS];
  long long rows;
  long long width;
};

// Grid-stride kernels: 256 threads per block, enough blocks to cover the
// elements once (`per_thread` elements per thread: 1 for the scalar kernel,
// 16 / sizeof(T) for the vector one), capped so huge steps loop.
inline KernelLaunch ingot_elementwise_launch(const IngotEwParams &p, int per_thread) {
  const long long n = p.rows * p.width;
  long long blocks = (n / (per_thread > 0 ? per_thread : 1) + 255) / 256;
  if (blocks < 1)
    blocks = 1;
  if (blocks > 65535)
    blocks = 65535;
  return ingot_make_launch(unsigned(blocks), 1, 1, 256);
}
