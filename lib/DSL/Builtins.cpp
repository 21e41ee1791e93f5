//===- Builtins.cpp - calls in the model DSL: helpers and ingot ops -------===//
//
// Op calls are table-driven: each entry names the DSL function, the ingot op,
// its tensor operands (positional) and its attributes (keyword-only, with the
// op's own attribute names, checked for type here so the message can say
// which argument is wrong). The op is created with an unranked result,
// verified, then given its inferred ranked type (see Evaluator.h).
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::dsl;
using ::ingot::dslbridge::TransformStep;

namespace {
enum class AttrKind { I64, F64, Str, Bool };
enum class OperandKind { Float, Ids };

struct AttrSpec {
  const char *name;
  AttrKind kind;
  bool required;
};
struct OperandSpec {
  const char *name;
  OperandKind kind;
  bool optional;
};
struct OpSpec {
  const char *dslName;
  const char *opName;
  std::vector<OperandSpec> operands;
  bool takesBatch; // the step's batch, passed implicitly
  std::vector<AttrSpec> attrs;
};

constexpr OperandKind F = OperandKind::Float, Ids = OperandKind::Ids;
constexpr AttrKind I64 = AttrKind::I64, F64 = AttrKind::F64,
                   Str = AttrKind::Str, Bool = AttrKind::Bool;

// Twin of the op definitions in include/ingot/Dialect/Ingot/IngotOps.td.
const std::vector<OpSpec> &opTable() {
  static const std::vector<OpSpec> table = {
      {"embedding",
       "ingot.embedding",
       {{"table", F, false}, {"ids", Ids, false}},
       false,
       {}},
      {"linear",
       "ingot.linear",
       {{"x", F, false}, {"weight", F, false}, {"bias", F, true}},
       false,
       {{"activation", Str, false}}},
      {"rms_norm",
       "ingot.rms_norm",
       {{"x", F, false}, {"weight", F, false}},
       false,
       {{"epsilon", F64, true}, {"group_size", I64, false}}},
      {"layer_norm",
       "ingot.layer_norm",
       {{"x", F, false}, {"weight", F, false}, {"bias", F, false}},
       false,
       {{"epsilon", F64, true}}},
      {"rope",
       "ingot.rope",
       {{"x", F, false}, {"positions", Ids, false}},
       false,
       {{"head_dim", I64, true},
        {"rotary_dim", I64, false},
        {"theta", F64, true},
        {"style", Str, false},
        {"scaling", Str, false},
        {"factor", F64, false},
        {"low_freq_factor", F64, false},
        {"high_freq_factor", F64, false},
        {"original_max_position", I64, false}}},
      {"attention",
       "ingot.attention",
       {{"q", F, false}, {"k", F, false}, {"v", F, false}},
       true,
       {{"layer", I64, true},
        {"num_heads", I64, true},
        {"num_kv_heads", I64, true},
        {"head_dim", I64, true},
        {"scale", F64, true},
        {"sliding_window", I64, false}}},
      {"silu", "ingot.silu", {{"x", F, false}}, false, {}},
      {"relu", "ingot.relu", {{"x", F, false}}, false, {}},
      {"gelu",
       "ingot.gelu",
       {{"x", F, false}},
       false,
       {{"approximate", Str, false}}},
      {"add", "ingot.add", {{"lhs", F, false}, {"rhs", F, false}}, false, {}},
      {"sub", "ingot.sub", {{"lhs", F, false}, {"rhs", F, false}}, false, {}},
      {"mul", "ingot.mul", {{"lhs", F, false}, {"rhs", F, false}}, false, {}},
      {"div", "ingot.div", {{"lhs", F, false}, {"rhs", F, false}}, false, {}},
      {"scale",
       "ingot.scale",
       {{"x", F, false}},
       false,
       {{"factor", F64, true}}},
      {"softmax", "ingot.softmax", {{"x", F, false}}, false, {}},
      {"moe",
       "ingot.moe",
       {{"x", F, false},
        {"router", F, false},
        {"gate", F, false},
        {"up", F, false},
        {"down", F, false}},
       false,
       {{"top_k", I64, true}, {"normalize_topk", Bool, false}}},
      {"gather_last", "ingot.gather_last", {{"x", F, false}}, true, {}},
      {"logits",
       "ingot.logits",
       {{"x", F, false}, {"weight", F, false}},
       true,
       {}},
  };
  return table;
}

const OpSpec *findOp(llvm::StringRef name) {
  for (const OpSpec &s : opTable())
    if (name == s.dslName)
      return &s;
  return nullptr;
}

// "rope(x, positions, head_dim = INT, theta = FLOAT, ...)" for messages.
std::string signature(const OpSpec &s) {
  std::vector<std::string> parts;
  for (const OperandSpec &o : s.operands)
    parts.push_back(o.optional ? std::string(o.name) + "?"
                               : std::string(o.name));
  for (const AttrSpec &a : s.attrs) {
    const char *t = a.kind == I64   ? "int"
                    : a.kind == F64 ? "float"
                    : a.kind == Str ? "string"
                                    : "bool";
    parts.push_back(std::string(a.name) + (a.required ? " = " : " = [") + t +
                    (a.required ? "" : "]"));
  }
  return std::string(s.dslName) + "(" + llvm::join(parts, ", ") + ")";
}

// The non-op builtins, for "unknown function" suggestions.
const char *const kHelpers[] = {
    "weight", "has_weight", "stack", "concat", "defined", "error", "meta",
    "sqrt",   "min",        "max",   "int",    "float",   "len"};
} // namespace

bool mlir::ingot::dsl::isBuiltinFunction(llvm::StringRef name) {
  return findOp(name) || llvm::is_contained(kHelpers, name);
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

FailureOr<Val> Evaluator::callUser(const Stmt &def, const CallArgs &args,
                                   SrcLoc l) {
  if (args.positional.size() > def.params.size())
    return fail(l, def.name + "(...) takes " +
                       std::to_string(def.params.size()) + " argument" +
                       (def.params.size() == 1 ? "" : "s") + ", got " +
                       std::to_string(args.positional.size()));
  llvm::StringMap<Val> frame;
  for (size_t k = 0; k < args.positional.size(); ++k)
    frame[def.params[k]] = args.positional[k].value;
  for (const CallArgs::Item &kw : args.keyword) {
    if (!llvm::is_contained(def.params, kw.name))
      return fail(kw.nameLoc, def.name + "(...) has no parameter '" + kw.name +
                                  "' (it takes " +
                                  llvm::join(def.params, ", ") + ")");
    if (frame.count(kw.name))
      return fail(kw.loc, "parameter '" + kw.name + "' of " + def.name +
                              " is given twice");
    frame[kw.name] = kw.value;
  }
  for (const std::string &p : def.params)
    if (!frame.count(p))
      return fail(l, def.name + "(...) needs parameter '" + p + "'");
  // Deep recursion would exhaust the C++ stack; models never need it.
  if (callStack.size() >= 64)
    return fail(l, "function calls nest too deeply (recursion?)");

  llvm::StringMap<Val> *savedLocals = locals;
  std::optional<Val> savedReturn = std::move(returning);
  locals = &frame;
  returning.reset();
  callStack.push_back(l);
  LogicalResult r = exec(def.body);
  callStack.pop_back();
  Val result = returning ? *returning : Val::none();
  locals = savedLocals;
  returning = std::move(savedReturn);
  if (failed(r))
    return failure();
  return result;
}

FailureOr<Val> Evaluator::evalCall(const Expr &e) {
  CallArgs args;
  for (const Arg &a : e.args) {
    FailureOr<Val> v = eval(*a.value);
    if (failed(v))
      return failure();
    CallArgs::Item item{a.name, startLoc(*a.value), a.nameLoc, *v};
    if (a.name.empty()) {
      args.positional.push_back(std::move(item));
    } else {
      if (args.kw(a.name)) {
        error(a.nameLoc) << "argument '" << a.name << "' is given twice";
        return failure();
      }
      args.keyword.push_back(std::move(item));
    }
  }
  const Expr &callee = *e.lhs;
  bool isDefined = callee.kind == Expr::Name && callee.name == "defined";
  if (!isDefined) {
    for (const auto *list : {&args.positional, &args.keyword})
      for (const CallArgs::Item &item : *list)
        if (failed(requirePresent(item.value, item.loc)))
          return failure();
  }
  if (callee.kind == Expr::Name) {
    auto fn = functions.find(callee.name);
    if (fn != functions.end())
      return callUser(*fn->second, args, e.loc);
    return callBuiltin(callee.name, args, e.loc);
  }
  if (callee.kind == Expr::Member) {
    FailureOr<Val> self = evalPresent(*callee.lhs);
    if (failed(self))
      return failure();
    return callMethod(*self, callee.name, args, callee.loc);
  }
  error(e.loc) << "only builtin functions and weight methods can be called";
  return failure();
}

LogicalResult Evaluator::expectArgs(llvm::StringRef fn, const CallArgs &args,
                                    size_t minPos, size_t maxPos,
                                    llvm::ArrayRef<llvm::StringRef> keywords,
                                    SrcLoc l) {
  if (args.positional.size() < minPos || args.positional.size() > maxPos) {
    InFlightDiagnostic d = error(l);
    d << fn << "(...) takes ";
    if (minPos == maxPos)
      d << minPos;
    else
      d << minPos << " to " << maxPos;
    d << " positional argument" << (maxPos == 1 ? "" : "s") << ", got "
      << args.positional.size();
    return failure();
  }
  for (const CallArgs::Item &k : args.keyword)
    if (!llvm::is_contained(keywords, k.name)) {
      InFlightDiagnostic d = error(k.nameLoc);
      d << fn << "(...) has no argument '" << k.name << "'";
      if (!keywords.empty())
        d << " (it takes " << llvm::join(keywords, ", ") << ")";
      return failure();
    }
  return success();
}

FailureOr<Val> Evaluator::callBuiltin(llvm::StringRef name,
                                      const CallArgs &args, SrcLoc l) {
  auto pos = [&](size_t k) -> const Val & { return args.positional[k].value; };
  auto posLoc = [&](size_t k) { return args.positional[k].loc; };

  if (name == "weight") {
    if (failed(expectArgs(name, args, 1, 1, {}, l)))
      return failure();
    return makeWeight(pos(0), posLoc(0));
  }
  if (name == "has_weight") {
    if (failed(expectArgs(name, args, 1, 1, {}, l)))
      return failure();
    if (pos(0).kind != Val::Str)
      return fail(posLoc(0),
                  "has_weight(...) takes a tensor name string, got " +
                      typeName(pos(0)));
    return Val::boolean(ckpt.has(pos(0).s));
  }
  if (name == "stack" || name == "concat") {
    if (failed(expectArgs(name, args, 1, 1,
                          name == "concat"
                              ? llvm::ArrayRef<llvm::StringRef>{"axis"}
                              : llvm::ArrayRef<llvm::StringRef>{},
                          l)))
      return failure();
    int64_t axis = 0;
    if (const CallArgs::Item *a = args.kw("axis")) {
      if (a->value.kind != Val::Int)
        return fail(a->loc, "axis must be an int, got " + typeName(a->value));
      axis = a->value.i;
    }
    return combineWeights(name, pos(0), axis, l);
  }
  if (name == "defined") {
    if (failed(expectArgs(name, args, 1, 1, {}, l)))
      return failure();
    return Val::boolean(!pos(0).isAbsent());
  }
  if (name == "error") {
    if (failed(expectArgs(name, args, 1, 1, {}, l)))
      return failure();
    error(l) << formatValue(pos(0));
    return failure();
  }
  if (name == "meta")
    return buildMeta(args, l);
  if (name == "sqrt" || name == "float" || name == "int" || name == "len") {
    if (failed(expectArgs(name, args, 1, 1, {}, l)))
      return failure();
    const Val &x = pos(0);
    if (name == "len") {
      if (x.kind == Val::List)
        return Val::integer(int64_t(x.list->size()));
      if (x.kind == Val::Str)
        return Val::integer(int64_t(x.s.size()));
      return fail(posLoc(0),
                  "len(...) takes a list or a string, got " + typeName(x));
    }
    if (!x.isNumber())
      return fail(posLoc(0), name + "(...) takes a number, got " + typeName(x));
    if (name == "sqrt") {
      if (x.asDouble() < 0)
        return fail(posLoc(0), "sqrt of a negative number");
      return Val::number(std::sqrt(x.asDouble()));
    }
    if (name == "float")
      return Val::number(x.asDouble());
    if (x.kind == Val::Int)
      return Val::integer(x.i);
    if (!(std::fabs(x.f) < 9.2e18))
      return fail(posLoc(0),
                  "int(...): " + formatValue(x) + " is out of the int64 range");
    return Val::integer(int64_t(std::trunc(x.f)));
  }
  if (name == "min" || name == "max") {
    if (failed(expectArgs(name, args, 1, 64, {}, l)))
      return failure();
    std::vector<Val> items;
    if (args.positional.size() == 1 && pos(0).kind == Val::List)
      items = *pos(0).list;
    else
      for (const CallArgs::Item &a : args.positional)
        items.push_back(a.value);
    if (items.empty())
      return fail(l, name + "(...) of an empty list");
    Val best = items[0];
    for (const Val &v : items) {
      if (!v.isNumber())
        return fail(l, name + "(...) takes numbers, got " + typeName(v));
      if (name == "min" ? v.asDouble() < best.asDouble()
                        : v.asDouble() > best.asDouble())
        best = v;
    }
    return best;
  }
  if (findOp(name))
    return callOp(name, args, l);

  std::vector<std::string> names(std::begin(kHelpers), std::end(kHelpers));
  for (const OpSpec &s : opTable())
    names.push_back(s.dslName);
  for (const auto &kv : functions)
    names.push_back(kv.first().str());
  std::string extra;
  if (lookup(name))
    extra = " ('" + name.str() + "' is a variable, not a function)";
  error(l) << "unknown function '" << name << "'" << extra
           << didYouMean(closestNames(name, names));
  return failure();
}

FailureOr<Val> Evaluator::callMethod(const Val &self, llvm::StringRef name,
                                     const CallArgs &args, SrcLoc l) {
  if (self.kind != Val::Weight) {
    error(l) << "a value of type " << typeName(self) << " has no method '"
             << name << "'"
             << (self.kind == Val::IR
                     ? " (weight transforms apply to weight(...) values, not "
                       "to computed tensors)"
                     : "");
    return failure();
  }
  TransformStep t;
  if (name == "transpose") {
    if (failed(expectArgs("transpose", args, 0, 0, {}, l)))
      return failure();
    t.kind = TransformStep::Transpose;
    return addTransform(self, t, l);
  }
  if (name == "slice") {
    if (failed(expectArgs("slice", args, 3, 3, {}, l)))
      return failure();
    int64_t v[3];
    for (size_t k = 0; k < 3; ++k) {
      const Val &a = args.positional[k].value;
      if (std::optional<int64_t> n = a.exactInt()) {
        v[k] = *n;
      } else {
        const char *what[] = {"axis", "start", "size"};
        error(args.positional[k].loc) << "slice(axis, start, size): " << what[k]
                                      << " must be an int, got " << typeName(a);
        return failure();
      }
    }
    t.kind = TransformStep::Slice;
    t.axis = v[0];
    t.start = v[1];
    t.size = v[2];
    return addTransform(self, t, l);
  }
  if (name == "cast") {
    if (failed(expectArgs("cast", args, 1, 1, {}, l)))
      return failure();
    const Val &d = args.positional[0].value;
    if (d.kind != Val::Str || (d.s != "f32" && d.s != "bf16" && d.s != "f16")) {
      error(args.positional[0].loc)
          << "cast(dtype): dtype must be \"f32\", \"bf16\" or \"f16\", got "
          << formatValue(d);
      return failure();
    }
    t.kind = TransformStep::Cast;
    t.dtype = d.s;
    return addTransform(self, t, l);
  }
  error(l) << "a weight has no method '" << name
           << "' (methods: transpose(), slice(axis, start, size), cast(dtype))";
  return failure();
}

//===----------------------------------------------------------------------===//
// meta(...)
//===----------------------------------------------------------------------===//

FailureOr<Val> Evaluator::buildMeta(const CallArgs &args, SrcLoc l) {
  static const llvm::StringRef keys[] = {
      "vocab_size",   "hidden_size",   "num_layers",  "max_position",
      "bos_token_id", "eos_token_ids", "pad_token_id"};
  if (failed(expectArgs("meta", args, 0, 0, keys, l)))
    return failure();
  if (metaInfo.given)
    return fail(l, "meta(...) is called twice");
  metaInfo.given = true;
  auto intArg = [&](llvm::StringRef key,
                    std::optional<int64_t> &out) -> LogicalResult {
    const CallArgs::Item *a = args.kw(key);
    if (!a || a->value.kind == Val::None)
      return success();
    if (a->value.kind != Val::Int)
      return fail(a->loc, "meta: " + key + " must be an int, got " +
                              typeName(a->value));
    out = a->value.i;
    return success();
  };
  if (failed(intArg("vocab_size", metaInfo.vocabSize)) ||
      failed(intArg("hidden_size", metaInfo.hiddenSize)) ||
      failed(intArg("num_layers", metaInfo.numLayers)) ||
      failed(intArg("max_position", metaInfo.maxPosition)) ||
      failed(intArg("bos_token_id", metaInfo.bosTokenId)) ||
      failed(intArg("pad_token_id", metaInfo.padTokenId)))
    return failure();
  for (llvm::StringRef k :
       {"vocab_size", "hidden_size", "num_layers", "max_position"}) {
    if (!args.kw(k)) {
      (void)fail(l, "meta(...) needs " + k +
                        " (it takes vocab_size, hidden_size, num_layers, "
                        "max_position; optionally bos_token_id, "
                        "eos_token_ids, pad_token_id)");
      return failure();
    }
  }
  if (const CallArgs::Item *a = args.kw("eos_token_ids")) {
    std::vector<int64_t> ids;
    if (a->value.kind == Val::Int) {
      ids.push_back(a->value.i);
    } else if (a->value.kind == Val::List) {
      for (const Val &v : *a->value.list) {
        if (v.kind != Val::Int)
          return fail(a->loc, "meta: eos_token_ids must be ints");
        ids.push_back(v.i);
      }
    } else if (a->value.kind != Val::None) {
      return fail(a->loc, "meta: eos_token_ids must be an int or a list of "
                          "ints, got " +
                              typeName(a->value));
    }
    if (a->value.kind != Val::None)
      metaInfo.eosTokenIds = ids;
  }
  return Val::none();
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

FailureOr<mlir::Value> Evaluator::finishOp(Operation *op) {
  // Verify first: inference assumes the ranks the verifier checks.
  if (failed(mlir::verify(op, /*verifyRecursively=*/false))) {
    op->erase();
    return failure();
  }
  if (auto si = dyn_cast<ShapeInference>(op)) {
    SmallVector<Type> types;
    if (failed(si.inferResultTypes(types))) {
      op->erase();
      return failure();
    }
    for (auto [r, t] : llvm::zip(op->getResults(), types))
      r.setType(t);
  }
  return op->getResult(0);
}

FailureOr<mlir::Value> Evaluator::asTensor(const Val &v, SrcLoc l,
                                           llvm::StringRef what) {
  if (v.kind == Val::Weight)
    return materialize(*v.weight, l);
  if (v.kind == Val::IR && isa<TensorType>(v.ir.getType()))
    return v.ir;
  error(l) << what << " must be a tensor or a weight, got " << typeName(v)
           << (v.kind == Val::Str ? " (wrap checkpoint names in weight(...))"
                                  : "");
  return failure();
}

FailureOr<mlir::Value> Evaluator::binaryOp(llvm::StringRef opName, const Val &a,
                                           const Val &b, SrcLoc l) {
  FailureOr<mlir::Value> x = asTensor(a, l, "the left operand");
  if (failed(x))
    return failure();
  FailureOr<mlir::Value> y = asTensor(b, l, "the right operand");
  if (failed(y))
    return failure();
  OperationState st(loc(l), opName);
  st.addOperands({*x, *y});
  st.addTypes(UnrankedTensorType::get(Float32Type::get(&ctx)));
  return finishOp(builder.create(st));
}

FailureOr<mlir::Value> Evaluator::scaleOp(const Val &v, double factor,
                                          SrcLoc l) {
  FailureOr<mlir::Value> x = asTensor(v, l, "the operand");
  if (failed(x))
    return failure();
  OperationState st(loc(l), "ingot.scale");
  st.addOperands(*x);
  st.addAttribute("factor", builder.getF64FloatAttr(factor));
  st.addTypes(UnrankedTensorType::get(Float32Type::get(&ctx)));
  return finishOp(builder.create(st));
}

FailureOr<Val> Evaluator::callOp(llvm::StringRef name, const CallArgs &args,
                                 SrcLoc l) {
  const OpSpec &spec = *findOp(name);
  size_t required = 0;
  for (const OperandSpec &o : spec.operands)
    required += !o.optional;
  size_t n = args.positional.size();
  // The batch may also be passed explicitly as a trailing argument.
  if (spec.takesBatch && n > 0 &&
      args.positional.back().value.kind == Val::IR &&
      isa<BatchType>(args.positional.back().value.ir.getType()))
    --n;
  if (n < required || n > spec.operands.size()) {
    error(l) << name << " takes " << required
             << (required == spec.operands.size()
                     ? ""
                     : " or " + std::to_string(spec.operands.size()))
             << " tensor argument" << (spec.operands.size() == 1 ? "" : "s")
             << ", got " << n << "; usage: " << signature(spec);
    return failure();
  }

  OperationState st(loc(l), spec.opName);
  for (size_t k = 0; k < n; ++k) {
    const OperandSpec &o = spec.operands[k];
    const CallArgs::Item &a = args.positional[k];
    if (o.optional && a.value.kind == Val::None)
      continue;
    std::string what = name.str() + ": argument '" + o.name + "'";
    if (o.kind == OperandKind::Ids) {
      if (a.value.kind != Val::IR || !isa<TensorType>(a.value.ir.getType()) ||
          !isa<IntegerType>(
              cast<TensorType>(a.value.ir.getType()).getElementType())) {
        error(a.loc) << what << " must be token ids or positions (`tokens` or "
                     << "`positions`), got " << typeName(a.value);
        return failure();
      }
      st.addOperands(a.value.ir);
      continue;
    }
    FailureOr<mlir::Value> v = asTensor(a.value, a.loc, what);
    if (failed(v))
      return failure();
    st.addOperands(*v);
  }
  if (spec.takesBatch)
    st.addOperands(forward.getArgument(2));

  for (const CallArgs::Item &k : args.keyword) {
    const AttrSpec *as = nullptr;
    for (const AttrSpec &s : spec.attrs)
      if (k.name == s.name)
        as = &s;
    if (!as) {
      std::vector<std::string> names;
      for (const AttrSpec &s : spec.attrs)
        names.push_back(s.name);
      InFlightDiagnostic d = error(k.nameLoc);
      d << name << " has no argument '" << k.name << "'"
        << didYouMean(closestNames(k.name, names));
      d << "; usage: " << signature(spec);
      return failure();
    }
    const Val &v = k.value;
    if (v.kind == Val::None && !as->required)
      continue; // none: use the op's default
    Attribute attr;
    std::string expect;
    switch (as->kind) {
    case AttrKind::I64:
      if (std::optional<int64_t> n = v.exactInt())
        attr = builder.getI64IntegerAttr(*n);
      expect = "an int";
      break;
    case AttrKind::F64:
      if (v.isNumber())
        attr = builder.getF64FloatAttr(v.asDouble());
      expect = "a number";
      break;
    case AttrKind::Str:
      if (v.kind == Val::Str)
        attr = builder.getStringAttr(v.s);
      expect = "a string";
      break;
    case AttrKind::Bool:
      if (v.kind == Val::Bool)
        attr = builder.getBoolAttr(v.b);
      expect = "a bool";
      break;
    }
    if (!attr) {
      error(k.loc) << name << ": '" << k.name << "' must be " << expect
                   << ", got " << describeValue(v);
      return failure();
    }
    st.addAttribute(k.name, attr);
  }
  for (const AttrSpec &s : spec.attrs)
    if (s.required && !st.attributes.get(s.name)) {
      error(l) << name << " needs '" << s.name
               << " = ...'; usage: " << signature(spec);
      return failure();
    }
  // rope: rotary_dim defaults to head_dim (full rotation).
  if (name == "rope" && !st.attributes.get("rotary_dim"))
    st.addAttribute("rotary_dim", st.attributes.get("head_dim"));

  st.addTypes(UnrankedTensorType::get(Float32Type::get(&ctx)));
  FailureOr<mlir::Value> r = finishOp(builder.create(st));
  if (failed(r))
    return failure();
  return Val::value(*r);
}
