// N-d kernels driven by index tensors: Gather, GatherElements, GatherND,
// ScatterElements (and the deprecated Scatter), ScatterND, Compress, NonZero,
// OneHot, ReverseSequence, Trilu.
//
// Invariants: every index is read and range-checked (negative indices
// wrapped once, as ONNX allows) before any element moves, so a bad index is an
// ingot::Error naming the op, never an out-of-bounds access. Scatter
// reductions run sequentially in index order: duplicates combine in a fixed
// order whatever the thread count.
#include "nd_copy.h"

#include <algorithm>

namespace ingot::nd {
namespace {

// Wraps a possibly negative index into [0, dim); throws naming `op`.
inline int64_t wrapIndex(const char *op, int64_t v, int64_t dim, int axis) {
  INGOT_CHECK(v >= -dim && v < dim, std::string(op) + ": index " + std::to_string(v) +
                                        " is out of range for dim " + std::to_string(axis) +
                                        " of size " + std::to_string(dim));
  return v < 0 ? v + dim : v;
}

// ---- Gather, GatherElements, GatherND ---------------------------------------

void gatherKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const Tensor &it = c.in(1);
  INGOT_CHECK(x.rank() >= 1, "Gather: data must have rank >= 1");
  const int axis = normalizeAxis("Gather", c.attrs().getInt("axis", 0), x.rank());
  std::vector<int64_t> idx = readInts("Gather", it);
  const int64_t dim = x.shape[size_t(axis)];
  for (int64_t &v : idx)
    v = wrapIndex("Gather", v, dim, axis);
  std::vector<int64_t> out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), it.shape.begin(), it.shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  Tensor &o = c.output(0, x.dtype, out);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape[size_t(d)];
  for (int d = axis + 1; d < x.rank(); ++d)
    inner *= x.shape[size_t(d)];
  const int64_t n = int64_t(idx.size()), total = outer * n;
  if (o.numel() == 0)
    return;
  visitWord(dtypeSize(x.dtype), [&](auto w) {
    using W = decltype(w);
    const W *s = x.as<W>();
    W *d = o.as<W>();
#pragma omp parallel for schedule(static) if (o.numel() >= (int64_t(1) << 18) && total > 1)
    for (int64_t t = 0; t < total; ++t) {
      const int64_t i = t / n, j = t % n;
      const W *src = s + (i * dim + idx[size_t(j)]) * inner;
      if (inner == 1)
        d[t] = *src;
      else
        std::memcpy(d + t * inner, src, size_t(inner) * sizeof(W));
    }
  });
}

// Walks the elements of `ishape` in row-major order, calling f(i, base) with
// base = Σ_{d != axis} idx_d · dstr_d (the element's offset in a tensor of
// strides `dstr`, without the axis term).
template <class F>
void walkExceptAxis(const std::vector<int64_t> &ishape, const std::vector<int64_t> &dstr, int axis,
                    F &&f) {
  const int r = int(ishape.size());
  const int64_t n = product(ishape);
  std::vector<int64_t> cnt(size_t(r), 0);
  int64_t base = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, base);
    for (int d = r - 1; d >= 0; --d) {
      ++cnt[size_t(d)];
      if (d != axis)
        base += dstr[size_t(d)];
      if (cnt[size_t(d)] < ishape[size_t(d)])
        break;
      if (d != axis)
        base -= cnt[size_t(d)] * dstr[size_t(d)];
      cnt[size_t(d)] = 0;
    }
  }
}

// Indices for GatherElements/ScatterElements: same rank as data, each dim
// within data's (on the axis: any size); values wrapped and checked.
std::vector<int64_t> elementIndices(const char *op, const Tensor &x, const Tensor &it, int axis) {
  INGOT_CHECK(it.rank() == x.rank(), std::string(op) + ": indices rank " +
                                         std::to_string(it.rank()) + " differs from data rank " +
                                         std::to_string(x.rank()));
  for (int d = 0; d < x.rank(); ++d)
    INGOT_CHECK(d == axis || it.shape[size_t(d)] <= x.shape[size_t(d)],
                std::string(op) + ": indices shape " + shapeToString(it.shape) +
                    " exceeds data shape " + shapeToString(x.shape));
  std::vector<int64_t> idx = readInts(op, it);
  for (int64_t &v : idx)
    v = wrapIndex(op, v, x.shape[size_t(axis)], axis);
  return idx;
}

void gatherElementsKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const Tensor &it = c.in(1);
  INGOT_CHECK(x.rank() >= 1, "GatherElements: data must have rank >= 1");
  const int axis = normalizeAxis("GatherElements", c.attrs().getInt("axis", 0), x.rank());
  std::vector<int64_t> idx = elementIndices("GatherElements", x, it, axis);
  Tensor &o = c.output(0, x.dtype, it.shape);
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  visitWord(dtypeSize(x.dtype), [&](auto w) {
    using W = decltype(w);
    const W *s = x.as<W>();
    W *d = o.as<W>();
    walkExceptAxis(it.shape, st, axis, [&](int64_t i, int64_t base) {
      d[i] = s[base + idx[size_t(i)] * st[size_t(axis)]];
    });
  });
}

// Checks GatherND/ScatterND indices [..., k] against data dims [b, b+k) and
// returns each tuple's element offset within one batch of data.
std::vector<int64_t> ndOffsets(const char *op, const Tensor &x, const Tensor &it, int b,
                               int64_t *k) {
  INGOT_CHECK(it.rank() >= 1, std::string(op) + ": indices must have rank >= 1");
  *k = it.shape.back();
  INGOT_CHECK(*k >= 1 && b + *k <= x.rank(),
              std::string(op) + ": index tuples of length " + std::to_string(*k) +
                  " do not fit data of rank " + std::to_string(x.rank()) +
                  (b ? " with batch_dims " + std::to_string(b) : std::string()));
  std::vector<int64_t> raw = readInts(op, it);
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  std::vector<int64_t> offs(raw.size() / size_t(*k));
  for (size_t t = 0; t < offs.size(); ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < *k; ++j) {
      const int d = b + int(j);
      off += wrapIndex(op, raw[t * size_t(*k) + size_t(j)], x.shape[size_t(d)], d) * st[size_t(d)];
    }
    offs[t] = off;
  }
  return offs;
}

void gatherNDKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const Tensor &it = c.in(1);
  const int b = int(c.attrs().getInt("batch_dims", 0));
  INGOT_CHECK(b >= 0 && b < std::min(x.rank(), it.rank()),
              "GatherND: batch_dims " + std::to_string(b) + " must be below both ranks");
  for (int d = 0; d < b; ++d)
    INGOT_CHECK(x.shape[size_t(d)] == it.shape[size_t(d)],
                "GatherND: batch dims of data " + shapeToString(x.shape) + " and indices " +
                    shapeToString(it.shape) + " differ");
  int64_t k = 0;
  std::vector<int64_t> offs = ndOffsets("GatherND", x, it, b, &k);
  std::vector<int64_t> out(it.shape.begin(), it.shape.end() - 1);
  out.insert(out.end(), x.shape.begin() + b + k, x.shape.end());
  Tensor &o = c.output(0, x.dtype, out);
  int64_t batches = 1, slice = 1;
  for (int d = 0; d < b; ++d)
    batches *= x.shape[size_t(d)];
  for (int d = b + int(k); d < x.rank(); ++d)
    slice *= x.shape[size_t(d)];
  const int64_t batchElems = batches ? x.numel() / batches : 0;
  const int64_t perBatch = batches ? int64_t(offs.size()) / batches : 0;
  const size_t es = dtypeSize(x.dtype);
  const char *s = static_cast<const char *>(x.data);
  char *d = static_cast<char *>(o.data);
  for (size_t t = 0; t < offs.size(); ++t) {
    const int64_t bi = int64_t(t) / perBatch;
    std::memcpy(d + int64_t(t) * slice * int64_t(es), s + (bi * batchElems + offs[t]) * int64_t(es),
                size_t(slice) * es);
  }
}

// ---- ScatterElements, ScatterND ---------------------------------------------

enum class Reduce { None, Add, Mul, Max, Min };

Reduce parseReduction(const KernelContext &c) {
  const std::string s = c.attrs().getString("reduction", "none");
  if (s == "none") return Reduce::None;
  if (s == "add") return Reduce::Add;
  if (s == "mul") return Reduce::Mul;
  if (s == "max") return Reduce::Max;
  if (s == "min") return Reduce::Min;
  throw Error(c.opType() + ": unknown reduction '" + s + "'");
}

template <class E> inline void combine(typename E::S &dst, typename E::S src, Reduce r) {
  using C = typename E::C;
  const C a = E::get(dst), b = E::get(src);
  switch (r) {
  case Reduce::None: dst = src; return;
  case Reduce::Add: dst = E::put(C(a + b)); return;
  case Reduce::Mul: dst = E::put(C(a * b)); return;
  case Reduce::Max: dst = E::put(std::max(a, b)); return;
  case Reduce::Min: dst = E::put(std::min(a, b)); return;
  }
}

void scatterElementsKernel(KernelContext &c) {
  const char *op = c.opType() == "Scatter" ? "Scatter" : "ScatterElements";
  const Tensor &x = c.in(0);
  const Tensor &it = c.in(1);
  const Tensor &up = c.in(2);
  INGOT_CHECK(x.rank() >= 1, std::string(op) + ": data must have rank >= 1");
  INGOT_CHECK(up.dtype == x.dtype, std::string(op) + ": updates dtype differs from data");
  INGOT_CHECK(up.shape == it.shape, std::string(op) + ": updates shape " +
                                        shapeToString(up.shape) + " differs from indices shape " +
                                        shapeToString(it.shape));
  const int axis = normalizeAxis(op, c.attrs().getInt("axis", 0), x.rank());
  const Reduce red = parseReduction(c);
  std::vector<int64_t> idx = elementIndices(op, x, it, axis);
  Tensor &o = c.output(0, x.dtype, x.shape);
  if (x.nbytes())
    std::memcpy(o.data, x.data, x.nbytes());
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  visitDType(x.dtype, [&](auto e) {
    using E = decltype(e);
    using S = typename E::S;
    S *d = o.as<S>();
    const S *u = up.as<S>();
    walkExceptAxis(it.shape, st, axis, [&](int64_t i, int64_t base) {
      combine<E>(d[base + idx[size_t(i)] * st[size_t(axis)]], u[i], red);
    });
  });
}

void scatterNDKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const Tensor &it = c.in(1);
  const Tensor &up = c.in(2);
  INGOT_CHECK(up.dtype == x.dtype, "ScatterND: updates dtype differs from data");
  int64_t k = 0;
  std::vector<int64_t> offs = ndOffsets("ScatterND", x, it, 0, &k);
  std::vector<int64_t> want(it.shape.begin(), it.shape.end() - 1);
  want.insert(want.end(), x.shape.begin() + k, x.shape.end());
  INGOT_CHECK(up.shape == want, "ScatterND: updates shape " + shapeToString(up.shape) +
                                    ", expected " + shapeToString(want));
  const Reduce red = parseReduction(c);
  Tensor &o = c.output(0, x.dtype, x.shape);
  if (x.nbytes())
    std::memcpy(o.data, x.data, x.nbytes());
  int64_t slice = 1;
  for (int d = int(k); d < x.rank(); ++d)
    slice *= x.shape[size_t(d)];
  visitDType(x.dtype, [&](auto e) {
    using E = decltype(e);
    using S = typename E::S;
    S *d = o.as<S>();
    const S *u = up.as<S>();
    for (size_t t = 0; t < offs.size(); ++t)
      for (int64_t j = 0; j < slice; ++j)
        combine<E>(d[offs[t] + j], u[int64_t(t) * slice + j], red);
  });
}

// ---- Compress, NonZero ------------------------------------------------------

// Per-element "is nonzero" of any dtype (NaN counts as nonzero, -0 as zero).
std::vector<uint8_t> truthValues(const Tensor &t) {
  std::vector<uint8_t> v(size_t(t.numel()));
  visitDType(t.dtype, [&](auto e) {
    using E = decltype(e);
    const auto *s = t.as<typename E::S>();
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = !(E::get(s[i]) == typename E::C(0));
  });
  return v;
}

void compressKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const Tensor &ct = c.in(1);
  INGOT_CHECK(ct.rank() == 1, "Compress: condition must be 1-D, got " + shapeToString(ct.shape));
  std::vector<uint8_t> cond = truthValues(ct);
  std::vector<int64_t> shp = x.shape;
  int axis = 0;
  if (c.attrs().has("axis"))
    axis = normalizeAxis("Compress", c.attrs().getInt("axis", 0), x.rank());
  else
    shp = {x.numel()}; // no axis: the flattened input
  const int64_t dim = shp[size_t(axis)];
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < int64_t(cond.size()); ++i)
    if (cond[size_t(i)]) {
      INGOT_CHECK(i < dim, "Compress: condition selects index " + std::to_string(i) +
                               " beyond dim " + std::to_string(dim));
      keep.push_back(i);
    }
  std::vector<int64_t> out = shp;
  out[size_t(axis)] = int64_t(keep.size());
  Tensor &o = c.output(0, x.dtype, out);
  int64_t outer = 1, inner = int64_t(dtypeSize(x.dtype));
  for (int d = 0; d < axis; ++d)
    outer *= shp[size_t(d)];
  for (size_t d = size_t(axis) + 1; d < shp.size(); ++d)
    inner *= shp[d];
  const char *s = static_cast<const char *>(x.data);
  char *d = static_cast<char *>(o.data);
  for (int64_t i = 0; i < outer; ++i)
    for (size_t j = 0; j < keep.size(); ++j)
      std::memcpy(d + (i * int64_t(keep.size()) + int64_t(j)) * inner,
                  s + (i * dim + keep[j]) * inner, size_t(inner));
}

void nonZeroKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  std::vector<uint8_t> nz = truthValues(x);
  const int64_t count = std::count(nz.begin(), nz.end(), uint8_t(1));
  // A scalar is treated as shape [1] (as numpy.nonzero and onnxruntime do).
  std::vector<int64_t> shp = x.rank() ? x.shape : std::vector<int64_t>{1};
  const int r = int(shp.size());
  Tensor &o = c.output(0, DType::I64, {r, count});
  int64_t *d = o.as<int64_t>();
  int64_t k = 0;
  for (int64_t i = 0; i < int64_t(nz.size()); ++i) {
    if (!nz[size_t(i)])
      continue;
    int64_t rem = i;
    for (int dd = r - 1; dd >= 0; --dd) {
      d[dd * count + k] = rem % shp[size_t(dd)];
      rem /= shp[size_t(dd)];
    }
    ++k;
  }
}

// ---- OneHot, ReverseSequence, Trilu -----------------------------------------

void oneHotKernel(KernelContext &c) {
  const Tensor &it = c.in(0);
  const Tensor &vals = c.in(2);
  INGOT_CHECK(vals.numel() == 2, "OneHot: values must have two elements [off, on], got shape " +
                                     shapeToString(vals.shape));
  const double depthD = scalarAsDouble("OneHot", c.in(1), "depth");
  INGOT_CHECK(depthD >= 1, "OneHot: depth must be at least 1");
  const int64_t depth = int64_t(depthD);
  const int outRank = it.rank() + 1;
  const int axis = normalizeAxis("OneHot", c.attrs().getInt("axis", -1), outRank);
  std::vector<double> idxD = toDoubles(it); // indices may be of any numeric type
  std::vector<int64_t> out = it.shape;
  out.insert(out.begin() + axis, depth);
  Tensor &o = c.output(0, vals.dtype, out);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= it.shape[size_t(d)];
  for (int d = axis; d < it.rank(); ++d)
    inner *= it.shape[size_t(d)];
  const size_t es = dtypeSize(vals.dtype);
  const char *off = static_cast<const char *>(vals.data), *on = off + es;
  char *dst = static_cast<char *>(o.data);
  for (int64_t i = 0; i < o.numel(); ++i)
    std::memcpy(dst + i * int64_t(es), off, es);
  for (int64_t i = 0; i < outer; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t v = int64_t(idxD[size_t(i * inner + j)]);
      if (v < 0)
        v += depth;
      if (v < 0 || v >= depth)
        continue; // out of range: all "off"
      std::memcpy(dst + ((i * depth + v) * inner + j) * int64_t(es), on, es);
    }
}

void reverseSequenceKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(x.rank() >= 2, "ReverseSequence: input must have rank >= 2");
  std::vector<int64_t> lens = readInts("ReverseSequence", c.in(1));
  const int ta = int(c.attrs().getInt("time_axis", 0));
  const int ba = int(c.attrs().getInt("batch_axis", 1));
  INGOT_CHECK((ta == 0 && ba == 1) || (ta == 1 && ba == 0),
              "ReverseSequence: time_axis and batch_axis must be 0 and 1 (either order)");
  const int64_t T = x.shape[size_t(ta)], B = x.shape[size_t(ba)];
  INGOT_CHECK(int64_t(lens.size()) == B, "ReverseSequence: sequence_lens has " +
                                             std::to_string(lens.size()) +
                                             " entries for batch size " + std::to_string(B));
  for (int64_t l : lens)
    INGOT_CHECK(l >= 0 && l <= T, "ReverseSequence: sequence length " + std::to_string(l) +
                                      " is out of range [0, " + std::to_string(T) + "]");
  Tensor &o = c.output(0, x.dtype, x.shape);
  int64_t inner = int64_t(dtypeSize(x.dtype));
  for (int d = 2; d < x.rank(); ++d)
    inner *= x.shape[size_t(d)];
  const char *s = static_cast<const char *>(x.data);
  char *d = static_cast<char *>(o.data);
  auto at = [&](int64_t t, int64_t b) { return (ta == 0 ? t * B + b : b * T + t) * inner; };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t src = t < lens[size_t(b)] ? lens[size_t(b)] - 1 - t : t;
      std::memcpy(d + at(t, b), s + at(src, b), size_t(inner));
    }
}

void triluKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(x.rank() >= 2, "Trilu: input must have rank >= 2, got " + shapeToString(x.shape));
  int64_t k = 0;
  if (const Tensor *kt = c.input(1)) {
    INGOT_CHECK(kt->numel() == 1, "Trilu: k must have one element, got shape " +
                                      shapeToString(kt->shape));
    // Beyond ±(rows + cols) every k keeps all or nothing; clamping avoids overflow.
    k = std::clamp<int64_t>(readInts("Trilu", *kt)[0], -(int64_t(1) << 62), int64_t(1) << 62);
  }
  const bool upper = c.attrs().getInt("upper", 1) != 0;
  Tensor &o = c.output(0, x.dtype, x.shape);
  const int64_t N = x.shape[size_t(x.rank() - 2)], M = x.shape.back();
  const int64_t mats = N * M != 0 ? x.numel() / (N * M) : 0;
  const size_t es = dtypeSize(x.dtype);
  std::memset(o.data, 0, o.nbytes()); // zero bytes are 0 in every dtype
  const char *s = static_cast<const char *>(x.data);
  char *d = static_cast<char *>(o.data);
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < N; ++i) {
      // upper keeps j >= i + k; lower keeps j <= i + k.
      const int64_t j0 = upper ? std::clamp<int64_t>(i + k, 0, M) : 0;
      const int64_t j1 = upper ? M : std::clamp<int64_t>(i + k + 1, 0, M);
      if (j1 > j0) {
        const int64_t off = ((m * N + i) * M + j0) * int64_t(es);
        std::memcpy(d + off, s + off, size_t(j1 - j0) * es);
      }
    }
}

} // namespace

void registerShapeIndexKernels(Registry &r) {
  r.add("", "Gather", gatherKernel);
  r.add("", "GatherElements", gatherElementsKernel);
  r.add("", "GatherND", gatherNDKernel);
  r.add("", "ScatterElements", scatterElementsKernel);
  r.add("", "Scatter", scatterElementsKernel);
  r.add("", "ScatterND", scatterNDKernel);
  r.add("", "Compress", compressKernel);
  r.add("", "NonZero", nonZeroKernel);
  r.add("", "OneHot", oneHotKernel);
  r.add("", "ReverseSequence", reverseSequenceKernel);
  r.add("", "Trilu", triluKernel);
}

} // namespace ingot::nd
