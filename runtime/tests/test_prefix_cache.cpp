// Prefix caching through the engine: a long shared prefix is computed once
// (counted by EngineStats.promptTokensComputed / promptTokensCached), and
// every output equals the same request run alone on a fresh engine (empty
// cache), so reused K/V blocks are the right ones. Also: a cache that
// must evict, caching disabled, and recompute after preemption reusing the
// cache.
#include "ingot/runtime/engine.h"

#include <gtest/gtest.h>

#include "test_engine_util.h"

using namespace ingot;
using namespace enginetest;

namespace {

std::vector<int32_t> withSuffix(std::vector<int32_t> p, std::vector<int32_t> s) {
  p.insert(p.end(), s.begin(), s.end());
  return p;
}

TEST(PrefixCache, SharedPrefixComputedOnceSameOutputs) {
  TinyPlan tp(32, 8, 128);
  const auto shared = promptIds(60, 3); // 15 blocks of 4
  std::vector<GenerationRequest> reqs = {request("a", withSuffix(shared, {5, 6, 7}), 8),
                                         request("b", withSuffix(shared, {9}), 8, 0.8f)};
  reqs[1].sampling.seed = 3;
  auto e = Engine::create(*tp.plan, engineOptions());
  // b arrives once a's prompt is in the cache (a is decoding by then).
  Results got = runRequests(*e, reqs, {0, 4});
  const EngineStats s = e->stats();
  EXPECT_EQ(s.promptTokensComputed, 63 + 1);
  EXPECT_EQ(s.promptTokensCached, 60);
  EXPECT_EQ(got["b"][0].cachedPromptTokens, 60);
  EXPECT_EQ(got["a"][0].cachedPromptTokens, 0);
  Results want = runAlone(*tp.plan, reqs);
  for (const auto &r : reqs) {
    EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens) << r.id;
    EXPECT_EQ(got[r.id][0].logprobs, want[r.id][0].logprobs) << r.id;
  }
  // The whole prompt cached: only its last token runs, same output.
  Results again = runRequests(*e, {reqs[0]});
  EXPECT_EQ(again["a"][0].tokens, want["a"][0].tokens);
  EXPECT_EQ(e->stats().promptTokensComputed, 64 + 3); // 15 blocks hit, the last 3 tokens run
  EXPECT_EQ(again["a"][0].cachedPromptTokens, 60);
}

TEST(PrefixCache, DisabledComputesEverything) {
  TinyPlan tp(32, 8, 128);
  const auto shared = promptIds(40, 4);
  std::vector<GenerationRequest> reqs = {request("a", withSuffix(shared, {1}), 4),
                                         request("b", withSuffix(shared, {2}), 4)};
  EngineOptions o = engineOptions();
  o.enablePrefixCaching = false;
  auto e = Engine::create(*tp.plan, o);
  Results got = runRequests(*e, reqs, {0, 3});
  EXPECT_EQ(e->stats().promptTokensComputed, 82);
  EXPECT_EQ(e->stats().promptTokensCached, 0);
  EXPECT_EQ(e->stats().kvBlocksCached, 0);
  Results want = runAlone(*tp.plan, reqs);
  for (const auto &r : reqs)
    EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens);
}

TEST(PrefixCache, EvictionUnderPressureStaysCorrect) {
  TinyPlan tp(32, 8, 128);
  // 24 blocks of 4; each request (33 prompt tokens + 7 computed generated
  // ones) fills 10. Requests run one after another: prompt 0 returns every
  // other request, the others are new each time, so the cache must evict.
  // Least-recently-used eviction keeps prompt 0's 8 prefix blocks.
  EngineOptions o = engineOptions(32, 2);
  o.executor.kvCacheBytes = 24 * 4 * 256;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 8; ++i)
    reqs.push_back(request("r" + std::to_string(i), withSuffix(promptIds(32, i % 2 ? 10 + i : 0), {1 + i}), 8));
  auto e = Engine::create(*tp.plan, o);
  Results got;
  for (const auto &r : reqs) {
    Results one = runRequests(*e, {r});
    got[r.id] = one[r.id];
  }
  EXPECT_EQ(e->stats().promptTokensCached, 3 * 32); // r2, r4, r6
  EXPECT_EQ(e->stats().kvBlocksCached, 24);
  Results want = runAlone(*tp.plan, reqs, o);
  for (const auto &r : reqs)
    EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens) << r.id;
}

TEST(PrefixCache, RecomputeAfterPreemptionReusesCache) {
  TinyPlan tp(32, 8, 128);
  EngineOptions o = engineOptions(16, 4);
  o.executor.kvCacheBytes = 14 * 4 * 256;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 4; ++i)
    reqs.push_back(request("p" + std::to_string(i), promptIds(12, 30 + i), 18));
  auto e = Engine::create(*tp.plan, o);
  Results got = runRequests(*e, reqs);
  ASSERT_GT(e->stats().preemptions, 0);
  EXPECT_GT(e->stats().promptTokensCached, 0); // recomputes hit their own blocks
  Results want = runAlone(*tp.plan, reqs, o);
  for (const auto &r : reqs)
    EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens) << r.id;
}

} // namespace
