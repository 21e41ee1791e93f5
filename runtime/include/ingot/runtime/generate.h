// Single-sequence generation on an Executor, used by `ingot run`,
// `ingot generate-ids` and `ingot logits`. The sequence owns KV blocks
// 0, 1, 2, ... of the cache in order (a trivial allocator; the real block
// manager that shares the cache between sequences comes later). Prefill may
// be split into chunks, which exercises mixed positions and context lengths.
#pragma once
#include "ingot/runtime/executor.h"
#include "ingot/runtime/sampler.h"
#include "ingot/runtime/tokenizer.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ingot {

// One sequence laid out linearly in the KV cache.
class LinearSequence {
public:
  // maxLen <= 0: as many tokens as the cache holds.
  LinearSequence(const PagedKvCache &cache, int64_t maxLen = 0);
  int32_t length() const { return len_; }
  int64_t capacity() const { return capacity_; }
  // Batch metadata for appending `n` tokens (positions length()..+n-1) as
  // the only sequence of a step; advances length(). Throws when full.
  BatchMeta append(int32_t n);
  void reset() { len_ = 0; }

private:
  int blockSize_;
  int64_t capacity_;
  int32_t len_ = 0;
};

struct GenerateOptions {
  int64_t maxTokens = 128;          // new tokens at most
  SamplingParams sampling;
  int64_t prefillChunk = 0;         // tokens per prefill step; 0: as many as a step allows
  std::vector<int32_t> eosTokenIds; // stop after sampling one of these
  bool ignoreEos = false;
  int64_t maxContext = 0;           // prompt + generated at most (0: cache capacity)
};

struct GenerateStats {
  int64_t promptTokens = 0;
  int64_t generatedTokens = 0;
  double prefillSeconds = 0.0; // until the first token is sampled
  double decodeSeconds = 0.0;  // the remaining decode steps
};

struct GenerateResult {
  std::vector<int32_t> tokens; // generated ids, including a final EOS
  std::string stopReason;      // "eos", "max_tokens" or "context"
  GenerateStats stats;
};

// Prefills `prompt` (non-empty) and samples up to opts.maxTokens tokens.
// onToken is called with each id as soon as it is sampled.
GenerateResult generate(Executor &ex, const std::vector<int32_t> &prompt,
                        const GenerateOptions &opts,
                        const std::function<void(int32_t)> &onToken = {});

// Tokenizes `prompt` (with the tokenizer's special tokens, e.g. BOS),
// generates, and streams the decoded text (special tokens skipped) to onText.
GenerateResult generateText(Executor &ex, const Tokenizer &tok,
                            const std::string &prompt, const GenerateOptions &opts,
                            const std::function<void(const std::string &)> &onText);

// Logits for `ids` as one fresh sequence, by mode:
//   "prefill"   one step; 1 row (the last position)
//   "stepwise"  one token per step; a row for every position
//   "chunked:N" steps of N tokens; a row per chunk (its last position)
// Returns rows*vocab floats row-major and sets `rows`. The cache is reused
// from block 0 (earlier contents are overwritten).
std::vector<float> computeLogits(Executor &ex, const std::vector<int32_t> &ids,
                                 const std::string &mode, int64_t &rows);

} // namespace ingot
