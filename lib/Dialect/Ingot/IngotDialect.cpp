//===- IngotDialect.cpp - dialect registration ---------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::ingot;

#include "ingot/Dialect/Ingot/IngotDialect.cpp.inc"
#include "ingot/Dialect/Ingot/IngotInterfaces.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "ingot/Dialect/Ingot/IngotTypes.cpp.inc"

void IngotDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "ingot/Dialect/Ingot/IngotTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ingot/Dialect/Ingot/IngotOps.cpp.inc"
      >();
}
