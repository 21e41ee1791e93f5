// Helpers for the serving-engine tests (test_engine.cpp, test_prefix_cache.cpp,
// test_batch_invariance.cpp): a tiny Llama plan with the committed GPT-2 test
// tokenizer (ids 1..49 decode to single printable characters, 0 is the
// special <|endoftext|>), and a driver that steps an engine until every
// request has finished, collecting each choice's events.
#pragma once
#include "ingot/runtime/engine.h"
#include "ingot/runtime/plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cpu_test_plans.h"

namespace enginetest {

using namespace ingot;
using namespace cputest;

inline std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct TinyPlan {
  TmpDir dir;
  Llama model{false};
  std::unique_ptr<PlanFile> plan;
  explicit TinyPlan(int64_t maxTokens = 32, int64_t maxSeqs = 8, int64_t maxPosition = 128,
                    std::vector<int32_t> eos = {0}) {
    PlanBuilder b;
    b.maxTokens = maxTokens;
    b.maxSeqs = maxSeqs;
    b.maxPosition = maxPosition;
    b.eos = std::move(eos);
    b.tokenizerJson = readFile(std::string(INGOT_SOURCE_DIR) + "/runtime/tests/data/tokenizers/gpt2/tokenizer.json");
    buildLlama(b, model, fb::DType::F32);
    plan = PlanFile::open(b.write(dir.path / "tiny.plan"));
  }
};

struct ChoiceResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TopLogprob>> top;
  std::string text;
  std::string finishReason, error;
  int finals = 0;
  int64_t promptTokens = 0, completionTokens = 0, cachedPromptTokens = 0;
  bool eventsAfterFinal = false;
};

// Results by request id and choice.
using Results = std::map<std::string, std::map<int, ChoiceResult>>;

inline EventCallback collector(Results &res) {
  return [&res](const TokenEvent &ev) {
    ChoiceResult &c = res[ev.requestId][ev.choice];
    if (c.finals)
      c.eventsAfterFinal = true;
    if (ev.token >= 0) {
      c.tokens.push_back(ev.token);
      c.logprobs.push_back(ev.logprob);
      c.top.push_back(ev.top);
    }
    c.text += ev.text;
    if (ev.finished) {
      ++c.finals;
      c.finishReason = ev.finishReason;
      c.error = ev.error;
      c.promptTokens = ev.promptTokens;
      c.completionTokens = ev.completionTokens;
      c.cachedPromptTokens = ev.cachedPromptTokens;
    }
  };
}

inline EngineOptions engineOptions(int64_t maxBatchedTokens = 0, int64_t maxRunningSeqs = 0) {
  EngineOptions o;
  o.executor.numThreads = 1;
  // One thread: the tiny plans gain nothing from two, and a busy machine
  // makes OpenMP barriers slow. test_batch_invariance also runs two.
  o.maxBatchedTokens = maxBatchedTokens;
  o.maxRunningSeqs = maxRunningSeqs;
  return o;
}

// Adds requests[i] before step arrival[i] (all at once when empty) and steps
// until the engine is idle.
inline Results runRequests(Engine &e, const std::vector<GenerationRequest> &requests,
                           const std::vector<int> &arrival = {}) {
  Results res;
  size_t added = 0;
  for (int step = 0; step < 100000; ++step) {
    while (added < requests.size() && (arrival.empty() || arrival[added] <= step))
      e.add(requests[added++], collector(res));
    const bool did = e.step();
    if (!did && added == requests.size() && !e.hasWork())
      break;
  }
  EXPECT_FALSE(e.hasWork());
  return res;
}

// Each request alone on a fresh engine (empty cache).
inline Results runAlone(const PlanFile &plan, const std::vector<GenerationRequest> &requests,
                        EngineOptions opts = engineOptions()) {
  Results all;
  for (const GenerationRequest &r : requests) {
    auto e = Engine::create(plan, opts);
    Results one = runRequests(*e, {r});
    all[r.id] = one[r.id];
  }
  return all;
}

inline GenerationRequest request(const std::string &id, std::vector<int32_t> prompt, int64_t maxTokens,
                                 float temperature = 0.0f) {
  GenerationRequest r;
  r.id = id;
  r.promptIds = std::move(prompt);
  r.sampling.maxTokens = maxTokens;
  r.sampling.temperature = temperature;
  r.sampling.ignoreEos = true;
  return r;
}

inline std::vector<int32_t> promptIds(int n, int seed, int vocab = 50) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    p[size_t(i)] = 1 + (seed * 17 + i * 7 + i * i) % (vocab - 1);
  return p;
}

} // namespace enginetest
