// N-d kernels, elementwise group (see nd_internal.h): unary math and
// activations, IsNaN/IsInf, Not, Cast/CastLike, and the group's registration
// (the binary and variadic ops live in nd_elementwise_binary.cpp; Identity is
// registered by nd_shape.cpp, as nd_internal.h assigns it).
//
// Invariants: outputs have the input's shape; float16/bfloat16 are computed
// in float and rounded to nearest even once per element; every element is
// computed independently, so results do not depend on the thread count.
// Activations are written in their numerically stable forms (Sigmoid,
// Softplus, Elu via expm1) and propagate NaN.
#include "nd_dispatch.h"

#include <cstring>

namespace ingot::nd {

void registerElementwiseBinaryKernels(Registry &r); // nd_elementwise_binary.cpp

namespace {

using namespace typed;

// A same-dtype unary op over the types in `Allowed`; `op` is a generic
// callable on the compute type.
template <uint32_t Allowed, class Op> void unary(KernelContext &c, const Op &op) {
  const Tensor &x = c.in(0);
  dispatch<Allowed>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    Tensor &y = c.output(0, x.dtype, x.shape);
    mapContiguous(x.as<T>(), y.as<T>(), x.numel(), [&](C v) { return C(op(v)); });
  });
}

template <class Op> void floatUnary(KernelContext &c, const Op &op) {
  unary<kFloatTypes>(c, op);
}

// A float -> bool predicate (IsNaN, IsInf).
template <class Op> void floatPredicate(KernelContext &c, const Op &op) {
  const Tensor &x = c.in(0);
  dispatch<kFloatTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor &y = c.output(0, DType::Bool, x.shape);
    mapContiguous(x.as<T>(), y.as<bool_t>(), x.numel(),
                  [&](Comp<T> v) { return bool(op(v)); });
  });
}

double attrF(const KernelContext &c, const char *name, double def) {
  return c.attrs().getFloat(name, def);
}

// ---- Cast -------------------------------------------------------------------

void castTo(KernelContext &c, const Tensor &x, DType to) {
  Tensor &y = c.output(0, to, x.shape);
  const int64_t n = x.numel();
  if (x.dtype == to) {
    if (n)
      std::memcpy(y.data, x.data, x.nbytes());
    return;
  }
  dispatch<kAllTypes>(c.opType(), x.dtype, [&](auto ts) {
    using S = typename decltype(ts)::type;
    dispatch<kAllTypes>(c.opType(), to, [&](auto td) {
      using D = typename decltype(td)::type;
      const S *in = x.as<S>();
      D *out = y.as<D>();
      parallelChunks(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          out[i] = castElem<D>(in[i]);
      });
    });
  });
}

void kCast(KernelContext &c) {
  const Tensor &x = c.in(0);
  const AttrValue *toAttr = c.attrs().find("to");
  INGOT_CHECK(toAttr, c.opType() + ": attribute 'to' is required");
  DType to;
  if (toAttr->kind == AttrValue::String) { // opset 1: the type's name
    static const std::pair<const char *, int> names[] = {
        {"FLOAT", 1},  {"UINT8", 2},   {"INT8", 3},   {"UINT16", 4}, {"INT16", 5},
        {"INT32", 6},  {"INT64", 7},   {"BOOL", 9},   {"FLOAT16", 10}, {"DOUBLE", 11},
        {"UINT32", 12}, {"UINT64", 13}, {"BFLOAT16", 16}};
    int code = -1;
    for (auto &[n, v] : names)
      if (toAttr->s == n)
        code = v;
    INGOT_CHECK(code >= 0 && dtypeFromOnnx(code, to),
                c.opType() + ": target element type " + toAttr->s + " is not supported");
  } else {
    const int64_t code = c.attrs().getInt("to", 0);
    INGOT_CHECK(dtypeFromOnnx(code, to),
                c.opType() + ": target element type " + std::to_string(code) +
                    " (ONNX TensorProto.DataType) is not supported");
  }
  // "saturate" only affects float8 targets, which Ingot does not have.
  castTo(c, x, to);
}

void kCastLike(KernelContext &c) { castTo(c, c.in(0), c.in(1).dtype); }

void registerUnary(Registry &r) {
  r.add("", "Abs", [](KernelContext &c) {
    unary<kNumericTypes>(c, [](auto x) { return absValue(x); });
  });
  r.add("", "Neg", [](KernelContext &c) {
    unary<kFloatTypes | kSignedInts>(c, [](auto x) { return negValue(x); });
  });
  r.add("", "Sign", [](KernelContext &c) {
    unary<kNumericTypes>(c, [](auto x) {
      using C = decltype(x);
      if constexpr (std::is_floating_point_v<C>) // NaN stays NaN
        return x > C(0) ? C(1) : x < C(0) ? C(-1) : x == C(0) ? C(0) : x;
      else
        return C((x > C(0)) - (x < C(0)));
    });
  });
  r.add("", "Relu", [](KernelContext &c) {
    unary<kFloatTypes | kSignedInts>(c, [](auto x) {
      using C = decltype(x);
      return x < C(0) ? C(0) : x;
    });
  });
  r.add("", "Exp", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::exp(x); }); });
  r.add("", "Log", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::log(x); }); });
  r.add("", "Sqrt", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::sqrt(x); }); });
  r.add("", "Reciprocal", [](KernelContext &c) {
    floatUnary(c, [](auto x) { return decltype(x)(1) / x; });
  });
  r.add("", "Sigmoid", [](KernelContext &c) {
    floatUnary(c, [](auto x) {
      using C = decltype(x);
      if (x >= C(0))
        return C(1) / (C(1) + std::exp(-x));
      const C e = std::exp(x); // no overflow for very negative x
      return e / (C(1) + e);
    });
  });
  r.add("", "Tanh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::tanh(x); }); });
  r.add("", "Erf", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::erf(x); }); });
  r.add("", "Sin", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::sin(x); }); });
  r.add("", "Cos", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::cos(x); }); });
  r.add("", "Tan", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::tan(x); }); });
  r.add("", "Asin", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::asin(x); }); });
  r.add("", "Acos", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::acos(x); }); });
  r.add("", "Atan", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::atan(x); }); });
  r.add("", "Sinh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::sinh(x); }); });
  r.add("", "Cosh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::cosh(x); }); });
  r.add("", "Asinh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::asinh(x); }); });
  r.add("", "Acosh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::acosh(x); }); });
  r.add("", "Atanh", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::atanh(x); }); });
  r.add("", "Floor", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::floor(x); }); });
  r.add("", "Ceil", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::ceil(x); }); });
  // Halves to even: nearbyint in the default rounding mode (never changed here).
  r.add("", "Round", [](KernelContext &c) { floatUnary(c, [](auto x) { return std::nearbyint(x); }); });
  r.add("", "Softplus", [](KernelContext &c) {
    floatUnary(c, [](auto x) {
      using C = decltype(x);
      // log(1 + e^x) without overflow: x + log1p(e^-x) for positive x.
      return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    });
  });
  r.add("", "Softsign", [](KernelContext &c) {
    floatUnary(c, [](auto x) { return x / (decltype(x)(1) + std::fabs(x)); });
  });
  r.add("", "Elu", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 1.0);
    floatUnary(c, [alpha](auto x) {
      using C = decltype(x);
      return x > C(0) ? x : C(alpha) * std::expm1(x);
    });
  });
  r.add("", "Selu", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 1.67326319217681884765625);
    const double gamma = attrF(c, "gamma", 1.05070102214813232421875);
    floatUnary(c, [alpha, gamma](auto x) {
      using C = decltype(x);
      return C(gamma) * (x > C(0) ? x : C(alpha) * std::expm1(x));
    });
  });
  r.add("", "Celu", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 1.0);
    INGOT_CHECK(alpha != 0, c.opType() + ": alpha must be nonzero");
    floatUnary(c, [alpha](auto x) {
      using C = decltype(x);
      // max(0,x) + min(0, alpha*(exp(x/alpha)-1)), one branch per sign.
      return x > C(0) ? x : C(alpha) * std::expm1(x / C(alpha));
    });
  });
  r.add("", "LeakyRelu", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 0.01);
    floatUnary(c, [alpha](auto x) {
      using C = decltype(x);
      return x < C(0) ? C(alpha) * x : x;
    });
  });
  r.add("", "ThresholdedRelu", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 1.0);
    floatUnary(c, [alpha](auto x) {
      using C = decltype(x);
      return x > C(alpha) ? x : C(0);
    });
  });
  r.add("", "HardSigmoid", [](KernelContext &c) {
    const double alpha = attrF(c, "alpha", 0.2), beta = attrF(c, "beta", 0.5);
    floatUnary(c, [alpha, beta](auto x) {
      using C = decltype(x);
      C v = C(alpha) * x + C(beta);
      v = v < C(0) ? C(0) : v;
      return v > C(1) ? C(1) : v;
    });
  });
  r.add("", "HardSwish", [](KernelContext &c) {
    floatUnary(c, [](auto x) {
      using C = decltype(x);
      C v = x * C(1.0 / 6.0) + C(0.5);
      v = v < C(0) ? C(0) : v;
      return x * (v > C(1) ? C(1) : v);
    });
  });
  r.add("", "Mish", [](KernelContext &c) {
    floatUnary(c, [](auto x) {
      using C = decltype(x);
      const C sp = x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
      return x * std::tanh(sp);
    });
  });
  r.add("", "Gelu", [](KernelContext &c) {
    const std::string approx = c.attrs().getString("approximate", "none");
    if (approx == "none") {
      floatUnary(c, [](auto x) {
        using C = decltype(x);
        return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
      });
    } else if (approx == "tanh") {
      floatUnary(c, [](auto x) {
        using C = decltype(x);
        const C inner = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
        return C(0.5) * x * (C(1) + std::tanh(inner));
      });
    } else {
      throw Error(c.opType() + ": approximate must be \"none\" or \"tanh\", got \"" + approx +
                  "\"");
    }
  });
  r.add("", "IsNaN", [](KernelContext &c) {
    floatPredicate(c, [](auto x) { return x != x; });
  });
  r.add("", "IsInf", [](KernelContext &c) {
    const bool pos = c.attrs().getInt("detect_positive", 1) != 0;
    const bool neg = c.attrs().getInt("detect_negative", 1) != 0;
    floatPredicate(c, [pos, neg](auto x) {
      return std::isinf(x) && (x > 0 ? pos : neg);
    });
  });
  r.add("", "Not", [](KernelContext &c) {
    unary<dtBit(DType::Bool)>(c, [](bool x) { return !x; });
  });
  r.add("", "Cast", kCast);
  r.add("", "CastLike", kCastLike);
}

} // namespace

void registerElementwiseKernels(Registry &r) {
  registerUnary(r);
  registerElementwiseBinaryKernels(r);
}

} // namespace ingot::nd
