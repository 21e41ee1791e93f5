// Chat templates: a Jinja subset interpreter for the `chat_template` of a
// Hugging Face tokenizer_config.json, rendered the way transformers'
// apply_chat_template renders it (trim_blocks and lstrip_blocks on, its
// `tojson`, `raise_exception` and `strftime_now`, loop controls).
//
// Supported: {{ }}, {% %}, {# #} with `-`/`+` whitespace control, raw;
// if/elif/else, for (tuple targets, `if` filter, else, the `loop` object,
// break/continue), set (names, namespace attributes, block set), macro,
// generation (transparent); expressions with literals, lists, dicts, tuples,
// attribute/subscript/slice access, calls with keyword arguments, filters,
// `is` tests, `in`, arithmetic, `~`, comparisons, and/or/not, conditional
// expressions; common filters, tests and Python string/dict methods (see
// docs/serving.md). Anything else is refused at parse time or at render time
// with an ingot::Error naming the template line and column.
//
// Invariants: rendering never touches global state and is const, so one
// parsed template may be rendered from several threads at once; a render is
// bounded (output size, loop iterations, macro recursion) so a hostile
// template or request cannot exhaust memory.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>

namespace ingot {

namespace jinja {
struct Template;
}

class ChatTemplate {
public:
  // Parses `source`. `name` appears in error messages. Throws ingot::Error.
  explicit ChatTemplate(const std::string &source, const std::string &name = "chat template");
  ~ChatTemplate();
  ChatTemplate(ChatTemplate &&) noexcept;
  ChatTemplate &operator=(ChatTemplate &&) noexcept;

  // Renders with `context` (a JSON object: messages, add_generation_prompt,
  // bos_token, ...; ordered, because dict order shows in tojson and loops). Throws ingot::Error on a render error, including the
  // template's own raise_exception("...") (its message is kept verbatim).
  std::string render(const nlohmann::ordered_json &context) const;

  const std::string &source() const { return source_; }

private:
  std::string source_;
  std::shared_ptr<const jinja::Template> tpl_;
};

// The Jinja source of a built-in template by name ("chatml", "llama3",
// "llama2", "mistral", "zephyr", "plain"), or "" when there is none.
std::string builtinChatTemplate(const std::string &name);

// Everything needed to turn OpenAI `messages` into a prompt for one model.
struct ChatFormat {
  std::string templateSource;   // Jinja source actually used
  std::string templateOrigin;   // "tokenizer_config.json", "builtin:chatml", a file path
  std::string bosToken, eosToken, unkToken, padToken; // from tokenizer_config.json
};

// Chooses the template: `override_` when non-empty (a built-in name or a file
// path), else tokenizer_config.json's chat_template (a string, or a list of
// {name, template} from which "default" is taken). Returns templateSource ""
// when the model has none (chat requests are then refused). Throws
// ingot::Error when the override names neither a built-in nor a readable file
// or tokenizer_config.json is not valid JSON.
ChatFormat resolveChatFormat(const std::string &tokenizerConfigJson,
                             const std::string &override_);

} // namespace ingot
