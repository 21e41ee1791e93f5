// `ingot_bench_engine`: throughput and latency figures of the serving engine
// on the CPU, driven in-process (no HTTP), printed as one JSON object.
// scripts/bench/bench_batching.py runs it and formats docs/performance.md's
// serving rows.
//
//   --mode batching     the same N requests (distinct random prompts, greedy,
//                       EOS ignored, fixed max tokens) one at a time (each
//                       runs to completion before the next is added) and all
//                       at once (continuous batching); generated tokens per
//                       second of each, their ratio, and whether every
//                       request produced the same tokens both ways.
//   --mode prefix-ttft  time to first token (add() to the first token's
//                       event, max_tokens 1) of a prompt = a P-token prefix
//                       + a short distinct suffix: uncached (a prefix never
//                       seen) vs cached (the prefix was served before);
//                       medians over --repeat runs.
// Both modes start with an untimed warm-up request.
#include "ingot/runtime/engine.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_generated.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>

using namespace ingot;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string plan, mode = "batching";
  int threads = 0;
  int64_t kvBytes = 0, maxBatchedTokens = 0, maxSeqs = 0;
  int requests = 16, promptLen = 64, maxTokens = 64, repeat = 3;
  int prefixLen = 1000, suffixLen = 16;
  uint32_t seed = 1;
};

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Bench {
  const Args &a;
  std::unique_ptr<PlanFile> plan;
  int64_t vocab = 0;
  std::mt19937 rng;
  explicit Bench(const Args &args) : a(args), rng(args.seed) {
    plan = PlanFile::open(a.plan);
    vocab = plan->program().model() ? plan->program().model()->vocab_size() : 0;
    INGOT_CHECK(vocab > 2, "plan " + a.plan + " records no vocabulary size");
  }
  EngineOptions options(bool caching) const {
    EngineOptions o;
    o.executor.numThreads = a.threads;
    o.executor.kvCacheBytes = a.kvBytes;
    o.maxBatchedTokens = a.maxBatchedTokens;
    o.maxRunningSeqs = a.maxSeqs;
    o.enablePrefixCaching = caching;
    return o;
  }
  std::vector<int32_t> randomIds(int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int32_t &x : v)
      x = int32_t(1 + rng() % uint32_t(vocab - 1));
    return v;
  }
  static GenerationRequest request(const std::string &id, std::vector<int32_t> ids, int maxTokens) {
    GenerationRequest r;
    r.id = id;
    r.promptIds = std::move(ids);
    r.sampling.temperature = 0.0f;
    r.sampling.ignoreEos = true;
    r.sampling.maxTokens = maxTokens;
    return r;
  }
};

// Steps `e` until it is idle.
void drain(Engine &e) {
  while (e.hasWork())
    e.step();
}

json runBatching(Bench &b) {
  const Args &a = b.a;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < a.requests; ++i)
    reqs.push_back(Bench::request("r" + std::to_string(i), b.randomIds(a.promptLen), a.maxTokens));
  auto e = Engine::create(*b.plan, b.options(false));
  INGOT_CHECK(a.promptLen + a.maxTokens <= e->maxModelLen(),
              "prompt + max tokens exceed the model length " + std::to_string(e->maxModelLen()));
  e->add(Bench::request("warmup", b.randomIds(a.promptLen), 4), {});
  drain(*e);

  std::map<std::string, std::vector<int32_t>> alone, together;
  auto collect = [](std::map<std::string, std::vector<int32_t>> &m) {
    return [&m](const TokenEvent &ev) {
      if (ev.token >= 0)
        m[ev.requestId].push_back(ev.token);
    };
  };
  auto t0 = Clock::now();
  for (const auto &r : reqs) {
    e->add(r, collect(alone));
    drain(*e);
  }
  const double seqSeconds = since(t0);
  const int64_t stepsBefore = e->stats().steps;
  t0 = Clock::now();
  for (const auto &r : reqs)
    e->add(r, collect(together));
  drain(*e);
  const double batchSeconds = since(t0);
  const int64_t generated = int64_t(a.requests) * a.maxTokens;
  bool same = true;
  for (const auto &r : reqs)
    same = same && alone[r.id] == together[r.id] && int64_t(alone[r.id].size()) == a.maxTokens;
  json j;
  j["mode"] = "batching";
  j["requests"] = a.requests;
  j["prompt_len"] = a.promptLen;
  j["max_tokens"] = a.maxTokens;
  j["one_at_a_time_s"] = seqSeconds;
  j["batched_s"] = batchSeconds;
  j["one_at_a_time_tok_s"] = double(generated) / seqSeconds;
  j["batched_tok_s"] = double(generated) / batchSeconds;
  j["ratio"] = seqSeconds / batchSeconds;
  j["batched_steps"] = e->stats().steps - stepsBefore;
  j["outputs_identical"] = same;
  return j;
}

json runPrefixTtft(Bench &b) {
  const Args &a = b.a;
  auto e = Engine::create(*b.plan, b.options(true));
  INGOT_CHECK(a.prefixLen + a.suffixLen + 1 <= e->maxModelLen(),
              "prefix + suffix exceed the model length " + std::to_string(e->maxModelLen()));
  double firstAt = 0.0;
  Clock::time_point t0;
  auto cb = [&](const TokenEvent &ev) {
    if (ev.token >= 0 && firstAt == 0.0)
      firstAt = since(t0);
  };
  auto ttft = [&](const std::string &id, std::vector<int32_t> ids) {
    firstAt = 0.0;
    t0 = Clock::now();
    e->add(Bench::request(id, std::move(ids), 1), cb);
    drain(*e);
    return firstAt;
  };
  auto join = [](std::vector<int32_t> p, const std::vector<int32_t> &s) {
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  ttft("warmup", join(b.randomIds(a.prefixLen), b.randomIds(a.suffixLen)));
  const auto prefix = b.randomIds(a.prefixLen);
  ttft("seed-cache", join(prefix, b.randomIds(a.suffixLen)));
  std::vector<double> cold, warm;
  const int64_t cachedBefore = e->stats().promptTokensCached;
  for (int r = 0; r < a.repeat; ++r) {
    cold.push_back(ttft("cold" + std::to_string(r), join(b.randomIds(a.prefixLen), b.randomIds(a.suffixLen))));
    warm.push_back(ttft("warm" + std::to_string(r), join(prefix, b.randomIds(a.suffixLen))));
  }
  json j;
  j["mode"] = "prefix-ttft";
  j["prefix_len"] = a.prefixLen;
  j["suffix_len"] = a.suffixLen;
  j["repeat"] = a.repeat;
  j["uncached_ttft_s"] = median(cold);
  j["cached_ttft_s"] = median(warm);
  j["speedup"] = median(cold) / median(warm);
  j["cached_tokens_per_request"] = (e->stats().promptTokensCached - cachedBefore) / std::max(1, a.repeat);
  j["uncached_runs_s"] = cold;
  j["cached_runs_s"] = warm;
  return j;
}

} // namespace

int main(int argc, char **argv) {
  Args a;
  CLI::App app{"Serving-engine throughput and prefix-cache latency on the CPU (JSON on stdout)"};
  app.add_option("plan", a.plan, "Plan file")->required();
  app.add_option("--mode", a.mode, "batching | prefix-ttft")->check(CLI::IsMember({"batching", "prefix-ttft"}));
  app.add_option("--threads", a.threads, "Worker threads (0: all cores)");
  app.add_option("--kv-bytes", a.kvBytes, "KV cache bytes (0: default)");
  app.add_option("--max-batched-tokens", a.maxBatchedTokens, "Tokens per step (0: the plan's)");
  app.add_option("--max-seqs", a.maxSeqs, "Running sequences (0: the plan's)");
  app.add_option("--requests", a.requests, "batching: number of requests")->check(CLI::PositiveNumber);
  app.add_option("--prompt-len", a.promptLen, "batching: prompt tokens per request")->check(CLI::PositiveNumber);
  app.add_option("--max-tokens", a.maxTokens, "batching: generated tokens per request")->check(CLI::PositiveNumber);
  app.add_option("--prefix-len", a.prefixLen, "prefix-ttft: shared prefix tokens")->check(CLI::PositiveNumber);
  app.add_option("--suffix-len", a.suffixLen, "prefix-ttft: distinct suffix tokens")->check(CLI::PositiveNumber);
  app.add_option("--repeat", a.repeat, "prefix-ttft: timed runs of each kind")->check(CLI::PositiveNumber);
  app.add_option("--seed", a.seed, "Prompt generator seed");
  CLI11_PARSE(app, argc, argv);
  try {
    Bench b(a);
    const json j = a.mode == "batching" ? runBatching(b) : runPrefixTtft(b);
    std::cout << j.dump() << std::endl;
  } catch (const std::exception &e) {
    std::cerr << "ingot_bench_engine: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
