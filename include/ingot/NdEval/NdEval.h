//===- NdEval.h - run the runtime's N-d kernels at compile time -*- C++ -*-===//
//
// The bridge between generic (ONNX) nodes in the IR and the runtime's N-d
// operator library (runtime/include/ingot/runtime/nd.h): element type and
// attribute mapping (shared by constant folding and the graph-plan emitter,
// so both read a node the same way) and evaluation of a node on constant
// inputs by calling the very kernel the runtime would run.
//
// Implemented in lib/NdEval/NdEval.cpp, a plain library built with
// exceptions: kernels throw ingot::Error, which is caught there and turned
// into an error string. Nothing declared here throws. The header does not
// include runtime headers, so MLIR-only code (-fno-exceptions) can use it.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_NDEVAL_NDEVAL_H
#define INGOT_NDEVAL_NDEVAL_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ingot {
enum class DType : uint8_t;
namespace nd {
class Attrs;
} // namespace nd
} // namespace ingot

namespace mlir::ingot {

// MLIR element type <-> runtime dtype: f32/f16/bf16/f64, signless or signed
// iN -> I8/I16/I32/I64, uiN -> U8..U64, i1 -> Bool. False for anything else.
bool toRuntimeDType(Type elementType, ::ingot::DType &out);
Type fromRuntimeDType(MLIRContext *ctx, ::ingot::DType dtype);

// Whether the runtime has a kernel for (domain, opType). "" and "ai.onnx"
// are the same domain.
bool hasNdKernel(llvm::StringRef domain, llvm::StringRef opType);

// A node's `attrs` dictionary as the kernels see it: i64 -> Int, f32 ->
// Float, string -> String, array<i64> -> Ints, array<f32> -> Floats, array
// of strings -> Strings, dense elements -> TensorValue (dtype, shape in
// `ints`, little-endian bytes). False with `error` naming the attribute when
// one has another kind.
bool toNdAttrs(DictionaryAttr attrs, ::ingot::nd::Attrs &out,
               std::string &error);

// The bytes of a dense constant in the runtime's layout: row-major,
// little-endian, bool one byte (0/1) per element, splats expanded.
bool denseBytes(DenseElementsAttr attr, std::vector<uint8_t> &out,
                std::string &error);

enum class EvalStatus {
  Ok,       // `results` holds one dense constant per output
  NoKernel, // the runtime has no kernel for the op: leave the node alone
  TooLarge, // an output would exceed `maxElements`: leave the node alone
  Failed,   // the kernel rejected its inputs: `error` says why
};

// Runs the kernel of (domain, opType) on `inputs` (a null attribute is an
// omitted optional input) and returns its `numOutputs` outputs as dense
// constants. No exception escapes.
EvalStatus evaluateNode(MLIRContext *ctx, llvm::StringRef opType,
                        llvm::StringRef domain, DictionaryAttr attrs,
                        llvm::ArrayRef<DenseElementsAttr> inputs,
                        unsigned numOutputs, int64_t maxElements,
                        llvm::SmallVectorImpl<DenseElementsAttr> &results,
                        std::string &error);

} // namespace mlir::ingot

#endif
