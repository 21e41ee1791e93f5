//===- PlanEmitterInternal.h - shared by the plan writers -------*- C++ -*-===//
// Pieces shared by the decoder writer (PlanEmitter.cpp) and the graph-plan
// writer (GraphEmitter.cpp). Both files are built with exceptions.
//===----------------------------------------------------------------------===//
#ifndef INGOT_TARGET_PLAN_PLANEMITTERINTERNAL_H
#define INGOT_TARGET_PLAN_PLANEMITTERINTERNAL_H

#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Target/Plan/PlanEmitter.h"
#include "ingot/runtime/weights.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"

#include <string>

namespace mlir::ingot::plan_detail {

// "file:line:col" or a name location's name ("" when neither).
std::string locString(Location loc);

// A declaration's checkpoint recipe; false with `error` naming the weight.
bool weightSpecOf(WeightDeclOp decl, ::ingot::WeightSpec &spec,
                  std::string &error);

// A module of the general path: `ingot.source = "onnx"` and func @main.
bool isGraphModule(ModuleOp module);

// Writes a graph plan (GraphEmitter.cpp). May throw ingot::Error (the caller
// converts it).
bool emitGraphPlan(ModuleOp module, const PlanEmitOptions &opts,
                   PlanMemoryReport &report, std::string &error);

} // namespace mlir::ingot::plan_detail

#endif
