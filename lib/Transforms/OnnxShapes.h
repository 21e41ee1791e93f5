//===- OnnxShapes.h - symbolic shapes of generic (ONNX) nodes ---*- C++ -*-===//
//
// What `ingot-onnx-fold` knows about each tensor value of a graph, and the
// per-op rules that derive it (OnnxShapeRules.cpp):
//
// - `dims`: the value's shape when its rank is known. Each dim is a SymInt:
//   a constant, or a polynomial over symbols. A symbol stands for one
//   unknown integer: a dynamic dim of a graph input (inputs whose dims carry
//   the same dim_param share the symbol), or a dim / element no rule could
//   express (a fresh symbol, equal only to itself).
// - `elems`: the contents of a small 0-D/1-D integer tensor (shape
//   arithmetic: Shape, Gather, Concat, ...), one SymInt per element.
//
// Invariant: a SymInt that is equal (as a polynomial) to another denotes the
// same integer at run time whenever the graph is valid, so equal symbolic
// dims can be used to rewrite a Reshape with 0 ("copy") and to refine types.
// Rules only produce expressions that are exact for valid graphs; when in
// doubt they produce a fresh symbol.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_TRANSFORMS_ONNXSHAPES_H
#define INGOT_TRANSFORMS_ONNXSHAPES_H

#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlir::ingot::onnx {

// An integer polynomial over symbol ids with int64 coefficients, kept in a
// canonical form (no zero coefficients; monomials are sorted id lists), so
// structural equality is equality of polynomials. Arithmetic returns
// std::nullopt on int64 overflow or an inexact division.
class SymInt {
public:
  SymInt() = default; // 0
  static SymInt constant(int64_t c);
  static SymInt symbol(int id);

  std::optional<int64_t> getConstant() const;
  bool isConstant(int64_t c) const { return getConstant() == c; }
  bool operator==(const SymInt &o) const { return terms == o.terms; }
  bool operator!=(const SymInt &o) const { return terms != o.terms; }

  static std::optional<SymInt> add(const SymInt &a, const SymInt &b);
  static std::optional<SymInt> sub(const SymInt &a, const SymInt &b);
  static std::optional<SymInt> mul(const SymInt &a, const SymInt &b);
  // a / b when it is exact for every value of the symbols (b is a constant
  // or one monomial dividing every term of a); for constants, ONNX integer
  // division (truncating).
  static std::optional<SymInt> div(const SymInt &a, const SymInt &b);

  std::string str() const; // for debugging output

  // Calls f(monomial, coefficient) for each term.
  template <class F> void forEachTerm(F f) const {
    for (const auto &[m, c] : terms)
      f(m, c);
  }

private:
  std::map<std::vector<int>, int64_t> terms;
};

using SymVec = llvm::SmallVector<SymInt, 4>;

// Element vectors are tracked for 0-D/1-D integer tensors up to this many
// elements.
constexpr int64_t kMaxTrackedElems = 256;

struct ValueFacts {
  std::optional<SymVec> dims;  // known rank
  std::optional<SymVec> elems; // contents (0-D: one element, dims empty)
};

// What one rule derived for a node's results. A null element type or an
// empty optional means "not derived": the declared type is kept.
struct NodeFacts {
  llvm::SmallVector<Type> elementTypes;
  llvm::SmallVector<std::optional<SymVec>> dims;
  llvm::SmallVector<std::optional<SymVec>> elems;
  explicit NodeFacts(unsigned n) : elementTypes(n), dims(n), elems(n) {}
};

class ShapeEngine {
public:
  explicit ShapeEngine(MLIRContext *ctx) : ctx(ctx) {}

  // Function arguments: dims from the type; `dimParams` (an array of
  // strings, "" for none) names dynamic dims so that equal names share a
  // symbol.
  void addArgument(BlockArgument arg, ArrayAttr dimParams);

  // The facts of `v` (from its type, or from its ingot.constant, when none
  // were recorded).
  const ValueFacts &facts(Value v);
  void setFacts(Value v, ValueFacts f);

  // Runs the rule of `op` (OnnxShapeRules.cpp). Fails after reporting at the
  // node when its operands are inconsistent (shapes that cannot broadcast,
  // a MatMul inner-dim mismatch, an axis out of range).
  LogicalResult infer(NodeOp op, NodeFacts &out);

  // Merges what `infer` derived for result `r` with its declared type:
  // declared static dims win over symbolic ones; a conflict (rank, a static
  // dim, the element type) is reported naming the node and fails. Records
  // the facts and returns the refined type.
  FailureOr<Type> refineResult(NodeOp op, unsigned r, NodeFacts &nf);

  // Facts for a value whose contents are known exactly (a new constant).
  void setConstantFacts(Value v, DenseElementsAttr value);

  // A fresh symbol for an unknown dim (known to be >= 0) or an unknown
  // tensor element (any integer).
  SymInt fresh() { return newSymbol(true); }
  SymInt freshValue() { return newSymbol(false); }
  // Whether `s` is >= 0 for every value of its symbols (a polynomial with
  // positive coefficients over dim symbols), so it differs from any negative
  // constant (Equal(shape, -1) in exported Expand/Reshape patterns).
  bool isNonNegative(const SymInt &s) const;
  // The symbol of dim `i` of `v` (created on first use).
  SymInt dimSymbol(Value v, int64_t i) { return keyed(v, i); }

  MLIRContext *getContext() const { return ctx; }

  // "node 'name' (OpType): " for error messages.
  static std::string describe(NodeOp op);

private:
  SymInt keyed(Value v, int64_t key);
  SymInt newSymbol(bool nonNegative);
  ValueFacts fromType(Value v);

  MLIRContext *ctx;
  int nextSymbol = 0;
  llvm::DenseMap<Value, ValueFacts> known;
  llvm::DenseMap<std::pair<Value, int64_t>, int> keyedSymbols;
  llvm::StringMap<int> namedSymbols;
  llvm::DenseSet<int> nonNegativeSymbols;
};

// Type helpers shared by the rules and the pass.
bool isTrackedInteger(Type elementType);
// ONNX TensorProto.DataType -> MLIR element type (null when unsupported).
Type onnxElementType(MLIRContext *ctx, int64_t dataType);
// A tensor type from symbolic dims: constants static, the rest dynamic.
RankedTensorType typeFromDims(const SymVec &dims, Type elementType);
// Integer contents of a constant (sign- or zero-extended by signedness).
std::optional<llvm::SmallVector<int64_t>> constantInts(DenseElementsAttr a);

} // namespace mlir::ingot::onnx

#endif
