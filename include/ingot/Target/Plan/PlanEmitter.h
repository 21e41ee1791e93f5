//===- PlanEmitter.h - write a lowered module as a plan file ----*- C++ -*-===//
//
// Input: a module after `ingot-lower-to-plan` (ingot.weight_decl symbols and a
// func @forward of ingot.step / ingot.weight ops). Output: a plan file in the
// runtime's schema (runtime/schema/*.fbs). Weights are embedded by running
// the runtime's own weight transforms, or left external (bound at load).
//
// A graph module (`ingot.source = "onnx"` with func @main, after
// `ingot-onnx-lower-graph`) is written as a graph plan (PlanKind.Graph):
// graph inputs/outputs, Node steps, constants embedded as weights without
// sources (docs/plan-format.md, "Graph plans").
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_TARGET_PLAN_PLANEMITTER_H
#define INGOT_TARGET_PLAN_PLANEMITTER_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
class Operation;
}
namespace ingot {
class Checkpoint;
}

namespace mlir::ingot {

// One entry of Plan.kernels (an image of the plan's CUDA module, or its
// source): see docs/plan-format.md.
struct PlanKernelImage {
  std::string name;            // "ingot"
  std::string arch;            // "sm_90a", "compute_90", "" (source)
  std::string format;          // "cubin" | "ptx" | "cuda-source"
  std::vector<uint8_t> data;
};

struct PlanEmitOptions {
  std::string outputPath;
  std::string checkpointDir;   // config.json, tokenizer.json, safetensors
  std::string target = "cpu";  // the --target list as given ("cpu,sm_90a")
  std::vector<std::string> targets; // Plan.targets (empty: {target})
  // ModelConfig.compute_dtype: "f32", "bf16" or "f16". Non-f32: float
  // activations (not the logits), the KV cache and the memory plan use its
  // bytes, and every weight gets a Cast transform to it.
  std::string computeDtype = "f32";
  // GPU targets: each step's Step.cuda_functions (keyed by its ingot.step op)
  // and the Plan.kernels entries. Not owned.
  const std::map<mlir::Operation *, std::vector<std::string>> *stepFunctions = nullptr;
  std::vector<PlanKernelImage> kernels;
  std::string producer;
  bool embedWeights = true;
  int64_t blockSize = 16;      // KV cache tokens per block
  // Where weights come from when set (e.g. the ONNX importer's in-memory
  // initializers, Checkpoint::fromMemory); overrides `checkpointDir` for
  // weights. Not owned; must outlive emitPlan.
  const ::ingot::Checkpoint *checkpoint = nullptr;
};

struct PlanMemoryReport {
  uint64_t weightBytes = 0;
  uint64_t arenaBytes = 0;
  uint64_t kvBytesPerToken = 0;
  int64_t maxTokens = 0, maxSeqs = 0;
  int64_t numSteps = 0, numWeights = 0;
  uint64_t planBytes = 0;
};

// Writes the plan. On failure returns false and sets `error` (the message
// names the weight, step or file).
bool emitPlan(ModuleOp module, const PlanEmitOptions &opts,
              PlanMemoryReport &report, std::string &error);

// Human-readable report; `memoryBytes` > 0 adds how many KV tokens fit.
std::string formatMemoryReport(const PlanMemoryReport &r, uint64_t memoryBytes);

} // namespace mlir::ingot

#endif
