//===- OnnxShapeRules.cpp - per-op shape and value rules ------------------===//
//
// ShapeEngine::infer: for one generic node, the element types, symbolic dims
// and (for small integer tensors) symbolic contents of its results, from
// what is known about its operands. Semantics are ONNX's (opsets 13..23,
// older attribute forms where the op is unchanged: axes/split/pads/starts
// as attributes). A rule that cannot tell leaves the result underived and
// the declared type stands; a rule that sees an inconsistent graph reports
// at the node.
//
// Only the default domain (plus a few com.microsoft ops whose first output
// has the shape of their first input) has rules.
//
//===----------------------------------------------------------------------===//
#include "OnnxShapeRule.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::onnx;
using namespace mlir::ingot::onnx::detail;

namespace {

const llvm::StringSet<> &sameShapeOps() {
  static const llvm::StringSet<> s = {
      "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BitwiseNot",
      "Ceil", "Celu", "Clip", "Cos", "Cosh", "CumSum", "Elu", "Erf", "Exp",
      "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax", "Identity",
      "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "MeanVarianceNormalization",
      "Mish", "Neg", "Not", "PRelu", "Reciprocal", "Relu", "Round", "Selu",
      "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus",
      "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "Trilu",
      "InstanceNormalization", "BatchNormalization", "RMSNormalization"};
  return s;
}

const llvm::StringSet<> &msSameShapeOps() {
  static const llvm::StringSet<> s = {
      "FastGelu", "BiasGelu", "QuickGelu", "Gelu", "SimplifiedLayerNormalization",
      "SkipSimplifiedLayerNormalization", "SkipLayerNormalization",
      "RotaryEmbedding"};
  return s;
}

const llvm::StringSet<> &broadcastOps() {
  static const llvm::StringSet<> s = {
      "Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd",
      "BitwiseOr", "BitwiseXor", "Max", "Min", "Sum", "Mean"};
  return s;
}

const llvm::StringSet<> &compareOps() {
  static const llvm::StringSet<> s = {"Equal", "Less", "LessOrEqual", "Greater",
                                      "GreaterOrEqual", "And", "Or", "Xor"};
  return s;
}

const llvm::StringSet<> &reduceOps() {
  static const llvm::StringSet<> s = {
      "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
      "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
      "ReduceSumSquare"};
  return s;
}

} // namespace

LogicalResult Rule::run() {
  using Fn = LogicalResult (Rule::*)();
  static const llvm::StringMap<Fn> rules = [] {
    llvm::StringMap<Fn> m;
    for (const auto &e : sameShapeOps())
      m[e.getKey()] = &Rule::sameShape;
    for (const auto &e : broadcastOps())
      m[e.getKey()] = &Rule::broadcastOp;
    for (const auto &e : compareOps())
      m[e.getKey()] = &Rule::broadcastOp;
    for (const auto &e : reduceOps())
      m[e.getKey()] = &Rule::reduceOp;
    std::pair<const char *, Fn> named[] = {
        {"IsNaN", &Rule::isNanInf},          {"IsInf", &Rule::isNanInf},
        {"Dropout", &Rule::dropout},         {"Where", &Rule::where},
        {"Cast", &Rule::castOp},               {"CastLike", &Rule::castOp},
        {"Shape", &Rule::shape},             {"Size", &Rule::size},
        {"Reshape", &Rule::reshape},         {"Flatten", &Rule::flatten},
        {"Transpose", &Rule::transpose},     {"Unsqueeze", &Rule::unsqueeze},
        {"Squeeze", &Rule::squeeze},         {"Concat", &Rule::concat},
        {"Slice", &Rule::slice},             {"Gather", &Rule::gather},
        {"GatherElements", &Rule::gatherElements},
        {"GatherND", &Rule::gatherND},
        {"MatMul", &Rule::matMul},           {"Gemm", &Rule::gemm},
        {"LayerNormalization", &Rule::layerNorm},
        {"ArgMax", &Rule::argMinMax},        {"ArgMin", &Rule::argMinMax},
        {"Expand", &Rule::expand},           {"Tile", &Rule::tile},
        {"ConstantOfShape", &Rule::constantOfShape},
        {"Range", &Rule::range},             {"Split", &Rule::split},
        {"Pad", &Rule::pad},                 {"TopK", &Rule::topK},
        {"NonZero", &Rule::nonZero}};
    for (auto [n, f] : named)
      m[n] = f;
    return m;
  }();

  if (nres == 0)
    return success();
  StringRef domain = op.getDomain();
  if (domain == "com.microsoft") {
    if (msSameShapeOps().contains(t))
      set(0, dims(0), elem(0));
    return success();
  }
  if (!domain.empty() && domain != "ai.onnx")
    return success();
  auto it = rules.find(t);
  return it == rules.end() ? success() : (this->*(it->second))();
}

LogicalResult Rule::sameShape() {
  set(0, dims(0), elem(0));
  if (t == "Neg")
    if (std::optional<SymVec> e = elems(0)) {
      SymVec r;
      for (const SymInt &x : *e) {
        auto n = SymInt::sub(SymInt(), x);
        r.push_back(n ? *n : E.freshValue());
      }
      setElems(0, r);
    }
  return success();
}

LogicalResult Rule::isNanInf() {
  set(0, dims(0), b.getI1Type());
  return success();
}

LogicalResult Rule::dropout() {
  set(0, dims(0), elem(0));
  set(1, dims(0), b.getI1Type());
  setElems(0, elems(0));
  return success();
}

LogicalResult Rule::broadcastOp() {
  unsigned n = op->getNumOperands();
  bool cmp = compareOps().contains(t);
  if (failed(broadcastInputs(0, n, cmp ? Type(b.getI1Type()) : elem(0))))
    return failure();
  if (n != 2)
    return success();
  if (t == "Add")
    setElems(0, zipElems(0, 1, SymInt::add));
  else if (t == "Sub")
    setElems(0, zipElems(0, 1, SymInt::sub));
  else if (t == "Mul")
    setElems(0, zipElems(0, 1, SymInt::mul));
  else if (t == "Div")
    setElems(0, zipElems(0, 1, SymInt::div));
  else if (t == "Equal")
    setElems(0, zipElems(0, 1, [&](const SymInt &x, const SymInt &y)
                                    -> std::optional<SymInt> {
      if (x == y)
        return SymInt::constant(1);
      std::optional<int64_t> xc = x.getConstant(), yc = y.getConstant();
      if (xc && yc)
        return SymInt::constant(0);
      // A dim expression is never negative.
      if ((xc && *xc < 0 && E.isNonNegative(y)) ||
          (yc && *yc < 0 && E.isNonNegative(x)))
        return SymInt::constant(0);
      return std::nullopt;
    }));
  return success();
}

LogicalResult Rule::where() {
  if (failed(broadcastInputs(0, 3, elem(1))))
    return failure();
  std::optional<SymVec> c = elems(0), x = elems(1), y = elems(2);
  if (c && x && y) {
    size_t n = std::max({c->size(), x->size(), y->size()});
    auto at = [&](const SymVec &v, size_t i) -> const SymInt * {
      return v.size() == 1 ? &v[0] : v.size() == n ? &v[i] : nullptr;
    };
    SymVec r;
    for (size_t i = 0; i < n; ++i) {
      const SymInt *ci = at(*c, i), *xi = at(*x, i), *yi = at(*y, i);
      if (!ci || !xi || !yi)
        return success();
      std::optional<int64_t> cc = ci->getConstant();
      r.push_back(!cc ? (*xi == *yi ? *xi : E.freshValue()) : *cc ? *xi : *yi);
    }
    setElems(0, r);
  }
  return success();
}

LogicalResult Rule::castOp() {
  Type e = t == "Cast" ? onnxElementType(E.getContext(), attrInt("to", 0))
                       : elem(1);
  set(0, dims(0), e);
  std::optional<SymVec> x = elems(0);
  if (x && e && isTrackedInteger(e) && isTrackedInteger(elem(0))) {
    auto to = cast<IntegerType>(e), from = cast<IntegerType>(elem(0));
    unsigned w = to.getWidth();
    SymVec r;
    for (const SymInt &v : *x) {
      std::optional<int64_t> c = v.getConstant();
      if (!c) {
        // Narrowing could wrap a symbolic value; widening cannot.
        r.push_back(w > 1 && w >= from.getWidth() ? v : E.freshValue());
      } else if (w == 1) {
        r.push_back(SymInt::constant(*c != 0));
      } else {
        APInt tr = APInt(64, uint64_t(*c), true).trunc(w);
        r.push_back(SymInt::constant(to.isUnsigned() ? int64_t(tr.getZExtValue())
                                                     : tr.getSExtValue()));
      }
    }
    setElems(0, r);
  }
  return success();
}

LogicalResult Rule::shape() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size());
  int64_t s = attrInt("start", 0), e = attrInt("end", rank);
  if (s < 0)
    s += rank;
  if (e < 0)
    e += rank;
  s = std::clamp<int64_t>(s, 0, rank);
  e = std::clamp<int64_t>(e, 0, rank);
  SymVec r(x->begin() + s, x->begin() + std::max(s, e));
  set(0, SymVec{SymInt::constant(int64_t(r.size()))}, b.getI64Type());
  setElems(0, r);
  return success();
}

LogicalResult Rule::size() {
  set(0, SymVec{}, b.getI64Type());
  if (std::optional<SymVec> x = dims(0)) {
    std::optional<SymInt> p = product(*x);
    setElems(0, SymVec{p ? *p : E.fresh()});
  }
  return success();
}

LogicalResult Rule::reshape() {
  std::optional<SymVec> x = dims(0), s = elems(1);
  if (!s) {
    std::optional<SymVec> sd = dims(1);
    if (sd && sd->size() == 1)
      if (std::optional<int64_t> n = (*sd)[0].getConstant())
        set(0, freshDims(*n), elem(0));
    return success();
  }
  bool allowZero = attrInt("allowzero", 0) != 0;
  SymVec r;
  int inferAt = -1;
  for (auto [i, e] : llvm::enumerate(*s)) {
    std::optional<int64_t> c = e.getConstant();
    if (c && *c == 0 && !allowZero) {
      if (x && i >= x->size())
        return fail("shape element " + std::to_string(i) +
                    " is 0 (copy) but the input has rank " +
                    std::to_string(x->size()));
      r.push_back(x ? (*x)[i] : E.fresh());
    } else if (c && *c == -1) {
      if (inferAt >= 0)
        return fail("the shape has more than one -1");
      inferAt = int(i);
      r.push_back(SymInt());
    } else if (c && *c < -1) {
      return fail("shape element " + std::to_string(i) + " is " +
                  std::to_string(*c));
    } else {
      r.push_back(e);
    }
  }
  if (inferAt >= 0) {
    SymInt inferred = E.fresh();
    if (x) {
      SymVec others(r);
      others.erase(others.begin() + inferAt);
      std::optional<SymInt> total = product(*x), rest = product(others);
      if (total && rest && !rest->isConstant(0)) {
        std::optional<int64_t> tc = total->getConstant(), rc = rest->getConstant();
        if (tc && rc && *tc % *rc != 0)
          return fail("cannot reshape " + dimsStr(*x) + " to " + dimsStr(r));
        if (std::optional<SymInt> q = SymInt::div(*total, *rest))
          inferred = *q;
      }
    }
    r[size_t(inferAt)] = inferred;
  }
  set(0, r, elem(0));
  if (r.size() <= 1)
    setElems(0, elems(0));
  return success();
}

LogicalResult Rule::flatten() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size()), axis = attrInt("axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return fail("axis " + std::to_string(attrInt("axis", 1)) +
                " is out of range for rank " + std::to_string(rank));
  std::optional<SymInt> a = product(llvm::ArrayRef(*x).take_front(size_t(axis)));
  std::optional<SymInt> c = product(llvm::ArrayRef(*x).drop_front(size_t(axis)));
  set(0, SymVec{a ? *a : E.fresh(), c ? *c : E.fresh()}, elem(0));
  return success();
}

LogicalResult Rule::transpose() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  int64_t rank = int64_t(x->size());
  llvm::SmallVector<int64_t> perm;
  if (auto p = attrInts("perm"))
    perm = *p;
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  if (int64_t(perm.size()) != rank)
    return fail("perm has " + std::to_string(perm.size()) +
                " entries for rank " + std::to_string(rank));
  llvm::SmallVector<bool> seen(size_t(rank), false);
  SymVec r;
  for (int64_t p : perm) {
    if (!normAxis(p, rank) || seen[size_t(p)])
      return fail("perm is not a permutation of 0.." + std::to_string(rank - 1));
    seen[size_t(p)] = true;
    r.push_back((*x)[size_t(p)]);
  }
  set(0, r, elem(0));
  return success();
}

LogicalResult Rule::unsqueeze() {
  std::optional<SymVec> x = dims(0);
  bool present;
  auto axes = param(1, "axes", present);
  if (!x || !axes)
    return success();
  int64_t rank = int64_t(x->size() + axes->size());
  llvm::SmallVector<bool> ins(size_t(rank), false);
  for (int64_t a : *axes) {
    if (!normAxis(a, rank) || ins[size_t(a)])
      return fail("axes are out of range or repeated for output rank " +
                  std::to_string(rank));
    ins[size_t(a)] = true;
  }
  SymVec r;
  size_t j = 0;
  for (int64_t i = 0; i < rank; ++i)
    r.push_back(ins[size_t(i)] ? SymInt::constant(1) : (*x)[j++]);
  set(0, r, elem(0));
  if (rank <= 1)
    setElems(0, elems(0));
  return success();
}

LogicalResult Rule::squeeze() {
  std::optional<SymVec> x = dims(0);
  bool present;
  auto axes = param(1, "axes", present);
  if (!x || (present && !axes))
    return success();
  int64_t rank = int64_t(x->size());
  llvm::SmallVector<bool> drop(size_t(rank), false);
  if (!present) {
    for (int64_t i = 0; i < rank; ++i) {
      if (!(*x)[size_t(i)].getConstant())
        return success(); // cannot tell whether it is 1
      drop[size_t(i)] = (*x)[size_t(i)].isConstant(1);
    }
  } else {
    for (int64_t a : *axes) {
      if (!normAxis(a, rank))
        return fail("axis " + std::to_string(a) + " is out of range for rank " +
                    std::to_string(rank));
      std::optional<int64_t> c = (*x)[size_t(a)].getConstant();
      if (c && *c != 1)
        return fail("cannot squeeze axis " + std::to_string(a) + " of size " +
                    std::to_string(*c));
      drop[size_t(a)] = true;
    }
  }
  SymVec r;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[size_t(i)])
      r.push_back((*x)[size_t(i)]);
  set(0, r, elem(0));
  if (r.size() <= 1)
    setElems(0, elems(0));
  return success();
}

LogicalResult Rule::concat() {
  llvm::SmallVector<SymVec> shapes;
  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    std::optional<SymVec> d = dims(i);
    if (!d)
      return success();
    shapes.push_back(*d);
  }
  if (shapes.empty())
    return success();
  int64_t rank = int64_t(shapes[0].size()), axis = attrInt("axis", 0);
  if (!normAxis(axis, rank))
    return fail("axis " + std::to_string(attrInt("axis", 0)) +
                " is out of range for rank " + std::to_string(rank));
  SymVec r = shapes[0];
  SymInt sum;
  for (const SymVec &s : shapes) {
    if (int64_t(s.size()) != rank)
      return fail("inputs have different ranks");
    std::optional<SymInt> n = SymInt::add(sum, s[size_t(axis)]);
    sum = n ? *n : E.fresh();
    for (int64_t i = 0; i < rank; ++i) {
      if (i == axis)
        continue;
      std::optional<int64_t> rc = r[size_t(i)].getConstant(),
                             sc = s[size_t(i)].getConstant();
      if (rc && sc && *rc != *sc)
        return fail("inputs differ in dim " + std::to_string(i) + " (" +
                    std::to_string(*rc) + " vs " + std::to_string(*sc) + ")");
      if (!rc && sc)
        r[size_t(i)] = s[size_t(i)];
    }
  }
  r[size_t(axis)] = sum;
  set(0, r, elem(0));
  if (rank == 1) {
    SymVec e;
    for (unsigned i = 0; i < op->getNumOperands(); ++i) {
      std::optional<SymVec> x = elems(i);
      if (!x)
        return success();
      e.append(x->begin(), x->end());
    }
    setElems(0, e);
  }
  return success();
}

LogicalResult Rule::slice() {
  std::optional<SymVec> x = dims(0);
  if (!x)
    return success();
  bool p1, p2, p3, p4;
  auto starts = param(1, "starts", p1), ends = param(2, "ends", p2);
  auto axes = param(3, "axes", p3);
  std::optional<llvm::SmallVector<int64_t>> steps;
  if (in(4)) {
    p4 = true;
    steps = ints(4);
  } else {
    p4 = false;
  }
  int64_t rank = int64_t(x->size());
  if (!starts || !ends || (p3 && !axes) || (p4 && !steps)) {
    // Parameters not constant: the rank is still known.
    set(0, freshDims(rank), elem(0));
    return success();
  }
  size_t n = starts->size();
  if (ends->size() != n || (axes && axes->size() != n) ||
      (steps && steps->size() != n))
    return fail("starts, ends, axes and steps differ in length");
  SymVec r = *x;
  llvm::SmallVector<int64_t> s(size_t(rank), 0), e(size_t(rank), INT64_MAX),
      st(size_t(rank), 1);
  for (size_t k = 0; k < n; ++k) {
    int64_t a = axes ? (*axes)[k] : int64_t(k);
    if (!normAxis(a, rank))
      return fail("axis " + std::to_string(a) + " is out of range for rank " +
                  std::to_string(rank));
    int64_t step = steps ? (*steps)[k] : 1;
    if (step == 0)
      return fail("a step is 0");
    s[size_t(a)] = (*starts)[k];
    e[size_t(a)] = (*ends)[k];
    st[size_t(a)] = step;
    r[size_t(a)] = sliceDim((*x)[size_t(a)], (*starts)[k], (*ends)[k], step);
  }
  set(0, r, elem(0));
  std::optional<SymVec> xe = elems(0);
  if (rank == 1 && xe) {
    std::optional<int64_t> len = r[0].getConstant();
    int64_t n0 = int64_t(xe->size()), start = s[0], step = st[0];
    if (len) {
      if (start < 0)
        start += n0;
      start = step > 0 ? std::clamp<int64_t>(start, 0, n0)
                       : std::clamp<int64_t>(start, 0, n0 - 1);
      SymVec v;
      for (int64_t i = 0; i < *len; ++i)
        v.push_back((*xe)[size_t(start + i * step)]);
      setElems(0, v);
    }
  }
  return success();
}

LogicalResult Rule::gather() {
  std::optional<SymVec> x = dims(0), idx = dims(1);
  if (!x || !idx)
    return success();
  int64_t rank = int64_t(x->size()), axis = attrInt("axis", 0);
  if (!normAxis(axis, rank))
    return fail("axis " + std::to_string(attrInt("axis", 0)) +
                " is out of range for rank " + std::to_string(rank));
  SymVec r(x->begin(), x->begin() + axis);
  r.append(idx->begin(), idx->end());
  r.append(x->begin() + axis + 1, x->end());
  set(0, r, elem(0));
  std::optional<SymVec> xe = elems(0);
  auto ii = ints(1);
  if (rank == 1 && xe && ii && idx->size() <= 1) {
    int64_t n = int64_t(xe->size());
    SymVec v;
    for (int64_t i : *ii) {
      if (i < -n || i >= n)
        return fail("index " + std::to_string(i) + " is out of range for " +
                    std::to_string(n) + " elements");
      v.push_back((*xe)[size_t(i < 0 ? i + n : i)]);
    }
    setElems(0, v);
  }
  return success();
}

LogicalResult Rule::gatherElements() {
  set(0, dims(1), elem(0));
  return success();
}

LogicalResult ShapeEngine::infer(NodeOp op, NodeFacts &out) {
  Rule rule{*this, op, out};
  return rule.run();
}
