//===- Passes.h - ingot passes and pipelines --------------------*- C++ -*-===//
#ifndef INGOT_TRANSFORMS_PASSES_H
#define INGOT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include <memory>

namespace mlir::ingot {

#define GEN_PASS_DECL
#include "ingot/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ingot/Transforms/Passes.h.inc"

} // namespace mlir::ingot

#endif
