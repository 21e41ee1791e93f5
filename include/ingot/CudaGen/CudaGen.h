//===- CudaGen.h - CUDA C++ for fused plan steps ------------------*- C++ -*-===//
//
// Code generation for the CUDA backend: each fused elementwise region, once
// lowered to an `ingot.step "Elementwise"` program, becomes one CUDA C++
// kernel pair in the portable subset (docs/cuda.md) that NVRTC compiles and
// runtime/cuda/emu runs on the CPU. No CUDA headers or libraries are needed
// to generate it. The other fused regions (add + norm, silu * mul) are fixed
// step kinds with hand-written kernels (runtime/cuda/kernels).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_CUDAGEN_CUDAGEN_H
#define INGOT_CUDAGEN_CUDAGEN_H

#include "llvm/ADT/StringRef.h"

#include <memory>
#include <string>

namespace mlir {
class Pass;
}

namespace mlir::ingot {
class StepOp;

// The CUDA C++ of an Elementwise step with activations stored as `dtype`
// ("f32" | "bf16" | "f16"; math is fp32 with the CPU kernels' formulas).
// The source `#include`s "common.cuh" and "elementwise_abi.h"
// (runtime/cuda/kernels; handed to NVRTC as in-memory headers) and defines
// two entry points following the one-struct ABI (docs/dev/cuda-abi.md),
// each followed by INGOT_REGISTER_KERNEL(<entry>):
//   `<name>(IngotEwParams p)`: grid-stride, one element per thread;
//   `<name>_v(IngotEwParams p)`: ingot_vec<T>::n elements (16 bytes) per
//     thread through ingot_ld16/ingot_st16; requires p.width % n == 0 and
//     every p.in / p.out 16-byte aligned (the executor checks and otherwise
//     launches `<name>`).
// p.in[k] is the step's input k, p.out[k] its output k (all of storage type
// dtype); p.rows * p.width elements. An input whose type is rank 1 while
// the output's rank is >= 2 is a row broadcast over the rows (read at the
// column); rank 0 or all-ones static shapes are scalars; others must match
// the output. Launch with ingot_elementwise_launch(p, 1) / (p, n).
// False with `error` naming the problem for programs it cannot express:
// malformed programs, non-float tensors, more inputs or outputs than
// IngotEwParams holds (INGOT_EW_MAX_INPUTS / INGOT_EW_MAX_OUTPUTS), an
// unknown dtype.
bool emitElementwiseCuda(StepOp step, llvm::StringRef name, llvm::StringRef dtype,
                         std::string &source, std::string &error);

// A stable kernel name for a step's program and storage dtype:
// ingot_ew_<hash of program, immediates, input kinds>_<dtype>, so identical
// regions share one kernel per dtype. `dtype` is not checked here
// (emitElementwiseCuda refuses unknown ones).
std::string elementwiseKernelName(StepOp step, llvm::StringRef dtype);

// `ingot-print-cuda[=dtype=f32|bf16|f16 sequential-names]`: prints the CUDA
// C++ of every Elementwise step of each function (identical programs once)
// to stdout. For lit tests and debugging.
std::unique_ptr<Pass> createPrintCudaPass();
void registerCudaGenPasses();

} // namespace mlir::ingot

#endif
