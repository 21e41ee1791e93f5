//===- Parser.cpp - parses a .ingot model file ----------------------------===//
//
// Grammar (see docs/dsl.md for the reference):
//   file    := 'model' NAME ('for' STRING (',' STRING)*)? NL stmt*
//   stmt    := NAME '=' expr | 'if' expr block ('else' (if | block))?
//            | 'for' NAME 'in' expr '..' expr block | 'return' expr | expr
//            | 'def' NAME '(' (NAME (',' NAME)*)? ')' block
//   block   := '{' stmt* '}'
//   expr    := coalesce ('?' expr ':' expr)?
//   coalesce:= or ('??' or)*
//   or      := and ('||' and)* ;  and := not ('&&' not)*
//   not     := '!' not | cmp ;    cmp := sum (CMPOP sum | 'in' sum)?
//   sum     := prod (('+'|'-') prod)* ; prod := unary (('*'|'/'|'//'|'%')
//   unary)* unary   := '-' unary | power ; power := postfix ('**' unary)?
//   postfix := primary ('.' NAME | '(' args ')' | '[' expr ']')*
//   primary := INT | FLOAT | STRING | true | false | none | NAME | '(' expr ')'
//            | '[' (expr (',' expr)* | expr 'for' NAME 'in' expr '..' expr)?
//            ']'
// Statements end at a newline, ';' or before '}'. Strings interpolate
// `{expr}`; `{{` and `}}` are literal braces.
//
//===----------------------------------------------------------------------===//
#include "Parser.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir::ingot::dsl;

namespace {
class Parser {
public:
  Parser(std::vector<Token> toks, ParseError &err)
      : toks(std::move(toks)), err(err) {}

  bool parseHeader(ModelFile &f) {
    skipNewlines();
    if (check(Tok::Error))
      return fail(cur().loc, cur().text);
    if (!check(Tok::KwModel))
      return fail(cur().loc, "expected the header 'model NAME' (optionally "
                             "followed by 'for \"model_type\", ...') at the "
                             "start of the file, got " +
                                 describe(cur()));
    next();
    if (!check(Tok::Ident))
      return fail(cur().loc, "expected the model name after 'model', got " +
                                 describe(cur()));
    f.name = cur().text;
    f.nameLoc = cur().loc;
    next();
    if (accept(Tok::KwFor)) {
      do {
        if (!check(Tok::String))
          return fail(cur().loc,
                      "expected a model_type string after 'for', got " +
                          describe(cur()));
        f.modelTypes.push_back(cur().text);
        next();
      } while (accept(Tok::Comma));
    }
    return endOfStatement();
  }

  bool parseFile(ModelFile &f) {
    if (!parseHeader(f))
      return false;
    while (true) {
      skipSeparators();
      if (check(Tok::Eof))
        return true;
      if (check(Tok::RBrace))
        return fail(cur().loc, "unexpected '}' with no open block");
      StmtPtr s = parseStmt();
      if (!s)
        return false;
      f.body.push_back(std::move(s));
    }
  }

private:
  std::vector<Token> toks;
  size_t p = 0;
  ParseError &err;
  // Nesting of expressions and blocks; bounded so hostile input cannot
  // exhaust the stack.
  unsigned depth = 0;
  static constexpr unsigned kMaxDepth = 300;
  struct DepthGuard {
    unsigned &d;
    explicit DepthGuard(unsigned &d) : d(d) { ++d; }
    ~DepthGuard() { --d; }
  };
  bool tooDeep() {
    if (depth <= kMaxDepth)
      return false;
    fail(cur().loc, "expressions or blocks are nested too deeply");
    return true;
  }

  const Token &cur() const { return toks[p]; }
  const Token &peek(size_t k = 1) const {
    return toks[std::min(p + k, toks.size() - 1)];
  }
  bool check(Tok k) const { return cur().kind == k; }
  void next() {
    if (p + 1 < toks.size())
      ++p;
  }
  bool accept(Tok k) {
    if (!check(k))
      return false;
    next();
    return true;
  }
  bool fail(SrcLoc loc, std::string msg) {
    // Keep the first error; a lexer error token is reported as itself.
    if (err.message.empty()) {
      err.loc = loc;
      err.message = std::move(msg);
    }
    return false;
  }
  // Reports `what` expected at the current token (or the lexer's error).
  bool expected(const std::string &what) {
    if (check(Tok::Error))
      return fail(cur().loc, cur().text);
    return fail(cur().loc, "expected " + what + ", got " + describe(cur()));
  }
  bool expect(Tok k, const std::string &context) {
    if (accept(k))
      return true;
    return expected(std::string(tokName(k)) + " " + context);
  }
  void skipNewlines() {
    while (check(Tok::Newline))
      next();
  }
  void skipSeparators() {
    while (check(Tok::Newline) || check(Tok::Semi))
      next();
  }
  bool endOfStatement() {
    if (check(Tok::Newline) || check(Tok::Semi)) {
      next();
      return true;
    }
    if (check(Tok::Eof) || check(Tok::RBrace))
      return true;
    return expected("the end of the statement (a new line or ';')");
  }

  //===--------------------------------------------------------------------===//
  // Statements
  //===--------------------------------------------------------------------===//

  StmtPtr parseStmt() {
    SrcLoc loc = cur().loc;
    if (check(Tok::KwIf))
      return parseIf();
    if (accept(Tok::KwFor)) {
      auto s = std::make_unique<Stmt>(Stmt::For, loc);
      if (!check(Tok::Ident)) {
        expected("a loop variable name after 'for'");
        return nullptr;
      }
      s->name = cur().text;
      next();
      if (!expect(Tok::KwIn, "after the loop variable"))
        return nullptr;
      if (!(s->lo = parseExpr()))
        return nullptr;
      if (!expect(Tok::DotDot, "in the loop range 'START..END'"))
        return nullptr;
      if (!(s->hi = parseExpr()) || !parseBlock(s->body))
        return nullptr;
      return s;
    }
    if (accept(Tok::KwDef)) {
      auto s = std::make_unique<Stmt>(Stmt::Def, loc);
      if (!check(Tok::Ident)) {
        expected("a function name after 'def'");
        return nullptr;
      }
      s->name = cur().text;
      next();
      if (!expect(Tok::LParen, "after the function name"))
        return nullptr;
      if (!accept(Tok::RParen)) {
        while (true) {
          if (!check(Tok::Ident)) {
            expected("a parameter name");
            return nullptr;
          }
          if (llvm::is_contained(s->params, cur().text)) {
            fail(cur().loc, "parameter '" + cur().text + "' is listed twice");
            return nullptr;
          }
          s->params.push_back(cur().text);
          next();
          if (accept(Tok::RParen))
            break;
          if (!expect(Tok::Comma, "or ')' between parameters"))
            return nullptr;
        }
      }
      if (!parseBlock(s->body) || !endOfStatement())
        return nullptr;
      return s;
    }
    if (accept(Tok::KwReturn)) {
      auto s = std::make_unique<Stmt>(Stmt::Return, loc);
      if (!(s->value = parseExpr()) || !endOfStatement())
        return nullptr;
      return s;
    }
    if (check(Tok::KwElse)) {
      expected("a statement ('else' must follow the '}' of an 'if' block)");
      return nullptr;
    }
    if (check(Tok::Ident) && peek().kind == Tok::Assign) {
      auto s = std::make_unique<Stmt>(Stmt::Assign, loc);
      s->name = cur().text;
      next();
      next();
      if (!(s->value = parseExpr()) || !endOfStatement())
        return nullptr;
      return s;
    }
    auto s = std::make_unique<Stmt>(Stmt::ExprStmt, loc);
    if (!(s->value = parseExpr()))
      return nullptr;
    if (check(Tok::Assign)) {
      expected("the end of the statement (only a plain name can be assigned)");
      return nullptr;
    }
    if (!endOfStatement())
      return nullptr;
    return s;
  }

  StmtPtr parseIf() {
    auto s = std::make_unique<Stmt>(Stmt::If, cur().loc);
    next(); // if
    if (!(s->value = parseExpr()) || !parseBlock(s->body))
      return nullptr;
    // `else` may follow `}` on the same line or the next one.
    size_t save = p;
    skipNewlines();
    if (accept(Tok::KwElse)) {
      if (check(Tok::KwIf)) {
        StmtPtr nested = parseIf();
        if (!nested)
          return nullptr;
        s->orelse.push_back(std::move(nested));
        return s;
      }
      if (!parseBlock(s->orelse))
        return nullptr;
    } else {
      p = save;
    }
    if (!endOfStatement())
      return nullptr;
    return s;
  }

  bool parseBlock(Block &body) {
    DepthGuard g(depth);
    if (tooDeep())
      return false;
    if (!expect(Tok::LBrace, "to open the block"))
      return false;
    while (true) {
      skipSeparators();
      if (accept(Tok::RBrace))
        return true;
      if (check(Tok::Eof))
        return expected("'}' to close the block");
      StmtPtr s = parseStmt();
      if (!s)
        return false;
      body.push_back(std::move(s));
    }
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  ExprPtr make(Expr::Kind k, SrcLoc loc) {
    return std::make_unique<Expr>(k, loc);
  }

  ExprPtr binary(Expr::Kind k, Tok op, SrcLoc loc, ExprPtr l, ExprPtr r) {
    ExprPtr e = make(k, loc);
    e->op = op;
    e->lhs = std::move(l);
    e->rhs = std::move(r);
    return e;
  }

  ExprPtr parseExpr() {
    DepthGuard g(depth);
    if (tooDeep())
      return nullptr;
    ExprPtr c = parseCoalesce();
    if (!c || !check(Tok::Question))
      return c;
    SrcLoc loc = cur().loc;
    next();
    ExprPtr a = parseExpr();
    if (!a)
      return nullptr;
    if (!expect(Tok::Colon, "between the branches of 'COND ? A : B'"))
      return nullptr;
    ExprPtr b = parseExpr();
    if (!b)
      return nullptr;
    ExprPtr e = make(Expr::Ternary, loc);
    e->mid = std::move(c);
    e->lhs = std::move(a);
    e->rhs = std::move(b);
    return e;
  }

  ExprPtr parseCoalesce() {
    ExprPtr l = parseOr();
    while (l && check(Tok::QuestionQuestion)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseOr();
      if (!r)
        return nullptr;
      l = binary(Expr::Coalesce, Tok::QuestionQuestion, loc, std::move(l),
                 std::move(r));
    }
    return l;
  }

  ExprPtr parseOr() {
    ExprPtr l = parseAnd();
    while (l && check(Tok::OrOr)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseAnd();
      if (!r)
        return nullptr;
      l = binary(Expr::Logical, Tok::OrOr, loc, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parseAnd() {
    ExprPtr l = parseNot();
    while (l && check(Tok::AndAnd)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseNot();
      if (!r)
        return nullptr;
      l = binary(Expr::Logical, Tok::AndAnd, loc, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parseNot() {
    DepthGuard g(depth);
    if (tooDeep())
      return nullptr;
    if (check(Tok::Bang)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr x = parseNot();
      if (!x)
        return nullptr;
      ExprPtr e = make(Expr::Unary, loc);
      e->op = Tok::Bang;
      e->lhs = std::move(x);
      return e;
    }
    return parseCmp();
  }

  static bool isCmp(Tok k) {
    return k == Tok::EqEq || k == Tok::NotEq || k == Tok::Less ||
           k == Tok::LessEq || k == Tok::Greater || k == Tok::GreaterEq ||
           k == Tok::KwIn;
  }

  ExprPtr parseCmp() {
    ExprPtr l = parseSum();
    if (!l || !isCmp(cur().kind))
      return l;
    Tok op = cur().kind;
    SrcLoc loc = cur().loc;
    next();
    ExprPtr r = parseSum();
    if (!r)
      return nullptr;
    if (isCmp(cur().kind)) {
      expected("the end of the comparison (chained comparisons need "
               "parentheses or '&&')");
      return nullptr;
    }
    return binary(Expr::Binary, op, loc, std::move(l), std::move(r));
  }

  ExprPtr parseSum() {
    ExprPtr l = parseProd();
    while (l && (check(Tok::Plus) || check(Tok::Minus))) {
      Tok op = cur().kind;
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseProd();
      if (!r)
        return nullptr;
      l = binary(Expr::Binary, op, loc, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parseProd() {
    ExprPtr l = parseUnary();
    while (l && (check(Tok::Star) || check(Tok::Slash) ||
                 check(Tok::SlashSlash) || check(Tok::Percent))) {
      Tok op = cur().kind;
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseUnary();
      if (!r)
        return nullptr;
      l = binary(Expr::Binary, op, loc, std::move(l), std::move(r));
    }
    return l;
  }

  ExprPtr parseUnary() {
    DepthGuard g(depth);
    if (tooDeep())
      return nullptr;
    if (check(Tok::Minus)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr x = parseUnary();
      if (!x)
        return nullptr;
      ExprPtr e = make(Expr::Unary, loc);
      e->op = Tok::Minus;
      e->lhs = std::move(x);
      return e;
    }
    ExprPtr b = parsePostfix();
    if (b && check(Tok::StarStar)) {
      SrcLoc loc = cur().loc;
      next();
      ExprPtr r = parseUnary();
      if (!r)
        return nullptr;
      return binary(Expr::Binary, Tok::StarStar, loc, std::move(b),
                    std::move(r));
    }
    return b;
  }

  ExprPtr parsePostfix() {
    ExprPtr e = parsePrimary();
    while (e) {
      if (check(Tok::Dot)) {
        next();
        if (!check(Tok::Ident)) {
          expected("a name after '.'");
          return nullptr;
        }
        ExprPtr m = make(Expr::Member, cur().loc);
        m->name = cur().text;
        m->lhs = std::move(e);
        next();
        e = std::move(m);
      } else if (check(Tok::LParen)) {
        ExprPtr c = make(Expr::Call, e->loc);
        next();
        c->lhs = std::move(e);
        if (!parseArgs(c->args))
          return nullptr;
        e = std::move(c);
      } else if (check(Tok::LBracket)) {
        SrcLoc loc = cur().loc;
        next();
        ExprPtr i = parseExpr();
        if (!i || !expect(Tok::RBracket, "after the index"))
          return nullptr;
        ExprPtr x = make(Expr::Index, loc);
        x->lhs = std::move(e);
        x->rhs = std::move(i);
        e = std::move(x);
      } else {
        break;
      }
    }
    return e;
  }

  // `(` already consumed. Arguments: positional, NAME = value, or a single
  // generator `expr for NAME in A..B` (sugar for a list comprehension).
  bool parseArgs(std::vector<Arg> &args) {
    if (accept(Tok::RParen))
      return true;
    while (true) {
      Arg a;
      if (check(Tok::Ident) && peek().kind == Tok::Assign) {
        a.name = cur().text;
        a.nameLoc = cur().loc;
        next();
        next();
      }
      if (!(a.value = parseExpr()))
        return false;
      if (check(Tok::KwFor)) {
        if (!a.name.empty() || !args.empty())
          return expected("')' (a generator 'X for V in A..B' must be the only "
                          "argument)");
        if (!(a.value = parseComprehensionTail(std::move(a.value))))
          return false;
        args.push_back(std::move(a));
        return expect(Tok::RParen, "after the generator argument");
      }
      if (a.name.empty() && !args.empty() && !args.back().name.empty())
        return fail(a.value->loc,
                    "positional argument after keyword argument '" +
                        args.back().name + "'");
      args.push_back(std::move(a));
      if (accept(Tok::RParen))
        return true;
      if (!expect(Tok::Comma, "or ')' between arguments"))
        return false;
      if (accept(Tok::RParen)) // trailing comma
        return true;
    }
  }

  // At `for`: parses `for NAME in A..B` and wraps `elem`.
  ExprPtr parseComprehensionTail(ExprPtr elem) {
    SrcLoc loc = cur().loc;
    next(); // for
    if (!check(Tok::Ident)) {
      expected("a variable name after 'for'");
      return nullptr;
    }
    ExprPtr c = make(Expr::Comprehension, loc);
    c->name = cur().text;
    next();
    if (!expect(Tok::KwIn, "after the variable"))
      return nullptr;
    if (!(c->mid = parseExpr()))
      return nullptr;
    if (!expect(Tok::DotDot, "in the range 'START..END'"))
      return nullptr;
    if (!(c->rhs = parseExpr()))
      return nullptr;
    c->lhs = std::move(elem);
    return c;
  }

  ExprPtr parsePrimary() {
    const Token &t = cur();
    SrcLoc loc = t.loc;
    switch (t.kind) {
    case Tok::Int: {
      ExprPtr e = make(Expr::IntLit, loc);
      e->intValue = t.intValue;
      next();
      return e;
    }
    case Tok::Float: {
      ExprPtr e = make(Expr::FloatLit, loc);
      e->floatValue = t.floatValue;
      next();
      return e;
    }
    case Tok::KwTrue:
    case Tok::KwFalse: {
      ExprPtr e = make(Expr::BoolLit, loc);
      e->boolValue = t.kind == Tok::KwTrue;
      next();
      return e;
    }
    case Tok::KwNone:
      next();
      return make(Expr::NoneLit, loc);
    case Tok::Ident: {
      ExprPtr e = make(Expr::Name, loc);
      e->name = t.text;
      next();
      return e;
    }
    case Tok::String: {
      ExprPtr e = make(Expr::StringLit, loc);
      if (!splitInterpolation(t, e->parts))
        return nullptr;
      next();
      return e;
    }
    case Tok::LParen: {
      next();
      ExprPtr e = parseExpr();
      if (!e || !expect(Tok::RParen, "to close '('"))
        return nullptr;
      return e;
    }
    case Tok::LBracket: {
      next();
      ExprPtr l = make(Expr::List, loc);
      if (accept(Tok::RBracket))
        return l;
      ExprPtr first = parseExpr();
      if (!first)
        return nullptr;
      if (check(Tok::KwFor)) {
        ExprPtr c = parseComprehensionTail(std::move(first));
        if (!c || !expect(Tok::RBracket, "to close the list comprehension"))
          return nullptr;
        return c;
      }
      l->items.push_back(std::move(first));
      while (accept(Tok::Comma)) {
        if (check(Tok::RBracket))
          break;
        ExprPtr x = parseExpr();
        if (!x)
          return nullptr;
        l->items.push_back(std::move(x));
      }
      if (!expect(Tok::RBracket, "to close the list"))
        return nullptr;
      return l;
    }
    default:
      expected("an expression");
      return nullptr;
    }
  }

  // Splits a string token into literal text and `{expr}` parts; each inner
  // expression is lexed and parsed at its own source position.
  bool splitInterpolation(const Token &t, std::vector<StringPart> &parts) {
    const std::string &s = t.text;
    std::string lit;
    auto colAt = [&](size_t i) {
      return i < t.colOf.size() ? t.colOf[i] : t.bodyLoc.col;
    };
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c == '}') {
        if (i + 1 < s.size() && s[i + 1] == '}') {
          lit += '}';
          ++i;
          continue;
        }
        return fail({t.loc.line, colAt(i)},
                    "unmatched '}' in string (write '}}' for a literal brace)");
      }
      if (c != '{') {
        lit += c;
        continue;
      }
      if (i + 1 < s.size() && s[i + 1] == '{') {
        lit += '{';
        ++i;
        continue;
      }
      size_t close = s.find('}', i + 1);
      if (close == std::string::npos)
        return fail({t.loc.line, colAt(i)},
                    "unclosed '{' in string (write '{{' for a literal brace)");
      if (!lit.empty()) {
        StringPart p;
        p.text = std::move(lit);
        parts.push_back(std::move(p));
        lit.clear();
      }
      std::string inner = s.substr(i + 1, close - i - 1);
      SrcLoc innerLoc{t.loc.line, colAt(i + 1)};
      if (llvm::StringRef(inner).trim().empty())
        return fail({t.loc.line, colAt(i)}, "empty '{}' in string");
      ParseError sub;
      Parser inner_p(lex(inner, innerLoc), sub);
      ExprPtr e = inner_p.parseExpr();
      if (e && !inner_p.check(Tok::Eof))
        inner_p.expected("'}' after the interpolated expression");
      if (!e || !sub.message.empty())
        return fail(sub.loc, sub.message);
      StringPart p;
      p.expr = std::move(e);
      parts.push_back(std::move(p));
      i = close;
    }
    if (!lit.empty() || parts.empty()) {
      StringPart p;
      p.text = std::move(lit);
      parts.push_back(std::move(p));
    }
    return true;
  }
};
} // namespace

bool mlir::ingot::dsl::parseModelFile(llvm::StringRef source, ModelFile &out,
                                      ParseError &err) {
  Parser p(lex(source), err);
  return p.parseFile(out);
}

bool mlir::ingot::dsl::parseModelHeader(llvm::StringRef source, ModelFile &out,
                                        ParseError &err) {
  Parser p(lex(source), err);
  return p.parseHeader(out);
}
