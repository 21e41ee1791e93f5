// Per-request token sampling for the serving engine (OpenAI / vLLM
// semantics). Order of processing for one token:
//  1. logprobs: log-softmax of the model's raw logits (before penalties,
//     temperature and filters), as vLLM's default "raw_logprobs";
//  2. penalties: repetition (HF/CTRL: over prompt + generated tokens,
//     positive logits divided, negative multiplied), then frequency and
//     presence (OpenAI: over generated tokens, l -= f * count + p * [count>0]);
//  3. temperature 0: argmax (lowest id on ties); otherwise softmax(l / T);
//  4. min-p (keep p >= minP * p_max), then top-k, then top-p (the smallest
//     most-probable set reaching topP), renormalised, one uniform draw.
// Each sequence has its own generator, so a seeded request draws the same
// tokens whatever it is batched with. The filtering core is shared with
// ingot::Sampler (sampler.h), which is the special case without min-p and
// penalties.
#pragma once
#include "ingot/runtime/engine.h"

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace ingot {

// Temperature, min-p, top-k and top-p over `logits` with one draw from
// `rng` (none when greedy or topK == 1). NaN logits never win.
int32_t sampleFiltered(const float *logits, int64_t vocab, float temperature, int topK,
                       float topP, float minP, std::mt19937_64 &rng);

// Log-softmax of logits[token]; with topN > 0 also the topN most likely ids
// (ties: lower id first) and their log-probabilities.
float rawLogprobs(const float *logits, int64_t vocab, int32_t token, int topN,
                  std::vector<TopLogprob> &top);

// The generator seed of choice `choice` of a request seeded with `seed`:
// `seed` itself for choice 0, a hash of both for the others.
uint64_t choiceSeed(uint64_t seed, int choice);

struct SampledToken {
  int32_t token = -1;
  float logprob = 0.0f;         // when logprobs >= 0
  std::vector<TopLogprob> top;  // logprobs alternatives
};

class SequenceSampler {
public:
  // `prompt` feeds the repetition penalty.
  SequenceSampler(const RequestSampling &p, uint64_t seed, const std::vector<int32_t> &prompt);
  // Samples from raw logits [vocab] and records the token for penalties.
  SampledToken sample(const float *logits, int64_t vocab);

private:
  RequestSampling p_;
  std::mt19937_64 rng_;
  std::vector<int32_t> seen_;                  // sorted prompt + generated ids (repetition)
  std::unordered_map<int32_t, int32_t> counts_; // generated ids (presence/frequency)
};

} // namespace ingot
