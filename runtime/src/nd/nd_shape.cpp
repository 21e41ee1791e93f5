// N-d kernels that only rearrange bytes: Shape, Size, Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Transpose, Concat, Split, Slice, Expand, Tile,
// DepthToSpace, SpaceToDepth; plus the shared helpers of nd_copy.h
// (stridedCopy, typed conversions). The index ops (Gather*, Scatter*, ...)
// live in nd_shape_index.cpp, the generators (Range, Constant*, Pad, ...) in
// nd_shape_gen.cpp.
//
// Every op here is dtype-agnostic: it computes an output shape and a strided
// view of the input, then stridedCopy moves elements by size. Results are
// plain copies, so they cannot depend on the thread count.
#include "nd_copy.h"

#include <algorithm>
#include <limits>

namespace ingot::nd {

// ---- shared helpers (declared in nd_copy.h) ---------------------------------

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = int(shape.size()) - 2; i >= 0; --i)
    s[size_t(i)] = s[size_t(i) + 1] * shape[size_t(i) + 1];
  return s;
}

std::string shapeToString(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

void loadDoubles(DType dt, const void *src, int64_t n, double *dst) {
  visitDType(dt, [&](auto e) {
    using E = decltype(e);
    const auto *s = static_cast<const typename E::S *>(src);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = double(E::get(s[i]));
  });
}

void storeDoubles(DType dt, const double *src, int64_t n, void *dst) {
  visitDType(dt, [&](auto e) {
    using E = decltype(e);
    auto *d = static_cast<typename E::S *>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = E::put(static_cast<typename E::C>(src[i]));
  });
}

std::vector<double> toDoubles(const Tensor &t) {
  std::vector<double> v(size_t(t.numel()));
  loadDoubles(t.dtype, t.data, t.numel(), v.data());
  return v;
}

void convertElems(DType from, const void *src, DType to, void *dst, int64_t n) {
  visitDType(from, [&](auto ef) {
    using EF = decltype(ef);
    visitDType(to, [&](auto et) {
      using ET = decltype(et);
      const auto *s = static_cast<const typename EF::S *>(src);
      auto *d = static_cast<typename ET::S *>(dst);
      for (int64_t i = 0; i < n; ++i)
        d[i] = ET::put(static_cast<typename ET::C>(EF::get(s[i])));
    });
  });
}

double scalarAsDouble(std::string_view op, const Tensor &t, const char *what) {
  INGOT_CHECK(t.numel() == 1, std::string(op) + ": " + what + " must have one element, got shape " +
                                  shapeToString(t.shape));
  double v = 0;
  loadDoubles(t.dtype, t.data, 1, &v);
  return v;
}

void stridedCopy(void *dst, const void *src, std::vector<int64_t> shape,
                 std::vector<int64_t> strides, size_t es) {
  const int64_t n = product(shape);
  if (n == 0)
    return;
  // Drop unit dims and merge dims that are contiguous in the source, so the
  // inner loop is as long as possible (often a single memcpy per row).
  std::vector<int64_t> sh, st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1)
      continue;
    if (!sh.empty() && st.back() == strides[i] * shape[i]) {
      sh.back() *= shape[i];
      st.back() = strides[i];
    } else {
      sh.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
  if (sh.empty()) {
    std::memcpy(dst, src, es);
    return;
  }
  const int r = int(sh.size());
  const int64_t inner = sh[size_t(r - 1)], istr = st[size_t(r - 1)];
  const int64_t outer = n / inner;
  visitWord(es, [&](auto w) {
    using W = decltype(w);
    const W *s = static_cast<const W *>(src);
    W *d = static_cast<W *>(dst);
#pragma omp parallel for schedule(static) if (n * int64_t(es) >= (int64_t(1) << 20) && outer > 1)
    for (int64_t o = 0; o < outer; ++o) {
      int64_t rem = o, off = 0;
      for (int k = r - 2; k >= 0; --k) {
        off += (rem % sh[size_t(k)]) * st[size_t(k)];
        rem /= sh[size_t(k)];
      }
      W *dd = d + o * inner;
      const W *ss = s + off;
      if (istr == 1)
        std::memcpy(dd, ss, size_t(inner) * sizeof(W));
      else if (istr == 0)
        std::fill(dd, dd + inner, *ss);
      else
        for (int64_t i = 0; i < inner; ++i)
          dd[i] = ss[i * istr];
    }
  });
}

namespace {

// Axes from input `idx` (opset 13+) or attribute "axes" (older opsets).
std::vector<int64_t> axesInputOrAttr(const KernelContext &c, int idx, bool *given) {
  if (const Tensor *t = c.input(idx)) {
    *given = true;
    return readInts(c.opType(), *t);
  }
  *given = c.attrs().has("axes");
  return c.attrs().getInts("axes");
}

// ---- Shape, Size, Identity, Reshape, Flatten, Squeeze, Unsqueeze -------------

void shapeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int64_t r = x.rank();
  auto clampIdx = [&](int64_t v) {
    if (v < 0)
      v += r;
    return std::clamp<int64_t>(v, 0, r);
  };
  const int64_t start = clampIdx(c.attrs().getInt("start", 0));
  const int64_t end = clampIdx(c.attrs().getInt("end", r));
  const int64_t n = std::max<int64_t>(0, end - start);
  Tensor &o = c.output(0, DType::I64, {n});
  for (int64_t i = 0; i < n; ++i)
    o.as<int64_t>()[i] = x.shape[size_t(start + i)];
}

void sizeKernel(KernelContext &c) {
  Tensor &o = c.output(0, DType::I64, {});
  *o.as<int64_t>() = c.in(0).numel();
}

void identityKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  copyToOutput(c, 0, x, x.shape);
}

void reshapeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(c.input(1) || c.attrs().has("shape"), "Reshape: the shape input is required");
  std::vector<int64_t> want = c.input(1) ? readInts("Reshape", *c.input(1))
                                         : c.attrs().getInts("shape"); // opset < 5
  const bool allowZero = c.attrs().getInt("allowzero", 0) != 0;
  std::vector<int64_t> out(want.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    int64_t d = want[i];
    if (d == 0 && !allowZero) {
      INGOT_CHECK(i < x.shape.size(), "Reshape: shape " + shapeToString(want) +
                                          " copies dim " + std::to_string(i) +
                                          " (0) but the input " + shapeToString(x.shape) +
                                          " has rank " + std::to_string(x.rank()));
      d = x.shape[i];
    } else if (d == -1) {
      INGOT_CHECK(infer < 0, "Reshape: shape " + shapeToString(want) + " has more than one -1");
      infer = int(i);
      out[i] = 1;
      continue;
    } else {
      INGOT_CHECK(d >= 0, "Reshape: shape " + shapeToString(want) + " has a negative dim");
    }
    out[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    INGOT_CHECK(known != 0, "Reshape: cannot infer the -1 dim of " + shapeToString(want) +
                                " next to a zero-sized dim (input " +
                                shapeToString(x.shape) + ")");
    INGOT_CHECK(x.numel() % known == 0,
                "Reshape: cannot reshape " + shapeToString(x.shape) + " (" +
                    std::to_string(x.numel()) + " elements) to " + shapeToString(want));
    out[size_t(infer)] = x.numel() / known;
  }
  INGOT_CHECK(product(out) == x.numel(),
              "Reshape: cannot reshape " + shapeToString(x.shape) + " (" +
                  std::to_string(x.numel()) + " elements) to " + shapeToString(want) + " (" +
                  std::to_string(product(out)) + " elements)");
  copyToOutput(c, 0, x, out);
}

void flattenKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int64_t r = x.rank();
  int64_t axis = c.attrs().getInt("axis", 1);
  INGOT_CHECK(axis >= -r && axis <= r, "Flatten: axis " + std::to_string(axis) +
                                           " is out of range for rank " + std::to_string(r));
  if (axis < 0)
    axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i)
    (i < axis ? a : b) *= x.shape[size_t(i)];
  copyToOutput(c, 0, x, {a, b});
}

// Sorted, de-duplicated normalized axes; throws on duplicates.
std::vector<int> normAxes(const std::string &op, const std::vector<int64_t> &axes, int rank) {
  std::vector<int> out;
  for (int64_t a : axes)
    out.push_back(normalizeAxis(op, a, rank));
  std::sort(out.begin(), out.end());
  INGOT_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(),
              op + ": axes contain a duplicate");
  return out;
}

void squeezeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  bool given = false;
  std::vector<int64_t> axes = axesInputOrAttr(c, 1, &given);
  std::vector<bool> drop(x.shape.size(), false);
  if (axes.empty()) { // absent or empty: every unit dim (as onnxruntime does)
    for (size_t i = 0; i < x.shape.size(); ++i)
      drop[i] = x.shape[i] == 1;
  } else {
    for (int a : normAxes("Squeeze", axes, x.rank())) {
      INGOT_CHECK(x.shape[size_t(a)] == 1, "Squeeze: dim " + std::to_string(a) + " of " +
                                               shapeToString(x.shape) + " is not 1");
      drop[size_t(a)] = true;
    }
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < x.shape.size(); ++i)
    if (!drop[i])
      out.push_back(x.shape[i]);
  copyToOutput(c, 0, x, out);
}

void unsqueezeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  bool given = false;
  std::vector<int64_t> axes = axesInputOrAttr(c, 1, &given);
  INGOT_CHECK(given, "Unsqueeze: axes are required");
  const int outRank = x.rank() + int(axes.size());
  INGOT_CHECK(outRank <= kMaxRank, "Unsqueeze: output rank " + std::to_string(outRank) +
                                       " exceeds " + std::to_string(kMaxRank));
  std::vector<bool> ins(size_t(outRank), false);
  for (int a : normAxes("Unsqueeze", axes, outRank))
    ins[size_t(a)] = true;
  std::vector<int64_t> out;
  size_t j = 0;
  for (int i = 0; i < outRank; ++i)
    out.push_back(ins[size_t(i)] ? 1 : x.shape[j++]);
  copyToOutput(c, 0, x, out);
}

// ---- Transpose, Expand, Tile, DepthToSpace, SpaceToDepth ---------------------

// out = x viewed with shape `viewShape` (a reshape of x) permuted by `perm`.
void permuteInto(KernelContext &c, const Tensor &x, const std::vector<int64_t> &viewShape,
                 const std::vector<int64_t> &perm, const std::vector<int64_t> &outShape) {
  std::vector<int64_t> st = rowMajorStrides(viewShape), shp(perm.size()), str(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    shp[i] = viewShape[size_t(perm[i])];
    str[i] = st[size_t(perm[i])];
  }
  Tensor &o = c.output(0, x.dtype, outShape);
  stridedCopy(o.data, x.data, shp, str, dtypeSize(x.dtype));
}

void transposeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int r = x.rank();
  std::vector<int64_t> perm = c.attrs().getInts("perm");
  if (!c.attrs().has("perm"))
    for (int i = r - 1; i >= 0; --i)
      perm.push_back(i);
  INGOT_CHECK(int(perm.size()) == r, "Transpose: perm has " + std::to_string(perm.size()) +
                                         " entries for an input of rank " + std::to_string(r));
  std::vector<bool> seen(size_t(r), false);
  for (int64_t &p : perm) {
    p = normalizeAxis("Transpose", p, r);
    INGOT_CHECK(!seen[size_t(p)], "Transpose: perm is not a permutation");
    seen[size_t(p)] = true;
  }
  std::vector<int64_t> out(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i)
    out[size_t(i)] = x.shape[size_t(perm[size_t(i)])];
  permuteInto(c, x, x.shape, perm, out);
}

void expandKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  std::vector<int64_t> want = readInts("Expand", c.in(1));
  for (int64_t d : want)
    INGOT_CHECK(d >= 0, "Expand: shape " + shapeToString(want) + " has a negative dim");
  std::vector<int64_t> out = broadcastShapes("Expand", {x.shape, want});
  std::vector<int64_t> st = rowMajorStrides(x.shape), str(out.size(), 0);
  const size_t off = out.size() - x.shape.size();
  for (size_t i = 0; i < x.shape.size(); ++i)
    str[off + i] = x.shape[i] == 1 ? 0 : st[i];
  Tensor &o = c.output(0, x.dtype, out);
  stridedCopy(o.data, x.data, out, str, dtypeSize(x.dtype));
}

void tileKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  std::vector<int64_t> reps = readInts("Tile", c.in(1));
  INGOT_CHECK(int(reps.size()) == x.rank(), "Tile: repeats has " + std::to_string(reps.size()) +
                                                " entries for an input of rank " +
                                                std::to_string(x.rank()));
  std::vector<int64_t> st = rowMajorStrides(x.shape), out, view, str;
  for (size_t i = 0; i < reps.size(); ++i) {
    INGOT_CHECK(reps[i] >= 0, "Tile: repeats must be non-negative");
    out.push_back(x.shape[i] * reps[i]);
    // Out dim i viewed as [repeat, x dim]: the repeat index has stride 0.
    view.insert(view.end(), {reps[i], x.shape[i]});
    str.insert(str.end(), {0, st[i]});
  }
  Tensor &o = c.output(0, x.dtype, out);
  stridedCopy(o.data, x.data, view, str, dtypeSize(x.dtype));
}

void depthToSpaceKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(x.rank() == 4, "DepthToSpace: input must be 4-D, got " + shapeToString(x.shape));
  const int64_t b = c.attrs().getInt("blocksize", 0);
  INGOT_CHECK(b > 0, "DepthToSpace: blocksize must be positive");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  INGOT_CHECK(C % (b * b) == 0, "DepthToSpace: channels " + std::to_string(C) +
                                    " are not a multiple of blocksize^2");
  const std::string mode = c.attrs().getString("mode", "DCR");
  const int64_t C2 = C / (b * b);
  std::vector<int64_t> out = {N, C2, H * b, W * b};
  if (mode == "DCR")
    permuteInto(c, x, {N, b, b, C2, H, W}, {0, 3, 4, 1, 5, 2}, out);
  else if (mode == "CRD")
    permuteInto(c, x, {N, C2, b, b, H, W}, {0, 1, 4, 2, 5, 3}, out);
  else
    throw Error("DepthToSpace: unknown mode '" + mode + "'");
}

void spaceToDepthKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(x.rank() == 4, "SpaceToDepth: input must be 4-D, got " + shapeToString(x.shape));
  const int64_t b = c.attrs().getInt("blocksize", 0);
  INGOT_CHECK(b > 0, "SpaceToDepth: blocksize must be positive");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  INGOT_CHECK(H % b == 0 && W % b == 0, "SpaceToDepth: spatial dims of " +
                                            shapeToString(x.shape) +
                                            " are not multiples of the blocksize");
  // DCR (the default): out channel (bh·b + bw)·C + c; CRD (opset 25's
  // 'mode'): c·b² + bh·b + bw.
  const std::string mode = c.attrs().getString("mode", "DCR");
  INGOT_CHECK(mode == "DCR" || mode == "CRD", "SpaceToDepth: unknown mode '" + mode + "'");
  permuteInto(c, x, {N, C, H / b, b, W / b, b},
              mode == "DCR" ? std::vector<int64_t>{0, 3, 5, 1, 2, 4}
                            : std::vector<int64_t>{0, 1, 3, 5, 2, 4},
              {N, C * b * b, H / b, W / b});
}

// ---- Concat, Split, Slice ---------------------------------------------------

void concatKernel(KernelContext &c) {
  std::vector<const Tensor *> ins;
  for (int i = 0; i < c.numInputs(); ++i)
    if (const Tensor *t = c.input(i))
      ins.push_back(t);
  INGOT_CHECK(!ins.empty(), "Concat: needs at least one input");
  INGOT_CHECK(c.attrs().has("axis"), "Concat: attribute 'axis' is required");
  const Tensor &a = *ins[0];
  const int r = a.rank();
  INGOT_CHECK(r > 0, "Concat: inputs must have rank >= 1");
  const int axis = normalizeAxis("Concat", c.attrs().getInt("axis", 0), r);
  std::vector<int64_t> out = a.shape;
  out[size_t(axis)] = 0;
  for (size_t k = 0; k < ins.size(); ++k) {
    const Tensor &t = *ins[k];
    INGOT_CHECK(t.dtype == a.dtype, "Concat: input " + std::to_string(k) + " is " +
                                        dtypeName(t.dtype) + ", input 0 is " +
                                        dtypeName(a.dtype));
    INGOT_CHECK(t.rank() == r, "Concat: input " + std::to_string(k) + " has rank " +
                                   std::to_string(t.rank()) + " " + shapeToString(t.shape) +
                                   ", input 0 has rank " + std::to_string(r) + " " +
                                   shapeToString(a.shape));
    for (int d = 0; d < r; ++d)
      INGOT_CHECK(d == axis || t.shape[size_t(d)] == a.shape[size_t(d)],
                  "Concat: input " + std::to_string(k) + " shape " + shapeToString(t.shape) +
                      " differs from input 0 shape " + shapeToString(a.shape) +
                      " outside axis " + std::to_string(axis));
    out[size_t(axis)] += t.shape[size_t(axis)];
  }
  Tensor &o = c.output(0, a.dtype, out);
  const size_t es = dtypeSize(a.dtype);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= out[size_t(d)];
  for (int d = axis + 1; d < r; ++d)
    inner *= out[size_t(d)];
  const int64_t rowBytes = out[size_t(axis)] * inner * int64_t(es);
  if (o.nbytes() == 0)
    return;
  std::vector<int64_t> chunk(ins.size()), start(ins.size());
  for (size_t k = 0, s = 0; k < ins.size(); ++k) {
    chunk[k] = ins[k]->shape[size_t(axis)] * inner * int64_t(es);
    start[k] = int64_t(s);
    s += size_t(chunk[k]);
  }
  char *dst = static_cast<char *>(o.data);
#pragma omp parallel for schedule(static) if (int64_t(o.nbytes()) >= (int64_t(1) << 20) && outer > 1)
  for (int64_t i = 0; i < outer; ++i)
    for (size_t k = 0; k < ins.size(); ++k)
      if (chunk[k])
        std::memcpy(dst + i * rowBytes + start[k],
                    static_cast<const char *>(ins[k]->data) + i * chunk[k], size_t(chunk[k]));
}

void splitKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int axis = normalizeAxis("Split", c.attrs().getInt("axis", 0), x.rank());
  const int64_t dim = x.shape[size_t(axis)];
  std::vector<int64_t> sizes;
  if (const Tensor *s = c.input(1)) {
    sizes = readInts("Split", *s);
  } else if (c.attrs().has("split")) {
    sizes = c.attrs().getInts("split"); // opset < 13
  } else {
    int64_t n = c.attrs().getInt("num_outputs", c.numOutputs());
    INGOT_CHECK(n > 0, "Split: num_outputs must be positive");
    if (c.attrs().has("num_outputs")) {
      // Opset 18: ceil-sized chunks, the last one smaller (possibly empty).
      const int64_t chunk = (dim + n - 1) / n;
      for (int64_t i = 0; i < n; ++i)
        sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
    } else {
      INGOT_CHECK(dim % n == 0, "Split: dim " + std::to_string(dim) + " of " +
                                    shapeToString(x.shape) + " does not split into " +
                                    std::to_string(n) + " equal parts");
      sizes.assign(size_t(n), dim / n);
    }
  }
  INGOT_CHECK(int(sizes.size()) == c.numOutputs(),
              "Split: " + std::to_string(sizes.size()) + " parts for " +
                  std::to_string(c.numOutputs()) + " outputs");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    INGOT_CHECK(s >= 0, "Split: negative split size");
    sum += s;
  }
  INGOT_CHECK(sum == dim, "Split: split sizes sum to " + std::to_string(sum) + ", dim " +
                              std::to_string(axis) + " of " + shapeToString(x.shape) + " is " +
                              std::to_string(dim));
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  const size_t es = dtypeSize(x.dtype);
  int64_t at = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<int64_t> shp = x.shape;
    shp[size_t(axis)] = sizes[k];
    Tensor &o = c.output(int(k), x.dtype, shp);
    if (o.numel())
      stridedCopy(o.data, static_cast<const char *>(x.data) + at * st[size_t(axis)] * int64_t(es),
                  shp, st, es);
    at += sizes[k];
  }
}

void sliceKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int r = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.input(1) || c.input(2)) {
    starts = readInts("Slice", c.in(1));
    ends = readInts("Slice", c.in(2));
    axes = optInts(c, 3);
    steps = optInts(c, 4);
  } else { // opset < 10: attributes
    starts = c.attrs().getInts("starts");
    ends = c.attrs().getInts("ends");
    axes = c.attrs().getInts("axes");
  }
  INGOT_CHECK(starts.size() == ends.size(), "Slice: starts and ends differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(int64_t(i));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  INGOT_CHECK(axes.size() == starts.size() && steps.size() == starts.size(),
              "Slice: starts, ends, axes and steps differ in length");
  std::vector<int64_t> out = x.shape, begin(size_t(r), 0), step(size_t(r), 1);
  std::vector<bool> seen(size_t(r), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = normalizeAxis("Slice", axes[i], r);
    INGOT_CHECK(!seen[size_t(a)], "Slice: axis " + std::to_string(a) + " given twice");
    seen[size_t(a)] = true;
    const int64_t dim = x.shape[size_t(a)], s = steps[i];
    INGOT_CHECK(s != 0, "Slice: step must not be 0");
    int64_t b = starts[i], e = ends[i];
    if (b < 0)
      b += dim;
    if (e < 0)
      e += dim;
    int64_t len;
    // Counts in unsigned arithmetic: steps may be as large as INT64_MAX/MIN.
    if (s > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > b ? int64_t((uint64_t(e - b) - 1) / uint64_t(s) + 1) : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = b > e ? int64_t((uint64_t(b - e) - 1) / (uint64_t(0) - uint64_t(s)) + 1) : 0;
    }
    out[size_t(a)] = len;
    begin[size_t(a)] = b;
    step[size_t(a)] = len > 1 ? s : 1; // one element: the step is irrelevant
  }
  Tensor &o = c.output(0, x.dtype, out);
  if (o.numel() == 0)
    return;
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  std::vector<int64_t> str(static_cast<size_t>(r));
  int64_t off = 0;
  for (int d = 0; d < r; ++d) {
    off += begin[size_t(d)] * st[size_t(d)];
    str[size_t(d)] = step[size_t(d)] * st[size_t(d)];
  }
  const size_t es = dtypeSize(x.dtype);
  stridedCopy(o.data, static_cast<const char *>(x.data) + off * int64_t(es), out, str, es);
}

} // namespace

void registerShapeKernels(Registry &r) {
  r.add("", "Shape", shapeKernel);
  r.add("", "Size", sizeKernel);
  r.add("", "Identity", identityKernel);
  r.add("", "Reshape", reshapeKernel);
  r.add("", "Flatten", flattenKernel);
  r.add("", "Squeeze", squeezeKernel);
  r.add("", "Unsqueeze", unsqueezeKernel);
  r.add("", "Transpose", transposeKernel);
  r.add("", "Expand", expandKernel);
  r.add("", "Tile", tileKernel);
  r.add("", "DepthToSpace", depthToSpaceKernel);
  r.add("", "SpaceToDepth", spaceToDepthKernel);
  r.add("", "Concat", concatKernel);
  r.add("", "Split", splitKernel);
  r.add("", "Slice", sliceKernel);
  registerShapeIndexKernels(r);
  registerShapeGenKernels(r);
}

} // namespace ingot::nd
