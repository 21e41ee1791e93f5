// N-d kernels, reduction group (see nd_internal.h): ReduceSum ReduceMean
// ReduceMax ReduceMin ReduceProd ReduceSumSquare ReduceL1 ReduceL2
// ReduceLogSum ReduceLogSumExp, ArgMax/ArgMin, and the group's registration
// (Softmax/LogSoftmax/Hardmax, CumSum and TopK live in nd_reduce_axis.cpp).
//
// Invariants:
// - Axes come from the optional second input (ReduceSum >= 13, the others
//   >= 18) or else the "axes" attribute (older opsets). No axes reduces every
//   dim unless noop_with_empty_axes is set; then the reduction is over the
//   empty set of axes, i.e. each output is the op applied to one element
//   (ReduceSumSquare gives x*x, as ONNX's reference). Repeated or out-of-range
//   axes throw.
// - Empty reductions give the identity: 0 (Sum, SumSquare, L1, L2), 1 (Prod),
//   -inf (LogSum, LogSumExp, Max of floats), +inf (Min of floats), the type's
//   limits for integer Max/Min, false/true for bool Max/Min, NaN (Mean).
// - Floating-point inputs accumulate in double, integers in 64 bits with
//   wrapping; each output is reduced in a fixed order (see reduceRun) by
//   exactly one thread, so results do not depend on the thread count.
#include "nd_dispatch.h"

namespace ingot::nd {

void registerReduceAxisKernels(Registry &r); // nd_reduce_axis.cpp

namespace {

using namespace typed;

// The input's dims grouped into maximal runs of kept / reduced dims (size-1
// dims dropped), with the input strides of each run.
struct ReduceGeom {
  std::vector<int64_t> outShape;
  int64_t numOut = 1, numRed = 1;
  struct Group {
    int64_t size, stride;
    bool reduced;
  };
  std::vector<Group> groups;
};

ReduceGeom planReduce(KernelContext &c, const Tensor &x) {
  const std::string &op = c.opType();
  const int rank = x.rank();
  std::vector<int64_t> axes;
  if (const Tensor *a = c.input(1)) {
    INGOT_CHECK(a->rank() <= 1, op + ": axes must be a 1-D tensor, got shape " +
                                    shapeString(a->shape));
    axes = readInts(op, *a);
  } else {
    axes = c.attrs().getInts("axes");
  }
  const bool keepdims = c.attrs().getInt("keepdims", 1) != 0;
  const bool noop = c.attrs().getInt("noop_with_empty_axes", 0) != 0;
  std::vector<bool> red(size_t(rank), false);
  if (axes.empty()) {
    if (!noop)
      red.assign(size_t(rank), true);
  } else {
    for (int64_t a : axes) {
      INGOT_CHECK(a >= -rank && a < rank, op + ": axis " + std::to_string(a) +
                                              " is out of range for rank " +
                                              std::to_string(rank));
      const int n = int(a < 0 ? a + rank : a);
      INGOT_CHECK(!red[size_t(n)], op + ": axis " + std::to_string(a) + " is repeated");
      red[size_t(n)] = true;
    }
  }
  ReduceGeom g;
  int64_t stride = 1;
  std::vector<int64_t> strides(static_cast<size_t>(rank));
  for (int d = rank - 1; d >= 0; --d) {
    strides[size_t(d)] = stride;
    stride *= x.shape[size_t(d)];
  }
  for (int d = 0; d < rank; ++d) {
    const int64_t n = x.shape[size_t(d)];
    if (red[size_t(d)]) {
      g.numRed *= n;
      if (keepdims)
        g.outShape.push_back(1);
    } else {
      g.numOut *= n;
      g.outShape.push_back(n);
    }
    if (n == 1)
      continue;
    if (!g.groups.empty() && g.groups.back().reduced == red[size_t(d)]) {
      g.groups.back().size *= n; // adjacent dims of a contiguous tensor merge
      g.groups.back().stride = strides[size_t(d)];
    } else {
      g.groups.push_back({n, strides[size_t(d)], bool(red[size_t(d)])});
    }
  }
  return g;
}

// acc[o] = comb(acc[o], map(x, o)) over every input element x reduced into
// output o, in a fixed order: increasing input index, except that a
// contiguous innermost run is split into four interleaved lanes (starting
// from `ident`, the identity of comb) combined at its end, which breaks the
// dependency chain without depending on the thread count.
template <class T, class Acc, class Map, class Comb>
void reduceRun(const ReduceGeom &g, const T *x, Acc *acc, Acc ident, const Map &map,
               const Comb &comb) {
  if (g.numOut == 0 || g.numRed == 0)
    return;
  const auto &gr = g.groups;
  // [R, K] or [K1, R, K2]: rows of K2 accumulate into a vector (vectorizes).
  const size_t ng = gr.size();
  if (ng >= 2 && !gr[ng - 1].reduced && gr[ng - 2].reduced &&
      (ng == 2 || (ng == 3 && !gr[0].reduced))) {
    const int64_t K2 = gr[ng - 1].size, R = gr[ng - 2].size;
    const int64_t K1 = ng == 3 ? gr[0].size : 1;
    const int64_t jc = std::max<int64_t>(256, kChunk / std::max<int64_t>(R, 1));
    const int64_t jChunks = (K2 + jc - 1) / jc;
    parallelChunks(K1 * jChunks, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t k1 = t / jChunks, j0 = (t % jChunks) * jc, j1 = std::min(K2, j0 + jc);
        Acc *a = acc + k1 * K2;
        for (int64_t r = 0; r < R; ++r) {
          const T *row = x + (k1 * R + r) * K2;
          for (int64_t j = j0; j < j1; ++j)
            a[j] = comb(a[j], map(ld(row[j]), k1 * K2 + j));
        }
      }
    }, 1, g.numOut * g.numRed);
    return;
  }
  // General: kept runs give each output's base offset, reduced runs are
  // walked with an odometer whose innermost run is a strided loop.
  std::vector<ReduceGeom::Group> kept, reds;
  for (auto &grp : gr)
    (grp.reduced ? reds : kept).push_back(grp);
  if (reds.empty())
    reds.push_back({1, 0, true});
  const int nr = int(reds.size());
  const int64_t inner = reds.back().size, innerStride = reds.back().stride;
  const int64_t outerRed = g.numRed / inner;
  const int64_t perChunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(g.numRed, 1));
  parallelChunks(g.numOut, [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(static_cast<size_t>(nr));
    for (int64_t o = b; o < e; ++o) {
      int64_t base = 0, rem = o;
      for (int k = int(kept.size()) - 1; k >= 0; --k) {
        base += (rem % kept[size_t(k)].size) * kept[size_t(k)].stride;
        rem /= kept[size_t(k)].size;
      }
      Acc a = acc[o];
      std::fill(idx.begin(), idx.end(), 0);
      int64_t off = base;
      for (int64_t q = 0; q < outerRed; ++q) {
        const T *p = x + off;
        if (innerStride == 1 && inner >= 16) {
          Acc l1 = ident, l2 = ident, l3 = ident;
          int64_t i = 0;
          for (; i + 4 <= inner; i += 4) {
            a = comb(a, map(ld(p[i]), o));
            l1 = comb(l1, map(ld(p[i + 1]), o));
            l2 = comb(l2, map(ld(p[i + 2]), o));
            l3 = comb(l3, map(ld(p[i + 3]), o));
          }
          for (; i < inner; ++i)
            a = comb(a, map(ld(p[i]), o));
          a = comb(comb(a, l1), comb(l2, l3));
        } else {
          for (int64_t i = 0; i < inner; ++i)
            a = comb(a, map(ld(p[i * innerStride]), o));
        }
        for (int k = nr - 2; k >= 0; --k) { // next outer reduced index
          off += reds[size_t(k)].stride;
          if (++idx[size_t(k)] < reds[size_t(k)].size)
            break;
          off -= reds[size_t(k)].stride * reds[size_t(k)].size;
          idx[size_t(k)] = 0;
        }
      }
      acc[o] = a;
    }
  }, perChunk, g.numOut * g.numRed);
}

enum class RK { Sum, Mean, Prod, SumSquare, L1, L2, LogSum, LogSumExp, Max, Min };

// Accumulator type: double for floats, 64-bit integers otherwise (bool as 0/1).
template <class T>
using AccOf = std::conditional_t<kIsFloat<T>, double,
                                 std::conditional_t<std::is_signed_v<Comp<T>>, int64_t, uint64_t>>;

template <class T> T fromDouble(double v) {
  if constexpr (kIsBool<T>)
    return {uint8_t(v != 0 ? 1 : 0)};
  else if constexpr (kIsFloat<T>)
    return castElem<T>(v);
  else
    return floatToInt<T>(v);
}

template <class T, class Acc> T fromAcc(Acc v) {
  if constexpr (std::is_same_v<Acc, double>)
    return fromDouble<T>(v);
  else if constexpr (kIsBool<T>)
    return {uint8_t(v != 0 ? 1 : 0)};
  else
    return T(v); // integer wrap
}

template <RK K> void reduceKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const ReduceGeom g = planReduce(c, x);
  constexpr uint32_t allowed =
      (K == RK::Max || K == RK::Min) ? kAllTypes : kNumericTypes;
  dispatch<allowed>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    using Acc = AccOf<T>;
    Tensor &y = c.output(0, x.dtype, g.outShape);
    if (g.numOut == 0)
      return;
    const T *px = x.as<T>();
    T *py = y.as<T>();
    const int64_t nOut = g.numOut;
    auto sum = [](Acc a, Acc b) { return wrapAdd(a, b); };
    if constexpr (K == RK::Max || K == RK::Min) {
      Acc init;
      if constexpr (std::is_same_v<Acc, double>)
        init = K == RK::Max ? -std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::infinity();
      else if constexpr (kIsBool<T>)
        init = K == RK::Max ? 0 : 1;
      else
        init = K == RK::Max ? Acc(std::numeric_limits<C>::lowest())
                            : Acc(std::numeric_limits<C>::max());
      std::vector<Acc> acc(size_t(nOut), init);
      reduceRun(g, px, acc.data(), init, [](C v, int64_t) { return Acc(v); }, [](Acc a, Acc v) {
        if constexpr (K == RK::Max)
          return (v > a || v != v) ? v : a; // NaN propagates
        else
          return (v < a || v != v) ? v : a;
      });
      for (int64_t o = 0; o < nOut; ++o)
        py[o] = fromAcc<T>(acc[size_t(o)]);
    } else if constexpr (K == RK::LogSumExp) {
      // max + log(sum(exp(x - max))): no overflow. Computed in double.
      std::vector<double> mx(size_t(nOut), -std::numeric_limits<double>::infinity());
      reduceRun(g, px, mx.data(), -std::numeric_limits<double>::infinity(),
                [](C v, int64_t) { return double(v); },
                [](double a, double v) { return (v > a || v != v) ? v : a; });
      std::vector<double> acc(size_t(nOut), 0.0);
      const double *m = mx.data();
      reduceRun(g, px, acc.data(), 0.0, [m](C v, int64_t o) {
        return std::isinf(m[o]) ? 0.0 : std::exp(double(v) - m[o]);
      }, [](double a, double v) { return a + v; });
      for (int64_t o = 0; o < nOut; ++o) {
        const double mo = mx[size_t(o)];
        py[o] = fromDouble<T>(std::isinf(mo) ? mo : mo + std::log(acc[size_t(o)]));
      }
    } else if constexpr (kIsBool<T>) {
      throwDType(c.opType(), x.dtype); // not reached: bool is not allowed
    } else {
      Acc init = K == RK::Prod ? Acc(1) : Acc(0);
      std::vector<Acc> acc(size_t(nOut), init);
      Acc *pa = acc.data();
      if constexpr (K == RK::Prod)
        reduceRun(g, px, pa, init, [](C v, int64_t) { return Acc(v); },
                  [](Acc a, Acc b) { return wrapMul(a, b); });
      else if constexpr (K == RK::SumSquare || K == RK::L2)
        reduceRun(g, px, pa, init, [](C v, int64_t) { return wrapMul(Acc(v), Acc(v)); }, sum);
      else if constexpr (K == RK::L1)
        reduceRun(g, px, pa, init, [](C v, int64_t) { return Acc(absValue(v)); }, sum);
      else
        reduceRun(g, px, pa, init, [](C v, int64_t) { return Acc(v); }, sum);
      const double n = double(g.numRed);
      for (int64_t o = 0; o < nOut; ++o) {
        const Acc a = acc[size_t(o)];
        if constexpr (K == RK::Mean)
          py[o] = fromDouble<T>(double(a) / n);
        else if constexpr (K == RK::L2)
          py[o] = fromDouble<T>(std::sqrt(double(a)));
        else if constexpr (K == RK::LogSum)
          py[o] = fromDouble<T>(std::log(double(a)));
        else
          py[o] = fromAcc<T>(a);
      }
    }
  });
}

// ArgMax / ArgMin along one axis.
template <bool IsMax> void argKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int rank = x.rank();
  const int axis = normalizeAxis(c.opType(), c.attrs().getInt("axis", 0), rank);
  const bool keepdims = c.attrs().getInt("keepdims", 1) != 0;
  const bool last = c.attrs().getInt("select_last_index", 0) != 0;
  int64_t outer = 1, A = 1, inner = 1;
  std::vector<int64_t> outShape;
  for (int d = 0; d < rank; ++d) {
    const int64_t n = x.shape[size_t(d)];
    if (d < axis) outer *= n;
    else if (d == axis) A = n;
    else inner *= n;
    if (d != axis)
      outShape.push_back(n);
    else if (keepdims)
      outShape.push_back(1);
  }
  INGOT_CHECK(A > 0 || outer * inner == 0,
              c.opType() + ": cannot reduce over axis " + std::to_string(axis) +
                  " of size 0 (shape " + shapeString(x.shape) + ")");
  dispatch<kNumericTypes | dtBit(DType::Bool)>(c.opType(), x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Comp<T>;
    Tensor &y = c.output(0, DType::I64, outShape);
    const T *px = x.as<T>();
    int64_t *py = y.as<int64_t>();
    // Whether v replaces the current best b (NaN wins, the first NaN kept).
    auto better = [last](C v, C b) {
      if constexpr (std::is_floating_point_v<C>) {
        if (b != b)
          return false;
        if (v != v)
          return true;
      }
      if (last && v == b)
        return true;
      return IsMax ? v > b : v < b;
    };
    parallelChunks(outer * inner, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / inner, j = t % inner;
        const T *p = px + o * A * inner + j;
        C best = ld(p[0]);
        int64_t bi = 0;
        for (int64_t a = 1; a < A; ++a) {
          const C v = ld(p[a * inner]);
          if (better(v, best)) {
            best = v;
            bi = a;
          }
        }
        py[t] = bi;
      }
    }, std::max<int64_t>(1, kChunk / std::max<int64_t>(A, 1)), outer * inner * A);
  });
}

} // namespace

void registerReduceKernels(Registry &r) {
  r.add("", "ReduceSum", reduceKernel<RK::Sum>);
  r.add("", "ReduceMean", reduceKernel<RK::Mean>);
  r.add("", "ReduceProd", reduceKernel<RK::Prod>);
  r.add("", "ReduceSumSquare", reduceKernel<RK::SumSquare>);
  r.add("", "ReduceL1", reduceKernel<RK::L1>);
  r.add("", "ReduceL2", reduceKernel<RK::L2>);
  r.add("", "ReduceLogSum", reduceKernel<RK::LogSum>);
  r.add("", "ReduceLogSumExp", reduceKernel<RK::LogSumExp>);
  r.add("", "ReduceMax", reduceKernel<RK::Max>);
  r.add("", "ReduceMin", reduceKernel<RK::Min>);
  r.add("", "ArgMax", argKernel<true>);
  r.add("", "ArgMin", argKernel<false>);
  registerReduceAxisKernels(r);
}

} // namespace ingot::nd
