// Softmax over the last axis, fp32 (portable subset; see common.cuh). One
// block per row (gridDim.x = rows), blockDim.x a multiple of 32. Reference:
// ingot::cpu::softmax. out may alias x (each thread rereads only its own
// elements before writing them).
#pragma once
#include "common.cuh"

extern "C" __global__ void ingot_softmax_f32(const float *x, float *out, long long C) {
  INGOT_SHARED_ARRAY(float, red, 33);
  const long long row = blockIdx.x;
  const float *xr = x + row * C;
  float *orow = out + row * C;
  const long long step = blockDim.x;
  float m = ingot_neg_inf();
  for (long long i = threadIdx.x; i < C; i += step)
    m = fmaxf(m, xr[i]);
  m = ingot_block_reduce(m, red, true);
  float s = 0.0f;
  for (long long i = threadIdx.x; i < C; i += step)
    s += expf(xr[i] - m);
  s = ingot_block_reduce(s, red, false);
  const float inv = 1.0f / s;
  for (long long i = threadIdx.x; i < C; i += step)
    orow[i] = expf(xr[i] - m) * inv;
}
