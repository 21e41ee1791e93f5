// N-d kernels that make new tensors or pad them: Range, ConstantOfShape,
// Constant, Dropout (inference), Pad, EyeLike.
//
// Invariants: outputs are filled completely (no uninitialised bytes); values
// of another dtype (Pad's old float 'value', EyeLike's ones) are converted
// with the Elem<> rules of nd_copy.h. Dropout never draws random numbers: in
// training mode with a non-zero ratio it refuses (inference runtime).
#include "nd_copy.h"

#include <algorithm>
#include <cmath>

namespace ingot::nd {

DType onnxDType(const std::string &op, int64_t t) {
  switch (t) {
  case 1: return DType::F32;
  case 2: return DType::U8;
  case 3: return DType::I8;
  case 4: return DType::U16;
  case 5: return DType::I16;
  case 6: return DType::I32;
  case 7: return DType::I64;
  case 9: return DType::Bool;
  case 10: return DType::F16;
  case 11: return DType::F64;
  case 12: return DType::U32;
  case 13: return DType::U64;
  case 16: return DType::BF16;
  }
  throw Error(op + ": unsupported ONNX element type " + std::to_string(t));
}

namespace {

void checkShape(const std::string &op, const std::vector<int64_t> &s) {
  for (int64_t d : s)
    INGOT_CHECK(d >= 0, op + ": shape " + shapeToString(s) + " has a negative dim");
  INGOT_CHECK(s.size() <= size_t(kMaxRank), op + ": rank " + std::to_string(s.size()) +
                                                 " exceeds " + std::to_string(kMaxRank));
}

// Fills `n` elements of size `es` at dst with the bytes at `value`.
void fillBytes(void *dst, const void *value, size_t es, int64_t n) {
  char *d = static_cast<char *>(dst);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(d + i * int64_t(es), value, es);
}

void rangeKernel(KernelContext &c) {
  const Tensor &s = c.in(0), &l = c.in(1), &dl = c.in(2);
  INGOT_CHECK(s.dtype == l.dtype && s.dtype == dl.dtype,
              "Range: start, limit and delta must have the same dtype");
  const DType dt = s.dtype;
  int64_t n = 0;
  if (isFloatDType(dt)) {
    const double a = scalarAsDouble("Range", s, "start"), b = scalarAsDouble("Range", l, "limit"),
                 d = scalarAsDouble("Range", dl, "delta");
    INGOT_CHECK(d != 0, "Range: delta must not be 0");
    const double cnt = std::ceil((b - a) / d);
    INGOT_CHECK(std::isfinite(cnt) && cnt < 1e12, "Range: too many elements");
    n = std::max<int64_t>(0, int64_t(cnt));
    Tensor &o = c.output(0, dt, {n});
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[size_t(i)] = a + double(i) * d;
    storeDoubles(dt, v.data(), n, o.data);
    return;
  }
  // Integers exactly.
  const int64_t a = readInts("Range", s).at(0), b = readInts("Range", l).at(0),
                d = readInts("Range", dl).at(0);
  INGOT_CHECK(d != 0, "Range: delta must not be 0");
  // Unsigned differences: limit - start may not fit in int64.
  if (d > 0)
    n = b > a ? int64_t((uint64_t(b) - uint64_t(a) - 1) / uint64_t(d) + 1) : 0;
  else
    n = a > b ? int64_t((uint64_t(a) - uint64_t(b) - 1) / (uint64_t(0) - uint64_t(d)) + 1) : 0;
  INGOT_CHECK(n >= 0 && n < (int64_t(1) << 40), "Range: too many elements");
  Tensor &o = c.output(0, dt, {n});
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = a + i * d;
  convertElems(DType::I64, v.data(), dt, o.data, n);
}

void constantOfShapeKernel(KernelContext &c) {
  std::vector<int64_t> shp = readInts("ConstantOfShape", c.in(0));
  checkShape("ConstantOfShape", shp);
  const AttrValue *v = c.attrs().find("value");
  if (!v) {
    Tensor &o = c.output(0, DType::F32, shp);
    std::memset(o.data, 0, o.nbytes());
    return;
  }
  INGOT_CHECK(v->kind == AttrValue::TensorValue, "ConstantOfShape: 'value' must be a tensor");
  const size_t es = dtypeSize(v->tdtype);
  INGOT_CHECK(v->tdata.size() == es, "ConstantOfShape: 'value' must have one element");
  Tensor &o = c.output(0, v->tdtype, shp);
  fillBytes(o.data, v->tdata.data(), es, o.numel());
}

void constantKernel(KernelContext &c) {
  const Attrs &a = c.attrs();
  if (const AttrValue *v = a.find("value")) {
    INGOT_CHECK(v->kind == AttrValue::TensorValue, "Constant: 'value' must be a tensor");
    checkShape("Constant", v->ints);
    Tensor &o = c.output(0, v->tdtype, v->ints);
    INGOT_CHECK(o.nbytes() == v->tdata.size(), "Constant: 'value' holds " +
                                                   std::to_string(v->tdata.size()) +
                                                   " bytes for shape " +
                                                   shapeToString(v->ints));
    if (o.nbytes())
      std::memcpy(o.data, v->tdata.data(), o.nbytes());
  } else if (a.has("value_float")) {
    *c.output(0, DType::F32, {}).as<float>() = float(a.getFloat("value_float", 0));
  } else if (a.has("value_floats")) {
    std::vector<double> f = a.getFloats("value_floats");
    Tensor &o = c.output(0, DType::F32, {int64_t(f.size())});
    for (size_t i = 0; i < f.size(); ++i)
      o.as<float>()[i] = float(f[i]);
  } else if (a.has("value_int")) {
    *c.output(0, DType::I64, {}).as<int64_t>() = a.getInt("value_int", 0);
  } else if (a.has("value_ints")) {
    std::vector<int64_t> v = a.getInts("value_ints");
    Tensor &o = c.output(0, DType::I64, {int64_t(v.size())});
    std::copy(v.begin(), v.end(), o.as<int64_t>());
  } else {
    throw Error("Constant: needs one of value, value_float(s), value_int(s) "
                "(string and sparse values are not supported)");
  }
}

void dropoutKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  double ratio = c.attrs().getFloat("ratio", 0.5); // opset < 12: attribute
  if (const Tensor *r = c.input(1))
    ratio = scalarAsDouble("Dropout", *r, "ratio");
  bool training = false;
  if (const Tensor *t = c.input(2))
    training = scalarAsDouble("Dropout", *t, "training_mode") != 0;
  INGOT_CHECK(!training || ratio == 0,
              "Dropout: training_mode with ratio " + std::to_string(ratio) +
                  " is not supported (random dropout has no place in inference)");
  copyToOutput(c, 0, x, x.shape);
  if (c.numOutputs() > 1) {
    Tensor &m = c.output(1, DType::Bool, x.shape);
    std::memset(m.data, 1, m.nbytes());
  }
}

void padKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  const int r = x.rank();
  const size_t es = dtypeSize(x.dtype);
  const std::string mode = c.attrs().getString("mode", "constant");
  std::vector<int64_t> pads;
  std::vector<uint8_t> cval(es, 0);
  if (const Tensor *p = c.input(1)) {
    pads = readInts("Pad", *p);
    if (const Tensor *v = c.input(2)) {
      INGOT_CHECK(v->numel() == 1, "Pad: constant_value must have one element");
      convertElems(v->dtype, v->data, x.dtype, cval.data(), 1);
    }
  } else { // opset < 11: attributes
    pads = c.attrs().getInts("pads");
    const double v = c.attrs().getFloat("value", 0.0);
    storeDoubles(x.dtype, &v, 1, cval.data());
  }
  std::vector<int64_t> axes = optInts(c, 3);
  if (axes.empty())
    for (int i = 0; i < r; ++i)
      axes.push_back(i);
  INGOT_CHECK(pads.size() == 2 * axes.size(),
              "Pad: pads has " + std::to_string(pads.size()) + " entries for " +
                  std::to_string(axes.size()) + " axes");
  std::vector<int64_t> before(size_t(r), 0), after(size_t(r), 0);
  const size_t na = axes.size();
  for (size_t i = 0; i < na; ++i) {
    const int a = normalizeAxis("Pad", axes[i], r);
    before[size_t(a)] = pads[i];
    after[size_t(a)] = pads[na + i];
  }
  enum { Constant, Reflect, Edge, Wrap } m;
  if (mode == "constant") m = Constant;
  else if (mode == "reflect") m = Reflect;
  else if (mode == "edge") m = Edge;
  else if (mode == "wrap") m = Wrap;
  else throw Error("Pad: unknown mode '" + mode + "'");
  // Per dim: the source index of each output index, -1 for the pad value.
  std::vector<int64_t> out(static_cast<size_t>(r));
  std::vector<std::vector<int64_t>> src(static_cast<size_t>(r));
  // Negative pads crop first; the remaining range [lo, lo + n) is then padded
  // (so wrap/reflect/edge see the cropped tensor, as ONNX's reference does).
  for (int d = 0; d < r; ++d) {
    const int64_t pb = before[size_t(d)], pa = after[size_t(d)];
    const int64_t lo = std::max<int64_t>(0, -pb);
    const int64_t n = x.shape[size_t(d)] - lo - std::max<int64_t>(0, -pa);
    INGOT_CHECK(n >= 0, "Pad: pads crop dim " + std::to_string(d) + " of " +
                            shapeToString(x.shape) + " below zero");
    const int64_t head = std::max<int64_t>(0, pb);
    const int64_t on = n + head + std::max<int64_t>(0, pa);
    out[size_t(d)] = on;
    auto &map = src[size_t(d)];
    map.resize(size_t(on));
    for (int64_t o = 0; o < on; ++o) {
      int64_t s = o - head;
      if (s < 0 || s >= n) {
        INGOT_CHECK(m == Constant || n > 0, "Pad: cannot pad the empty dim " +
                                                std::to_string(d) + " in " + mode + " mode");
        if (m == Constant) {
          map[size_t(o)] = -1;
          continue;
        } else if (m == Edge) {
          s = std::clamp<int64_t>(s, 0, n - 1);
        } else if (m == Wrap) {
          s = ((s % n) + n) % n;
        } else if (n == 1) {
          s = 0;
        } else { // reflect about the edges, without repeating them
          const int64_t period = 2 * (n - 1);
          s = ((s % period) + period) % period;
          if (s >= n)
            s = period - s;
        }
      }
      map[size_t(o)] = lo + s;
    }
  }
  Tensor &o = c.output(0, x.dtype, out);
  const int64_t total = o.numel();
  if (total == 0)
    return;
  if (r == 0) {
    std::memcpy(o.data, x.data, es);
    return;
  }
  const std::vector<int64_t> st = rowMajorStrides(x.shape);
  const int64_t inner = out.back(), rows = total / inner;
  const auto &lastMap = src.back();
  visitWord(es, [&](auto w) {
    using W = decltype(w);
    W cv;
    std::memcpy(&cv, cval.data(), es);
    const W *s = x.as<W>();
    W *dst = o.as<W>();
#pragma omp parallel for schedule(static) if (total >= (int64_t(1) << 18) && rows > 1)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t rem = row, off = 0;
      bool pad = false;
      for (int d = r - 2; d >= 0; --d) {
        const int64_t sd = src[size_t(d)][size_t(rem % out[size_t(d)])];
        rem /= out[size_t(d)];
        if (sd < 0)
          pad = true;
        else
          off += sd * st[size_t(d)];
      }
      W *dr = dst + row * inner;
      if (pad) {
        std::fill(dr, dr + inner, cv);
        continue;
      }
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t sj = lastMap[size_t(j)];
        dr[j] = sj < 0 ? cv : s[off + sj];
      }
    }
  });
}

void eyeLikeKernel(KernelContext &c) {
  const Tensor &x = c.in(0);
  INGOT_CHECK(x.rank() == 2, "EyeLike: input must be 2-D, got " + shapeToString(x.shape));
  const DType dt =
      c.attrs().has("dtype") ? onnxDType("EyeLike", c.attrs().getInt("dtype", 1)) : x.dtype;
  const int64_t k = c.attrs().getInt("k", 0);
  Tensor &o = c.output(0, dt, x.shape);
  std::memset(o.data, 0, o.nbytes());
  const size_t es = dtypeSize(dt);
  uint8_t one[8];
  const double v = 1.0;
  storeDoubles(dt, &v, 1, one);
  const int64_t N = x.shape[0], M = x.shape[1];
  char *d = static_cast<char *>(o.data);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < M)
      std::memcpy(d + (i * M + j) * int64_t(es), one, es);
  }
}

} // namespace

void registerShapeGenKernels(Registry &r) {
  r.add("", "Range", rangeKernel);
  r.add("", "ConstantOfShape", constantOfShapeKernel);
  r.add("", "Constant", constantKernel);
  r.add("", "Dropout", dropoutKernel);
  r.add("", "Pad", padKernel);
  r.add("", "EyeLike", eyeLikeKernel);
}

} // namespace ingot::nd
