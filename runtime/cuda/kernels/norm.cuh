// RMSNorm kernels, fp32 (portable subset; see common.cuh). One block per row
// (gridDim.x = rows), blockDim.x a multiple of 32. References:
// ingot::cpu::rmsNorm / addRmsNorm (runtime/src/cpu_kernels.h).
// Rows whose pointers are all 16-byte aligned take float4 loads for the
// first H/4*4 elements and a scalar tail; other rows are all scalar.
// Each thread reads and writes the same elements in every pass, so out may
// alias x, and add_rms_norm's sum may alias x or residual (no __restrict__).
#pragma once
#include "common.cuh"

// out[r,:] = x[r,:] * rsqrt(mean(x[r,:]^2) + eps) * gamma
extern "C" __global__ void ingot_rms_norm_f32(const float *x, const float *gamma, float *out,
                                              long long H, float eps) {
  INGOT_SHARED_ARRAY(float, red, 33);
  const long long row = blockIdx.x;
  const float *xr = x + row * H;
  float *orow = out + row * H;
  const bool vec = ingot_aligned16(xr) && ingot_aligned16(orow) && ingot_aligned16(gamma);
  const long long nq = vec ? H / 4 : 0;
  const long long step = blockDim.x;
  float ss = 0.0f;
  for (long long q = threadIdx.x; q < nq; q += step) {
    const float4 v = reinterpret_cast<const float4 *>(xr)[q];
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  for (long long i = nq * 4 + threadIdx.x; i < H; i += step)
    ss += xr[i] * xr[i];
  ss = ingot_block_reduce(ss, red, false);
  const float inv = rsqrtf(ss / (float)H + eps);
  for (long long q = threadIdx.x; q < nq; q += step) {
    const float4 v = reinterpret_cast<const float4 *>(xr)[q];
    const float4 g = reinterpret_cast<const float4 *>(gamma)[q];
    reinterpret_cast<float4 *>(orow)[q] =
        make_float4(v.x * inv * g.x, v.y * inv * g.y, v.z * inv * g.z, v.w * inv * g.w);
  }
  for (long long i = nq * 4 + threadIdx.x; i < H; i += step)
    orow[i] = xr[i] * inv * gamma[i];
}

// sum = x + residual; normed = rms_norm(sum) (the fused residual add).
extern "C" __global__ void ingot_add_rms_norm_f32(const float *x, const float *residual,
                                                  const float *gamma, float *sum,
                                                  float *normed, long long H, float eps) {
  INGOT_SHARED_ARRAY(float, red, 33);
  const long long row = blockIdx.x;
  const float *xr = x + row * H;
  const float *rr = residual + row * H;
  float *sr = sum + row * H;
  float *nr = normed + row * H;
  const bool vec = ingot_aligned16(xr) && ingot_aligned16(rr) && ingot_aligned16(sr) &&
                   ingot_aligned16(nr) && ingot_aligned16(gamma);
  const long long nq = vec ? H / 4 : 0;
  const long long step = blockDim.x;
  float ss = 0.0f;
  for (long long q = threadIdx.x; q < nq; q += step) {
    const float4 a = reinterpret_cast<const float4 *>(xr)[q];
    const float4 b = reinterpret_cast<const float4 *>(rr)[q];
    const float4 s = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
    reinterpret_cast<float4 *>(sr)[q] = s;
    ss += s.x * s.x + s.y * s.y + s.z * s.z + s.w * s.w;
  }
  for (long long i = nq * 4 + threadIdx.x; i < H; i += step) {
    const float s = xr[i] + rr[i];
    sr[i] = s;
    ss += s * s;
  }
  ss = ingot_block_reduce(ss, red, false);
  const float inv = rsqrtf(ss / (float)H + eps);
  for (long long q = threadIdx.x; q < nq; q += step) {
    const float4 s = reinterpret_cast<const float4 *>(sr)[q];
    const float4 g = reinterpret_cast<const float4 *>(gamma)[q];
    reinterpret_cast<float4 *>(nr)[q] =
        make_float4(s.x * inv * g.x, s.y * inv * g.y, s.z * inv * g.z, s.w * inv * g.w);
  }
  for (long long i = nq * 4 + threadIdx.x; i < H; i += step)
    nr[i] = sr[i] * inv * gamma[i];
}
