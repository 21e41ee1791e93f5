// out = silu(gate) * up over n elements, fp32 (portable subset; see
// common.cuh). Grid-stride loop: any grid and block size. When all three
// pointers are 16-byte aligned the first n/4*4 elements go through float4
// loads, the rest scalar. Reference: ingot::cpu::siluMul.
#pragma once
#include "common.cuh"

__device__ __forceinline__ float ingot_silu_mul1(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

extern "C" __global__ void ingot_silu_mul_f32(const float *gate, const float *up, float *out,
                                              long long n) {
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long step = (long long)gridDim.x * blockDim.x;
  const bool vec = ingot_aligned16(gate) && ingot_aligned16(up) && ingot_aligned16(out);
  const long long nq = vec ? n / 4 : 0;
  for (long long q = first; q < nq; q += step) {
    const float4 g = reinterpret_cast<const float4 *>(gate)[q];
    const float4 u = reinterpret_cast<const float4 *>(up)[q];
    reinterpret_cast<float4 *>(out)[q] =
        make_float4(ingot_silu_mul1(g.x, u.x), ingot_silu_mul1(g.y, u.y),
                    ingot_silu_mul1(g.z, u.z), ingot_silu_mul1(g.w, u.w));
  }
  for (long long i = nq * 4 + first; i < n; i += step)
    out[i] = ingot_silu_mul1(gate[i], up[i]);
}
