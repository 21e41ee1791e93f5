//===- Evaluator.cpp - statements and expressions of the model DSL -------===//
//
// Semantics (docs/dsl.md has the user's view):
//  - one flat scope; `for` unrolls; `if`/`?:`/`&&`/`||` evaluate only the
//    branch taken, so an optional config key read in an untaken branch is
//    never an error;
//  - ints are int64; `/` of two ints is an int when exact, else a float;
//  - `config.a.b` yields Missing instead of failing, and Missing fails only
//    where it is used (not in `??`, `defined()` or a further `.key`);
//  - operators on tensors build ingot ops (+ - * / elementwise; tensor *
//    number is ingot.scale).
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::dsl;

//===----------------------------------------------------------------------===//
// Setup and diagnostics
//===----------------------------------------------------------------------===//

Evaluator::Evaluator(MLIRContext &ctx, llvm::StringRef file,
                     const llvm::json::Object &config,
                     const llvm::json::Object &generationConfig,
                     const ::ingot::dslbridge::CheckpointIndex &ckpt,
                     ModuleOp module, func::FuncOp forward)
    : ctx(ctx), file(file.str()), config(config),
      generationConfig(generationConfig), ckpt(ckpt), module(module),
      forward(forward), builder(&ctx), declBuilder(forward) {
  builder.setInsertionPointToEnd(&forward.getBody().front());
  globals["config"] = Val::obj(&config, "config");
  globals["generation_config"] =
      Val::obj(&generationConfig, "generation_config");
  globals["tokens"] = Val::value(forward.getArgument(0));
  globals["positions"] = Val::value(forward.getArgument(1));
  globals["batch"] = Val::value(forward.getArgument(2));
}

const Val *Evaluator::lookup(llvm::StringRef name) const {
  if (locals)
    if (auto it = locals->find(name); it != locals->end())
      return &it->second;
  if (auto it = globals.find(name); it != globals.end())
    return &it->second;
  return nullptr;
}

void Evaluator::assign(llvm::StringRef name, Val v) {
  (locals ? *locals : globals)[name] = std::move(v);
}

std::vector<std::string> Evaluator::visibleNames() const {
  std::vector<std::string> names;
  for (const llvm::StringMap<Val> *scope :
       {(const llvm::StringMap<Val> *)locals, &globals})
    if (scope)
      for (const auto &kv : *scope)
        names.push_back(kv.first().str());
  for (const auto &kv : functions)
    names.push_back(kv.first().str());
  std::sort(names.begin(), names.end());
  return names;
}

Location Evaluator::loc(SrcLoc l) const {
  Location here = FileLineColLoc::get(&ctx, file, l.line, l.col);
  if (callStack.empty())
    return here;
  // Inside a user function: the call chain, as MLIR records inlined calls,
  // so diagnostics also print where the function was called from.
  Location caller = FileLineColLoc::get(&ctx, file, callStack.front().line,
                                        callStack.front().col);
  for (SrcLoc c : llvm::ArrayRef(callStack).drop_front())
    caller = CallSiteLoc::get(FileLineColLoc::get(&ctx, file, c.line, c.col),
                              caller);
  return CallSiteLoc::get(here, caller);
}

InFlightDiagnostic Evaluator::error(SrcLoc l) { return emitError(loc(l)); }

LogicalResult Evaluator::fail(SrcLoc l, const llvm::Twine &msg) {
  error(l) << msg;
  return failure();
}

LogicalResult Evaluator::requirePresent(const Val &v, SrcLoc use) {
  if (v.kind != Val::Missing)
    return success();
  InFlightDiagnostic d = error(use);
  d << v.s << ", and no default was given (write `... ?? DEFAULT`)";
  if (v.where.line != use.line || v.where.col != use.col)
    d.attachNote(loc(v.where)) << "read here";
  return failure();
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

static bool isPredefined(llvm::StringRef n) {
  return n == "config" || n == "generation_config" || n == "tokens" ||
         n == "positions" || n == "batch";
}

LogicalResult Evaluator::run(const ModelFile &f) {
  if (failed(exec(f.body)))
    return failure();
  if (returning)
    output = returning->ir;
  return success();
}

LogicalResult Evaluator::exec(const Block &block) {
  for (size_t k = 0; k < block.size(); ++k) {
    if (returning) {
      if (block[k - 1]->kind == Stmt::Return)
        return fail(block[k]->loc, "statement after 'return' is never run");
      return success();
    }
    if (failed(exec(*block[k])))
      return failure();
  }
  return success();
}

// Far above any real model (a 100-layer model runs ~10^4 statements).
static constexpr uint64_t kMaxSteps = 20'000'000;

LogicalResult Evaluator::countStep(SrcLoc l) {
  if (++steps <= kMaxSteps)
    return success();
  return fail(l, "evaluation stopped after " + std::to_string(kMaxSteps) +
                     " steps (a loop or recursion that does not end?)");
}

LogicalResult Evaluator::exec(const Stmt &s) {
  if (failed(countStep(s.loc)))
    return failure();
  switch (s.kind) {
  case Stmt::Assign: {
    if (isPredefined(s.name))
      return fail(s.loc, "cannot assign to '" + s.name +
                             "': it is predefined by the DSL");
    FailureOr<Val> v = eval(*s.value);
    if (failed(v))
      return failure();
    assign(s.name, *v);
    return success();
  }
  case Stmt::If: {
    FailureOr<bool> c = evalCondition(*s.value, "an 'if' condition");
    if (failed(c))
      return failure();
    return exec(*c ? s.body : s.orelse);
  }
  case Stmt::For: {
    FailureOr<int64_t> lo = evalInt(*s.lo, "the start of a loop range");
    if (failed(lo))
      return failure();
    FailureOr<int64_t> hi = evalInt(*s.hi, "the end of a loop range");
    if (failed(hi))
      return failure();
    if (isPredefined(s.name))
      return fail(s.loc, "cannot use '" + s.name + "' as a loop variable");
    for (int64_t k = *lo; k < *hi && !returning; ++k) {
      assign(s.name, Val::integer(k));
      if (failed(exec(s.body)))
        return failure();
    }
    return success();
  }
  case Stmt::Return: {
    FailureOr<Val> v = evalPresent(*s.value);
    if (failed(v))
      return failure();
    if (!locals && (v->kind != Val::IR || !isa<TensorType>(v->ir.getType())))
      return fail(s.value->loc, "the model must return a tensor (the logits), "
                                "got " +
                                    typeName(*v));
    returning = *v;
    return success();
  }
  case Stmt::Def: {
    if (locals)
      return fail(s.loc, "functions are defined at the top level only");
    if (isBuiltinFunction(s.name) || isPredefined(s.name))
      return fail(s.loc, "'" + s.name + "' is a builtin; choose another name");
    if (functions.count(s.name))
      return fail(s.loc, "function '" + s.name + "' is defined twice");
    functions[s.name] = &s;
    return success();
  }
  case Stmt::ExprStmt: {
    if (s.value->kind != Expr::Call)
      return fail(s.loc, "this expression does nothing: a statement is an "
                         "assignment, 'if', 'for', 'return' or a call");
    return failure(failed(eval(*s.value)));
  }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

FailureOr<Val> Evaluator::evalPresent(const Expr &e) {
  FailureOr<Val> v = eval(e);
  if (failed(v) || failed(requirePresent(*v, startLoc(e))))
    return failure();
  return v;
}

FailureOr<bool> Evaluator::evalCondition(const Expr &e, llvm::StringRef what) {
  FailureOr<Val> v = evalPresent(e);
  if (failed(v))
    return failure();
  if (v->kind != Val::Bool) {
    error(startLoc(e)) << what << " must be a bool (true or false), got "
                       << describeValue(*v);
    return failure();
  }
  return v->b;
}

FailureOr<int64_t> Evaluator::evalInt(const Expr &e, llvm::StringRef what) {
  FailureOr<Val> v = evalPresent(e);
  if (failed(v))
    return failure();
  if (std::optional<int64_t> n = v->exactInt())
    return *n;
  error(startLoc(e)) << what << " must be an integer, got "
                     << describeValue(*v);
  return failure();
}

// "config.rope_scaling.factor" -> "rope_scaling.factor" (messages name the
// file separately).
static std::string keyPath(llvm::StringRef path) {
  return path.split('.').second.str();
}

Val Evaluator::fromJson(const llvm::json::Value &v, const std::string &path,
                        SrcLoc l) {
  std::string file = llvm::StringRef(path).starts_with("generation_config")
                         ? "generation_config.json"
                         : "config.json";
  switch (v.kind()) {
  case llvm::json::Value::Null:
    return Val::missing(file + " key '" + keyPath(path) + "' is null", l);
  case llvm::json::Value::Boolean:
    return Val::boolean(*v.getAsBoolean());
  case llvm::json::Value::Number:
    if (std::optional<int64_t> i = v.getAsInteger())
      return Val::integer(*i);
    return Val::number(*v.getAsNumber());
  case llvm::json::Value::String:
    return Val::str(v.getAsString()->str());
  case llvm::json::Value::Array: {
    std::vector<Val> items;
    const llvm::json::Array *a = v.getAsArray();
    for (size_t k = 0; k < a->size(); ++k)
      items.push_back(
          fromJson((*a)[k], path + "[" + std::to_string(k) + "]", l));
    return Val::makeList(std::move(items));
  }
  case llvm::json::Value::Object:
    return Val::obj(v.getAsObject(), path);
  }
  return Val::none();
}

Val Evaluator::lookupKey(const Val &obj, llvm::StringRef key, SrcLoc l) {
  std::string path = obj.s + "." + key.str();
  if (const llvm::json::Value *v = obj.object->get(key))
    return fromJson(*v, path, l);
  std::string file = llvm::StringRef(obj.s).starts_with("generation_config")
                         ? "generation_config.json"
                         : "config.json";
  std::vector<std::string> keys;
  for (const auto &kv : *obj.object)
    keys.push_back(kv.first.str());
  std::sort(keys.begin(), keys.end());
  std::string where = obj.s == "config" || obj.s == "generation_config"
                          ? ""
                          : " under '" + keyPath(obj.s) + "'";
  return Val::missing(file + " has no key '" + key.str() + "'" + where +
                          didYouMean(closestNames(key, keys)),
                      l);
}

FailureOr<Val> Evaluator::eval(const Expr &e) {
  switch (e.kind) {
  case Expr::IntLit:
    return Val::integer(e.intValue);
  case Expr::FloatLit:
    return Val::number(e.floatValue);
  case Expr::BoolLit:
    return Val::boolean(e.boolValue);
  case Expr::NoneLit:
    return Val::none();
  case Expr::StringLit:
    return evalString(e);
  case Expr::Name: {
    if (const Val *v = lookup(e.name))
      return *v;
    InFlightDiagnostic d = error(e.loc);
    d << "unknown name '" << e.name << "'";
    if (functions.count(e.name) || isBuiltinFunction(e.name))
      d << " ('" << e.name << "' is a function: call it)";
    else
      d << didYouMean(closestNames(e.name, visibleNames()));
    return failure();
  }
  case Expr::List: {
    std::vector<Val> items;
    for (const ExprPtr &x : e.items) {
      FailureOr<Val> v = evalPresent(*x);
      if (failed(v))
        return failure();
      items.push_back(*v);
    }
    return Val::makeList(std::move(items));
  }
  case Expr::Comprehension:
    return evalComprehension(e);
  case Expr::Member:
    return evalMember(e);
  case Expr::Index:
    return evalIndex(e);
  case Expr::Call:
    return evalCall(e);
  case Expr::Unary: {
    FailureOr<Val> v = evalPresent(*e.lhs);
    if (failed(v))
      return failure();
    if (e.op == Tok::Bang) {
      if (v->kind != Val::Bool) {
        error(e.loc) << "'!' needs a bool, got " << typeName(*v);
        return failure();
      }
      return Val::boolean(!v->b);
    }
    if (v->kind == Val::Int)
      return Val::integer(-v->i);
    if (v->kind == Val::Float)
      return Val::number(-v->f);
    if (v->kind == Val::IR || v->kind == Val::Weight) {
      FailureOr<mlir::Value> r = scaleOp(*v, -1.0, e.loc);
      if (failed(r))
        return failure();
      return Val::value(*r);
    }
    error(e.loc) << "'-' needs a number or a tensor, got " << typeName(*v);
    return failure();
  }
  case Expr::Binary:
    return evalBinary(e);
  case Expr::Logical: {
    FailureOr<bool> l = evalCondition(
        *e.lhs, e.op == Tok::AndAnd ? "the left of '&&'" : "the left of '||'");
    if (failed(l))
      return failure();
    if (e.op == Tok::AndAnd ? !*l : *l)
      return Val::boolean(*l);
    FailureOr<bool> r =
        evalCondition(*e.rhs, e.op == Tok::AndAnd ? "the right of '&&'"
                                                  : "the right of '||'");
    if (failed(r))
      return failure();
    return Val::boolean(*r);
  }
  case Expr::Coalesce: {
    FailureOr<Val> l = eval(*e.lhs);
    if (failed(l))
      return failure();
    if (!l->isAbsent())
      return l;
    return eval(*e.rhs);
  }
  case Expr::Ternary: {
    FailureOr<bool> c = evalCondition(*e.mid, "the condition of '?:'");
    if (failed(c))
      return failure();
    return eval(*c ? *e.lhs : *e.rhs);
  }
  }
  return Val::none();
}

FailureOr<Val> Evaluator::evalString(const Expr &e) {
  std::string out;
  for (const StringPart &p : e.parts) {
    if (!p.expr) {
      out += p.text;
      continue;
    }
    FailureOr<Val> v = evalPresent(*p.expr);
    if (failed(v))
      return failure();
    if (v->kind != Val::Int && v->kind != Val::Float && v->kind != Val::Str &&
        v->kind != Val::Bool) {
      error(p.expr->loc) << "cannot put a " << typeName(*v)
                         << " into a string (only int, float, string, bool)";
      return failure();
    }
    out += formatValue(*v);
  }
  return Val::str(std::move(out));
}

FailureOr<Val> Evaluator::evalMember(const Expr &e) {
  FailureOr<Val> base = eval(*e.lhs);
  if (failed(base))
    return failure();
  if (base->kind == Val::Missing)
    return *base; // config.a.b with a missing: still missing, same story
  if (base->kind == Val::Object)
    return lookupKey(*base, e.name, e.loc);
  if (base->kind == Val::Weight) {
    if (e.name == "shape") {
      std::vector<Val> dims;
      for (int64_t d : base->weight->shape)
        dims.push_back(Val::integer(d));
      return Val::makeList(std::move(dims));
    }
    if (e.name == "dtype")
      return Val::str(base->weight->dtype);
    error(e.loc) << "a weight has no property '" << e.name
                 << "' (properties: shape, dtype; methods: transpose(), "
                    "slice(axis, start, size), cast(dtype))";
    return failure();
  }
  error(e.loc) << "cannot read '." << e.name << "' of a " << typeName(*base)
               << (base->kind == Val::None ? " (a value that is none)" : "");
  return failure();
}

FailureOr<Val> Evaluator::evalIndex(const Expr &e) {
  FailureOr<Val> base = eval(*e.lhs);
  if (failed(base))
    return failure();
  if (base->kind == Val::Missing)
    return *base;
  FailureOr<Val> idx = evalPresent(*e.rhs);
  if (failed(idx))
    return failure();
  if (base->kind == Val::Object) {
    if (idx->kind != Val::Str) {
      error(e.rhs->loc) << "an object is indexed by a string key, got "
                        << typeName(*idx);
      return failure();
    }
    return lookupKey(*base, idx->s, e.loc);
  }
  if (base->kind != Val::List) {
    error(e.loc) << "cannot index a " << typeName(*base);
    return failure();
  }
  if (idx->kind != Val::Int) {
    error(e.rhs->loc) << "a list index must be an int, got " << typeName(*idx);
    return failure();
  }
  int64_t n = int64_t(base->list->size());
  int64_t k = idx->i < 0 ? idx->i + n : idx->i;
  if (k < 0 || k >= n) {
    error(e.rhs->loc) << "index " << idx->i << " is out of range for a list of "
                      << n << " elements";
    return failure();
  }
  return (*base->list)[size_t(k)];
}

FailureOr<Val> Evaluator::evalComprehension(const Expr &e) {
  FailureOr<int64_t> lo = evalInt(*e.mid, "the start of a range");
  if (failed(lo))
    return failure();
  FailureOr<int64_t> hi = evalInt(*e.rhs, "the end of a range");
  if (failed(hi))
    return failure();
  if (isPredefined(e.name)) {
    error(e.loc) << "cannot use '" << e.name << "' as a variable";
    return failure();
  }
  // The variable is local to the comprehension.
  llvm::StringMap<Val> &scope = locals ? *locals : globals;
  std::optional<Val> saved;
  if (auto it = scope.find(e.name); it != scope.end())
    saved = it->second;
  std::vector<Val> items;
  LogicalResult r = success();
  for (int64_t k = *lo; k < *hi; ++k) {
    if (failed(countStep(e.loc))) {
      r = failure();
      break;
    }
    scope[e.name] = Val::integer(k);
    FailureOr<Val> v = evalPresent(*e.lhs);
    if (failed(v)) {
      r = failure();
      break;
    }
    items.push_back(*v);
  }
  if (saved)
    scope[e.name] = *saved;
  else
    scope.erase(e.name);
  if (failed(r))
    return failure();
  return Val::makeList(std::move(items));
}

FailureOr<bool> Evaluator::equal(const Val &a, const Val &b, SrcLoc l) {
  if (a.kind == Val::None || b.kind == Val::None)
    return a.kind == b.kind;
  if (a.isNumber() && b.isNumber()) {
    if (a.kind == Val::Int && b.kind == Val::Int)
      return a.i == b.i;
    return a.asDouble() == b.asDouble();
  }
  if (a.kind == Val::Str && b.kind == Val::Str)
    return a.s == b.s;
  if (a.kind == Val::Bool && b.kind == Val::Bool)
    return a.b == b.b;
  if (a.kind == Val::List && b.kind == Val::List) {
    if (a.list->size() != b.list->size())
      return false;
    for (size_t k = 0; k < a.list->size(); ++k) {
      FailureOr<bool> q = equal((*a.list)[k], (*b.list)[k], l);
      if (failed(q) || !*q)
        return q;
    }
    return true;
  }
  error(l) << "cannot compare a " << typeName(a) << " with a " << typeName(b);
  return failure();
}

FailureOr<Val> Evaluator::evalBinary(const Expr &e) {
  FailureOr<Val> lv = evalPresent(*e.lhs);
  if (failed(lv))
    return failure();
  FailureOr<Val> rv = evalPresent(*e.rhs);
  if (failed(rv))
    return failure();
  const Val &a = *lv, &b = *rv;
  Tok op = e.op;
  auto typeError = [&]() -> FailureOr<Val> {
    error(e.loc) << "cannot apply " << tokName(op) << " to a " << typeName(a)
                 << " and a " << typeName(b);
    return failure();
  };

  // Comparisons.
  if (op == Tok::EqEq || op == Tok::NotEq) {
    FailureOr<bool> q = equal(a, b, e.loc);
    if (failed(q))
      return failure();
    return Val::boolean(op == Tok::EqEq ? *q : !*q);
  }
  if (op == Tok::KwIn) {
    if (b.kind == Val::List) {
      for (const Val &x : *b.list) {
        FailureOr<bool> q = equal(a, x, e.loc);
        if (failed(q))
          return failure();
        if (*q)
          return Val::boolean(true);
      }
      return Val::boolean(false);
    }
    if (b.kind == Val::Str && a.kind == Val::Str)
      return Val::boolean(llvm::StringRef(b.s).contains(a.s));
    if (b.kind == Val::Object && a.kind == Val::Str) {
      const llvm::json::Value *v = b.object->get(a.s);
      return Val::boolean(v && v->kind() != llvm::json::Value::Null);
    }
    return typeError();
  }
  if (op == Tok::Less || op == Tok::LessEq || op == Tok::Greater ||
      op == Tok::GreaterEq) {
    int c;
    if (a.isNumber() && b.isNumber()) {
      if (a.kind == Val::Int && b.kind == Val::Int)
        c = a.i < b.i ? -1 : a.i > b.i;
      else
        c = a.asDouble() < b.asDouble() ? -1 : a.asDouble() > b.asDouble();
    } else if (a.kind == Val::Str && b.kind == Val::Str) {
      c = a.s.compare(b.s);
      c = c < 0 ? -1 : c > 0;
    } else {
      return typeError();
    }
    bool r = op == Tok::Less      ? c < 0
             : op == Tok::LessEq  ? c <= 0
             : op == Tok::Greater ? c > 0
                                  : c >= 0;
    return Val::boolean(r);
  }

  // Tensors: elementwise ops, and scaling by a number.
  bool ta = a.kind == Val::IR || a.kind == Val::Weight;
  bool tb = b.kind == Val::IR || b.kind == Val::Weight;
  if (ta || tb) {
    FailureOr<mlir::Value> r = failure();
    if (ta && tb) {
      const char *name = op == Tok::Plus    ? "ingot.add"
                         : op == Tok::Minus ? "ingot.sub"
                         : op == Tok::Star  ? "ingot.mul"
                         : op == Tok::Slash ? "ingot.div"
                                            : nullptr;
      if (!name)
        return typeError();
      r = binaryOp(name, a, b, e.loc);
    } else if (ta && b.isNumber() && (op == Tok::Star || op == Tok::Slash)) {
      if (op == Tok::Slash && b.asDouble() == 0)
        return fail(e.rhs->loc, "division of a tensor by zero");
      r = scaleOp(a, op == Tok::Star ? b.asDouble() : 1.0 / b.asDouble(),
                  e.loc);
    } else if (tb && a.isNumber() && op == Tok::Star) {
      r = scaleOp(b, a.asDouble(), e.loc);
    } else {
      return typeError();
    }
    if (failed(r))
      return failure();
    return Val::value(*r);
  }

  if (op == Tok::Plus && a.kind == Val::Str && b.kind == Val::Str)
    return Val::str(a.s + b.s);
  if (op == Tok::Plus && a.kind == Val::List && b.kind == Val::List) {
    std::vector<Val> items(*a.list);
    items.insert(items.end(), b.list->begin(), b.list->end());
    return Val::makeList(std::move(items));
  }
  if (!a.isNumber() || !b.isNumber())
    return typeError();

  bool ints = a.kind == Val::Int && b.kind == Val::Int;
  int64_t r = 0;
  auto overflow = [&]() -> FailureOr<Val> {
    return fail(e.loc, "integer overflow in " + formatValue(a) + " " +
                           tokName(op) + " " + formatValue(b));
  };
  switch (op) {
  case Tok::Plus:
    if (!ints)
      return Val::number(a.asDouble() + b.asDouble());
    if (__builtin_add_overflow(a.i, b.i, &r))
      return overflow();
    return Val::integer(r);
  case Tok::Minus:
    if (!ints)
      return Val::number(a.asDouble() - b.asDouble());
    if (__builtin_sub_overflow(a.i, b.i, &r))
      return overflow();
    return Val::integer(r);
  case Tok::Star:
    if (!ints)
      return Val::number(a.asDouble() * b.asDouble());
    if (__builtin_mul_overflow(a.i, b.i, &r))
      return overflow();
    return Val::integer(r);
  case Tok::Slash:
    if (b.asDouble() == 0)
      return fail(e.rhs->loc, "division by zero");
    // Exact integer division stays an int (hidden / heads is a size).
    if (ints && a.i == INT64_MIN && b.i == -1)
      return overflow();
    if (ints && a.i % b.i == 0)
      return Val::integer(a.i / b.i);
    return Val::number(a.asDouble() / b.asDouble());
  case Tok::SlashSlash:
  case Tok::Percent: {
    if (!ints) {
      error(e.loc) << tokName(op) << " needs two ints, got " << typeName(a)
                   << " and " << typeName(b);
      return failure();
    }
    if (b.i == 0)
      return fail(e.rhs->loc, "division by zero");
    if (a.i == INT64_MIN && b.i == -1)
      return overflow();
    // Floor semantics, as in Python.
    int64_t q = a.i / b.i, m = a.i % b.i;
    if (m != 0 && ((m < 0) != (b.i < 0))) {
      --q;
      m += b.i;
    }
    return Val::integer(op == Tok::SlashSlash ? q : m);
  }
  case Tok::StarStar:
    if (ints && b.i >= 0) {
      if (a.i == 0 || a.i == 1)
        return Val::integer(b.i == 0 ? 1 : a.i);
      if (a.i == -1)
        return Val::integer(b.i % 2 ? -1 : 1);
      r = 1; // |a| >= 2: overflows within 63 steps
      for (int64_t k = 0; k < b.i; ++k)
        if (__builtin_mul_overflow(r, a.i, &r))
          return overflow();
      return Val::integer(r);
    }
    return Val::number(std::pow(a.asDouble(), b.asDouble()));
  default:
    return typeError();
  }
}
