// Google Benchmark of the serving engine's per-step bookkeeping, without a
// model: Scheduler::schedule + Scheduler::prepareBatch (the executor's
// BatchMeta, tokens, positions) + Scheduler::complete (computed counts,
// prefix-cache publishing) + appending the sampled tokens, per step, for
// 256 running sequences. Goal: well under 50 µs per step, so scheduling is
// negligible next to even a small model's step.
//
//   BM_DecodeStep/256/{0,1}     256 sequences decoding (prefix caching off/on),
//                               contexts 512..1024 tokens, block size 16
//   BM_SteadyState/256          256 running; each finishes after 64..191
//                               tokens and is replaced by a new request (a
//                               256-token prompt sharing a 192-token prefix),
//                               so steps mix decodes, prefill chunks,
//                               admissions, prefix hits and frees
//
// Run: build/bin/ingot_bench_scheduler [--benchmark_filter=...]
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/scheduler.h"

#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

using namespace ingot;

namespace {

struct Rig {
  std::unique_ptr<BlockManager> bm;
  std::unique_ptr<Scheduler> sched;
  SchedulerOutput out;
  std::vector<int32_t> tokens, positions;
  BatchMeta batch;
  std::mt19937 rng{1};

  Rig(int64_t blocks, int64_t budget, int64_t seqs, bool caching) {
    bm = std::make_unique<BlockManager>(16, blocks, caching, 0x1234);
    SchedulerConfig cfg;
    cfg.maxBatchedTokens = budget;
    cfg.maxRunningSeqs = seqs;
    sched = std::make_unique<Scheduler>(cfg, *bm);
  }

  std::vector<int32_t> prompt(int len, int sharedLen) {
    std::vector<int32_t> p(static_cast<size_t>(len));
    for (int i = 0; i < len; ++i)
      p[size_t(i)] = i < sharedLen ? (i * 31) % 32000 : int32_t(rng() % 32000);
    return p;
  }

  // One engine step minus the executor; calls onSample(id) for sequences
  // that reached their last token.
  template <typename F> void step(F &&onSample) {
    sched->schedule(out);
    sched->prepareBatch(out, tokens, positions, batch);
    sched->complete(out);
    for (const ScheduledSeq &q : out.seqs)
      if (q.sample)
        onSample(q.id);
    benchmark::DoNotOptimize(batch.slotMapping.data());
  }
};

void BM_DecodeStep(benchmark::State &state) {
  const int n = int(state.range(0));
  const bool caching = state.range(1) != 0;
  auto setup = [&] {
    auto rig = std::make_unique<Rig>(int64_t(n) * 80, 8192, n, caching);
    for (int i = 0; i < n; ++i)
      rig->sched->add(i, rig->prompt(512 + int(rig->rng() % 512), 0));
    // Prefill everything (untimed), then every step is n decodes.
    while (true) {
      bool pending = false;
      rig->step([&](int64_t id) { rig->sched->append(id, 7); });
      for (const ScheduledSeq &q : rig->out.seqs)
        pending |= !q.sample;
      if (!pending && rig->sched->numWaiting() == 0 && rig->out.seqs.size() == size_t(n))
        break;
    }
    return rig;
  };
  auto rig = setup();
  int64_t steps = 0;
  for (auto _ : state) {
    rig->step([&](int64_t id) { rig->sched->append(id, 7); });
    if (++steps % 256 == 0) { // keep contexts bounded: start over (untimed)
      state.PauseTiming();
      rig = setup();
      state.ResumeTiming();
    }
  }
  state.counters["seqs/step"] = double(rig->out.seqs.size());
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStep)->Args({256, 0})->Args({256, 1})->Args({64, 1})->Unit(benchmark::kMicrosecond);

void BM_SteadyState(benchmark::State &state) {
  const int n = int(state.range(0));
  Rig rig(int64_t(n) * 40, 1024, n, true);
  std::vector<int> left(100000, 0);
  int64_t next = 0;
  auto admit = [&] {
    rig.sched->add(next, rig.prompt(256, 192));
    left[size_t(next % 100000)] = 64 + int(rig.rng() % 128);
    ++next;
  };
  for (int i = 0; i < n + n / 4; ++i)
    admit();
  auto onSample = [&](int64_t id) {
    if (--left[size_t(id % 100000)] <= 0) {
      rig.sched->remove(id);
      admit();
    } else {
      rig.sched->append(id, int32_t(id % 32000));
    }
  };
  for (int i = 0; i < 400; ++i) // reach the steady state
    rig.step(onSample);
  int64_t tokens = 0, seqs = 0;
  for (auto _ : state) {
    rig.step(onSample);
    tokens += rig.out.numTokens;
    seqs += int64_t(rig.out.seqs.size());
  }
  state.counters["tokens/step"] = double(tokens) / double(state.iterations());
  state.counters["seqs/step"] = double(seqs) / double(state.iterations());
}
BENCHMARK(BM_SteadyState)->Arg(256)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
