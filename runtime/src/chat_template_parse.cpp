// Parser of the Jinja subset (see chat_template.h for the language): turns
// the tags from the lexer (chat_template_lex.cpp) into the syntax tree of
// chat_template_impl.h. Expressions follow Jinja's precedence: cond-expr <
// or < and < not < comparisons/in/is < + - < ~ < * / // % < ** < unary - + <
// filters/tests < postfix (. [] ()). Unknown filters, tests and statements
// are refused here, with their line and column.
#include "chat_template_impl.h"

#include <set>

namespace ingot {
namespace jinja {
namespace {

class Parser {
public:
  Parser(std::vector<Tag> tags, const std::string &name) : tags_(std::move(tags)), name_(name) {}

  Body parseAll() {
    std::string stop;
    Body b = parseBody({}, stop);
    return b;
  }

private:
  std::vector<Tag> tags_;
  const std::string &name_;
  size_t ti_ = 0;                  // current tag
  const std::vector<Tok> *toks_ = nullptr;
  size_t k_ = 0;                   // current token in the tag

  [[noreturn]] void fail(Pos p, const std::string &msg) const {
    throw Error(name_ + " line " + std::to_string(p.line) + ", column " + std::to_string(p.col) + ": " + msg);
  }

  // --- token helpers within one tag
  const Tok &cur() const { return (*toks_)[k_]; }
  const Tok &peek(size_t n = 1) const { return (*toks_)[std::min(k_ + n, toks_->size() - 1)]; }
  bool isOp(const char *op) const { return cur().kind == Tok::Op && cur().text == op; }
  bool isName(const char *n) const { return cur().kind == Tok::Name && cur().text == n; }
  bool acceptOp(const char *op) {
    if (!isOp(op))
      return false;
    ++k_;
    return true;
  }
  bool acceptName(const char *n) {
    if (!isName(n))
      return false;
    ++k_;
    return true;
  }
  void expectOp(const char *op) {
    if (!acceptOp(op))
      fail(cur().pos, std::string("expected '") + op + "', found " + describe(cur()));
  }
  std::string expectName() {
    if (cur().kind != Tok::Name)
      fail(cur().pos, "expected a name, found " + describe(cur()));
    return (*toks_)[k_++].text;
  }
  void expectEnd() {
    if (cur().kind != Tok::End)
      fail(cur().pos, "unexpected " + describe(cur()));
  }
  static std::string describe(const Tok &t) {
    switch (t.kind) {
    case Tok::End: return "end of tag";
    case Tok::String: return "string literal";
    default: return "'" + t.text + "'";
    }
  }

  // Parses tags into a body until a block tag whose keyword is in `stops`;
  // `stop` receives that keyword (the tag's tokens are left current).
  Body parseBody(const std::set<std::string> &stops, std::string &stop) {
    Body body;
    while (ti_ < tags_.size()) {
      Tag &t = tags_[ti_];
      if (t.kind == Tag::Text) {
        auto n = std::make_unique<Node>(Node::Kind::Text, t.pos);
        n->text = std::move(t.text);
        body.push_back(std::move(n));
        ++ti_;
        continue;
      }
      toks_ = &t.toks;
      k_ = 0;
      if (t.kind == Tag::Var) {
        auto n = std::make_unique<Node>(Node::Kind::Output, t.pos);
        if (cur().kind == Tok::End)
          fail(t.pos, "empty expression");
        n->expr = parseTuple(true);
        expectEnd();
        body.push_back(std::move(n));
        ++ti_;
        continue;
      }
      if (cur().kind != Tok::Name)
        fail(t.pos, "expected a statement keyword");
      const std::string kw = cur().text;
      if (stops.count(kw)) {
        stop = kw;
        return body;
      }
      ++k_;
      ++ti_;
      if (kw == "if") {
        body.push_back(parseIf(t.pos));
      } else if (kw == "for") {
        body.push_back(parseFor(t.pos));
      } else if (kw == "set") {
        body.push_back(parseSet(t.pos));
      } else if (kw == "macro") {
        body.push_back(parseMacro(t.pos));
      } else if (kw == "break" || kw == "continue") {
        expectEnd();
        body.push_back(std::make_unique<Node>(kw == "break" ? Node::Kind::Break : Node::Kind::Continue, t.pos));
      } else if (kw == "generation") {
        // transformers' {% generation %} marks assistant text for masks; it
        // renders its body unchanged.
        expectEnd();
        std::string s;
        Body inner = parseBody({"endgeneration"}, s);
        if (s.empty())
          fail(t.pos, "missing {% endgeneration %}");
        toks_ = &tags_[ti_].toks;
        k_ = 1;
        expectEnd();
        ++ti_;
        for (auto &n : inner)
          body.push_back(std::move(n));
      } else {
        fail(t.pos, stops.empty() || stops.count(kw) == 0
                        ? "unsupported or unexpected tag '" + kw + "'"
                        : "unexpected tag '" + kw + "'");
      }
    }
    if (!stops.empty()) {
      std::string want;
      for (const auto &s : stops)
        want += (want.empty() ? "" : " or ") + ("{% " + s + " %}");
      fail(tags_.empty() ? Pos{} : tags_.back().pos, "unexpected end of template, expected " + want);
    }
    return body;
  }

  // After parseBody returned on a stop keyword: consume that tag's keyword.
  void enterStopTag() {
    toks_ = &tags_[ti_].toks;
    k_ = 1;
    ++ti_;
  }

  NodeP parseIf(Pos p) {
    auto n = std::make_unique<Node>(Node::Kind::If, p);
    ExprP cond = parseExpr(true);
    expectEnd();
    while (true) {
      std::string stop;
      Body b = parseBody({"elif", "else", "endif"}, stop);
      n->branches.emplace_back(std::move(cond), std::move(b));
      enterStopTag();
      if (stop == "elif") {
        cond = parseExpr(true);
        expectEnd();
        continue;
      }
      expectEnd();
      if (stop == "else") {
        std::string s2;
        n->elseBody = parseBody({"endif"}, s2);
        enterStopTag();
        expectEnd();
      }
      return n;
    }
  }

  NodeP parseFor(Pos p) {
    auto n = std::make_unique<Node>(Node::Kind::For, p);
    const bool paren = acceptOp("(");
    n->targets.push_back(expectName());
    while (acceptOp(","))
      n->targets.push_back(expectName());
    if (paren)
      expectOp(")");
    if (!acceptName("in"))
      fail(cur().pos, "expected 'in' in for loop");
    n->expr = parseTuple(false);
    if (acceptName("if"))
      n->cond = parseExpr(false);
    if (isName("recursive"))
      fail(cur().pos, "recursive loops are not supported");
    expectEnd();
    std::string stop;
    n->body = parseBody({"else", "endfor"}, stop);
    enterStopTag();
    expectEnd();
    if (stop == "else") {
      std::string s2;
      n->elseBody = parseBody({"endfor"}, s2);
      enterStopTag();
      expectEnd();
    }
    return n;
  }

  NodeP parseSet(Pos p) {
    const std::string first = expectName();
    if (acceptOp(".")) {
      auto n = std::make_unique<Node>(Node::Kind::Set, p);
      n->targets.push_back(first);
      n->nsAttr = expectName();
      expectOp("=");
      n->expr = parseTuple(true);
      expectEnd();
      return n;
    }
    std::vector<std::string> targets{first};
    while (acceptOp(","))
      targets.push_back(expectName());
    if (cur().kind == Tok::End && targets.size() == 1) {
      auto n = std::make_unique<Node>(Node::Kind::SetBlock, p);
      n->targets = targets;
      std::string stop;
      n->body = parseBody({"endset"}, stop);
      enterStopTag();
      expectEnd();
      return n;
    }
    auto n = std::make_unique<Node>(Node::Kind::Set, p);
    n->targets = targets;
    expectOp("=");
    n->expr = parseTuple(true);
    expectEnd();
    return n;
  }

  NodeP parseMacro(Pos p) {
    auto n = std::make_unique<Node>(Node::Kind::Macro, p);
    n->text = expectName();
    expectOp("(");
    while (!isOp(")")) {
      n->params.push_back(expectName());
      if (acceptOp("="))
        n->defaults.push_back(parseExpr(true));
      else
        n->defaults.push_back(nullptr);
      if (!acceptOp(","))
        break;
    }
    expectOp(")");
    expectEnd();
    std::string stop;
    n->body = parseBody({"endmacro"}, stop);
    enterStopTag();
    if (cur().kind == Tok::Name && cur().text == n->text)
      ++k_;
    expectEnd();
    return n;
  }

  // --- expressions
  ExprP make(Expr::Kind k, Pos p) { return std::make_unique<Expr>(k, p); }

  // `a, b` without brackets makes a tuple (output, set values, for iterables).
  ExprP parseTuple(bool withCond) {
    const Pos p = cur().pos;
    ExprP first = parseExpr(withCond);
    if (!isOp(","))
      return first;
    auto t = make(Expr::Kind::TupleLit, p);
    t->args.push_back(std::move(first));
    while (acceptOp(",")) {
      if (cur().kind == Tok::End || isOp(")") || isOp("="))
        break;
      t->args.push_back(parseExpr(withCond));
    }
    return t;
  }

  ExprP parseExpr(bool withCond) {
    ExprP e = parseOr();
    if (!withCond)
      return e;
    while (isName("if")) {
      const Pos p = cur().pos;
      ++k_;
      auto c = make(Expr::Kind::Cond, p);
      c->b = parseOr();
      if (acceptName("else"))
        c->c = parseExpr(true);
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }

  ExprP parseOr() {
    ExprP e = parseAnd();
    while (isName("or")) {
      auto o = make(Expr::Kind::Or, cur().pos);
      ++k_;
      o->a = std::move(e);
      o->b = parseAnd();
      e = std::move(o);
    }
    return e;
  }

  ExprP parseAnd() {
    ExprP e = parseNot();
    while (isName("and")) {
      auto o = make(Expr::Kind::And, cur().pos);
      ++k_;
      o->a = std::move(e);
      o->b = parseNot();
      e = std::move(o);
    }
    return e;
  }

  ExprP parseNot() {
    if (isName("not")) {
      auto n = make(Expr::Kind::Not, cur().pos);
      ++k_;
      n->a = parseNot();
      return n;
    }
    return parseCompare();
  }

  ExprP parseCompare() {
    ExprP e = parseMath1();
    while (true) {
      const Pos p = cur().pos;
      std::string op;
      if (cur().kind == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        ++k_;
      } else if (isName("in")) {
        op = "in";
        ++k_;
      } else if (isName("not") && peek().kind == Tok::Name && peek().text == "in") {
        op = "not in";
        k_ += 2;
      } else {
        return e;
      }
      auto b = make(Expr::Kind::Binary, p);
      b->name = op;
      b->a = std::move(e);
      b->b = parseMath1();
      e = std::move(b);
    }
  }

  ExprP binary(const std::string &op, Pos p, ExprP a, ExprP b) {
    auto e = make(Expr::Kind::Binary, p);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprP parseMath1() {
    ExprP e = parseConcat();
    while (isOp("+") || isOp("-")) {
      const Tok &t = cur();
      const std::string op = t.text;
      const Pos p = t.pos;
      ++k_;
      e = binary(op, p, std::move(e), parseConcat());
    }
    return e;
  }

  ExprP parseConcat() {
    ExprP e = parseMath2();
    while (isOp("~")) {
      const Pos p = cur().pos;
      ++k_;
      e = binary("~", p, std::move(e), parseMath2());
    }
    return e;
  }

  ExprP parseMath2() {
    ExprP e = parsePow();
    while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
      const std::string op = cur().text;
      const Pos p = cur().pos;
      ++k_;
      e = binary(op, p, std::move(e), parsePow());
    }
    return e;
  }

  ExprP parsePow() {
    ExprP e = parseUnary(true);
    while (isOp("**")) {
      const Pos p = cur().pos;
      ++k_;
      e = binary("**", p, std::move(e), parseUnary(true));
    }
    return e;
  }

  ExprP parseUnary(bool withFilter) {
    ExprP e;
    if (isOp("-") || isOp("+")) {
      auto u = make(Expr::Kind::Unary, cur().pos);
      u->name = cur().text;
      ++k_;
      u->a = parseUnary(false);
      e = std::move(u);
    } else {
      e = parsePostfix(parsePrimary());
    }
    if (withFilter)
      e = parseFilterExpr(std::move(e));
    return e;
  }

  void parseArgs(Expr &call) {
    // At '(' already consumed; reads until ')'.
    while (!isOp(")")) {
      if (cur().kind == Tok::Name && peek().kind == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        k_ += 2;
        call.kwargs.emplace_back(std::move(key), parseExpr(true));
      } else {
        if (!call.kwargs.empty())
          fail(cur().pos, "positional argument after keyword argument");
        call.args.push_back(parseExpr(true));
      }
      if (!acceptOp(","))
        break;
    }
    expectOp(")");
  }

  ExprP parseFilterExpr(ExprP e) {
    while (true) {
      if (isOp("|")) {
        ++k_;
        auto f = make(Expr::Kind::Filter, cur().pos);
        f->name = expectName();
        while (acceptOp("."))
          f->name += "." + expectName();
        if (!hasFilter(f->name))
          fail(f->pos, "unsupported filter '" + f->name + "'");
        if (acceptOp("("))
          parseArgs(*f);
        f->a = std::move(e);
        e = std::move(f);
      } else if (isName("is")) {
        ++k_;
        auto t = make(Expr::Kind::Test, cur().pos);
        t->negated = acceptName("not");
        t->name = expectName();
        if (!hasTest(t->name))
          fail(t->pos, "unsupported test '" + t->name + "'");
        if (acceptOp("(")) {
          parseArgs(*t);
        } else {
          static const std::set<std::string> stopWords = {"else", "or", "and", "if", "not", "in", "is"};
          const Tok &c = cur();
          const bool argFollows = (c.kind == Tok::Name && !stopWords.count(c.text)) ||
                                  c.kind == Tok::String || c.kind == Tok::Int || c.kind == Tok::Float ||
                                  (c.kind == Tok::Op && (c.text == "[" || c.text == "{"));
          if (argFollows)
            t->args.push_back(parsePostfix(parsePrimary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  ExprP parsePostfix(ExprP e) {
    while (true) {
      const Pos p = cur().pos;
      if (acceptOp(".")) {
        auto a = make(Expr::Kind::Attr, p);
        if (cur().kind == Tok::Int) {
          // `x.0` is x[0] in Jinja.
          a->kind = Expr::Kind::Item;
          auto lit = make(Expr::Kind::Literal, cur().pos);
          lit->literal = cur().value;
          ++k_;
          a->b = std::move(lit);
        } else {
          a->name = expectName();
        }
        a->a = std::move(e);
        e = std::move(a);
      } else if (acceptOp("[")) {
        // item or slice
        ExprP parts[3];
        int colons = 0;
        bool any = false;
        while (true) {
          if (isOp(":")) {
            ++k_;
            if (++colons > 2)
              fail(cur().pos, "bad slice");
            continue;
          }
          if (isOp("]"))
            break;
          if (parts[colons])
            fail(cur().pos, "expected ':' or ']'");
          parts[colons] = parseExpr(true);
          any = true;
        }
        expectOp("]");
        if (colons == 0) {
          if (!any)
            fail(p, "empty subscript");
          auto it = make(Expr::Kind::Item, p);
          it->a = std::move(e);
          it->b = std::move(parts[0]);
          e = std::move(it);
        } else {
          auto sl = make(Expr::Kind::Slice, p);
          sl->a = std::move(e);
          for (auto &x : parts)
            sl->values.push_back(std::move(x));
          e = std::move(sl);
        }
      } else if (acceptOp("(")) {
        auto c = make(Expr::Kind::Call, p);
        c->a = std::move(e);
        parseArgs(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprP parsePrimary() {
    const Tok &t = cur();
    const Pos p = t.pos;
    if (t.kind == Tok::String) {
      // Adjacent string literals concatenate, as in Python.
      std::string s;
      while (cur().kind == Tok::String) {
        s += cur().value.s;
        ++k_;
      }
      auto e = make(Expr::Kind::Literal, p);
      e->literal = Value::string(std::move(s));
      return e;
    }
    if (t.kind == Tok::Int || t.kind == Tok::Float) {
      auto e = make(Expr::Kind::Literal, p);
      e->literal = t.value;
      ++k_;
      return e;
    }
    if (t.kind == Tok::Name) {
      auto e = make(Expr::Kind::Literal, p);
      if (t.text == "true" || t.text == "True") {
        e->literal = Value::boolean(true);
      } else if (t.text == "false" || t.text == "False") {
        e->literal = Value::boolean(false);
      } else if (t.text == "none" || t.text == "None") {
        e->literal = Value::none();
      } else {
        e->kind = Expr::Kind::Name;
        e->name = t.text;
      }
      ++k_;
      return e;
    }
    if (acceptOp("(")) {
      if (acceptOp(")"))
        return make(Expr::Kind::TupleLit, p);
      ExprP first = parseExpr(true);
      if (acceptOp(")"))
        return first;
      auto tup = make(Expr::Kind::TupleLit, p);
      tup->args.push_back(std::move(first));
      while (acceptOp(",")) {
        if (isOp(")"))
          break;
        tup->args.push_back(parseExpr(true));
      }
      expectOp(")");
      return tup;
    }
    if (acceptOp("[")) {
      auto l = make(Expr::Kind::ListLit, p);
      while (!isOp("]")) {
        l->args.push_back(parseExpr(true));
        if (!acceptOp(","))
          break;
      }
      expectOp("]");
      return l;
    }
    if (acceptOp("{")) {
      auto d = make(Expr::Kind::DictLit, p);
      while (!isOp("}")) {
        d->args.push_back(parseExpr(true));
        expectOp(":");
        d->values.push_back(parseExpr(true));
        if (!acceptOp(","))
          break;
      }
      expectOp("}");
      return d;
    }
    fail(p, "unexpected " + describe(t));
  }
};

} // namespace

std::shared_ptr<const Template> parseTemplate(const std::string &source, const std::string &name) {
  Parser ps(lexTemplate(source, name), name);
  auto t = std::make_shared<Template>();
  t->name = name;
  t->body = ps.parseAll();
  return t;
}

} // namespace jinja
} // namespace ingot
