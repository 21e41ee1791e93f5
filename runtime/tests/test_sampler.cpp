// Tests for sampler.cpp: greedy tie-breaking, determinism per seed, and the
// empirical distribution of draws against probabilities computed here from
// the definition (softmax, top-k, top-p, renormalisation) with closed forms.
#include "ingot/runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace ingot;

namespace {

std::vector<double> frequencies(const SamplingParams &p,
                                const std::vector<float> &logits, int draws) {
  Sampler s(p);
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    int32_t t = s.sample(logits.data(), int64_t(logits.size()));
    EXPECT_GE(t, 0);
    EXPECT_LT(t, int32_t(logits.size()));
    f[size_t(t)] += 1.0 / draws;
  }
  return f;
}

void expectNear(const std::vector<double> &got, const std::vector<double> &want,
                double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (want[i] == 0.0)
      EXPECT_EQ(got[i], 0.0) << "token " << i << " must never be drawn";
    else
      EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
  }
}

// logits = log(p) so softmax at temperature 1 gives back p.
const std::vector<float> kLogits = {std::log(0.5f), std::log(0.3f),
                                    std::log(0.15f), std::log(0.05f)};

TEST(Sampler, GreedyLowestIndexOnTies) {
  Sampler s({});
  std::vector<float> l = {1.0f, 3.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
  std::vector<float> n = {std::nanf(""), -1.0f, std::nanf(""), 0.5f};
  EXPECT_EQ(s.sample(n.data(), 4), 3);
  std::vector<float> neg = {-5.0f, -std::numeric_limits<float>::infinity(),
                            -4.0f};
  EXPECT_EQ(s.sample(neg.data(), 3), 2);
  // Greedy ignores top-k/top-p and the seed.
  Sampler g({0.0f, 3, 0.5f, 1234});
  EXPECT_EQ(g.sample(l.data(), 4), 1);
  // top-k 1 at any temperature is greedy too.
  Sampler k1({5.0f, 1, 1.0f, 7});
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(k1.sample(l.data(), 4), 1);
}

TEST(Sampler, DeterministicPerSeed) {
  std::vector<float> l(50);
  for (size_t i = 0; i < l.size(); ++i)
    l[i] = float(std::sin(double(i)));
  SamplingParams p{1.0f, 0, 1.0f, 42};
  Sampler a(p), b(p);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(l.data(), 50));
    sb.push_back(b.sample(l.data(), 50));
  }
  EXPECT_EQ(sa, sb);
  p.seed = 43;
  Sampler c(p);
  for (int i = 0; i < 200; ++i)
    sc.push_back(c.sample(l.data(), 50));
  EXPECT_NE(sa, sc);
}

TEST(Sampler, TemperatureDistribution) {
  const int N = 40000;
  expectNear(frequencies({1.0f, 0, 1.0f, 1}, kLogits, N),
             {0.5, 0.3, 0.15, 0.05}, 0.012);
  // T = 2: p_i^(1/2) / sum.
  std::vector<double> w = {std::sqrt(0.5), std::sqrt(0.3), std::sqrt(0.15),
                           std::sqrt(0.05)};
  double s = w[0] + w[1] + w[2] + w[3];
  for (double &x : w)
    x /= s;
  expectNear(frequencies({2.0f, 0, 1.0f, 2}, kLogits, N), w, 0.012);
}

TEST(Sampler, TopKAndTopP) {
  const int N = 40000;
  // top-k 2: {0.5, 0.3} renormalised.
  expectNear(frequencies({1.0f, 2, 1.0f, 3}, kLogits, N), {0.625, 0.375, 0, 0},
             0.012);
  // top-p 0.7: 0.5 < 0.7 <= 0.8, so {0, 1}.
  expectNear(frequencies({1.0f, 0, 0.7f, 4}, kLogits, N), {0.625, 0.375, 0, 0},
             0.012);
  // top-p 0.9: 0.8 < 0.9 <= 0.95, so {0, 1, 2}.
  expectNear(frequencies({1.0f, 0, 0.9f, 5}, kLogits, N),
             {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, 0.012);
  // top-k 3 then top-p 0.8 over the renormalised {0.526, 0.316, 0.158}:
  // 0.526 < 0.8 <= 0.842, so {0, 1}.
  expectNear(frequencies({1.0f, 3, 0.8f, 6}, kLogits, N), {0.625, 0.375, 0, 0},
             0.012);
  // top-p tiny: only the most probable token.
  expectNear(frequencies({1.0f, 0, 0.01f, 7}, kLogits, 2000), {1, 0, 0, 0},
             1e-9);
}

TEST(Sampler, NucleusLargerThanFirstChunk) {
  // 5000 equal logits, top-p 0.5: the nucleus is the first ~2500 ids (ties
  // are ordered by index), more than the sampler's first sorted chunk.
  std::vector<float> l(5000, 0.0f);
  Sampler s({1.0f, 0, 0.5f, 9});
  int32_t mx = 0;
  for (int i = 0; i < 1000; ++i) {
    int32_t t = s.sample(l.data(), 5000);
    ASSERT_LE(t, 2501);
    mx = std::max(mx, t);
  }
  EXPECT_GT(mx, 2200);
}

TEST(Sampler, MaskedLogits) {
  // -inf logits are never drawn.
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> l = {ninf, 0.0f, ninf, 0.0f};
  expectNear(frequencies({0.8f, 0, 1.0f, 11}, l, 4000), {0, 0.5, 0, 0.5}, 0.03);
}

} // namespace
