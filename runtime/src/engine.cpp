// The serving engine (engine.h): requests -> scheduler -> BatchMeta ->
// Executor::step -> per-choice sampling -> events.
//
// Threads: add(), abort(), stop(), stats() and hasWork() only touch the
// state under mu_ (incoming requests, pending aborts, live ids, the stats
// snapshot). Everything else (scheduler, block manager, requests being
// served) belongs to the thread that calls step()/run(); incoming requests
// and aborts are taken at the start of a step, so an abort frees its blocks
// before the next executor step.
//
// A request starts as one sequence (choice 0). With n > 1 it reserves n
// running slots; when its prompt is computed, choices 1..n-1 fork from it and
// share its blocks (copy-on-write), and each choice samples its first token
// from the same logits with its own generator.
//
// Device sampling: when the executor can sample where the logits lie
// (Executor::canSampleOnDevice, the CUDA executor), the choices of requests
// whose parameters the device kernel supports (deviceSamplable: temperature,
// top-k, top-p, seed; no penalties, min-p or logprobs) are sampled there in
// one call with seed choiceSeed(request seed, choice) and counter = tokens
// the choice generated so far, so a seeded request is reproducible whatever
// it is batched with; only the tokens come back. The other choices sample on
// the host from fetchLogits(), which downloads the logits only when some
// choice of the step needs them.
#include "ingot/runtime/engine.h"
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/sampling.h"
#include "ingot/runtime/scheduler.h"
#include "ingot/runtime/tokenizer.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace ingot {
namespace {

namespace fb = ::ingot::plan;

struct Choice {
  int index = 0;
  int64_t seq = -1;
  bool finished = false;
  uint64_t seed = 0; // choiceSeed(request seed, index)
  std::unique_ptr<SequenceSampler> sampler;
  std::unique_ptr<StreamDecoder> decoder; // null without a tokenizer
  std::string pending;                    // decoded but held back (stop strings)
  int64_t generated = 0;
};

struct Request {
  GenerationRequest req;
  EventCallback cb;
  uint64_t seed = 0;
  bool onDevice = false; // sampled by Executor::sampleOnDevice
  std::vector<std::unique_ptr<Choice>> choices;
  bool admitted = false; // first scheduled (no longer counts as queued)
  bool forked = false;
  int64_t cachedPromptTokens = 0;
  int unfinished = 0;
};

// Length of the longest suffix of `text` that is a proper prefix of a stop
// string: text that may still become a stop string, held back.
size_t holdBack(const std::string &text, const std::vector<std::string> &stops) {
  size_t hold = 0;
  for (const std::string &s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

// Cuts `text` at the earliest stop string; true when one matched.
bool cutAtStop(std::string &text, const std::vector<std::string> &stops) {
  size_t pos = std::string::npos;
  for (const std::string &s : stops)
    pos = std::min(pos, text.find(s));
  if (pos == std::string::npos)
    return false;
  text.resize(pos);
  return true;
}

// Whether ingot_sample_f32 (runtime/cuda/kernels/sampling.cuh) implements
// every sampling parameter of `s`: temperature, top-k, top-p and the seed.
// Penalties (they depend on the tokens so far), min-p and logprobs (they
// need the logits on the host) are host-only.
bool deviceSamplable(const RequestSampling &s) {
  return s.repetitionPenalty == 1.0f && s.presencePenalty == 0.0f && s.frequencyPenalty == 0.0f &&
         s.minP == 0.0f && s.logprobs < 0;
}

uint64_t programChecksum(const PlanFile &plan) {
  const fb::FileHeader &h = plan.header();
  if (h.sections())
    for (const fb::Section *s : *h.sections())
      if (s->name() && s->name()->str() == "program")
        return s->xxh3();
  return 0;
}

class EngineImpl final : public Engine {
public:
  EngineImpl(const PlanFile &plan, const EngineOptions &opts) : opts_(opts) {
    ex_ = createExecutor(plan, opts.executor);
    const fb::Plan &p = plan.program();
    if (p.tokenizer() && p.tokenizer()->tokenizer_json() && p.tokenizer()->tokenizer_json()->size())
      tok_ = Tokenizer::fromJson(p.tokenizer()->tokenizer_json()->str());
    if (p.model() && p.model()->eos_token_ids())
      for (int32_t id : *p.model()->eos_token_ids())
        eos_.push_back(id);
    vocab_ = ex_->vocabSize();
    PagedKvCache &kv = ex_->kvCache();
    const int64_t capacity = kv.numBlocks() * kv.blockSize();
    const int64_t maxPos = p.model() && p.model()->max_position() > 0 ? p.model()->max_position() : capacity;
    maxModelLen_ = std::min(maxPos, capacity);
    if (opts.maxModelLen > 0)
      maxModelLen_ = std::min(maxModelLen_, opts.maxModelLen);
    SchedulerConfig sc;
    sc.maxBatchedTokens = opts.maxBatchedTokens > 0 ? std::min(opts.maxBatchedTokens, ex_->maxTokensPerStep())
                                                    : ex_->maxTokensPerStep();
    sc.maxRunningSeqs = opts.maxRunningSeqs > 0 ? std::min(opts.maxRunningSeqs, ex_->maxSeqsPerStep())
                                                : ex_->maxSeqsPerStep();
    sc.maxRunningSeqs = std::min(sc.maxRunningSeqs, sc.maxBatchedTokens);
    sc.usePriority = opts.usePriority;
    bm_ = std::make_unique<BlockManager>(kv.blockSize(), kv.numBlocks(), opts.enablePrefixCaching,
                                         programChecksum(plan));
    sched_ = std::make_unique<Scheduler>(sc, *bm_);
    seedGen_.seed(std::random_device{}());
    publishStats();
  }

  ~EngineImpl() override = default;

  void add(GenerationRequest req, EventCallback cb) override {
    validate(req);
    auto r = std::make_unique<Request>();
    r->req = std::move(req);
    r->cb = std::move(cb);
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_)
      throw EngineStopping("engine: shutting down, request \"" + r->req.id + "\" refused");
    if (queued_ >= opts_.maxQueued)
      throw QueueFull("engine: " + std::to_string(queued_) + " requests are already queued (max_queued " +
                      std::to_string(opts_.maxQueued) + ")");
    INGOT_CHECK(!liveIds_.count(r->req.id), "request id \"" + r->req.id + "\" is already in use");
    r->seed = r->req.sampling.seed ? *r->req.sampling.seed : seedGen_();
    liveIds_.insert(r->req.id);
    ++queued_;
    incoming_.push_back(std::move(r));
    cv_.notify_all();
  }

  void abort(const std::string &id) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!liveIds_.count(id))
      return;
    aborts_.push_back(id);
    cv_.notify_all();
  }

  bool step() override {
    bool did = false;
    std::deque<std::unique_ptr<Request>> in;
    std::vector<std::string> ab;
    {
      std::lock_guard<std::mutex> lk(mu_);
      in.swap(incoming_);
      ab.swap(aborts_);
    }
    for (auto &r : in)
      start(std::move(r));
    for (const std::string &id : ab)
      did |= finishAll(id, "abort", "");

    sched_->schedule(out_);
    counters_.preemptions += int64_t(out_.preempted.size());
    if (out_.seqs.empty()) {
      publishStats();
      return did;
    }
    PagedKvCache &kv = ex_->kvCache();
    for (const BlockCopy &c : out_.copies)
      kv.copyBlock(c.src, c.dst);
    sched_->prepareBatch(out_, tokens_, positions_, batch_);
    const bool device = ex_->canSampleOnDevice();
    const float *logits = nullptr;
    try {
      if (device)
        ex_->stepDeferLogits(tokens_, positions_, batch_);
      else
        logits = ex_->step(tokens_, positions_, batch_);
    } catch (const std::exception &e) {
      failScheduled(std::string("executor step failed: ") + e.what());
      publishStats();
      return true;
    }
    sched_->complete(out_);
    ++counters_.steps;
    if (device) {
      deviceStep();
      publishStats();
      return true;
    }

    std::vector<Choice *> cs;
    for (size_t i = 0; i < out_.seqs.size(); ++i) {
      Request *r = choicesOfRow(i, cs);
      if (!r)
        continue;
      const float *row = logits + int64_t(i) * vocab_;
      for (Choice *ch : cs)
        sampleChoice(*r, *ch, row);
    }
    publishStats();
    return true;
  }

  // The choices that draw a token from batch row `i` (into `cs`) and their
  // request, or nullptr when the row samples nothing. Counts the prompt
  // tokens the row consumed; the first time a request samples it forks its
  // other n-1 choices, and all of them draw from this row, choice 0 first.
  Request *choicesOfRow(size_t i, std::vector<Choice *> &cs) {
    cs.clear();
    const ScheduledSeq &q = out_.seqs[i];
    auto it = bySeq_.find(q.id);
    if (it == bySeq_.end())
      return nullptr;
    Request &r = *it->second.first;
    Choice &c = *it->second.second;
    countPrompt(r, q);
    if (!q.sample)
      return nullptr;
    if (!r.forked) {
      r.forked = true;
      for (int k = 1; k < r.req.sampling.n; ++k) {
        Choice &child = newChoice(r, k);
        sched_->fork(c.seq, child.seq);
      }
      for (auto &ch : r.choices)
        cs.push_back(ch.get());
    } else {
      cs.push_back(&c);
    }
    return &r;
  }

  // The sampling half of step() when the executor samples on the device:
  // collect the draws (forking new choices first, as the host path does),
  // sample the device ones in one call, download the logits only for the
  // host ones, then deliver every token in batch order.
  void deviceStep() {
    struct Draw {
      Request *r;
      Choice *c;
      int64_t row;
      size_t dev; // index into devParams_, or SIZE_MAX: host
    };
    std::vector<Draw> draws;
    devParams_.clear();
    bool host = false;
    std::vector<Choice *> cs;
    for (size_t i = 0; i < out_.seqs.size(); ++i) {
      Request *rp = choicesOfRow(i, cs);
      if (!rp)
        continue;
      Request &r = *rp;
      for (Choice *ch : cs) {
        Draw d{&r, ch, int64_t(i), SIZE_MAX};
        if (r.onDevice) {
          const RequestSampling &sp = r.req.sampling;
          DeviceSampleParams p;
          p.row = int64_t(i);
          p.temperature = sp.temperature;
          p.topK = sp.topK;
          p.topP = sp.topP;
          p.seed = ch->seed;
          p.counter = ch->generated;
          d.dev = devParams_.size();
          devParams_.push_back(p);
        } else {
          host = true;
        }
        draws.push_back(d);
      }
    }
    const float *logits = nullptr;
    try {
      if (!devParams_.empty())
        ex_->sampleOnDevice(devParams_, devTokens_);
      if (host)
        logits = ex_->fetchLogits();
    } catch (const std::exception &e) {
      failScheduled(std::string("sampling failed: ") + e.what());
      return;
    }
    for (const Draw &d : draws) {
      if (d.dev == SIZE_MAX) {
        sampleChoice(*d.r, *d.c, logits + d.row * vocab_);
      } else {
        SampledToken t;
        t.token = devTokens_[d.dev];
        acceptToken(*d.r, *d.c, t);
      }
    }
  }

  void run() override {
    for (;;) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (stopRun_ && (!drain_ || liveIds_.empty()))
          break;
      }
      if (!step()) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait_for(lk, std::chrono::milliseconds(50),
                     [&] { return stopRun_ || !incoming_.empty() || !aborts_.empty(); });
      }
    }
    // stop() without drain: end what is left so every client gets a final event.
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const std::string &id : liveIds_)
        aborts_.push_back(id);
    }
    step();
    std::lock_guard<std::mutex> lk(mu_);
    stopRun_ = false;
  }

  void stop(bool drain) override {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    stopRun_ = true;
    drain_ = drain;
    cv_.notify_all();
  }

  bool hasWork() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return !liveIds_.empty();
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
  }

  const Tokenizer &tokenizer() const override {
    INGOT_CHECK(tok_, "engine: the plan has no tokenizer");
    return *tok_;
  }

  int64_t maxModelLen() const override { return maxModelLen_; }

private:
  void validate(const GenerationRequest &r) const {
    const RequestSampling &s = r.sampling;
    const std::string at = "request \"" + r.id + "\": ";
    INGOT_CHECK(!r.id.empty(), "request id must not be empty");
    INGOT_CHECK(!r.promptIds.empty(), at + "the prompt has no tokens");
    for (int32_t id : r.promptIds)
      INGOT_CHECK(id >= 0 && id < vocab_, at + "prompt token id " + std::to_string(id) +
                                              " is outside the vocabulary [0, " + std::to_string(vocab_) + ")");
    INGOT_CHECK(s.maxTokens >= 1, at + "max_tokens must be at least 1, got " + std::to_string(s.maxTokens));
    const int64_t len = int64_t(r.promptIds.size());
    INGOT_CHECK(len < maxModelLen_ && s.maxTokens <= maxModelLen_ - len,
                at + "the prompt (" + std::to_string(len) + " tokens) plus max_tokens (" +
                    std::to_string(s.maxTokens) + ") exceeds the model length of " +
                    std::to_string(maxModelLen_) + " tokens");
    INGOT_CHECK(std::isfinite(s.temperature) && s.temperature >= 0.0f,
                at + "temperature must be >= 0, got " + std::to_string(s.temperature));
    INGOT_CHECK(s.topK >= -1, at + "top_k must be >= 0 (or -1: off), got " + std::to_string(s.topK));
    INGOT_CHECK(s.topP > 0.0f && s.topP <= 1.0f, at + "top_p must be in (0, 1], got " + std::to_string(s.topP));
    INGOT_CHECK(s.minP >= 0.0f && s.minP <= 1.0f, at + "min_p must be in [0, 1], got " + std::to_string(s.minP));
    INGOT_CHECK(std::isfinite(s.repetitionPenalty) && s.repetitionPenalty > 0.0f,
                at + "repetition_penalty must be > 0, got " + std::to_string(s.repetitionPenalty));
    INGOT_CHECK(s.presencePenalty >= -2.0f && s.presencePenalty <= 2.0f,
                at + "presence_penalty must be in [-2, 2], got " + std::to_string(s.presencePenalty));
    INGOT_CHECK(s.frequencyPenalty >= -2.0f && s.frequencyPenalty <= 2.0f,
                at + "frequency_penalty must be in [-2, 2], got " + std::to_string(s.frequencyPenalty));
    INGOT_CHECK(s.logprobs >= -1 && s.logprobs <= 20,
                at + "logprobs must be in [0, 20], got " + std::to_string(s.logprobs));
    INGOT_CHECK(s.n >= 1 && s.n <= sched_->config().maxRunningSeqs,
                at + "n must be in [1, " + std::to_string(sched_->config().maxRunningSeqs) + "], got " +
                    std::to_string(s.n));
    for (int32_t id : s.stopTokenIds)
      INGOT_CHECK(id >= 0 && id < vocab_, at + "stop token id " + std::to_string(id) + " is outside the vocabulary");
    for (const std::string &st : s.stopStrings)
      INGOT_CHECK(!st.empty(), at + "stop strings must not be empty");
    INGOT_CHECK(s.stopStrings.empty() || tok_, at + "stop strings need the plan's tokenizer, which it lacks");
  }

  // Prompt-token statistics of one scheduled sequence, and admission.
  void countPrompt(Request &r, const ScheduledSeq &q) {
    const int64_t promptLen = int64_t(r.req.promptIds.size());
    counters_.promptTokensComputed +=
        std::max<int64_t>(0, std::min<int64_t>(q.start + q.numTokens, promptLen) - q.start);
    if (q.admitted) {
      const int64_t cached = std::min(q.cachedTokens, promptLen);
      counters_.promptTokensCached += cached;
      if (!r.admitted) {
        r.admitted = true;
        r.cachedPromptTokens = cached;
        std::lock_guard<std::mutex> lk(mu_);
        --queued_;
      }
    }
  }

  Choice &newChoice(Request &r, int index) {
    auto c = std::make_unique<Choice>();
    c->index = index;
    c->seq = nextSeq_++;
    c->seed = choiceSeed(r.seed, index);
    c->sampler = std::make_unique<SequenceSampler>(r.req.sampling, c->seed, r.req.promptIds);
    if (tok_)
      c->decoder = std::make_unique<StreamDecoder>(*tok_, true);
    bySeq_[c->seq] = {&r, c.get()};
    ++r.unfinished;
    r.choices.push_back(std::move(c));
    return *r.choices.back();
  }

  void start(std::unique_ptr<Request> rp) {
    Request &r = *rp;
    r.onDevice = ex_->canSampleOnDevice() && deviceSamplable(r.req.sampling);
    live_[r.req.id] = std::move(rp);
    Choice &c = newChoice(r, 0);
    sched_->add(c.seq, r.req.promptIds, r.req.priority, r.req.sampling.n);
  }

  void emit(Request &r, const TokenEvent &ev) {
    if (!r.cb)
      return;
    try {
      r.cb(ev);
    } catch (...) {
      // A failing callback must not take the engine (and every other
      // request) down with it.
    }
  }

  // Everything decoded so far that is not yet returned, up to a stop string.
  static std::string releaseAll(Choice &c, const std::vector<std::string> &stops, bool &stopped) {
    std::string text = std::move(c.pending);
    c.pending.clear();
    if (c.decoder)
      text += c.decoder->flush();
    stopped = cutAtStop(text, stops);
    return text;
  }

  void sampleChoice(Request &r, Choice &c, const float *row) {
    acceptToken(r, c, c.sampler->sample(row, vocab_));
  }

  // Delivers choice c's next token: stop conditions, text, events.
  void acceptToken(Request &r, Choice &c, SampledToken t) {
    const RequestSampling &sp = r.req.sampling;
    ++c.generated;
    ++counters_.generatedTokens;
    TokenEvent ev;
    ev.requestId = r.req.id;
    ev.choice = c.index;
    ev.token = t.token;
    if (sp.logprobs >= 0) {
      ev.logprob = t.logprob;
      ev.top = std::move(t.top);
    }
    const bool isEos = !sp.ignoreEos && std::find(eos_.begin(), eos_.end(), t.token) != eos_.end();
    const bool isStop = isEos || std::find(sp.stopTokenIds.begin(), sp.stopTokenIds.end(), t.token) !=
                                     sp.stopTokenIds.end();
    std::string reason;
    bool stopped = false;
    if (isStop) {
      reason = "stop";
      ev.text = releaseAll(c, sp.stopStrings, stopped);
    } else {
      if (c.decoder)
        c.pending += c.decoder->push(t.token);
      const int64_t len = int64_t(r.req.promptIds.size()) + c.generated;
      if (cutAtStop(c.pending, sp.stopStrings)) {
        reason = "stop";
        ev.text = std::move(c.pending);
        c.pending.clear();
      } else if (c.generated >= sp.maxTokens || len >= maxModelLen_) {
        ev.text = releaseAll(c, sp.stopStrings, stopped);
        reason = stopped ? "stop" : "length";
      } else {
        const size_t keep = holdBack(c.pending, sp.stopStrings);
        ev.text = c.pending.substr(0, c.pending.size() - keep);
        c.pending.erase(0, c.pending.size() - keep);
      }
    }
    if (reason.empty()) {
      sched_->append(c.seq, t.token);
      emit(r, ev);
      return;
    }
    ev.finished = true;
    ev.finishReason = reason;
    endChoice(r, c, ev);
  }

  // Fills the usage fields, delivers the final event and forgets the choice
  // (and the request when it was its last).
  void endChoice(Request &r, Choice &c, TokenEvent &ev) {
    ev.promptTokens = int64_t(r.req.promptIds.size());
    ev.completionTokens = c.generated;
    ev.cachedPromptTokens = r.cachedPromptTokens;
    c.finished = true;
    sched_->remove(c.seq);
    bySeq_.erase(c.seq);
    emit(r, ev);
    if (--r.unfinished > 0)
      return;
    const std::string id = r.req.id;
    {
      std::lock_guard<std::mutex> lk(mu_);
      liveIds_.erase(id);
      if (!r.admitted)
        --queued_;
    }
    live_.erase(id); // r is gone from here on
  }

  // Ends every unfinished choice of request `id` without a token.
  bool finishAll(const std::string &id, const std::string &reason, const std::string &error) {
    auto it = live_.find(id);
    if (it == live_.end())
      return false;
    Request &r = *it->second;
    // Choices not forked yet end too: a request aborted during its prefill
    // reports every choice it was asked for.
    while (!r.forked && int(r.choices.size()) < r.req.sampling.n)
      newChoice(r, int(r.choices.size()));
    r.forked = true;
    std::vector<Choice *> open;
    for (auto &c : r.choices)
      if (!c->finished)
        open.push_back(c.get());
    for (Choice *c : open) {
      TokenEvent ev;
      ev.requestId = id;
      ev.choice = c->index;
      ev.finished = true;
      ev.finishReason = reason;
      ev.error = error;
      endChoice(r, *c, ev); // the last one erases r
    }
    return true;
  }

  void failScheduled(const std::string &msg) {
    std::vector<std::string> ids;
    for (const ScheduledSeq &q : out_.seqs) {
      auto it = bySeq_.find(q.id);
      if (it != bySeq_.end())
        ids.push_back(it->second.first->req.id);
    }
    for (const std::string &id : ids)
      finishAll(id, "error", msg);
  }

  void publishStats() {
    std::lock_guard<std::mutex> lk(mu_);
    stats_ = counters_;
    stats_.waiting = int64_t(sched_->numWaiting());
    stats_.running = int64_t(sched_->numRunning());
    stats_.swapped = int64_t(sched_->numPreemptedWaiting());
    stats_.kvBlocksTotal = bm_->numBlocks();
    stats_.kvBlocksUsed = bm_->numUsed();
    stats_.kvBlocksCached = bm_->numCached();
  }

  EngineOptions opts_;
  std::unique_ptr<Executor> ex_;
  std::unique_ptr<Tokenizer> tok_;
  std::vector<int32_t> eos_;
  int64_t vocab_ = 0, maxModelLen_ = 0;
  std::unique_ptr<BlockManager> bm_;
  std::unique_ptr<Scheduler> sched_;

  // Shared with other threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Request>> incoming_;
  std::vector<std::string> aborts_;
  std::unordered_set<std::string> liveIds_;
  int64_t queued_ = 0;
  bool stopping_ = false, stopRun_ = false, drain_ = false;
  EngineStats stats_;
  std::mt19937_64 seedGen_;

  // Engine thread only.
  std::unordered_map<std::string, std::unique_ptr<Request>> live_;
  std::unordered_map<int64_t, std::pair<Request *, Choice *>> bySeq_;
  int64_t nextSeq_ = 0;
  EngineStats counters_;
  SchedulerOutput out_;
  std::vector<int32_t> tokens_, positions_;
  BatchMeta batch_;
  std::vector<DeviceSampleParams> devParams_;
  std::vector<int32_t> devTokens_;
};

} // namespace

std::unique_ptr<Engine> Engine::create(const PlanFile &plan, const EngineOptions &opts) {
  INGOT_CHECK(cpuRunsTarget(plan.target()),
              "engine: plan " + plan.path() + " targets \"" + plan.target() +
                  "\"; this build serves plans for cpu and CUDA (sm_*) targets");
  return std::make_unique<EngineImpl>(plan, opts);
}

} // namespace ingot
