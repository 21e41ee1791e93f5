//===- DecoderRaise.cpp - an exported decoder graph -> paged @forward -----===//
//
// Converts func @main of an imported decoder export (see OnnxRaise.h for the
// interface it must have) into func @forward(tokens, positions, !ingot.batch)
// of transformer ops, the form the DSL produces, so the plan runs on the paged
// KV cache with continuous batching and prefix caching.
//
// How: one walk over @main in order, giving every value a *role*:
//   Param      constants and weights
//   Aux        anything computed only from params, positions, the attention
//              mask and shapes (masks, cos/sin tables, shape arithmetic): never
//              materialised; read numerically when needed (NodeEval)
//   Tok        a [B, S, F] activation; its new value is [T, F]
//   TokHeads   Tok reshaped to [B, S, H, D] (same new value)
//   Heads      TokHeads transposed to [B, H, S, D] (same new value)
//   rope parts rotate-half pieces of a Heads value, cos/sin products
//   KvAll      Concat(past_key_values.<i>.*, Heads): the layer's whole K or V
//              (GQA repetition through Unsqueeze/Expand/Reshape is a no-op)
//   KvT, Scores, Probs, AttnHeads: stages of one attention
// Each node is handled by its op type and the roles of its inputs; a node
// with a live input that no rule covers stops the conversion with a reason
// naming it. Batch B is folded into the token dimension: every per-token op
// is the same on [B*S, F]; only attention and RoPE see positions, and they
// get them from the runtime's batch metadata instead.
// Numeric checks: the cos/sin tables are evaluated for positions 0..N-1 and
// must equal cos/sin(p * inv_freq) for an inv_freq found among the graph's
// constants (then theta / linear factor are fitted to it); the mask added
// to the scores is evaluated and must be causal, optionally windowed.
//
//===----------------------------------------------------------------------===//
#include "RaiseUtil.h"
#include "ingot/OnnxRaise/NodeEval.h"
#include "ingot/OnnxRaise/OnnxRaise.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::raise;

namespace {

enum class R {
  None, Param, Absent, Aux, Ids, Pos, Past, Tok, TokHeads, Heads, HalfPart, NegHalf,
  RotHalf, RopeCos, RopeSin, KvAll, KvT, Scores, Probs, AttnHeads, AttnTokHeads,
  MoeProbs, MoeTopV, MoeTopI, MoeSum, MoeInner
};

const char *roleName(R r) {
  static const char *n[] = {"unknown", "param", "absent", "aux", "input_ids", "position_ids",
                            "past", "tokens", "token-heads", "heads", "half", "neg-half",
                            "rotate-half", "rope-cos", "rope-sin", "kv", "k^T", "scores",
                            "probs", "attn-heads", "attn-token-heads", "moe-probs",
                            "moe-topk-values", "moe-topk-indices", "moe-sum", "moe-inner"};
  return n[int(r)];
}

struct Info {
  R r = R::None;
  Value nv;                 // new [T, F] value
  int64_t width = 0;        // F for Tok
  int64_t heads = 0, hd = 0;
  double scale = 1.0;
  Value src, aux, mask;     // old values (rope source, cos/sin, mask)
  bool first = false;       // HalfPart: first half
  bool flat = false;        // KvAll/KvT viewed as 3-D [B*H, T, D] (dynamo's sdpa)
  bool lastOnly = false;    // Tok sliced to each sequence's last token (logits_to_keep=1)
  int layer = -1;
  bool isK = false;
  Value k, v;               // Scores/Probs: new K value (and heads)
  int64_t kvHeads = 0;
  // Tok produced by a linear: its pieces (for the logits head and splits).
  Operation *linear = nullptr;
  Value linW, linB;         // old weight ([in, out]) and bias values
  Value linOld;             // the old value the linear replaced
};

// The shortest decimal that rounds to the same float (1e-05, not
// 9.9999997473787516E-6): ONNX stores epsilons as float32.
double shortest(double v) {
  float f = float(v);
  for (int digits = 6; digits <= 9; ++digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*g", digits, double(f));
    double d = std::strtod(buf, nullptr);
    if (float(d) == f)
      return d;
  }
  return double(f);
}

struct Converter {
  ModuleOp module;
  func::FuncOp main;
  const OnnxRaiseOptions &opts;
  OpBuilder b;
  func::FuncOp fwd;
  Value tokens, positions, batch;
  llvm::DenseMap<Value, Info> info;
  std::map<std::pair<void *, bool>, Value> params;
  std::string why;
  int layers = 0;
  int64_t vocab = 0, hidden = 0;
  llvm::DenseMap<Value, int64_t> windows;   // evaluated mask -> window (0 none)
  std::map<std::string, Value> argByName;
  std::set<std::string> created;            // weight_decls this conversion added
  // The mixture-of-experts block being matched (router softmax .. the sum
  // over the selected experts).
  struct Moe {
    bool active = false;
    Value x, router;          // new values: the block's input, router [E, H]
    int64_t experts = 0, topK = 0, hidden = 0;
    bool normalized = false, silu = false;
    Value gateUp, down;       // old stacked expert weights [E, 2I, H], [E, H, I]
  } moe;
  // One evaluator for the whole conversion (its memo is shared): every
  // input bound for a batch of one sequence of kN tokens and no past.
  std::unique_ptr<NodeEvaluator> ev;
  static constexpr int64_t kN = 64;         // positions evaluated for rope and shapes
  static constexpr int64_t kMaskN = 1024;   // positions evaluated for the mask
  std::unique_ptr<NodeEvaluator> maskEv;

  Converter(ModuleOp m, func::FuncOp f, const OnnxRaiseOptions &o)
      : module(m), main(f), opts(o), b(m.getContext()) {}

  bool fail(Operation *op, const std::string &msg) {
    if (why.empty()) {
      std::string where;
      if (auto n = dyn_cast_or_null<NodeOp>(op))
        where = "node '" + n.getName().str() + "' (" + n.getOpType().str() + "): ";
      why = where + msg;
    }
    return false;
  }

  Info &set(Value v, Info i) { return info[v] = i; }

  // Activations are never computed while evaluating aux values: their shape
  // for an evaluation binding of one sequence of `n` tokens is known from the
  // role, so shape arithmetic on them works without weights or FLOPs. Made
  // on demand (only the values shape subgraphs read), as zeros.
  bool standIn(Value v, int64_t n, EvalTensor &t) {
    auto it = info.find(v);
    if (it == info.end())
      return false;
    const Info &i = it->second;
    std::vector<int64_t> shape;
    switch (i.r) {
    case R::Tok: shape = {1, n, i.width}; break;
    case R::TokHeads: case R::AttnTokHeads: shape = {1, n, i.heads, i.hd}; break;
    case R::Heads: case R::AttnHeads: shape = {1, i.heads, n, i.hd}; break;
    case R::KvAll: shape = {1, i.heads, n, i.hd}; break;
    default: return false;
    }
    t.dtype = 0; // f32
    t.shape = shape;
    t.bytes.assign(size_t(t.numel()) * 4 + 1, 0);
    return true;
  }

  std::unique_ptr<NodeEvaluator> makeEvaluatorFor(int64_t n) {
    EvalContext ctx;
    ctx.weights = opts.weights;
    if (!bindInputs(ctx, n))
      return nullptr;
    ctx.resolve = [this, n](Value v, EvalTensor &t) { return standIn(v, n, t); };
    return std::make_unique<NodeEvaluator>(std::move(ctx));
  }

  bool makeEvaluator() {
    ev = makeEvaluatorFor(kN);
    return ev != nullptr;
  }

  Info roleOf(Value v) {
    if (isa<NoneType>(v.getType()))
      return Info{R::Absent};
    if (v.getDefiningOp<ConstantOp>() || v.getDefiningOp<WeightOp>())
      return Info{R::Param};
    auto it = info.find(v);
    return it == info.end() ? Info{} : it->second;
  }

  Type f32() { return b.getF32Type(); }
  Type unranked() { return UnrankedTensorType::get(f32()); }

  // The new-function value of a param; transposed (2-D) when asked.
  Value param(Value old, bool transpose = false) {
    auto key = std::make_pair(old.getAsOpaquePointer(), transpose);
    if (auto it = params.find(key); it != params.end())
      return it->second;
    Value out;
    auto type = cast<RankedTensorType>(old.getType());
    if (auto c = old.getDefiningOp<ConstantOp>()) {
      auto dense = cast<DenseElementsAttr>(c.getValue());
      if (transpose) {
        int64_t r = type.getDimSize(0), cdim = type.getDimSize(1);
        auto vals = llvm::to_vector(dense.getValues<APFloat>());
        SmallVector<APFloat> t;
        for (int64_t j = 0; j < cdim; ++j)
          for (int64_t i = 0; i < r; ++i)
            t.push_back(vals[size_t(i * cdim + j)]);
        dense = DenseElementsAttr::get(RankedTensorType::get({cdim, r}, type.getElementType()), t);
      }
      out = b.create<ConstantOp>(old.getLoc(), dense.getType(), dense);
    } else {
      auto w = old.getDefiningOp<WeightOp>();
      auto decl = SymbolTable::lookupNearestSymbolFrom<WeightDeclOp>(w, w.getNameAttr());
      StringRef sym = decl.getSymName();
      Type t = type;
      if (transpose) {
        std::string name = (sym + ".t").str();
        auto existing = SymbolTable::lookupSymbolIn(module, name);
        auto tt = RankedTensorType::get({type.getDimSize(1), type.getDimSize(0)},
                                        type.getElementType());
        if (!existing) {
          OpBuilder mb(module.getContext());
          mb.setInsertionPoint(decl);
          SmallVector<Attribute> tr(decl.getTransforms().begin(), decl.getTransforms().end());
          tr.push_back(mb.getStringAttr("transpose"));
          created.insert(name);
          mb.create<WeightDeclOp>(decl.getLoc(), mb.getStringAttr(name), TypeAttr::get(tt), decl.getSources(),
                                  mb.getArrayAttr(tr));
        }
        sym = StringAttr::get(module.getContext(), name).getValue();
        t = tt;
      }
      out = b.create<WeightOp>(old.getLoc(), t, FlatSymbolRefAttr::get(module.getContext(), sym));
    }
    params[key] = out;
    return out;
  }

  // Columns [start, start+size) of an [in, out] weight, as an [size, in]
  // (transposed) new value.
  Value sliceCols(Value old, int64_t start, int64_t size) {
    auto type = cast<RankedTensorType>(old.getType());
    if (auto c = old.getDefiningOp<ConstantOp>()) {
      auto dense = cast<DenseElementsAttr>(c.getValue());
      int64_t r = type.getDimSize(0), cols = type.getDimSize(1);
      auto vals = llvm::to_vector(dense.getValues<APFloat>());
      SmallVector<APFloat> t;
      for (int64_t j = start; j < start + size; ++j)
        for (int64_t i = 0; i < r; ++i)
          t.push_back(vals[size_t(i * cols + j)]);
      auto tt = RankedTensorType::get({size, r}, type.getElementType());
      return b.create<ConstantOp>(old.getLoc(), tt, DenseElementsAttr::get(tt, t));
    }
    auto w = old.getDefiningOp<WeightOp>();
    if (!w)
      return Value();
    auto decl = SymbolTable::lookupNearestSymbolFrom<WeightDeclOp>(w, w.getNameAttr());
    std::string name = (decl.getSymName() + ".cols" + llvm::Twine(start) + "_" +
                        llvm::Twine(size) + ".t").str();
    auto tt = RankedTensorType::get({size, type.getDimSize(0)}, type.getElementType());
    if (!SymbolTable::lookupSymbolIn(module, name)) {
      OpBuilder mb(module.getContext());
      mb.setInsertionPoint(decl);
      SmallVector<Attribute> tr(decl.getTransforms().begin(), decl.getTransforms().end());
      tr.push_back(mb.getStringAttr(("slice:1:" + llvm::Twine(start) + ":" + llvm::Twine(size)).str()));
      tr.push_back(mb.getStringAttr("transpose"));
      created.insert(name);
      mb.create<WeightDeclOp>(decl.getLoc(), mb.getStringAttr(name), TypeAttr::get(tt),
                              decl.getSources(), mb.getArrayAttr(tr));
    }
    return b.create<WeightOp>(old.getLoc(), tt, FlatSymbolRefAttr::get(module.getContext(), name));
  }

  // [start, start+size) along `axis` of a weight (stacked expert tensors).
  Value sliceWeight(Value old, int64_t axis, int64_t start, int64_t size) {
    auto w = old.getDefiningOp<WeightOp>();
    if (!w)
      return Value();
    auto type = cast<RankedTensorType>(old.getType());
    auto decl = SymbolTable::lookupNearestSymbolFrom<WeightDeclOp>(w, w.getNameAttr());
    std::string name = (decl.getSymName() + ".s" + llvm::Twine(axis) + "_" + llvm::Twine(start) +
                        "_" + llvm::Twine(size)).str();
    SmallVector<int64_t> shape(type.getShape().begin(), type.getShape().end());
    shape[size_t(axis)] = size;
    auto tt = RankedTensorType::get(shape, type.getElementType());
    if (!SymbolTable::lookupSymbolIn(module, name)) {
      OpBuilder mb(module.getContext());
      mb.setInsertionPoint(decl);
      SmallVector<Attribute> tr(decl.getTransforms().begin(), decl.getTransforms().end());
      tr.push_back(mb.getStringAttr(("slice:" + llvm::Twine(axis) + ":" + llvm::Twine(start) +
                                     ":" + llvm::Twine(size)).str()));
      created.insert(name);
      mb.create<WeightDeclOp>(decl.getLoc(), mb.getStringAttr(name), TypeAttr::get(tt),
                              decl.getSources(), mb.getArrayAttr(tr));
    }
    return b.create<WeightOp>(old.getLoc(), tt, FlatSymbolRefAttr::get(module.getContext(), name));
  }

  // Elements [start, start+size) of a 1-D param.
  Value sliceRow(Value old, int64_t start, int64_t size) {
    auto type = cast<RankedTensorType>(old.getType());
    if (auto c = old.getDefiningOp<ConstantOp>()) {
      auto vals = llvm::to_vector(cast<DenseElementsAttr>(c.getValue()).getValues<APFloat>());
      SmallVector<APFloat> t(vals.begin() + start, vals.begin() + start + size);
      auto tt = RankedTensorType::get({size}, type.getElementType());
      return b.create<ConstantOp>(old.getLoc(), tt, DenseElementsAttr::get(tt, t));
    }
    auto w = old.getDefiningOp<WeightOp>();
    if (!w)
      return Value();
    auto decl = SymbolTable::lookupNearestSymbolFrom<WeightDeclOp>(w, w.getNameAttr());
    std::string name = (decl.getSymName() + ".slice" + llvm::Twine(start) + "_" +
                        llvm::Twine(size)).str();
    auto tt = RankedTensorType::get({size}, type.getElementType());
    if (!SymbolTable::lookupSymbolIn(module, name)) {
      OpBuilder mb(module.getContext());
      mb.setInsertionPoint(decl);
      SmallVector<Attribute> tr(decl.getTransforms().begin(), decl.getTransforms().end());
      tr.push_back(mb.getStringAttr(("slice:0:" + llvm::Twine(start) + ":" + llvm::Twine(size)).str()));
      created.insert(name);
      mb.create<WeightDeclOp>(decl.getLoc(), mb.getStringAttr(name), TypeAttr::get(tt),
                              decl.getSources(), mb.getArrayAttr(tr));
    }
    return b.create<WeightOp>(old.getLoc(), tt, FlatSymbolRefAttr::get(module.getContext(), name));
  }

  int64_t rank1Size(Value v) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t && t.getRank() == 1 ? t.getDimSize(0) : -1;
  }

  // ---- numeric evaluation of aux values --------------------------------

  bool bindInputs(EvalContext &ctx, int64_t n) {
    for (BlockArgument a : main.getArguments()) {
      auto nameAttr = main.getArgAttrOfType<StringAttr>(a.getArgNumber(), "ingot.name");
      std::string name = nameAttr ? nameAttr.getValue().str() : "";
      auto t = dyn_cast<RankedTensorType>(a.getType());
      if (!t)
        return fail(nullptr, "input '" + name + "' has no rank");
      EvalTensor e;
      Type et = t.getElementType();
      bool i64 = et.isInteger(64), i32 = et.isInteger(32);
      if (name.find("past") == 0) {
        if (t.getRank() != 4 || t.isDynamicDim(1) || t.isDynamicDim(3) || !et.isF32())
          return fail(nullptr, "input '" + name + "' is not f32 [batch, heads, past, head_dim]");
        e.dtype = uint8_t(0);
        e.shape = {1, t.getDimSize(1), 0, t.getDimSize(3)};
        e.bytes.assign(1, 0);
      } else {
        if (!(i64 || i32) || t.getRank() != 2)
          return fail(nullptr, "input '" + name + "' is not an integer [batch, seq] tensor");
        e.dtype = i64 ? 4 : 3; // ingot::DType I64 / I32
        e.shape = {1, n};
        size_t es = i64 ? 8 : 4;
        e.bytes.assign(size_t(n) * es, 0);
        for (int64_t i = 0; i < n; ++i) {
          int64_t val = name == "position_ids" ? i : name == "attention_mask" ? 1 : 0;
          std::memcpy(e.bytes.data() + size_t(i) * es, &val, es); // little endian
        }
      }
      ctx.bindings[a] = std::move(e);
    }
    return true;
  }


  bool evaluate(Value v, int64_t n, std::vector<double> &out, std::vector<int64_t> &shape) {
    (void)n;
    if (!ev && !makeEvaluator())
      return false;
    EvalTensor t;
    std::string err;
    if (!ev->evaluate(v, t, err))
      return fail(v.getDefiningOp(), "cannot evaluate: " + err);
    out = t.asDoubles();
    shape = t.shape;
    return true;
  }

  // Integer parameters (shapes, slice bounds): constants, or evaluated. Read
  // as integers (INT64_MAX "to the end" bounds do not survive doubles).
  std::optional<std::vector<int64_t>> ints(Value v) {
    if (isa<NoneType>(v.getType()))
      return std::nullopt;
    std::vector<int64_t> out;
    if (auto c = v.getDefiningOp<ConstantOp>()) {
      auto d = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!d || !isa<IntegerType>(d.getElementType()))
        return std::nullopt;
      for (APInt i : d.getValues<APInt>())
        out.push_back(i.getSExtValue());
      return out;
    }
    if (!ev && !makeEvaluator())
      return std::nullopt;
    EvalTensor t;
    std::string err;
    if (!ev->evaluate(v, t, err)) {
      if (std::getenv("INGOT_RAISE_DEBUG"))
        llvm::errs() << "ingot-onnx-raise: " << err << "\n";
      return std::nullopt;
    }
    if (t.dtype == 4) { // I64
      out.resize(size_t(t.numel()));
      std::memcpy(out.data(), t.bytes.data(), out.size() * 8);
    } else if (t.dtype == 3) { // I32
      for (int64_t i = 0; i < t.numel(); ++i) {
        int32_t x;
        std::memcpy(&x, t.bytes.data() + i * 4, 4);
        out.push_back(x);
      }
    } else {
      return std::nullopt;
    }
    return out;
  }

  // Collects float constants with `n` elements feeding `v` through aux ops.
  void constCandidates(Value v, int64_t n, llvm::SmallPtrSetImpl<Operation *> &seen,
                       std::vector<std::vector<double>> &out) {
    Operation *def = v.getDefiningOp();
    if (!def || !seen.insert(def).second)
      return;
    if (auto c = dyn_cast<ConstantOp>(def)) {
      auto vals = constValues(c.getResult());
      if (vals && int64_t(vals->size()) == n && isa<FloatType>(cast<ShapedType>(c.getType()).getElementType()))
        out.push_back(*vals);
      return;
    }
    for (Value in : def->getOperands())
      constCandidates(in, n, seen, out);
  }

  // Checks the rope tables and emits ingot.rope on x.
  bool emitRope(Operation *op, const Info &x, Value cosv, Value sinv, Info &out) {
    std::vector<double> c, s;
    std::vector<int64_t> cs, ss;
    if (!evaluate(cosv, kN, c, cs) || !evaluate(sinv, kN, s, ss))
      return false;
    int64_t hd = x.hd, half = hd / 2;
    if (int64_t(c.size()) != kN * hd || int64_t(s.size()) != kN * hd)
      return fail(op, "rope cos/sin tables are not [positions, head_dim] (only full-width "
                      "rotary embedding shared by all heads and sequences is supported)");
    if (std::abs(c[0] - 1.0) > 1e-6)
      return fail(op, "rope tables are scaled (attention_scaling != 1 is not supported)");
    auto matches = [&](const std::vector<double> &f, double tol) {
      for (int64_t p = 0; p < kN; ++p)
        for (int64_t d = 0; d < hd; ++d) {
          float ang = float(p) * float(f[size_t(d % half)]);
          if (std::abs(c[size_t(p * hd + d)] - std::cos(double(ang))) > tol ||
              std::abs(s[size_t(p * hd + d)] - std::sin(double(ang))) > tol)
            return false;
        }
      return true;
    };
    std::vector<std::vector<double>> cands;
    llvm::SmallPtrSet<Operation *, 32> seen;
    constCandidates(cosv, half, seen, cands);
    std::vector<double> invf;
    for (auto &f : cands)
      if (matches(f, 1e-4)) {
        invf = f;
        break;
      }
    if (invf.empty()) {
      // Not a constant of the graph: read the frequencies off position 1.
      std::vector<double> f(static_cast<size_t>(half));
      for (int64_t d = 0; d < half; ++d)
        f[size_t(d)] = std::atan2(s[size_t(hd + d)], c[size_t(hd + d)]);
      if (!matches(f, 2e-4))
        return fail(op, "rope cos/sin are not cos/sin(position * inv_freq) in the "
                        "rotate-half layout");
      invf = f;
    }
    out = x;
    out.r = R::Heads;
    out.nv = makeRope(op->getLoc(), x.nv, hd, invf, /*exact=*/true);
    return true;
  }

  // ingot.rope on `x` ([T, heads * hd]) with frequencies `invf` (hd/2 of them).
  // Recognises theta (and a linear factor) when the runtime's own fp32
  // formula (cpu_kernels_rope.cpp, as HF computes it) reproduces the
  // frequencies bit for bit (`exact`, read from a constant) or to 1e-6
  // (fitted from cos/sin tables); otherwise the rope op carries them as a
  // table.
  Value makeRope(Location loc, Value x, int64_t hd, const std::vector<double> &invf, bool exact) {
    int64_t half = hd / 2;
    double factor = 1.0 / invf[0];
    double thetaFit = half > 1 ? std::pow(invf[0] / invf[1], double(hd) / 2.0) : 10000.0;
    double theta = std::round(thetaFit);
    factor = std::abs(factor - std::round(factor)) < 1e-4 ? std::round(factor) : factor;
    bool fits = theta > 1.0 && std::abs(thetaFit - theta) < 1e-3 * theta;
    for (int64_t i = 0; i < half && fits; ++i) {
      float f = 1.0f / std::pow(float(theta), float(2 * i) / float(hd));
      if (factor != 1.0)
        f = f / float(factor);
      fits = exact ? f == float(invf[size_t(i)])
                   : std::abs(double(f) - invf[size_t(i)]) <= 1e-6 * std::abs(double(f));
    }
    NamedAttrList attrs;
    attrs.set("head_dim", b.getI64IntegerAttr(hd));
    attrs.set("rotary_dim", b.getI64IntegerAttr(hd));
    if (fits) {
      attrs.set("theta", b.getF64FloatAttr(theta));
      if (factor != 1.0) {
        attrs.set("scaling", b.getStringAttr("linear"));
        attrs.set("factor", b.getF64FloatAttr(factor));
      }
    } else {
      SmallVector<float> table(invf.begin(), invf.end());
      attrs.set("theta", b.getF64FloatAttr(1.0));
      attrs.set("scaling", b.getStringAttr("table"));
      attrs.set("inv_freq", b.getDenseF32ArrayAttr(table));
    }
    return b.create<RopeOp>(loc, unranked(), ValueRange{x, positions}, attrs.getAttrs())
        .getResult();
  }

  // Frequencies of [max_pos, hd/2] cos/sin caches (com.microsoft
  // RotaryEmbedding, GroupQueryAttention): read off position 1 and checked
  // at every cached position.
  bool cacheFreqs(Operation *op, Value cosv, Value sinv, int64_t hd, std::vector<double> &invf) {
    auto c = constValues(cosv), s = constValues(sinv);
    if (!c || !s) {
      std::vector<int64_t> shape;
      std::vector<double> cc, ss;
      if (!evaluate(cosv, kN, cc, shape) || !evaluate(sinv, kN, ss, shape))
        return false;
      c = cc;
      s = ss;
    }
    int64_t half = hd / 2;
    if (c->size() != s->size() || c->size() % size_t(half) || c->size() < size_t(2 * half))
      return fail(op, "cos/sin caches are not [positions, head_dim / 2] (partial rotary "
                      "embedding is not supported yet)");
    invf.assign(size_t(half), 0.0);
    for (int64_t i = 0; i < half; ++i)
      invf[size_t(i)] = std::atan2((*s)[size_t(half + i)], (*c)[size_t(half + i)]);
    int64_t positions = int64_t(c->size()) / half;
    for (int64_t p = 0; p < positions; ++p)
      for (int64_t i = 0; i < half; ++i) {
        double ang = double(float(p) * float(invf[size_t(i)]));
        if (std::abs((*c)[size_t(p * half + i)] - std::cos(ang)) > 2e-4 ||
            std::abs((*s)[size_t(p * half + i)] - std::sin(ang)) > 2e-4)
          return fail(op, "cos/sin caches are not cos/sin(position * inv_freq)");
      }
    return true;
  }

  // The sliding window of the mask added to the scores (0: plain causal).
  bool maskWindow(Operation *op, Value mask, int64_t &window) {
    if (!mask) {
      window = 0;
      return true; // is_causal attention without a mask tensor
    }
    if (auto it = windows.find(mask); it != windows.end()) {
      window = it->second;
      return true;
    }
    // The mask is evaluated for kMaskN positions (windows up to kMaskN - 1
    // are seen) on its own evaluator: only shapes and the mask's own
    // subgraph are computed, O(kMaskN^2).
    const int64_t N = kMaskN;
    if (!maskEv && !(maskEv = makeEvaluatorFor(N)))
      return false;
    std::vector<double> m;
    {
      EvalTensor t;
      std::string err;
      if (!maskEv->evaluate(mask, t, err))
        return fail(op, "cannot evaluate the attention mask: " + err);
      m = t.asDoubles();
    }
    if (int64_t(m.size()) != N * N)
      return fail(op, "the attention mask is not one [seq, seq] matrix shared by all heads");
    window = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double v = m[size_t(i * N + j)];
        bool masked = v < -1e4 || std::isinf(v);
        if (!masked && v != 0.0)
          return fail(op, "the attention mask has values other than 0 and -inf");
        if (j > i && !masked)
          return fail(op, "the attention mask is not causal");
        if (j <= i && masked && (window == 0 || i - j < window))
          window = i - j;
      }
    // Check the window is consistent: masked exactly when i - j >= window.
    for (int64_t i = 0; i < N && window; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double v = m[size_t(i * N + j)];
        bool masked = v < -1e4 || std::isinf(v);
        if (masked != (i - j >= window))
          return fail(op, "the attention mask is neither causal nor a causal sliding window");
      }
    windows[mask] = window;
    return true;
  }

  // ---- the walk ---------------------------------------------------------

  bool handle(NodeOp n);

  bool run() {
    // Interface.
    int64_t numPast = 0;
    for (BlockArgument a : main.getArguments()) {
      auto nameAttr = main.getArgAttrOfType<StringAttr>(a.getArgNumber(), "ingot.name");
      if (!nameAttr)
        return fail(nullptr, "an input has no name");
      std::string name = nameAttr.getValue().str();
      argByName[name] = a;
      Info i;
      if (name == "input_ids") i.r = R::Ids;
      else if (name == "position_ids") i.r = R::Pos;
      else if (name == "attention_mask") i.r = R::Aux;
      else if (llvm::StringRef(name).starts_with("past_key_values.")) {
        // past_key_values.<i>.key / .value
        SmallVector<StringRef> parts;
        llvm::StringRef(name).split(parts, '.');
        int layer;
        if (parts.size() != 3 || parts[1].getAsInteger(10, layer) ||
            (parts[2] != "key" && parts[2] != "value"))
          return fail(nullptr, "input '" + name + "' is not past_key_values.<i>.key|value");
        i.r = R::Past;
        i.layer = layer;
        i.isK = parts[2] == "key";
        ++numPast;
      } else
        return fail(nullptr, "input '" + name + "' is not part of a decoder's interface "
                             "(input_ids, attention_mask, position_ids, past_key_values.*)");
      info[a] = i;
    }
    // position_ids may be absent (onnxruntime-genai graphs derive positions
    // inside GroupQueryAttention); the plan takes positions from the runtime.
    if (!argByName.count("input_ids") || numPast == 0)
      return fail(nullptr, "not a decoder with a KV cache: needs input_ids and "
                           "past_key_values.<i>.key/value inputs");
    layers = int(numPast / 2);

    // The new function.
    OpBuilder mb(module.getContext());
    mb.setInsertionPointAfter(main);
    auto ids = RankedTensorType::get({ShapedType::kDynamic}, mb.getI32Type());
    auto type = mb.getFunctionType({ids, ids, BatchType::get(module.getContext())}, {unranked()});
    fwd = mb.create<func::FuncOp>(main.getLoc(), "forward", type);
    Block *body = fwd.addEntryBlock();
    tokens = body->getArgument(0);
    positions = body->getArgument(1);
    batch = body->getArgument(2);
    b.setInsertionPointToEnd(body);

    Operation *ret = nullptr;
    for (Operation &op : main.getBody().front()) {
      if (isa<ConstantOp, WeightOp, AbsentOp>(op))
        continue;
      if (isa<func::ReturnOp>(op)) {
        ret = &op;
        break;
      }
      auto n = dyn_cast<NodeOp>(op);
      if (!n)
        return fail(&op, "unexpected op " + op.getName().getStringRef().str());
      if (!handle(n))
        return false;
    }
    // Outputs: logits, present.*.
    auto names = main->getAttrOfType<ArrayAttr>("ingot.output_names");
    if (!ret || !names || names.size() != ret->getNumOperands())
      return fail(nullptr, "the graph's outputs have no names");
    Value logits;
    for (auto [v, nameAttr] : llvm::zip(ret->getOperands(), names)) {
      std::string name = cast<StringAttr>(nameAttr).getValue().str();
      Info i = roleOf(v);
      if (name == "logits") {
        if (i.r != R::Tok || !i.linear)
          return fail(nullptr, "output 'logits' is not a projection of the hidden states");
        // Replace the last linear by the logits head (last token per sequence).
        vocab = i.width;
        auto lin = cast<LinearOp>(i.linear);
        hidden = rank1Size(lin.getWeight()) ;
        if (auto wt = dyn_cast<RankedTensorType>(lin.getWeight().getType()))
          hidden = wt.getDimSize(1);
        b.setInsertionPointAfter(lin);
        auto head = b.create<LogitsOp>(lin.getLoc(), unranked(),
                                       ValueRange{lin.getX(), lin.getWeight(), batch});
        logits = head.getResult();
        if (!lin.getResult().use_empty())
          return fail(nullptr, "the logits projection is also used elsewhere");
        lin.erase();
        b.setInsertionPointToEnd(body);
      } else if (llvm::StringRef(name).starts_with("present.")) {
        if (i.r != R::KvAll)
          return fail(nullptr, "output '" + name + "' is not the concatenated past and new K/V");
      } else {
        return fail(nullptr, "output '" + name + "' is not part of a decoder's interface");
      }
    }
    if (!logits)
      return fail(nullptr, "no 'logits' output");
    b.create<func::ReturnOp>(main.getLoc(), ValueRange{logits});
    return true;
  }
};

bool Converter::handle(NodeOp n) {
  StringRef op = n.getOpType();
  SmallVector<Info> in;
  bool live = false;
  for (Value v : n.getInputs()) {
    in.push_back(roleOf(v));
    R r = in.back().r;
    if (r == R::None)
      return fail(n, "an input was produced by an op that was not understood");
    if (!(r == R::Param || r == R::Absent || r == R::Aux || r == R::Pos))
      live = true;
  }
  auto result = [&](Info i) { set(n.getResult(0), i); return true; };
  // Hidden states cut to the last token only feed the logits projection.
  for (const Info &i : in)
    if (i.lastOnly && op != "MatMul" && op != "Gemm" && op != "Cast" && op != "Reshape")
      return fail(n, "an op other than the logits projection reads the last-token slice");
  auto roles = [&]() {
    std::string s;
    for (auto &i : in)
      s += std::string(s.empty() ? "" : ", ") + roleName(i.r);
    return s;
  };
  Location loc = n.getLoc();
  if (!n.getDomain().empty() && n.getDomain() != "com.microsoft")
    return fail(n, "domain '" + n.getDomain().str() + "' is not supported");

  // Embeddings: Gather(table, input_ids | position_ids).
  if (op == "Gather" && in.size() == 2 && in[0].r == R::Param &&
      (in[1].r == R::Ids || in[1].r == R::Pos) && intAttr(n, "axis", 0) == 0) {
    auto t = dyn_cast<RankedTensorType>(n.getInputs()[0].getType());
    if (!t || t.getRank() != 2)
      return fail(n, "embedding table is not 2-D");
    Value ids = in[1].r == R::Ids ? tokens : positions;
    auto e = b.create<EmbeddingOp>(loc, unranked(), param(n.getInputs()[0]), ids);
    Info i{R::Tok};
    i.nv = e.getResult();
    i.width = t.getDimSize(1);
    if (!hidden)
      hidden = i.width;
    return result(i);
  }
  // Reshaping the token ids ([B, S] views) keeps them token ids.
  if ((op == "Reshape" || op == "Cast") && !in.empty() && in[0].r == R::Ids)
    return result(in[0]);
  // Shapes of anything, and everything computed from aux values alone.
  if (op == "Shape" || op == "Size")
    return result(Info{R::Aux});
  if (!live)
    return result(Info{R::Aux});

  Value x0 = n.getInputs()[0];
  (void)x0;
  // No-op casts and identities keep the role.
  if ((op == "Cast" || op == "Identity" || op == "Dropout") && !in.empty()) {
    if (op == "Cast" && in[0].r == R::Tok && skipNoopCasts(n.getResult(0)) != n.getInputs()[0])
      return fail(n, "a cast that changes the activation type");
    for (unsigned k = 0; k < n.getNumResults(); ++k)
      set(n.getResult(k), k == 0 ? in[0] : Info{R::Aux});
    return true;
  }

  auto isTok = [&](const Info &i) { return i.r == R::Tok; };

  // ---- mixture of experts (router softmax -> top-k -> stacked experts) ----
  auto isMoe = [](R r) {
    return r == R::MoeProbs || r == R::MoeTopV || r == R::MoeTopI || r == R::MoeSum ||
           r == R::MoeInner;
  };
  if (op == "Softmax" && isTok(in[0]) && in[0].linear && !moe.active) {
    auto lin = cast<LinearOp>(in[0].linear);
    if (lin.getBias() || intAttr(n, "axis", -1) != -1)
      return fail(n, "a softmax over activations that is not an MoE router");
    moe = Moe();
    moe.active = true;
    moe.x = lin.getX();
    moe.router = lin.getWeight();
    moe.experts = in[0].width;
    if (auto rt = dyn_cast<RankedTensorType>(lin.getWeight().getType()))
      moe.hidden = rt.getDimSize(1);
    return result(Info{R::MoeProbs});
  }
  if (op == "TopK" && in[0].r == R::MoeProbs) {
    auto k = ints(n.getInputs()[1]);
    if (!k || k->size() != 1 || intAttr(n, "largest", 1) != 1 ||
        (intAttr(n, "axis", -1) != -1 && intAttr(n, "axis", -1) != 1))
      return fail(n, "router top-k that is not the k largest probabilities");
    moe.topK = (*k)[0];
    set(n.getResult(0), Info{R::MoeTopV});
    set(n.getResult(1), Info{R::MoeTopI});
    return true;
  }
  if (op == "ReduceSum" && in[0].r == R::MoeTopV)
    return result(Info{R::MoeSum});
  if (op == "Div" && in.size() == 2 && in[0].r == R::MoeTopV && in[1].r == R::MoeSum) {
    moe.normalized = true;
    return result(Info{R::MoeTopV});
  }
  if (op == "ReduceSum" && in[0].r == R::MoeInner && moe.active) {
    auto axes = intsOf(n, "axes", 1);
    if (!axes || *axes != std::vector<int64_t>{1} || intAttr(n, "keepdims", 1) != 0)
      return fail(n, "the sum over the selected experts is not over axis 1");
    if (!moe.gateUp || !moe.down || !moe.silu || moe.topK <= 0)
      return fail(n, "an MoE block whose experts are not SiLU-gated MLPs on stacked "
                     "gate_up [E, 2I, H] and down [E, H, I] weights");
    auto gu = cast<RankedTensorType>(moe.gateUp.getType());
    auto dn = cast<RankedTensorType>(moe.down.getType());
    int64_t e = moe.experts, inter = gu.getDimSize(1) / 2;
    if (gu.getRank() != 3 || dn.getRank() != 3 || gu.getDimSize(0) != e || dn.getDimSize(0) != e ||
        gu.getDimSize(1) != 2 * inter || dn.getDimSize(2) != inter ||
        gu.getDimSize(2) != moe.hidden || dn.getDimSize(1) != moe.hidden)
      return fail(n, "stacked expert weights of unexpected shapes");
    Value gate = sliceWeight(moe.gateUp, 1, 0, inter), up = sliceWeight(moe.gateUp, 1, inter, inter);
    if (!gate || !up)
      return fail(n, "stacked expert weights that are constants (not supported)");
    NamedAttrList attrs;
    attrs.set("top_k", b.getI64IntegerAttr(moe.topK));
    attrs.set("normalize_topk", b.getBoolAttr(moe.normalized));
    auto m = b.create<MoeOp>(loc, unranked(),
                             ValueRange{moe.x, moe.router, gate, up, param(moe.down)},
                             attrs.getAttrs());
    Info out{R::Tok};
    out.nv = m.getResult();
    out.width = moe.hidden;
    moe = Moe();
    return result(out);
  }
  if (moe.active && llvm::any_of(in, [&](const Info &i) { return isMoe(i.r); })) {
    if ((op == "Gather" || op == "GatherND") && in[0].r == R::Param) {
      if (!moe.gateUp)
        moe.gateUp = n.getInputs()[0];
      else if (!moe.down)
        moe.down = n.getInputs()[0];
      else
        return fail(n, "an MoE block that gathers more than two expert weights");
    } else if (op == "QuickGelu") {
      moe.silu = true;
    } else if (!(op == "MatMul" || op == "Mul" || op == "Unsqueeze" || op == "Squeeze" ||
                 op == "Reshape" || op == "Slice" || op == "Split" || op == "Cast" ||
                 op == "Expand" || op == "Tile" || op == "Flatten" || op == "Concat")) {
      return fail(n, "an op inside the MoE block that is not understood");
    }
    for (unsigned k = 0; k < n.getNumResults(); ++k)
      set(n.getResult(k), Info{R::MoeInner});
    return true;
  }
  // The block's input repeated per selected expert.
  if (moe.active && isTok(in[0]) &&
      (op == "Unsqueeze" || op == "Tile" || op == "Expand" || op == "Flatten"))
    return result(Info{R::MoeInner});

  // ---- per-token ops on Tok values ----
  // Projections: MatMul(x, W[in, out]), or MatMul(x, Transpose(W[out, in]))
  // (a tied table exported once).
  if (op == "MatMul" && isTok(in[0]) && (in[1].r == R::Param || in[1].r == R::Aux)) {
    Value wOld = n.getInputs()[1];
    bool transposed = true;
    if (in[1].r == R::Aux) {
      auto tr = nodeOf(wOld, "Transpose");
      auto perm = tr ? intsOf(tr, "perm", 99) : std::nullopt;
      if (!tr || !isParam(tr.getInputs()[0]) ||
          (perm && *perm != std::vector<int64_t>{1, 0}))
        return fail(n, "inputs (" + roles() + ") are not understood");
      wOld = tr.getInputs()[0];
      transposed = false;
    }
    auto t = dyn_cast<RankedTensorType>(wOld.getType());
    int64_t inDim = transposed ? 0 : 1, outDim = 1 - inDim;
    if (!t || t.getRank() != 2 || t.getDimSize(inDim) != in[0].width)
      return fail(n, "the weight is not [in_features, out_features]");
    Value w = param(wOld, /*transpose=*/transposed);
    auto l = b.create<LinearOp>(loc, unranked(), in[0].nv, w, Value(), b.getStringAttr("none"));
    Info i{R::Tok};
    i.nv = l.getResult();
    i.width = t.getDimSize(outDim);
    i.linear = l;
    i.linW = transposed ? wOld : Value();
    i.linOld = n.getResult(0);
    i.lastOnly = in[0].lastOnly;
    return result(i);
  }
  // Gemm(x, W[in, out], bias) (Conv1D-style exports), no transposes.
  if (op == "Gemm" && isTok(in[0]) && in.size() >= 2 && in[1].r == R::Param &&
      intAttr(n, "transA", 0) == 0) {
    bool transB = intAttr(n, "transB", 0) != 0;
    auto alpha = n.getAttrs().getAs<FloatAttr>("alpha");
    auto beta = n.getAttrs().getAs<FloatAttr>("beta");
    if ((alpha && alpha.getValueAsDouble() != 1.0) || (beta && beta.getValueAsDouble() != 1.0))
      return fail(n, "Gemm with alpha or beta other than 1");
    auto t = dyn_cast<RankedTensorType>(n.getInputs()[1].getType());
    int64_t inDim = transB ? 1 : 0, outDim = 1 - inDim;
    if (!t || t.getRank() != 2 || t.getDimSize(inDim) != in[0].width)
      return fail(n, "the weight does not match the input features");
    Value bias;
    if (in.size() >= 3 && in[2].r == R::Param) {
      if (rank1Size(n.getInputs()[2]) != t.getDimSize(outDim))
        return fail(n, "the bias is not [out_features]");
      bias = param(n.getInputs()[2]);
    } else if (in.size() >= 3 && in[2].r != R::Absent) {
      return fail(n, "a Gemm bias that is not a constant");
    }
    Value w = param(n.getInputs()[1], /*transpose=*/!transB);
    auto l = b.create<LinearOp>(loc, unranked(), in[0].nv, w, bias, b.getStringAttr("none"));
    Info i{R::Tok};
    i.nv = l.getResult();
    i.width = t.getDimSize(outDim);
    i.linear = l;
    i.linW = transB ? Value() : n.getInputs()[1];
    i.linOld = n.getResult(0);
    if (bias)
      i.linB = n.getInputs()[2];
    return result(i);
  }
  // Split of a fresh linear's output along the features (fused QKV): one
  // linear per piece with the matching columns of the weight and bias.
  if (op == "Split" && isTok(in[0])) {
    int64_t axis = intAttr(n, "axis", 0);
    auto sizes = n.getInputs().size() > 1 ? ints(n.getInputs()[1]) : intsOf(n, "split", 99);
    if (!sizes) {
      int64_t k = intAttr(n, "num_outputs", int64_t(n.getNumResults()));
      if (k <= 0 || in[0].width % k)
        return fail(n, "a split into unequal parts without sizes");
      sizes = std::vector<int64_t>(size_t(k), in[0].width / k);
    }
    if (axis != -1 && axis != 2)
      return fail(n, "a split of activations along another axis than the features");
    if (!in[0].linear || !in[0].linW || !in[0].nv.use_empty() || !in[0].linOld.hasOneUse() ||
        !n.getInputs()[0].hasOneUse())
      return fail(n, "a split of features that are not a projection's output");
    auto lin = cast<LinearOp>(in[0].linear);
    int64_t start = 0;
    for (unsigned k = 0; k < n.getNumResults(); ++k) {
      int64_t size = (*sizes)[k];
      Value w = sliceCols(in[0].linW, start, size);
      Value bias = in[0].linB ? sliceRow(in[0].linB, start, size) : Value();
      if (!w || (in[0].linB && !bias))
        return fail(n, "cannot slice the projection's weight");
      auto l = b.create<LinearOp>(loc, unranked(), lin.getX(), w, bias, b.getStringAttr("none"));
      Info i{R::Tok};
      i.nv = l.getResult();
      i.width = size;
      set(n.getResult(k), i);
      start += size;
    }
    lin.erase();
    return true;
  }
  if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div") && in.size() == 2 &&
      (isTok(in[0]) || isTok(in[1]))) {
    bool commut = op == "Add" || op == "Mul";
    int ti = isTok(in[0]) ? 0 : 1, oi = 1 - ti;
    if (ti == 1 && !commut && !isTok(in[0]))
      return fail(n, "constant on the left of " + op.str() + " is not supported");
    Info t = in[ti];
    Value other = n.getInputs()[oi];
    Info out{R::Tok};
    out.width = t.width;
    if (isTok(in[oi])) {
      Value a = in[0].nv, c = in[1].nv;
      Operation *r = op == "Add" ? b.create<AddOp>(loc, unranked(), a, c).getOperation()
                   : op == "Sub" ? b.create<SubOp>(loc, unranked(), a, c).getOperation()
                   : op == "Mul" ? b.create<MulOp>(loc, unranked(), a, c).getOperation()
                                 : b.create<DivOp>(loc, unranked(), a, c).getOperation();
      out.nv = r->getResult(0);
      return result(out);
    }
    if (in[oi].r != R::Param)
      return fail(n, "operands (" + roles() + ") are not supported");
    if (auto s = constScalar(other); s && (op == "Mul" || op == "Div")) {
      double f = op == "Mul" ? *s : 1.0 / *s;
      out.nv = b.create<ScaleOp>(loc, unranked(), t.nv, b.getF64FloatAttr(f)).getResult();
      return result(out);
    }
    // A row vector [F] (or [1, 1, F]).
    auto ot = dyn_cast<RankedTensorType>(other.getType());
    if (!ot || ot.getNumElements() != t.width)
      return fail(n, "the constant operand is not a row of " + std::to_string(t.width));
    Value row = param(other);
    if (ot.getRank() != 1)
      return fail(n, "the constant operand must be 1-D");
    // Bias of a fresh linear: fold into it.
    if (op == "Add" && t.linear && t.nv.use_empty() && t.linOld.hasOneUse() &&
        n.getInputs()[ti].hasOneUse()) {
      auto lin = cast<LinearOp>(t.linear);
      if (!lin.getBias()) {
        if (Operation *def = row.getDefiningOp(); def && lin->isBeforeInBlock(def))
          def->moveBefore(lin);
        lin.getBiasMutable().assign(row);
        out = t;
        return result(out);
      }
    }
    Operation *r = op == "Add" ? b.create<AddOp>(loc, unranked(), t.nv, row).getOperation()
                 : op == "Sub" ? b.create<SubOp>(loc, unranked(), t.nv, row).getOperation()
                 : op == "Mul" ? b.create<MulOp>(loc, unranked(), t.nv, row).getOperation()
                               : b.create<DivOp>(loc, unranked(), t.nv, row).getOperation();
    out.nv = r->getResult(0);
    return result(out);
  }
  if (op == "SimplifiedLayerNormalization" && in.size() >= 2 && in[1].r == R::Param &&
      (isTok(in[0]) || in[0].r == R::TokHeads || in[0].r == R::Heads)) {
    auto g = dyn_cast<RankedTensorType>(n.getInputs()[1].getType());
    auto eps = n.getAttrs().getAs<FloatAttr>("epsilon");
    double e = eps ? eps.getValueAsDouble() : 1e-5;
    if (!g || g.getRank() != 1)
      return fail(n, "the norm weight is not 1-D");
    NamedAttrList attrs;
    attrs.set("epsilon", b.getF64FloatAttr(shortest(e)));
    Info out = in[0];
    if (!isTok(in[0])) {
      if (g.getDimSize(0) != in[0].hd)
        return fail(n, "a per-head norm whose weight is not [head_dim]");
      attrs.set("group_size", b.getI64IntegerAttr(in[0].hd));
    } else if (g.getDimSize(0) != in[0].width) {
      return fail(n, "the norm weight does not match the width");
    }
    out.nv = b.create<RmsNormOp>(loc, unranked(), ValueRange{in[0].nv, param(n.getInputs()[1])},
                                 attrs.getAttrs()).getResult();
    out.linear = nullptr;
    return result(out);
  }
  if (op == "LayerNormalization" && isTok(in[0]) && in.size() >= 2 && in[1].r == R::Param) {
    if (intAttr(n, "axis", -1) != -1 && intAttr(n, "axis", -1) != 2)
      return fail(n, "layer norm over more than the last axis");
    auto eps = n.getAttrs().getAs<FloatAttr>("epsilon");
    Value g = param(n.getInputs()[1]), bias;
    if (in.size() >= 3 && in[2].r == R::Param)
      bias = param(n.getInputs()[2]);
    else {
      auto zt = RankedTensorType::get({in[0].width}, f32());
      bias = b.create<ConstantOp>(loc, zt, DenseElementsAttr::get(zt, 0.0f));
    }
    Info out{R::Tok};
    out.width = in[0].width;
    out.nv = b.create<LayerNormOp>(loc, unranked(), in[0].nv, g, bias,
                                   b.getF64FloatAttr(shortest(eps ? eps.getValueAsDouble() : 1e-5)))
                 .getResult();
    return result(out);
  }
  if ((op == "QuickGelu" || op == "Gelu" || op == "Relu") && isTok(in[0])) {
    Info out{R::Tok};
    out.width = in[0].width;
    if (op == "QuickGelu") {
      auto alpha = n.getAttrs().getAs<FloatAttr>("alpha");
      if (alpha && alpha.getValueAsDouble() != 1.0)
        return fail(n, "QuickGelu with alpha != 1 is not SiLU");
      out.nv = b.create<SiluOp>(loc, unranked(), in[0].nv).getResult();
    } else if (op == "Gelu") {
      auto ap = n.getAttrs().getAs<StringAttr>("approximate");
      out.nv = b.create<GeluOp>(loc, unranked(), in[0].nv,
                                b.getStringAttr(ap ? ap.getValue() : "none")).getResult();
    } else {
      out.nv = b.create<ReluOp>(loc, unranked(), in[0].nv).getResult();
    }
    return result(out);
  }

  // ---- heads ----
  if (op == "Reshape" && in.size() == 2) {
    auto shape = ints(n.getInputs()[1]);
    if ((isTok(in[0])) && shape && shape->size() == 4) {
      int64_t h = int64_t((*shape)[2]), d = int64_t((*shape)[3]);
      if (h == -1 && d > 0) h = in[0].width / d;
      if (d == -1 && h > 0) d = in[0].width / h;
      if (h <= 0 || d <= 0 || h * d != in[0].width)
        return fail(n, "a split into heads that does not match the width");
      Info out = in[0];
      out.r = R::TokHeads;
      out.heads = h;
      out.hd = d;
      out.linear = nullptr;
      return result(out);
    }
    if (in[0].r == R::AttnTokHeads) {
      Info out{R::Tok};
      out.nv = in[0].nv;
      out.width = in[0].heads * in[0].hd;
      return result(out);
    }
    // [B, S, F] <-> [B*S, F] (around Gemm) keeps the tokens.
    if (isTok(in[0]) && shape && (shape->size() == 3 || shape->size() == 2) &&
        (shape->back() == -1 || shape->back() == in[0].width)) {
      Info out = in[0];
      return result(out);
    }
    // GQA repetition (4-D) and sdpa's 3-D [B*H, T, D] views of K (dynamo).
    if (in[0].r == R::KvAll || in[0].r == R::KvT) {
      Info out = in[0];
      if (shape && shape->size() == 3)
        out.flat = true;
      else if (shape && shape->size() == 4)
        out.flat = false;
      else if (shape && shape->size() != 5)
        return fail(n, "a reshape of K/V that is not understood");
      return result(out);
    }
    // A reshape that keeps [B, H, S, D] (SDPA's output view).
    if ((in[0].r == R::AttnHeads || in[0].r == R::Heads) && shape && shape->size() == 4 &&
        ((*shape)[1] == in[0].heads || (*shape)[1] == -1) && (*shape)[3] == in[0].hd)
      return result(in[0]);
    return fail(n, "a reshape of (" + roles() + ") that is not understood");
  }
  if (op == "Transpose") {
    auto perm = intsOf(n, "perm", 99);
    std::vector<int64_t> swap12 = {0, 2, 1, 3}, swap23 = {0, 1, 3, 2};
    if (perm && *perm == swap12 && in[0].r == R::TokHeads) {
      Info out = in[0];
      out.r = R::Heads;
      return result(out);
    }
    if (perm && *perm == swap12 && in[0].r == R::AttnHeads) {
      Info out = in[0];
      out.r = R::AttnTokHeads;
      return result(out);
    }
    std::vector<int64_t> swap12of3 = {0, 2, 1};
    if (perm && *perm == swap12of3 && in[0].r == R::KvAll && in[0].isK && in[0].flat) {
      Info out = in[0];
      out.r = R::KvT;
      return result(out);
    }
    if (perm && *perm == swap23 && in[0].r == R::KvAll && in[0].isK && !in[0].flat) {
      Info out = in[0];
      out.r = R::KvT;
      return result(out);
    }
    return fail(n, "a transpose of (" + roles() + ") that is not understood");
  }
  if ((op == "Unsqueeze" || op == "Expand") && in[0].r == R::KvAll)
    return result(in[0]);

  // logits_to_keep = 1: Slice(hidden, [-1], [INT_MAX], axes [1]) keeps each
  // sequence's last token, which is what the logits head computes anyway.
  if (op == "Slice" && isTok(in[0])) {
    auto get = [&](unsigned idx) -> std::optional<std::vector<int64_t>> {
      return idx < n.getInputs().size() ? ints(n.getInputs()[idx]) : std::nullopt;
    };
    auto starts = get(1), ends = get(2), axes = get(3), steps = get(4);
    bool seqAxis = axes && axes->size() == 1 && ((*axes)[0] == 1 || (*axes)[0] == -2);
    bool unit = !steps || (steps->size() == 1 && (*steps)[0] == 1);
    if (starts && ends && starts->size() == 1 && (*starts)[0] == -1 && (*ends)[0] >= (1ll << 31) &&
        seqAxis && unit) {
      Info out = in[0];
      out.lastOnly = true;
      out.linear = nullptr;
      return result(out);
    }
    return fail(n, "a slice of the activations other than the last token (logits_to_keep=1)");
  }

  // ---- rope ----
  if (op == "Slice" && in[0].r == R::Heads) {
    auto get = [&](const char *attr, unsigned idx) -> std::optional<std::vector<int64_t>> {
      if (auto a = n.getAttrs().getAs<DenseI64ArrayAttr>(attr))
        return std::vector<int64_t>(a.asArrayRef().begin(), a.asArrayRef().end());
      if (idx < n.getInputs().size())
        return ints(n.getInputs()[idx]);
      return std::nullopt;
    };
    auto starts = get("starts", 1), ends = get("ends", 2), axes = get("axes", 3);
    auto steps = get("steps", 4);
    int64_t hd = in[0].hd, half = hd / 2;
    bool lastAxis = !axes || (axes->size() == 1 && ((*axes)[0] == -1 || (*axes)[0] == 3));
    bool unit = !steps || (steps->size() == 1 && (*steps)[0] == 1);
    if (!starts || !ends || starts->size() != 1 || !lastAxis || !unit)
      return fail(n, "a slice of heads that is not half of the head dim");
    Info out{R::HalfPart};
    out.src = n.getInputs()[0];
    if ((*starts)[0] == 0 && (*ends)[0] == half)
      out.first = true;
    else if ((*starts)[0] == half && (*ends)[0] >= hd)
      out.first = false;
    else
      return fail(n, "a slice of heads that is not half of the head dim (partial rotary "
                     "embedding is not supported yet)");
    return result(out);
  }
  if (op == "Neg" && in[0].r == R::HalfPart && !in[0].first) {
    Info out = in[0];
    out.r = R::NegHalf;
    return result(out);
  }
  if (op == "Concat" && in.size() == 2 && in[0].r == R::NegHalf && in[1].r == R::HalfPart &&
      in[1].first && in[0].src == in[1].src) {
    Info out{R::RotHalf};
    out.src = in[0].src;
    return result(out);
  }
  if (op == "Mul" && in.size() == 2) {
    for (int k = 0; k < 2; ++k) {
      const Info &a = in[k], &c = in[1 - k];
      if (c.r != R::Aux)
        continue;
      if (a.r == R::Heads) {
        Info out{R::RopeCos};
        out.src = n.getInputs()[k];
        out.aux = n.getInputs()[1 - k];
        return result(out);
      }
      if (a.r == R::RotHalf) {
        Info out{R::RopeSin};
        out.src = a.src;
        out.aux = n.getInputs()[1 - k];
        return result(out);
      }
    }
  }
  if (op == "Add" && in.size() == 2) {
    for (int k = 0; k < 2; ++k)
      if (in[k].r == R::RopeCos && in[1 - k].r == R::RopeSin && in[k].src == in[1 - k].src) {
        Info x = roleOf(in[k].src), out;
        if (!emitRope(n, x, in[k].aux, in[1 - k].aux, out))
          return false;
        return result(out);
      }
  }

  // ---- com.microsoft fused ops (ORT's optimizer, onnxruntime-genai) ----
  if (op == "SkipSimplifiedLayerNormalization" && in.size() >= 3 && isTok(in[0]) &&
      isTok(in[1]) && in[2].r == R::Param) {
    Value sum = b.create<AddOp>(loc, unranked(), in[0].nv, in[1].nv).getResult();
    if (in.size() >= 4 && in[3].r == R::Param)
      sum = b.create<AddOp>(loc, unranked(), sum, param(n.getInputs()[3])).getResult();
    else if (in.size() >= 4 && in[3].r != R::Absent)
      return fail(n, "a skip-norm bias that is not a constant");
    auto eps = n.getAttrs().getAs<FloatAttr>("epsilon");
    NamedAttrList attrs;
    attrs.set("epsilon", b.getF64FloatAttr(shortest(eps ? eps.getValueAsDouble() : 1e-5)));
    Value normed = b.create<RmsNormOp>(loc, unranked(), ValueRange{sum, param(n.getInputs()[2])},
                                       attrs.getAttrs()).getResult();
    Info y{R::Tok}, s3{R::Tok};
    y.width = s3.width = in[0].width;
    y.nv = normed;
    s3.nv = sum;
    set(n.getResult(0), y);
    for (unsigned k = 1; k < n.getNumResults(); ++k)
      set(n.getResult(k), k == 3 ? s3 : Info{R::Aux});
    return true;
  }
  if (op == "RotaryEmbedding" && n.getDomain() == "com.microsoft" && isTok(in[0])) {
    int64_t heads = intAttr(n, "num_heads", 0);
    if (intAttr(n, "interleaved", 0) != 0 || heads <= 0 || in[0].width % heads ||
        (intAttr(n, "rotary_embedding_dim", 0) != 0 &&
         intAttr(n, "rotary_embedding_dim", 0) != in[0].width / heads))
      return fail(n, "only full-width, half-split rotary embedding on [B, S, H*D] with "
                     "num_heads is supported");
    int64_t hd = in[0].width / heads;
    std::vector<double> invf;
    if (!cacheFreqs(n, n.getInputs()[2], n.getInputs()[3], hd, invf))
      return false;
    Info out = in[0];
    out.linear = nullptr;
    out.nv = makeRope(loc, in[0].nv, hd, invf, /*exact=*/false);
    return result(out);
  }
  if (op == "GroupQueryAttention" && in.size() >= 7 && isTok(in[0]) && isTok(in[1]) &&
      isTok(in[2]) && in[3].r == R::Past && in[4].r == R::Past && in[3].isK && !in[4].isK &&
      in[3].layer == in[4].layer) {
    int64_t heads = intAttr(n, "num_heads", 0), kvHeads = intAttr(n, "kv_num_heads", 0);
    if (heads <= 0 || kvHeads <= 0 || heads % kvHeads || in[0].width % heads)
      return fail(n, "num_heads / kv_num_heads do not fit the projections");
    int64_t hd = in[0].width / heads;
    if (in[1].width != kvHeads * hd || in[2].width != kvHeads * hd)
      return fail(n, "key/value widths are not kv_num_heads * head_dim");
    if (intAttr(n, "softcap", 0) != 0 || (n.getAttrs().getAs<FloatAttr>("softcap") &&
                                          n.getAttrs().getAs<FloatAttr>("softcap").getValueAsDouble() != 0))
      return fail(n, "attention softcapping is not supported");
    Value q = in[0].nv, k = in[1].nv;
    if (intAttr(n, "do_rotary", 0)) {
      if (intAttr(n, "rotary_interleaved", 0))
        return fail(n, "interleaved rotary embedding is not supported yet");
      if (in.size() < 9 || in[7].r == R::Absent || in[8].r == R::Absent)
        return fail(n, "do_rotary without cos/sin caches");
      std::vector<double> invf;
      if (!cacheFreqs(n, n.getInputs()[7], n.getInputs()[8], hd, invf))
        return false;
      q = makeRope(loc, q, hd, invf, false);
      k = makeRope(loc, k, hd, invf, false);
    }
    auto sc = n.getAttrs().getAs<FloatAttr>("scale");
    double scale = sc && sc.getValueAsDouble() != 0 ? sc.getValueAsDouble() : 1.0 / std::sqrt(double(hd));
    int64_t window = intAttr(n, "local_window_size", -1);
    NamedAttrList attrs;
    attrs.set("layer", b.getI64IntegerAttr(in[3].layer));
    attrs.set("num_heads", b.getI64IntegerAttr(heads));
    attrs.set("num_kv_heads", b.getI64IntegerAttr(kvHeads));
    attrs.set("head_dim", b.getI64IntegerAttr(hd));
    attrs.set("scale", b.getF64FloatAttr(scale));
    // local_window_size w (onnxruntime 1.32): w keys, the query's own
    // included, i.e. key j is seen by query i when i - j < w, which is the
    // runtime's sliding_window. 0 would attend to nothing.
    if (window == 0)
      return fail(n, "local_window_size 0 attends to no key");
    if (window > 0)
      attrs.set("sliding_window", b.getI64IntegerAttr(window));
    auto a = b.create<AttentionOp>(loc, unranked(), ValueRange{q, k, in[2].nv, batch},
                                   attrs.getAttrs());
    Info out{R::Tok};
    out.nv = a.getResult();
    out.width = in[0].width;
    set(n.getResult(0), out);
    for (unsigned r = 1; r < n.getNumResults() && r < 3; ++r) {
      Info kv{R::KvAll};
      kv.layer = in[3].layer;
      kv.isK = r == 1;
      kv.heads = kvHeads;
      kv.hd = hd;
      set(n.getResult(r), kv);
    }
    return true;
  }

  // A one-input Concat is a copy.
  if (op == "Concat" && in.size() == 1)
    return result(in[0]);

  // ---- attention ----
  if (op == "Concat" && in.size() == 2 && in[0].r == R::Past && in[1].r == R::Heads) {
    int64_t axis = intAttr(n, "axis", 0);
    if (axis != 2 && axis != -2)
      return fail(n, "past and new K/V are not concatenated along the sequence");
    Info out = in[1];
    out.r = R::KvAll;
    out.layer = in[0].layer;
    out.isK = in[0].isK;
    return result(out);
  }
  if ((op == "Mul" || op == "Div") && in.size() == 2 && in[1].r == R::Param &&
      (in[0].r == R::Heads || in[0].r == R::KvT || in[0].r == R::Scores)) {
    auto s = constScalar(n.getInputs()[1]);
    if (!s)
      return fail(n, "a non-scalar scale of " + std::string(roleName(in[0].r)));
    Info out = in[0];
    out.scale *= op == "Mul" ? *s : 1.0 / *s;
    return result(out);
  }
  if (op == "MatMul" && in.size() == 2 && in[0].r == R::Heads && in[1].r == R::KvT &&
      !in[1].flat) {
    if (in[0].hd != in[1].hd)
      return fail(n, "query and key head sizes differ");
    Info out{R::Scores};
    out.nv = in[0].nv;
    out.heads = in[0].heads;
    out.hd = in[0].hd;
    out.scale = in[0].scale * in[1].scale;
    out.k = in[1].nv;
    out.kvHeads = in[1].heads;
    out.layer = in[1].layer;
    return result(out);
  }
  if (op == "Add" && in.size() == 2 &&
      ((in[0].r == R::Scores && in[1].r == R::Aux) || (in[1].r == R::Scores && in[0].r == R::Aux))) {
    int k = in[0].r == R::Scores ? 0 : 1;
    Info out = in[k];
    if (out.mask)
      return fail(n, "two masks added to the scores");
    out.mask = n.getInputs()[1 - k];
    return result(out);
  }
  if (op == "Softmax" && in[0].r == R::Scores) {
    int64_t axis = intAttr(n, "axis", -1);
    if (axis != -1 && axis != 3)
      return fail(n, "softmax not over the keys");
    Info out = in[0];
    out.r = R::Probs;
    return result(out);
  }
  if (op == "IsNaN" && in[0].r == R::Probs)
    return result(Info{R::Aux});
  if (op == "Where" && in.size() == 3 && in[0].r == R::Aux && in[1].r == R::Param &&
      in[2].r == R::Probs)
    return result(in[2]);
  if (op == "MatMul" && in.size() == 2 && in[0].r == R::Probs && in[1].r == R::KvAll &&
      !in[1].isK) {
    const Info &p = in[0], &v = in[1];
    if (v.layer != p.layer)
      return fail(n, "K and V come from different layers");
    int64_t window;
    if (!maskWindow(n, p.mask, window))
      return false;
    NamedAttrList attrs;
    attrs.set("layer", b.getI64IntegerAttr(p.layer));
    attrs.set("num_heads", b.getI64IntegerAttr(p.heads));
    attrs.set("num_kv_heads", b.getI64IntegerAttr(p.kvHeads));
    attrs.set("head_dim", b.getI64IntegerAttr(p.hd));
    attrs.set("scale", b.getF64FloatAttr(p.scale));
    if (window)
      attrs.set("sliding_window", b.getI64IntegerAttr(window));
    auto a = b.create<AttentionOp>(loc, unranked(), ValueRange{p.nv, p.k, v.nv, batch},
                                   attrs.getAttrs());
    Info out{R::AttnHeads};
    out.nv = a.getResult();
    out.heads = p.heads;
    out.hd = p.hd;
    return result(out);
  }
  return fail(n, "inputs (" + roles() + ") are not understood");
}

} // namespace

DecoderRaiseResult mlir::ingot::raiseDecoder(ModuleOp module, const OnnxRaiseOptions &opts) {
  DecoderRaiseResult res;
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main) {
    res.why = "no func @main";
    return res;
  }
  // Weight declarations before conversion: new transposed ones are added.
  Converter c(module, main, opts);
  if (!c.run()) {
    res.why = c.why;
    if (c.fwd)
      c.fwd.erase();
    // Drop transposed declarations created on the way.
    for (auto decl : llvm::make_early_inc_range(module.getOps<WeightDeclOp>()))
      if (c.created.count(decl.getSymName().str()) &&
          SymbolTable::symbolKnownUseEmpty(decl, module))
        decl.erase();
    return res;
  }
  main.erase();
  // Params made for pieces that were later rebuilt (QKV splits) are unused.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(c.fwd.getBody().front())))
    if (isa<WeightOp, ConstantOp>(op) && op.use_empty())
      op.erase();
  for (auto decl : llvm::make_early_inc_range(module.getOps<WeightDeclOp>()))
    if (SymbolTable::symbolKnownUseEmpty(decl, module))
      decl.erase();
  Builder b(module.getContext());
  NamedAttrList model;
  model.set("architecture", b.getStringAttr("onnx-decoder"));
  model.set("model_type", b.getStringAttr("onnx"));
  model.set("vocab_size", b.getI64IntegerAttr(c.vocab));
  model.set("hidden_size", b.getI64IntegerAttr(c.hidden));
  model.set("num_layers", b.getI64IntegerAttr(c.layers));
  model.set("max_position", b.getI64IntegerAttr(0));
  model.set("bos_token_id", b.getI64IntegerAttr(-1));
  model.set("pad_token_id", b.getI64IntegerAttr(-1));
  model.set("eos_token_ids", b.getDenseI64ArrayAttr({}));
  module->setAttr("ingot.model", model.getDictionary(module.getContext()));
  res.raised = true;
  res.layers = c.layers;
  return res;
}
