// Token sampling from logits: greedy, or temperature / top-k / top-p with a
// seeded generator (reproducible for a given seed).
#pragma once
#include <cstdint>
#include <random>

namespace ingot {

struct SamplingParams {
  float temperature = 0.0f; // 0: greedy
  int topK = 0;             // 0: off
  float topP = 1.0f;        // 1: off
  uint64_t seed = 0;
};

class Sampler {
public:
  explicit Sampler(const SamplingParams &p) : p_(p), rng_(p.seed) {}
  int32_t sample(const float *logits, int64_t vocab);

private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

} // namespace ingot
