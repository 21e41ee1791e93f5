// PCRE2-backed regexes with the semantics `tokenizers` gets from Oniguruma
// (its default regex engine, Ruby syntax):
//  - \s/\S mean Unicode White_Space (PCRE2's UCP \s also takes U+180E),
//  - \w/\W mean Letter|Mark|Decimal_Number|Connector_Punctuation,
//  - \h/\H mean hex digits, \uHHHH is a code point,
//  - ^ and $ are line anchors,
//  - nested classes [a[bc]] are unions,
// and find_iter's rule for empty matches. Patterns are compiled once with
// JIT; matching is thread-safe (match data per call).
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace ingot {
namespace tok {

struct Regex::Code {
  pcre2_code *re = nullptr;
  ~Code() { pcre2_code_free(re); }
};

namespace {

const char *kWordInner = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Rewrites an Oniguruma (Ruby syntax) pattern into an equivalent PCRE2 one.
std::string translate(const std::string &p, const std::string &where) {
  std::string out;
  out.reserve(p.size() + 16);
  int depth = 0; // character class nesting
  size_t n = p.size();
  for (size_t i = 0; i < n;) {
    char c = p[i];
    if (c == '\\' && i + 1 < n) {
      char d = p[i + 1];
      bool in = depth > 0;
      switch (d) {
      case 's':
        out += "\\p{White_Space}";
        break;
      case 'S':
        out += "\\P{White_Space}";
        break;
      case 'w':
        out += in ? std::string(kWordInner) : "[" + std::string(kWordInner) + "]";
        break;
      case 'W':
        if (in)
          throw Error("tokenizer: regex at " + where +
                      ": \\W inside a character class is not supported");
        out += "[^" + std::string(kWordInner) + "]";
        break;
      case 'h':
        out += in ? "0-9a-fA-F" : "[0-9a-fA-F]";
        break;
      case 'H':
        if (in)
          throw Error("tokenizer: regex at " + where +
                      ": \\H inside a character class is not supported");
        out += "[^0-9a-fA-F]";
        break;
      case 'u':
        if (i + 5 < n && isHex(p[i + 2]) && isHex(p[i + 3]) &&
            isHex(p[i + 4]) && isHex(p[i + 5])) {
          out += "\\x{" + p.substr(i + 2, 4) + "}";
          i += 6;
          continue;
        }
        out += "\\u";
        break;
      default:
        out += c;
        out += d;
      }
      i += 2;
      continue;
    }
    if (c == '[') {
      if (depth > 0 && i + 1 < n && p[i + 1] == ':') {
        // POSIX class [:alpha:] inside a class: copy through.
        size_t e = p.find(":]", i + 2);
        if (e == std::string::npos)
          throw Error("tokenizer: regex at " + where + ": unterminated POSIX class");
        out.append(p, i, e + 2 - i);
        i = e + 2;
        continue;
      }
      if (depth > 0) {
        // Oniguruma nested class = union: flatten it into the outer class.
        if (i + 1 < n && p[i + 1] == '^')
          throw Error("tokenizer: regex at " + where +
                      ": negated nested character class is not supported");
        ++depth;
        ++i;
        continue;
      }
      depth = 1;
      out += c;
      ++i;
      if (i < n && p[i] == '^') {
        out += '^';
        ++i;
      }
      if (i < n && p[i] == ']') { // leading ']' is a literal
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (c == ']' && depth > 0) {
      --depth;
      if (depth == 0)
        out += ']';
      ++i;
      continue;
    }
    if (c == '&' && depth > 0 && i + 1 < n && p[i + 1] == '&')
      throw Error("tokenizer: regex at " + where +
                  ": character class intersection (&&) is not supported");
    out += c;
    ++i;
  }
  return out;
}

pcre2_code *compile(const std::string &pattern, const std::string &where) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code *re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &off, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    throw Error("tokenizer: cannot compile regex at " + where + " (" +
                reinterpret_cast<const char *>(buf) + " at offset " + std::to_string(off) +
                "): " + pattern);
  }
  // JIT is an optimisation only: if it is unavailable we interpret.
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
  return re;
}

// Per-thread JIT stack: long whitespace runs against \s+(?!\S) backtrack
// deeper than the default 32 KiB machine stack allows.
struct JitContext {
  pcre2_jit_stack *stack = nullptr;
  pcre2_match_context *ctx = nullptr;
  JitContext() {
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    if (stack && ctx)
      pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~JitContext() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
  }
};

struct MatchData {
  pcre2_match_data *md;
  explicit MatchData(const pcre2_code *re) : md(pcre2_match_data_create_from_pattern(re, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
};

} // namespace

Regex::Regex(const std::string &pattern, const std::string &where)
    : code_(std::make_shared<Code>()), where_(where) {
  code_->re = compile(translate(pattern, where), where);
}

Regex Regex::literal(const std::string &s, const std::string &where) {
  std::string pat;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      pat += '\\';
    pat += c;
  }
  // Escaped ASCII needs no translation; compile directly.
  Regex r;
  r.where_ = where;
  r.code_ = std::make_shared<Code>();
  r.code_->re = compile(pat, where);
  return r;
}

std::vector<Span> Regex::findAll(const std::string &text) const {
  std::vector<Span> out;
  thread_local JitContext jit;
  MatchData m(code_->re);
  INGOT_CHECK(m.md, "tokenizer: out of memory creating regex match data");
  const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t n = text.size();
  size_t pos = 0;
  bool haveLast = false;
  size_t lastEnd = 0;
  while (pos <= n) {
    int rc = pcre2_match(code_->re, subject, n, pos, PCRE2_NO_UTF_CHECK, m.md, jit.ctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(code_->re, subject, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, m.md,
                       nullptr);
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof(buf));
      throw Error("tokenizer: regex match failed at " + where_ + ": " +
                  reinterpret_cast<const char *>(buf));
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m.md);
    size_t s = ov[0], e = ov[1];
    if (s == e && haveLast && lastEnd == e) {
      // Empty match right after the previous one: step one char and retry.
      if (pos >= n)
        break;
      uint32_t cp;
      pos = utf8Next(text, pos, &cp);
      continue;
    }
    out.emplace_back(s, e);
    haveLast = true;
    lastEnd = e;
    pos = e;
  }
  return out;
}

Regex parsePattern(const Json &j, const std::string &path) {
  if (j.is_object() && j.size() == 1) {
    if (j.contains("String") && j["String"].is_string())
      return Regex::literal(j["String"].get<std::string>(), path + ".String");
    if (j.contains("Regex") && j["Regex"].is_string())
      return Regex(j["Regex"].get<std::string>(), path + ".Regex");
  }
  throw Error("tokenizer.json: " + path + " must be {\"String\": ...} or {\"Regex\": ...}");
}

} // namespace tok
} // namespace ingot
