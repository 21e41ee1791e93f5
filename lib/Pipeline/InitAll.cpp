//===- InitAll.cpp - registration shared by every ingot tool -------------===//
#include "ingot/InitAll.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/CudaGen/CudaGen.h"
#include "ingot/OnnxRaise/OnnxRaise.h"
#include "ingot/Pipeline/Pipeline.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void mlir::ingot::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::ingot::IngotDialect, mlir::func::FuncDialect>();
}

void mlir::ingot::registerAllPasses() {
  mlir::ingot::registerIngotPasses();
  mlir::ingot::registerOnnxRaisePass();
  mlir::ingot::registerCudaGenPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::ingot::registerPipelines();
}
