// The CUDA emulation (runtime/cuda/emu/cuda_emu.h) itself: semantics tests
// compare with values written out from CUDA's documented rules (shuffle
// sources, barrier visibility) and check the misuse errors. The kernels of
// runtime/cuda/kernels/*.cuh are compared with the CPU reference kernels in
// test_cuda_kernels_core.cpp (and the other test_cuda_kernels_*.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

// After the standard headers: the emulation defines threadIdx, warpSize, ...
#include "cuda/emu/cuda_emu.h"
#include "cuda/kernels/common.cuh"

using ingot::cudaemu::FiberOrder;
using ingot::cudaemu::LaunchOptions;
using ingot::cudaemu::launch;
using ingot::cudaemu::launchWith;

namespace {

// ---- Test kernels, in the same CUDA subset. ----

__global__ void kShuffles(const int *in, int *out) {
  const int t = threadIdx.x;
  const int v = in[t];
  int *o = out + t * 8;
  o[0] = __shfl_xor_sync(0xffffffffu, v, 1);
  o[1] = __shfl_xor_sync(0xffffffffu, v, 16);
  o[2] = __shfl_down_sync(0xffffffffu, v, 1);
  o[3] = __shfl_down_sync(0xffffffffu, v, 5);
  o[4] = __shfl_sync(0xffffffffu, v, 7);
  o[5] = __shfl_sync(0xffffffffu, v, 3, 8);
  o[6] = __shfl_up_sync(0xffffffffu, v, 2);
  o[7] = __shfl_xor_sync(0xffffffffu, v, 4, 8);
}

__global__ void kWarpSum(const float *in, float *out) {
  float v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}

// Hillis-Steele inclusive scan: barriers inside a loop.
__global__ void kScan(const int *in, int *out) {
  INGOT_SHARED_ARRAY(int, s, 256);
  const int t = threadIdx.x, n = blockDim.x;
  const int base = blockIdx.x * n;
  s[t] = in[base + t];
  __syncthreads();
  for (int d = 1; d < n; d <<= 1) {
    const int add = t >= d ? s[t - d] : 0;
    __syncthreads();
    s[t] += add;
    __syncthreads();
  }
  out[base + t] = s[t];
}

// Reads a neighbour's slot without a barrier: a race the poison exposes.
__global__ void kMissingBarrier(float *out) {
  INGOT_SHARED_ARRAY(float, s, 64);
  const int t = threadIdx.x;
  s[t] = 1.0f;
  out[t] = s[(t + 1) % blockDim.x];
}

__global__ void kRawShared(int *out) {
  __shared__ int s[64];
  const int t = threadIdx.x;
  s[t] = int(blockIdx.x) * 1000 + t;
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = s[blockDim.x - 1 - t];
}

__global__ void kDynamicShared(const float *in, float *out) {
  INGOT_DYNAMIC_SHARED(float, d);
  const int t = threadIdx.x, n = blockDim.x;
  d[t] = in[blockIdx.x * n + t];
  __syncthreads();
  out[blockIdx.x * n + t] = d[n - 1 - t];
}

__global__ void kIndices(int *out) {
  const int tpb = blockDim.x * blockDim.y * blockDim.z;
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[b * tpb + t] = b * 10000 + t;
}

__global__ void kHalfBarrier(int *) {
  if (threadIdx.x < 16)
    __syncthreads();
}
__global__ void kDivergentBarrier(int *) {
  if (threadIdx.x < 16)
    __syncthreads();
  else
    __syncthreads();
}
__global__ void kHalfShuffle(int *out) {
  if (threadIdx.x % 32 < 16)
    return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}
__global__ void kBigShared(float *out) {
  INGOT_SHARED_ARRAY(float, big, 16384); // 64 KiB
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const ingot::Error &e) {
    return e.what();
  }
  return "";
}

// ---- Emulation semantics ----

TEST(CudaEmu, ShuffleSourcesFollowCudaRules) {
  const int n = 64; // two warps
  std::vector<int> in(n), out(n * 8, -1);
  for (int t = 0; t < n; ++t)
    in[size_t(t)] = t * 10 + 1;
  for (FiberOrder ord : {FiberOrder::Forward, FiberOrder::Reverse}) {
    LaunchOptions o;
    o.order = ord;
    launchWith(o, 1, n, 0, kShuffles, in.data(), out.data());
    for (int t = 0; t < n; ++t) {
      const int w = t / 32 * 32, l = t % 32;
      auto v = [&](int lane) { return in[size_t(w + lane)]; };
      const int *r = &out[size_t(t) * 8];
      EXPECT_EQ(r[0], v(l ^ 1)) << t;
      EXPECT_EQ(r[1], v(l ^ 16)) << t;
      EXPECT_EQ(r[2], l + 1 < 32 ? v(l + 1) : v(l)) << t;
      EXPECT_EQ(r[3], l + 5 < 32 ? v(l + 5) : v(l)) << t;
      EXPECT_EQ(r[4], v(7)) << t;
      EXPECT_EQ(r[5], v(l / 8 * 8 + 3)) << t;
      EXPECT_EQ(r[6], l >= 2 ? v(l - 2) : v(l)) << t;
      EXPECT_EQ(r[7], v(l ^ 4)) << t;
    }
  }
}

TEST(CudaEmu, ButterflyGivesEveryLaneTheWarpSum) {
  std::vector<float> in(128), out(128);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(i % 7) - 2.0f;
  launch(1, 128, 0, kWarpSum, in.data(), out.data());
  for (int w = 0; w < 4; ++w) {
    const float s = std::accumulate(in.begin() + w * 32, in.begin() + w * 32 + 32, 0.0f);
    for (int l = 0; l < 32; ++l)
      EXPECT_EQ(out[size_t(w * 32 + l)], s);
  }
}

TEST(CudaEmu, BarriersInLoopsAndSharedPerBlock) {
  const int blocks = 5, n = 256;
  std::vector<int> in(blocks * n), out(blocks * n), want(blocks * n);
  std::mt19937 rng(7);
  for (int &v : in)
    v = int(rng() % 100);
  for (int b = 0; b < blocks; ++b)
    std::partial_sum(in.begin() + b * n, in.begin() + (b + 1) * n, want.begin() + b * n);
  for (FiberOrder ord : {FiberOrder::Forward, FiberOrder::Reverse}) {
    LaunchOptions o;
    o.order = ord;
    o.workers = 2; // blocks on two OS threads at once
    std::fill(out.begin(), out.end(), 0);
    launchWith(o, blocks, n, 0, kScan, in.data(), out.data());
    EXPECT_EQ(out, want);
  }
}

TEST(CudaEmu, PoisonedSharedMemoryShowsAMissingBarrier) {
  for (FiberOrder ord : {FiberOrder::Forward, FiberOrder::Reverse}) {
    std::vector<float> out(64, 0.0f);
    LaunchOptions o;
    o.order = ord;
    launchWith(o, 1, 64, 0, kMissingBarrier, out.data());
    EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](float v) { return std::isnan(v); }));
  }
}

TEST(CudaEmu, RawSharedKeywordAndDynamicShared) {
  const int blocks = 6, n = 64;
  std::vector<int> out(blocks * n);
  LaunchOptions o;
  o.workers = 3;
  launchWith(o, blocks, n, 0, kRawShared, out.data());
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < n; ++t)
      EXPECT_EQ(out[size_t(b * n + t)], b * 1000 + (n - 1 - t));

  std::vector<float> in(blocks * n), got(blocks * n);
  std::iota(in.begin(), in.end(), 0.0f);
  launch(blocks, n, n * sizeof(float), kDynamicShared, in.data(), got.data());
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < n; ++t)
      EXPECT_EQ(got[size_t(b * n + t)], in[size_t(b * n + n - 1 - t)]);
}

TEST(CudaEmu, MultiDimensionalIndices) {
  const dim3 grid(3, 2, 2), block(4, 2, 3);
  const int tpb = 24, nb = 12;
  std::vector<int> out(tpb * nb, -1);
  launch(grid, block, 0, kIndices, out.data());
  for (int b = 0; b < nb; ++b)
    for (int t = 0; t < tpb; ++t)
      EXPECT_EQ(out[size_t(b * tpb + t)], b * 10000 + t);
}

TEST(CudaEmu, ReportsDeadlocksAndDivergence) {
  std::vector<int> buf(64);
  std::string e = errorOf([&] { launch(2, 32, 0, kHalfBarrier, buf.data()); });
  EXPECT_NE(e.find("deadlock in block (0,0,0)"), std::string::npos) << e;
  EXPECT_NE(e.find("16 at __syncthreads test_cuda_emu.cpp:"), std::string::npos) << e;
  EXPECT_NE(e.find("16 exited"), std::string::npos) << e;

  e = errorOf([&] { launch(1, 32, 0, kDivergentBarrier, buf.data()); });
  EXPECT_NE(e.find("divergent __syncthreads"), std::string::npos) << e;

  e = errorOf([&] { launch(1, 64, 0, kHalfShuffle, buf.data()); });
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("at a warp shuffle test_cuda_emu.cpp:"), std::string::npos) << e;

  // 48 threads: the second warp has 16 lanes, so the full mask is misuse.
  std::vector<float> in48(48, 1.0f), out48(48);
  e = errorOf([&] { launch(1, 48, 0, kWarpSum, in48.data(), out48.data()); });
  EXPECT_NE(e.find("full mask"), std::string::npos) << e;

  // The emulator is usable again after errors.
  std::vector<float> in(32, 1.0f), out(32);
  launch(1, 32, 0, kWarpSum, in.data(), out.data());
  EXPECT_EQ(out[0], 32.0f);
}

TEST(CudaEmu, ReportsSharedOverflowAndBadLaunches) {
  std::vector<float> out(32);
  std::string e = errorOf([&] { launch(1, 32, 0, kBigShared, out.data()); });
  EXPECT_NE(e.find("shared memory overflow: big"), std::string::npos) << e;
  LaunchOptions o;
  o.sharedLimitBytes = 100 * 1024; // an opted-in larger carve-out
  launchWith(o, 1, 32, 0, kBigShared, out.data());
  EXPECT_EQ(out[31], 1.0f);

  std::vector<float> in(64);
  e = errorOf([&] { launch(1, 64, 64 * 1024, kDynamicShared, in.data(), in.data()); });
  EXPECT_NE(e.find("shared memory overflow"), std::string::npos) << e;
  // Dynamic + static together over the limit.
  e = errorOf([&] { launchWith(o, 1, 32, 40 * 1024, kBigShared, out.data()); });
  EXPECT_NE(e.find("shared memory overflow: big"), std::string::npos) << e;

  std::vector<int> buf(4096);
  e = errorOf([&] { launch(1, 2048, 0, kIndices, buf.data()); });
  EXPECT_NE(e.find("more than 1024 threads"), std::string::npos) << e;
  e = errorOf([&] { launch(0, 32, 0, kIndices, buf.data()); });
  EXPECT_NE(e.find("zero dimension"), std::string::npos) << e;
}

} // namespace
