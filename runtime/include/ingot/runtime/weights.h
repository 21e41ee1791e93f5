// Weight transforms: how a plan weight is produced from checkpoint tensors.
// The same code runs at compile time (embedded weights) and at load time
// (weights-external plans). Twin: TransformKind in runtime/schema/plan.fbs.
#pragma once
#include "ingot/runtime/dtype.h"
#include <cstdint>
#include <string>
#include <vector>

namespace ingot {
class Checkpoint;

enum class WeightTransformKind : uint8_t {
  Transpose = 0, Concat = 1, Stack = 2, Slice = 3, Cast = 4
};

struct WeightTransformSpec {
  WeightTransformKind kind;
  int axis = 0;
  int64_t start = 0, size = 0;
  DType dtype = DType::F32;
};

struct WeightSpec {
  std::string name;
  std::vector<std::string> sources;
  std::vector<WeightTransformSpec> transforms;
};

// A dense host tensor owning its bytes.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
};

// Shape/dtype only (no data): what materializeWeight would produce.
void inferWeightShape(const Checkpoint &ckpt, const WeightSpec &spec,
                      DType &dtype, std::vector<int64_t> &shape);
// Reads the sources and applies the transforms. Errors name the weight.
HostTensor materializeWeight(const Checkpoint &ckpt, const WeightSpec &spec);

} // namespace ingot
