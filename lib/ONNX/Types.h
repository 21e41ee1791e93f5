//===- Types.h - ONNX types and attributes -> MLIR --------------*- C++ -*-===//
//
// Private to lib/ONNX. Conversions that need both the ONNX protobuf classes
// and MLIR: value types (with their dim_param names), dense constants from
// tensor bytes, node attributes, and the element-type guess for results the
// model gives no type for. Errors are ImportError (ModelFile.h) naming the
// value, node or attribute.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_ONNX_TYPES_H
#define INGOT_LIB_ONNX_TYPES_H

#include "ModelFile.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"
#include "mlir/IR/ValueRange.h"
#include "llvm/ADT/SmallVector.h"

namespace ingot::onnximport {

mlir::Type mlirElemType(mlir::MLIRContext &ctx, ::ingot::DType dt);

// A ValueInfo's type as a tensor type: ranked when the shape is given (a
// dim_param or an unknown dim is `?`), else unranked. `dimParams`, if given,
// receives one name per dim ("" where the dim is not symbolic); it stays
// empty for unranked values. Non-tensor types are errors naming `what`.
mlir::TensorType convertValueType(mlir::MLIRContext &ctx, const onnx::TypeProto &t,
                                  const std::string &what,
                                  llvm::SmallVectorImpl<std::string> *dimParams);

// A dense elements attribute holding the tensor's bytes (splats folded).
mlir::DenseElementsAttr denseFromBytes(mlir::RankedTensorType type,
                                       const TensorBytes &tb);

// A node attribute (docs/onnx.md, "Nodes"); `label` names the node.
mlir::Attribute convertAttribute(mlir::MLIRContext &ctx, const onnx::AttributeProto &a,
                                 const std::string &name, const std::string &label,
                                 const std::string &modelDir, Storage &st);

// The element type of result `result` of a node with no declared type.
// `certain` is false where the rule is only a guess (the first input's type
// for an op not known to preserve it).
mlir::Type guessElemType(mlir::MLIRContext &ctx, llvm::StringRef opType,
                         llvm::StringRef domain,
                         llvm::ArrayRef<mlir::NamedAttribute> attrs,
                         mlir::ValueRange inputs, unsigned result, bool &certain,
                         const std::string &label);

} // namespace ingot::onnximport

#endif
