//===- IngotOps.cpp - ingot op verifiers and shape inference -------------===//
//
// Verifiers accept unranked operands (front ends create them; shape inference
// refines them later) and check every relation that is known. Messages say
// what is wrong in model terms ("hidden size", "head_dim"), not just "type
// mismatch".
//
//===----------------------------------------------------------------------===//

#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::ingot;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {
RankedTensorType ranked(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}
Type elt(Value v) { return getElementTypeOrSelf(v.getType()); }
bool known(int64_t d) { return !ShapedType::isDynamic(d); }
bool compatible(int64_t a, int64_t b) { return !known(a) || !known(b) || a == b; }
std::string dimStr(int64_t d) { return known(d) ? std::to_string(d) : "?"; }

// A tensor type with `shape` and element type `e`, or unranked when the shape
// is not known.
Type makeTensor(std::optional<ArrayRef<int64_t>> shape, Type e) {
  if (!shape)
    return UnrankedTensorType::get(e);
  return RankedTensorType::get(*shape, e);
}

LogicalResult expectRank(Operation *op, Value v, int64_t rank, StringRef what) {
  if (auto t = ranked(v); t && t.getRank() != rank)
    return op->emitOpError() << "expects " << what << " of rank " << rank
                             << ", got " << v.getType();
  return success();
}

LogicalResult expectSameElt(Operation *op, Value a, Value b, StringRef whatA,
                            StringRef whatB) {
  if (elt(a) != elt(b))
    return op->emitOpError() << "expects " << whatA << " and " << whatB
                             << " to have the same element type, got "
                             << elt(a) << " and " << elt(b);
  return success();
}

// Checks the declared result type against the inferred one (when both known).
LogicalResult checkResult(Operation *op, Type inferred) {
  Type declared = op->getResult(0).getType();
  auto d = dyn_cast<RankedTensorType>(declared);
  auto i = dyn_cast<RankedTensorType>(inferred);
  if (getElementTypeOrSelf(declared) != getElementTypeOrSelf(inferred))
    return op->emitOpError() << "result element type "
                             << getElementTypeOrSelf(declared)
                             << " does not match the expected "
                             << getElementTypeOrSelf(inferred);
  if (!d || !i)
    return success();
  if (d.getRank() != i.getRank())
    return op->emitOpError() << "result type " << declared
                             << " does not match the expected " << inferred;
  for (auto [a, b] : llvm::zip(d.getShape(), i.getShape()))
    if (!compatible(a, b))
      return op->emitOpError() << "result type " << declared
                               << " does not match the expected " << inferred;
  return success();
}

LogicalResult verifyViaInference(Operation *op) {
  SmallVector<Type> types;
  if (failed(cast<ShapeInference>(op).inferResultTypes(types)))
    return failure();
  return checkResult(op, types[0]);
}

// Result with the same type as operand `v` (rows and features preserved).
LogicalResult sameAs(Value v, SmallVectorImpl<Type> &types) {
  types.push_back(v.getType());
  return success();
}

// Norm weight must be rank 1 with the size of x's last dim.
LogicalResult checkFeatureVector(Operation *op, Value x, Value w,
                                 StringRef what) {
  if (failed(expectRank(op, w, 1, what)))
    return failure();
  auto xt = ranked(x), wt = ranked(w);
  if (xt && wt && xt.getRank() >= 1 &&
      !compatible(xt.getShape().back(), wt.getDimSize(0)))
    return op->emitOpError() << what << " has " << dimStr(wt.getDimSize(0))
                             << " elements but the hidden size is "
                             << dimStr(xt.getShape().back());
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// Weight transforms
//===----------------------------------------------------------------------===//

bool mlir::ingot::parseWeightTransform(StringRef text, WeightTransform &out,
                                       std::string &error) {
  SmallVector<StringRef> parts;
  text.split(parts, ':');
  auto num = [&](StringRef s, int64_t &v) {
    if (s.getAsInteger(10, v)) {
      error = ("'" + s + "' is not an integer in transform '" + text + "'").str();
      return false;
    }
    return true;
  };
  StringRef k = parts[0];
  if (k == "transpose" && parts.size() == 1) {
    out.kind = WeightTransform::Transpose;
    return true;
  }
  if (k == "stack" && parts.size() == 1) {
    out.kind = WeightTransform::Stack;
    return true;
  }
  if (k == "concat" && parts.size() == 2) {
    out.kind = WeightTransform::Concat;
    return num(parts[1], out.axis);
  }
  if (k == "slice" && parts.size() == 4) {
    out.kind = WeightTransform::Slice;
    return num(parts[1], out.axis) && num(parts[2], out.start) &&
           num(parts[3], out.size);
  }
  if (k == "cast" && parts.size() == 2) {
    out.kind = WeightTransform::Cast;
    out.dtype = parts[1].str();
    if (out.dtype != "f32" && out.dtype != "f16" && out.dtype != "bf16") {
      error = "cast target must be f32, f16 or bf16, got '" + out.dtype + "'";
      return false;
    }
    return true;
  }
  error = ("unknown weight transform '" + text +
           "' (expected transpose, stack, concat:AXIS, "
           "slice:AXIS:START:SIZE or cast:DTYPE)")
              .str();
  return false;
}

LogicalResult WeightDeclOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape())
    return emitOpError() << "weight '" << getSymName()
                         << "' must have a static tensor type, got "
                         << getType();
  Type et = type.getElementType();
  auto it = dyn_cast<IntegerType>(et);
  bool intOk = it && llvm::is_contained(llvm::ArrayRef<unsigned>{1, 8, 16, 32, 64},
                                        it.getWidth()) && !it.isSigned();
  if (!isa<Float32Type, BFloat16Type, Float16Type, Float64Type>(et) && !intOk)
    return emitOpError() << "weight element type must be f32, bf16, f16, f64, "
                            "or a signless/unsigned integer of 1, 8, 16, 32 or "
                            "64 bits, got "
                         << et;
  if (getSources().empty())
    return emitOpError() << "weight '" << getSymName()
                         << "' needs at least one source tensor";
  unsigned idx = 0;
  for (Attribute a : getTransforms()) {
    WeightTransform t;
    std::string err;
    if (!parseWeightTransform(cast<StringAttr>(a).getValue(), t, err))
      return emitOpError() << err;
    if ((t.kind == WeightTransform::Concat || t.kind == WeightTransform::Stack) &&
        idx != 0)
      return emitOpError() << "'" << cast<StringAttr>(a).getValue()
                           << "' must be the first transform";
    ++idx;
  }
  bool multi = !getTransforms().empty() &&
               (cast<StringAttr>(getTransforms()[0]).getValue().starts_with(
                    "concat") ||
                cast<StringAttr>(getTransforms()[0]).getValue() == "stack");
  if (getSources().size() > 1 && !multi)
    return emitOpError() << "weight '" << getSymName() << "' has "
                         << getSources().size()
                         << " sources but no concat or stack transform";
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto decl = symbolTable.lookupNearestSymbolFrom<WeightDeclOp>(
      *this, getNameAttr());
  if (!decl)
    return emitOpError() << "refers to '" << getName()
                         << "', which is not an ingot.weight_decl";
  if (decl.getType() != getType())
    return emitOpError() << "type " << getType() << " differs from weight '"
                         << getName() << "' declared as " << decl.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Embedding / Linear
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  auto t = ranked(getTable());
  auto ids = ranked(getIds());
  if (!t || !ids) {
    types.push_back(UnrankedTensorType::get(elt(getTable())));
    return success();
  }
  SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(t.getDimSize(1));
  types.push_back(RankedTensorType::get(shape, t.getElementType()));
  return success();
}

LogicalResult EmbeddingOp::verify() {
  if (failed(expectRank(*this, getTable(), 2, "an embedding table")) ||
      failed(expectRank(*this, getIds(), 1, "ids")))
    return failure();
  return verifyViaInference(*this);
}

LogicalResult LinearOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  auto x = ranked(getX());
  auto w = ranked(getWeight());
  if (!x || !w) {
    types.push_back(UnrankedTensorType::get(elt(getX())));
    return success();
  }
  SmallVector<int64_t> shape(x.getShape().drop_back());
  shape.push_back(w.getDimSize(0));
  types.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

LogicalResult LinearOp::verify() {
  if (failed(expectRank(*this, getWeight(), 2, "a weight")) ||
      failed(expectSameElt(*this, getX(), getWeight(), "input", "weight")))
    return failure();
  auto x = ranked(getX());
  auto w = ranked(getWeight());
  if (x && x.getRank() < 1)
    return emitOpError() << "expects an input of rank >= 1";
  if (x && w && !compatible(x.getShape().back(), w.getDimSize(1)))
    return emitOpError() << "input has " << dimStr(x.getShape().back())
                         << " features but the weight [out, in] expects "
                         << dimStr(w.getDimSize(1));
  if (Value b = getBias()) {
    if (failed(expectRank(*this, b, 1, "a bias")) ||
        failed(expectSameElt(*this, getX(), b, "input", "bias")))
      return failure();
    auto bt = ranked(b);
    if (bt && w && !compatible(bt.getDimSize(0), w.getDimSize(0)))
      return emitOpError() << "bias has " << dimStr(bt.getDimSize(0))
                           << " elements but the weight has "
                           << dimStr(w.getDimSize(0)) << " outputs";
  }
  StringRef act = getActivation();
  if (act != "none" && act != "gelu" && act != "gelu_tanh" && act != "relu" &&
      act != "silu")
    return emitOpError() << "unknown activation '" << act
                         << "' (expected none, gelu, gelu_tanh, relu or silu)";
  return verifyViaInference(*this);
}

//===----------------------------------------------------------------------===//
// Norms, rope
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(getX(), types);
}
LogicalResult RmsNormOp::verify() {
  int64_t group = getGroupSize();
  if (group < 0)
    return emitOpError() << "group_size must be >= 0 (0 means the whole row), got "
                         << group;
  if (group == 0) {
    if (failed(checkFeatureVector(*this, getX(), getWeight(), "the norm weight")))
      return failure();
  } else {
    // Grouped (per-head) norm: the weight spans one group.
    if (failed(expectRank(*this, getWeight(), 1, "the norm weight")))
      return failure();
    auto xt = ranked(getX()), wt = ranked(getWeight());
    if (wt && !compatible(wt.getDimSize(0), group))
      return emitOpError() << "the norm weight has " << dimStr(wt.getDimSize(0))
                           << " elements but group_size is " << group;
    if (xt && xt.getRank() >= 1 && known(xt.getShape().back()) &&
        xt.getShape().back() % group)
      return emitOpError() << "the last dimension " << xt.getShape().back()
                           << " is not a multiple of group_size " << group;
  }
  if (getEpsilon().convertToDouble() < 0)
    return emitOpError() << "epsilon must be >= 0";
  return verifyViaInference(*this);
}

LogicalResult LayerNormOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(getX(), types);
}
LogicalResult LayerNormOp::verify() {
  if (failed(checkFeatureVector(*this, getX(), getWeight(), "the norm weight")) ||
      failed(checkFeatureVector(*this, getX(), getBias(), "the norm bias")))
    return failure();
  if (getEpsilon().convertToDouble() < 0)
    return emitOpError() << "epsilon must be >= 0";
  return verifyViaInference(*this);
}

LogicalResult RopeOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(getX(), types);
}
LogicalResult RopeOp::verify() {
  if (failed(expectRank(*this, getX(), 2, "an input [tokens, heads*head_dim]")) ||
      failed(expectRank(*this, getPositions(), 1, "positions")))
    return failure();
  int64_t hd = getHeadDim(), rd = getRotaryDim();
  if (hd <= 0 || hd % 2)
    return emitOpError() << "head_dim must be positive and even, got " << hd;
  if (rd <= 0 || rd > hd || rd % 2)
    return emitOpError() << "rotary_dim must be even and in (0, head_dim="
                         << hd << "], got " << rd;
  if (auto x = ranked(getX()); x && known(x.getDimSize(1)) && x.getDimSize(1) % hd)
    return emitOpError() << "input width " << x.getDimSize(1)
                         << " is not a multiple of head_dim " << hd;
  if (getTheta().convertToDouble() <= 0)
    return emitOpError() << "theta must be positive";
  if (getStyle() != "half" && getStyle() != "interleaved")
    return emitOpError() << "style must be 'half' or 'interleaved', got '"
                         << getStyle() << "'";
  StringRef sc = getScaling();
  if (sc != "none" && sc != "linear" && sc != "llama3" && sc != "table")
    return emitOpError() << "scaling must be 'none', 'linear', 'llama3' or 'table', got '"
                         << sc << "'";
  if ((sc == "table") != bool(getInvFreq()))
    return emitOpError() << "inv_freq is given exactly when scaling is 'table'";
  if (getInvFreq() && int64_t(getInvFreq()->size()) * 2 != int64_t(getRotaryDim()))
    return emitOpError() << "inv_freq needs rotary_dim/2 = " << getRotaryDim() / 2
                         << " values, has " << getInvFreq()->size();
  if (getFactor().convertToDouble() <= 0)
    return emitOpError() << "scaling factor must be positive";
  if (sc == "llama3" && getHighFreqFactor().convertToDouble() <=
                            getLowFreqFactor().convertToDouble())
    return emitOpError() << "llama3 scaling needs high_freq_factor > low_freq_factor";
  if (sc == "llama3" && int64_t(getOriginalMaxPosition()) <= 0)
    return emitOpError() << "llama3 scaling needs a positive original_max_position";
  return verifyViaInference(*this);
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(getQ(), types);
}
LogicalResult AttentionOp::verify() {
  for (auto [v, what] : {std::pair<Value, StringRef>{getQ(), "queries"},
                         {getK(), "keys"},
                         {getV(), "values"}})
    if (failed(expectRank(*this, v, 2, what)) ||
        failed(expectSameElt(*this, getQ(), v, "queries", what)))
      return failure();
  int64_t nh = getNumHeads(), nkv = getNumKvHeads(), hd = getHeadDim();
  if (nh <= 0 || nkv <= 0 || hd <= 0)
    return emitOpError() << "num_heads, num_kv_heads and head_dim must be positive";
  if (nh % nkv)
    return emitOpError() << "num_heads (" << nh
                         << ") must be a multiple of num_kv_heads (" << nkv << ")";
  auto check = [&](Value v, int64_t heads, StringRef what) -> LogicalResult {
    auto t = ranked(v);
    if (t && known(t.getDimSize(1)) && t.getDimSize(1) != heads * hd)
      return emitOpError() << what << " have width " << t.getDimSize(1)
                           << " but " << heads << " heads x head_dim " << hd
                           << " = " << heads * hd;
    return success();
  };
  if (failed(check(getQ(), nh, "queries")) || failed(check(getK(), nkv, "keys")) ||
      failed(check(getV(), nkv, "values")))
    return failure();
  if (getScale().convertToDouble() <= 0)
    return emitOpError() << "scale must be positive";
  // I64Attr getters return uint64_t: compare the signed value.
  if (int64_t(getSlidingWindow()) < 0)
    return emitOpError() << "sliding_window must be >= 0 (0 means none)";
  if (int64_t(getLayer()) < 0)
    return emitOpError() << "layer must be >= 0";
  return verifyViaInference(*this);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

#define INGOT_UNARY_SAME(OP)                                                   \
  LogicalResult OP::inferResultTypes(SmallVectorImpl<Type> &types) {           \
    return sameAs(getX(), types);                                              \
  }
INGOT_UNARY_SAME(SiluOp)
INGOT_UNARY_SAME(ReluOp)
INGOT_UNARY_SAME(GeluOp)
INGOT_UNARY_SAME(ScaleOp)
INGOT_UNARY_SAME(SoftmaxOp)
#undef INGOT_UNARY_SAME

LogicalResult SiluOp::verify() { return verifyViaInference(*this); }
LogicalResult ReluOp::verify() { return verifyViaInference(*this); }
LogicalResult ScaleOp::verify() { return verifyViaInference(*this); }
LogicalResult SoftmaxOp::verify() {
  if (auto x = ranked(getX()); x && x.getRank() < 1)
    return emitOpError() << "expects an input of rank >= 1";
  return verifyViaInference(*this);
}
LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError() << "approximate must be 'none' or 'tanh', got '"
                         << getApproximate() << "'";
  return verifyViaInference(*this);
}

static LogicalResult inferBinary(Operation *op, Value lhs, Value rhs,
                                 SmallVectorImpl<Type> &types) {
  auto l = ranked(lhs), r = ranked(rhs);
  if (l && r && r.getRank() == 1 && l.getRank() > 1) {
    types.push_back(l);
    return success();
  }
  if (l && r) {
    SmallVector<int64_t> shape;
    for (auto [a, b] : llvm::zip(l.getShape(), r.getShape()))
      shape.push_back(known(a) ? a : b);
    types.push_back(RankedTensorType::get(shape, l.getElementType()));
    return success();
  }
  types.push_back(l ? Type(l) : (r && r.getRank() > 1 ? Type(r) : lhs.getType()));
  return success();
}

static LogicalResult verifyBinary(Operation *op, Value lhs, Value rhs) {
  auto l = ranked(lhs), r = ranked(rhs);
  if (l && r) {
    bool rowBroadcast = r.getRank() == 1 && l.getRank() > 1;
    if (rowBroadcast) {
      if (!compatible(r.getDimSize(0), l.getShape().back()))
        return op->emitOpError()
               << "cannot broadcast " << rhs.getType() << " over the rows of "
               << lhs.getType() << ": sizes " << dimStr(r.getDimSize(0))
               << " and " << dimStr(l.getShape().back()) << " differ";
    } else if (l.getRank() != r.getRank()) {
      return op->emitOpError() << "operands " << lhs.getType() << " and "
                               << rhs.getType()
                               << " have different ranks (only a rank-1 rhs "
                                  "broadcasts)";
    } else {
      for (auto [i, ab] : llvm::enumerate(llvm::zip(l.getShape(), r.getShape())))
        if (!compatible(std::get<0>(ab), std::get<1>(ab)))
          return op->emitOpError()
                 << "operand shapes differ in dimension " << i << ": "
                 << lhs.getType() << " vs " << rhs.getType();
    }
  }
  SmallVector<Type> types;
  if (failed(inferBinary(op, lhs, rhs, types)))
    return failure();
  return checkResult(op, types[0]);
}

#define INGOT_BINARY(OP)                                                       \
  LogicalResult OP::inferResultTypes(SmallVectorImpl<Type> &types) {           \
    return inferBinary(*this, getLhs(), getRhs(), types);                      \
  }                                                                            \
  LogicalResult OP::verify() { return verifyBinary(*this, getLhs(), getRhs()); }
INGOT_BINARY(AddOp)
INGOT_BINARY(SubOp)
INGOT_BINARY(MulOp)
INGOT_BINARY(DivOp)
#undef INGOT_BINARY

LogicalResult CastOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  Type target = elt(getResult());
  if (auto x = ranked(getX()))
    types.push_back(RankedTensorType::get(x.getShape(), target));
  else
    types.push_back(UnrankedTensorType::get(target));
  return success();
}
LogicalResult CastOp::verify() { return verifyViaInference(*this); }

//===----------------------------------------------------------------------===//
// MoE, gather_last, logits
//===----------------------------------------------------------------------===//

LogicalResult MoeOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(getX(), types);
}
LogicalResult MoeOp::verify() {
  if (failed(expectRank(*this, getX(), 2, "an input [tokens, hidden]")) ||
      failed(expectRank(*this, getRouter(), 2, "a router [experts, hidden]")) ||
      failed(expectRank(*this, getGate(), 3, "gate weights [experts, inter, hidden]")) ||
      failed(expectRank(*this, getUp(), 3, "up weights [experts, inter, hidden]")) ||
      failed(expectRank(*this, getDown(), 3, "down weights [experts, hidden, inter]")))
    return failure();
  // I64Attr getters return uint64_t: compare the signed value.
  int64_t topK = int64_t(getTopK());
  auto x = ranked(getX()), r = ranked(getRouter()), g = ranked(getGate()),
       u = ranked(getUp()), d = ranked(getDown());
  if (r && g && u && d) {
    int64_t e = r.getDimSize(0), h = r.getDimSize(1), i = g.getDimSize(1);
    if (x && !compatible(x.getDimSize(1), h))
      return emitOpError() << "router expects hidden size " << h
                           << " but the input has " << dimStr(x.getDimSize(1));
    if (g.getDimSize(0) != e || u.getDimSize(0) != e || d.getDimSize(0) != e)
      return emitOpError() << "router has " << e
                           << " experts but expert weights disagree";
    if (g.getShape() != u.getShape() || g.getDimSize(2) != h ||
        d.getDimSize(1) != h || d.getDimSize(2) != i)
      return emitOpError() << "expert weight shapes are inconsistent: gate "
                           << g << ", up " << u << ", down " << d;
    if (topK <= 0 || topK > e)
      return emitOpError() << "top_k must be in [1, " << e << "], got "
                           << topK;
  } else if (topK <= 0) {
    return emitOpError() << "top_k must be positive";
  }
  return verifyViaInference(*this);
}

LogicalResult GatherLastOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  auto x = ranked(getX());
  if (!x) {
    types.push_back(getX().getType());
    return success();
  }
  SmallVector<int64_t> shape(x.getShape());
  shape[0] = ShapedType::kDynamic;
  types.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}
LogicalResult GatherLastOp::verify() {
  if (auto x = ranked(getX()); x && x.getRank() != 2)
    return emitOpError() << "expects an input [tokens, hidden], got " << x;
  return verifyViaInference(*this);
}

LogicalResult LogitsOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  auto w = ranked(getWeight());
  Type f32 = Float32Type::get(getContext());
  if (!w) {
    types.push_back(UnrankedTensorType::get(f32));
    return success();
  }
  types.push_back(
      RankedTensorType::get({ShapedType::kDynamic, w.getDimSize(0)}, f32));
  return success();
}
LogicalResult LogitsOp::verify() {
  if (failed(expectRank(*this, getX(), 2, "an input [tokens, hidden]")) ||
      failed(expectRank(*this, getWeight(), 2, "a head weight [vocab, hidden]")) ||
      failed(expectSameElt(*this, getX(), getWeight(), "input", "head weight")))
    return failure();
  auto x = ranked(getX()), w = ranked(getWeight());
  if (x && w && !compatible(x.getDimSize(1), w.getDimSize(1)))
    return emitOpError() << "input has hidden size " << dimStr(x.getDimSize(1))
                         << " but the head weight expects " << w.getDimSize(1);
  return verifyViaInference(*this);
}

//===----------------------------------------------------------------------===//
// Fused, step
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "body has " << body.getNumArguments()
                         << " arguments but the op has " << getInputs().size()
                         << " inputs";
  for (auto [arg, in] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != in.getType())
      return emitOpError() << "body argument type " << arg.getType()
                           << " differs from input type " << in.getType();
  // Not getTerminator(): the body may lack a terminator altogether.
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError() << "body must end with ingot.yield";
  if (yield.getValues().size() != getNumResults())
    return emitOpError() << "yields " << yield.getValues().size()
                         << " values but has " << getNumResults() << " results";
  for (auto [v, r] : llvm::zip(yield.getValues(), getResults()))
    if (v.getType() != r.getType())
      return emitOpError() << "yielded type " << v.getType()
                           << " differs from result type " << r.getType();
  StringRef k = getKind();
  if (k != "add_rms_norm" && k != "add_layer_norm" && k != "silu_mul" &&
      k != "elementwise")
    return emitOpError() << "unknown fusion kind '" << k << "'";
  return success();
}

LogicalResult StepOp::verify() {
  static const char *kinds[] = {
      "Embedding", "Linear",      "RmsNorm",  "LayerNorm",  "AddRmsNorm",
      "Rope",      "Attention",   "Elementwise", "SiluMul", "Softmax",
      "MoE",       "Logits",      "AddLayerNorm", "GatherLast"};
  if (getKind() == "Node") {
    // A generic (ONNX) operator: see ingot-onnx-lower-graph.
    auto opType = (*this)->getAttrOfType<StringAttr>("op_type");
    if (!opType || opType.getValue().empty())
      return emitOpError() << "of kind Node needs a non-empty 'op_type'";
    if (auto absent =
            (*this)->getAttrOfType<DenseI64ArrayAttr>("ingot.absent_inputs")) {
      int64_t total = int64_t(getInputs().size()) + absent.size(), prev = -1;
      for (int64_t i : absent.asArrayRef()) {
        if (i <= prev || i >= total)
          return emitOpError() << "'ingot.absent_inputs' must be increasing "
                                  "positions below "
                               << total;
        prev = i;
      }
    }
    return success();
  }
  for (const char *k : kinds)
    if (getKind() == k)
      return success();
  return emitOpError() << "unknown plan step kind '" << getKind() << "'";
}

#define GET_OP_CLASSES
#include "ingot/Dialect/Ingot/IngotOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Generic ops
//===----------------------------------------------------------------------===//

LogicalResult NodeOp::verify() {
  if (getOpType().empty())
    return emitOpError() << "needs a non-empty op_type";
  for (NamedAttribute a : getAttrs()) {
    Attribute v = a.getValue();
    if (!isa<IntegerAttr, FloatAttr, StringAttr, DenseI64ArrayAttr,
             DenseF32ArrayAttr, ElementsAttr, ArrayAttr>(v))
      return emitOpError() << "attribute '" << a.getName().getValue()
                           << "' of " << getOpType()
                           << " has an unsupported kind: " << v;
    if (auto arr = dyn_cast<ArrayAttr>(v))
      for (Attribute e : arr)
        if (!isa<StringAttr>(e))
          return emitOpError() << "attribute '" << a.getName().getValue()
                               << "' of " << getOpType()
                               << ": only arrays of strings may be ArrayAttr";
  }
  for (Type t : getOperandTypes())
    if (!isa<TensorType, NoneType>(t))
      return emitOpError() << "operands must be tensors or none, got " << t;
  for (Type t : getResultTypes())
    if (!isa<TensorType>(t))
      return emitOpError() << "results must be tensors, got " << t;
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }
