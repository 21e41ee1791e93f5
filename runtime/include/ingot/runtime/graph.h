// Running a graph plan (PlanKind.Graph): one call from the plan's
// graph_inputs to its graph_outputs through Node steps (and any other step
// kinds whose shapes are static), no KV cache. This is the CPU backend's
// general path for ONNX graphs that are not decoders (docs/onnx.md).
//
// Activations are allocated as the call runs and freed after their last use
// (the plan's step order gives the liveness); weights are bound once at
// creation (embedded, or external through the weight transforms).
#pragma once
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/weights.h"

#include <memory>
#include <string>
#include <vector>

namespace ingot {

class PlanFile;

struct GraphIO {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;            // -3 where dynamic
  std::vector<std::string> dimParams;    // symbolic names ("" when none)
};

struct GraphRunOptions {
  int numThreads = 0;                    // 0: OpenMP default
  std::string weightsDir;                // weights-external plans: overrides
                                         // the plan's weights_dir
};

class GraphExecutor {
public:
  // Throws ingot::Error when the plan is not a graph plan, names an op with
  // no kernel (naming the step, op type and domain), or its weights fail.
  static std::unique_ptr<GraphExecutor> create(const PlanFile &plan,
                                               const GraphRunOptions &opts = {});
  virtual ~GraphExecutor() = default;
  virtual const std::vector<GraphIO> &inputs() const = 0;
  virtual const std::vector<GraphIO> &outputs() const = 0;
  // Runs once. `inputs` in the order of inputs(); each is checked against its
  // declared dtype and static dims (errors name the input and dim). Returns
  // the outputs in the order of outputs(). Errors in a step name the step
  // (node name, op type).
  virtual std::vector<HostTensor> run(const std::vector<HostTensor> &inputs) = 0;
};

} // namespace ingot
