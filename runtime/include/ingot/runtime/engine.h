// The serving engine: many concurrent requests over one Executor, with a
// paged KV-cache block manager (prefix caching), a continuous-batching
// scheduler (chunked prefill, preemption by recompute) and per-request
// sampling. The HTTP server (`ingot serve`) and `ingot bench` drive it.
//
// Threading: add()/abort()/stats() may be called from any thread; step() and
// run() from one engine thread only. Event callbacks run on the engine thread
// and must be quick (push to a queue); they must not call step().
#pragma once
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/plan.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ingot {

class Tokenizer;

// Per-request sampling and stopping (OpenAI-style semantics).
struct RequestSampling {
  float temperature = 1.0f;       // 0: greedy
  int topK = 0;                   // 0: off
  float topP = 1.0f;              // 1: off
  float minP = 0.0f;              // 0: off; keep p >= minP * p_max
  float repetitionPenalty = 1.0f; // 1: off (HF/CTRL style: divide positive logits)
  float presencePenalty = 0.0f;   // OpenAI: -= presence * (count > 0)
  float frequencyPenalty = 0.0f;  // OpenAI: -= frequency * count
  std::optional<uint64_t> seed;   // reproducible per request when set
  int logprobs = -1;              // -1 off; N >= 0: chosen token + top-N alternatives
  int64_t maxTokens = 16;
  bool ignoreEos = false;
  std::vector<int32_t> stopTokenIds;
  std::vector<std::string> stopStrings; // matched on the decoded text; not returned
  int n = 1;                      // choices; they share the prompt's KV blocks
};

struct GenerationRequest {
  std::string id;                 // unique among live requests
  std::vector<int32_t> promptIds; // non-empty
  RequestSampling sampling;
  int priority = 0;               // higher runs first when the engine uses priorities
};

struct TopLogprob {
  int32_t token;
  float logprob;
};

// Events of one choice, in order: one per generated token (token >= 0; text
// is what that token completes, possibly empty). The event of the token that
// ends the choice (an EOS or stop token, a stop string, max_tokens or the
// model length) is its final event: finished = true, finishReason and the
// usage fields set. A stop token's own text is not returned (text holds only
// what was held back before it); a stop string and whatever follows it
// within that token are cut. A choice that ends without a token (abort,
// error) gets a final event with token = -1 and empty text. Exactly one
// event per choice has finished = true, and it is the choice's last.
struct TokenEvent {
  std::string requestId;
  int choice = 0;                 // 0..n-1
  int32_t token = -1;             // -1 on a final event with no token
  std::string text;               // newly decoded text (UTF-8 safe, stop strings held back)
  float logprob = 0.0f;           // when requested: raw log-softmax of the model
  std::vector<TopLogprob> top;    // when requested (before penalties/temperature)
  bool finished = false;
  std::string finishReason;       // "stop", "length", "abort", "error"
  std::string error;              // when finishReason == "error"
  int64_t promptTokens = 0;       // on the final event
  int64_t completionTokens = 0;   // on the final event (this choice)
  int64_t cachedPromptTokens = 0; // prompt tokens served from the prefix cache
};

using EventCallback = std::function<void(const TokenEvent &)>;

struct EngineOptions {
  ExecutorOptions executor;
  int64_t maxBatchedTokens = 0;   // per step; 0: the plan's max_tokens
  int64_t maxRunningSeqs = 0;     // 0: the plan's max_seqs
  int64_t maxQueued = 1024;       // add() refuses beyond this (server: 429)
  int64_t maxModelLen = 0;        // prompt + generated; 0: plan max_position
                                  // (never more than the KV cache holds)
  bool enablePrefixCaching = true;
  bool usePriority = false;       // FCFS when false
};

// `swapped`: preempted sequences waiting to be recomputed (counted in
// `waiting` too); waiting/running count sequences (a choice of n > 1 is one).
struct EngineStats {
  int64_t waiting = 0, running = 0, swapped = 0;
  int64_t kvBlocksTotal = 0, kvBlocksUsed = 0, kvBlocksCached = 0;
  int64_t promptTokensComputed = 0;  // prefill tokens actually run
  int64_t promptTokensCached = 0;    // prefill tokens skipped by prefix hits
  int64_t generatedTokens = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;
};

class Engine {
public:
  // The PlanFile must outlive the engine.
  static std::unique_ptr<Engine> create(const PlanFile &plan,
                                        const EngineOptions &opts);
  virtual ~Engine() = default;

  // Queues a request; events arrive through `cb`. Throws ingot::Error with a
  // message naming the field when the request is invalid (empty prompt,
  // prompt + max_tokens over the model length, bad sampling values, ...)
  // and ingot::QueueFull when maxQueued requests are waiting,
  // ingot::EngineStopping after stop().
  virtual void add(GenerationRequest req, EventCallback cb) = 0;
  // Cancels a request: its blocks are freed before the next step; a final
  // event with finishReason "abort" is delivered. Unknown ids are ignored.
  virtual void abort(const std::string &requestId) = 0;
  // Runs one scheduler iteration (one executor step). Returns false when
  // there was nothing to do.
  virtual bool step() = 0;
  // Steps until stop() is called; sleeps while idle.
  virtual void run() = 0;
  // Makes run() return after the current step. With drain, run() first
  // finishes every queued and running request and refuses new ones.
  // Either way add() throws EngineStopping from then on; without drain,
  // run() aborts what is left (final "abort" events) before returning.
  virtual void stop(bool drain) = 0;
  virtual bool hasWork() const = 0;
  virtual EngineStats stats() const = 0;
  virtual const Tokenizer &tokenizer() const = 0;
  virtual int64_t maxModelLen() const = 0;
};

class QueueFull : public Error {
public:
  using Error::Error;
};

// add() after stop(): the engine is shutting down (server: 503).
class EngineStopping : public Error {
public:
  using Error::Error;
};

} // namespace ingot
