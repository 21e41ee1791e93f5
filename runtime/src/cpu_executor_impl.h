// Internals of the CPU executor shared by cpu_executor.cpp (binding, batch
// validation, dispatch) and cpu_executor_prepare.cpp (per-step validation and
// attribute parsing at load time). Everything a step needs that does not
// depend on the batch is checked and parsed once, in prepareStep, so running
// a step does no string look-ups and only batch-dependent checks remain.
#pragma once
#include "cpu_kernels.h"
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/kv_cache.h"
#include "ingot/schema/plan_generated.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ingot {
namespace cpuexec {

namespace fb = ::ingot::plan;

// One plan tensor as the executor sees it. Activations and weights are fp32
// on the CPU whatever their plan dtype; inputs are int32.
struct TensorSlot {
  std::string name;
  fb::TensorKind kind = fb::TensorKind::Activation;
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // may hold kDimTokens / kDimSeqs
  float *f = nullptr;         // Activation / Weight storage
  int32_t *i = nullptr;       // Input storage
};

inline int64_t resolveDim(int64_t d, int64_t T, int64_t S) {
  return d == -1 ? T : d == -2 ? S : d;
}
inline int64_t numelOf(const TensorSlot &t, int64_t T, int64_t S) {
  int64_t n = 1;
  for (int64_t d : t.shape)
    n *= resolveDim(d, T, S);
  return n;
}
inline int64_t lastDim(const TensorSlot &t) {
  return t.shape.empty() ? 1 : t.shape.back();
}

struct PreparedStep {
  size_t index = 0;
  fb::OpKind op = fb::OpKind::Embedding;
  std::string label; // "step 3 (Rope \"layers.0.rope_q\")" for messages
  std::vector<int> in, out;
  float eps = 0.0f;
  int64_t groupSize = 0; // RmsNorm: normalise groups of this many (0: row)
  cpu::Activation act = cpu::Activation::None;
  cpu::RopeParams rope;
  std::vector<float> invFreq;
  cpu::AttentionParams attn;
  int topK = 0;
  bool normalize = false;
  std::vector<cpu::EwInstr> prog;
  int numRegs = 0;
  std::vector<uint8_t> progOut;
  std::vector<cpu::EwInput::Kind> ewKinds;
};

std::string stepLabel(const fb::Step &s, size_t index);

// A Rope step's attributes (head_dim, rotary_dim, theta, style, scaling and
// its parameters), checked as the CPU executor checks them, and the fp32
// inverse-frequency table [rotary_dim/2] the CPU rope uses: the "table"
// scaling's stored values, else cpu::ropeInvFreq. The CUDA executor uploads
// this table for ingot_rope_* (runtime/cuda/kernels/rope_abi.h), so both
// backends rotate by the same angles. Throws ingot::Error naming `label`.
struct RopeStepAttrs {
  cpu::RopeParams params;
  std::vector<float> invFreq;
};
RopeStepAttrs ropeStepAttrs(const fb::Step &step, const std::string &label);

// Validates step `index` (tensor ids, arity, dtypes, static shapes, attrs) and
// parses its attributes. Throws ingot::Error naming the step.
PreparedStep prepareStep(const fb::Plan &plan, size_t index,
                         const std::vector<TensorSlot> &tensors,
                         const std::vector<KvLayerShape> &kvLayers);

// What validateBatch checks a batch against.
struct BatchLimits {
  int64_t maxTokens = 0, maxSeqs = 0, vocab = 0, maxPosition = 0;
  bool hasAttention = false;
  int64_t blockSize = 0, numBlocks = 0;
};
// Checks a step's batch (token ids, positions, sequence tiling, block tables
// and slot mapping) before any kernel sees it; shared by the CPU and CUDA
// executors. Throws ingot::Error naming the sequence and value.
void validateBatch(const std::vector<int32_t> &tokens, const std::vector<int32_t> &positions,
                   const BatchMeta &batch, const BatchLimits &lim);

// A FlatBuffers shape as a vector (empty when absent).
inline std::vector<int64_t> toShape(const flatbuffers::Vector<int64_t> *v) {
  std::vector<int64_t> s;
  if (v)
    for (int64_t d : *v)
      s.push_back(d);
  return s;
}

// Fills name, kind, dtype and shape of slots[i] from the plan's tensor list
// (both executors' TensorSlot types have those fields) and checks what any
// executor requires: ids match positions, dims are static or T/S.
template <class Slot> void readTensorDescs(const fb::Plan &plan, std::vector<Slot> &slots) {
  const auto &ts = *plan.tensors();
  slots.resize(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const fb::TensorDesc *d = ts.Get(flatbuffers::uoffset_t(i));
    Slot &t = slots[i];
    t.name = d->name() ? d->name()->str() : "#" + std::to_string(i);
    t.kind = d->kind();
    t.dtype = DType(d->dtype());
    t.shape = toShape(d->shape());
    INGOT_CHECK(d->id() == int32_t(i) || d->id() == 0,
                "tensor \"" + t.name + "\" at index " + std::to_string(i) + " has id " +
                    std::to_string(d->id()));
    for (int64_t dim : t.shape)
      INGOT_CHECK(dim >= -2, "tensor \"" + t.name + "\" has invalid dim " + std::to_string(dim));
  }
}

} // namespace cpuexec
} // namespace ingot
