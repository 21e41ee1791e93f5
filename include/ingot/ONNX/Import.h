//===- Import.h - ONNX ModelProto -> ingot IR -------------------*- C++ -*-===//
//
// The ONNX importer (docs/onnx.md, "Import"): reads a .onnx file (binary
// protobuf) or a .onnx.txt / .textproto / .pbtxt file (protobuf text format),
// with its external data, and builds
//
//   module attributes {ingot.source = "onnx", ingot.onnx.opsets = {...},
//                      ingot.onnx.producer = "..."} {
//     ingot.weight_decl @w : tensor<...> {sources = ["<initializer name>"]}
//     func.func @main(%x: tensor<?x4xf32> {ingot.name = "x",
//                                          ingot.dim_params = ["batch", ""]})
//         -> ... attributes {ingot.output_names = [...],
//                            ingot.output_dim_params = [[...], ...]} {
//       ingot.node / ingot.constant / ingot.weight / ingot.absent ...
//     }
//   }
//
// The bytes of the large initializers (those that became ingot.weight_decl)
// are served by an in-memory ingot::Checkpoint whose tensor names are the
// declarations' `sources`; it keeps the parsed protobuf and the mapped
// external-data files alive.
//
// Choices the IR makes that docs/onnx.md leaves open:
//  - The default domain is keyed "ai.onnx" in ingot.onnx.opsets (an opset
//    import of domain "" or "ai.onnx"; MLIR cannot parse an empty attribute
//    name back); nodes of the default domain carry no `domain` (a node's
//    "ai.onnx" is normalized to "").
//  - Result types come from the graph's outputs, then value_info. Without
//    type information a result is unranked and its element type is a best
//    guess (Cast's `to`, i64 for Shape/Size/ArgMax/..., i1 for comparisons,
//    else the first tensor input's); a node with any guessed element type
//    carries the unit attribute `ingot.onnx.guessed_types`, which later
//    passes (ingot-onnx-fold's type refinement) may drop once types are
//    known.
//  - Initializers and ONNX `Constant`s are materialized once, right before
//    their first use (or before the return when only a graph output).
//  - Model-local functions (ModelProto.functions) are inlined at their call
//    sites; node names inside become "<call node>/<inner node>".
//
// This header stays free of protobuf/ONNX headers and exceptions: the
// implementation (lib/ONNX) is an exception-enabled plain library that never
// lets one escape.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_ONNX_IMPORT_H
#define INGOT_ONNX_IMPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ingot {
class Checkpoint;
}

namespace mlir {
class MLIRContext;
}

namespace mlir::ingot {

struct OnnxImportOptions {
  // Float initializers / Constants with more elements than this become
  // ingot.weight_decl + ingot.weight; integer and bool tensors and smaller
  // float ones become ingot.constant.
  int64_t inlineLimit = 1024;
};

struct OnnxImportResult {
  OnnxImportResult();
  ~OnnxImportResult();
  OnnxImportResult(OnnxImportResult &&);
  OnnxImportResult &operator=(OnnxImportResult &&);

  mlir::OwningOpRef<mlir::ModuleOp> module;
  // Holds one tensor per ingot.weight_decl source (never null on success).
  std::unique_ptr<::ingot::Checkpoint> weights;
  // E.g. an opset below 13; the caller prints them.
  std::vector<std::string> warnings;
};

// True extensions for protobuf text format: .onnx.txt, .textproto, .pbtxt.
bool isOnnxTextPath(llvm::StringRef path);
// .onnx or one of the text extensions.
bool isOnnxPath(llvm::StringRef path);

// Imports `path`. On failure returns false, leaves `out` empty and sets
// `error` to a message naming the file and the node / tensor / input at
// fault. The context must have the ingot and func dialects registered.
bool importOnnx(mlir::MLIRContext &ctx, llvm::StringRef path,
                const OnnxImportOptions &opts, OnnxImportResult &out,
                std::string &error);

} // namespace mlir::ingot

#endif
