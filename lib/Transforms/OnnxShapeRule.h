//===- OnnxShapeRule.h - the per-op rules of ShapeEngine -------*- C++ -*-===//
//
// Internal to ShapeEngine::infer (OnnxShapes.h): `Rule` holds one node and
// the helpers the per-op rules share; the rules themselves are split over
// OnnxShapeRules.cpp (elementwise ops and shape arithmetic) and
// OnnxShapeRulesOps.cpp (linear algebra, normalisation, reductions,
// generators, ...).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_TRANSFORMS_ONNXSHAPERULE_H
#define INGOT_TRANSFORMS_ONNXSHAPERULE_H

#include "OnnxShapes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>

namespace mlir::ingot::onnx::detail {

// A Slice start/end at least this large (or at most its negation) means
// "to the end" for a symbolic dim: exporters write INT32_MAX or INT64_MAX,
// and no dim is assumed to exceed INT32_MAX.
constexpr int64_t kSliceHuge = (int64_t(1) << 31) - 1;

inline std::string dimsStr(const SymVec &d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i)
      s += ", ";
    std::optional<int64_t> c = d[i].getConstant();
    s += c ? std::to_string(*c) : "?";
  }
  return s + "]";
}

inline std::optional<SymInt> product(llvm::ArrayRef<SymInt> dims) {
  SymInt p = SymInt::constant(1);
  for (const SymInt &d : dims) {
    std::optional<SymInt> n = SymInt::mul(p, d);
    if (!n)
      return std::nullopt;
    p = *n;
  }
  return p;
}

inline bool normAxis(int64_t &a, int64_t rank) {
  if (a < -rank || a >= rank)
    return false;
  if (a < 0)
    a += rank;
  return true;
}

struct Rule {
  ShapeEngine &E;
  NodeOp op;
  NodeFacts &out;
  Builder b{E.getContext()};
  StringRef t = op.getOpType();
  unsigned nres = op->getNumResults();

  // --- operands -------------------------------------------------------------
  Value in(unsigned i) {
    if (i >= op->getNumOperands())
      return {};
    Value v = op->getOperand(i);
    return isa<NoneType>(v.getType()) ? Value() : v;
  }
  std::optional<SymVec> dims(unsigned i) {
    Value v = in(i);
    return v ? E.facts(v).dims : std::nullopt;
  }
  std::optional<SymVec> elems(unsigned i) {
    Value v = in(i);
    return v ? E.facts(v).elems : std::nullopt;
  }
  // The contents of input i when every element is a known constant.
  std::optional<llvm::SmallVector<int64_t>> ints(unsigned i) {
    std::optional<SymVec> e = elems(i);
    if (!e)
      return std::nullopt;
    llvm::SmallVector<int64_t> r;
    for (const SymInt &x : *e) {
      std::optional<int64_t> c = x.getConstant();
      if (!c)
        return std::nullopt;
      r.push_back(*c);
    }
    return r;
  }
  Type elem(unsigned i) {
    Value v = in(i);
    return v ? getElementTypeOrSelf(v.getType()) : Type();
  }

  // --- attributes -----------------------------------------------------------
  Attribute attr(StringRef n) {
    DictionaryAttr d = op.getAttrs();
    return d ? d.get(n) : Attribute();
  }
  int64_t attrInt(StringRef n, int64_t def) {
    auto a = dyn_cast_if_present<IntegerAttr>(attr(n));
    return a ? a.getValue().getSExtValue() : def;
  }
  std::optional<llvm::SmallVector<int64_t>> attrInts(StringRef n) {
    if (auto a = dyn_cast_if_present<DenseI64ArrayAttr>(attr(n)))
      return llvm::SmallVector<int64_t>(a.asArrayRef());
    return std::nullopt;
  }
  // A list parameter given as input `idx` (newer opsets) or attribute `name`
  // (older ones). `present` says whether either was given; the result is
  // empty when given but not constant.
  std::optional<llvm::SmallVector<int64_t>> param(unsigned idx, StringRef name,
                                                  bool &present) {
    if (in(idx)) {
      present = true;
      return ints(idx);
    }
    if (auto a = attrInts(name)) {
      present = true;
      return a;
    }
    present = false;
    return std::nullopt;
  }

  // --- results --------------------------------------------------------------
  void set(unsigned r, std::optional<SymVec> d, Type e = {}) {
    if (r >= out.dims.size())
      return;
    out.dims[r] = std::move(d);
    if (e)
      out.elementTypes[r] = e;
  }
  void setElems(unsigned r, std::optional<SymVec> e) {
    if (r < out.elems.size())
      out.elems[r] = std::move(e);
  }
  SymVec freshDims(int64_t rank) {
    SymVec d;
    for (int64_t i = 0; i < rank; ++i)
      d.push_back(E.fresh());
    return d;
  }
  LogicalResult fail(const llvm::Twine &msg) {
    emitError(op.getLoc()) << ShapeEngine::describe(op) << msg;
    return failure();
  }

  // --- shared rules ---------------------------------------------------------
  // Multidirectional broadcast. Equal symbolic dims stay symbolic; a
  // constant other than 1 wins over a symbol (which must be 1 or equal);
  // two different symbols give a fresh one.
  FailureOr<SymVec> broadcast(llvm::ArrayRef<SymVec> shapes) {
    size_t rank = 0;
    for (const SymVec &s : shapes)
      rank = std::max(rank, s.size());
    SymVec res(rank);
    for (size_t p = 0; p < rank; ++p) {
      std::optional<SymInt> cur;
      bool ambiguous = false;
      for (const SymVec &s : shapes) {
        if (p < rank - s.size())
          continue;
        const SymInt &d = s[p - (rank - s.size())];
        if (d.isConstant(1))
          continue;
        if (!cur) {
          cur = d;
          continue;
        }
        if (*cur == d)
          continue;
        std::optional<int64_t> cc = cur->getConstant(), dc = d.getConstant();
        if (cc && dc) {
          std::string all;
          for (const SymVec &x : shapes)
            all += (all.empty() ? "" : " and ") + dimsStr(x);
          return fail("shapes " + all + " do not broadcast");
        }
        if (cc)
          continue;
        if (dc) {
          cur = d;
          ambiguous = false;
          continue;
        }
        ambiguous = true;
      }
      res[p] = ambiguous ? E.fresh() : cur ? *cur : SymInt::constant(1);
    }
    return res;
  }

  LogicalResult broadcastInputs(unsigned first, unsigned n, Type e) {
    llvm::SmallVector<SymVec> shapes;
    for (unsigned i = first; i < first + n; ++i) {
      std::optional<SymVec> d = dims(i);
      if (!d)
        return success();
      shapes.push_back(*d);
    }
    FailureOr<SymVec> r = broadcast(shapes);
    if (failed(r))
      return failure();
    set(0, *r, e);
    return success();
  }

  // Elementwise contents of two small integer tensors (numpy broadcast of
  // 0-D/1-D), or nothing.
  template <class F> std::optional<SymVec> zipElems(unsigned a, unsigned b, F f) {
    std::optional<SymVec> x = elems(a), y = elems(b);
    if (!x || !y)
      return std::nullopt;
    size_t nx = x->size(), ny = y->size();
    if (nx != ny && nx != 1 && ny != 1)
      return std::nullopt;
    size_t n = std::max(nx, ny);
    SymVec r;
    for (size_t i = 0; i < n; ++i) {
      std::optional<SymInt> v = f((*x)[nx == 1 ? 0 : i], (*y)[ny == 1 ? 0 : i]);
      r.push_back(v ? *v : E.freshValue());
    }
    return r;
  }

  LogicalResult reduce(std::optional<llvm::SmallVector<int64_t>> axes,
                       bool axesPresent, Type e) {
    std::optional<SymVec> x = dims(0);
    if (!x)
      return success();
    int64_t rank = int64_t(x->size());
    bool keep = attrInt("keepdims", 1) != 0;
    if (axesPresent && !axes) { // axes not constant
      if (keep)
        set(0, freshDims(rank), e);
      return success();
    }
    llvm::SmallVector<bool> red(size_t(rank), false);
    if (!axes || axes->empty()) {
      if (attrInt("noop_with_empty_axes", 0)) {
        set(0, *x, e);
        return success();
      }
      red.assign(size_t(rank), true);
    } else {
      for (int64_t a : *axes) {
        if (!normAxis(a, rank))
          return fail("axis " + std::to_string(a) + " is out of range for rank " +
                      std::to_string(rank));
        red[size_t(a)] = true;
      }
    }
    SymVec r;
    for (int64_t i = 0; i < rank; ++i)
      if (!red[size_t(i)])
        r.push_back((*x)[size_t(i)]);
      else if (keep)
        r.push_back(SymInt::constant(1));
    set(0, r, e);
    return success();
  }

  // One Slice axis of size `d`.
  SymInt sliceDim(const SymInt &d, int64_t start, int64_t end, int64_t step) {
    if (std::optional<int64_t> c = d.getConstant()) {
      int64_t n = *c;
      if (start < 0)
        start += n;
      if (end < 0)
        end += n;
      int64_t len;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, n);
        end = std::clamp<int64_t>(end, 0, n);
        len = end > start ? (end - start + step - 1) / step : 0;
      } else {
        start = std::clamp<int64_t>(start, 0, n - 1);
        end = std::clamp<int64_t>(end, -1, n - 1);
        len = start > end ? (start - end + (-step) - 1) / (-step) : 0;
      }
      return SymInt::constant(std::max<int64_t>(len, 0));
    }
    // Symbolic size: the whole axis, forwards or backwards, or a fixed
    // offset to the end.
    if (step == 1 && start == 0 && end >= kSliceHuge)
      return d;
    if (step == -1 && (start == -1 || start >= kSliceHuge) && end <= -kSliceHuge)
      return d;
    if (step == 1 && start > 0 && end >= kSliceHuge)
      if (auto r = SymInt::sub(d, SymInt::constant(start)))
        return *r;
    return E.fresh();
  }

  LogicalResult run();

  // One rule per op (or family). OnnxShapeRules.cpp: elementwise ops and
  // shape arithmetic; OnnxShapeRulesOps.cpp: the others.
  LogicalResult sameShape();
  LogicalResult isNanInf();
  LogicalResult dropout();
  LogicalResult broadcastOp();
  LogicalResult where();
  LogicalResult castOp();
  LogicalResult shape();
  LogicalResult size();
  LogicalResult reshape();
  LogicalResult flatten();
  LogicalResult transpose();
  LogicalResult unsqueeze();
  LogicalResult squeeze();
  LogicalResult concat();
  LogicalResult slice();
  LogicalResult gather();
  LogicalResult gatherElements();
  LogicalResult gatherND();
  LogicalResult matMul();
  LogicalResult gemm();
  LogicalResult layerNorm();
  LogicalResult reduceOp();
  LogicalResult argMinMax();
  LogicalResult expand();
  LogicalResult tile();
  LogicalResult constantOfShape();
  LogicalResult range();
  LogicalResult split();
  LogicalResult pad();
  LogicalResult topK();
  LogicalResult nonZero();
};

} // namespace mlir::ingot::onnx::detail

#endif
