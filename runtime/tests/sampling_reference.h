// The documented procedure of the device sampler ingot_sample_f32
// (runtime/cuda/kernels/sampling.cuh), written from its definition with a
// sort and double sums, for the kernel tests and the CUDA executor tests:
// greedy rule (temperature <= 0, a temperature whose reciprocal overflows,
// or top_k == 1; lowest index on ties, NaN never wins), fp32 weights
// exp((l - max) / T), top-k then top-p over (weight desc, index asc), one
// Philox uniform for (seed, counter), the draw walking the kept tokens in
// index order.
#pragma once
#include "cuda/kernels/sampling_abi.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ingot::test {

inline int32_t referenceDeviceSample(const float *l, int64_t V, float temperature, int topK,
                                     float topP, unsigned long long seed, long long counter) {
  auto argmax = [&] {
    int64_t best = -1;
    for (int64_t i = 0; i < V; ++i)
      if (!std::isnan(l[i]) && (best < 0 || l[i] > l[best]))
        best = i;
    return int32_t(best < 0 ? 0 : best);
  };
  if (!(temperature > 0.0f) || topK == 1 || !std::isfinite(1.0f / temperature))
    return argmax();
  float mx = -INFINITY;
  for (int64_t i = 0; i < V; ++i)
    if (!std::isnan(l[i]))
      mx = std::max(mx, l[i]);
  if (!std::isfinite(mx))
    return argmax();
  const float invT = 1.0f / temperature;
  std::vector<float> w(static_cast<size_t>(V));
  std::vector<int64_t> order(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) {
    w[size_t(i)] = std::isnan(l[i]) ? 0.0f : std::exp((l[i] - mx) * invT);
    order[size_t(i)] = i;
  }
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return w[size_t(a)] > w[size_t(b)] || (w[size_t(a)] == w[size_t(b)] && a < b);
  });
  size_t keep = size_t(V);
  if (topK > 0 && topK < V)
    keep = size_t(topK);
  if (topP < 1.0f) {
    double mass = 0;
    for (size_t k = 0; k < keep; ++k)
      mass += w[size_t(order[k])];
    const double target = double(std::max(topP, 0.0f)) * mass;
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += w[size_t(order[n])];
      ++n;
      if (cum >= target)
        break;
    }
    keep = n;
  }
  std::vector<char> kept(static_cast<size_t>(V), 0);
  double total = 0;
  for (size_t k = 0; k < keep; ++k) {
    kept[size_t(order[k])] = 1;
    total += w[size_t(order[k])];
  }
  const double r = double(ingot_sample_uniform(seed, counter)) * total;
  double cum = 0;
  int64_t last = -1;
  for (int64_t i = 0; i < V; ++i) {
    if (!kept[size_t(i)] || !(w[size_t(i)] > 0.0f))
      continue;
    cum += w[size_t(i)];
    last = i;
    if (cum > r)
      return int32_t(i);
  }
  return int32_t(last < 0 ? 0 : last);
}

} // namespace ingot::test
