// Tests for engine.cpp on a tiny two-layer Llama plan (test_engine_util.h):
// greedy output against the single-sequence generate() path, events and
// usage, stop strings (held back, cut, released), stop tokens and EOS,
// max_tokens, logprobs against logits from the executor, n > 1 choices
// against seeded single runs, abort, validation and queue limits,
// preemption under a small KV cache, and run()/stop() from another thread.
#include "ingot/runtime/engine.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/generate.h"
#include "ingot/runtime/sampling.h"
#include "ingot/runtime/tokenizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <set>
#include <thread>

#include "test_engine_util.h"

using namespace ingot;
using namespace enginetest;

namespace {

TEST(Engine, GreedyMatchesSingleSequenceGenerate) {
  TinyPlan tp;
  auto e = Engine::create(*tp.plan, engineOptions());
  const auto prompt = promptIds(9, 1);
  Results r = runRequests(*e, {request("a", prompt, 12)});
  const ChoiceResult &c = r["a"][0];
  ExecutorOptions eo;
  eo.numThreads = 1;
  auto ex = createCpuExecutor(*tp.plan, eo);
  GenerateOptions go;
  go.maxTokens = 12;
  go.prefillChunk = 4;
  EXPECT_EQ(c.tokens, generate(*ex, prompt, go).tokens);
  EXPECT_EQ(c.finishReason, "length");
  EXPECT_EQ(c.finals, 1);
  EXPECT_FALSE(c.eventsAfterFinal);
  EXPECT_EQ(c.promptTokens, 9);
  EXPECT_EQ(c.completionTokens, 12);
  EXPECT_EQ(c.text, e->tokenizer().decode(c.tokens, true));
  const EngineStats s = e->stats();
  EXPECT_EQ(s.generatedTokens, 12);
  EXPECT_EQ(s.promptTokensComputed, 9);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.kvBlocksUsed, 0);
  EXPECT_FALSE(e->step());
}

TEST(Engine, StopStringsAreCutAndHeldBack) {
  TinyPlan tp;
  const auto prompt = promptIds(7, 2);
  Results base = runAlone(*tp.plan, {request("a", prompt, 16)});
  const std::string full = base["a"][0].text;
  ASSERT_GE(full.size(), 10u);
  // A stop string from the middle of the text: output ends right before it.
  const std::string stop = full.substr(6, 3);
  const size_t at = full.find(stop);
  auto req = request("b", prompt, 16);
  req.sampling.stopStrings = {"never-there", stop};
  auto e = Engine::create(*tp.plan, engineOptions());
  std::vector<std::string> pieces;
  Results res;
  auto collect = collector(res);
  e->add(req, [&](const TokenEvent &ev) {
    pieces.push_back(ev.text);
    collect(ev);
  });
  while (e->step()) {
  }
  const ChoiceResult &c = res["b"][0];
  EXPECT_EQ(c.text, full.substr(0, at));
  EXPECT_EQ(c.finishReason, "stop");
  // Generation ended at the token completing the stop string.
  EXPECT_LT(c.tokens.size(), base["a"][0].tokens.size());
  // The stop string spans three single-character tokens: its first
  // characters were held back, not streamed (else c.text would hold them).
  std::string joined;
  for (const std::string &p : pieces)
    joined += p;
  EXPECT_EQ(joined, full.substr(0, at));
  // A stop string whose start ends the text but never completes: held back
  // until max_tokens, then released.
  auto req2 = request("c", prompt, 16);
  req2.sampling.stopStrings = {full.substr(full.size() - 1) + "\x01\x02"};
  Results r2 = runAlone(*tp.plan, {req2});
  EXPECT_EQ(r2["c"][0].text, full);
  EXPECT_EQ(r2["c"][0].finishReason, "length");
}

TEST(Engine, StopTokenIdsAndEos) {
  TinyPlan tp;
  const auto prompt = promptIds(7, 3);
  Results base = runAlone(*tp.plan, {request("a", prompt, 16)});
  const auto &toks = base["a"][0].tokens;
  const int32_t t = toks[3];
  const size_t first = size_t(std::find(toks.begin(), toks.end(), t) - toks.begin());
  auto req = request("b", prompt, 16);
  req.sampling.stopTokenIds = {t};
  Results r = runAlone(*tp.plan, {req});
  const ChoiceResult &c = r["b"][0];
  EXPECT_EQ(c.finishReason, "stop");
  ASSERT_EQ(c.tokens.size(), first + 1);
  EXPECT_EQ(c.tokens.back(), t);
  EXPECT_EQ(c.completionTokens, int64_t(first + 1));
  // The stop token's own text is not returned.
  std::vector<int32_t> before(toks.begin(), toks.begin() + long(first));
  auto e = Engine::create(*tp.plan, engineOptions());
  EXPECT_EQ(c.text, e->tokenizer().decode(before, true));
  // The same id as the plan's EOS: stops unless ignore_eos.
  TinyPlan eosPlan(32, 8, 128, {t});
  auto stopAtEos = request("c", prompt, 16);
  stopAtEos.sampling.ignoreEos = false;
  Results r2 = runAlone(*eosPlan.plan, {stopAtEos});
  EXPECT_EQ(r2["c"][0].tokens.size(), first + 1);
  EXPECT_EQ(r2["c"][0].finishReason, "stop");
  Results r3 = runAlone(*eosPlan.plan, {request("d", prompt, 16)});
  EXPECT_EQ(r3["d"][0].tokens, toks);
}

TEST(Engine, LogprobsAreRawLogSoftmax) {
  TinyPlan tp;
  const auto prompt = promptIds(6, 4);
  auto req = request("a", prompt, 3, 0.7f);
  req.sampling.logprobs = 4;
  req.sampling.seed = 11;
  req.sampling.presencePenalty = 1.0f; // does not change reported logprobs
  Results r = runAlone(*tp.plan, {req});
  const ChoiceResult &c = r["a"][0];
  ASSERT_EQ(c.tokens.size(), 3u);
  // Logits of every position from the executor directly.
  ExecutorOptions eo;
  eo.numThreads = 1;
  auto ex = createCpuExecutor(*tp.plan, eo);
  std::vector<int32_t> ids = prompt;
  ids.insert(ids.end(), c.tokens.begin(), c.tokens.end() - 1);
  int64_t rows = 0;
  const auto logits = computeLogits(*ex, ids, "stepwise", rows);
  const int64_t V = ex->vocabSize();
  for (size_t k = 0; k < 3; ++k) {
    const float *l = logits.data() + (int64_t(prompt.size()) - 1 + int64_t(k)) * V;
    double z = 0;
    for (int64_t v = 0; v < V; ++v)
      z += std::exp(double(l[v]));
    auto lp = [&](int32_t v) { return double(l[v]) - std::log(z); };
    EXPECT_NEAR(c.logprobs[k], lp(c.tokens[k]), 1e-4) << "token " << k;
    ASSERT_EQ(c.top[k].size(), 4u);
    for (size_t j = 0; j < 4; ++j) {
      EXPECT_NEAR(c.top[k][j].logprob, lp(c.top[k][j].token), 1e-4);
      if (j)
        EXPECT_GE(c.top[k][j - 1].logprob, c.top[k][j].logprob);
    }
    // The best alternative is the argmax of the logits.
    EXPECT_EQ(c.top[k][0].token, int32_t(std::max_element(l, l + V) - l));
  }
}

TEST(Engine, ChoicesShareThePromptAndMatchSeededSingleRuns) {
  TinyPlan tp;
  const auto prompt = promptIds(10, 5); // 10 tokens: the last block is shared, then copied
  auto req = request("a", prompt, 8, 1.0f);
  req.sampling.n = 3;
  req.sampling.seed = 42;
  Results r = runAlone(*tp.plan, {req});
  ASSERT_EQ(r["a"].size(), 3u);
  std::set<std::vector<int32_t>> distinct;
  for (int c = 0; c < 3; ++c) {
    auto one = request("s", prompt, 8, 1.0f);
    one.sampling.seed = choiceSeed(42, c);
    Results s = runAlone(*tp.plan, {one});
    EXPECT_EQ(r["a"][c].tokens, s["s"][0].tokens) << "choice " << c;
    EXPECT_EQ(r["a"][c].finals, 1);
    EXPECT_EQ(r["a"][c].promptTokens, 10);
    distinct.insert(r["a"][c].tokens);
  }
  EXPECT_EQ(distinct.size(), 3u);
  // The prompt was computed once for the three choices.
  auto e = Engine::create(*tp.plan, engineOptions());
  runRequests(*e, {req});
  EXPECT_EQ(e->stats().promptTokensComputed, 10);
  EXPECT_EQ(e->stats().generatedTokens, 24);
}

TEST(Engine, AbortFreesBlocksAndReportsEveryChoice) {
  TinyPlan tp;
  auto e = Engine::create(*tp.plan, engineOptions());
  Results res;
  auto req = request("a", promptIds(12, 6), 50);
  req.sampling.n = 2;
  e->add(req, collector(res));
  e->add(request("b", promptIds(5, 7), 3), collector(res));
  ASSERT_TRUE(e->step());
  ASSERT_TRUE(e->step());
  EXPECT_GT(e->stats().kvBlocksUsed, 0);
  e->abort("a");
  e->abort("nobody"); // ignored
  while (e->step()) {
  }
  EXPECT_EQ(res["a"].size(), 2u);
  for (auto &kv : res["a"]) {
    EXPECT_EQ(kv.second.finishReason, "abort");
    EXPECT_EQ(kv.second.finals, 1);
  }
  EXPECT_EQ(res["b"][0].finishReason, "length");
  EXPECT_EQ(e->stats().kvBlocksUsed, 0);
  EXPECT_FALSE(e->hasWork());
  // Aborted before it ever ran: still one final event per choice.
  Results r2;
  auto q = request("c", promptIds(5, 8), 5);
  q.sampling.n = 3;
  e->add(q, collector(r2));
  e->abort("c");
  e->step();
  EXPECT_EQ(r2["c"].size(), 3u);
  EXPECT_EQ(r2["c"][2].finishReason, "abort");
  EXPECT_EQ(r2["c"][2].completionTokens, 0);
}

TEST(Engine, RefusesInvalidRequests) {
  TinyPlan tp(32, 8, 64);
  EngineOptions o = engineOptions();
  o.maxQueued = 2;
  auto e = Engine::create(*tp.plan, o);
  EXPECT_EQ(e->maxModelLen(), 64);
  auto expectError = [&](GenerationRequest r, const std::string &needle) {
    try {
      e->add(r, {});
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const Error &err) {
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
  };
  auto ok = request("x", promptIds(4, 1), 4);
  auto r = ok;
  r.promptIds.clear();
  expectError(r, "no tokens");
  r = ok;
  r.promptIds = {1, 50};
  expectError(r, "outside the vocabulary");
  r = ok;
  r.sampling.maxTokens = 61;
  expectError(r, "model length of 64");
  r = ok;
  r.sampling.maxTokens = 0;
  expectError(r, "max_tokens");
  r = ok;
  r.sampling.temperature = -1;
  expectError(r, "temperature");
  r = ok;
  r.sampling.topP = 0;
  expectError(r, "top_p");
  r = ok;
  r.sampling.minP = 2;
  expectError(r, "min_p");
  r = ok;
  r.sampling.repetitionPenalty = 0;
  expectError(r, "repetition_penalty");
  r = ok;
  r.sampling.frequencyPenalty = 3;
  expectError(r, "frequency_penalty");
  r = ok;
  r.sampling.logprobs = 21;
  expectError(r, "logprobs");
  r = ok;
  r.sampling.n = 9;
  expectError(r, "n must be");
  r = ok;
  r.sampling.stopStrings = {""};
  expectError(r, "stop strings");
  r = ok;
  r.id = "";
  expectError(r, "id");
  // Duplicate live ids, then the queue limit.
  e->add(ok, {});
  expectError(ok, "already in use");
  auto ok2 = ok;
  ok2.id = "y";
  e->add(ok2, {});
  auto ok3 = ok;
  ok3.id = "z";
  EXPECT_THROW(e->add(ok3, {}), QueueFull);
  while (e->step()) {
  }
  e->add(ok3, {}); // room again, and "x" may be reused once finished
  e->add(ok, {});
  e->stop(true);
  ok.id = "late";
  EXPECT_THROW(e->add(ok, {}), EngineStopping);
}

TEST(Engine, PreemptionUnderSmallCacheKeepsOutputs) {
  TinyPlan tp;
  // 256 bytes of K/V per token (2 layers x K,V x 2 heads x 8 x fp32):
  // 12 blocks of 4 tokens = 48 tokens for four requests of up to 30.
  EngineOptions o = engineOptions(16, 4);
  o.executor.kvCacheBytes = 12 * 4 * 256;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 4; ++i)
    reqs.push_back(request("r" + std::to_string(i), promptIds(10, 20 + i), 20));
  auto e = Engine::create(*tp.plan, o);
  EXPECT_EQ(e->stats().kvBlocksTotal, 12);
  Results got = runRequests(*e, reqs);
  EXPECT_GT(e->stats().preemptions, 0);
  Results want = runAlone(*tp.plan, reqs, o);
  for (const auto &r : reqs) {
    EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens) << r.id;
    EXPECT_EQ(got[r.id][0].text, want[r.id][0].text) << r.id;
  }
}

TEST(Engine, RunStopAndDrainFromAnotherThread) {
  TinyPlan tp;
  auto e = Engine::create(*tp.plan, engineOptions());
  std::mutex mu;
  Results res;
  auto collect = collector(res);
  auto safe = [&](const TokenEvent &ev) {
    std::lock_guard<std::mutex> lk(mu);
    collect(ev);
  };
  std::thread loop([&] { e->run(); });
  for (int i = 0; i < 5; ++i)
    e->add(request("d" + std::to_string(i), promptIds(6, i), 6), safe);
  e->stop(true); // drain: every request finishes, then run() returns
  loop.join();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(res["d" + std::to_string(i)][0].finishReason, "length");
  EXPECT_THROW(e->add(request("late", {1}, 1), {}), EngineStopping);

  // Without drain, run() returns soon and what is left is aborted.
  auto f = Engine::create(*tp.plan, engineOptions());
  Results r2;
  auto collect2 = collector(r2);
  f->add(request("long", promptIds(6, 1), 120), [&](const TokenEvent &ev) {
    std::lock_guard<std::mutex> lk(mu);
    collect2(ev);
  });
  std::thread loop2([&] { f->run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  f->stop(false);
  loop2.join();
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(r2["long"][0].finals, 1);
  EXPECT_TRUE(r2["long"][0].finishReason == "abort" || r2["long"][0].finishReason == "length");
  EXPECT_FALSE(f->hasWork());
}

} // namespace
