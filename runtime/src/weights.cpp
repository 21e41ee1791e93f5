// Weight transforms: produce a plan weight from checkpoint tensors.
// Semantics (shared by ingotc for embedded weights and the runtime for
// external ones, so both must agree bit for bit):
//   - Concat{axis} or Stack, if present, must be the FIRST transform and
//     consumes all sources (sources of another dtype are converted to the
//     first source's dtype through f32); otherwise there is exactly one source.
//   - Then, in order: Transpose (2-D), Slice{axis,start,size}, Cast{dtype}
//     (among f32/f16/bf16, through f32 with round-to-nearest-even).
// Negative axes count from the end. inferWeightShape performs every check
// materializeWeight relies on, so the data path can assume valid inputs.
#include "ingot/runtime/weights.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/safetensors.h"

#include <algorithm>
#include <cstring>

namespace ingot {
namespace {

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

std::string shapeStr(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

const char *kindName(WeightTransformKind k) {
  switch (k) {
  case WeightTransformKind::Transpose:
    return "transpose";
  case WeightTransformKind::Concat:
    return "concat";
  case WeightTransformKind::Stack:
    return "stack";
  case WeightTransformKind::Slice:
    return "slice";
  case WeightTransformKind::Cast:
    return "cast";
  }
  return "unknown";
}

std::string weightWhere(const WeightSpec &spec) {
  return "weight '" + spec.name + "'";
}

const TensorView &source(const Checkpoint &ckpt, const WeightSpec &spec,
                         size_t i) {
  const TensorView *t = ckpt.find(spec.sources[i]);
  if (!t)
    throw Error(weightWhere(spec) + ": source tensor '" + spec.sources[i] +
                "' is not in checkpoint '" + ckpt.dir() + "'");
  return *t;
}

int normAxis(int axis, size_t rank, const std::string &where) {
  int r = int(rank);
  int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r)
    throw Error(where + ": axis " + std::to_string(axis) +
                " is out of range for rank " + std::to_string(rank));
  return a;
}

int64_t prod(const std::vector<int64_t> &s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i)
    n *= s[i];
  return n;
}

// Whether the transform list starts with a multi-source combination.
bool combines(const WeightSpec &spec) {
  return !spec.transforms.empty() &&
         (spec.transforms[0].kind == WeightTransformKind::Concat ||
          spec.transforms[0].kind == WeightTransformKind::Stack);
}

// Shape/dtype effect of the combining transform (index 0), with checks.
void inferCombine(const Checkpoint &ckpt, const WeightSpec &spec, DType &dtype,
                  std::vector<int64_t> &shape) {
  const WeightTransformSpec &t = spec.transforms[0];
  const std::string where = weightWhere(spec) + " (" + kindName(t.kind) + ")";
  const TensorView &first = source(ckpt, spec, 0);
  dtype = first.dtype;
  shape = first.shape;
  int axis = 0;
  if (t.kind == WeightTransformKind::Concat) {
    if (first.shape.empty())
      throw Error(where + ": source tensor '" + first.name +
                  "' is a scalar and cannot be concatenated");
    axis = normAxis(t.axis, first.shape.size(), where);
  }
  for (size_t i = 1; i < spec.sources.size(); ++i) {
    const TensorView &s = source(ckpt, spec, i);
    if (s.dtype != dtype && !(isFloat(s.dtype) && isFloat(dtype)))
      throw Error(where + ": source tensor '" + s.name + "' is " +
                  dtypeName(s.dtype) + " but '" + first.name + "' is " +
                  dtypeName(dtype) + " (only float types are converted)");
    bool ok = s.shape.size() == first.shape.size();
    for (size_t d = 0; ok && d < s.shape.size(); ++d)
      if (s.shape[d] != first.shape[d] &&
          !(t.kind == WeightTransformKind::Concat && int(d) == axis))
        ok = false;
    if (!ok)
      throw Error(
          where + ": source tensor '" + s.name + "' has shape " +
          shapeStr(s.shape) + ", incompatible with '" + first.name + "' " +
          shapeStr(first.shape) +
          (t.kind == WeightTransformKind::Concat
               ? " (all dims but axis " + std::to_string(axis) + " must match)"
               : std::string(" (stacked tensors must match)")));
    if (t.kind == WeightTransformKind::Concat)
      shape[axis] += s.shape[axis];
  }
  if (t.kind == WeightTransformKind::Stack)
    shape.insert(shape.begin(), int64_t(spec.sources.size()));
}

// Shape/dtype effect of a single-tensor transform, with checks.
void inferUnary(const WeightSpec &spec, size_t idx, DType &dtype,
                std::vector<int64_t> &shape) {
  const WeightTransformSpec &t = spec.transforms[idx];
  const std::string where = weightWhere(spec) + " (transform " +
                            std::to_string(idx) + ", " + kindName(t.kind) + ")";
  switch (t.kind) {
  case WeightTransformKind::Concat:
  case WeightTransformKind::Stack:
    throw Error(where + ": concat/stack must be the first transform");
  case WeightTransformKind::Transpose:
    if (shape.size() != 2)
      throw Error(where + ": transpose needs a 2-D tensor, got shape " +
                  shapeStr(shape));
    std::swap(shape[0], shape[1]);
    return;
  case WeightTransformKind::Slice: {
    if (shape.empty())
      throw Error(where + ": cannot slice a scalar");
    int a = normAxis(t.axis, shape.size(), where);
    if (t.start < 0 || t.size < 0 || t.start > shape[a] ||
        t.size > shape[a] - t.start)
      throw Error(where + ": slice [" + std::to_string(t.start) + ", " +
                  std::to_string(t.start + t.size) + ") along axis " +
                  std::to_string(a) + " is out of bounds for shape " +
                  shapeStr(shape));
    shape[a] = t.size;
    return;
  }
  case WeightTransformKind::Cast:
    if (t.dtype != dtype && !(isFloat(t.dtype) && isFloat(dtype)))
      throw Error(where + ": cannot cast " + dtypeName(dtype) + " to " +
                  dtypeName(t.dtype) + " (only among f32, f16, bf16)");
    dtype = t.dtype;
    return;
  }
  throw Error(where + ": unknown transform kind " +
              std::to_string(int(t.kind)));
}

// Copies a checkpoint tensor, converting its elements to `to` if needed.
void appendConverted(const TensorView &v, DType to, std::vector<uint8_t> &out) {
  size_t n = size_t(v.numel());
  size_t pos = out.size();
  out.resize(pos + n * dtypeSize(to));
  if (v.dtype == to) {
    if (v.nbytes)
      std::memcpy(out.data() + pos, v.data, v.nbytes);
    return;
  }
  // Bounded scratch: a large tensor is converted in chunks.
  constexpr size_t kChunk = 1 << 16;
  std::vector<float> tmp(std::min(n, kChunk));
  const size_t inEs = dtypeSize(v.dtype), outEs = dtypeSize(to);
  for (size_t i = 0; i < n; i += kChunk) {
    size_t k = std::min(kChunk, n - i);
    convertToF32(v.data + i * inEs, v.dtype, tmp.data(), k);
    convertFromF32(tmp.data(), out.data() + pos + i * outEs, to, k);
  }
}

void castInPlace(HostTensor &t, DType to) {
  if (t.dtype == to)
    return;
  size_t n = size_t(t.numel());
  std::vector<uint8_t> out(n * dtypeSize(to));
  constexpr size_t kChunk = 1 << 16;
  std::vector<float> tmp(std::min(n, kChunk));
  const size_t inEs = dtypeSize(t.dtype), outEs = dtypeSize(to);
  for (size_t i = 0; i < n; i += kChunk) {
    size_t k = std::min(kChunk, n - i);
    convertToF32(t.bytes.data() + i * inEs, t.dtype, tmp.data(), k);
    convertFromF32(tmp.data(), out.data() + i * outEs, to, k);
  }
  t.bytes.swap(out);
  t.dtype = to;
}

// Tiled 2-D transpose for element size ES (tiles keep both sides in cache).
template <size_t ES>
void transposeTiled(const uint8_t *src, uint8_t *dst, int64_t rows,
                    int64_t cols) {
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += B)
    for (int64_t c0 = 0; c0 < cols; c0 += B) {
      int64_t r1 = std::min(rows, r0 + B), c1 = std::min(cols, c0 + B);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          std::memcpy(dst + (c * rows + r) * ES, src + (r * cols + c) * ES, ES);
    }
}

void transpose2d(HostTensor &t) {
  const int64_t rows = t.shape[0], cols = t.shape[1];
  std::vector<uint8_t> out(t.bytes.size());
  switch (dtypeSize(t.dtype)) {
  case 1:
    transposeTiled<1>(t.bytes.data(), out.data(), rows, cols);
    break;
  case 2:
    transposeTiled<2>(t.bytes.data(), out.data(), rows, cols);
    break;
  case 4:
    transposeTiled<4>(t.bytes.data(), out.data(), rows, cols);
    break;
  case 8:
    transposeTiled<8>(t.bytes.data(), out.data(), rows, cols);
    break;
  }
  t.bytes.swap(out);
  std::swap(t.shape[0], t.shape[1]);
}

void slice(HostTensor &t, int axis, int64_t start, int64_t size) {
  const size_t es = dtypeSize(t.dtype);
  const int64_t outer = prod(t.shape, 0, size_t(axis));
  const int64_t dim = t.shape[size_t(axis)];
  const size_t inner =
      size_t(prod(t.shape, size_t(axis) + 1, t.shape.size())) * es;
  std::vector<uint8_t> out(size_t(outer * size) * inner);
  for (int64_t o = 0; o < outer; ++o)
    if (size > 0)
      std::memcpy(out.data() + size_t(o * size) * inner,
                  t.bytes.data() + size_t(o * dim + start) * inner,
                  size_t(size) * inner);
  t.bytes.swap(out);
  t.shape[size_t(axis)] = size;
}

} // namespace

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void inferWeightShape(const Checkpoint &ckpt, const WeightSpec &spec,
                      DType &dtype, std::vector<int64_t> &shape) {
  if (spec.sources.empty())
    throw Error(weightWhere(spec) + " has no source tensors");
  size_t first = 0;
  if (combines(spec)) {
    inferCombine(ckpt, spec, dtype, shape);
    first = 1;
  } else {
    if (spec.sources.size() != 1)
      throw Error(weightWhere(spec) + " has " +
                  std::to_string(spec.sources.size()) +
                  " source tensors but no concat/stack as its first transform");
    const TensorView &s = source(ckpt, spec, 0);
    dtype = s.dtype;
    shape = s.shape;
  }
  for (size_t i = first; i < spec.transforms.size(); ++i)
    inferUnary(spec, i, dtype, shape);
}

HostTensor materializeWeight(const Checkpoint &ckpt, const WeightSpec &spec) {
  DType finalDtype;
  std::vector<int64_t> finalShape;
  inferWeightShape(ckpt, spec, finalDtype, finalShape); // all checks

  HostTensor t;
  size_t first = 0;
  if (combines(spec)) {
    const WeightTransformSpec &c = spec.transforms[0];
    const TensorView &s0 = source(ckpt, spec, 0);
    t.dtype = s0.dtype;
    std::vector<const TensorView *> srcs;
    for (size_t i = 0; i < spec.sources.size(); ++i)
      srcs.push_back(&source(ckpt, spec, i));
    if (c.kind == WeightTransformKind::Stack) {
      for (const TensorView *s : srcs)
        appendConverted(*s, t.dtype, t.bytes);
      t.shape = s0.shape;
      t.shape.insert(t.shape.begin(), int64_t(srcs.size()));
    } else {
      // Concat: for each outer index, each source's contiguous block in turn.
      const int axis = normAxis(c.axis, s0.shape.size(), weightWhere(spec));
      const size_t es = dtypeSize(t.dtype);
      const int64_t outer = prod(s0.shape, 0, size_t(axis));
      const int64_t inner = prod(s0.shape, size_t(axis) + 1, s0.shape.size());
      std::vector<HostTensor> conv(srcs.size()); // sources in t.dtype
      int64_t total = 0;
      for (size_t i = 0; i < srcs.size(); ++i) {
        appendConverted(*srcs[i], t.dtype, conv[i].bytes);
        total += srcs[i]->shape[size_t(axis)];
      }
      t.shape = s0.shape;
      t.shape[size_t(axis)] = total;
      t.bytes.resize(size_t(t.numel()) * es);
      uint8_t *dst = t.bytes.data();
      for (int64_t o = 0; o < outer; ++o)
        for (size_t i = 0; i < srcs.size(); ++i) {
          const size_t block =
              size_t(srcs[i]->shape[size_t(axis)] * inner) * es;
          if (block) {
            std::memcpy(dst, conv[i].bytes.data() + size_t(o) * block, block);
            dst += block;
          }
        }
    }
    first = 1;
  } else {
    const TensorView &s = source(ckpt, spec, 0);
    t.dtype = s.dtype;
    t.shape = s.shape;
    appendConverted(s, s.dtype, t.bytes);
  }

  for (size_t i = first; i < spec.transforms.size(); ++i) {
    const WeightTransformSpec &x = spec.transforms[i];
    switch (x.kind) {
    case WeightTransformKind::Transpose:
      transpose2d(t);
      break;
    case WeightTransformKind::Slice:
      slice(t, normAxis(x.axis, t.shape.size(), weightWhere(spec)), x.start,
            x.size);
      break;
    case WeightTransformKind::Cast:
      castInPlace(t, x.dtype);
      break;
    default:
      break; // rejected by inferWeightShape
    }
  }
  INGOT_CHECK(t.dtype == finalDtype && t.shape == finalShape,
              weightWhere(spec) + ": materialized " + dtypeName(t.dtype) +
                  shapeStr(t.shape) + " differs from the inferred " +
                  dtypeName(finalDtype) + shapeStr(finalShape) +
                  " (internal error)");
  return t;
}

} // namespace ingot
