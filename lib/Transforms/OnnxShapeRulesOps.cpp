//===- OnnxShapeRulesOps.cpp - per-op rules: the rest ---------------------===//
//
// The rules of ShapeEngine::infer (see OnnxShapeRules.cpp for the contract)
// for linear algebra (MatMul, Gemm), LayerNormalization, reductions,
// ArgMax/ArgMin, Expand, Tile, generators (ConstantOfShape, Range), Split,
// Pad, TopK, NonZero, GatherElements and GatherND.
//
//===----------------------------------------------------------------------===//
#include "OnnxShapeRule.h"

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::onnx;
using namespace mlir::ingot::onnx::detail;

LogicalResult Rule::gatherND() {
  std::optional<SymVec> x = dims(0), idx = dims(1);
  if (!x || !idx || idx->empty())
    return success();
  std::optional<int64_t> k = idx->back().getConstant();
  int64_t batch = attrInt("batch_dims", 0);
  if (!k)
    return success();
  if (batch < 0 || batch + *k > int64_t(x->size()))
    return fail("indices of depth " + std::to_string(*k) + " with batch_dims " +
                std::to_string(batch) + " do not fit data of rank " +
                std::to_string(x->size()));
  SymVec r(idx->begin(), idx->end() - 1);
  r.append(x->begin() + batch + *k, x->end());
  set(0, r, elem(0));
  return success();
}

LogicalResult Rule::matMul() {
  std::optional<SymVec> a = dims(0), c = dims(1);
  if (!a || !c)
    return success();
  if (a->empty() || c->empty())
    return fail("inputs must have rank >= 1");
  SymVec A = *a, B = *c;
  bool vecA = A.size() == 1, vecB = B.size() == 1;
  if (vecA)
    A.insert(A.begin(), SymInt::constant(1));
  if (vecB)
    B.push_back(SymInt::constant(1));
  std::optional<int64_t> ka = A.back().getConstant(),
                         kb = B[B.size() - 2].getConstant();
  if (ka && kb && *ka != *kb)
    return fail("inner dimensions differ: " + dimsStr(*a) + " x " + dimsStr(*c));
  FailureOr<SymVec> batch =
      broadcast({SymVec(A.begin(), A.end() - 2), SymVec(B.begin(), B.end() - 2)});
  if (failed(batch))
    return failure();
  SymVec r = *batch;
  if (!vecA)
    r.push_back(A[A.size() - 2]);
  if (!vecB)
    r.push_back(B.back());
  set(0, r, elem(0));
  return success();
}

LogicalResult Rule::gemm() {
  std::optional<SymVec> a = dims(0), c = dims(1);
  if (!a || !c)
    return success();
  if (a->size() != 2 || c->size() != 2)
    return fail("A and B must be 2-D");
  bool ta = attrInt("transA", 0), tb = attrInt("transB", 0);
  SymInt m = (*a)[ta ? 1 : 0], ka = (*a)[ta ? 0 : 1];
  SymInt kb = (*c)[tb ? 1 : 0], n = (*c)[tb ? 0 : 1];
  std::optional<int64_t> kac = ka.getConstant(), kbc = kb.getConstant();
  if (kac && kbc && *kac != *kbc)
    return fail("inner dimensions differ: " + dimsStr(*a) + " x " + dimsStr(*c));
  set(0, SymVec{m, n}, elem(0));
  return success();
}

LogicalResult Rule::layerNorm() {
  std::optional<SymVec> x = dims(0);
  set(0, x, elem(0));
  if (!x)
    return success();
  int64_t rank = int64_t(x->size()), axis = attrInt("axis", -1);
  if (!normAxis(axis, rank))
    return fail("axis " + std::to_string(attrInt("axis", -1)) +
                " is out of range for rank " + std::to_string(rank));
  SymVec stat(x->begin(), x->begin() + axis);
  stat.append(size_t(rank - axis), SymInt::constant(1));
  Type se = onnxElementType(E.getContext(), attrInt("stash_type", 1));
  set(1, stat, se);
  set(2, stat, se);
  return success();
}

LogicalResult Rule::reduceOp() {
  bool present;
  auto axes = param(1, "axes", present);
  return reduce(axes, present, elem(0));
}

LogicalResult Rule::argMinMax() {
  llvm::SmallVector<int64_t> axes{attrInt("axis", 0)};
  return reduce(axes, true, b.getI64Type());
}

LogicalResult Rule::expand() {
  std::optional<SymVec> x = dims(0), s = elems(1);
  if (!x || !s)
    return success();
  FailureOr<SymVec> r = broadcast({*x, *s});
  if (failed(r))
    return failure();
  set(0, *r, elem(0));
  return success();
}

LogicalResult Rule::tile() {
  std::optional<SymVec> x = dims(0), rep = elems(1);
  if (!x || !rep)
    return success();
  if (rep->size() != x->size())
    return fail("repeats has " + std::to_string(rep->size()) +
                " elements for rank " + std::to_string(x->size()));
  SymVec r;
  for (size_t i = 0; i < x->size(); ++i) {
    std::optional<SymInt> m = SymInt::mul((*x)[i], (*rep)[i]);
    r.push_back(m ? *m : E.fresh());
  }
  set(0, r, elem(0));
  return success();
}

LogicalResult Rule::constantOfShape() {
  Type e = b.getF32Type();
  if (auto v = dyn_cast_if_present<DenseElementsAttr>(attr("value")))
    e = v.getType().getElementType();
  std::optional<SymVec> s = elems(0);
  if (!s)
    return success();
  set(0, *s, e);
  if (auto v = dyn_cast_if_present<DenseElementsAttr>(attr("value"));
      v && s->size() <= 1 && isTrackedInteger(e))
    if (auto n = product(*s); n && n->getConstant() &&
                              *n->getConstant() <= kMaxTrackedElems)
      if (auto c = constantInts(v); c && c->size() == 1)
        setElems(0, SymVec(size_t(*n->getConstant()), SymInt::constant((*c)[0])));
  return success();
}

LogicalResult Rule::range() {
  std::optional<SymVec> st = elems(0), li = elems(1), de = elems(2);
  Type e = elem(0);
  if (!st || !li || !de || st->size() != 1 || li->size() != 1 ||
      de->size() != 1) {
    set(0, SymVec{E.fresh()}, e);
    return success();
  }
  const SymInt &s = (*st)[0], &l = (*li)[0], &d = (*de)[0];
  std::optional<int64_t> sc = s.getConstant(), lc = l.getConstant(),
                         dc = d.getConstant();
  if (sc && lc && dc) {
    if (*dc == 0)
      return fail("delta is 0");
    int64_t span;
    if (__builtin_sub_overflow(*lc, *sc, &span) || *dc == INT64_MIN) {
      set(0, SymVec{E.fresh()}, e);
      return success();
    }
    int64_t n = span / *dc + ((span % *dc) != 0 && ((span < 0) == (*dc < 0)));
    n = std::max<int64_t>(n, 0);
    set(0, SymVec{SymInt::constant(n)}, e);
    if (n <= kMaxTrackedElems) {
      SymVec v;
      for (int64_t i = 0; i < n; ++i)
        v.push_back(SymInt::constant(*sc + i * *dc));
      setElems(0, v);
    }
    return success();
  }
  if (dc && *dc == 1)
    if (std::optional<SymInt> n = SymInt::sub(l, s)) {
      set(0, SymVec{*n}, e);
      return success();
    }
  set(0, SymVec{E.fresh()}, e);
  return success();
}

LogicalResult Rule::split() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size()), axis = attrInt("axis", 0);
  if (!normAxis(axis, rank))
    return fail("axis " + std::to_string(attrInt("axis", 0)) +
                " is out of range for rank " + std::to_string(rank));
  bool present;
  auto split = param(1, "split", present);
  for (unsigned r = 0; r < nres; ++r) {
    SymVec d = *x;
    if (split && split->size() == nres)
      d[size_t(axis)] = SymInt::constant((*split)[r]);
    else if (!present && (*x)[size_t(axis)].getConstant() &&
             *(*x)[size_t(axis)].getConstant() % nres == 0)
      d[size_t(axis)] =
          SymInt::constant(*(*x)[size_t(axis)].getConstant() / nres);
    else if (!present) {
      auto q = SymInt::div((*x)[size_t(axis)], SymInt::constant(nres));
      std::optional<int64_t> c = (*x)[size_t(axis)].getConstant();
      d[size_t(axis)] = q && !c ? *q : E.fresh();
    } else
      d[size_t(axis)] = E.fresh();
    set(r, d, elem(0));
  }
  return success();
}

LogicalResult Rule::pad() {
  std::optional<SymVec> x = dims(0);
  bool present;
  auto pads = param(1, "pads", present);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size());
  std::optional<llvm::SmallVector<int64_t>> axes;
  if (in(3)) {
    axes = ints(3);
    if (!axes) {
      set(0, freshDims(rank), elem(0));
      return success();
    }
  } else {
    axes.emplace();
    for (int64_t i = 0; i < rank; ++i)
      axes->push_back(i);
  }
  if (!pads) {
    set(0, freshDims(rank), elem(0));
    return success();
  }
  if (pads->size() != 2 * axes->size())
    return fail("pads has " + std::to_string(pads->size()) + " elements for " +
                std::to_string(axes->size()) + " axes");
  SymVec r = *x;
  for (size_t k = 0; k < axes->size(); ++k) {
    int64_t a = (*axes)[k];
    if (!normAxis(a, rank))
      return fail("axis " + std::to_string(a) + " is out of range");
    auto n = SymInt::add(r[size_t(a)],
                         SymInt::constant((*pads)[k] + (*pads)[k + axes->size()]));
    r[size_t(a)] = n ? *n : E.fresh();
  }
  set(0, r, elem(0));
  return success();
}

LogicalResult Rule::topK() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size()), axis = attrInt("axis", -1);
  if (!normAxis(axis, rank))
    return fail("axis " + std::to_string(attrInt("axis", -1)) +
                " is out of range for rank " + std::to_string(rank));
  SymVec r = *x;
  std::optional<SymVec> k = elems(1);
  if (k && k->size() == 1)
    r[size_t(axis)] = (*k)[0];
  else if (!in(1) && attr("k"))
    r[size_t(axis)] = SymInt::constant(attrInt("k", 0));
  else
    r[size_t(axis)] = E.fresh();
  set(0, r, elem(0));
  set(1, r, b.getI64Type());
  return success();
}

LogicalResult Rule::nonZero() {
  std::optional<SymVec> x = dims(0);
  if (x)
    set(0, SymVec{SymInt::constant(int64_t(x->size())), E.fresh()},
        b.getI64Type());
  return success();
}
