//===- OnnxRaisePass.cpp - the ingot-onnx-raise pass ----------------------===//
//
// Pattern sets first (RaisePatterns.cpp), then dead nodes are dropped, then
// the decoder conversion (DecoderRaise.cpp) unless `patterns-only`. The
// outcome is reported as a remark on the module: what was raised, or the
// first node that stopped the decoder conversion and why.
//
//===----------------------------------------------------------------------===//
#include "ingot/OnnxRaise/OnnxRaise.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;
using namespace mlir::ingot;

namespace {

// ingot.node is not marked Pure (random ops), but an unused node computes
// nothing anyone reads: drop it (and then its now-unused producers).
void dropDeadNodes(func::FuncOp f) {
  bool changed = true;
  while (changed) {
    changed = false;
    SmallVector<Operation *> dead;
    f.walk([&](Operation *op) {
      if (isa<NodeOp, ConstantOp, WeightOp, AbsentOp>(op) && op->use_empty())
        dead.push_back(op);
    });
    for (Operation *op : llvm::reverse(dead)) {
      op->erase();
      changed = true;
    }
  }
}

struct OnnxRaisePass : PassWrapper<OnnxRaisePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(OnnxRaisePass)
  OnnxRaiseOptions opts;
  Option<bool> patternsOnly{*this, "patterns-only",
                            llvm::cl::desc("Only the pattern sets; no decoder conversion"),
                            llvm::cl::init(false)};
  OnnxRaisePass() = default;
  OnnxRaisePass(const OnnxRaisePass &o) : PassWrapper(o), opts(o.opts) {}
  explicit OnnxRaisePass(const OnnxRaiseOptions &o) : opts(o) { patternsOnly = o.patternsOnly; }

  StringRef getArgument() const override { return "ingot-onnx-raise"; }
  StringRef getDescription() const override {
    return "Raise imported ONNX subgraphs to named nodes, and a decoder export to "
           "the paged transformer ops";
  }
  void getDependentDialects(DialectRegistry &r) const override {
    r.insert<IngotDialect, func::FuncDialect>();
  }

  void runOnOperation() override {
    ModuleOp m = getOperation();
    auto main = m.lookupSymbol<func::FuncOp>("main");
    if (!main)
      return; // nothing imported (e.g. a DSL module)
    RewritePatternSet patterns(&getContext());
    populateOnnxRaisePatterns(patterns);
    if (failed(applyPatternsGreedily(main, std::move(patterns))))
      return signalPassFailure();
    dropDeadNodes(main);
    if (patternsOnly)
      return;
    DecoderRaiseResult r = raiseDecoder(m, opts);
    if (r.raised)
      mlir::emitRemark(m.getLoc()) << "raised a decoder with " << r.layers
                                   << " layers to the paged transformer ops";
    else
      mlir::emitRemark(m.getLoc()) << "kept as a graph (no KV cache paging): " << r.why;
  }
};

} // namespace

std::unique_ptr<Pass> mlir::ingot::createOnnxRaisePass(const OnnxRaiseOptions &opts) {
  return std::make_unique<OnnxRaisePass>(opts);
}

void mlir::ingot::registerOnnxRaisePass() { PassRegistration<OnnxRaisePass>(); }
