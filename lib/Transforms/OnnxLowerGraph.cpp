//===- OnnxLowerGraph.cpp - generic nodes to graph-plan steps -------------===//
//
// `ingot-onnx-lower-graph`, on a graph module (module attribute
// `ingot.source = "onnx"` with func.func @main; other modules are left
// alone): every ingot.node becomes
//
//   ingot.step "Node" (<present inputs>) {op_type, domain, name,
//                                         ingot.attrs = <the node's attrs>,
//                                         ingot.absent_inputs = array<i64: ...>}
//
// Plan steps take tensors only, so omitted optional inputs (ingot.absent)
// are not operands: `ingot.absent_inputs` lists their positions in the
// node's input list (omitted when none), and the plan emitter writes input
// id -1 there. The node's attribute dictionary is kept as is; the emitter
// types it (Attr.kind).
//
// Graph outputs must be tensors of their own, named by the graph: a
// returned value that is not a step result (a graph input, a constant, a
// weight) or that is returned twice is copied by an Identity step.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::ingot {
#define GEN_PASS_DEF_ONNXLOWERGRAPH
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;

namespace {

StepOp createNodeStep(OpBuilder &b, Location loc, TypeRange results,
                      StringRef opType, StringRef domain, StringRef name,
                      DictionaryAttr attrs, ValueRange inputs,
                      ArrayRef<int64_t> absent) {
  auto step = StepOp::create(b, loc, results, "Node", inputs);
  step->setAttr("op_type", b.getStringAttr(opType));
  step->setAttr("domain", b.getStringAttr(domain));
  step->setAttr("name", b.getStringAttr(name));
  step->setAttr("ingot.attrs", attrs ? attrs : b.getDictionaryAttr({}));
  if (!absent.empty())
    step->setAttr("ingot.absent_inputs", b.getDenseI64ArrayAttr(absent));
  return step;
}

struct OnnxLowerGraphPass
    : public mlir::ingot::impl::OnnxLowerGraphBase<OnnxLowerGraphPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto source = module->getAttrOfType<StringAttr>("ingot.source");
    if (!source || source.getValue() != "onnx")
      return;
    auto fn = module.lookupSymbol<func::FuncOp>("main");
    if (!fn || fn.isExternal()) {
      module.emitError() << "an ONNX graph module needs a func.func @main";
      return signalPassFailure();
    }
    if (!fn.getBody().hasOneBlock()) {
      fn.emitError() << "@main must have a single block";
      return signalPassFailure();
    }
    Block &block = fn.getBody().front();
    OpBuilder b(&getContext());
    bool ok = true;
    llvm::SmallVector<Operation *> ops;
    for (Operation &op : block)
      ops.push_back(&op);
    for (Operation *op : ops) {
      if (isa<ConstantOp, WeightOp, AbsentOp, StepOp, func::ReturnOp>(op))
        continue;
      auto node = dyn_cast<NodeOp>(op);
      if (!node) {
        op->emitOpError() << "cannot be part of a graph plan (graph plans run "
                             "ingot.node steps on constants, weights and "
                             "graph inputs)";
        ok = false;
        continue;
      }
      llvm::SmallVector<Value> inputs;
      llvm::SmallVector<int64_t> absent;
      for (auto [i, v] : llvm::enumerate(node.getInputs())) {
        if (isa<NoneType>(v.getType()))
          absent.push_back(int64_t(i));
        else
          inputs.push_back(v);
      }
      b.setInsertionPoint(node);
      StepOp step = createNodeStep(b, node.getLoc(), node->getResultTypes(),
                                   node.getOpType(), node.getDomain(),
                                   node.getName(), node.getAttrs(), inputs,
                                   absent);
      node->replaceAllUsesWith(step->getResults());
      node->erase();
    }
    if (!ok)
      return signalPassFailure();

    // Graph outputs get tensors of their own.
    auto ret = dyn_cast<func::ReturnOp>(block.getTerminator());
    if (!ret) {
      fn.emitError() << "@main must end with func.return";
      return signalPassFailure();
    }
    auto names = fn->getAttrOfType<ArrayAttr>("ingot.output_names");
    llvm::DenseSet<Value> returned;
    for (OpOperand &operand : ret->getOpOperands()) {
      Value v = operand.get();
      bool own = v.getDefiningOp<StepOp>() && !returned.contains(v);
      returned.insert(v);
      if (own)
        continue;
      unsigned i = operand.getOperandNumber();
      std::string name = "output" + std::to_string(i);
      if (names && i < names.size())
        if (auto s = dyn_cast<StringAttr>(names[i]))
          name = s.getValue().str();
      b.setInsertionPoint(ret);
      StepOp copy = createNodeStep(b, ret.getLoc(), v.getType(), "Identity",
                                   "", name + ":identity", {}, v, {});
      operand.set(copy->getResult(0));
    }

    for (Operation &op : llvm::make_early_inc_range(block))
      if (isa<AbsentOp>(op) && op.use_empty())
        op.erase();
  }
};

} // namespace
