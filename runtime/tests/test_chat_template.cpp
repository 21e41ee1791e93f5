// Unit tests of the Jinja subset (runtime/src/chat_template*.cpp) with
// expected outputs written by hand from Jinja's documented semantics
// (test/serving/test_chat_template.py compares many more templates with
// jinja2 itself). Covers whitespace control (trim_blocks, lstrip_blocks, -),
// operator precedence (filters bind tighter than + and ~), loop variables and
// scoping, namespace, macros, tests, Python string methods, tojson, errors
// with positions, raise_exception, and the template resolution rules.
#include "ingot/runtime/chat_template.h"
#include "ingot/runtime/error.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using ojson = nlohmann::ordered_json;

namespace {

std::string render(const std::string &tpl, const ojson &ctx = ojson::object()) {
  return ingot::ChatTemplate(tpl).render(ctx);
}

ojson msgs() {
  return {{"messages",
           {{{"role", "system"}, {"content", " sys "}},
            {{"role", "user"}, {"content", "hi"}},
            {{"role", "assistant"}, {"content", "yo"}}}},
          {"add_generation_prompt", true},
          {"bos_token", "<s>"},
          {"eos_token", "</s>"}};
}

TEST(ChatTemplate, TextAndOutput) {
  EXPECT_EQ(render("plain"), "plain");
  EXPECT_EQ(render("{{ 'a' + 'b' }}{{ 1 + 2 }}{{ 'x' ~ 3 }}"), "ab3x3");
  EXPECT_EQ(render("{# comment #}x"), "x");
  EXPECT_EQ(render("a\n"), "a"); // one trailing newline dropped, as Jinja does
}

TEST(ChatTemplate, WhitespaceControl) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: the
  // indentation before it goes.
  EXPECT_EQ(render("{% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a\n  {{- 'b' -}}\n  c"), "abc");
  EXPECT_EQ(render("  {{ 'v' }}\n"), "  v"); // variable tags keep indentation
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
}

TEST(ChatTemplate, Precedence) {
  // `|` binds tighter than `+`: only the content is trimmed.
  EXPECT_EQ(render("{{ 'a ' + '  b  ' | trim + ' c' }}"), "a b c");
  EXPECT_EQ(render("{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}"), "14 20 64 4");
  EXPECT_EQ(render("{{ not true or true }} {{ 1 < 2 and 'x' in 'xy' }}"), "True True");
  EXPECT_EQ(render("{{ 'y' if false else 'n' }}{{ 'never' if false }}|"), "n|");
  EXPECT_EQ(render("{{ 7 // -2 }} {{ 7 % -2 }} {{ 1 / 4 }}"), "-4 -1 0.25");
}

TEST(ChatTemplate, LoopsAndScoping) {
  const ojson ctx = msgs();
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index0 }}{{ m.role[0] }}{% if loop.first %}F{% endif %}"
                   "{% if loop.last %}L{% endif %}{% endfor %}",
                   ctx),
            "0sF1u2aL");
  EXPECT_EQ(render("{% for m in messages if m.role != 'system' %}{{ loop.length }}{% endfor %}", ctx), "22");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  // `set` in a loop is local to the iteration; namespace carries state out.
  EXPECT_EQ(render("{% set x = 0 %}{% for i in range(3) %}{% set x = x + i %}{% endfor %}{{ x }}"), "0");
  EXPECT_EQ(render("{% set ns = namespace(x=0) %}{% for i in range(4) %}{% set ns.x = ns.x + i %}{% endfor %}"
                   "{{ ns.x }}"),
            "6");
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}"
                   "{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% for m in messages[1:] %}{{ m.content }}{% endfor %}|{% for m in messages[::-1] %}"
                   "{{ m.role[0] }}{% endfor %}",
                   ctx),
            "hiyo|aus");
}

TEST(ChatTemplate, FiltersTestsMethods) {
  EXPECT_EQ(render("{{ ' x ' | trim }}|{{ 'ab' | upper }}|{{ [1,2,3] | length }}|{{ [3,1] | sort | join(',') }}"),
            "x|AB|3|1,3");
  EXPECT_EQ(render("{{ missing | default('d') }} {{ missing is defined }} {{ none is none }} {{ 'a' is string }}"),
            "d False True True");
  EXPECT_EQ(render("{{ 'a,b'.split(',') }} {{ 'Hello'.startswith('He') }} {{ '<t>x</t>'.split('</t>')[0] }}"),
            "['a', 'b'] True <t>x");
  EXPECT_EQ(render("{{ '\\nx\\n'.strip('\\n') }}|{{ 'xxyxx'.lstrip('x') }}|{{ 'Ab Cd'.lower() }}"), "x|yxx|ab cd");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [true, none, 1.5, 'é\"']} | tojson }}"),
            "{\"b\": 1, \"a\": [true, null, 1.5, \"é\\\"\"]}");
  EXPECT_EQ(render("{{ {'a': [1]} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ]\n}");
  EXPECT_EQ(render("{{ [{'r': 'u'}, {'r': 'a'}] | map(attribute='r') | join }}"), "ua");
  EXPECT_EQ(render("{{ ['a', 'b', 'a'] | reject('equalto', 'a') | list }}"), "['b']");
}

TEST(ChatTemplate, MacrosAndSetBlocks) {
  EXPECT_EQ(render("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}"), "[1B][23]");
  EXPECT_EQ(render("{% set s %}in {{ 1 }}{% endset %}<{{ s }}>"), "<in 1>");
}

TEST(ChatTemplate, ErrorsNamePosition) {
  try {
    render("ok\n{{ x.y }}");
    FAIL() << "no error";
  } catch (const ingot::Error &e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'x' is undefined"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ingot::ChatTemplate("{% for x in y %}"), ingot::Error);       // unterminated block
  EXPECT_THROW(ingot::ChatTemplate("{{ x | nosuch }}"), ingot::Error);       // unknown filter
  EXPECT_THROW(ingot::ChatTemplate("{% include 'x' %}"), ingot::Error);      // unsupported tag
  EXPECT_THROW(render("{{ 1 + 'a' }}"), ingot::Error);
  try {
    render("{{ raise_exception('Roles must alternate') }}");
    FAIL() << "no error";
  } catch (const ingot::Error &e) {
    EXPECT_STREQ(e.what(), "Roles must alternate");
  }
}

TEST(ChatTemplate, BoundedRender) {
  EXPECT_THROW(render("{% for i in range(100000000) %}{% endfor %}"), ingot::Error);
  EXPECT_THROW(render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"), ingot::Error);
  EXPECT_THROW(render("{% for i in range(1000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}"), ingot::Error);
  EXPECT_THROW(render("{{ 'x' * 100000000 }}"), ingot::Error);
}

TEST(ChatTemplate, Resolve) {
  const std::string cfg = R"({"chat_template": "{{ bos_token }}x", "bos_token": {"content": "<s>", "lstrip": false},
                              "eos_token": "</s>"})";
  ingot::ChatFormat f = ingot::resolveChatFormat(cfg, "");
  EXPECT_EQ(f.templateSource, "{{ bos_token }}x");
  EXPECT_EQ(f.templateOrigin, "tokenizer_config.json");
  EXPECT_EQ(f.bosToken, "<s>");
  EXPECT_EQ(f.eosToken, "</s>");
  f = ingot::resolveChatFormat(cfg, "chatml");
  EXPECT_EQ(f.templateOrigin, "builtin:chatml");
  EXPECT_EQ(f.templateSource, ingot::builtinChatTemplate("chatml"));
  const std::string named = R"({"chat_template": [{"name": "tool_use", "template": "T"},
                                                   {"name": "default", "template": "D"}]})";
  EXPECT_EQ(ingot::resolveChatFormat(named, "").templateSource, "D");
  EXPECT_EQ(ingot::resolveChatFormat("{}", "").templateSource, "");
  EXPECT_THROW(ingot::resolveChatFormat("{}", "/no/such/template.jinja"), ingot::Error);
  EXPECT_THROW(ingot::resolveChatFormat("not json", ""), ingot::Error);
}

} // namespace
