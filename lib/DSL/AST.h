//===- AST.h - syntax tree of the Ingot model DSL ---------------*- C++ -*-===//
//
// One Expr and one Stmt struct, tagged by kind, with the fields each kind
// uses (listed next to the kind). Every node carries the source position the
// evaluator reports errors at and turns into the FileLineColLoc of the ops it
// builds.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_AST_H
#define INGOT_LIB_DSL_AST_H

#include "Lexer.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::ingot::dsl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// A piece of a string literal: literal text, or an interpolated `{expr}`.
struct StringPart {
  std::string text;
  ExprPtr expr; // null for literal text
};

struct Arg {
  std::string name; // empty for positional arguments
  SrcLoc nameLoc;
  ExprPtr value;
};

struct Expr {
  enum Kind {
    IntLit,        // intValue
    FloatLit,      // floatValue
    BoolLit,       // boolValue
    NoneLit,       //
    StringLit,     // parts
    Name,          // name
    List,          // items
    Comprehension, // lhs = element, name = variable, mid..rhs = range
    Member,        // lhs.name
    Index,         // lhs[rhs]
    Call,          // lhs(args); lhs is a Name (builtin) or Member (method)
    Unary,         // op lhs            (op: Minus, Bang)
    Binary,        // lhs op rhs        (arithmetic, comparison, in)
    Logical,       // lhs op rhs        (AndAnd, OrOr; short-circuit)
    Coalesce,      // lhs ?? rhs        (rhs only when lhs is missing)
    Ternary,       // mid ? lhs : rhs
  };
  Kind kind;
  SrcLoc loc;
  Tok op = Tok::Eof;
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  std::string name;
  std::vector<StringPart> parts;
  std::vector<ExprPtr> items;
  std::vector<Arg> args;
  ExprPtr lhs, mid, rhs;

  Expr(Kind k, SrcLoc l) : kind(k), loc(l) {}
};

// Where an expression begins (its leftmost token): errors about a whole
// expression point here; `loc` of an operator or member is the operator or
// name itself.
inline SrcLoc startLoc(const Expr &e) {
  switch (e.kind) {
  case Expr::Member:
  case Expr::Index:
  case Expr::Call:
  case Expr::Binary:
  case Expr::Logical:
  case Expr::Coalesce:
    return e.lhs ? startLoc(*e.lhs) : e.loc;
  case Expr::Ternary:
    return startLoc(*e.mid);
  default:
    return e.loc;
  }
}

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Block = std::vector<StmtPtr>;

struct Stmt {
  enum Kind {
    Assign,   // name = value
    If,       // if value { body } else { orelse }   (else-if nests an If)
    For,      // for name in lo..hi { body }
    Return,   // return value
    ExprStmt, // value (a call, for its effect)
    Def       // def name(params) { body }
  };
  Kind kind;
  SrcLoc loc;
  std::string name;
  std::vector<std::string> params;
  ExprPtr value, lo, hi;
  Block body, orelse;

  Stmt(Kind k, SrcLoc l) : kind(k), loc(l) {}
};

struct ModelFile {
  std::string name; // `model NAME`
  SrcLoc nameLoc;
  std::vector<std::string> modelTypes; // `for "llama", "mistral"`
  Block body;
};

} // namespace mlir::ingot::dsl

#endif
