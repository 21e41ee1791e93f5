//===- ShapeInference.cpp - ranked shapes with symbolic rows -------------===//
//
// Front ends build ops with unranked results; every ingot compute op knows
// its result type from its operands (ShapeInference interface). Walking the
// single-block function in order is enough: operands are defined before use.
// The function's result types follow what it returns.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"

namespace mlir::ingot {
#define GEN_PASS_DEF_SHAPEINFERENCE
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;

namespace {
struct ShapeInferencePass
    : public mlir::ingot::impl::ShapeInferenceBase<ShapeInferencePass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    WalkResult r = fn.walk([&](Operation *op) {
      auto si = dyn_cast<ShapeInference>(op);
      if (!si)
        return WalkResult::advance();
      SmallVector<Type> types;
      if (failed(si.inferResultTypes(types)))
        return WalkResult::interrupt();
      for (auto [res, t] : llvm::zip(op->getResults(), types)) {
        if (res.getType() == t)
          continue;
        // Never lose information: keep a declared ranked type if the
        // inferred one is unranked.
        if (isa<UnrankedTensorType>(t) && isa<RankedTensorType>(res.getType()))
          continue;
        res.setType(t);
      }
      if (failed(mlir::verify(op, /*verifyRecursively=*/false))) {
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();

    // Update the signature to the returned types.
    if (fn.isExternal())
      return;
    auto ret = dyn_cast<func::ReturnOp>(fn.getBody().back().getTerminator());
    if (!ret)
      return;
    auto fty = fn.getFunctionType();
    SmallVector<Type> results(ret.getOperandTypes());
    if (fty.getResults() != ArrayRef<Type>(results))
      fn.setFunctionType(
          FunctionType::get(fn.getContext(), fty.getInputs(), results));
  }
};
} // namespace
