//===- OnnxRaise.h - raising imported ONNX graphs to ingot ops --*- C++ -*-===//
//
// `ingot-onnx-raise` (docs/onnx.md): first the pattern sets of
// RaisePatterns.cpp turn decomposed norms/activations into single nodes;
// then, when the graph has a decoder's interface (input_ids, position_ids,
// past_key_values.<i>.key/value inputs; logits and present.<i>.* outputs),
// DecoderRaise.cpp rewrites it into func @forward over the paged KV cache
// (tokens, positions, !ingot.batch) with ingot.embedding/linear/rms_norm/
// rope/attention/... and drops the past/present tensors. Raising a decoder
// is all or nothing: if any node that mixes tokens or feeds the result is not
// understood, the graph stays as it is (func @main, the general path) and a
// remark names the node and why.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_ONNXRAISE_ONNXRAISE_H
#define INGOT_ONNXRAISE_ONNXRAISE_H

#include <memory>
#include <string>

namespace ingot {
class Checkpoint;
}

namespace mlir {
class Pass;
class RewritePatternSet;
class ModuleOp;
} // namespace mlir

namespace mlir::ingot {

void populateOnnxRaisePatterns(RewritePatternSet &patterns);

struct OnnxRaiseOptions {
  // Weight data for numeric checks (may be null: lit tests use constants).
  const ::ingot::Checkpoint *weights = nullptr;
  // Only the pattern sets; never convert to a decoder.
  bool patternsOnly = false;
};

// Result of the decoder conversion, for ingotc's messages.
struct DecoderRaiseResult {
  bool raised = false;
  std::string why;      // when not raised: the first reason
  int layers = 0;
};

// Converts @main of `module` into a decoder @forward when it is one.
DecoderRaiseResult raiseDecoder(ModuleOp module, const OnnxRaiseOptions &opts);

std::unique_ptr<Pass> createOnnxRaisePass(const OnnxRaiseOptions &opts = {});
void registerOnnxRaisePass();

} // namespace mlir::ingot

#endif
