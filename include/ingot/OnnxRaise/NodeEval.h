//===- NodeEval.h - evaluate ingot.node values on the runtime kernels -*- C++ -*-===//
//
// Computes the value of an SSA value of an imported ONNX graph by running the
// ingot.node ops it depends on with the runtime's own N-d kernels
// (runtime/include/ingot/runtime/nd.h), so the compiler and the runtime agree
// on every op's semantics by construction. Used by raising to read what a
// subgraph computes (e.g. the cos/sin tables of RoPE as a function of the
// positions) rather than guessing from its structure.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_ONNXRAISE_NODEEVAL_H
#define INGOT_ONNXRAISE_NODEEVAL_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ingot {
class Checkpoint;
}

namespace mlir::ingot {

// A dense host tensor in the runtime's terms (dtype = ::ingot::DType value).
struct EvalTensor {
  uint8_t dtype = 0;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
  // Elements converted to double (float and integer types).
  std::vector<double> asDoubles() const;
};

struct EvalContext {
  // Values of block arguments (and of any other value to pin).
  llvm::DenseMap<Value, EvalTensor> bindings;
  // Weights referenced by ingot.weight (may be null: then weights fail).
  const ::ingot::Checkpoint *weights = nullptr;
  // Refuse to evaluate subgraphs larger than this many ops.
  int64_t maxOps = 20000;
  // Consulted for a value not bound above, before its defining op is run:
  // returns true and fills the tensor to stand in for it (raising uses it
  // for activations, whose shapes are known from their roles, so shape
  // arithmetic never computes them). Results are memoised.
  std::function<bool(Value, EvalTensor &)> resolve;
};

// Evaluates `v`. On failure returns false and sets `error` (naming the op).
bool evaluateValue(Value v, EvalContext &ctx, EvalTensor &out, std::string &error);

// The same with a memo that persists across calls (one set of bindings).
class NodeEvaluator {
public:
  explicit NodeEvaluator(EvalContext ctx);
  ~NodeEvaluator();
  bool evaluate(Value v, EvalTensor &out, std::string &error);
  EvalContext &context();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace mlir::ingot

#endif
