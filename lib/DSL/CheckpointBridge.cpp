//===- CheckpointBridge.cpp - no-throw wrapper over the runtime checkpoint ===//
//
// Built with exceptions enabled (plain add_library, not an LLVM target): every
// entry point catches what the runtime throws and returns its message, so the
// -fno-exceptions DSL code never sees an exception.
//
//===----------------------------------------------------------------------===//
#include "CheckpointBridge.h"

#include "ingot/runtime/error.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"

#include <algorithm>
#include <exception>

namespace ingot::dslbridge {

struct CheckpointIndex::Impl {
  std::unique_ptr<Checkpoint> ckpt;
};

CheckpointIndex::CheckpointIndex() : impl(std::make_unique<Impl>()) {}
CheckpointIndex::~CheckpointIndex() = default;

std::unique_ptr<CheckpointIndex>
CheckpointIndex::open(const std::string &dir, std::string &error) noexcept {
  try {
    std::unique_ptr<CheckpointIndex> idx(new CheckpointIndex());
    idx->impl->ckpt = Checkpoint::open(dir);
    return idx;
  } catch (const std::exception &e) {
    error = e.what();
  } catch (...) {
    error = "unknown error opening checkpoint '" + dir + "'";
  }
  return nullptr;
}

bool CheckpointIndex::has(const std::string &tensor) const noexcept {
  try {
    return impl->ckpt->find(tensor) != nullptr;
  } catch (...) {
    return false;
  }
}

std::vector<std::string> CheckpointIndex::names() const noexcept {
  try {
    std::vector<std::string> n = impl->ckpt->tensorNames();
    std::sort(n.begin(), n.end());
    return n;
  } catch (...) {
    return {};
  }
}

bool CheckpointIndex::inferShape(const std::string &weightName,
                                 const std::vector<std::string> &sources,
                                 const std::vector<TransformStep> &transforms,
                                 std::string &dtype,
                                 std::vector<int64_t> &shape,
                                 std::string &error) const noexcept {
  try {
    WeightSpec spec;
    spec.name = weightName;
    spec.sources = sources;
    for (const TransformStep &t : transforms) {
      WeightTransformSpec s;
      switch (t.kind) {
      case TransformStep::Transpose:
        s.kind = WeightTransformKind::Transpose;
        break;
      case TransformStep::Concat:
        s.kind = WeightTransformKind::Concat;
        break;
      case TransformStep::Stack:
        s.kind = WeightTransformKind::Stack;
        break;
      case TransformStep::Slice:
        s.kind = WeightTransformKind::Slice;
        break;
      case TransformStep::Cast:
        s.kind = WeightTransformKind::Cast;
        break;
      }
      s.axis = int(t.axis);
      s.start = t.start;
      s.size = t.size;
      if (t.kind == TransformStep::Cast && !parseDType(t.dtype, s.dtype)) {
        error = "unknown dtype '" + t.dtype + "'";
        return false;
      }
      spec.transforms.push_back(s);
    }
    DType dt;
    inferWeightShape(*impl->ckpt, spec, dt, shape);
    dtype = dtypeName(dt);
    return true;
  } catch (const std::exception &e) {
    error = e.what();
  } catch (...) {
    error = "unknown error inferring the shape of weight '" + weightName + "'";
  }
  return false;
}

} // namespace ingot::dslbridge
