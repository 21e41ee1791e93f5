//===- InitAll.h - one registration for every ingot tool --------*- C++ -*-===//
// ingotc and ingot-opt register exactly the same dialects and passes.
//===----------------------------------------------------------------------===//
#ifndef INGOT_INITALL_H
#define INGOT_INITALL_H

namespace mlir {
class DialectRegistry;
}

namespace mlir::ingot {
// Dialects every ingot tool loads: ingot, func, and what the pipeline uses.
void registerAllDialects(DialectRegistry &registry);
// The ingot passes, the upstream passes the pipeline uses, and the named
// pipelines (see lib/Pipeline/Pipeline.cpp).
void registerAllPasses();
} // namespace mlir::ingot

#endif
