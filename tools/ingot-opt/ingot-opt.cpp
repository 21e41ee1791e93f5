//===- ingot-opt.cpp - the pass driver used by lit tests -----------------===//
#include "ingot/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::ingot::registerAllDialects(registry);
  mlir::ingot::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Ingot pass driver\n", registry));
}
