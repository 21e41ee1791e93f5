//===- OnnxShapes.cpp - symbolic integers and value facts -----------------===//
//
// SymInt arithmetic and the parts of ShapeEngine that are not per-op rules:
// where facts come from (types, constants, graph inputs) and how derived
// facts are merged with declared result types. See OnnxShapes.h.
//
//===----------------------------------------------------------------------===//
#include "OnnxShapes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::onnx;

//===----------------------------------------------------------------------===//
// SymInt
//===----------------------------------------------------------------------===//

SymInt SymInt::constant(int64_t c) {
  SymInt s;
  if (c)
    s.terms[{}] = c;
  return s;
}

SymInt SymInt::symbol(int id) {
  SymInt s;
  s.terms[{id}] = 1;
  return s;
}

std::optional<int64_t> SymInt::getConstant() const {
  if (terms.empty())
    return 0;
  if (terms.size() == 1 && terms.begin()->first.empty())
    return terms.begin()->second;
  return std::nullopt;
}

std::optional<SymInt> SymInt::add(const SymInt &a, const SymInt &b) {
  SymInt r = a;
  for (const auto &[m, c] : b.terms) {
    int64_t &slot = r.terms[m];
    if (__builtin_add_overflow(slot, c, &slot))
      return std::nullopt;
    if (slot == 0)
      r.terms.erase(m);
  }
  return r;
}

std::optional<SymInt> SymInt::sub(const SymInt &a, const SymInt &b) {
  SymInt neg;
  for (const auto &[m, c] : b.terms) {
    if (c == INT64_MIN)
      return std::nullopt;
    neg.terms[m] = -c;
  }
  return add(a, neg);
}

std::optional<SymInt> SymInt::mul(const SymInt &a, const SymInt &b) {
  SymInt r;
  for (const auto &[ma, ca] : a.terms)
    for (const auto &[mb, cb] : b.terms) {
      std::vector<int> m;
      m.reserve(ma.size() + mb.size());
      std::merge(ma.begin(), ma.end(), mb.begin(), mb.end(),
                 std::back_inserter(m));
      int64_t c;
      if (__builtin_mul_overflow(ca, cb, &c))
        return std::nullopt;
      int64_t &slot = r.terms[m];
      if (__builtin_add_overflow(slot, c, &slot))
        return std::nullopt;
      if (slot == 0)
        r.terms.erase(m);
    }
  return r;
}

std::optional<SymInt> SymInt::div(const SymInt &a, const SymInt &b) {
  std::optional<int64_t> ca = a.getConstant(), cb = b.getConstant();
  if (cb && *cb == 0)
    return std::nullopt;
  if (ca && cb) {
    if (*ca == INT64_MIN && *cb == -1)
      return std::nullopt;
    return constant(*ca / *cb);
  }
  // Exact division by one monomial (a constant is the empty monomial).
  if (b.terms.size() != 1)
    return std::nullopt;
  const auto &[mb, c] = *b.terms.begin();
  SymInt r;
  for (const auto &[ma, coeff] : a.terms) {
    if (coeff % c != 0 || (coeff == INT64_MIN && c == -1))
      return std::nullopt;
    // ma minus mb as multisets; mb must be contained.
    std::vector<int> q;
    size_t j = 0;
    for (int s : ma) {
      if (j < mb.size() && mb[j] == s)
        ++j;
      else
        q.push_back(s);
    }
    if (j != mb.size())
      return std::nullopt;
    r.terms[q] = coeff / c;
  }
  return r;
}

std::string SymInt::str() const {
  if (terms.empty())
    return "0";
  std::string s;
  llvm::raw_string_ostream os(s);
  bool first = true;
  for (const auto &[m, c] : terms) {
    if (!first)
      os << " + ";
    first = false;
    os << c;
    for (int id : m)
      os << "*s" << id;
  }
  return s;
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

bool onnx::isTrackedInteger(Type t) {
  auto i = dyn_cast_if_present<IntegerType>(t);
  return i && i.getWidth() <= 64;
}

Type onnx::onnxElementType(MLIRContext *ctx, int64_t dt) {
  Builder b(ctx);
  auto u = [&](unsigned w) {
    return IntegerType::get(ctx, w, IntegerType::Unsigned);
  };
  switch (dt) {
  case 1: return b.getF32Type();
  case 2: return u(8);
  case 3: return b.getIntegerType(8);
  case 4: return u(16);
  case 5: return b.getIntegerType(16);
  case 6: return b.getIntegerType(32);
  case 7: return b.getIntegerType(64);
  case 9: return b.getI1Type();
  case 10: return b.getF16Type();
  case 11: return b.getF64Type();
  case 12: return u(32);
  case 13: return u(64);
  case 16: return b.getBF16Type();
  default: return {};
  }
}

RankedTensorType onnx::typeFromDims(const SymVec &dims, Type elementType) {
  llvm::SmallVector<int64_t> shape;
  for (const SymInt &d : dims) {
    std::optional<int64_t> c = d.getConstant();
    shape.push_back(c && *c >= 0 ? *c : ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, elementType);
}

std::optional<llvm::SmallVector<int64_t>>
onnx::constantInts(DenseElementsAttr a) {
  auto it = dyn_cast<IntegerType>(a.getType().getElementType());
  if (!it || it.getWidth() > 64)
    return std::nullopt;
  bool zext = it.isUnsigned() || it.getWidth() == 1;
  llvm::SmallVector<int64_t> out;
  out.reserve(size_t(a.getNumElements()));
  for (const APInt &v : a.getValues<APInt>())
    out.push_back(zext ? int64_t(v.getZExtValue()) : v.getSExtValue());
  return out;
}

//===----------------------------------------------------------------------===//
// ShapeEngine: facts
//===----------------------------------------------------------------------===//

std::string ShapeEngine::describe(NodeOp op) {
  std::string s = op.getName().empty()
                      ? "unnamed node (" + op.getOpType().str()
                      : "node '" + op.getName().str() + "' (" + op.getOpType().str();
  if (!op.getDomain().empty())
    s += ", domain " + op.getDomain().str();
  return s + "): ";
}

SymInt ShapeEngine::newSymbol(bool nonNegative) {
  int id = nextSymbol++;
  if (nonNegative)
    nonNegativeSymbols.insert(id);
  return SymInt::symbol(id);
}

bool ShapeEngine::isNonNegative(const SymInt &s) const {
  bool ok = true;
  s.forEachTerm([&](const std::vector<int> &m, int64_t c) {
    ok &= c > 0;
    for (int id : m)
      ok &= nonNegativeSymbols.contains(id);
  });
  return ok;
}

// Keys >= 0 are dims (never negative); keys < 0 are elements.
SymInt ShapeEngine::keyed(Value v, int64_t key) {
  auto [it, inserted] = keyedSymbols.try_emplace({v, key}, 0);
  if (inserted) {
    it->second = nextSymbol++;
    if (key >= 0)
      nonNegativeSymbols.insert(it->second);
  }
  return SymInt::symbol(it->second);
}

ValueFacts ShapeEngine::fromType(Value v) {
  ValueFacts f;
  auto rt = dyn_cast<RankedTensorType>(v.getType());
  if (!rt)
    return f;
  if (auto c = v.getDefiningOp<ConstantOp>())
    if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue())) {
      setConstantFacts(v, dense);
      return known[v];
    }
  SymVec dims;
  for (auto [i, d] : llvm::enumerate(rt.getShape()))
    dims.push_back(ShapedType::isDynamic(d) ? keyed(v, int64_t(i))
                                            : SymInt::constant(d));
  f.dims = dims;
  // Small integer tensors: unknown elements get symbols of their own, so
  // shape arithmetic on them stays consistent.
  if (isTrackedInteger(rt.getElementType()) && rt.getRank() <= 1 &&
      rt.hasStaticShape() && rt.getNumElements() <= kMaxTrackedElems) {
    SymVec e;
    for (int64_t i = 0; i < rt.getNumElements(); ++i)
      e.push_back(keyed(v, -1 - i));
    f.elems = e;
  }
  return f;
}

const ValueFacts &ShapeEngine::facts(Value v) {
  auto it = known.find(v);
  if (it != known.end())
    return it->second;
  ValueFacts f = fromType(v);
  return known[v] = std::move(f);
}

void ShapeEngine::setFacts(Value v, ValueFacts f) { known[v] = std::move(f); }

void ShapeEngine::setConstantFacts(Value v, DenseElementsAttr value) {
  ValueFacts f;
  ShapedType t = value.getType();
  SymVec dims;
  for (int64_t d : t.getShape())
    dims.push_back(SymInt::constant(d));
  f.dims = dims;
  if (t.getRank() <= 1 && t.getNumElements() <= kMaxTrackedElems)
    if (auto ints = constantInts(value)) {
      SymVec e;
      for (int64_t x : *ints)
        e.push_back(SymInt::constant(x));
      f.elems = e;
    }
  known[v] = std::move(f);
}

void ShapeEngine::addArgument(BlockArgument arg, ArrayAttr dimParams) {
  ValueFacts f = fromType(arg);
  auto rt = dyn_cast<RankedTensorType>(arg.getType());
  if (rt && dimParams && f.dims)
    for (auto [i, a] : llvm::enumerate(dimParams)) {
      auto name = dyn_cast<StringAttr>(a);
      if (!name || name.getValue().empty() || i >= size_t(rt.getRank()) ||
          !rt.isDynamicDim(i))
        continue;
      auto [it, inserted] = namedSymbols.try_emplace(name.getValue(), 0);
      if (inserted) {
        it->second = nextSymbol++;
        nonNegativeSymbols.insert(it->second);
      }
      (*f.dims)[i] = SymInt::symbol(it->second);
    }
  known[arg] = std::move(f);
}

FailureOr<Type> ShapeEngine::refineResult(NodeOp op, unsigned r,
                                          NodeFacts &nf) {
  Value res = op->getResult(r);
  auto declared = cast<TensorType>(res.getType());
  Type elem = declared.getElementType();
  auto conflict = [&](Type inferred) {
    InFlightDiagnostic d = emitError(op.getLoc())
                           << describe(op) << "result " << r
                           << ": inferred type " << inferred
                           << " conflicts with the declared type "
                           << declared;
    return failure();
  };
  if (Type e = nf.elementTypes[r]; e && e != elem) {
    if (nf.dims[r])
      return conflict(typeFromDims(*nf.dims[r], e));
    return conflict(UnrankedTensorType::get(e));
  }

  ValueFacts f;
  std::optional<SymVec> &dims = nf.dims[r];
  if (auto rt = dyn_cast<RankedTensorType>(declared)) {
    if (dims && dims->size() != size_t(rt.getRank()))
      return conflict(typeFromDims(*dims, elem));
    if (!dims) {
      dims.emplace();
      for (auto [i, d] : llvm::enumerate(rt.getShape()))
        dims->push_back(ShapedType::isDynamic(d) ? keyed(res, int64_t(i))
                                                 : SymInt::constant(d));
    }
    for (auto [i, d] : llvm::enumerate(rt.getShape())) {
      if (ShapedType::isDynamic(d))
        continue;
      std::optional<int64_t> c = (*dims)[i].getConstant();
      if (c && *c != d)
        return conflict(typeFromDims(*dims, elem));
      // The declared static size is a fact the rule could not see.
      (*dims)[i] = SymInt::constant(d);
    }
  }
  // A negative "constant" dim can only come from a malformed graph.
  if (dims)
    for (SymInt &d : *dims)
      if (std::optional<int64_t> c = d.getConstant(); c && *c < 0)
        d = fresh();
  f.dims = dims;

  // Contents only for small 0-D/1-D integers whose length agrees.
  std::optional<SymVec> &elems = nf.elems[r];
  if (elems && isTrackedInteger(elem) && dims && dims->size() <= 1) {
    int64_t n = dims->empty() ? 1 : dims->front().getConstant().value_or(-1);
    if (n == int64_t(elems->size()))
      f.elems = elems;
  }
  Type refined = dims ? Type(typeFromDims(*dims, elem))
                      : Type(UnrankedTensorType::get(elem));
  known[res] = f;
  if (!f.elems) {
    // Unknown contents of a small integer tensor: symbols of their own.
    auto rt = dyn_cast<RankedTensorType>(refined);
    if (rt && isTrackedInteger(elem) && rt.getRank() <= 1 &&
        rt.hasStaticShape() && rt.getNumElements() <= kMaxTrackedElems) {
      SymVec e;
      for (int64_t i = 0; i < rt.getNumElements(); ++i)
        e.push_back(keyed(res, -1 - i));
      known[res].elems = e;
    }
  }
  return refined;
}
