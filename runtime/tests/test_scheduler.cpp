// Tests for scheduler.cpp with a fake executor (no model). The fake keeps a
// "KV cache" of (token, position) per slot: each step writes the new tokens
// at their slots (after applying the step's block copies), then reads every
// scheduled sequence's whole context back through its block table and
// checks it against the sequence's own tokens, so wrong block tables,
// missed copy-on-write, bad prefix-cache hits or a lost recompute after
// preemption all fail. The fake model's next token is a hash of the
// context, so the expected output of a prompt is computed here without any
// scheduling at all.
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

using namespace ingot;

namespace {

int32_t nextToken(const std::vector<int32_t> &ctx) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : ctx)
    h = (h ^ uint64_t(uint32_t(t))) * 1099511628211ull;
  return int32_t(h % 1000);
}

// Output of `prompt` generating `n` tokens, computed directly.
std::vector<int32_t> reference(std::vector<int32_t> prompt, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(nextToken(prompt));
    prompt.push_back(out.back());
  }
  return out;
}

struct FakeCache {
  int bs;
  std::vector<int32_t> tok, pos;
  FakeCache(int bs, int64_t blocks) : bs(bs), tok(size_t(bs * blocks), -1), pos(size_t(bs * blocks), -1) {}
  void copy(const BlockCopy &c) {
    std::copy_n(tok.begin() + c.src * bs, bs, tok.begin() + c.dst * bs);
    std::copy_n(pos.begin() + c.src * bs, bs, pos.begin() + c.dst * bs);
  }
};

// Drives a scheduler the way the engine does; records per-step facts.
struct Driver {
  BlockManager bm;
  Scheduler sched;
  FakeCache cache;
  std::map<int64_t, int> maxTokens;             // per live sequence
  std::map<int64_t, std::vector<int32_t>> out;  // generated, per sequence
  std::map<int64_t, int> finishedAtStep;
  std::map<int64_t, int> firstScheduledStep;
  std::vector<int64_t> preempted;
  int steps = 0;
  int64_t maxStepTokens = 0, maxStepSeqs = 0, computedTokens = 0, cachedTokens = 0;
  std::vector<int32_t> tokens, positions;
  BatchMeta batch;
  SchedulerOutput so;

  Driver(int bs, int64_t blocks, SchedulerConfig cfg, bool caching = false)
      : bm(bs, blocks, caching), sched(cfg, bm), cache(bs, blocks) {}

  void add(int64_t id, std::vector<int32_t> prompt, int maxTok, int priority = 0) {
    maxTokens[id] = maxTok;
    sched.add(id, std::move(prompt), priority);
  }

  // One step; returns false when nothing was scheduled.
  bool step() {
    sched.schedule(so);
    preempted.insert(preempted.end(), so.preempted.begin(), so.preempted.end());
    if (so.seqs.empty())
      return false;
    ++steps;
    EXPECT_LE(so.numTokens, sched.config().maxBatchedTokens);
    EXPECT_LE(int64_t(so.seqs.size()), sched.config().maxRunningSeqs);
    maxStepTokens = std::max(maxStepTokens, so.numTokens);
    maxStepSeqs = std::max(maxStepSeqs, int64_t(so.seqs.size()));
    for (const BlockCopy &c : so.copies)
      cache.copy(c);
    sched.prepareBatch(so, tokens, positions, batch);
    EXPECT_EQ(batch.numTokens(), so.numTokens);
    // "Attention": write, then read each context through the block table.
    for (size_t t = 0; t < tokens.size(); ++t) {
      cache.tok[size_t(batch.slotMapping[t])] = tokens[t];
      cache.pos[size_t(batch.slotMapping[t])] = positions[t];
    }
    std::vector<std::vector<int32_t>> ctx(so.seqs.size());
    for (size_t i = 0; i < so.seqs.size(); ++i) {
      const SeqStep &st = batch.seqs[i];
      const auto &own = sched.tokens(so.seqs[i].id);
      for (int32_t p = 0; p < st.contextLen; ++p) {
        const int64_t slot = int64_t(st.blockTable[size_t(p / cache.bs)]) * cache.bs + p % cache.bs;
        EXPECT_EQ(cache.pos[size_t(slot)], p) << "seq " << so.seqs[i].id << " position " << p;
        EXPECT_EQ(cache.tok[size_t(slot)], own[size_t(p)]) << "seq " << so.seqs[i].id << " position " << p;
        ctx[i].push_back(cache.tok[size_t(slot)]);
      }
    }
    sched.complete(so);
    for (size_t i = 0; i < so.seqs.size(); ++i) {
      const ScheduledSeq &q = so.seqs[i];
      computedTokens += q.numTokens;
      if (q.admitted)
        cachedTokens += q.cachedTokens;
      if (!firstScheduledStep.count(q.id))
        firstScheduledStep[q.id] = steps;
      if (!q.sample)
        continue;
      auto &o = out[q.id];
      o.push_back(nextToken(ctx[i]));
      if (int(o.size()) >= maxTokens[q.id]) {
        sched.remove(q.id);
        finishedAtStep[q.id] = steps;
      } else {
        sched.append(q.id, o.back());
      }
    }
    return true;
  }
  void runAll(int limit = 100000) {
    for (int i = 0; i < limit && sched.hasWork(); ++i)
      step();
    EXPECT_FALSE(sched.hasWork());
  }
};

std::vector<int32_t> prompt(int n, int seed) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    p[size_t(i)] = (seed * 131 + i * 7) % 1000;
  return p;
}

TEST(Scheduler, BatchesAndMatchesUnbatchedOutputs) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 16;
  cfg.maxRunningSeqs = 4;
  Driver d(4, 64, cfg);
  std::map<int64_t, std::vector<int32_t>> prompts;
  for (int i = 0; i < 10; ++i) {
    prompts[i] = prompt(3 + i * 3, i);
    d.add(i, prompts[i], 5 + i % 3);
  }
  d.runAll();
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(d.out[i], reference(prompts[i], 5 + i % 3)) << "seq " << i;
  EXPECT_EQ(d.maxStepSeqs, 4);
  EXPECT_EQ(d.maxStepTokens, 16);
  EXPECT_TRUE(d.preempted.empty());
  EXPECT_EQ(d.bm.numFree(), 64);
}

TEST(Scheduler, ChunkedPrefillMixedWithDecodes) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 8;
  cfg.maxRunningSeqs = 4;
  Driver d(4, 64, cfg);
  const auto a = prompt(3, 1), b = prompt(30, 2);
  d.add(1, a, 10);
  ASSERT_TRUE(d.step()); // a's prefill alone
  d.add(2, b, 2);
  ASSERT_TRUE(d.step()); // a decodes (1) + a 7-token chunk of b
  EXPECT_EQ(d.so.seqs.size(), 2u);
  EXPECT_EQ(d.so.seqs[0].id, 1);
  EXPECT_EQ(d.so.seqs[0].numTokens, 1);
  EXPECT_TRUE(d.so.seqs[0].sample);
  EXPECT_EQ(d.so.seqs[1].id, 2);
  EXPECT_EQ(d.so.seqs[1].numTokens, 7);
  EXPECT_FALSE(d.so.seqs[1].sample);
  ASSERT_TRUE(d.step());
  EXPECT_EQ(d.so.seqs[1].start, 7); // next chunk continues where it stopped
  d.runAll();
  EXPECT_EQ(d.out[1], reference(a, 10));
  EXPECT_EQ(d.out[2], reference(b, 2));
}

TEST(Scheduler, PreemptsMostRecentAndRecomputes) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 32;
  cfg.maxRunningSeqs = 4;
  cfg.watermarkBlocks = 0;
  // 12 blocks of 4 = 48 slots; three sequences growing to 24 tokens each
  // cannot all fit, so the latest arrival is preempted and recomputed.
  Driver d(4, 12, cfg);
  std::map<int64_t, std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) {
    prompts[i] = prompt(8, 10 + i);
    d.add(i, prompts[i], 16);
  }
  d.runAll();
  ASSERT_FALSE(d.preempted.empty());
  EXPECT_EQ(d.preempted.front(), 2); // the most recent arrival goes first
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(d.out[i], reference(prompts[i], 16)) << "seq " << i;
  EXPECT_EQ(d.bm.numFree(), 12);
  // Recompute ran more tokens than the prompts + decodes alone.
  EXPECT_GT(d.computedTokens, 3 * (8 + 15));
}

TEST(Scheduler, PreemptedSequenceEventuallyFinishesUnderLoad) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 16;
  cfg.maxRunningSeqs = 4;
  cfg.watermarkBlocks = 0;
  Driver d(2, 20, cfg);
  std::map<int64_t, std::vector<int32_t>> prompts;
  int64_t next = 0;
  // A steady stream: two new requests every step for 60 steps.
  for (int s = 0; s < 60; ++s) {
    for (int k = 0; k < 2; ++k) {
      prompts[next] = prompt(3 + int(next % 5), int(next));
      d.add(next, prompts[next], 12);
      ++next;
    }
    d.step();
  }
  d.runAll();
  ASSERT_FALSE(d.preempted.empty());
  for (const auto &kv : prompts)
    EXPECT_EQ(d.out[kv.first], reference(kv.second, 12)) << "seq " << kv.first;
  // FCFS: nobody finishes before every earlier request has started.
  for (const auto &kv : d.firstScheduledStep)
    for (const auto &earlier : d.firstScheduledStep)
      if (earlier.first < kv.first)
        EXPECT_LE(earlier.second, kv.second) << earlier.first << " before " << kv.first;
}

TEST(Scheduler, LongPromptNotStarvedByShortOnes) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 8;
  cfg.maxRunningSeqs = 4;
  Driver d(4, 40, cfg);
  // Short requests keep the engine busy; a 100-token prompt arrives among
  // them; more short ones keep arriving after it.
  int64_t next = 0;
  for (int k = 0; k < 3; ++k, ++next)
    d.add(next, prompt(2, int(next)), 20);
  d.step();
  const int64_t longId = 1000;
  const auto longPrompt = prompt(100, 77);
  d.add(longId, longPrompt, 3);
  int longStarted = -1;
  for (int s = 0; s < 400 && !d.finishedAtStep.count(longId); ++s) {
    d.add(next, prompt(2, int(next)), 4);
    ++next;
    d.step();
    if (longStarted < 0 && d.firstScheduledStep.count(longId))
      longStarted = d.steps;
  }
  ASSERT_TRUE(d.finishedAtStep.count(longId)) << "the long prompt starved";
  // Every short request that arrived after it started after it.
  for (const auto &kv : d.firstScheduledStep)
    if (kv.first >= 3 && kv.first < longId)
      EXPECT_GE(kv.second, longStarted) << "short request " << kv.first << " overtook the long prompt";
  // 100 prompt tokens at up to 8 per step, sharing with <= 3 decodes:
  // bounded, not starved.
  EXPECT_LE(d.finishedAtStep[longId] - longStarted, 100);
  d.runAll();
  EXPECT_EQ(d.out[longId], reference(longPrompt, 3));
}

TEST(Scheduler, PriorityOrdersAdmissionAndPreemption) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 64;
  cfg.maxRunningSeqs = 1;
  cfg.usePriority = true;
  Driver d(4, 32, cfg);
  d.add(1, prompt(4, 1), 2, 0);
  d.add(2, prompt(4, 2), 2, 5);
  d.add(3, prompt(4, 3), 2, 1);
  d.runAll();
  EXPECT_LT(d.firstScheduledStep[2], d.firstScheduledStep[3]);
  EXPECT_LT(d.firstScheduledStep[3], d.firstScheduledStep[1]);
  // Without priorities: arrival order.
  cfg.usePriority = false;
  Driver f(4, 32, cfg);
  f.add(1, prompt(4, 1), 2, 0);
  f.add(2, prompt(4, 2), 2, 5);
  f.runAll();
  EXPECT_LT(f.firstScheduledStep[1], f.firstScheduledStep[2]);
  // Preemption takes the lowest priority, even if it arrived first.
  cfg.usePriority = true;
  cfg.maxRunningSeqs = 2;
  cfg.watermarkBlocks = 0;
  Driver p(4, 6, cfg);
  p.add(1, prompt(4, 1), 12, 0);
  p.add(2, prompt(4, 2), 12, 9);
  p.runAll();
  ASSERT_FALSE(p.preempted.empty());
  EXPECT_EQ(p.preempted.front(), 1);
  EXPECT_EQ(p.out[1], reference(prompt(4, 1), 12));
  EXPECT_EQ(p.out[2], reference(prompt(4, 2), 12));
}

TEST(Scheduler, PrefixCacheHitsSkipComputation) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 64;
  cfg.maxRunningSeqs = 4;
  Driver d(4, 64, cfg, /*caching=*/true);
  auto shared = prompt(20, 5);
  auto a = shared, b = shared;
  a.push_back(1);
  b.push_back(2);
  b.push_back(3);
  d.add(1, a, 3);
  d.runAll();
  const int64_t before = d.computedTokens;
  d.add(2, b, 3);
  d.runAll();
  // b's first 20 tokens (5 full blocks) come from a's blocks.
  EXPECT_EQ(d.cachedTokens, 20);
  EXPECT_EQ(d.computedTokens - before, 2 + 2); // 2 new prompt tokens + 2 decodes
  EXPECT_EQ(d.out[2], reference(b, 3));
  // The whole prompt cached: its last token is still computed for logits.
  d.add(3, a, 3);
  d.runAll();
  EXPECT_EQ(d.out[3], reference(a, 3));
}

TEST(Scheduler, ForkSharesPromptAndCopiesOnWrite) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 64;
  cfg.maxRunningSeqs = 4;
  Driver d(4, 64, cfg);
  const auto p = prompt(6, 3); // the last block is partial: shared, then copied
  d.sched.add(1, p, 0, 3);
  d.maxTokens[1] = 4;
  d.sched.schedule(d.so);
  ASSERT_EQ(d.so.seqs.size(), 1u);
  d.sched.complete(d.so);
  const int32_t first = nextToken(p);
  d.sched.fork(1, 2);
  d.sched.fork(1, 3);
  EXPECT_THROW(d.sched.fork(1, 3), Error);
  EXPECT_EQ(d.sched.numRunning(), 3u);
  // Three choices, each with a different first token.
  d.sched.append(1, first);
  d.sched.append(2, first + 1);
  d.sched.append(3, first + 2);
  d.out[1] = {first};
  d.out[2] = {first + 1};
  d.out[3] = {first + 2};
  d.maxTokens[2] = d.maxTokens[3] = 4;
  // The fake cache holds the prompt written by the prefill step.
  for (int i = 0; i < 6; ++i) {
    const int64_t slot = int64_t(d.bm.table(1)[size_t(i / 4)]) * 4 + i % 4;
    d.cache.tok[size_t(slot)] = p[size_t(i)];
    d.cache.pos[size_t(slot)] = i;
  }
  ASSERT_TRUE(d.step());
  EXPECT_EQ(d.so.copies.size(), 2u); // two of the three copy the shared block
  d.runAll();
  for (int c = 0; c < 3; ++c) {
    auto ctx = p;
    ctx.push_back(first + c);
    auto want = reference(ctx, 3);
    want.insert(want.begin(), first + c);
    EXPECT_EQ(d.out[1 + c], want) << "choice " << c;
  }
  EXPECT_EQ(d.bm.numFree(), 64);
}

TEST(Scheduler, RemoveFreesBlocksAnywhere) {
  SchedulerConfig cfg;
  cfg.maxBatchedTokens = 4;
  cfg.maxRunningSeqs = 2;
  Driver d(4, 16, cfg);
  d.add(1, prompt(10, 1), 5);
  d.add(2, prompt(3, 2), 5);
  d.add(3, prompt(3, 3), 5);
  d.step();
  EXPECT_TRUE(d.sched.isRunning(1));
  EXPECT_FALSE(d.sched.isRunning(3));
  EXPECT_LT(d.bm.numFree(), 16);
  d.sched.remove(1); // mid-prefill
  d.sched.remove(3); // waiting
  d.sched.remove(99); // unknown: ignored
  d.runAll();
  EXPECT_EQ(d.out[2], reference(prompt(3, 2), 5));
  EXPECT_EQ(d.bm.numFree(), 16);
  EXPECT_THROW(d.sched.add(5, {}, 0), Error);
  EXPECT_THROW(d.sched.add(5, {1}, 0, 3), Error); // wider than the running slots
}

} // namespace
