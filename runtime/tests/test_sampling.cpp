// Tests for sampling.cpp: penalties (which tokens, which sign, prompt vs
// generated), min-p and its order with top-k/top-p against probabilities
// worked out here from the definitions, raw logprobs against a direct
// double-precision log-softmax, and per-sequence seeds.
#include "ingot/runtime/sampler.h"
#include "ingot/runtime/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

using namespace ingot;

namespace {

RequestSampling greedy() {
  RequestSampling p;
  p.temperature = 0.0f;
  return p;
}

TEST(Sampling, RepetitionPenaltyOverPromptAndGenerated) {
  RequestSampling p = greedy();
  p.repetitionPenalty = 1.5f;
  // Token 0 is in the prompt: 2.0 / 1.5 = 1.33 < 1.9, so token 1 wins.
  std::vector<float> l = {2.0f, 1.9f, 0.0f};
  SequenceSampler s(p, 0, {0});
  EXPECT_EQ(s.sample(l.data(), 3).token, 1);
  // Now 1 was generated too: 1.9 / 1.5 = 1.27 < 1.33 -> 0.
  EXPECT_EQ(s.sample(l.data(), 3).token, 0);
  // Negative logits are multiplied: -1 * 1.5 = -1.5 < -1.2.
  std::vector<float> n = {-1.0f, -1.2f};
  SequenceSampler t(p, 0, {0});
  EXPECT_EQ(t.sample(n.data(), 2).token, 1);
  // Without the penalty the prompt does not matter.
  SequenceSampler u(greedy(), 0, {0});
  EXPECT_EQ(u.sample(l.data(), 3).token, 0);
}

TEST(Sampling, FrequencyAndPresenceOverGeneratedOnly) {
  std::vector<float> l = {2.0f, 1.5f, 0.0f};
  RequestSampling p = greedy();
  p.frequencyPenalty = 0.3f;
  // The prompt holds token 0 twice: frequency ignores it.
  SequenceSampler s(p, 0, {0, 0});
  EXPECT_EQ(s.sample(l.data(), 3).token, 0); // 2.0
  EXPECT_EQ(s.sample(l.data(), 3).token, 0); // 2.0 - 0.3 = 1.7 > 1.5
  EXPECT_EQ(s.sample(l.data(), 3).token, 1); // 2.0 - 0.6 = 1.4 < 1.5
  RequestSampling q = greedy();
  q.presencePenalty = 0.6f;
  SequenceSampler t(q, 0, {});
  EXPECT_EQ(t.sample(l.data(), 3).token, 0);
  EXPECT_EQ(t.sample(l.data(), 3).token, 1); // 1.4 < 1.5
  EXPECT_EQ(t.sample(l.data(), 3).token, 0); // 1.4 vs 0.9: presence does not grow
  // Negative penalties encourage repetition.
  RequestSampling r = greedy();
  r.presencePenalty = -1.0f;
  std::vector<float> m = {1.0f, 1.5f};
  SequenceSampler v(r, 0, {});
  EXPECT_EQ(v.sample(m.data(), 2).token, 1);
  EXPECT_EQ(v.sample(m.data(), 2).token, 1);
}

std::vector<double> frequencies(const RequestSampling &p, const std::vector<float> &logits, int draws) {
  SequenceSampler s(p, 1234, {});
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i)
    f[size_t(s.sample(logits.data(), int64_t(logits.size())).token)] += 1.0 / draws;
  return f;
}

void expectNear(const std::vector<double> &got, const std::vector<double> &want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (want[i] == 0.0)
      EXPECT_EQ(got[i], 0.0) << "token " << i << " must never be drawn";
    else
      EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
  }
}

const std::vector<float> kLogits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};

TEST(Sampling, MinPKeepsTokensNearTheTop) {
  RequestSampling p;
  p.minP = 0.35f; // keep p >= 0.175: {0.5, 0.3}
  expectNear(frequencies(p, kLogits, 40000), {0.625, 0.375, 0.0, 0.0}, 0.01);
  p.minP = 0.0f;
  expectNear(frequencies(p, kLogits, 40000), {0.5, 0.3, 0.15, 0.05}, 0.01);
  // Min-p applies before top-p: keep >= 0.1 -> {0.5, 0.3, 0.15} (mass
  // 0.95); top-p 0.8 of that is reached by {0.5, 0.3} (0.842).
  p.minP = 0.2f;
  p.topP = 0.8f;
  expectNear(frequencies(p, kLogits, 40000), {0.625, 0.375, 0.0, 0.0}, 0.01);
  // At temperature 2 the probabilities flatten to sqrt(p) normalised:
  // 0.3204, 0.2482, 0.1755, 0.0987 (sum 0.8428) -> min-p 0.5 keeps
  // p >= 0.5 * p_max: tokens 0, 1, 2.
  RequestSampling t;
  t.temperature = 2.0f;
  t.minP = 0.5f;
  const double a = std::sqrt(0.5), b = std::sqrt(0.3), c = std::sqrt(0.15);
  expectNear(frequencies(t, kLogits, 40000), {a / (a + b + c), b / (a + b + c), c / (a + b + c), 0.0}, 0.01);
}

TEST(Sampling, SharedCoreMatchesSampler) {
  // ingot::Sampler and the request sampler draw the same sequence for the
  // same seed and parameters (min-p and penalties off).
  SamplingParams sp{0.8f, 3, 0.9f, 99};
  Sampler a(sp);
  RequestSampling rp;
  rp.temperature = 0.8f;
  rp.topK = 3;
  rp.topP = 0.9f;
  SequenceSampler b(rp, 99, {});
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(a.sample(kLogits.data(), 4), b.sample(kLogits.data(), 4).token) << "draw " << i;
}

TEST(Sampling, SeedsArePerSequence) {
  RequestSampling p;
  auto draw = [&](uint64_t seed) {
    SequenceSampler s(p, seed, {});
    std::vector<int32_t> t;
    for (int i = 0; i < 64; ++i)
      t.push_back(s.sample(kLogits.data(), 4).token);
    return t;
  };
  EXPECT_EQ(draw(5), draw(5));
  EXPECT_NE(draw(5), draw(6));
  EXPECT_EQ(choiceSeed(5, 0), 5u);
  std::set<uint64_t> seeds;
  for (int c = 0; c < 8; ++c)
    seeds.insert(choiceSeed(5, c));
  EXPECT_EQ(seeds.size(), 8u);
  EXPECT_NE(draw(choiceSeed(5, 1)), draw(choiceSeed(5, 2)));
}

TEST(Sampling, RawLogprobsAndTopAlternatives) {
  const std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  double z = 0.0;
  for (float x : l)
    z += std::exp(double(x));
  auto lp = [&](int i) { return std::log(std::exp(double(l[size_t(i)])) / z); };
  std::vector<TopLogprob> top;
  EXPECT_NEAR(rawLogprobs(l.data(), 5, 4, 3, top), lp(4), 1e-6);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1); // tie with 3: lower id first
  EXPECT_EQ(top[1].token, 3);
  EXPECT_EQ(top[2].token, 4);
  for (const auto &t : top)
    EXPECT_NEAR(t.logprob, lp(t.token), 1e-6);
  rawLogprobs(l.data(), 5, 0, 0, top);
  EXPECT_TRUE(top.empty());
  rawLogprobs(l.data(), 5, 0, 10, top); // more than the vocabulary
  EXPECT_EQ(top.size(), 5u);
  // NaN never ranks and has -inf logprob.
  const std::vector<float> n = {std::nanf(""), 0.0f};
  EXPECT_EQ(rawLogprobs(n.data(), 2, 0, 2, top), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(top[0].token, 1);
  EXPECT_NEAR(top[0].logprob, 0.0, 1e-7);

  // The sampler reports the raw logprob whatever the temperature and
  // penalties did to the choice.
  RequestSampling p;
  p.temperature = 0.0f;
  p.presencePenalty = 2.0f;
  p.logprobs = 2;
  SequenceSampler s(p, 0, {});
  const SampledToken a = s.sample(l.data(), 5);
  EXPECT_EQ(a.token, 1);
  EXPECT_NEAR(a.logprob, lp(1), 1e-6);
  const SampledToken b = s.sample(l.data(), 5); // 1 penalised -> 3
  EXPECT_EQ(b.token, 3);
  EXPECT_NEAR(b.logprob, lp(3), 1e-6);
  ASSERT_EQ(b.top.size(), 2u);
  EXPECT_EQ(b.top[0].token, 1);
}

} // namespace
