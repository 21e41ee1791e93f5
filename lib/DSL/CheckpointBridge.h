//===- CheckpointBridge.h - no-throw checkpoint access for the DSL -*- C++
//-*-===//
//
// The DSL front end is compiled with -fno-exceptions (LLVM style) but the
// runtime's checkpoint reader and weight-shape inference throw ingot::Error.
// This header is the seam: plain C++ types only (no runtime, MLIR or LLVM
// headers), and every call catches inside CheckpointBridge.cpp, which is built
// in a plain CMake target with exceptions on. Failures come back as a message.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_CHECKPOINTBRIDGE_H
#define INGOT_LIB_DSL_CHECKPOINTBRIDGE_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ingot::dslbridge {

// One weight transform. Twin of ingot::WeightTransformSpec (runtime weights.h)
// and of the strings of ingot.weight_decl's `transforms` attribute.
struct TransformStep {
  enum Kind { Transpose, Concat, Stack, Slice, Cast } kind = Transpose;
  int64_t axis = 0, start = 0, size = 0;
  std::string dtype; // Cast: "f32", "f16" or "bf16"
};

// A checkpoint directory (config.json + safetensors, possibly sharded).
class CheckpointIndex {
public:
  // Returns null and sets `error` when the checkpoint cannot be opened.
  static std::unique_ptr<CheckpointIndex> open(const std::string &dir,
                                               std::string &error) noexcept;
  ~CheckpointIndex();

  bool has(const std::string &tensor) const noexcept;
  // Every tensor name, sorted.
  std::vector<std::string> names() const noexcept;
  // The dtype ("f32", "bf16", ...) and shape the recipe produces, as the
  // runtime will materialise it; false with `error` set when a source is
  // missing or a transform does not fit.
  bool inferShape(const std::string &weightName,
                  const std::vector<std::string> &sources,
                  const std::vector<TransformStep> &transforms,
                  std::string &dtype, std::vector<int64_t> &shape,
                  std::string &error) const noexcept;

private:
  CheckpointIndex();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace ingot::dslbridge

#endif
