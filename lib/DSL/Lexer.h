//===- Lexer.h - tokens of the Ingot model DSL ------------------*- C++ -*-===//
//
// Turns a .ingot file into tokens with 1-based line:column positions.
// Newlines are statement separators, except inside ( ) and [ ], where they
// are skipped (as in Python), so long calls wrap freely. `#` starts a comment.
// The lexer never fails silently: an unexpected character or an unterminated
// string becomes an Error token whose text is the message.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_LEXER_H
#define INGOT_LIB_DSL_LEXER_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::ingot::dsl {

struct SrcLoc {
  unsigned line = 1, col = 1;
};

enum class Tok {
  Eof,
  Newline,
  Error,
  Ident,
  Int,
  Float,
  String,
  // Keywords.
  KwModel,
  KwDef,
  KwFor,
  KwIn,
  KwIf,
  KwElse,
  KwReturn,
  KwTrue,
  KwFalse,
  KwNone,
  // Punctuation and operators.
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Dot,
  DotDot,
  Colon,
  Semi,
  Question,
  QuestionQuestion,
  Assign,
  EqEq,
  NotEq,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  Plus,
  Minus,
  Star,
  Slash,
  SlashSlash,
  Percent,
  StarStar,
  Bang,
  AndAnd,
  OrOr,
};

struct Token {
  Tok kind = Tok::Eof;
  SrcLoc loc;
  // Identifier text, string contents (escapes resolved, braces kept), the
  // spelling of a number, or an error message.
  std::string text;
  // For strings: where the contents begin (just after the opening quote), so
  // interpolated `{expr}` parts can be located precisely.
  SrcLoc bodyLoc;
  // For strings: the offset in `text` of each character's source column
  // (escapes make them differ); size text.size() + 1.
  std::vector<unsigned> colOf;
  int64_t intValue = 0;
  double floatValue = 0;
};

// Human-readable name of a token kind for "expected X, got Y" messages.
const char *tokName(Tok k);
std::string describe(const Token &t);

// Tokenises `source`. `startLoc` positions the first character (used to lex
// the inside of a `{...}` in a string). The result always ends with Eof;
// an Error token stops lexing.
std::vector<Token> lex(llvm::StringRef source, SrcLoc startLoc = {});

} // namespace mlir::ingot::dsl

#endif
