//===- Lexer.cpp - tokens of the Ingot model DSL --------------------------===//
//
// A hand-written scanner: the grammar is tiny and positions must be exact for
// error messages. Numbers: `12`, `0.5`, `1e-6` (`0..n` lexes as 0, `..`, n).
// Strings: double quotes, escapes \" \\ \n \t, single line.
//
//===----------------------------------------------------------------------===//
#include "Lexer.h"

#include "llvm/ADT/StringSwitch.h"

#include <cctype>
#include <cstdlib>

using namespace mlir::ingot::dsl;

const char *mlir::ingot::dsl::tokName(Tok k) {
  switch (k) {
  case Tok::Eof:
    return "end of file";
  case Tok::Newline:
    return "end of line";
  case Tok::Error:
    return "invalid token";
  case Tok::Ident:
    return "a name";
  case Tok::Int:
    return "an integer";
  case Tok::Float:
    return "a number";
  case Tok::String:
    return "a string";
  case Tok::KwModel:
    return "'model'";
  case Tok::KwDef:
    return "'def'";
  case Tok::KwFor:
    return "'for'";
  case Tok::KwIn:
    return "'in'";
  case Tok::KwIf:
    return "'if'";
  case Tok::KwElse:
    return "'else'";
  case Tok::KwReturn:
    return "'return'";
  case Tok::KwTrue:
    return "'true'";
  case Tok::KwFalse:
    return "'false'";
  case Tok::KwNone:
    return "'none'";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::LBracket:
    return "'['";
  case Tok::RBracket:
    return "']'";
  case Tok::LBrace:
    return "'{'";
  case Tok::RBrace:
    return "'}'";
  case Tok::Comma:
    return "','";
  case Tok::Dot:
    return "'.'";
  case Tok::DotDot:
    return "'..'";
  case Tok::Colon:
    return "':'";
  case Tok::Semi:
    return "';'";
  case Tok::Question:
    return "'?'";
  case Tok::QuestionQuestion:
    return "'?"
           "?'"; // split: not a trigraph
  case Tok::Assign:
    return "'='";
  case Tok::EqEq:
    return "'=='";
  case Tok::NotEq:
    return "'!='";
  case Tok::Less:
    return "'<'";
  case Tok::LessEq:
    return "'<='";
  case Tok::Greater:
    return "'>'";
  case Tok::GreaterEq:
    return "'>='";
  case Tok::Plus:
    return "'+'";
  case Tok::Minus:
    return "'-'";
  case Tok::Star:
    return "'*'";
  case Tok::Slash:
    return "'/'";
  case Tok::SlashSlash:
    return "'//'";
  case Tok::Percent:
    return "'%'";
  case Tok::StarStar:
    return "'**'";
  case Tok::Bang:
    return "'!'";
  case Tok::AndAnd:
    return "'&&'";
  case Tok::OrOr:
    return "'||'";
  }
  return "token";
}

std::string mlir::ingot::dsl::describe(const Token &t) {
  switch (t.kind) {
  case Tok::Ident:
    return "'" + t.text + "'";
  case Tok::Int:
  case Tok::Float:
    return "number " + t.text;
  case Tok::String:
    return "string \"" + t.text + "\"";
  default:
    return tokName(t.kind);
  }
}

namespace {
class Scanner {
public:
  Scanner(llvm::StringRef src, SrcLoc start) : src(src), loc(start) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    int depth = 0; // open ( and [: newlines inside are not separators
    while (true) {
      skipSpaceAndComments(depth > 0);
      Token t;
      t.loc = loc;
      if (pos >= src.size()) {
        t.kind = Tok::Eof;
        out.push_back(t);
        return out;
      }
      char c = src[pos];
      if (c == '\n') {
        advance();
        t.kind = Tok::Newline;
        // Collapse blank lines into one separator.
        if (out.empty() || out.back().kind != Tok::Newline)
          out.push_back(t);
        continue;
      }
      if (std::isalpha((unsigned char)c) || c == '_') {
        size_t b = pos;
        while (pos < src.size() &&
               (std::isalnum((unsigned char)src[pos]) || src[pos] == '_'))
          advance();
        t.text = src.slice(b, pos).str();
        t.kind = llvm::StringSwitch<Tok>(t.text)
                     .Case("model", Tok::KwModel)
                     .Case("def", Tok::KwDef)
                     .Case("for", Tok::KwFor)
                     .Case("in", Tok::KwIn)
                     .Case("if", Tok::KwIf)
                     .Case("else", Tok::KwElse)
                     .Case("return", Tok::KwReturn)
                     .Case("true", Tok::KwTrue)
                     .Case("false", Tok::KwFalse)
                     .Case("none", Tok::KwNone)
                     .Default(Tok::Ident);
        out.push_back(t);
        continue;
      }
      if (std::isdigit((unsigned char)c)) {
        lexNumber(t);
        out.push_back(t);
        if (t.kind == Tok::Error)
          return finish(out);
        continue;
      }
      if (c == '"') {
        lexString(t);
        out.push_back(t);
        if (t.kind == Tok::Error)
          return finish(out);
        continue;
      }
      if (!lexPunct(t)) {
        t.kind = Tok::Error;
        t.text = std::string("unexpected character '") + c + "'";
        out.push_back(t);
        return finish(out);
      }
      if (t.kind == Tok::LParen || t.kind == Tok::LBracket)
        ++depth;
      else if ((t.kind == Tok::RParen || t.kind == Tok::RBracket) && depth > 0)
        --depth;
      out.push_back(t);
    }
  }

private:
  llvm::StringRef src;
  size_t pos = 0;
  SrcLoc loc;

  std::vector<Token> &finish(std::vector<Token> &out) {
    Token eof;
    eof.loc = loc;
    out.push_back(eof);
    return out;
  }

  void advance() {
    if (src[pos] == '\n') {
      ++loc.line;
      loc.col = 1;
    } else {
      ++loc.col;
    }
    ++pos;
  }

  void skipSpaceAndComments(bool skipNewlines) {
    while (pos < src.size()) {
      char c = src[pos];
      if (c == '#') {
        while (pos < src.size() && src[pos] != '\n')
          advance();
      } else if (c == ' ' || c == '\t' || c == '\r' ||
                 (c == '\n' && skipNewlines)) {
        advance();
      } else {
        return;
      }
    }
  }

  void lexNumber(Token &t) {
    size_t b = pos;
    bool isFloat = false;
    while (pos < src.size() && std::isdigit((unsigned char)src[pos]))
      advance();
    // A fraction needs a digit after the dot, so `0..n` stays a range.
    if (pos + 1 < src.size() && src[pos] == '.' &&
        std::isdigit((unsigned char)src[pos + 1])) {
      isFloat = true;
      advance();
      while (pos < src.size() && std::isdigit((unsigned char)src[pos]))
        advance();
    }
    if (pos < src.size() && (src[pos] == 'e' || src[pos] == 'E')) {
      size_t save = pos;
      SrcLoc saveLoc = loc;
      advance();
      if (pos < src.size() && (src[pos] == '+' || src[pos] == '-'))
        advance();
      if (pos < src.size() && std::isdigit((unsigned char)src[pos])) {
        isFloat = true;
        while (pos < src.size() && std::isdigit((unsigned char)src[pos]))
          advance();
      } else {
        pos = save;
        loc = saveLoc;
      }
    }
    if (pos < src.size() &&
        (std::isalpha((unsigned char)src[pos]) || src[pos] == '_')) {
      t.kind = Tok::Error;
      t.text = "malformed number '" + src.slice(b, pos + 1).str() + "'";
      return;
    }
    t.text = src.slice(b, pos).str();
    if (isFloat) {
      t.kind = Tok::Float;
      t.floatValue = std::strtod(t.text.c_str(), nullptr);
    } else {
      t.kind = Tok::Int;
      if (llvm::StringRef(t.text).getAsInteger(10, t.intValue)) {
        t.kind = Tok::Error;
        t.text = "integer '" + t.text + "' is too large";
      }
    }
  }

  void lexString(Token &t) {
    advance(); // opening quote
    t.bodyLoc = loc;
    while (true) {
      if (pos >= src.size() || src[pos] == '\n') {
        t.kind = Tok::Error;
        t.text = "unterminated string (strings end with '\"' on the same line)";
        return;
      }
      char c = src[pos];
      if (c == '"') {
        advance();
        break;
      }
      t.colOf.push_back(loc.col);
      if (c == '\\') {
        advance();
        if (pos >= src.size() || src[pos] == '\n')
          continue; // reported as unterminated above
        char e = src[pos];
        switch (e) {
        case 'n':
          t.text += '\n';
          break;
        case 't':
          t.text += '\t';
          break;
        case '"':
          t.text += '"';
          break;
        case '\\':
          t.text += '\\';
          break;
        default:
          t.kind = Tok::Error;
          t.loc = loc;
          t.text = std::string("unknown escape '\\") + e +
                   "' in string (use \\\" \\\\ \\n or \\t)";
          return;
        }
        advance();
        continue;
      }
      t.text += c;
      advance();
    }
    t.colOf.push_back(loc.col - 1);
    t.kind = Tok::String;
  }

  bool lexPunct(Token &t) {
    char c = src[pos];
    char n = pos + 1 < src.size() ? src[pos + 1] : '\0';
    auto two = [&](Tok k) {
      t.kind = k;
      advance();
      advance();
      return true;
    };
    auto one = [&](Tok k) {
      t.kind = k;
      advance();
      return true;
    };
    switch (c) {
    case '(':
      return one(Tok::LParen);
    case ')':
      return one(Tok::RParen);
    case '[':
      return one(Tok::LBracket);
    case ']':
      return one(Tok::RBracket);
    case '{':
      return one(Tok::LBrace);
    case '}':
      return one(Tok::RBrace);
    case ',':
      return one(Tok::Comma);
    case ':':
      return one(Tok::Colon);
    case ';':
      return one(Tok::Semi);
    case '.':
      return n == '.' ? two(Tok::DotDot) : one(Tok::Dot);
    case '?':
      return n == '?' ? two(Tok::QuestionQuestion) : one(Tok::Question);
    case '=':
      return n == '=' ? two(Tok::EqEq) : one(Tok::Assign);
    case '!':
      return n == '=' ? two(Tok::NotEq) : one(Tok::Bang);
    case '<':
      return n == '=' ? two(Tok::LessEq) : one(Tok::Less);
    case '>':
      return n == '=' ? two(Tok::GreaterEq) : one(Tok::Greater);
    case '+':
      return one(Tok::Plus);
    case '-':
      return one(Tok::Minus);
    case '*':
      return n == '*' ? two(Tok::StarStar) : one(Tok::Star);
    case '/':
      return n == '/' ? two(Tok::SlashSlash) : one(Tok::Slash);
    case '%':
      return one(Tok::Percent);
    case '&':
      if (n == '&')
        return two(Tok::AndAnd);
      return false;
    case '|':
      if (n == '|')
        return two(Tok::OrOr);
      return false;
    default:
      return false;
    }
  }
};
} // namespace

std::vector<Token> mlir::ingot::dsl::lex(llvm::StringRef source,
                                         SrcLoc startLoc) {
  return Scanner(source, startLoc).run();
}
