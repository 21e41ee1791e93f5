//===- OnnxFold.cpp - fold and refine imported ONNX graphs ----------------===//
//
// `ingot-onnx-fold`, on a function of generic nodes (ingot.node /
// ingot.constant / ingot.weight / ingot.absent), in one forward walk (the
// importer emits nodes in topological order, so operands are always
// visited first):
//
// 1. Removes no-ops: Identity, inference Dropout (when its mask is unused
//    and training_mode is absent or false), Cast/CastLike to the type the
//    input already has. "Constant" nodes become ingot.constant.
// 2. Derives symbolic shapes and small integer contents (OnnxShapes.h) and
//    merges them with the declared result types (conflicts are errors naming
//    the node); results become ranked with `?` where only known at run time.
// 3. A node whose results' contents are all known constants (shape
//    arithmetic on static dims) becomes ingot.constant without any kernel.
// 4. A node whose inputs are all constants is evaluated by the runtime's
//    own N-d kernel (NdEval.h) when one exists and its outputs stay under
//    `max-elements`; nodes without a kernel stay.
// 5. A Reshape whose shape is made of constants and of its input's own dims
//    at the same index gets a constant shape, with 0 ("copy") for those dims
//    and -1 ("infer") for at most one dim that is neither. Likewise an
//    Expand gets a constant shape with 1 for its input's own dims. A Reshape
//    or Expand to the shape its input already has is removed.
// 6. Unused nodes, constants, weights and absent markers are erased, and the
//    function's result types follow what it returns.
//
// Nondeterministic ops (Random*, Multinomial, Bernoulli) are never folded.
//
//===----------------------------------------------------------------------===//
#include "OnnxShapes.h"

#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/NdEval/NdEval.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::ingot {
#define GEN_PASS_DEF_ONNXFOLD
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::onnx;

namespace {

bool isDefaultDomain(NodeOp n) {
  return n.getDomain().empty() || n.getDomain() == "ai.onnx";
}

bool isNondeterministic(StringRef t) {
  static const llvm::StringSet<> s = {"RandomNormal", "RandomNormalLike",
                                      "RandomUniform", "RandomUniformLike",
                                      "Multinomial", "Bernoulli"};
  return s.contains(t);
}

bool isAbsent(Value v) { return isa<NoneType>(v.getType()); }

// A dense constant of `type` (static, rank <= 1, integer) holding `values`.
DenseElementsAttr intConstant(RankedTensorType type,
                              llvm::ArrayRef<int64_t> values) {
  auto it = cast<IntegerType>(type.getElementType());
  llvm::SmallVector<APInt> v;
  for (int64_t x : values)
    v.push_back(APInt(64, uint64_t(x), /*isSigned=*/true)
                    .trunc(it.getWidth()));
  return DenseElementsAttr::get(type, v);
}

class Folder {
public:
  Folder(func::FuncOp fn, int64_t maxElements)
      : fn(fn), maxElements(maxElements), engine(fn.getContext()),
        builder(fn.getContext()) {}

  LogicalResult run() {
    Block &block = fn.getBody().front();
    for (auto [i, arg] : llvm::enumerate(block.getArguments()))
      engine.addArgument(arg, fn.getArgAttrOfType<ArrayAttr>(
                                  unsigned(i), "ingot.dim_params"));
    llvm::SmallVector<Operation *> ops;
    for (Operation &op : block)
      ops.push_back(&op);
    bool ok = true;
    // Each visit erases at most the node it visits, never a later one.
    for (Operation *op : ops)
      if (auto n = dyn_cast<NodeOp>(op))
        ok &= succeeded(visit(n));
    if (!ok)
      return failure();
    eraseDead(block);
    if (auto ret = dyn_cast<func::ReturnOp>(block.getTerminator()))
      fn.setType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                                   ret.getOperandTypes()));
    return success();
  }

private:
  func::FuncOp fn;
  int64_t maxElements;
  ShapeEngine engine;
  OpBuilder builder;

  LogicalResult error(NodeOp n, const llvm::Twine &msg) {
    emitError(n.getLoc()) << ShapeEngine::describe(n) << msg;
    return failure();
  }

  void replaceWith(NodeOp n, llvm::ArrayRef<Value> values) {
    for (auto [r, v] : llvm::zip(n->getResults(), values))
      r.replaceAllUsesWith(v);
    n->erase();
  }

  Value makeConstant(NodeOp n, DenseElementsAttr value) {
    builder.setInsertionPoint(n);
    auto c = ConstantOp::create(builder, n.getLoc(), value.getType(), value);
    engine.setConstantFacts(c.getResult(), value);
    return c.getResult();
  }

  // Step 1. Returns true when the node was removed.
  bool simplify(NodeOp n) {
    if (!isDefaultDomain(n) || n->getNumResults() == 0)
      return false;
    StringRef t = n.getOpType();
    auto input = [&](unsigned i) -> Value {
      return i < n->getNumOperands() && !isAbsent(n->getOperand(i))
                 ? n->getOperand(i)
                 : Value();
    };
    Value x = input(0);
    if (t == "Identity" && x) {
      replaceWith(n, {x});
      return true;
    }
    if (t == "Dropout" && x) {
      if (n->getNumResults() > 1 && !n->getResult(1).use_empty())
        return false;
      if (Value mode = input(2)) {
        const ValueFacts &f = engine.facts(mode);
        if (!f.elems || f.elems->size() != 1 || !(*f.elems)[0].isConstant(0))
          return false;
      }
      replaceWith(n, {x});
      return true;
    }
    if (t == "Cast" && x) {
      auto to = dyn_cast_if_present<IntegerAttr>(n.getAttrs().get("to"));
      Type e = to ? onnxElementType(n.getContext(), to.getValue().getSExtValue()) : Type();
      if (e && e == getElementTypeOrSelf(x.getType())) {
        replaceWith(n, {x});
        return true;
      }
      return false;
    }
    if (t == "CastLike" && x && input(1) &&
        getElementTypeOrSelf(x.getType()) ==
            getElementTypeOrSelf(input(1).getType())) {
      replaceWith(n, {x});
      return true;
    }
    if (t == "Constant" && n->getNumOperands() == 0) {
      DictionaryAttr a = n.getAttrs();
      DenseElementsAttr v;
      if (auto d = a.getAs<DenseElementsAttr>("value"))
        v = d;
      else if (auto i = a.getAs<IntegerAttr>("value_int"))
        v = DenseElementsAttr::get(
            RankedTensorType::get({}, builder.getI64Type()),
            llvm::ArrayRef<int64_t>{i.getValue().getSExtValue()});
      else if (auto is = a.getAs<DenseI64ArrayAttr>("value_ints"))
        v = DenseElementsAttr::get(
            RankedTensorType::get({is.size()}, builder.getI64Type()),
            is.asArrayRef());
      else if (auto f = a.getAs<FloatAttr>("value_float"))
        v = DenseElementsAttr::get(
            RankedTensorType::get({}, builder.getF32Type()),
            llvm::ArrayRef<float>{float(f.getValueAsDouble())});
      else if (auto fs = a.getAs<DenseF32ArrayAttr>("value_floats"))
        v = DenseElementsAttr::get(
            RankedTensorType::get({fs.size()}, builder.getF32Type()),
            fs.asArrayRef());
      if (!v || !isCompatible(v.getType(), n->getResult(0).getType()))
        return false;
      replaceWith(n, {makeConstant(n, v)});
      return true;
    }
    return false;
  }

  // Whether a known type can replace a declared one (same element type,
  // same rank and static dims where both are ranked).
  static bool isCompatible(ShapedType known, Type declaredType) {
    auto declared = cast<TensorType>(declaredType);
    if (known.getElementType() != declared.getElementType())
      return false;
    auto rt = dyn_cast<RankedTensorType>(declared);
    if (!rt)
      return true;
    if (rt.getRank() != known.getRank())
      return false;
    for (auto [a, b] : llvm::zip(known.getShape(), rt.getShape()))
      if (!ShapedType::isDynamic(b) && a != b)
        return false;
    return true;
  }

  // Step 3: every result is a small integer tensor of known contents.
  bool foldKnownContents(NodeOp n) {
    llvm::SmallVector<DenseElementsAttr> values;
    for (Value r : n->getResults()) {
      auto rt = dyn_cast<RankedTensorType>(r.getType());
      const ValueFacts &f = engine.facts(r);
      if (!rt || !rt.hasStaticShape() || rt.getRank() > 1 || !f.elems ||
          !isTrackedInteger(rt.getElementType()) ||
          int64_t(f.elems->size()) != rt.getNumElements())
        return false;
      llvm::SmallVector<int64_t> ints;
      for (const SymInt &e : *f.elems) {
        std::optional<int64_t> c = e.getConstant();
        if (!c)
          return false;
        ints.push_back(*c);
      }
      values.push_back(intConstant(rt, ints));
    }
    llvm::SmallVector<Value> consts;
    for (DenseElementsAttr v : values)
      consts.push_back(makeConstant(n, v));
    replaceWith(n, consts);
    return true;
  }

  // Step 4. Returns failure when the kernel rejected the inputs; sets
  // `folded` when the node was replaced.
  LogicalResult foldWithKernel(NodeOp n, bool &folded) {
    folded = false;
    // Dead nodes are erased at the end; evaluating them is wasted work.
    if (n->getNumResults() == 0 || isNondeterministic(n.getOpType()) ||
        n->use_empty())
      return success();
    llvm::SmallVector<DenseElementsAttr> inputs;
    for (Value v : n->getOperands()) {
      if (isAbsent(v)) {
        inputs.push_back({});
        continue;
      }
      auto c = v.getDefiningOp<ConstantOp>();
      auto d = c ? dyn_cast<DenseElementsAttr>(c.getValue()) : nullptr;
      if (!d)
        return success();
      inputs.push_back(d);
    }
    llvm::SmallVector<DenseElementsAttr> results;
    std::string err;
    switch (evaluateNode(n.getContext(), n.getOpType(), n.getDomain(),
                         n.getAttrs(), inputs, n->getNumResults(), maxElements,
                         results, err)) {
    case EvalStatus::NoKernel:
    case EvalStatus::TooLarge:
      return success();
    case EvalStatus::Failed:
      return error(n, "constant folding failed: " + err);
    case EvalStatus::Ok:
      break;
    }
    for (auto [r, v] : llvm::zip(n->getResults(), results))
      if (!isCompatible(v.getType(), r.getType())) {
        InFlightDiagnostic d = emitError(n.getLoc())
                               << ShapeEngine::describe(n)
                               << "the kernel computed " << v.getType()
                               << " but the result is declared as "
                               << r.getType();
        return failure();
      }
    llvm::SmallVector<Value> consts;
    for (DenseElementsAttr v : results)
      consts.push_back(makeConstant(n, v));
    replaceWith(n, consts);
    folded = true;
    return success();
  }

  // Step 5. With allowzero = 1 a 0 in the shape is a literal zero, so "copy"
  // markers need allowzero = 0: the attribute is switched when the shape
  // has no literal zero (a copied dim of size 0 is still copied exactly).
  void rewriteReshape(NodeOp n) {
    if (n.getOpType() != "Reshape" || !isDefaultDomain(n) ||
        n->getNumOperands() < 2 || isAbsent(n->getOperand(1)) ||
        n->getOperand(1).getDefiningOp<ConstantOp>())
      return;
    DictionaryAttr attrs = n.getAttrs();
    auto az = dyn_cast_if_present<IntegerAttr>(attrs.get("allowzero"));
    bool allowZero = az && !az.getValue().isZero();
    std::optional<SymVec> shape = engine.facts(n->getOperand(1)).elems;
    std::optional<SymVec> in = engine.facts(n->getOperand(0)).dims;
    if (!shape)
      return;
    bool literalZero = llvm::any_of(
        *shape, [](const SymInt &e) { return e.isConstant(0); });
    bool mayCopy = !allowZero || !literalZero;
    llvm::SmallVector<int64_t> spec;
    bool hasInfer = false, hasUnresolved = false, copies = false;
    for (auto [i, e] : llvm::enumerate(*shape)) {
      if (std::optional<int64_t> c = e.getConstant()) {
        hasInfer |= *c == -1;
        spec.push_back(*c);
      } else if (mayCopy && in && i < in->size() && (*in)[i] == e) {
        spec.push_back(0);
        copies = true;
      } else {
        if (hasUnresolved)
          return;
        hasUnresolved = true;
        spec.push_back(-1);
      }
    }
    if (hasUnresolved && hasInfer)
      return;
    auto type = RankedTensorType::get({int64_t(spec.size())}, builder.getI64Type());
    DenseElementsAttr attr = intConstant(type, spec);
    builder.setInsertionPoint(n);
    auto c = ConstantOp::create(builder, n->getOperand(1).getLoc(), type, attr);
    engine.setConstantFacts(c.getResult(), attr);
    n->setOperand(1, c.getResult());
    if (copies && allowZero) {
      NamedAttrList list(attrs);
      list.set("allowzero", builder.getI64IntegerAttr(0));
      n.setAttrsAttr(list.getDictionary(n.getContext()));
    }
  }

  // A Reshape or Expand to the shape its input already has is a no-op.
  bool removeNoOpReshape(NodeOp n) {
    if ((n.getOpType() != "Reshape" && n.getOpType() != "Expand") ||
        !isDefaultDomain(n) || n->getNumOperands() != 2 ||
        isAbsent(n->getOperand(0)))
      return false;
    Value x = n->getOperand(0), r = n->getResult(0);
    std::optional<SymVec> in = engine.facts(x).dims, out = engine.facts(r).dims;
    if (!in || !out || *in != *out ||
        getElementTypeOrSelf(x.getType()) != getElementTypeOrSelf(r.getType()))
      return false;
    replaceWith(n, {x});
    return true;
  }

  // An Expand whose shape is made of constants and of its input's own dims
  // (right-aligned) gets a constant shape with 1 for those dims: the
  // broadcast keeps the input's size there.
  void rewriteExpand(NodeOp n) {
    if (n.getOpType() != "Expand" || !isDefaultDomain(n) ||
        n->getNumOperands() != 2 || isAbsent(n->getOperand(1)) ||
        n->getOperand(1).getDefiningOp<ConstantOp>())
      return;
    std::optional<SymVec> shape = engine.facts(n->getOperand(1)).elems;
    std::optional<SymVec> in = engine.facts(n->getOperand(0)).dims;
    if (!shape || !in)
      return;
    llvm::SmallVector<int64_t> spec;
    size_t off = shape->size() >= in->size() ? shape->size() - in->size() : 0;
    for (auto [i, e] : llvm::enumerate(*shape)) {
      if (std::optional<int64_t> c = e.getConstant())
        spec.push_back(*c);
      else if (i >= off && i - off < in->size() && (*in)[i - off] == e)
        spec.push_back(1);
      else
        return;
    }
    auto type = RankedTensorType::get({int64_t(spec.size())}, builder.getI64Type());
    DenseElementsAttr attr = intConstant(type, spec);
    builder.setInsertionPoint(n);
    auto c = ConstantOp::create(builder, n->getOperand(1).getLoc(), type, attr);
    engine.setConstantFacts(c.getResult(), attr);
    n->setOperand(1, c.getResult());
  }

  LogicalResult visit(NodeOp n) {
    if (simplify(n))
      return success();
    NodeFacts nf(n->getNumResults());
    if (failed(engine.infer(n, nf)))
      return failure();
    for (unsigned r = 0; r < n->getNumResults(); ++r) {
      FailureOr<Type> t = engine.refineResult(n, r, nf);
      if (failed(t))
        return failure();
      n->getResult(r).setType(*t);
    }
    if (n->getNumResults() > 0 && !isNondeterministic(n.getOpType()) &&
        foldKnownContents(n))
      return success();
    if (removeNoOpReshape(n))
      return success();
    bool folded;
    if (failed(foldWithKernel(n, folded)))
      return failure();
    if (!folded) {
      rewriteReshape(n);
      rewriteExpand(n);
    }
    return success();
  }

  static void eraseDead(Block &block) {
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
      if (isa<NodeOp, ConstantOp, AbsentOp, WeightOp>(op) && op.use_empty())
        op.erase();
  }
};

struct OnnxFoldPass : public mlir::ingot::impl::OnnxFoldBase<OnnxFoldPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    bool hasNodes = false;
    fn.walk([&](NodeOp) { hasNodes = true; });
    if (!hasNodes)
      return;
    if (!fn.getBody().hasOneBlock()) {
      fn.emitError() << "ingot-onnx-fold expects a single-block function";
      return signalPassFailure();
    }
    if (maxElements < 0) {
      fn.emitError() << "ingot-onnx-fold: max-elements must be >= 0";
      return signalPassFailure();
    }
    Folder folder(fn, maxElements);
    if (failed(folder.run()))
      signalPassFailure();
  }
};

} // namespace
