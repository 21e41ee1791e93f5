//===- IngotDialect.h - the ingot dialect -----------------------*- C++ -*-===//
// Include this (not the .inc files) to use the dialect, its types and ops.
//===----------------------------------------------------------------------===//
#ifndef INGOT_DIALECT_INGOT_INGOTDIALECT_H
#define INGOT_DIALECT_INGOT_INGOTDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ingot/Dialect/Ingot/IngotDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "ingot/Dialect/Ingot/IngotTypes.h.inc"

#include "ingot/Dialect/Ingot/IngotInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ingot/Dialect/Ingot/IngotOps.h.inc"

namespace mlir::ingot {
// Parses a weight transform string ("transpose", "concat:0", "stack",
// "slice:AXIS:START:SIZE", "cast:bf16"). Returns false and sets `error`
// when malformed.
struct WeightTransform {
  enum Kind { Transpose, Concat, Stack, Slice, Cast } kind;
  int64_t axis = 0, start = 0, size = 0;
  std::string dtype;
};
bool parseWeightTransform(llvm::StringRef text, WeightTransform &out,
                          std::string &error);
} // namespace mlir::ingot

#endif
