// Runs the CUDA C++ that ingot-print-cuda generates for the Elementwise
// programs of Inputs/ew_programs.mlir (generated at build time into
// cudagen_ew.cuh) under the CPU emulation of the CUDA execution model, and
// compares every output with the formulas written out here, independently
// of the generator. Both entry points of each kernel (scalar grid-stride and
// float4) run, at widths with and without a 4-multiple, several grid sizes.
#include "cuda/emu/cuda_emu.h"
#include "cudagen_ew.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using ingot::cudaemu::launch;

std::vector<float> randomVec(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.0f, 3.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float geluErf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.707106781f)); }
float geluTanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.797884561f * (x + 0.044715f * x * x * x)));
}
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void expectNear(const std::vector<float> &got, const std::vector<float> &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f * std::max(1.0f, std::abs(want[i]))) << "element " << i;
}

struct Shape {
  long long rows, width;
  unsigned grid, block;
};
const Shape kShapes[] = {{1, 1, 1, 32}, {3, 5, 2, 32}, {4, 64, 3, 128}, {7, 100, 16, 64},
                         {2, 4096, 4, 256}};

TEST(CudaGenEmu, BroadcastRowSiluGelu) {
  for (const Shape &s : kShapes) {
    size_t n = size_t(s.rows * s.width);
    auto a = randomVec(n, 1), row = randomVec(size_t(s.width), 2);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i)
      want[i] = geluErf(silu(a[i] + row[i % size_t(s.width)]));
    std::vector<float> out(n, NAN);
    launch(dim3(s.grid), dim3(s.block), 0, ingot_ew_0, a.data(), row.data(), out.data(), s.rows,
           s.width);
    expectNear(out, want);
    if (s.width % 4 == 0) {
      std::vector<float> out4(n, NAN);
      launch(dim3(s.grid), dim3(s.block), 0, ingot_ew_0_v4, a.data(), row.data(), out4.data(),
             s.rows, s.width);
      expectNear(out4, want);
    }
  }
}

TEST(CudaGenEmu, TwoOutputsAndConstants) {
  for (const Shape &s : kShapes) {
    size_t n = size_t(s.rows * s.width);
    auto a = randomVec(n, 3), b = randomVec(n, 4);
    std::vector<float> want0(n), want1(n);
    for (size_t i = 0; i < n; ++i) {
      want0[i] = (a[i] * b[i] - 0.5f) / std::sqrt(b[i] * b[i] + 1.0f);
      want1[i] = std::tanh(a[i]);
    }
    for (int v4 = 0; v4 < (s.width % 4 == 0 ? 2 : 1); ++v4) {
      std::vector<float> o0(n, NAN), o1(n, NAN);
      auto k = v4 ? ingot_ew_1_v4 : ingot_ew_1;
      launch(dim3(s.grid), dim3(s.block), 0, k, a.data(), b.data(), o0.data(), o1.data(), s.rows,
             s.width);
      expectNear(o0, want0);
      expectNear(o1, want1);
    }
  }
}

TEST(CudaGenEmu, ClampSigmoidGeluTanh) {
  for (const Shape &s : kShapes) {
    size_t n = size_t(s.rows * s.width);
    auto a = randomVec(n, 5);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i)
      want[i] = std::max(std::min(a[i], 2.0f), -2.0f) * sigmoid(a[i]) + geluTanh(a[i]);
    for (int v4 = 0; v4 < (s.width % 4 == 0 ? 2 : 1); ++v4) {
      std::vector<float> out(n, NAN);
      auto k = v4 ? ingot_ew_2_v4 : ingot_ew_2;
      launch(dim3(s.grid), dim3(s.block), 0, k, a.data(), out.data(), s.rows, s.width);
      expectNear(out, want);
    }
  }
}

} // namespace
