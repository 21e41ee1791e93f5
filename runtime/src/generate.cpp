// Single-sequence generation and logits extraction (see generate.h). The
// sequence's cache index of a token is also its rope position.
#include "ingot/runtime/generate.h"
#include "ingot/runtime/error.h"

#include <algorithm>
#include <chrono>

namespace ingot {

LinearSequence::LinearSequence(const PagedKvCache &cache, int64_t maxLen)
    : blockSize_(cache.blockSize()) {
  capacity_ = cache.numBlocks() * cache.blockSize();
  if (maxLen > 0)
    capacity_ = std::min(capacity_, maxLen);
  capacity_ = std::min<int64_t>(capacity_, INT32_MAX);
}

BatchMeta LinearSequence::append(int32_t n) {
  INGOT_CHECK(n >= 1, "cannot append " + std::to_string(n) + " tokens to a sequence");
  INGOT_CHECK(int64_t(len_) + n <= capacity_,
              "sequence of " + std::to_string(len_) + " tokens cannot grow by " +
                  std::to_string(n) + ": the context holds " + std::to_string(capacity_));
  BatchMeta b;
  SeqStep s;
  s.queryStart = 0;
  s.queryLen = n;
  s.contextLen = len_ + n;
  const int32_t blocks = (s.contextLen + blockSize_ - 1) / blockSize_;
  for (int32_t i = 0; i < blocks; ++i)
    s.blockTable.push_back(i);
  b.seqs.push_back(std::move(s));
  for (int32_t i = 0; i < n; ++i)
    b.slotMapping.push_back(int64_t(len_) + i); // block i holds slots i*bs.. in order
  len_ += n;
  return b;
}

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Runs ids[begin, begin+n) of `seq` as one step and returns its logits row.
const float *runChunk(Executor &ex, LinearSequence &seq, const std::vector<int32_t> &ids,
                      size_t begin, int32_t n) {
  std::vector<int32_t> tokens(ids.begin() + long(begin), ids.begin() + long(begin) + n);
  std::vector<int32_t> positions(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i)
    positions[size_t(i)] = seq.length() + i;
  BatchMeta b = seq.append(n);
  return ex.step(tokens, positions, b);
}

} // namespace

GenerateResult generate(Executor &ex, const std::vector<int32_t> &prompt,
                        const GenerateOptions &opts,
                        const std::function<void(int32_t)> &onToken) {
  INGOT_CHECK(!prompt.empty(), "the prompt has no tokens");
  LinearSequence seq(ex.kvCache(), opts.maxContext);
  INGOT_CHECK(int64_t(prompt.size()) <= seq.capacity(),
              "the prompt has " + std::to_string(prompt.size()) +
                  " tokens, more than the context of " + std::to_string(seq.capacity()));
  int64_t chunk = ex.maxTokensPerStep();
  if (opts.prefillChunk > 0)
    chunk = std::min(chunk, opts.prefillChunk);
  GenerateResult res;
  res.stats.promptTokens = int64_t(prompt.size());
  Sampler sampler(opts.sampling);
  const int64_t vocab = ex.vocabSize();

  auto t0 = Clock::now();
  const float *logits = nullptr;
  for (size_t b = 0; b < prompt.size(); b += size_t(chunk)) {
    const int32_t n = int32_t(std::min<int64_t>(chunk, int64_t(prompt.size() - b)));
    logits = runChunk(ex, seq, prompt, b, n);
  }
  if (opts.maxTokens <= 0) {
    res.stopReason = "max_tokens";
    res.stats.prefillSeconds = secondsSince(t0);
    return res;
  }
  int32_t next = sampler.sample(logits, vocab);
  res.stats.prefillSeconds = secondsSince(t0);
  auto t1 = Clock::now();
  for (;;) {
    res.tokens.push_back(next);
    if (onToken)
      onToken(next);
    const bool eos = std::find(opts.eosTokenIds.begin(), opts.eosTokenIds.end(), next) !=
                     opts.eosTokenIds.end();
    if (eos && !opts.ignoreEos) {
      res.stopReason = "eos";
      break;
    }
    if (int64_t(res.tokens.size()) >= opts.maxTokens) {
      res.stopReason = "max_tokens";
      break;
    }
    if (seq.length() >= seq.capacity()) {
      res.stopReason = "context";
      break;
    }
    std::vector<int32_t> one = {next};
    logits = runChunk(ex, seq, one, 0, 1);
    next = sampler.sample(logits, vocab);
  }
  res.stats.generatedTokens = int64_t(res.tokens.size());
  res.stats.decodeSeconds = secondsSince(t1);
  return res;
}

GenerateResult generateText(Executor &ex, const Tokenizer &tok, const std::string &prompt,
                            const GenerateOptions &opts,
                            const std::function<void(const std::string &)> &onText) {
  const std::vector<int32_t> ids = tok.encode(prompt, true);
  StreamDecoder dec(tok, true);
  GenerateResult r = generate(ex, ids, opts, [&](int32_t id) {
    const std::string s = dec.push(id);
    if (!s.empty() && onText)
      onText(s);
  });
  const std::string rest = dec.flush();
  if (!rest.empty() && onText)
    onText(rest);
  return r;
}

std::vector<float> computeLogits(Executor &ex, const std::vector<int32_t> &ids,
                                 const std::string &mode, int64_t &rows) {
  INGOT_CHECK(!ids.empty(), "no token ids given");
  int64_t chunk;
  if (mode == "prefill") {
    chunk = int64_t(ids.size());
    INGOT_CHECK(chunk <= ex.maxTokensPerStep(),
                "prefill of " + std::to_string(chunk) + " tokens exceeds the plan's " +
                    std::to_string(ex.maxTokensPerStep()) + " tokens per step (use chunked:N)");
  } else if (mode == "stepwise") {
    chunk = 1;
  } else if (mode.rfind("chunked:", 0) == 0) {
    const std::string n = mode.substr(8);
    INGOT_CHECK(!n.empty() && n.size() < 10 && n.find_first_not_of("0123456789") == std::string::npos,
                "bad mode \"" + mode + "\": expected chunked:N with N a positive integer");
    chunk = std::stoll(n);
    INGOT_CHECK(chunk >= 1 && chunk <= ex.maxTokensPerStep(),
                "bad mode \"" + mode + "\": N must be in [1, " +
                    std::to_string(ex.maxTokensPerStep()) + "]");
  } else {
    throw Error("unknown logits mode \"" + mode + "\" (expected prefill, stepwise or chunked:N)");
  }
  LinearSequence seq(ex.kvCache());
  const int64_t vocab = ex.vocabSize();
  std::vector<float> out;
  rows = 0;
  for (size_t b = 0; b < ids.size(); b += size_t(chunk)) {
    const int32_t n = int32_t(std::min<int64_t>(chunk, int64_t(ids.size() - b)));
    const float *l = runChunk(ex, seq, ids, b, n);
    out.insert(out.end(), l, l + vocab);
    ++rows;
  }
  return out;
}

} // namespace ingot
