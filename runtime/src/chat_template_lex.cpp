// Lexer of the Jinja subset (see chat_template.h for the language): splits a
// template into text, {{ }} and {% %} tags with Jinja's whitespace rules as
// transformers configures them: `-` strips all whitespace on that side,
// lstrip_blocks removes the spaces and tabs before a block/comment tag that
// begins its line, trim_blocks removes one newline after a block/comment tag,
// and `+` turns either off for one tag. Inside a tag, `}}` / `%}` end it only
// outside strings and brackets, so dict literals and strings containing "}}"
// work. Tokens carry line:column positions for error messages.
#include "chat_template_impl.h"

#include <cctype>
#include <cerrno>
#include <cstring>

namespace ingot {
namespace jinja {
namespace {

class Lexer {
public:
  Lexer(const std::string &src, const std::string &name) : s_(src), name_(name) {}

  std::vector<Tag> run() {
    std::string pending;        // text since the last tag
    bool lineStart = true;      // `pending` begins at the start of a line
    Pos pendingPos = pos();
    while (i_ < s_.size()) {
      const size_t open = findOpen(i_);
      if (open == std::string::npos) {
        pending += s_.substr(i_);
        advanceTo(s_.size());
        break;
      }
      pending += s_.substr(i_, open - i_);
      advanceTo(open);
      const char kind = s_[open + 1]; // '{', '%' or '#'
      const Pos tagPos = pos();
      advanceTo(open + 2);
      char sign = 0;
      if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) {
        sign = s_[i_];
        advanceTo(i_ + 1);
      }
      // Whitespace before the tag.
      if (sign == '-') {
        rstripAll(pending);
      } else if (sign != '+' && kind != '{') {
        const size_t nl = pending.rfind('\n');
        const size_t from = nl == std::string::npos ? 0 : nl + 1;
        if ((nl != std::string::npos || lineStart) && from < pending.size() &&
            pending.find_first_not_of(" \t\r\f\v", from) == std::string::npos)
          pending.erase(from);
      }
      flushText(pending, pendingPos);

      char endSign = 0;
      if (kind == '#') {
        const size_t close = s_.find("#}", i_);
        if (close == std::string::npos)
          fail(tagPos, "unterminated comment");
        if (close > i_ && (s_[close - 1] == '-' || s_[close - 1] == '+'))
          endSign = s_[close - 1];
        advanceTo(close + 2);
      } else {
        Tag t;
        t.kind = kind == '{' ? Tag::Var : Tag::Block;
        t.pos = tagPos;
        t.toks = lexTag(kind == '{' ? '}' : '%', endSign, tagPos);
        const bool isRaw = t.kind == Tag::Block && t.toks.size() == 2 && t.toks[0].kind == Tok::Name &&
                           t.toks[0].text == "raw";
        if (isRaw) {
          afterTag(kind, endSign);
          lexRaw(pendingPos, lineStart, tagPos);
          continue;
        }
        tags_.push_back(std::move(t));
      }
      afterTag(kind, endSign);
      pendingPos = pos();
      lineStart = i_ == 0 || s_[i_ - 1] == '\n';
    }
    flushText(pending, pendingPos);
    return std::move(tags_);
  }

private:
  const std::string &s_;
  const std::string &name_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
  std::vector<Tag> tags_;

  Pos pos() const { return Pos{line_, col_}; }
  void advanceTo(size_t j) {
    for (; i_ < j && i_ < s_.size(); ++i_) {
      if (s_[i_] == '\n') {
        ++line_;
        col_ = 1;
      } else if ((uint8_t(s_[i_]) & 0xC0) != 0x80) {
        ++col_;
      }
    }
  }
  [[noreturn]] void fail(Pos p, const std::string &msg) const {
    throw Error(name_ + " line " + std::to_string(p.line) + ", column " + std::to_string(p.col) + ": " + msg);
  }
  size_t findOpen(size_t from) const {
    for (size_t j = s_.find('{', from); j != std::string::npos; j = s_.find('{', j + 1))
      if (j + 1 < s_.size() && (s_[j + 1] == '{' || s_[j + 1] == '%' || s_[j + 1] == '#'))
        return j;
    return std::string::npos;
  }
  static void rstripAll(std::string &t) {
    size_t n = t.size();
    while (n > 0 && std::isspace(uint8_t(t[n - 1])))
      --n;
    t.erase(n);
  }
  void flushText(std::string &pending, Pos p) {
    if (!pending.empty()) {
      Tag t;
      t.kind = Tag::Text;
      t.text = std::move(pending);
      t.pos = p;
      tags_.push_back(std::move(t));
    }
    pending.clear();
  }
  // Whitespace after a tag: `-` skips all of it; trim_blocks drops one
  // newline after block and comment tags. (As Jinja's lexer does, before
  // deciding whether the next text starts a line.)
  void afterTag(char kind, char endSign) {
    if (endSign == '-') {
      size_t j = i_;
      while (j < s_.size() && std::isspace(uint8_t(s_[j])))
        ++j;
      advanceTo(j);
    } else if (endSign != '+' && kind != '{') {
      if (i_ < s_.size() && s_[i_] == '\n')
        advanceTo(i_ + 1);
      else if (i_ + 1 < s_.size() && s_[i_] == '\r' && s_[i_ + 1] == '\n')
        advanceTo(i_ + 2);
    }
  }

  void lexRaw(Pos &pendingPos, bool &lineStart, Pos rawPos) {
    // Find {% endraw %} (with optional whitespace control).
    size_t j = i_;
    while (true) {
      j = s_.find("{%", j);
      if (j == std::string::npos)
        fail(rawPos, "missing {% endraw %}");
      size_t k = j + 2;
      char sign = 0;
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+'))
        sign = s_[k++];
      while (k < s_.size() && std::isspace(uint8_t(s_[k])))
        ++k;
      if (s_.compare(k, 6, "endraw") == 0) {
        k += 6;
        while (k < s_.size() && std::isspace(uint8_t(s_[k])))
          ++k;
        char endSign = 0;
        if (k < s_.size() && (s_[k] == '-' || s_[k] == '+'))
          endSign = s_[k++];
        if (s_.compare(k, 2, "%}") == 0) {
          std::string raw = s_.substr(i_, j - i_);
          const Pos p = pos();
          if (sign == '-')
            rstripAll(raw);
          flushText(raw, p);
          advanceTo(k + 2);
          afterTag('%', endSign);
          pendingPos = pos();
          lineStart = i_ == 0 || s_[i_ - 1] == '\n';
          return;
        }
      }
      j += 2;
    }
  }

  std::vector<Tok> lexTag(char closer, char &endSign, Pos tagPos) {
    std::vector<Tok> toks;
    std::vector<char> brackets;
    while (true) {
      while (i_ < s_.size() && std::isspace(uint8_t(s_[i_])))
        advanceTo(i_ + 1);
      if (i_ >= s_.size())
        fail(tagPos, std::string("unterminated ") + (closer == '}' ? "{{" : "{%"));
      const char c = s_[i_];
      if (brackets.empty()) {
        // End of tag: `}}` / `%}`, optionally preceded by - or +.
        if ((c == '-' || c == '+') && i_ + 2 < s_.size() && s_[i_ + 1] == closer && s_[i_ + 2] == '}') {
          if (c == '+' && closer == '}')
            fail(pos(), "unexpected '+'");
          endSign = c;
          advanceTo(i_ + 3);
          break;
        }
        if (c == closer && i_ + 1 < s_.size() && s_[i_ + 1] == '}') {
          advanceTo(i_ + 2);
          break;
        }
      }
      Tok t;
      t.pos = pos();
      if (std::isalpha(uint8_t(c)) || c == '_') {
        size_t j = i_;
        while (j < s_.size() && (std::isalnum(uint8_t(s_[j])) || s_[j] == '_'))
          ++j;
        t.kind = Tok::Name;
        t.text = s_.substr(i_, j - i_);
        advanceTo(j);
      } else if (std::isdigit(uint8_t(c))) {
        size_t j = i_;
        bool isFloat = false;
        while (j < s_.size() && (std::isdigit(uint8_t(s_[j])) || s_[j] == '_'))
          ++j;
        if (j + 1 < s_.size() && s_[j] == '.' && std::isdigit(uint8_t(s_[j + 1]))) {
          isFloat = true;
          ++j;
          while (j < s_.size() && (std::isdigit(uint8_t(s_[j])) || s_[j] == '_'))
            ++j;
        }
        if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
          size_t k = j + 1;
          if (k < s_.size() && (s_[k] == '+' || s_[k] == '-'))
            ++k;
          if (k < s_.size() && std::isdigit(uint8_t(s_[k]))) {
            isFloat = true;
            j = k;
            while (j < s_.size() && std::isdigit(uint8_t(s_[j])))
              ++j;
          }
        }
        std::string num;
        for (size_t k = i_; k < j; ++k)
          if (s_[k] != '_')
            num += s_[k];
        t.text = num;
        if (isFloat) {
          t.kind = Tok::Float;
          t.value = Value::number(std::strtod(num.c_str(), nullptr));
        } else {
          t.kind = Tok::Int;
          errno = 0;
          const long long v = std::strtoll(num.c_str(), nullptr, 10);
          if (errno)
            fail(t.pos, "integer literal out of range");
          t.value = Value::integer(v);
        }
        advanceTo(j);
      } else if (c == '\'' || c == '"') {
        t.kind = Tok::String;
        t.value = Value::string(lexString(c));
      } else {
        static const char *ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~",
                                    "<",  ">",  "|",  ".",  ",",  ":",  "(", ")", "[", "]", "{", "}", "="};
        const char *found = nullptr;
        for (const char *op : ops)
          if (s_.compare(i_, std::strlen(op), op) == 0) {
            found = op;
            break;
          }
        if (!found)
          fail(t.pos, std::string("unexpected character '") + c + "'");
        t.kind = Tok::Op;
        t.text = found;
        if (c == '(' || c == '[' || c == '{') {
          brackets.push_back(c);
        } else if (c == ')' || c == ']' || c == '}') {
          const char want = c == ')' ? '(' : c == ']' ? '[' : '{';
          if (brackets.empty() || brackets.back() != want)
            fail(t.pos, std::string("unbalanced '") + c + "'");
          brackets.pop_back();
        }
        advanceTo(i_ + std::strlen(found));
      }
      toks.push_back(std::move(t));
    }
    Tok end;
    end.kind = Tok::End;
    end.pos = pos();
    toks.push_back(end);
    return toks;
  }

  // Python string literal escapes (\n \t \r \\ \' \" \xNN \uNNNN \UNNNNNNNN \0).
  std::string lexString(char q) {
    const Pos start = pos();
    std::string out;
    size_t j = i_ + 1;
    auto appendCp = [&](uint32_t cp) {
      if (cp < 0x80) {
        out += char(cp);
      } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      }
    };
    while (true) {
      if (j >= s_.size())
        fail(start, "unterminated string literal");
      const char c = s_[j];
      if (c == q) {
        ++j;
        break;
      }
      if (c == '\\' && j + 1 < s_.size()) {
        const char e = s_[j + 1];
        j += 2;
        switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;
        case 'x': case 'u': case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (j + n > s_.size())
            fail(start, "bad escape in string literal");
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = s_[j + k];
            if (!std::isxdigit(uint8_t(h)))
              fail(start, "bad escape in string literal");
            cp = cp * 16 + uint32_t(std::isdigit(uint8_t(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF)
            fail(start, "bad escape in string literal");
          appendCp(cp);
          j += n;
          break;
        }
        default:
          out += '\\';
          out += e;
        }
        continue;
      }
      out += c;
      ++j;
    }
    advanceTo(j);
    return out;
  }
};

} // namespace

std::vector<Tag> lexTemplate(const std::string &source, const std::string &name) {
  // As Jinja (newline_sequence "\n", keep_trailing_newline off): line breaks
  // of the template source become "\n" and one final newline is dropped.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n')
        ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n')
    src.pop_back();
  Lexer lx(src, name);
  return lx.run();
}

} // namespace jinja
} // namespace ingot
