//===- KernelSelect.h - CUDA entry points of decoder plan steps -*- C++ -*-===//
//
// Which CUDA entry points (docs/dev/cuda-abi.md) each decoder-plan step may
// launch, and how each one is instantiated in the plan's generated module.
// Used by ingotc only (lib/Target/CUDA/CudaModule.cpp); keep it out of
// widely included headers.
//
// Invariants:
// - ONE table (kernelFamilies() in KernelSelect.cpp) maps every family to
//   its entry-point name pattern, header and INGOT_DEFINE_* macro; names,
//   headers and macros are derived from it and nowhere else.
// - An entry point's name determines its instantiation: two steps needing
//   the same name share one INGOT_DEFINE_* line.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_TARGET_CUDA_KERNELSELECT_H
#define INGOT_TARGET_CUDA_KERNELSELECT_H

#include <string>
#include <vector>

namespace mlir::ingot {
class StepOp;
}

namespace ingot::cuda {

// One row of the family table.
struct KernelFamily {
  const char *key;     // "rms_norm", "attn_prefill", ...
  // Entry-point name with placeholders {TN} (dtype suffix), {D} (head dim),
  // {G} (query heads per KV head). The macro's arguments follow from them:
  // (T, TN) when {TN} occurs, then D, then G; () when none does.
  const char *pattern;
  const char *header;  // "norm.cuh": a file of runtime/cuda/kernels
  const char *macro;   // "INGOT_DEFINE_RMS_NORM"
  bool halfOnly;       // only for bf16/f16 (tensor-core variants)
};

const std::vector<KernelFamily> &kernelFamilies();
// The row for `key`, or nullptr.
const KernelFamily *findFamily(const std::string &key);

// One entry point a plan needs.
struct KernelInstance {
  std::string name;    // "ingot_attn_prefill_bf16_d64_g4"
  const KernelFamily *family = nullptr; // nullptr: a generated kernel
  std::string dtype;   // "f32" | "bf16" | "f16"
  int d = 0, g = 0;
  // The INGOT_DEFINE_* line, e.g. "INGOT_DEFINE_ROPE(__nv_bfloat16, bf16, 64)";
  // empty for generated kernels.
  std::string defineLine() const;
};

// "f32" -> "float", "bf16" -> "__nv_bfloat16", "f16" -> "__half"; "" if unknown.
std::string storageType(const std::string &dtype);

// Instantiates a family: false with `error` when a template argument is
// missing or the family does not exist for `dtype` (e.g. mma for f32).
bool makeInstance(const std::string &key, const std::string &dtype, int d, int g,
                  KernelInstance &out, std::string &error);

// The entry points of one decoder-plan step (an `ingot.step` after
// ingot-lower-to-plan), in the order the executor tries them. Elementwise
// steps get one generated instance (family nullptr, name from lib/CudaGen).
// False with `error` naming the step for kinds or attributes that have no
// CUDA kernel (e.g. Node steps of graph plans).
bool selectStepKernels(mlir::ingot::StepOp step, const std::string &dtype,
                       std::vector<KernelInstance> &out, std::string &error);

// THE call site of lib/CudaGen for Elementwise steps: the kernel names
// (`names`: the scalar kernel first, then the 16-byte one) and, when
// `source` is non-null, their CUDA C++. False with `error` for programs
// CudaGen cannot express.
bool elementwiseKernels(mlir::ingot::StepOp step, const std::string &dtype,
                        std::vector<std::string> &names, std::string *source,
                        std::string &error);

// Entry points every decoder module holds whatever its steps (sampling).
std::vector<KernelInstance> planLevelKernels(const std::string &dtype);

} // namespace ingot::cuda

#endif
