// Batch invariance: a request's results must not depend on what it is batched
// with or how its prompt is chunked. Checked bit for bit (tokens and raw
// logprobs of the chosen token and two alternatives, i.e. the logits):
//  - the GEMM kernel: every row of a batch equals that row computed alone,
//    across the serial and the column-split multithreaded paths;
//  - the engine on the tiny Llama plan: requests alone (fresh engine) vs
//    together under several token budgets and staggered arrivals, greedy
//    and seeded sampling, n > 1, one thread or two;
//  - the same on a compiled fixture plan when INGOT_BATCH_INVARIANCE_PLAN
//    names one (test/CMakeLists.txt compiles test/fixtures/{llama, qwen3,
//    mixtral, gpt2} with ingotc and runs BatchInvariance.FixturePlan).
#include "../src/cpu_kernels.h"
#include "ingot/runtime/engine.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "test_engine_util.h"

using namespace ingot;
using namespace enginetest;

namespace {

TEST(BatchInvariance, LinearRowsDoNotDependOnTheBatch) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  const int64_t shapes[][3] = {{37, 64, 176}, {19, 1000, 300}, {70, 33, 65}, {9, 512, 2048}};
  std::vector<std::vector<float>> byThreads[2];
  for (int threads : {1, 2}) {
    cpu::setNumThreads(threads);
    for (const auto &s : shapes) {
      const int64_t R = s[0], K = s[1], N = s[2];
      std::mt19937 g(uint32_t(7 + R)); // the same operands for both thread counts
      std::vector<float> x(static_cast<size_t>(R * K)), W(static_cast<size_t>(N * K)), all(static_cast<size_t>(R * N)), one(static_cast<size_t>(N));
      for (float &v : x)
        v = d(g);
      for (float &v : W)
        v = d(g);
      cpu::linear(x.data(), R, K, W.data(), N, nullptr, cpu::Activation::None, all.data());
      for (int64_t r = 0; r < R; ++r) {
        cpu::linear(x.data() + r * K, 1, K, W.data(), N, nullptr, cpu::Activation::None, one.data());
        ASSERT_EQ(std::memcmp(one.data(), all.data() + r * N, size_t(N) * 4), 0)
            << "row " << r << " of R=" << R << " K=" << K << " N=" << N << " threads=" << threads
            << " (" << cpu::gemmIsa() << ")";
      }
      // A sub-batch starting at another row gives the same rows too.
      if (R > 5) {
        std::vector<float> part(static_cast<size_t>((R - 3) * N));
        cpu::linear(x.data() + 3 * K, R - 3, K, W.data(), N, nullptr, cpu::Activation::None, part.data());
        ASSERT_EQ(std::memcmp(part.data(), all.data() + 3 * N, part.size() * 4), 0);
      }
      byThreads[threads - 1].push_back(all);
    }
  }
  cpu::setNumThreads(0);
  // The thread count (serial path vs column split) does not matter either.
  for (size_t i = 0; i < byThreads[0].size(); ++i)
    EXPECT_EQ(byThreads[0][i], byThreads[1][i]) << "shape " << i;
}

std::vector<GenerationRequest> mixedRequests(int vocab, int maxNew) {
  std::vector<GenerationRequest> reqs;
  const int lens[] = {5, 23, 9, 41, 3, 17};
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p(static_cast<size_t>(lens[i]));
    for (int k = 0; k < lens[i]; ++k)
      p[size_t(k)] = 1 + (i * 37 + k * 11 + k * k) % (vocab - 1);
    auto r = request("q" + std::to_string(i), p, maxNew, i >= 4 ? 0.9f : 0.0f);
    r.sampling.logprobs = 2;
    if (i >= 4)
      r.sampling.seed = 100 + i;
    if (i == 5)
      r.sampling.n = 2;
    reqs.push_back(r);
  }
  return reqs;
}

void expectSame(const Results &want, const Results &got, const std::string &what) {
  for (const auto &rq : want)
    for (const auto &ch : rq.second) {
      const ChoiceResult &w = ch.second;
      const ChoiceResult &g = got.at(rq.first).at(ch.first);
      EXPECT_EQ(g.tokens, w.tokens) << what << ": " << rq.first << " choice " << ch.first;
      // Bitwise: the logits were the same.
      EXPECT_EQ(std::memcmp(g.logprobs.data(), w.logprobs.data(),
                            std::min(g.logprobs.size(), w.logprobs.size()) * sizeof(float)),
                0)
          << what << ": " << rq.first << " logprobs";
      ASSERT_EQ(g.top.size(), w.top.size());
      for (size_t k = 0; k < w.top.size(); ++k)
        for (size_t j = 0; j < w.top[k].size(); ++j) {
          EXPECT_EQ(g.top[k][j].token, w.top[k][j].token);
          EXPECT_EQ(g.top[k][j].logprob, w.top[k][j].logprob) << what << ": " << rq.first;
        }
    }
}

void checkPlan(const PlanFile &plan, int vocab, int maxNew) {
  const auto reqs = mixedRequests(vocab, maxNew);
  EngineOptions alone = engineOptions();
  alone.enablePrefixCaching = false;
  const Results want = runAlone(plan, reqs, alone);
  struct Config {
    int64_t budget, seqs;
    std::vector<int> arrival;
    bool caching;
  };
  const Config configs[] = {{0, 0, {}, false},
                            {7, 8, {}, false},
                            {13, 3, {0, 1, 1, 3, 6, 6}, true},
                            {32, 8, {0, 2, 4, 6, 8, 10}, true},
                            {2, 2, {}, false}};
  for (const Config &c : configs) {
    EngineOptions o = engineOptions(c.budget, c.seqs);
    o.executor.numThreads = c.budget == 7 ? 2 : 1; // one thread vs two: same results
    o.enablePrefixCaching = c.caching;
    auto e = Engine::create(plan, o);
    const Results got = runRequests(*e, reqs, c.arrival);
    expectSame(want, got,
               "budget " + std::to_string(c.budget) + " seqs " + std::to_string(c.seqs) +
                   (c.caching ? " cached" : ""));
  }
}

TEST(BatchInvariance, TinyPlanAloneVersusBatched) {
  TinyPlan tp(32, 8, 128);
  checkPlan(*tp.plan, 50, 10);
}

TEST(BatchInvariance, FixturePlan) {
  const char *path = std::getenv("INGOT_BATCH_INVARIANCE_PLAN");
  if (!path || !*path)
    GTEST_SKIP() << "set INGOT_BATCH_INVARIANCE_PLAN to a compiled plan (ctest batch_invariance_*)";
  auto plan = PlanFile::open(path);
  ASSERT_TRUE(plan->program().model());
  const int vocab = int(std::min<int64_t>(plan->program().model()->vocab_size(), 100000));
  ASSERT_GT(vocab, 1);
  checkPlan(*plan, vocab, 12);
}

} // namespace
