// The OpenAI API surface of `ingot serve`: request validation (every error
// is a 400 naming the offending field, e.g. "messages[1].content"), prompt
// construction (tokenized text, token ids, or the chat template's output),
// and the response / stream-chunk JSON of /v1/completions and
// /v1/chat/completions. Unknown request fields are ignored, as OpenAI does;
// fields that would change the output and are not implemented (echo,
// suffix, logit_bias, tools, best_of != n, response_format other than text)
// are refused rather than silently ignored.
#include "server_impl.h"

#include "ingot/runtime/tokenizer.h"

#include <cmath>

namespace ingot {
namespace server {

json errorBody(int status, const std::string &message, const std::string &param, const std::string &code,
               const std::string &type) {
  std::string t = type;
  if (t.empty())
    t = status == 401 ? "authentication_error"
        : status == 404 ? "not_found_error"
        : status == 429 ? "rate_limit_error"
        : status == 503 ? "service_unavailable_error"
        : status >= 500 ? "server_error"
                        : "invalid_request_error";
  return {{"error",
           {{"message", message},
            {"type", t},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

namespace {

[[noreturn]] void bad(const std::string &param, const std::string &msg, const std::string &code = "invalid_value") {
  throw ApiError(400, msg, param, code);
}

bool present(const json &b, const char *k) { return b.contains(k) && !b[k].is_null(); }

double getNumber(const json &b, const char *k, double lo, double hi, double def) {
  if (!present(b, k))
    return def;
  const json &v = b[k];
  if (!v.is_number())
    bad(k, std::string("'") + k + "' must be a number", "invalid_type");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    bad(k, std::string("'") + k + "' must be between " + json(lo).dump() + " and " + json(hi).dump() +
               ", got " + v.dump());
  return d;
}

int64_t getInt(const json &b, const char *k, int64_t lo, int64_t hi, int64_t def) {
  if (!present(b, k))
    return def;
  const json &v = b[k];
  int64_t x;
  if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    bad(k, std::string("'") + k + "' must be an integer", "invalid_type");
  }
  if (x < lo || x > hi)
    bad(k, std::string("'") + k + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
               ", got " + std::to_string(x));
  return x;
}

bool getBool(const json &b, const char *k, bool def) {
  if (!present(b, k))
    return def;
  if (!b[k].is_boolean())
    bad(k, std::string("'") + k + "' must be a boolean", "invalid_type");
  return b[k].get<bool>();
}

std::vector<int32_t> tokenIds(const json &arr, const std::string &param, int64_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const json &v = arr[i];
    if (!v.is_number_integer())
      bad(param + "[" + std::to_string(i) + "]", "token ids must be integers", "invalid_type");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab)
      bad(param + "[" + std::to_string(i) + "]",
          "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    ids.push_back(int32_t(id));
  }
  return ids;
}

// Message content: a string, null (assistant turns with tool calls), or a
// list of {"type": "text", "text": ...} parts, joined.
json messageContent(const json &m, const std::string &param) {
  if (!m.contains("content") || m["content"].is_null())
    return "";
  const json &c = m["content"];
  if (c.is_string())
    return c;
  if (!c.is_array())
    bad(param + ".content", "'content' must be a string or a list of text parts", "invalid_type");
  std::string text;
  for (size_t i = 0; i < c.size(); ++i) {
    const json &part = c[i];
    const std::string pp = param + ".content[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad(pp, "content parts must be objects with a 'type'", "invalid_type");
    if (part["type"] != "text")
      bad(pp + ".type", "only text content parts are supported, got '" + part["type"].get<std::string>() + "'",
          "unsupported_value");
    if (!part.contains("text") || !part["text"].is_string())
      bad(pp + ".text", "a text part needs a string 'text'", "invalid_type");
    if (!text.empty())
      text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

void refuseUnsupported(const json &b, Kind kind) {
  if (getBool(b, "echo", false))
    bad("echo", "echo is not supported by this server", "unsupported_parameter");
  if (present(b, "suffix"))
    bad("suffix", "suffix is not supported by this server", "unsupported_parameter");
  if (present(b, "logit_bias") && !(b["logit_bias"].is_object() && b["logit_bias"].empty()))
    bad("logit_bias", "logit_bias is not supported by this server", "unsupported_parameter");
  if (kind == Kind::Chat) {
    if (present(b, "tools") && !(b["tools"].is_array() && b["tools"].empty()))
      bad("tools", "tools are not supported by this server", "unsupported_parameter");
    if (present(b, "functions"))
      bad("functions", "functions are not supported by this server", "unsupported_parameter");
    if (present(b, "response_format")) {
      const json &rf = b["response_format"];
      if (!rf.is_object() || rf.value("type", "") != "text")
        bad("response_format", "only response_format {\"type\": \"text\"} is supported", "unsupported_parameter");
    }
    if (getBool(b, "continue_final_message", false))
      bad("continue_final_message", "continue_final_message is not supported", "unsupported_parameter");
  }
}

} // namespace

ParsedRequest parseRequest(Kind kind, const json &b, const ModelLimits &lim, const Tokenizer &tok,
                           const ChatTemplate *chat, const ChatFormat &fmt) {
  if (!b.is_object())
    bad("", "the request body must be a JSON object", "invalid_type");
  ParsedRequest p;
  p.kind = kind;
  if (present(b, "model")) {
    if (!b["model"].is_string())
      bad("model", "'model' must be a string", "invalid_type");
    if (b["model"].get<std::string>() != lim.modelName)
      throw ApiError(404, "The model '" + b["model"].get<std::string>() + "' does not exist; this server serves '" +
                              lim.modelName + "'",
                     "model", "model_not_found");
  }
  refuseUnsupported(b, kind);

  // --- prompt(s)
  if (kind == Kind::Completion) {
    if (!b.contains("prompt"))
      bad("prompt", "'prompt' is required", "missing_required_parameter");
    const json &pr = b["prompt"];
    auto addText = [&](const std::string &text, const std::string &param) {
      std::vector<int32_t> ids = tok.encode(text, true);
      if (ids.empty())
        bad(param, "the prompt is empty");
      p.prompts.push_back(std::move(ids));
    };
    if (pr.is_string()) {
      addText(pr.get<std::string>(), "prompt");
    } else if (pr.is_array() && !pr.empty() && pr[0].is_number()) {
      p.prompts.push_back(tokenIds(pr, "prompt", lim.vocabSize));
    } else if (pr.is_array() && !pr.empty()) {
      if (int64_t(pr.size()) > lim.maxPrompts)
        bad("prompt", "at most " + std::to_string(lim.maxPrompts) + " prompts per request");
      for (size_t i = 0; i < pr.size(); ++i) {
        const std::string param = "prompt[" + std::to_string(i) + "]";
        if (pr[i].is_string())
          addText(pr[i].get<std::string>(), param);
        else if (pr[i].is_array() && !pr[i].empty())
          p.prompts.push_back(tokenIds(pr[i], param, lim.vocabSize));
        else
          bad(param, "each prompt must be a string or a non-empty list of token ids", "invalid_type");
      }
    } else {
      bad("prompt", "'prompt' must be a string, a list of strings, or a (list of) non-empty token id list",
          "invalid_type");
    }
  } else {
    if (!chat)
      throw ApiError(400,
                     "this model has no chat template; start the server with --chat-template "
                     "(chatml, llama3, ... or a file)",
                     "messages", "chat_template_missing");
    if (!b.contains("messages"))
      bad("messages", "'messages' is required", "missing_required_parameter");
    const json &ms = b["messages"];
    if (!ms.is_array() || ms.empty())
      bad("messages", "'messages' must be a non-empty list", "invalid_type");
    json msgs = json::array();
    for (size_t i = 0; i < ms.size(); ++i) {
      const std::string param = "messages[" + std::to_string(i) + "]";
      const json &m = ms[i];
      if (!m.is_object())
        bad(param, "each message must be an object", "invalid_type");
      if (!m.contains("role") || !m["role"].is_string())
        bad(param + ".role", "each message needs a string 'role'", "missing_required_parameter");
      const std::string role = m["role"].get<std::string>();
      static const char *roles[] = {"system", "user", "assistant", "tool", "developer", "function"};
      bool known = false;
      for (const char *r : roles)
        known = known || role == r;
      if (!known)
        bad(param + ".role", "unknown role '" + role + "'");
      json copy = m;
      copy["content"] = messageContent(m, param);
      msgs.push_back(std::move(copy));
    }
    json ctx = json::object();
    if (present(b, "chat_template_kwargs")) {
      if (!b["chat_template_kwargs"].is_object())
        bad("chat_template_kwargs", "'chat_template_kwargs' must be an object", "invalid_type");
      ctx = b["chat_template_kwargs"];
    }
    ctx["messages"] = msgs;
    // transformers passes these even when absent (None), so templates that
    // test `tools is not none` behave the same here.
    if (!ctx.contains("tools"))
      ctx["tools"] = nullptr;
    if (!ctx.contains("documents"))
      ctx["documents"] = nullptr;
    ctx["add_generation_prompt"] = getBool(b, "add_generation_prompt", true);
    ctx["bos_token"] = fmt.bosToken;
    ctx["eos_token"] = fmt.eosToken;
    ctx["unk_token"] = fmt.unkToken;
    ctx["pad_token"] = fmt.padToken;
    try {
      p.renderedPrompt = chat->render(ctx);
    } catch (const Error &e) {
      bad("messages", std::string("the chat template failed: ") + e.what(), "chat_template_error");
    }
    // The template writes the special tokens itself (BOS included), as
    // transformers' apply_chat_template(tokenize=True) does.
    std::vector<int32_t> ids = tok.encode(p.renderedPrompt, false);
    if (ids.empty())
      bad("messages", "the chat template produced an empty prompt");
    p.prompts.push_back(std::move(ids));
  }
  for (size_t i = 0; i < p.prompts.size(); ++i) {
    const int64_t n = int64_t(p.prompts[i].size());
    if (n > lim.maxPromptTokens)
      bad(kind == Kind::Chat ? "messages" : p.prompts.size() > 1 ? "prompt[" + std::to_string(i) + "]" : "prompt",
          "the prompt has " + std::to_string(n) + " tokens; this server accepts at most " +
              std::to_string(lim.maxPromptTokens) + " (the model's maximum context length is " +
              std::to_string(lim.maxModelLen) + ")",
          "context_length_exceeded");
  }

  // --- sampling
  RequestSampling &s = p.sampling;
  s.temperature = float(getNumber(b, "temperature", 0.0, 1e4, 1.0));
  s.topP = float(getNumber(b, "top_p", 0.0, 1.0, 1.0));
  if (present(b, "top_p") && s.topP <= 0.0f)
    bad("top_p", "'top_p' must be in (0, 1]");
  const int64_t topK = getInt(b, "top_k", -1, 1 << 30, 0);
  s.topK = topK < 0 ? 0 : int(topK);
  s.minP = float(getNumber(b, "min_p", 0.0, 1.0, 0.0));
  s.presencePenalty = float(getNumber(b, "presence_penalty", -2.0, 2.0, 0.0));
  s.frequencyPenalty = float(getNumber(b, "frequency_penalty", -2.0, 2.0, 0.0));
  s.repetitionPenalty = float(getNumber(b, "repetition_penalty", 1e-6, 1e4, 1.0));
  if (present(b, "seed"))
    s.seed = uint64_t(getInt(b, "seed", INT64_MIN, INT64_MAX, 0));
  s.ignoreEos = getBool(b, "ignore_eos", false);
  s.n = int(getInt(b, "n", 1, lim.maxN, 1));
  if (present(b, "best_of") && getInt(b, "best_of", 1, lim.maxN, 1) != s.n)
    bad("best_of", "best_of other than n is not supported", "unsupported_parameter");
  if (present(b, "stop")) {
    const json &st = b["stop"];
    if (st.is_string()) {
      if (!st.get<std::string>().empty())
        s.stopStrings.push_back(st.get<std::string>());
    } else if (st.is_array()) {
      if (st.size() > 16)
        bad("stop", "at most 16 stop sequences");
      for (size_t i = 0; i < st.size(); ++i) {
        if (!st[i].is_string())
          bad("stop[" + std::to_string(i) + "]", "stop sequences must be strings", "invalid_type");
        if (!st[i].get<std::string>().empty())
          s.stopStrings.push_back(st[i].get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or a list of strings", "invalid_type");
    }
  }
  if (present(b, "stop_token_ids")) {
    if (!b["stop_token_ids"].is_array())
      bad("stop_token_ids", "'stop_token_ids' must be a list of token ids", "invalid_type");
    s.stopTokenIds = tokenIds(b["stop_token_ids"], "stop_token_ids", lim.vocabSize);
  }
  if (kind == Kind::Completion) {
    if (present(b, "logprobs")) {
      if (b["logprobs"].is_boolean())
        bad("logprobs", "'logprobs' must be an integer for completions", "invalid_type");
      p.wantLogprobs = true;
      p.topLogprobs = int(getInt(b, "logprobs", 0, lim.maxLogprobs, 0));
    }
  } else {
    p.wantLogprobs = getBool(b, "logprobs", false);
    if (present(b, "top_logprobs")) {
      p.topLogprobs = int(getInt(b, "top_logprobs", 0, lim.maxLogprobs, 0));
      if (!p.wantLogprobs && p.topLogprobs > 0)
        bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    }
  }
  s.logprobs = p.wantLogprobs ? p.topLogprobs : -1;
  p.tokensAsIds = getBool(b, "return_tokens_as_token_ids", false);
  p.priority = int(getInt(b, "priority", -1000000, 1000000, 0));

  p.stream = getBool(b, "stream", false);
  if (present(b, "stream_options")) {
    const json &so = b["stream_options"];
    if (!so.is_object())
      bad("stream_options", "'stream_options' must be an object", "invalid_type");
    if (!p.stream)
      bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (so.contains("include_usage") && !so["include_usage"].is_null()) {
      if (!so["include_usage"].is_boolean())
        bad("stream_options.include_usage", "'include_usage' must be a boolean", "invalid_type");
      p.includeUsage = so["include_usage"].get<bool>();
    }
  }

  // --- lengths
  const char *mtKey = present(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  const bool mtGiven = present(b, mtKey);
  const int64_t mt = getInt(b, mtKey, 1, lim.maxTokens, 0);
  for (size_t i = 0; i < p.prompts.size(); ++i) {
    const int64_t room = lim.maxModelLen - int64_t(p.prompts[i].size());
    int64_t want = mt;
    if (!mtGiven)
      want = kind == Kind::Completion ? std::min<int64_t>(16, room) : std::min(room, lim.maxTokens);
    if (want < 1 || want > room)
      bad(mtGiven ? mtKey : (kind == Kind::Chat ? "messages" : "prompt"),
          "This model's maximum context length is " + std::to_string(lim.maxModelLen) +
              " tokens. However, you requested " + std::to_string(int64_t(p.prompts[i].size()) + std::max<int64_t>(want, 1)) +
              " tokens (" + std::to_string(p.prompts[i].size()) + " in the prompt, " +
              std::to_string(std::max<int64_t>(want, 1)) + " in the completion).",
          "context_length_exceeded");
    p.maxTokensPerPrompt.push_back(want);
  }
  return p;
}

std::vector<GenerationRequest> engineRequests(const ParsedRequest &p, const std::string &baseId) {
  std::vector<GenerationRequest> out;
  for (size_t k = 0; k < p.prompts.size(); ++k) {
    GenerationRequest r;
    r.id = baseId + "-" + std::to_string(k);
    r.promptIds = p.prompts[k];
    r.sampling = p.sampling;
    r.sampling.maxTokens = p.maxTokensPerPrompt[k];
    r.priority = p.priority;
    out.push_back(std::move(r));
  }
  return out;
}

json usageJson(const Usage &u) {
  return {{"prompt_tokens", u.promptTokens},
          {"completion_tokens", u.completionTokens},
          {"total_tokens", u.promptTokens + u.completionTokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cachedTokens}}}};
}

namespace {

json bytesOf(const std::string &s) {
  json a = json::array();
  for (unsigned char c : s)
    a.push_back(int(c));
  return a;
}

// Logprobs for a run of tokens, in the completions (legacy) format.
json legacyLogprobs(const std::vector<int32_t> &tokens, const std::vector<float> &lps,
                    const std::vector<std::vector<TopLogprob>> &top, size_t textOffset, const TokenText &tt) {
  json toks = json::array(), tlp = json::array(), tops = json::array(), offs = json::array();
  size_t off = textOffset;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string t = tt(tokens[i]);
    toks.push_back(t);
    tlp.push_back(lps[i]);
    json m = json::object();
    for (const auto &c : top[i])
      m[tt(c.token)] = c.logprob;
    tops.push_back(m);
    offs.push_back(off);
    off += t.size();
  }
  return {{"tokens", toks}, {"token_logprobs", tlp}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json chatLogprobs(const std::vector<int32_t> &tokens, const std::vector<float> &lps,
                  const std::vector<std::vector<TopLogprob>> &top, const TokenText &tt) {
  json content = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string t = tt(tokens[i]);
    json alts = json::array();
    for (const auto &c : top[i]) {
      const std::string ct = tt(c.token);
      alts.push_back({{"token", ct}, {"logprob", c.logprob}, {"bytes", bytesOf(ct)}});
    }
    content.push_back({{"token", t}, {"logprob", lps[i]}, {"bytes", bytesOf(t)}, {"top_logprobs", alts}});
  }
  return {{"content", content}};
}

json finishJson(const std::string &r) { return r.empty() ? json(nullptr) : json(r); }

} // namespace

json completionResponse(const std::string &id, int64_t created, const std::string &model,
                        const std::vector<ChoiceResult> &choices, const Usage &u, bool logprobs,
                        const TokenText &tt) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult &c = choices[i];
    cs.push_back({{"index", i},
                  {"text", c.text},
                  {"logprobs", logprobs ? legacyLogprobs(c.tokens, c.logprobs, c.top, 0, tt) : json(nullptr)},
                  {"finish_reason", finishJson(c.finishReason)}});
  }
  return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
          {"choices", cs}, {"usage", usageJson(u)}};
}

json chatResponse(const std::string &id, int64_t created, const std::string &model,
                  const std::vector<ChoiceResult> &choices, const Usage &u, bool logprobs, const TokenText &tt) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult &c = choices[i];
    cs.push_back({{"index", i},
                  {"message", {{"role", "assistant"}, {"content", c.text}}},
                  {"logprobs", logprobs ? chatLogprobs(c.tokens, c.logprobs, c.top, tt) : json(nullptr)},
                  {"finish_reason", finishJson(c.finishReason)}});
  }
  return {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
          {"choices", cs}, {"usage", usageJson(u)}};
}

json streamChunk(Kind kind, const std::string &id, int64_t created, const std::string &model, int index,
                 const TokenEvent &ev, bool logprobs, bool includeUsage, size_t textOffset, const TokenText &tt) {
  const bool hasToken = ev.token >= 0;
  json lp = nullptr;
  if (logprobs && hasToken) {
    std::vector<int32_t> t{ev.token};
    std::vector<float> l{ev.logprob};
    std::vector<std::vector<TopLogprob>> top{ev.top};
    lp = kind == Kind::Chat ? chatLogprobs(t, l, top, tt) : legacyLogprobs(t, l, top, textOffset, tt);
  }
  json choice;
  if (kind == Kind::Chat) {
    json delta = json::object();
    if (!ev.text.empty() || !ev.finished)
      delta["content"] = ev.text;
    choice = {{"index", index}, {"delta", delta}, {"logprobs", lp},
              {"finish_reason", ev.finished ? finishJson(ev.finishReason) : json(nullptr)}};
  } else {
    choice = {{"index", index}, {"text", ev.text}, {"logprobs", lp},
              {"finish_reason", ev.finished ? finishJson(ev.finishReason) : json(nullptr)}};
  }
  json j = {{"id", id},
            {"object", kind == Kind::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})}};
  if (includeUsage)
    j["usage"] = nullptr;
  return j;
}

json chatRoleChunk(const std::string &id, int64_t created, const std::string &model, int index, bool includeUsage) {
  json j = {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"choices", json::array({{{"index", index},
                                      {"delta", {{"role", "assistant"}, {"content", ""}}},
                                      {"logprobs", nullptr},
                                      {"finish_reason", nullptr}}})}};
  if (includeUsage)
    j["usage"] = nullptr;
  return j;
}

json usageChunk(Kind kind, const std::string &id, int64_t created, const std::string &model, const Usage &u) {
  return {{"id", id},
          {"object", kind == Kind::Chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage", usageJson(u)}};
}

std::string sse(const json &j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

} // namespace server
} // namespace ingot
