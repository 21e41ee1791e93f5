// Shared templates of the shape and nn kernel groups (nd_shape*.cpp,
// nd_nn*.cpp): typed element access for every DType, a strided N-d copy that
// does the work of Transpose/Slice/Expand/Tile/DepthToSpace, and the
// registration hooks of the files these groups are split into.
//
// Invariants: data movement is by element size (1, 2, 4 or 8 bytes), so the
// layout ops work for every dtype. Arithmetic on f16/bf16 happens in float
// (Elem<D>::C), on bool as bool. Index checks happen before any parallel
// region: an exception must never escape an OpenMP region.
#pragma once
#include "nd_internal.h"
#include "ingot/runtime/error.h"

#include <cstring>
#include <string>
#include <vector>

namespace ingot::nd {

// Sub-groups, registered by registerShapeKernels / registerNnKernels.
void registerShapeIndexKernels(Registry &r); // nd_shape_index.cpp
void registerShapeGenKernels(Registry &r);   // nd_shape_gen.cpp
void registerNnNormKernels(Registry &r);     // nd_nn_norm.cpp
void registerNnContribKernels(Registry &r);  // nd_nn_contrib.cpp
void registerNnAttentionKernels(Registry &r); // nd_nn_attention.cpp

// Rotary embedding of one head vector, in place (nd_nn_contrib.cpp; shared by
// RotaryEmbedding and GroupQueryAttention): the first rd elements are rotated
// in pairs (2i, 2i+1) when interleaved, else (i, i + rd/2), by the angle whose
// cosine/sine are cs[i]/sn[i], i < rd/2. Elements from rd on are untouched.
void rotateHead(double *v, const double *cs, const double *sn, int64_t rd, bool interleaved);

// Element access: S is the stored type, C the type arithmetic happens in.
template <DType D> struct Elem;
#define INGOT_ND_ELEM(D, S_, C_, GET, PUT)                                                        \
  template <> struct Elem<D> {                                                                 \
    using S = S_;                                                                              \
    using C = C_;                                                                              \
    static constexpr DType dtype = D;                                                          \
    static C get(S v) { return GET; }                                                          \
    static S put(C v) { return PUT; }                                                          \
  };
INGOT_ND_ELEM(DType::F32, float, float, v, v)
INGOT_ND_ELEM(DType::F64, double, double, v, v)
INGOT_ND_ELEM(DType::F16, uint16_t, float, f16ToFloat(v), floatToF16(v))
INGOT_ND_ELEM(DType::BF16, uint16_t, float, bf16ToFloat(v), floatToBf16(v))
INGOT_ND_ELEM(DType::I8, int8_t, int8_t, v, v)
INGOT_ND_ELEM(DType::I16, int16_t, int16_t, v, v)
INGOT_ND_ELEM(DType::I32, int32_t, int32_t, v, v)
INGOT_ND_ELEM(DType::I64, int64_t, int64_t, v, v)
INGOT_ND_ELEM(DType::U8, uint8_t, uint8_t, v, v)
INGOT_ND_ELEM(DType::U16, uint16_t, uint16_t, v, v)
INGOT_ND_ELEM(DType::U32, uint32_t, uint32_t, v, v)
INGOT_ND_ELEM(DType::U64, uint64_t, uint64_t, v, v)
INGOT_ND_ELEM(DType::Bool, uint8_t, bool, v != 0, uint8_t(v ? 1 : 0))
#undef INGOT_ND_ELEM

// Calls f(Elem<dt>{}) for the runtime dtype dt.
template <class F> void visitDType(DType dt, F &&f) {
  switch (dt) {
  case DType::F32: f(Elem<DType::F32>{}); return;
  case DType::F64: f(Elem<DType::F64>{}); return;
  case DType::F16: f(Elem<DType::F16>{}); return;
  case DType::BF16: f(Elem<DType::BF16>{}); return;
  case DType::I8: f(Elem<DType::I8>{}); return;
  case DType::I16: f(Elem<DType::I16>{}); return;
  case DType::I32: f(Elem<DType::I32>{}); return;
  case DType::I64: f(Elem<DType::I64>{}); return;
  case DType::U8: f(Elem<DType::U8>{}); return;
  case DType::U16: f(Elem<DType::U16>{}); return;
  case DType::U32: f(Elem<DType::U32>{}); return;
  case DType::U64: f(Elem<DType::U64>{}); return;
  case DType::Bool: f(Elem<DType::Bool>{}); return;
  }
  throw Error("invalid dtype value " + std::to_string(int(dt)));
}

inline bool isFloatDType(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}

// Calls f(uintN_t{}) for a plain word of the element size (data movement).
template <class F> void visitWord(size_t elemSize, F &&f) {
  switch (elemSize) {
  case 1: f(uint8_t{}); return;
  case 2: f(uint16_t{}); return;
  case 4: f(uint32_t{}); return;
  case 8: f(uint64_t{}); return;
  }
  throw Error("unsupported element size " + std::to_string(elemSize));
}

// Converts n elements of `src` (dtype dt) to/from double.
void loadDoubles(DType dt, const void *src, int64_t n, double *dst);
void storeDoubles(DType dt, const double *src, int64_t n, void *dst);
std::vector<double> toDoubles(const Tensor &t);
// Converts n elements between dtypes (ONNX Cast semantics for the values a
// double holds exactly; used for small tensors such as OneHot values).
void convertElems(DType from, const void *src, DType to, void *dst, int64_t n);

// ONNX TensorProto.DataType value -> DType ('dtype'/'stash_type' attributes);
// throws naming `op` for types the runtime does not have.
DType onnxDType(const std::string &op, int64_t onnxType);

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape);
std::string shapeToString(const std::vector<int64_t> &shape);

// dst (contiguous, shape `shape`) [i] = src[Σ idx_d · strides[d]] in elements
// of `elemSize` bytes; strides may be zero (broadcast) or negative (reversed).
// `src` points at the element of index 0. Multi-threaded for big copies.
void stridedCopy(void *dst, const void *src, std::vector<int64_t> shape,
                 std::vector<int64_t> strides, size_t elemSize);

// Reads an optional integer input as int64 values; `def` when omitted.
inline std::vector<int64_t> optInts(const KernelContext &c, int i,
                                    const std::vector<int64_t> &def = {}) {
  const Tensor *t = c.input(i);
  return t ? readInts(c.opType(), *t) : def;
}

// Reads a scalar (or one-element) tensor as double.
double scalarAsDouble(std::string_view op, const Tensor &t, const char *what);

// Output `i` with the bytes of input tensor `src` (shape may differ).
inline void copyToOutput(KernelContext &c, int i, const Tensor &src,
                         const std::vector<int64_t> &shape) {
  Tensor &o = c.output(i, src.dtype, shape);
  INGOT_CHECK(o.nbytes() == src.nbytes(), c.opType() + ": output size mismatch");
  if (src.nbytes())
    std::memcpy(o.data, src.data, src.nbytes());
}

} // namespace ingot::nd
