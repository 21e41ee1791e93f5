// N-d kernels, elementwise group: binary ops with numpy broadcasting (Add Sub
// Mul Div Pow Mod BitShift, comparisons, And/Or/Xor, PRelu), the variadic
// Sum/Mean/Max/Min, Where and Clip. Registered by nd_elementwise.cpp.
//
// Invariants:
// - Inputs of a same-type op must have equal dtypes (else an Error naming both);
//   shapes must broadcast (else an Error naming the op and every shape).
// - Integer arithmetic wraps like numpy; integer Div truncates toward zero and
//   Mod with fmod=0 takes the divisor's sign. Division or remainder by zero of
//   integers gives 0 (numpy's result), INT_MIN / -1 wraps: never a trap.
// - The innermost broadcast row has per-input strides 0 or 1, and the three
//   cases (tensor op tensor, tensor op scalar, scalar op tensor) are separate
//   loops so the compiler vectorizes them (float Add/Sub/Mul/Div in particular).
// - Variadic ops fold left to right (((a op b) op c) ...), as the reference.
#include "nd_dispatch.h"

namespace ingot::nd {

namespace {

using namespace typed;

template <class TA, class TB, class TO, class Op>
inline void binaryRow(TO *o, const TA *a, int64_t sa, const TB *b, int64_t sb, int64_t n,
                      const Op &op) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i)
      o[i] = st<TO>(op(ld(a[i]), ld(b[i])));
  } else if (sa) {
    const auto bv = ld(b[0]);
    for (int64_t i = 0; i < n; ++i)
      o[i] = st<TO>(op(ld(a[i]), bv));
  } else if (sb) {
    const auto av = ld(a[0]);
    for (int64_t i = 0; i < n; ++i)
      o[i] = st<TO>(op(av, ld(b[i])));
  } else {
    const TO v = st<TO>(op(ld(a[0]), ld(b[0])));
    for (int64_t i = 0; i < n; ++i)
      o[i] = v;
  }
}

// o = op(a, b) with a of storage type TA, b of TB, output TO; `shape` is the
// broadcast shape (already checked), the output is allocated here.
template <class TA, class TB, class TO, class Op>
void broadcastBinary(KernelContext &c, const Tensor &a, const Tensor &b, DType outDt,
                     const std::vector<int64_t> &shape, const Op &op) {
  Tensor &o = c.output(0, outDt, shape);
  if (o.numel() == 0)
    return;
  const auto p = planBroadcast<2>(c.opType(), shape, {&a.shape, &b.shape});
  const TA *pa = a.as<TA>();
  const TB *pb = b.as<TB>();
  TO *po = o.as<TO>();
  const int64_t sa = p.innerStride(0), sb = p.innerStride(1);
  forEachRow(p, [&](int64_t oo, const int64_t *off, int64_t n) {
    binaryRow(po + oo, pa + off[0], sa, pb + off[1], sb, n, op);
  });
}

std::vector<int64_t> binaryShape(KernelContext &c, const Tensor &a, const Tensor &b) {
  return broadcastShapes(c.opType(), {a.shape, b.shape});
}

// Opsets < 7 of the arithmetic, comparison and logic ops broadcast only B
// onto A, and with an "axis" attribute align B's dims at A's dim `axis`
// rather than at the end. Returns B viewed with A's rank for that case (the
// numpy rules then give the old result), else B unchanged.
Tensor legacyAlignedB(KernelContext &c, const Tensor &a, const Tensor &b) {
  Tensor v = b;
  if (!c.attrs().has("axis") || c.attrs().getInt("broadcast", 0) == 0)
    return v;
  const int64_t axis = c.attrs().getInt("axis", 0), ra = a.rank(), rb = b.rank();
  INGOT_CHECK(axis >= 0 && axis + rb <= ra,
              c.opType() + ": legacy broadcast axis " + std::to_string(axis) + " does not fit " +
                  shapeString(b.shape) + " into " + shapeString(a.shape));
  v.shape.assign(size_t(axis), 1);
  v.shape.insert(v.shape.end(), b.shape.begin(), b.shape.end());
  v.shape.resize(size_t(ra), 1);
  return v;
}

// Same dtype in, same dtype out (Add, Mul, ...); `op` is a generic callable
// on the compute type.
template <uint32_t Allowed, class Op> void sameTypeBinary(KernelContext &c, const Op &op) {
  const Tensor &a = c.in(0), b = legacyAlignedB(c, a, c.in(1));
  checkSameDType(c.opType(), a, b, 0, 1);
  const auto shape = binaryShape(c, a, b);
  dispatch<Allowed>(c.opType(), a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    broadcastBinary<T, T, T>(c, a, b, a.dtype, shape, [&](C x, C y) { return C(op(x, y)); });
  });
}

// Same dtype in, bool out (comparisons, logic).
template <uint32_t Allowed, class Op> void predicateBinary(KernelContext &c, const Op &op) {
  const Tensor &a = c.in(0), b = legacyAlignedB(c, a, c.in(1));
  checkSameDType(c.opType(), a, b, 0, 1);
  const auto shape = binaryShape(c, a, b);
  dispatch<Allowed>(c.opType(), a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    broadcastBinary<T, T, bool_t>(c, a, b, DType::Bool, shape,
                                  [&](C x, C y) { return bool(op(x, y)); });
  });
}

// ---- Scalar semantics -------------------------------------------------------

template <class C> C divValue(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    return a / b;
  } else {
    if (b == C(0))
      return C(0);
    if constexpr (std::is_signed_v<C>)
      if (b == C(-1))
        return negValue(a);
    return C(a / b); // C++ truncates toward zero, as ONNX's integer Div
  }
}

template <class C> C modValue(C a, C b, bool fmod) {
  if constexpr (std::is_floating_point_v<C>) {
    C m = std::fmod(a, b);
    if (fmod || b == C(0)) // fmod(x, 0) is NaN
      return m;
    // numpy's mod: the result takes the sign of the divisor.
    if (m != C(0)) {
      if ((b < C(0)) != (m < C(0)))
        m += b;
    } else {
      m = std::copysign(C(0), b);
    }
    return m;
  } else {
    if (b == C(0))
      return C(0);
    if constexpr (std::is_signed_v<C>) {
      if (b == C(-1))
        return C(0);
      C m = C(a % b);
      if (!fmod && m != C(0) && ((m < C(0)) != (b < C(0))))
        m = C(m + b);
      return m;
    } else {
      return C(a % b);
    }
  }
}

// Integer power by squaring, wrapping modulo 2^bits. A negative exponent
// gives the truncated 1 / base^-e: 1 for base 1, +-1 for base -1, else 0.
template <class C, class E> C intPow(C base, E e) {
  if constexpr (std::is_signed_v<E>) {
    if (e < 0) {
      if (base == C(1))
        return C(1);
      if constexpr (std::is_signed_v<C>)
        if (base == C(-1))
          return (e & 1) ? C(-1) : C(1);
      return C(0);
    }
  }
  uint64_t r = 1, b = uint64_t(base), k = uint64_t(e);
  while (k) {
    if (k & 1)
      r *= b;
    b *= b;
    k >>= 1;
  }
  return C(r);
}

// BitShift (opset 28 semantics for signed types): shifts outside [0, bits)
// give 0, or -1 for a right shift of a negative value; right shifts of signed
// values are arithmetic.
template <class C> C shiftValue(C a, C b, bool left) {
  constexpr int kBits = int(sizeof(C) * 8);
  bool outside = uint64_t(b) >= uint64_t(kBits);
  if constexpr (std::is_signed_v<C>)
    outside = b < C(0) || int64_t(b) >= kBits;
  using U = std::make_unsigned_t<C>;
  if (outside) {
    if constexpr (std::is_signed_v<C>)
      return left || a >= C(0) ? C(0) : C(-1);
    return C(0);
  }
  if (left)
    return C(U(WrapU<C>(U(a)) << int(b)));
  return C(a >> int(b));
}

template <class C> C maxValue(C a, C b) {
  if constexpr (std::is_floating_point_v<C>)
    return (a > b || a != a) ? a : b; // NaN propagates
  else
    return a > b ? a : b;
}
template <class C> C minValue(C a, C b) {
  if constexpr (std::is_floating_point_v<C>)
    return (a < b || a != a) ? a : b;
  else
    return a < b ? a : b;
}

// ---- Kernels ----------------------------------------------------------------

void kPow(KernelContext &c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  const auto shape = binaryShape(c, a, b);
  constexpr uint32_t kBase = kFloatTypes | dtBit(DType::I32) | dtBit(DType::I64);
  dispatch<kBase>(c.opType(), a.dtype, [&](auto ta) {
    using TA = typename decltype(ta)::type;
    using CA = Comp<TA>;
    dispatch<kNumericTypes>(c.opType(), b.dtype, [&](auto tb) {
      using TB = typename decltype(tb)::type;
      using CB = Comp<TB>;
      if constexpr (kIsInt<TA> && kIsInt<TB>) {
        broadcastBinary<TA, TB, TA>(c, a, b, a.dtype, shape,
                                    [](CA x, CB e) { return intPow<CA>(x, e); });
      } else if constexpr (kIsFloat<TA>) {
        // x^2 (variance in decomposed norms) is exactly x*x: skip pow().
        if (b.numel() == 1 && shape == a.shape && double(ld(b.as<TB>()[0])) == 2.0) {
          Tensor &o = c.output(0, a.dtype, shape);
          mapContiguous(a.as<TA>(), o.as<TA>(), a.numel(), [](CA x) { return CA(x * x); });
          return;
        }
        broadcastBinary<TA, TB, TA>(c, a, b, a.dtype, shape, [](CA x, CB e) {
          return CA(std::pow(double(x), double(e)));
        });
      } else { // integer base, float exponent: computed in double, truncated
        broadcastBinary<TA, TB, TA>(c, a, b, a.dtype, shape, [](CA x, CB e) {
          return floatToInt<CA>(std::pow(double(x), double(e)));
        });
      }
    });
  });
}

void kMod(KernelContext &c) {
  const bool fmod = c.attrs().getInt("fmod", 0) != 0;
  sameTypeBinary<kNumericTypes>(c, [fmod](auto x, auto y) { return modValue(x, y, fmod); });
}

void kBitShift(KernelContext &c) {
  INGOT_CHECK(c.attrs().has("direction"), c.opType() + ": attribute 'direction' is required");
  const std::string dir = c.attrs().getString("direction", "");
  INGOT_CHECK(dir == "LEFT" || dir == "RIGHT",
              c.opType() + ": direction must be LEFT or RIGHT, got \"" + dir + "\"");
  const bool left = dir == "LEFT";
  sameTypeBinary<kIntTypes>(c, [left](auto x, auto y) { return shiftValue(x, y, left); });
}

void kPRelu(KernelContext &c) {
  const Tensor &x = c.in(0), &slope = c.in(1);
  checkSameDType(c.opType(), x, slope, 0, 1);
  const auto shape = binaryShape(c, x, slope);
  INGOT_CHECK(shape == x.shape, c.opType() + ": slope shape " + shapeString(slope.shape) +
                                    " does not broadcast to the input shape " +
                                    shapeString(x.shape));
  dispatch<kFloatTypes | kIntTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    broadcastBinary<T, T, T>(c, x, slope, x.dtype, shape,
                             [](C v, C s) { return v < C(0) ? wrapMul(v, s) : v; });
  });
}

// Sum / Mean / Max / Min over 1..n inputs with broadcasting.
template <uint32_t Allowed, class Op> void variadic(KernelContext &c, const Op &op, bool mean) {
  const int n = c.numInputs();
  INGOT_CHECK(n >= 1, c.opType() + ": needs at least one input");
  std::vector<std::vector<int64_t>> shapes;
  const Tensor &x0 = c.in(0);
  for (int i = 0; i < n; ++i) {
    const Tensor &t = c.in(i);
    checkSameDType(c.opType(), x0, t, 0, i);
    shapes.push_back(t.shape);
  }
  const auto shape = broadcastShapes(c.opType(), shapes);
  dispatch<Allowed>(c.opType(), x0.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    Tensor &o = c.output(0, x0.dtype, shape);
    if (o.numel() == 0)
      return;
    T *po = o.as<T>();
    {
      const auto p = planBroadcast<1>(c.opType(), shape, {&x0.shape});
      const T *pa = x0.as<T>();
      const int64_t s = p.innerStride(0);
      forEachRow(p, [&](int64_t oo, const int64_t *off, int64_t m) {
        const T *a = pa + off[0];
        if (s)
          std::copy(a, a + m, po + oo);
        else
          std::fill(po + oo, po + oo + m, a[0]);
      });
    }
    for (int i = 1; i < n; ++i) {
      const Tensor &t = c.in(i);
      const auto p = planBroadcast<2>(c.opType(), shape, {&shape, &t.shape});
      const T *pt = t.as<T>();
      const int64_t s0 = p.innerStride(0), s1 = p.innerStride(1);
      forEachRow(p, [&](int64_t oo, const int64_t *off, int64_t m) {
        binaryRow(po + oo, po + off[0], s0, pt + off[1], s1, m,
                  [&](C x, C y) { return C(op(x, y)); });
      });
    }
    if (mean) {
      if constexpr (std::is_floating_point_v<C>) {
        const C k = C(n);
        mapContiguous(po, po, o.numel(), [k](C v) { return v / k; });
      } else {
        const C k = C(n);
        mapContiguous(po, po, o.numel(), [k](C v) { return divValue(v, k); });
      }
    }
  });
}

void kWhere(KernelContext &c) {
  const Tensor &cond = c.in(0), &x = c.in(1), &y = c.in(2);
  INGOT_CHECK(cond.dtype == DType::Bool,
              c.opType() + ": condition must be bool, got " + dtypeName(cond.dtype));
  checkSameDType(c.opType(), x, y, 1, 2);
  const auto shape = broadcastShapes(c.opType(), {cond.shape, x.shape, y.shape});
  Tensor &o = c.output(0, x.dtype, shape);
  if (o.numel() == 0)
    return;
  const auto p = planBroadcast<3>(c.opType(), shape, {&cond.shape, &x.shape, &y.shape});
  const int64_t s0 = p.innerStride(0), s1 = p.innerStride(1), s2 = p.innerStride(2);
  const bool_t *pc = cond.as<bool_t>();
  // Only the element size matters for a select: one instantiation per size.
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = x.as<T>(), *py = y.as<T>();
    T *po = o.as<T>();
    forEachRow(p, [&](int64_t oo, const int64_t *off, int64_t m) {
      const bool_t *cc = pc + off[0];
      const T *xx = px + off[1], *yy = py + off[2];
      T *out = po + oo;
      for (int64_t i = 0; i < m; ++i)
        out[i] = cc[i * s0].v ? xx[i * s1] : yy[i * s2];
    });
  };
  switch (dtypeSize(x.dtype)) {
  case 1: run(TypeTag<uint8_t>{}); break;
  case 2: run(TypeTag<uint16_t>{}); break;
  case 4: run(TypeTag<uint32_t>{}); break;
  case 8: run(TypeTag<uint64_t>{}); break;
  default: throwDType(c.opType(), x.dtype);
  }
}

void kClip(KernelContext &c) {
  const Tensor &x = c.in(0);
  dispatch<kNumericTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
    if constexpr (std::is_floating_point_v<C>) {
      lo = -std::numeric_limits<C>::infinity();
      hi = std::numeric_limits<C>::infinity();
    }
    auto bound = [&](int i, const char *name, C &v) {
      if (const Tensor *t = c.input(i)) {
        checkSameDType(c.opType(), x, *t, 0, i);
        v = scalarOf<T>(c.opType(), *t, name);
      } else if (c.attrs().has(name)) { // opset < 11: float attributes
        const double d = c.attrs().getFloat(name, 0);
        if constexpr (std::is_floating_point_v<C>)
          v = C(d);
        else
          v = floatToInt<C>(d);
      }
    };
    bound(1, "min", lo);
    bound(2, "max", hi);
    Tensor &y = c.output(0, x.dtype, x.shape);
    // max then min, as numpy's clip: min > max gives max; NaN stays NaN.
    mapContiguous(x.as<T>(), y.as<T>(), x.numel(), [lo, hi](C v) {
      v = v < lo ? lo : v;
      return v > hi ? hi : v;
    });
  });
}

} // namespace

void registerElementwiseBinaryKernels(Registry &r) {
  r.add("", "Add", [](KernelContext &c) {
    sameTypeBinary<kNumericTypes>(c, [](auto x, auto y) { return wrapAdd(x, y); });
  });
  r.add("", "Sub", [](KernelContext &c) {
    sameTypeBinary<kNumericTypes>(c, [](auto x, auto y) { return wrapSub(x, y); });
  });
  r.add("", "Mul", [](KernelContext &c) {
    sameTypeBinary<kNumericTypes>(c, [](auto x, auto y) { return wrapMul(x, y); });
  });
  r.add("", "Div", [](KernelContext &c) {
    sameTypeBinary<kNumericTypes>(c, [](auto x, auto y) { return divValue(x, y); });
  });
  r.add("", "Pow", kPow);
  r.add("", "Mod", kMod);
  r.add("", "BitShift", kBitShift);
  r.add("", "PRelu", kPRelu);
  r.add("", "Equal", [](KernelContext &c) {
    predicateBinary<kAllTypes>(c, [](auto x, auto y) { return x == y; });
  });
  r.add("", "Greater", [](KernelContext &c) {
    predicateBinary<kAllTypes>(c, [](auto x, auto y) { return x > y; });
  });
  r.add("", "GreaterOrEqual", [](KernelContext &c) {
    predicateBinary<kAllTypes>(c, [](auto x, auto y) { return x >= y; });
  });
  r.add("", "Less", [](KernelContext &c) {
    predicateBinary<kAllTypes>(c, [](auto x, auto y) { return x < y; });
  });
  r.add("", "LessOrEqual", [](KernelContext &c) {
    predicateBinary<kAllTypes>(c, [](auto x, auto y) { return x <= y; });
  });
  r.add("", "And", [](KernelContext &c) {
    predicateBinary<dtBit(DType::Bool)>(c, [](bool x, bool y) { return x && y; });
  });
  r.add("", "Or", [](KernelContext &c) {
    predicateBinary<dtBit(DType::Bool)>(c, [](bool x, bool y) { return x || y; });
  });
  r.add("", "Xor", [](KernelContext &c) {
    predicateBinary<dtBit(DType::Bool)>(c, [](bool x, bool y) { return x != y; });
  });
  r.add("", "Sum", [](KernelContext &c) {
    variadic<kNumericTypes>(c, [](auto x, auto y) { return wrapAdd(x, y); }, false);
  });
  r.add("", "Mean", [](KernelContext &c) {
    variadic<kNumericTypes>(c, [](auto x, auto y) { return wrapAdd(x, y); }, true);
  });
  r.add("", "Max", [](KernelContext &c) {
    variadic<kNumericTypes>(c, [](auto x, auto y) { return maxValue(x, y); }, false);
  });
  r.add("", "Min", [](KernelContext &c) {
    variadic<kNumericTypes>(c, [](auto x, auto y) { return minValue(x, y); }, false);
  });
  r.add("", "Where", kWhere);
  r.add("", "Clip", kClip);
}

} // namespace ingot::nd
