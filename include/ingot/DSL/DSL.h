//===- DSL.h - the Ingot model DSL front end --------------------*- C++ -*-===//
//
// A model family is written once in a .ingot file (models/*.ingot, language
// reference in docs/dsl.md) and instantiated for one checkpoint: its
// config.json fixes the hyper-parameters, its safetensors headers the weight
// shapes. The result is a module of the `ingot` dialect:
//   - one `ingot.weight_decl` per plan weight (f32; bf16/f16 checkpoint
//     tensors get a trailing "cast:f32" transform),
//   - `func.func @forward(%tokens: tensor<?xi32>, %positions: tensor<?xi32>,
//     %batch: !ingot.batch) -> tensor<*xf32>` whose compute ops have unranked
//     results (ingot-shape-inference makes them ranked) and a FileLineColLoc
//     pointing into the .ingot file,
//   - the module attribute `ingot.model`, a dictionary: model_type,
//     architecture (the DSL model name), vocab_size, hidden_size, num_layers,
//     max_position, bos_token_id (-1: none), eos_token_ids
//     (array<i64: ...>), pad_token_id (-1: none).
// Every error (syntax, unknown name, missing config key, wrong type, missing
// weight, shape mismatch found by an op verifier) is emitted through the
// context's diagnostic engine at file:line:column of the .ingot file.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_DSL_DSL_H
#define INGOT_DSL_DSL_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir {
class MLIRContext;
namespace ingot::dsl {

struct InstantiateOptions {
  // Keep the ranked result types computed while building (for inspection);
  // the default is the front-end contract: unranked results.
  bool keepRankedTypes = false;
};

// Instantiates the model file `dslPath` for the checkpoint in `checkpointDir`
// (config.json, optional generation_config.json, model.safetensors or a
// sharded index). Loads the ingot and func dialects into `ctx`.
FailureOr<OwningOpRef<ModuleOp>>
instantiateModel(MLIRContext &ctx, llvm::StringRef dslPath,
                 llvm::StringRef checkpointDir,
                 const InstantiateOptions &options = {});

// The model file in `modelsDir` whose header lists `modelType`
// (`model llama for "llama", "mistral", "qwen2"`), else `<modelType>.ingot`
// if it exists, else "". Files are scanned in name order.
std::string modelFileForType(llvm::StringRef modelsDir,
                             llvm::StringRef modelType);

} // namespace ingot::dsl
} // namespace mlir

#endif
