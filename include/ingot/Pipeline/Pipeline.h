//===- Pipeline.h - the one compile pipeline --------------------*- C++ -*-===//
// Built in C++ in one place and registered as the named pipeline
// `ingot-compile`, so `ingot-opt --ingot-compile` reproduces what ingotc does.
//===----------------------------------------------------------------------===//
#ifndef INGOT_PIPELINE_PIPELINE_H
#define INGOT_PIPELINE_PIPELINE_H

#include <cstdint>

namespace mlir {
class OpPassManager;
}

namespace mlir::ingot {

struct PipelineOptions {
  int64_t maxTokens = 512;   // worst-case tokens per step (memory plan)
  int64_t maxSeqs = 64;      // worst-case sequences per step
  bool fuse = true;
  bool printMemoryReport = false;
};

// shape inference -> canonicalize -> fusion -> canonicalize -> memory
// planning -> lowering to plan steps. Plan emission follows (lib/Target/Plan).
void buildCompilePipeline(OpPassManager &pm, const PipelineOptions &opts);
void registerPipelines();

} // namespace mlir::ingot

#endif
