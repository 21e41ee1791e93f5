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

// ONNX: ingot-onnx-fold -> ingot-onnx-raise (see docs/onnx.md). After it the
// module is either a decoder (func @forward, continue with
// buildCompilePipeline) or a graph (func @main, continue with
// buildGraphPipeline).
void buildOnnxFrontendPipeline(OpPassManager &pm);
// Graph plans: ingot.node -> ingot.step "Node" (and the plain transformer
// ops that remain -> their steps); no KV cache, no arena planning.
void buildGraphPipeline(OpPassManager &pm);

} // namespace mlir::ingot

#endif
