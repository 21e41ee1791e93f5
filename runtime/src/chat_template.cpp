// ChatTemplate (parse once, render per request), the built-in templates, and
// choosing a model's template from tokenizer_config.json or an override.
// The built-ins are written in the same Jinja subset, so every chat request
// goes through one renderer.
#include "ingot/runtime/chat_template.h"
#include "chat_template_impl.h"

#include <fstream>
#include <map>
#include <sstream>

namespace ingot {

ChatTemplate::ChatTemplate(const std::string &source, const std::string &name)
    : source_(source), tpl_(jinja::parseTemplate(source, name)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate &&) noexcept = default;
ChatTemplate &ChatTemplate::operator=(ChatTemplate &&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json &context) const {
  try {
    return jinja::renderTemplate(*tpl_, context);
  } catch (const jinja::RaisedError &e) {
    throw Error(e.what());
  }
}

std::string builtinChatTemplate(const std::string &name) {
  static const std::map<std::string, std::string> templates = {
      {"chatml",
       "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
       "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
       "{% endif %}"},
      {"llama3",
       "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
       "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
       "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"},
      {"llama2",
       "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
       "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
       "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
       "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
       "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
       "{% if loop.index0 == 0 and system_message != false %}"
       "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
       "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
       "{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
       "{{ ' ' + content | trim + ' ' + eos_token }}{% endif %}{% endfor %}"},
      {"mistral",
       "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
       "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}"
       "{% endif %}{% endfor %}"},
      {"zephyr",
       "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + "
       "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
      {"plain",
       "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}"
       "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"},
  };
  auto it = templates.find(name);
  return it == templates.end() ? std::string() : it->second;
}

namespace {

std::string specialToken(const nlohmann::json &cfg, const char *key) {
  if (!cfg.contains(key))
    return "";
  const auto &v = cfg[key];
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

} // namespace

ChatFormat resolveChatFormat(const std::string &tokenizerConfigJson, const std::string &override_) {
  ChatFormat f;
  nlohmann::json cfg = nlohmann::json::object();
  if (!tokenizerConfigJson.empty()) {
    cfg = nlohmann::json::parse(tokenizerConfigJson, nullptr, false);
    INGOT_CHECK(!cfg.is_discarded() && cfg.is_object(), "tokenizer_config.json in the plan is not a JSON object");
  }
  f.bosToken = specialToken(cfg, "bos_token");
  f.eosToken = specialToken(cfg, "eos_token");
  f.unkToken = specialToken(cfg, "unk_token");
  f.padToken = specialToken(cfg, "pad_token");

  if (!override_.empty()) {
    const std::string b = builtinChatTemplate(override_);
    if (!b.empty()) {
      f.templateSource = b;
      f.templateOrigin = "builtin:" + override_;
      return f;
    }
    std::ifstream in(override_, std::ios::binary);
    INGOT_CHECK(in.good(), "--chat-template " + override_ +
                               ": neither a built-in template (chatml, llama3, llama2, mistral, zephyr, plain) "
                               "nor a readable file");
    std::stringstream ss;
    ss << in.rdbuf();
    f.templateSource = ss.str();
    f.templateOrigin = override_;
    // A tokenizer_config.json given as the file: take its chat_template.
    const auto j = nlohmann::json::parse(f.templateSource, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("chat_template")) {
      ChatFormat inner = resolveChatFormat(f.templateSource, "");
      inner.templateOrigin = override_;
      return inner;
    }
    return f;
  }

  if (cfg.contains("chat_template")) {
    const auto &ct = cfg["chat_template"];
    if (ct.is_string()) {
      f.templateSource = ct.get<std::string>();
    } else if (ct.is_array()) {
      for (const auto &e : ct)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
          f.templateSource = e["template"].get<std::string>();
    }
    if (!f.templateSource.empty())
      f.templateOrigin = "tokenizer_config.json";
  }
  return f;
}

} // namespace ingot
