// N-d kernels, reduction group: ops along one axis that keep it —
// Softmax, LogSoftmax, Hardmax, CumSum, TopK. Registered by nd_reduce.cpp.
//
// Invariants:
// - The input is viewed as [outer, A, inner] around the axis. Softmax-family
//   ops follow opset >= 13 (one axis, default -1) unless the compiler passes
//   the int attribute "ingot.opset" < 13: then the input is coerced to 2-D
//   [prod(dims[:axis]), prod(dims[axis:])] with default axis 1, as those
//   opsets define.
// - Softmax subtracts the maximum before exp (no overflow) and sums in double;
//   f16/bf16 are computed in float and rounded once.
// - CumSum accumulates floats sequentially in their compute type (float for
//   f32/f16/bf16, as numpy and onnxruntime), integers in 64 bits (wrapping).
// - TopK orders by value, ties by lower index (stable, as ONNX expects), NaN
//   greater than every number; results are sorted even when sorted=0.
// - Each output slice is produced by one thread: thread-count independent.
#include "nd_dispatch.h"

#include <numeric>

namespace ingot::nd {

namespace {

using namespace typed;

struct AxisGeom {
  int axis = 0;
  int64_t outer = 1, A = 1, inner = 1;
};

AxisGeom axisGeom(const std::vector<int64_t> &shape, int axis) {
  AxisGeom g;
  g.axis = axis;
  for (int d = 0; d < int(shape.size()); ++d) {
    if (d < axis) g.outer *= shape[size_t(d)];
    else if (d == axis) g.A = shape[size_t(d)];
    else g.inner *= shape[size_t(d)];
  }
  return g;
}

enum class SM { Softmax, LogSoftmax, Hardmax };

// Sum in double over four interleaved lanes, combined in a fixed order: the
// same result on every run, without one long dependency chain.
template <class C> double sumLanes(const C *v, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += double(v[i]);
    s1 += double(v[i + 1]);
    s2 += double(v[i + 2]);
    s3 += double(v[i + 3]);
  }
  for (; i < n; ++i)
    s0 += double(v[i]);
  return (s0 + s1) + (s2 + s3);
}

// Computes on compute-type buffers xin -> yout of shape [outer, A, inner].
template <SM K, class C>
void softmaxRun(const AxisGeom &g, const C *xin, C *yout) {
  const int64_t A = g.A, inner = g.inner;
  if (A == 0)
    return;
  const int64_t sliceElems = A * inner;
  const int64_t perChunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(sliceElems, 1));
  parallelChunks(g.outer, [&](int64_t b, int64_t e) {
    std::vector<C> mx(static_cast<size_t>(inner));
    std::vector<double> sum(static_cast<size_t>(inner));
    std::vector<int64_t> arg(static_cast<size_t>(inner));
    for (int64_t o = b; o < e; ++o) {
      const C *x = xin + o * sliceElems;
      C *y = yout + o * sliceElems;
      if (inner == 1) { // contiguous rows (the last axis): plain loops
        C m = x[0];
        int64_t am = 0;
        for (int64_t a = 1; a < A; ++a)
          if (x[a] > m) {
            m = x[a];
            am = a;
          }
        if constexpr (K == SM::Hardmax) {
          std::fill(y, y + A, C(0));
          y[am] = C(1);
        } else if constexpr (K == SM::Softmax) {
          for (int64_t a = 0; a < A; ++a)
            y[a] = std::exp(x[a] - m);
          const C scale = C(1.0 / sumLanes(y, A));
          for (int64_t a = 0; a < A; ++a)
            y[a] *= scale;
        } else {
          for (int64_t a = 0; a < A; ++a)
            y[a] = std::exp(x[a] - m); // scratch
          // (x - max) - log(sum): not x - (max + log(sum)), which rounds
          // away the small term when max is large.
          const C logSum = C(std::log(sumLanes(y, A)));
          for (int64_t a = 0; a < A; ++a)
            y[a] = (x[a] - m) - logSum;
        }
        continue;
      }
      // Max (first index of it for Hardmax) over A, per inner position.
      for (int64_t j = 0; j < inner; ++j) {
        mx[size_t(j)] = x[j];
        arg[size_t(j)] = 0;
      }
      for (int64_t a = 1; a < A; ++a)
        for (int64_t j = 0; j < inner; ++j) {
          const C v = x[a * inner + j];
          if (v > mx[size_t(j)]) {
            mx[size_t(j)] = v;
            arg[size_t(j)] = a;
          }
        }
      if constexpr (K == SM::Hardmax) {
        std::fill(y, y + sliceElems, C(0));
        for (int64_t j = 0; j < inner; ++j)
          y[arg[size_t(j)] * inner + j] = C(1);
        continue;
      }
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t a = 0; a < A; ++a)
        for (int64_t j = 0; j < inner; ++j) {
          const C ev = std::exp(x[a * inner + j] - mx[size_t(j)]);
          if constexpr (K == SM::Softmax)
            y[a * inner + j] = ev;
          sum[size_t(j)] += double(ev);
        }
      if constexpr (K == SM::Softmax) {
        for (int64_t j = 0; j < inner; ++j)
          mx[size_t(j)] = C(1.0 / sum[size_t(j)]); // reuse as the scale
        for (int64_t a = 0; a < A; ++a)
          for (int64_t j = 0; j < inner; ++j)
            y[a * inner + j] *= mx[size_t(j)];
      } else {
        for (int64_t j = 0; j < inner; ++j)
          sum[size_t(j)] = std::log(sum[size_t(j)]);
        for (int64_t a = 0; a < A; ++a)
          for (int64_t j = 0; j < inner; ++j)
            y[a * inner + j] = (x[a * inner + j] - mx[size_t(j)]) - C(sum[size_t(j)]);
      }
    }
  }, perChunk, g.outer * sliceElems);
}

template <SM K> void softmaxKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int rank = x.rank();
  const bool legacy = c.attrs().getInt("ingot.opset", 13) < 13;
  AxisGeom g;
  if (legacy) {
    const int axis = normalizeAxis(c.opType(), c.attrs().getInt("axis", 1), rank);
    g = axisGeom(x.shape, axis);
    g.A *= g.inner; // coerced to 2-D [outer, A * inner]
    g.inner = 1;
  } else {
    g = axisGeom(x.shape, normalizeAxis(c.opType(), c.attrs().getInt("axis", -1), rank));
  }
  dispatch<kFloatTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    Tensor &y = c.output(0, x.dtype, x.shape);
    const int64_t n = x.numel();
    if (n == 0)
      return;
    if constexpr (std::is_same_v<T, C>) {
      softmaxRun<K>(g, x.as<T>(), y.as<T>());
    } else { // f16 / bf16: through float buffers
      std::vector<C> xf(static_cast<size_t>(n)), yf(static_cast<size_t>(n));
      mapContiguous(x.as<T>(), xf.data(), n, [](C v) { return v; });
      softmaxRun<K>(g, xf.data(), yf.data());
      parallelChunks(n, [&](int64_t b, int64_t e) {
        T *py = y.as<T>();
        for (int64_t i = b; i < e; ++i)
          py[i] = st<T>(yf[size_t(i)]);
      });
    }
  });
}

void cumSumKernel(KernelContext &c) {
  const Tensor &x = c.in(0), &axisT = c.in(1);
  INGOT_CHECK(axisT.numel() == 1, c.opType() + ": axis must be a scalar, got shape " +
                                      shapeString(axisT.shape));
  const int rank = x.rank();
  INGOT_CHECK(rank >= 1, c.opType() + ": input must have rank >= 1");
  const AxisGeom g = axisGeom(x.shape, normalizeAxis(c.opType(), readInts(c.opType(), axisT)[0], rank));
  const bool exclusive = c.attrs().getInt("exclusive", 0) != 0;
  const bool reverse = c.attrs().getInt("reverse", 0) != 0;
  dispatch<kNumericTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Floats accumulate in their compute type, sequentially: f32/f64 match
    // numpy's and onnxruntime's running sums bit for bit (a wider
    // accumulator would differ from them wherever partial sums cancel).
    using Acc = std::conditional_t<kIsFloat<T>, Comp<T>,
                                   std::conditional_t<std::is_signed_v<Comp<T>>, int64_t, uint64_t>>;
    Tensor &y = c.output(0, x.dtype, x.shape);
    if (x.numel() == 0)
      return;
    const T *px = x.as<T>();
    T *py = y.as<T>();
    const int64_t A = g.A, inner = g.inner;
    parallelChunks(g.outer, [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(static_cast<size_t>(inner));
      for (int64_t o = b; o < e; ++o) {
        std::fill(acc.begin(), acc.end(), Acc(0));
        for (int64_t s = 0; s < A; ++s) {
          const int64_t a = reverse ? A - 1 - s : s;
          const T *xr = px + (o * A + a) * inner;
          T *yr = py + (o * A + a) * inner;
          for (int64_t j = 0; j < inner; ++j) {
            const Acc before = acc[size_t(j)];
            acc[size_t(j)] = wrapAdd(before, Acc(ld(xr[j])));
            const Acc v = exclusive ? before : acc[size_t(j)];
            if constexpr (kIsFloat<T>)
              yr[j] = st<T>(v);
            else
              yr[j] = T(v);
          }
        }
      }
    }, std::max<int64_t>(1, kChunk / std::max<int64_t>(A * inner, 1)), x.numel());
  });
}

void topKKernel(KernelContext &c) {
  const Tensor &x = c.in(0), &kT = c.in(1);
  INGOT_CHECK(kT.numel() == 1, c.opType() + ": K must have one element, got shape " +
                                   shapeString(kT.shape));
  const int rank = x.rank();
  INGOT_CHECK(rank >= 1, c.opType() + ": input must have rank >= 1");
  const AxisGeom g = axisGeom(x.shape, normalizeAxis(c.opType(), c.attrs().getInt("axis", -1), rank));
  const int64_t K = readInts(c.opType(), kT)[0];
  INGOT_CHECK(K >= 0 && K <= g.A, c.opType() + ": K = " + std::to_string(K) +
                                      " is out of range for axis size " + std::to_string(g.A));
  const bool largest = c.attrs().getInt("largest", 1) != 0;
  std::vector<int64_t> outShape = x.shape;
  outShape[size_t(g.axis)] = K;
  dispatch<kNumericTypes>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    Tensor *vals = c.numOutputs() >= 1 ? &c.output(0, x.dtype, outShape) : nullptr;
    Tensor *idxs = c.numOutputs() >= 2 ? &c.output(1, DType::I64, outShape) : nullptr;
    if (K == 0 || g.outer * g.inner == 0)
      return;
    const T *px = x.as<T>();
    const int64_t A = g.A, inner = g.inner;
    // a before b: NaN is the greatest value; equal values keep index order.
    auto greater = [](C a, C b) {
      if constexpr (std::is_floating_point_v<C>) {
        const bool na = a != a, nb = b != b;
        if (na || nb)
          return na && !nb;
      }
      return a > b;
    };
    parallelChunks(g.outer * inner, [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(static_cast<size_t>(A));
      std::vector<C> v(static_cast<size_t>(A));
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / inner, j = t % inner;
        const T *p = px + o * A * inner + j;
        for (int64_t a = 0; a < A; ++a)
          v[size_t(a)] = ld(p[a * inner]);
        std::iota(order.begin(), order.end(), int64_t(0));
        auto cmp = [&](int64_t i1, int64_t i2) {
          const C a = v[size_t(i1)], bb = v[size_t(i2)];
          const bool before = largest ? greater(a, bb) : greater(bb, a);
          const bool after = largest ? greater(bb, a) : greater(a, bb);
          return before || (!after && i1 < i2);
        };
        std::partial_sort(order.begin(), order.begin() + K, order.end(), cmp);
        for (int64_t k = 0; k < K; ++k) {
          const int64_t dst = (o * K + k) * inner + j;
          if (vals)
            vals->as<T>()[dst] = p[order[size_t(k)] * inner];
          if (idxs)
            idxs->as<int64_t>()[dst] = order[size_t(k)];
        }
      }
    }, std::max<int64_t>(1, kChunk / std::max<int64_t>(A, 1)), g.outer * inner * A);
  });
}

} // namespace

void registerReduceAxisKernels(Registry &r) {
  r.add("", "Softmax", softmaxKernel<SM::Softmax>);
  r.add("", "LogSoftmax", softmaxKernel<SM::LogSoftmax>);
  r.add("", "Hardmax", softmaxKernel<SM::Hardmax>);
  r.add("", "CumSum", cumSumKernel);
  r.add("", "TopK", topKKernel);
}

} // namespace ingot::nd
