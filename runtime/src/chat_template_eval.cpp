// Evaluator of the Jinja subset: walks the syntax tree of
// chat_template_parse.cpp with a stack of scopes. As in Jinja, a `for` body
// and a macro call get their own scope (so `set` inside a loop does not leak
// out; namespace() objects are how templates carry state out of loops),
// while `if` does not. Errors carry the template position of the expression
// or statement that failed; raise_exception's message passes through as is.
// Each loop iteration starts from a fresh scope (a `set` in one iteration is
// not seen by the next), as in Jinja.
#include "chat_template_impl.h"

#include <cmath>
#include <map>
#include <unordered_map>

namespace ingot {
namespace jinja {
namespace {

using Scope = std::unordered_map<std::string, Value>;

enum class Flow { Normal, Break, Continue };

class Renderer {
public:
  Renderer(const Template &t) : t_(t) {}

  std::string run(const nlohmann::ordered_json &context) {
    if (!context.is_object())
      throw Error(t_.name + ": the render context must be a JSON object");
    auto globals = std::make_shared<Scope>();
    for (auto it = context.begin(); it != context.end(); ++it)
      (*globals)[it.key()] = fromJson(it.value());
    scopes_.push_back(globals);
    std::string out;
    out_ = &out;
    execBody(t_.body);
    return out;
  }

private:
  const Template &t_;
  std::vector<std::shared_ptr<Scope>> scopes_;
  std::string *out_ = nullptr;
  int64_t iterations_ = 0;
  int depth_ = 0;

  [[noreturn]] void fail(Pos p, const std::string &msg) const {
    throw Error(t_.name + " line " + std::to_string(p.line) + ", column " + std::to_string(p.col) + ": " + msg);
  }

  void emit(const std::string &s) {
    if (out_->size() + s.size() > kMaxOutputBytes)
      throw Error(t_.name + ": rendered output exceeds " + std::to_string(kMaxOutputBytes >> 20) + " MiB");
    out_->append(s);
  }

  Value lookup(const std::string &name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = (*it)->find(name);
      if (f != (*it)->end())
        return f->second;
    }
    return globalFunction(name);
  }
  void assign(const std::string &name, Value v) { (*scopes_.back())[name] = std::move(v); }

  // obj.name (Jinja: attribute first, then item) and obj[key] (item first).
  Value getAttr(const Value &obj, const std::string &name, Pos p) {
    if (obj.isUndefined())
      fail(p, "'" + (obj.s.empty() ? std::string("value") : obj.s) + "' is undefined (taking ." + name + ")");
    if (obj.isDict() && obj.isNamespace) {
      const Value *v = obj.find(name);
      return v ? *v : Value::undefined(name);
    }
    Value m = method(obj, name);
    if (!m.isUndefined())
      return m;
    if (obj.isDict()) {
      const Value *v = obj.find(name);
      return v ? *v : Value::undefined(name);
    }
    return Value::undefined(name);
  }

  Value getItem(const Value &obj, const Value &key, Pos p) {
    if (obj.isUndefined())
      fail(p, "'" + (obj.s.empty() ? std::string("value") : obj.s) + "' is undefined (taking [" + repr(key) + "])");
    if (obj.isDict()) {
      if (key.isString()) {
        if (const Value *v = obj.find(key.s))
          return *v;
        if (!obj.isNamespace)
          return method(obj, key.s);
      }
      return Value::undefined(key.isString() ? key.s : repr(key));
    }
    if (obj.isList() || obj.isString()) {
      if (key.isString())
        return obj.isString() ? method(obj, key.s) : Value::undefined(key.s);
      if (key.kind != Value::Kind::Int && key.kind != Value::Kind::Bool)
        fail(p, "indices must be integers, not " + typeName(key));
      int64_t i = key.kind == Value::Kind::Bool ? int64_t(key.b) : key.i;
      if (obj.isString()) {
        auto cps = codePoints(obj.s);
        if (i < 0)
          i += int64_t(cps.size());
        if (i < 0 || i >= int64_t(cps.size()))
          return Value::undefined("string index out of range");
        return Value::string(cps[size_t(i)]);
      }
      if (i < 0)
        i += int64_t(obj.list->size());
      if (i < 0 || i >= int64_t(obj.list->size()))
        return Value::undefined("list index out of range");
      return (*obj.list)[size_t(i)];
    }
    return Value::undefined(repr(key));
  }

  Value slice(const Value &obj, const Value *start, const Value *stop, const Value *step, Pos p) {
    std::vector<Value> items;
    std::vector<std::string> cps;
    int64_t n;
    if (obj.isList()) {
      n = int64_t(obj.list->size());
    } else if (obj.isString()) {
      cps = codePoints(obj.s);
      n = int64_t(cps.size());
    } else {
      fail(p, "cannot slice a " + typeName(obj));
    }
    auto num = [&](const Value *v, bool &given) -> int64_t {
      given = v && !v->isNone() && !v->isUndefined();
      if (!given)
        return 0;
      if (v->kind != Value::Kind::Int)
        fail(p, "slice indices must be integers");
      return v->i;
    };
    bool hasStart, hasStop, hasStep;
    int64_t a = num(start, hasStart), b = num(stop, hasStop), s = num(step, hasStep);
    if (!hasStep)
      s = 1;
    if (s == 0)
      fail(p, "slice step cannot be zero");
    auto clamp = [&](int64_t x, bool given, int64_t def) -> int64_t {
      if (!given)
        return def;
      if (x < 0)
        x += n;
      if (s > 0)
        return std::max<int64_t>(0, std::min(x, n));
      return std::max<int64_t>(-1, std::min(x, n - 1));
    };
    a = clamp(a, hasStart, s > 0 ? 0 : n - 1);
    b = clamp(b, hasStop, s > 0 ? n : -1);
    List outList;
    std::string outStr;
    for (int64_t i = a; s > 0 ? i < b : i > b; i += s) {
      if (obj.isList())
        outList.push_back((*obj.list)[size_t(i)]);
      else
        outStr += cps[size_t(i)];
    }
    return obj.isList() ? Value::makeList(std::move(outList)) : Value::string(std::move(outStr));
  }

  Value arith(const std::string &op, const Value &a, const Value &b, Pos p) {
    if (op == "~")
      return Value::string(toStr(a) + toStr(b));
    if (a.isUndefined() || b.isUndefined())
      fail(p, "'" + (a.isUndefined() ? a.s : b.s) + "' is undefined (in '" + op + "')");
    if (op == "+") {
      if (a.isString() && b.isString())
        return Value::string(a.s + b.s);
      if (a.isList() && b.isList()) {
        List l = *a.list;
        l.insert(l.end(), b.list->begin(), b.list->end());
        return Value::makeList(std::move(l));
      }
    }
    if (op == "*") {
      const Value *str = a.isString() || a.isList() ? &a : b.isString() || b.isList() ? &b : nullptr;
      const Value *cnt = str == &a ? &b : &a;
      if (str && (cnt->kind == Value::Kind::Int || cnt->kind == Value::Kind::Bool)) {
        const int64_t k = cnt->kind == Value::Kind::Bool ? cnt->b : cnt->i;
        if (k > 0 && (str->isString() ? str->s.size() : str->list->size()) * size_t(k) > kMaxOutputBytes)
          fail(p, "repetition too large");
        if (str->isString()) {
          std::string r;
          for (int64_t i = 0; i < k; ++i)
            r += str->s;
          return Value::string(r);
        }
        List l;
        for (int64_t i = 0; i < k; ++i)
          l.insert(l.end(), str->list->begin(), str->list->end());
        return Value::makeList(std::move(l));
      }
    }
    if (!a.isNumber() || !b.isNumber())
      fail(p, "unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '" + typeName(b) + "'");
    const bool isFloat = a.kind == Value::Kind::Float || b.kind == Value::Kind::Float;
    auto fa = [&] { return a.kind == Value::Kind::Float ? a.f : double(a.kind == Value::Kind::Bool ? a.b : a.i); };
    auto fb = [&] { return b.kind == Value::Kind::Float ? b.f : double(b.kind == Value::Kind::Bool ? b.b : b.i); };
    const int64_t ia = a.kind == Value::Kind::Bool ? a.b : a.i;
    const int64_t ib = b.kind == Value::Kind::Bool ? b.b : b.i;
    if (op == "/") {
      if (fb() == 0.0)
        fail(p, "division by zero");
      return Value::number(fa() / fb());
    }
    if (op == "**") {
      if (!isFloat && ib >= 0) {
        int64_t r = 1;
        for (int64_t i = 0; i < ib && i < 64; ++i)
          r *= ia;
        return Value::integer(r);
      }
      return Value::number(std::pow(fa(), fb()));
    }
    if (isFloat) {
      const double x = fa(), y = fb();
      if (op == "+") return Value::number(x + y);
      if (op == "-") return Value::number(x - y);
      if (op == "*") return Value::number(x * y);
      if (y == 0.0)
        fail(p, "float division by zero");
      if (op == "//") return Value::number(std::floor(x / y));
      if (op == "%") return Value::number(x - std::floor(x / y) * y);
    } else {
      if (op == "+") return Value::integer(ia + ib);
      if (op == "-") return Value::integer(ia - ib);
      if (op == "*") return Value::integer(ia * ib);
      if (ib == 0)
        fail(p, "integer division or modulo by zero");
      int64_t q = ia / ib, r = ia % ib;
      if (r != 0 && ((r < 0) != (ib < 0))) {
        --q;
        r += ib;
      }
      if (op == "//") return Value::integer(q);
      if (op == "%") return Value::integer(r);
    }
    fail(p, "unsupported operator " + op);
  }

  void evalArgs(const Expr &e, std::vector<Value> &args, KwArgs &kw) {
    for (const auto &a : e.args)
      args.push_back(eval(*a));
    for (const auto &p : e.kwargs)
      kw.emplace_back(p.first, eval(*p.second));
  }

  Value eval(const Expr &e) {
    try {
      return evalInner(e);
    } catch (const RaisedError &) {
      throw;
    } catch (const RenderError &err) {
      fail(e.pos, err.what());
    }
  }

  Value evalInner(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Literal: return e.literal;
    case Expr::Kind::Name: {
      Value v = lookup(e.name);
      if (v.isUndefined())
        v.s = e.name;
      return v;
    }
    case Expr::Kind::Attr: return getAttr(eval(*e.a), e.name, e.pos);
    case Expr::Kind::Item: return getItem(eval(*e.a), eval(*e.b), e.pos);
    case Expr::Kind::Slice: {
      Value obj = eval(*e.a);
      Value parts[3];
      const Value *ptr[3] = {nullptr, nullptr, nullptr};
      for (int i = 0; i < 3; ++i)
        if (e.values[size_t(i)]) {
          parts[i] = eval(*e.values[size_t(i)]);
          ptr[i] = &parts[i];
        }
      return slice(obj, ptr[0], ptr[1], ptr[2], e.pos);
    }
    case Expr::Kind::Call: {
      Value fn = eval(*e.a);
      if (fn.kind != Value::Kind::Func)
        fail(e.pos, fn.isUndefined() ? "'" + fn.s + "' is undefined (called as a function)"
                                     : "'" + typeName(fn) + "' object is not callable");
      std::vector<Value> args;
      KwArgs kw;
      evalArgs(e, args, kw);
      if (++depth_ > kMaxCallDepth)
        fail(e.pos, "calls nested too deeply");
      Value r = (*fn.func)(args, kw);
      --depth_;
      return r;
    }
    case Expr::Kind::Filter: {
      Value target = eval(*e.a);
      std::vector<Value> args;
      KwArgs kw;
      evalArgs(e, args, kw);
      return applyFilter(e.name, target, args, kw, [this, &e](const Value &o, const Value &k) {
        if (o.isUndefined())
          return Value::undefined();
        return k.isString() ? getAttr(o, k.s, e.pos) : getItem(o, k, e.pos);
      });
    }
    case Expr::Kind::Test: {
      Value target = eval(*e.a);
      std::vector<Value> args;
      KwArgs kw;
      evalArgs(e, args, kw);
      const bool r = applyTest(e.name, target, args);
      return Value::boolean(e.negated ? !r : r);
    }
    case Expr::Kind::Unary: {
      Value v = eval(*e.a);
      if (v.kind == Value::Kind::Float)
        return Value::number(e.name == "-" ? -v.f : v.f);
      if (v.kind == Value::Kind::Int || v.kind == Value::Kind::Bool) {
        const int64_t i = v.kind == Value::Kind::Bool ? v.b : v.i;
        return Value::integer(e.name == "-" ? -i : i);
      }
      fail(e.pos, "bad operand type for unary " + e.name + ": '" + typeName(v) + "'");
    }
    case Expr::Kind::Binary: {
      Value a = eval(*e.a);
      Value b = eval(*e.b);
      const std::string &op = e.name;
      if (op == "==") return Value::boolean(equals(a, b));
      if (op == "!=") return Value::boolean(!equals(a, b));
      if (op == "<") return Value::boolean(compare(a, b) < 0);
      if (op == ">") return Value::boolean(compare(a, b) > 0);
      if (op == "<=") return Value::boolean(compare(a, b) <= 0);
      if (op == ">=") return Value::boolean(compare(a, b) >= 0);
      if (op == "in") return Value::boolean(contains(b, a));
      if (op == "not in") return Value::boolean(!contains(b, a));
      return arith(op, a, b, e.pos);
    }
    case Expr::Kind::And: {
      Value a = eval(*e.a);
      return truthy(a) ? eval(*e.b) : a;
    }
    case Expr::Kind::Or: {
      Value a = eval(*e.a);
      return truthy(a) ? a : eval(*e.b);
    }
    case Expr::Kind::Not: return Value::boolean(!truthy(eval(*e.a)));
    case Expr::Kind::Cond:
      if (truthy(eval(*e.b)))
        return eval(*e.a);
      return e.c ? eval(*e.c) : Value::undefined();
    case Expr::Kind::ListLit:
    case Expr::Kind::TupleLit: {
      List l;
      for (const auto &x : e.args)
        l.push_back(eval(*x));
      Value v = Value::makeList(std::move(l));
      v.isTuple = e.kind == Expr::Kind::TupleLit;
      return v;
    }
    case Expr::Kind::DictLit: {
      Value d = Value::makeDict();
      for (size_t i = 0; i < e.args.size(); ++i) {
        Value k = eval(*e.args[i]);
        if (!k.isString())
          fail(e.args[i]->pos, "only string dict keys are supported");
        d.set(k.s, eval(*e.values[i]));
      }
      return d;
    }
    }
    fail(e.pos, "bad expression");
  }

  Flow execBody(const Body &body) {
    for (const auto &n : body) {
      const Flow f = exec(*n);
      if (f != Flow::Normal)
        return f;
    }
    return Flow::Normal;
  }

  void bindTargets(const Node &n, const Value &v) {
    if (n.targets.size() == 1) {
      assign(n.targets[0], v);
      return;
    }
    List items = iterate(v);
    if (items.size() != n.targets.size())
      fail(n.pos, "cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(n.targets.size()) + " names");
    for (size_t i = 0; i < items.size(); ++i)
      assign(n.targets[i], items[i]);
  }

  Flow exec(const Node &n) {
    switch (n.kind) {
    case Node::Kind::Text: emit(n.text); return Flow::Normal;
    case Node::Kind::Output: emit(toStr(eval(*n.expr))); return Flow::Normal;
    case Node::Kind::If:
      for (const auto &br : n.branches)
        if (truthy(eval(*br.first)))
          return execBody(br.second);
      return execBody(n.elseBody);
    case Node::Kind::For: return execFor(n);
    case Node::Kind::Set: {
      Value v = eval(*n.expr);
      if (!n.nsAttr.empty()) {
        Value ns = lookup(n.targets[0]);
        if (!ns.isDict() || !ns.isNamespace)
          fail(n.pos, "cannot assign attribute on non-namespace object '" + n.targets[0] + "'");
        if (n.nsAttr[0] == '_')
          fail(n.pos, "namespace attributes may not start with '_'");
        ns.set(n.nsAttr, std::move(v));
        return Flow::Normal;
      }
      try {
        bindTargets(n, v);
      } catch (const RenderError &err) {
        fail(n.pos, err.what());
      }
      return Flow::Normal;
    }
    case Node::Kind::SetBlock: {
      std::string captured;
      std::string *saved = out_;
      out_ = &captured;
      const Flow f = execBody(n.body);
      out_ = saved;
      assign(n.targets[0], Value::string(std::move(captured)));
      return f;
    }
    case Node::Kind::Macro: defineMacro(n); return Flow::Normal;
    case Node::Kind::Break: return Flow::Break;
    case Node::Kind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  Flow execFor(const Node &n) {
    Value iterable = eval(*n.expr);
    List items;
    try {
      items = iterate(iterable);
    } catch (const RenderError &err) {
      fail(n.expr->pos, err.what());
    }
    if (n.cond) {
      // The `if` filter runs before the loop, so loop.length/last count only
      // the items that pass (Jinja semantics).
      List kept;
      scopes_.push_back(std::make_shared<Scope>());
      for (const auto &it : items) {
        bindTargets(n, it);
        if (truthy(eval(*n.cond)))
          kept.push_back(it);
      }
      scopes_.pop_back();
      items = std::move(kept);
    }
    if (items.empty())
      return execBody(n.elseBody);
    const int64_t len = int64_t(items.size());
    for (int64_t i = 0; i < len; ++i) {
      // A fresh scope per iteration: Jinja does not carry `set` from one
      // iteration to the next.
      scopes_.push_back(std::make_shared<Scope>());
      if (++iterations_ > kMaxIterations)
        fail(n.pos, "too many loop iterations");
      Value loop = Value::makeDict();
      loop.set("index0", Value::integer(i));
      loop.set("index", Value::integer(i + 1));
      loop.set("revindex0", Value::integer(len - 1 - i));
      loop.set("revindex", Value::integer(len - i));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == len - 1));
      loop.set("length", Value::integer(len));
      loop.set("previtem", i > 0 ? items[size_t(i - 1)] : Value::undefined("loop.previtem"));
      loop.set("nextitem", i + 1 < len ? items[size_t(i + 1)] : Value::undefined("loop.nextitem"));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      loop.set("cycle", Value::function([i](std::vector<Value> &args, KwArgs &) -> Value {
        if (args.empty())
          throw RenderError("loop.cycle() needs at least one argument");
        return args[size_t(i) % args.size()];
      }));
      assign("loop", loop);
      bindTargets(n, items[size_t(i)]);
      const Flow f = execBody(n.body);
      scopes_.pop_back();
      if (f == Flow::Break)
        break;
    }
    return Flow::Normal;
  }

  void defineMacro(const Node &n) {
    const Node *node = &n;
    auto globals = scopes_.front();
    Value fn = Value::function([this, node, globals](std::vector<Value> &args, KwArgs &kw) -> Value {
      if (args.size() > node->params.size())
        throw RenderError("macro '" + node->text + "' takes " + std::to_string(node->params.size()) + " arguments");
      auto scope = std::make_shared<Scope>();
      std::vector<std::shared_ptr<Scope>> saved;
      saved.swap(scopes_);
      scopes_.push_back(globals);
      scopes_.push_back(scope);
      try {
        for (size_t i = 0; i < node->params.size(); ++i) {
          const std::string &p = node->params[i];
          Value v;
          bool given = false;
          if (i < args.size()) {
            v = args[i];
            given = true;
          }
          for (auto &k : kw)
            if (k.first == p) {
              v = k.second;
              given = true;
            }
          if (!given)
            v = node->defaults[i] ? eval(*node->defaults[i]) : Value::undefined(p);
          (*scope)[p] = v;
        }
        for (auto &k : kw) {
          bool known = false;
          for (const auto &p : node->params)
            known = known || p == k.first;
          if (!known)
            throw RenderError("macro '" + node->text + "' got an unexpected keyword argument '" + k.first + "'");
        }
        std::string captured;
        std::string *savedOut = out_;
        out_ = &captured;
        try {
          execBody(node->body);
        } catch (...) {
          out_ = savedOut;
          throw;
        }
        out_ = savedOut;
        scopes_.swap(saved);
        return Value::string(std::move(captured));
      } catch (...) {
        scopes_.swap(saved);
        throw;
      }
    });
    assign(n.text, fn);
  }
};

} // namespace

std::string renderTemplate(const Template &t, const nlohmann::ordered_json &context) {
  Renderer r(t);
  return r.run(context);
}

} // namespace jinja
} // namespace ingot
