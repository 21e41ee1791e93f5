//===- CudaGen.h - CUDA C++ for fused plan steps ------------------*- C++ -*-===//
//
// Code generation for the CUDA backend (issue 5, first step): each fused
// elementwise region, once lowered to an `ingot.step "Elementwise"` program,
// becomes one CUDA C++ kernel in the portable subset (docs/cuda.md) that
// NVRTC compiles and runtime/cuda/emu runs on the CPU. No CUDA headers or
// libraries are needed to generate it.
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

// The CUDA C++ of an Elementwise step: `<name>` (grid-stride, scalar) and
// `<name>_v4` (16-byte float4 loads and stores, four elements per thread;
// for width % 4 == 0 and 16-byte aligned buffers, which the executor checks)
// with signature (const float *in0.., float *out0.., long long rows,
// long long width). Rank-1 inputs are rows broadcast over the step's rows.
// False with `error` naming the problem for programs it cannot express.
bool emitElementwiseCuda(StepOp step, llvm::StringRef name, std::string &source,
                         std::string &error);

// A stable kernel name for a step's program: ingot_ew_<hash of program,
// immediates and input ranks>, so identical regions share one kernel.
std::string elementwiseKernelName(StepOp step);

// `ingot-print-cuda`: prints the CUDA C++ of every Elementwise step of each
// function (identical programs once) to stdout. For lit tests and debugging.
std::unique_ptr<Pass> createPrintCudaPass();
void registerCudaGenPasses();

} // namespace mlir::ingot

#endif
