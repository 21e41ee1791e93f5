//===- RaiseUtil.h - matching helpers for imported ONNX graphs --*- C++ -*-===//
#ifndef INGOT_ONNXRAISE_RAISEUTIL_H
#define INGOT_ONNXRAISE_RAISEUTIL_H

#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>
#include <vector>

namespace mlir::ingot::raise {

// The ingot.node defining `v` when its op type is `op` (any op when empty).
inline NodeOp nodeOf(Value v, llvm::StringRef op = {}) {
  auto n = v ? v.getDefiningOp<NodeOp>() : NodeOp();
  if (!n || (!op.empty() && n.getOpType() != op))
    return NodeOp();
  return n;
}

// Looks through Cast nodes that do not change the element type (and Identity).
inline Value skipNoopCasts(Value v) {
  while (auto n = nodeOf(v)) {
    if (n.getOpType() == "Identity" && n.getInputs().size() == 1) {
      v = n.getInputs()[0];
      continue;
    }
    if (n.getOpType() == "Cast" && n.getInputs().size() == 1) {
      auto a = dyn_cast<ShapedType>(n.getInputs()[0].getType());
      auto b = dyn_cast<ShapedType>(n.getResult(0).getType());
      auto to = n.getAttrs().getAs<IntegerAttr>("to");
      // ONNX FLOAT = 1: a cast to f32 of an f32 value is a no-op.
      bool sameKnown = a && b && a.getElementType() == b.getElementType();
      bool f32ToF32 = a && a.getElementType().isF32() && to && to.getInt() == 1;
      if (sameKnown || f32ToF32) {
        v = n.getInputs()[0];
        continue;
      }
    }
    break;
  }
  return v;
}

// Elements of a constant (ingot.constant) as doubles.
inline std::optional<std::vector<double>> constValues(Value v) {
  auto c = v ? v.getDefiningOp<ConstantOp>() : ConstantOp();
  if (!c)
    return std::nullopt;
  auto d = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!d)
    return std::nullopt;
  std::vector<double> out;
  Type et = d.getElementType();
  if (isa<FloatType>(et)) {
    for (APFloat f : d.getValues<APFloat>())
      out.push_back(f.convertToDouble());
  } else if (auto it = dyn_cast<IntegerType>(et)) {
    for (APInt i : d.getValues<APInt>())
      out.push_back(it.isUnsigned() || it.getWidth() == 1 ? double(i.getZExtValue())
                                                          : double(i.getSExtValue()));
  } else {
    return std::nullopt;
  }
  return out;
}

// A constant whose elements are all equal (a scalar or a splat).
inline std::optional<double> constScalar(Value v) {
  auto vals = constValues(v);
  if (!vals || vals->empty())
    return std::nullopt;
  for (double x : *vals)
    if (x != (*vals)[0])
      return std::nullopt;
  return (*vals)[0];
}

inline bool isConstScalar(Value v, double want, double tol = 0) {
  auto s = constScalar(v);
  return s && std::abs(*s - want) <= tol;
}

// A weight-like operand: ingot.constant or ingot.weight.
inline bool isParam(Value v) {
  return v && (v.getDefiningOp<ConstantOp>() || v.getDefiningOp<WeightOp>());
}

// Integer list from a node attribute or a constant input (axes, perm, ...).
inline std::optional<std::vector<int64_t>> intsOf(NodeOp n, llvm::StringRef attr,
                                                  unsigned inputIdx) {
  if (auto a = n.getAttrs().getAs<DenseI64ArrayAttr>(attr))
    return std::vector<int64_t>(a.asArrayRef().begin(), a.asArrayRef().end());
  if (inputIdx < n.getInputs().size()) {
    if (auto vals = constValues(n.getInputs()[inputIdx])) {
      std::vector<int64_t> out;
      for (double d : *vals)
        out.push_back(int64_t(d));
      return out;
    }
  }
  return std::nullopt;
}

inline int64_t intAttr(NodeOp n, llvm::StringRef name, int64_t def) {
  auto a = n.getAttrs().getAs<IntegerAttr>(name);
  return a ? a.getInt() : def;
}

} // namespace mlir::ingot::raise

#endif
