//===- Pipeline.cpp - the compile pipeline --------------------------------===//
#include "ingot/Pipeline/Pipeline.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::ingot::buildCompilePipeline(OpPassManager &pm, const PipelineOptions &opts) {
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(mlir::ingot::createShapeInference());
  fpm.addPass(createCanonicalizerPass());
  if (opts.fuse) {
    fpm.addPass(mlir::ingot::createFuse());
    fpm.addPass(createCanonicalizerPass());
  }
  mlir::ingot::PlanMemoryOptions mem;
  mem.maxTokens = opts.maxTokens;
  mem.maxSeqs = opts.maxSeqs;
  mem.printReport = opts.printMemoryReport;
  fpm.addPass(mlir::ingot::createPlanMemory(mem));
  fpm.addPass(mlir::ingot::createLowerToPlan());
}

// For now fold only; ingot-onnx-raise joins here. CSE merges the duplicate
// constants folding creates (equal shapes computed twice, ...). The
// canonicalizer would add nothing: generic nodes have no folders or
// patterns, and it would hoist every constant to the top of the function,
// away from the nodes that use it.
void mlir::ingot::buildOnnxFrontendPipeline(OpPassManager &pm) {
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(mlir::ingot::createOnnxFold());
  fpm.addPass(createCSEPass());
}

void mlir::ingot::buildGraphPipeline(OpPassManager &pm) {
  pm.addPass(mlir::ingot::createOnnxLowerGraph());
}

namespace {
struct CompilePipelineOptions
    : public PassPipelineOptions<CompilePipelineOptions> {
  Option<int64_t> maxTokens{*this, "max-tokens",
                            llvm::cl::desc("Worst-case tokens per step"),
                            llvm::cl::init(512)};
  Option<int64_t> maxSeqs{*this, "max-seqs",
                          llvm::cl::desc("Worst-case sequences per step"),
                          llvm::cl::init(64)};
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("Run fusion"),
                    llvm::cl::init(true)};
  Option<bool> memoryReport{*this, "memory-report",
                            llvm::cl::desc("Print the memory plan"),
                            llvm::cl::init(false)};
};
} // namespace

void mlir::ingot::registerPipelines() {
  PassPipelineRegistration<CompilePipelineOptions>(
      "ingot-compile",
      "The ingotc pipeline: shape inference, canonicalization, fusion, "
      "memory planning and lowering to plan steps",
      [](OpPassManager &pm, const CompilePipelineOptions &o) {
        PipelineOptions opts;
        opts.maxTokens = o.maxTokens;
        opts.maxSeqs = o.maxSeqs;
        opts.fuse = o.fuse;
        opts.printMemoryReport = o.memoryReport;
        buildCompilePipeline(pm, opts);
      });
  PassPipelineRegistration<>(
      "ingot-onnx-frontend",
      "The ONNX front end after import: ingot-onnx-fold, CSE",
      [](OpPassManager &pm) { buildOnnxFrontendPipeline(pm); });
  PassPipelineRegistration<>(
      "ingot-graph", "Graph plans: ingot-onnx-lower-graph",
      [](OpPassManager &pm) { buildGraphPipeline(pm); });
}
