// Internals of the HTTP server (server*.cpp), kept free of httplib so the
// OpenAI request parsing, response building and metrics can be unit-tested
// without sockets:
//   server_openai.cpp    request JSON -> ParsedRequest (validation naming the
//                        field), engine events -> response JSON / SSE chunks
//   server_metrics.cpp   counters, gauges and histograms in Prometheus text
//   server.cpp           the HTTP routes, streaming, auth, limits, drain
#pragma once
#include "ingot/runtime/chat_template.h"
#include "ingot/runtime/engine.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/server.h"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ingot {
namespace server {

// Ordered: responses keep OpenAI's field order, and message dicts keep the
// client's key order for the chat template (tojson, loops over items).
using json = nlohmann::ordered_json;

// An error returned to the client as {"error":{"message","type","param","code"}}.
struct ApiError : Error {
  int status;
  std::string type, param, code;
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = {})
      : Error(std::move(message)), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}
};

json errorBody(int status, const std::string &message, const std::string &param = {},
               const std::string &code = {}, const std::string &type = {});

enum class Kind { Completion, Chat };

// What the handler needs to know about the model to validate requests.
struct ModelLimits {
  std::string modelName;
  int64_t maxModelLen = 0;
  int64_t maxPromptTokens = 0; // resolved (never 0)
  int64_t maxTokens = 0;       // resolved (never 0)
  int64_t vocabSize = 0;
  int maxN = 16, maxPrompts = 64, maxLogprobs = 20;
};

struct ParsedRequest {
  Kind kind = Kind::Completion;
  bool stream = false;
  bool includeUsage = false;
  std::vector<std::vector<int32_t>> prompts; // one engine request each
  RequestSampling sampling;                  // shared by all prompts (maxTokens resolved per prompt)
  std::vector<int64_t> maxTokensPerPrompt;
  int priority = 0;
  // Logprobs: completions use the legacy format (logprobs: N); chat the
  // structured one (logprobs: true, top_logprobs: N).
  bool wantLogprobs = false;
  int topLogprobs = 0;
  bool tokensAsIds = false;   // vLLM's return_tokens_as_token_ids: "token_id:N"
  std::string renderedPrompt; // chat: the template's output (for debugging)
};

// Turns the request JSON into engine work. Throws ApiError (400 naming the
// field, 404 for an unknown model). `tok` tokenizes string prompts; `chat`
// renders messages (nullptr: chat requests are refused).
ParsedRequest parseRequest(Kind kind, const json &body, const ModelLimits &lim, const Tokenizer &tok,
                           const ChatTemplate *chat, const ChatFormat &fmt);

// Builds the engine requests of a parsed request: ids "<base>-<k>".
std::vector<GenerationRequest> engineRequests(const ParsedRequest &p, const std::string &baseId);

// Accumulates one choice for a non-streaming response.
struct ChoiceResult {
  std::string text;
  std::string finishReason;
  std::string error;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TopLogprob>> top;
  int64_t completionTokens = 0;
  bool finished = false;
};

struct Usage {
  int64_t promptTokens = 0, completionTokens = 0, cachedTokens = 0;
};
json usageJson(const Usage &u);

// Whole responses and streaming chunks. `tokenText` maps a token id to its
// text for logprobs.
using TokenText = std::function<std::string(int32_t)>;
json completionResponse(const std::string &id, int64_t created, const std::string &model,
                        const std::vector<ChoiceResult> &choices, const Usage &u, bool logprobs,
                        const TokenText &tokenText);
json chatResponse(const std::string &id, int64_t created, const std::string &model,
                  const std::vector<ChoiceResult> &choices, const Usage &u, bool logprobs,
                  const TokenText &tokenText);
// One SSE chunk for one engine event of choice `index` (text, logprobs,
// finish_reason); `textOffset` is the choice's text length so far
// (completions' text_offset).
json streamChunk(Kind kind, const std::string &id, int64_t created, const std::string &model, int index,
                 const TokenEvent &ev, bool logprobs, bool includeUsage, size_t textOffset,
                 const TokenText &tokenText);
json chatRoleChunk(const std::string &id, int64_t created, const std::string &model, int index,
                   bool includeUsage);
json usageChunk(Kind kind, const std::string &id, int64_t created, const std::string &model,
                const Usage &u);
std::string sse(const json &j); // "data: <json>\n\n"

// ---- metrics

class Histogram {
public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double v);
  void render(std::string &out, const std::string &name, const std::string &help) const;

private:
  std::vector<double> bounds_;
  mutable std::mutex m_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
public:
  Metrics();
  // Outcome of a generation request: "stop", "length", "abort", "error".
  void finished(const std::string &reason);
  void httpStatus(int status); // every response
  void promptTokens(int64_t n) { promptTokens_ += n; }
  void generationTokens(int64_t n) { generationTokens_ += n; }
  Histogram ttft, itl, e2e;
  std::string render(const EngineStats &s, int64_t inflight, bool draining) const;

private:
  mutable std::mutex m_;
  std::map<std::string, uint64_t> finished_;
  std::map<int, uint64_t> http_;
  std::atomic<int64_t> promptTokens_{0}, generationTokens_{0};
};

} // namespace server
} // namespace ingot
