// `ingot bench`: three benchmarks behind one subcommand.
//   ingot bench PLAN --ids 1,2,3 ...        single-sequence latency (load,
//       prefill, decode) of one prompt, as JSON (scripts/bench/bench_cpu.py)
//   ingot bench PLAN --num-prompts N ...    offline throughput: N random
//       prompts (token ids, lengths drawn uniformly from --input-len /
//       --output-len, EOS ignored) through the serving Engine on this thread;
//       requests/s and input/output tokens/s
//   ingot bench --url URL --num-prompts N   online load against `ingot serve`:
//       streaming /v1/completions requests arriving as a Poisson process
//       (--request-rate, inf: all at once) with at most --max-concurrency in
//       flight; time to first token, inter-token latency and end-to-end
//       latency percentiles, throughput and errors
// Random prompts come from a seeded generator, so two runs send the same
// work. Progress goes to stderr as one \r-updated line when it is a terminal
// (or with --progress).
#include "commands.h"

#include "ingot/runtime/engine.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/generate.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/tokenizer.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string plan, weightsDir, url, ids, jsonOut, inputLen = "128", outputLen = "128", apiKey, model,
                                                kvCacheSize;
  int threads = 0;
  bool noVerifyWeights = false;
  DeviceArgs device;
  // --ids mode
  int64_t maxTokens = 129, warmup = 1, repeat = 5, prefillChunk = 0;
  // throughput / online
  int64_t numPrompts = 256;
  uint64_t seed = 0;
  double requestRate = std::numeric_limits<double>::infinity();
  int64_t maxConcurrency = 0;
  int64_t maxBatchedTokens = 0, maxRunning = 0;
  int64_t vocab = 0;
  bool noPrefixCaching = false, progress = false, noProgress = false;
  double timeout = 600;
};

// "A" or "A:B" (uniform in [A, B]).
std::pair<int64_t, int64_t> parseRange(const std::string &s, const char *what) {
  const size_t c = s.find(':');
  auto num = [&](const std::string &t) {
    char *end = nullptr;
    errno = 0;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    INGOT_CHECK(!t.empty() && end && *end == 0 && errno == 0 && v > 0,
                std::string(what) + ": \"" + s + "\" is not N or MIN:MAX with positive integers");
    return int64_t(v);
  };
  if (c == std::string::npos) {
    const int64_t v = num(s);
    return {v, v};
  }
  const int64_t a = num(s.substr(0, c)), b = num(s.substr(c + 1));
  INGOT_CHECK(a <= b, std::string(what) + ": MIN > MAX in \"" + s + "\"");
  return {a, b};
}

struct Work {
  std::vector<int32_t> prompt;
  int64_t outputLen = 0;
};

std::vector<Work> makeWork(const BenchArgs &a, int64_t vocab, int64_t maxModelLen) {
  const auto in = parseRange(a.inputLen, "--input-len");
  const auto out = parseRange(a.outputLen, "--output-len");
  std::mt19937_64 rng(a.seed);
  std::vector<Work> w(size_t(a.numPrompts));
  bool clamped = false;
  for (auto &x : w) {
    const int64_t il = std::uniform_int_distribution<int64_t>(in.first, in.second)(rng);
    int64_t ol = std::uniform_int_distribution<int64_t>(out.first, out.second)(rng);
    int64_t ilc = il;
    if (maxModelLen > 0 && ilc + ol > maxModelLen) {
      clamped = true;
      ilc = std::min<int64_t>(ilc, std::max<int64_t>(1, maxModelLen / 2));
      ol = std::min<int64_t>(ol, maxModelLen - ilc);
    }
    x.prompt.resize(size_t(ilc));
    for (auto &t : x.prompt)
      t = int32_t(std::uniform_int_distribution<int64_t>(0, vocab - 1)(rng));
    x.outputLen = ol;
  }
  if (clamped)
    std::fprintf(stderr, "ingot bench: some input + output lengths exceed the model length %lld; clamped\n",
                 (long long)maxModelLen);
  return w;
}

class Progress {
public:
  Progress(const BenchArgs &a, int64_t total)
      : on_(!a.noProgress && (a.progress || isatty(2))), total_(total), t0_(Clock::now()) {}
  void update(int64_t done, const std::string &extra = {}) {
    if (!on_)
      return;
    const auto now = Clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_).count() < 0.2)
      return;
    last_ = now;
    const int width = 30;
    const int filled = total_ ? int(double(done) / double(total_) * width) : width;
    std::fprintf(stderr, "\r[%s%s] %lld/%lld %.1fs %s", std::string(size_t(filled), '=').c_str(),
                 std::string(size_t(width - filled), ' ').c_str(), (long long)done, (long long)total_,
                 std::chrono::duration<double>(now - t0_).count(), extra.c_str());
    if (done >= total_)
      std::fputc('\n', stderr);
    std::fflush(stderr);
  }

private:
  bool on_;
  int64_t total_;
  Clock::time_point t0_, last_{};
};

double pct(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(rank)), hi = size_t(std::ceil(rank));
  return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

json stats(const std::vector<double> &v) {
  double mean = 0;
  for (double x : v)
    mean += x;
  mean = v.empty() ? 0 : mean / double(v.size());
  return {{"mean", mean}, {"p50", pct(v, 50)}, {"p90", pct(v, 90)}, {"p99", pct(v, 99)}, {"count", v.size()}};
}

void writeJson(const BenchArgs &a, const json &j) {
  if (a.jsonOut.empty())
    return;
  std::ofstream f(a.jsonOut);
  INGOT_CHECK(f.good(), "cannot write " + a.jsonOut);
  f << j.dump(2) << "\n";
}

std::unique_ptr<ingot::PlanFile> openPlan(const BenchArgs &a) {
  INGOT_CHECK(!a.plan.empty(), "bench needs a PLAN (or --url for a server)");
  ingot::PlanLoadOptions lo;
  lo.verifyWeights = !a.noVerifyWeights;
  auto pf = ingot::PlanFile::open(a.plan, lo);
  INGOT_CHECK(ingot::cpuRunsTarget(pf->target()),
              "plan " + a.plan + " targets \"" + pf->target() +
                  "\"; this ingot runs plans for cpu and CUDA (sm_*) targets");
  requireDecoderPlan(*pf, "bench");
  return pf;
}

// --- --ids: single-sequence latency (unchanged from the first `ingot bench`)

// Times plan open and executor creation separately, then runs `warmup`
// untimed and `repeat` timed greedy generations of the same prompt (EOS
// ignored, so every run does the same work).
int runLatency(const BenchArgs &a) {
  const auto prompt = parseIds(a.ids);
  const auto t0 = Clock::now();
  auto pf = openPlan(a);
  const auto t1 = Clock::now();
  ingot::ExecutorOptions eo;
  eo.weightsDir = a.weightsDir;
  eo.numThreads = a.threads;
  applyDeviceOptions(a.device, eo);
  auto ex = ingot::createExecutor(*pf, eo);
  const auto t2 = Clock::now();
  ingot::GenerateOptions go;
  go.maxTokens = a.maxTokens;
  go.ignoreEos = true;
  go.prefillChunk = a.prefillChunk;
  go.maxContext = pf->program().model() ? pf->program().model()->max_position() : 0;
  json runs = json::array();
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < a.warmup + a.repeat; ++i) {
    const ingot::GenerateResult r = ingot::generate(*ex, prompt, go);
    tokens = r.tokens;
    if (i < a.warmup)
      continue;
    runs.push_back({{"prefill_s", r.stats.prefillSeconds},
                    {"decode_s", r.stats.decodeSeconds},
                    {"decode_steps", std::max<int64_t>(0, r.stats.generatedTokens - 1)}});
  }
  const json out = {{"plan", a.plan},
                    {"open_s", std::chrono::duration<double>(t1 - t0).count()},
                    {"executor_s", std::chrono::duration<double>(t2 - t1).count()},
                    {"threads", a.threads},
                    {"executor", ex->description()},
                    {"prompt_tokens", prompt.size()},
                    {"runs", runs},
                    {"tokens", tokens}};
  std::cout << out.dump() << std::endl;
  return 0;
}

// --- offline throughput through the Engine

int runThroughput(const BenchArgs &a) {
  auto pf = openPlan(a);
  ingot::EngineOptions eo;
  eo.executor.weightsDir = a.weightsDir;
  eo.executor.numThreads = a.threads;
  applyDeviceOptions(a.device, eo.executor);
  if (!a.kvCacheSize.empty())
    eo.executor.kvCacheBytes = parseByteSize(a.kvCacheSize);
  eo.maxBatchedTokens = a.maxBatchedTokens;
  eo.maxRunningSeqs = a.maxRunning;
  eo.maxQueued = std::max<int64_t>(a.numPrompts, 1);
  eo.enablePrefixCaching = !a.noPrefixCaching;
  auto engine = ingot::Engine::create(*pf, eo);
  const int64_t vocab = a.vocab > 0 ? a.vocab : int64_t(engine->tokenizer().vocabSize());
  std::vector<Work> work = makeWork(a, vocab, engine->maxModelLen());

  std::atomic<int64_t> done{0}, outTokens{0}, errors{0};
  std::string firstError;
  std::mutex em;
  int64_t inTokens = 0;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < work.size(); ++i) {
    ingot::GenerationRequest r;
    r.id = "bench-" + std::to_string(i);
    r.promptIds = work[i].prompt;
    r.sampling.temperature = 0.0f;
    r.sampling.maxTokens = work[i].outputLen;
    r.sampling.ignoreEos = true;
    inTokens += int64_t(r.promptIds.size());
    engine->add(std::move(r), [&](const ingot::TokenEvent &ev) {
      if (!ev.finished)
        return;
      outTokens += ev.completionTokens;
      if (ev.finishReason == "error") {
        ++errors;
        std::lock_guard<std::mutex> lk(em);
        if (firstError.empty())
          firstError = ev.error;
      }
      ++done;
    });
  }
  Progress prog(a, a.numPrompts);
  while (done < a.numPrompts) {
    if (!engine->step() && !engine->hasWork())
      break;
    prog.update(done, std::to_string(outTokens.load()) + " tokens out");
  }
  prog.update(done);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const ingot::EngineStats st = engine->stats();
  const json j = {{"mode", "throughput"},
                  {"plan", a.plan},
                  {"num_prompts", a.numPrompts},
                  {"input_len", a.inputLen},
                  {"output_len", a.outputLen},
                  {"seconds", secs},
                  {"requests_per_s", double(done) / secs},
                  {"input_tokens", inTokens},
                  {"output_tokens", outTokens.load()},
                  {"input_tokens_per_s", double(inTokens) / secs},
                  {"output_tokens_per_s", double(outTokens) / secs},
                  {"total_tokens_per_s", double(inTokens + outTokens) / secs},
                  {"errors", errors.load()},
                  {"preemptions", st.preemptions},
                  {"steps", st.steps}};
  std::printf("requests:      %lld in %.2f s (%lld errors)\n", (long long)done.load(), secs,
              (long long)errors.load());
  std::printf("requests/s:    %.2f\n", double(done) / secs);
  std::printf("input tok/s:   %.1f (%lld tokens)\n", double(inTokens) / secs, (long long)inTokens);
  std::printf("output tok/s:  %.1f (%lld tokens)\n", double(outTokens) / secs, (long long)outTokens.load());
  std::printf("total tok/s:   %.1f\n", double(inTokens + outTokens) / secs);
  std::printf("preemptions:   %lld, engine steps: %lld\n", (long long)st.preemptions, (long long)st.steps);
  if (!firstError.empty())
    std::printf("first error:   %s\n", firstError.c_str());
  writeJson(a, j);
  return errors ? 1 : 0;
}

// --- online load against a server

struct Outcome {
  bool ok = false;
  std::string error;
  double ttft = 0, e2e = 0;
  std::vector<double> itl;
  int64_t promptTokens = 0, outputTokens = 0;
};

httplib::Headers authHeaders(const BenchArgs &a) {
  httplib::Headers h;
  if (!a.apiKey.empty())
    h.emplace("Authorization", "Bearer " + a.apiKey);
  return h;
}

Outcome oneRequest(const BenchArgs &a, const std::string &model, const Work &w) {
  Outcome o;
  httplib::Client cli(a.url);
  cli.set_connection_timeout(10, 0);
  cli.set_read_timeout(time_t(a.timeout), 0);
  cli.set_write_timeout(30, 0);
  const json body = {{"model", model},
                     {"prompt", w.prompt},
                     {"max_tokens", w.outputLen},
                     {"temperature", 0.0},
                     {"ignore_eos", true},
                     {"stream", true},
                     {"stream_options", {{"include_usage", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = authHeaders(a);
  req.set_header("Content-Type", "application/json");
  req.body = body.dump();
  std::string buf, raw;
  bool sawDone = false;
  Clock::time_point last;
  const auto t0 = Clock::now();
  bool first = true;
  req.content_receiver = [&](const char *data, size_t len, uint64_t, uint64_t) {
    buf.append(data, len);
    if (raw.size() < 4096)
      raw.append(data, std::min<size_t>(len, 4096));
    size_t pos;
    while ((pos = buf.find("\n\n")) != std::string::npos) {
      const std::string event = buf.substr(0, pos);
      buf.erase(0, pos + 2);
      if (event.rfind("data: ", 0) != 0)
        continue; // comments (keep-alive)
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        sawDone = true;
        continue;
      }
      const json j = json::parse(payload, nullptr, false);
      if (j.is_discarded()) {
        o.error = "bad SSE payload";
        continue;
      }
      if (j.contains("error")) {
        o.error = j["error"].value("message", "error event");
        continue;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        o.promptTokens = j["usage"].value("prompt_tokens", int64_t(0));
        o.outputTokens = j["usage"].value("completion_tokens", int64_t(0));
      }
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        const json &c = j["choices"][0];
        const bool hasText = c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
        if (hasText) {
          const auto now = Clock::now();
          if (first) {
            o.ttft = std::chrono::duration<double>(now - t0).count();
            first = false;
          } else {
            o.itl.push_back(std::chrono::duration<double>(now - last).count());
          }
          last = now;
        }
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  o.e2e = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!sent) {
    o.error = "HTTP error: " + httplib::to_string(err);
    return o;
  }
  if (res.status != 200) {
    const json j = json::parse(raw, nullptr, false);
    o.error = "HTTP " + std::to_string(res.status) +
              (!j.is_discarded() && j.contains("error") ? ": " + j["error"].value("message", "") : "");
    return o;
  }
  if (o.error.empty() && !sawDone)
    o.error = "stream ended without [DONE]";
  o.ok = o.error.empty();
  return o;
}

int runOnline(const BenchArgs &a) {
  // The model name, max length and vocabulary from /v1/models.
  httplib::Client cli(a.url);
  cli.set_connection_timeout(10, 0);
  auto r = cli.Get("/v1/models", authHeaders(a));
  INGOT_CHECK(r, "cannot reach " + a.url + " (" + httplib::to_string(r.error()) + ")");
  INGOT_CHECK(r->status == 200, "GET " + a.url + "/v1/models: HTTP " + std::to_string(r->status));
  const json models = json::parse(r->body, nullptr, false);
  INGOT_CHECK(!models.is_discarded() && models.contains("data") && models["data"].is_array() &&
                  !models["data"].empty(),
              "GET " + a.url + "/v1/models: unexpected reply");
  const json &m = models["data"][0];
  const std::string model = a.model.empty() ? m.value("id", "") : a.model;
  const int64_t maxLen = m.value("max_model_len", int64_t(0));
  const int64_t vocab = a.vocab > 0 ? a.vocab : m.value("vocab_size", int64_t(0));
  INGOT_CHECK(vocab > 0, "the server does not report vocab_size; pass --vocab-size");
  const std::vector<Work> work = makeWork(a, vocab, maxLen);

  // Arrival times: Poisson with rate R (exponential gaps), or all at once.
  std::mt19937_64 rng(a.seed + 1);
  std::vector<double> arrivals(work.size(), 0.0);
  double t = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    if (std::isfinite(a.requestRate) && a.requestRate > 0) {
      t += std::exponential_distribution<double>(a.requestRate)(rng);
      arrivals[i] = t;
    }
  }
  std::vector<Outcome> outcomes(work.size());
  std::mutex mu;
  std::condition_variable cv;
  int64_t running = 0, finished = 0;
  const int64_t limit = a.maxConcurrency > 0 ? a.maxConcurrency : int64_t(work.size());
  std::vector<std::thread> threads;
  Progress prog(a, int64_t(work.size()));
  const auto t0 = Clock::now();
  for (size_t i = 0; i < work.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals[i])));
    {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return running < limit; });
      ++running;
    }
    threads.emplace_back([&, i] {
      outcomes[i] = oneRequest(a, model, work[i]);
      std::lock_guard<std::mutex> lk(mu);
      --running;
      ++finished;
      cv.notify_all();
    });
    std::lock_guard<std::mutex> lk(mu);
    prog.update(finished);
  }
  while (true) {
    std::unique_lock<std::mutex> lk(mu);
    if (cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return finished == int64_t(work.size()); }))
      break;
    prog.update(finished);
  }
  for (auto &th : threads)
    th.join();
  prog.update(int64_t(work.size()));
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<double> ttft, itl, e2e;
  int64_t ok = 0, inTok = 0, outTok = 0;
  std::map<std::string, int64_t> errs;
  for (const auto &o : outcomes) {
    if (!o.ok) {
      ++errs[o.error.substr(0, 120)];
      continue;
    }
    ++ok;
    ttft.push_back(o.ttft * 1000);
    e2e.push_back(o.e2e * 1000);
    for (double x : o.itl)
      itl.push_back(x * 1000);
    inTok += o.promptTokens;
    outTok += o.outputTokens;
  }
  int64_t nerr = 0;
  for (auto &kv : errs)
    nerr += kv.second;
  const json j = {{"mode", "online"},
                  {"url", a.url},
                  {"model", model},
                  {"num_prompts", a.numPrompts},
                  {"request_rate", std::isfinite(a.requestRate) ? json(a.requestRate) : json("inf")},
                  {"max_concurrency", a.maxConcurrency},
                  {"input_len", a.inputLen},
                  {"output_len", a.outputLen},
                  {"seconds", secs},
                  {"completed", ok},
                  {"errors", nerr},
                  {"error_kinds", errs},
                  {"requests_per_s", double(ok) / secs},
                  {"input_tokens_per_s", double(inTok) / secs},
                  {"output_tokens_per_s", double(outTok) / secs},
                  {"ttft_ms", stats(ttft)},
                  {"itl_ms", stats(itl)},
                  {"e2e_ms", stats(e2e)}};
  std::printf("completed:     %lld/%lld in %.2f s, %lld errors\n", (long long)ok, (long long)a.numPrompts, secs,
              (long long)nerr);
  for (auto &kv : errs)
    std::printf("  error x%lld: %s\n", (long long)kv.second, kv.first.c_str());
  std::printf("requests/s:    %.2f\n", double(ok) / secs);
  std::printf("input tok/s:   %.1f\n", double(inTok) / secs);
  std::printf("output tok/s:  %.1f\n", double(outTok) / secs);
  auto line = [](const char *name, const std::vector<double> &v) {
    std::printf("%-14s mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f (ms)\n", name, v.empty() ? 0.0 : [&] {
      double s = 0;
      for (double x : v)
        s += x;
      return s / double(v.size());
    }(), pct(v, 50), pct(v, 90), pct(v, 99));
  };
  line("TTFT:", ttft);
  line("ITL:", itl);
  line("E2E latency:", e2e);
  writeJson(a, j);
  return nerr ? 1 : 0;
}

} // namespace

std::vector<SubcommandHook> registerBenchCommands(CLI::App &app) {
  static BenchArgs storage; // lives for the process (CLI11 binds to it)
  BenchArgs *a = &storage;
  CLI::App *b = app.add_subcommand(
      "bench", "Benchmarks: --ids (one sequence's latency, JSON), --num-prompts (offline throughput through the "
               "engine), --url (online load against `ingot serve`)");
  b->add_option("plan", a->plan, "Plan file produced by ingotc (not with --url)");
  b->add_flag("--no-verify-weights", a->noVerifyWeights, "Skip the checksum of the embedded weights section");
  b->add_option("--weights", a->weightsDir, "Checkpoint directory for weights-external plans");
  b->add_option("--threads", a->threads, "Worker threads (0: all cores)")->check(CLI::NonNegativeNumber);
  addDeviceOptions(b, a->device);
  b->add_option("--ids", a->ids, "Latency mode: prompt token ids, e.g. 1,2,3");
  b->add_option("--max-tokens", a->maxTokens, "Latency mode: tokens generated per run (decode steps + 1)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  b->add_option("--warmup", a->warmup, "Latency mode: untimed runs first")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  b->add_option("--repeat", a->repeat, "Latency mode: timed runs")->capture_default_str()->check(CLI::PositiveNumber);
  b->add_option("--prefill-chunk", a->prefillChunk, "Latency mode: prompt tokens per prefill step")
      ->check(CLI::NonNegativeNumber);
  b->add_option("--url", a->url, "Online mode: the server, e.g. http://127.0.0.1:8000");
  b->add_option("--num-prompts", a->numPrompts, "Requests to send / prompts to run")->capture_default_str()
      ->check(CLI::PositiveNumber);
  b->add_option("--input-len", a->inputLen, "Prompt tokens: N or MIN:MAX (uniform)")->capture_default_str();
  b->add_option("--output-len", a->outputLen, "Generated tokens: N or MIN:MAX (uniform; EOS ignored)")
      ->capture_default_str();
  b->add_option("--seed", a->seed, "Seed of the random prompts and arrivals")->capture_default_str();
  b->add_option("--vocab-size", a->vocab, "Draw prompt ids below this (default: the model's vocabulary)")
      ->check(CLI::NonNegativeNumber);
  b->add_option("--request-rate", a->requestRate, "Online mode: requests/s, Poisson arrivals (inf: all at once)")
      ->check(CLI::PositiveNumber);
  b->add_option("--max-concurrency", a->maxConcurrency, "Online mode: requests in flight at most (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  b->add_option("--api-key", a->apiKey, "Online mode: sent as \"Authorization: Bearer KEY\"");
  b->add_option("--model", a->model, "Online mode: model name (default: the server's first)");
  b->add_option("--timeout", a->timeout, "Online mode: seconds a request may take")->capture_default_str()
      ->check(CLI::PositiveNumber);
  b->add_option("--kv-cache-size", a->kvCacheSize, "Throughput mode: KV-cache memory, e.g. 1GiB");
  b->add_option("--max-batched-tokens", a->maxBatchedTokens, "Throughput mode: tokens per engine step")
      ->check(CLI::NonNegativeNumber);
  b->add_option("--max-running", a->maxRunning, "Throughput mode: sequences per engine step")
      ->check(CLI::NonNegativeNumber);
  b->add_flag("--no-prefix-caching", a->noPrefixCaching, "Throughput mode: disable prefix caching");
  b->add_option("--json", a->jsonOut, "Also write the results as JSON to this file");
  b->add_flag("--progress", a->progress, "Show the progress line even when stderr is not a terminal");
  b->add_flag("--no-progress", a->noProgress, "Never show the progress line");
  return {{b, [a] {
             if (!a->url.empty()) {
               INGOT_CHECK(a->plan.empty(), "bench: give either a PLAN or --url, not both");
               return runOnline(*a);
             }
             if (!a->ids.empty())
               return runLatency(*a);
             return runThroughput(*a);
           }}};
}
