// Element-type dispatch and numpy broadcasting for the N-d kernels
// (nd_elementwise*.cpp, nd_reduce*.cpp), in namespace ingot::nd::typed.
//
// - Storage types: one C++ type per DType. The 16-bit floats and bool get
//   their own tag structs (half_t, bfloat_t, bool_t) so that a kernel cannot
//   mistake f16 bits for a uint16 value; bool_t reads any nonzero byte as true
//   (a tensor from outside is not trusted to hold only 0/1).
// - Compute types: ld() widens a storage value to the type arithmetic is done
//   in (float for f16/bf16, the type itself otherwise); st() narrows back with
//   round-to-nearest-even. For f32/f64/ints both are identities, so loops over
//   them vectorize.
// - dispatch<Allowed>(op, dtype, f) calls f(TypeTag<T>{}) for the storage type
//   of `dtype` when it is in the `Allowed` set, else throws naming op and dtype.
//   Only the allowed types are instantiated, so a kernel body need not compile
//   for types it does not support.
// - BcastPlan/forEachRow: the broadcast index scheme. Size-1 output dims are
//   dropped and adjacent dims that every input walks contiguously are merged,
//   so the innermost loop has a per-input stride of 0 or 1. Rows are processed
//   in fixed chunks (OpenMP over chunks for large outputs); every output
//   element is computed by exactly one iteration, so results do not depend on
//   the thread count.
#pragma once
#include "nd_internal.h"
#include "ingot/runtime/error.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

// A nested namespace: the other kernel groups have their own helpers (e.g. an
// Elem template in nd_copy.h) and must not collide with these across TUs.
namespace ingot::nd::typed {

struct half_t { uint16_t bits; };
struct bfloat_t { uint16_t bits; };
struct bool_t { uint8_t v; };

template <class T> struct Elem {
  using C = T;
  static constexpr C load(T v) { return v; }
  static constexpr T store(C v) { return v; }
};
template <> struct Elem<half_t> {
  using C = float;
  static float load(half_t v) { return f16ToFloat(v.bits); }
  static half_t store(float v) { return {floatToF16(v)}; }
};
template <> struct Elem<bfloat_t> {
  using C = float;
  static float load(bfloat_t v) { return bf16ToFloat(v.bits); }
  static bfloat_t store(float v) { return {floatToBf16(v)}; }
};
template <> struct Elem<bool_t> {
  using C = bool;
  static bool load(bool_t v) { return v.v != 0; }
  static bool_t store(bool v) { return {uint8_t(v ? 1 : 0)}; }
};

template <class T> using Comp = typename Elem<T>::C;
template <class T> inline Comp<T> ld(T v) { return Elem<T>::load(v); }
template <class T> inline T st(Comp<T> v) { return Elem<T>::store(v); }

// True for the storage types whose compute type is a floating-point type.
template <class T> constexpr bool kIsFloat = std::is_floating_point_v<Comp<T>>;
template <class T> constexpr bool kIsBool = std::is_same_v<T, bool_t>;
template <class T> constexpr bool kIsInt = std::is_integral_v<T>; // not bool_t

template <class T> struct TypeTag { using type = T; };

constexpr uint32_t dtBit(DType d) { return 1u << unsigned(d); }
constexpr uint32_t kFloatTypes =
    dtBit(DType::F32) | dtBit(DType::F64) | dtBit(DType::F16) | dtBit(DType::BF16);
constexpr uint32_t kSignedInts =
    dtBit(DType::I8) | dtBit(DType::I16) | dtBit(DType::I32) | dtBit(DType::I64);
constexpr uint32_t kUnsignedInts =
    dtBit(DType::U8) | dtBit(DType::U16) | dtBit(DType::U32) | dtBit(DType::U64);
constexpr uint32_t kIntTypes = kSignedInts | kUnsignedInts;
constexpr uint32_t kNumericTypes = kFloatTypes | kIntTypes;
constexpr uint32_t kAllTypes = kNumericTypes | dtBit(DType::Bool);

[[noreturn]] inline void throwDType(std::string_view op, DType dt) {
  throw Error(std::string(op) + ": unsupported dtype " + dtypeName(dt));
}

template <uint32_t Allowed, class F> void dispatch(std::string_view op, DType dt, F &&f) {
#define INGOT_ND_CASE(D, T)                                                    \
  case DType::D:                                                               \
    if constexpr ((Allowed & dtBit(DType::D)) != 0) {                          \
      f(TypeTag<T>{});                                                         \
      return;                                                                  \
    }                                                                          \
    break;
  switch (dt) {
    INGOT_ND_CASE(F32, float)
    INGOT_ND_CASE(F64, double)
    INGOT_ND_CASE(F16, half_t)
    INGOT_ND_CASE(BF16, bfloat_t)
    INGOT_ND_CASE(I8, int8_t)
    INGOT_ND_CASE(I16, int16_t)
    INGOT_ND_CASE(I32, int32_t)
    INGOT_ND_CASE(I64, int64_t)
    INGOT_ND_CASE(U8, uint8_t)
    INGOT_ND_CASE(U16, uint16_t)
    INGOT_ND_CASE(U32, uint32_t)
    INGOT_ND_CASE(U64, uint64_t)
    INGOT_ND_CASE(Bool, bool_t)
  }
#undef INGOT_ND_CASE
  throwDType(op, dt);
}

// ONNX TensorProto.DataType code -> DType. Returns false for element types
// Ingot does not support (string, complex, float8, int4, ...).
inline bool dtypeFromOnnx(int64_t code, DType &out) {
  switch (code) {
  case 1: out = DType::F32; return true;
  case 2: out = DType::U8; return true;
  case 3: out = DType::I8; return true;
  case 4: out = DType::U16; return true;
  case 5: out = DType::I16; return true;
  case 6: out = DType::I32; return true;
  case 7: out = DType::I64; return true;
  case 9: out = DType::Bool; return true;
  case 10: out = DType::F16; return true;
  case 11: out = DType::F64; return true;
  case 12: out = DType::U32; return true;
  case 13: out = DType::U64; return true;
  case 16: out = DType::BF16; return true;
  default: return false;
  }
}

// ---- Scalar conversions (Cast semantics) -----------------------------------

// double -> float rounded to odd: a second rounding to a narrower type (f16,
// bf16) then rounds as if done once from the double.
inline float doubleToFloatOdd(double d) {
  float f = float(d);
  if (std::isfinite(f) && double(f) != d) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 1u) == 0)
      f = std::nextafter(f, double(f) < d ? std::numeric_limits<float>::infinity()
                                          : -std::numeric_limits<float>::infinity());
  }
  return f;
}

// Float -> integer: truncation toward zero. ONNX leaves out-of-range values
// undefined; Ingot saturates and maps NaN to 0 so the result is deterministic
// (and the conversion never has undefined behaviour).
template <class I, class F> inline I floatToInt(F v) {
  if (!(v == v))
    return 0;
  if (v <= F(std::numeric_limits<I>::lowest()))
    return std::numeric_limits<I>::lowest();
  // max() of 64-bit types rounds up to 2^63 / 2^64 in F: compare with >=.
  if (v >= F(std::numeric_limits<I>::max()))
    return std::numeric_limits<I>::max();
  return I(v);
}

// Converts one storage value to another storage type.
template <class Dst, class Src> inline Dst castElem(Src s) {
  if constexpr (std::is_same_v<Dst, Src>) {
    return s;
  } else if constexpr (kIsBool<Dst>) {
    return {uint8_t(ld(s) != 0 ? 1 : 0)};
  } else if constexpr (kIsBool<Src>) {
    if constexpr (kIsFloat<Dst>)
      return st<Dst>(Comp<Dst>(s.v != 0 ? 1 : 0));
    else
      return Dst(s.v != 0 ? 1 : 0);
  } else if constexpr (std::is_same_v<Dst, half_t> || std::is_same_v<Dst, bfloat_t>) {
    if constexpr (std::is_same_v<Src, double>)
      return st<Dst>(doubleToFloatOdd(s));
    else if constexpr (kIsFloat<Src>)
      return st<Dst>(float(ld(s)));           // float or the other 16-bit type
    else
      return st<Dst>(doubleToFloatOdd(double(s))); // integers
  } else if constexpr (kIsFloat<Dst>) {          // f32, f64
    return Dst(ld(s));
  } else if constexpr (kIsFloat<Src>) {          // float -> int
    return floatToInt<Dst>(ld(s));
  } else {
    return Dst(s); // int -> int: two's complement wrap, as numpy
  }
}

// ---- Broadcasting -----------------------------------------------------------

template <int K> struct BcastPlan {
  int64_t numel = 0;
  int nd = 1;
  std::array<int64_t, kMaxRank> dims{};
  std::array<std::array<int64_t, kMaxRank>, K> strides{};
  int64_t innerStride(int k) const { return strides[size_t(k)][size_t(nd - 1)]; }
};

// `out` must be the broadcast of the input shapes (broadcastShapes).
template <int K>
BcastPlan<K> planBroadcast(std::string_view op, const std::vector<int64_t> &out,
                           const std::array<const std::vector<int64_t> *, K> &in) {
  INGOT_CHECK(out.size() <= size_t(kMaxRank),
              std::string(op) + ": rank " + std::to_string(out.size()) +
                  " exceeds the maximum of " + std::to_string(kMaxRank));
  BcastPlan<K> p;
  p.numel = product(out);
  const int R = int(out.size());
  // Per input, its contiguous strides aligned to the output's trailing dims.
  std::array<std::array<int64_t, kMaxRank>, K> full{};
  for (int k = 0; k < K; ++k) {
    const auto &s = *in[size_t(k)];
    int64_t stride = 1;
    for (int d = R - 1; d >= 0; --d) {
      int sd = d - (R - int(s.size()));
      int64_t dim = sd >= 0 ? s[size_t(sd)] : 1;
      full[size_t(k)][size_t(d)] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  int nd = 0;
  for (int d = 0; d < R; ++d) {
    if (out[size_t(d)] == 1)
      continue;
    bool merge = nd > 0;
    for (int k = 0; k < K && merge; ++k)
      merge = p.strides[size_t(k)][size_t(nd - 1)] ==
              full[size_t(k)][size_t(d)] * out[size_t(d)];
    if (merge) {
      p.dims[size_t(nd - 1)] *= out[size_t(d)];
      for (int k = 0; k < K; ++k)
        p.strides[size_t(k)][size_t(nd - 1)] = full[size_t(k)][size_t(d)];
    } else {
      p.dims[size_t(nd)] = out[size_t(d)];
      for (int k = 0; k < K; ++k)
        p.strides[size_t(k)][size_t(nd)] = full[size_t(k)][size_t(d)];
      ++nd;
    }
  }
  if (nd == 0) { // every dim is 1 (or a scalar)
    p.dims[0] = 1;
    for (int k = 0; k < K; ++k)
      p.strides[size_t(k)][0] = 0;
    nd = 1;
  }
  p.nd = nd;
  return p;
}

// Elements per parallel chunk, and the size above which loops use threads.
constexpr int64_t kChunk = int64_t(1) << 14;
constexpr int64_t kParallelMin = int64_t(1) << 16;

// Calls fn(outOffset, inOffsets[K], n) for each innermost row of the output.
template <int K, class Fn> void forEachRow(const BcastPlan<K> &p, const Fn &fn) {
  const int64_t inner = p.dims[size_t(p.nd - 1)];
  if (p.numel == 0 || inner == 0)
    return;
  const int64_t rows = p.numel / inner;
  const int outer = p.nd - 1;
  auto rowOffsets = [&](int64_t r, std::array<int64_t, K> &off) {
    for (int d = outer - 1; d >= 0; --d) {
      const int64_t i = r % p.dims[size_t(d)];
      r /= p.dims[size_t(d)];
      for (int k = 0; k < K; ++k)
        off[size_t(k)] += i * p.strides[size_t(k)][size_t(d)];
    }
  };
  if (inner >= kChunk) { // long rows (e.g. same-shape operands): split them
    const int64_t segs = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (p.numel > kParallelMin)
    for (int64_t t = 0; t < rows * segs; ++t) {
      const int64_t r = t / segs, b = (t % segs) * kChunk, e = std::min(inner, b + kChunk);
      std::array<int64_t, K> off{};
      rowOffsets(r, off);
      for (int k = 0; k < K; ++k)
        off[size_t(k)] += b * p.strides[size_t(k)][size_t(p.nd - 1)];
      fn(r * inner + b, off.data(), e - b);
    }
    return;
  }
  const int64_t perChunk = std::max<int64_t>(1, kChunk / inner);
  const int64_t chunks = (rows + perChunk - 1) / perChunk;
#pragma omp parallel for schedule(static) if (p.numel > kParallelMin && chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t r0 = c * perChunk, r1 = std::min(rows, r0 + perChunk);
    std::array<int64_t, kMaxRank> idx{};
    std::array<int64_t, K> off{};
    int64_t rem = r0;
    for (int d = outer - 1; d >= 0; --d) {
      idx[size_t(d)] = rem % p.dims[size_t(d)];
      rem /= p.dims[size_t(d)];
    }
    rowOffsets(r0, off);
    for (int64_t r = r0; r < r1; ++r) {
      fn(r * inner, off.data(), inner);
      for (int d = outer - 1; d >= 0; --d) {
        for (int k = 0; k < K; ++k)
          off[size_t(k)] += p.strides[size_t(k)][size_t(d)];
        if (++idx[size_t(d)] < p.dims[size_t(d)])
          break;
        for (int k = 0; k < K; ++k)
          off[size_t(k)] -= p.strides[size_t(k)][size_t(d)] * p.dims[size_t(d)];
        idx[size_t(d)] = 0;
      }
    }
  }
}

// Runs fn(begin, end) over [0, n) in chunks of `chunk` items, in parallel
// when `work` (elements touched; default n) is large. The chunking depends
// only on n and chunk, never on the thread count.
template <class Fn>
void parallelChunks(int64_t n, const Fn &fn, int64_t chunk = kChunk, int64_t work = -1) {
  if (n <= 0)
    return;
  chunk = std::max<int64_t>(chunk, 1);
  const int64_t chunks = (n + chunk - 1) / chunk;
  if (work < 0)
    work = n;
#pragma omp parallel for schedule(static) if (work > kParallelMin && chunks > 1)
  for (int64_t c = 0; c < chunks; ++c)
    fn(c * chunk, std::min(n, (c + 1) * chunk));
}

// out[i] = st(op(ld(in[i]))) over a contiguous range (threads when large).
template <class TI, class TO, class Op>
void mapContiguous(const TI *in, TO *out, int64_t n, const Op &op) {
  parallelChunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      out[i] = st<TO>(op(ld(in[i])));
  });
}

// ---- Integer arithmetic without undefined behaviour -----------------------
// Integer results wrap modulo 2^bits like numpy; narrow types compute in
// uint32 so that e.g. uint16 * uint16 cannot overflow a promoted int.
template <class C>
using WrapU = std::conditional_t<(sizeof(C) < 4), uint32_t, std::make_unsigned_t<C>>;

template <class C> inline C wrapAdd(C a, C b) {
  if constexpr (std::is_integral_v<C>) return C(WrapU<C>(a) + WrapU<C>(b));
  else return a + b;
}
template <class C> inline C wrapSub(C a, C b) {
  if constexpr (std::is_integral_v<C>) return C(WrapU<C>(a) - WrapU<C>(b));
  else return a - b;
}
template <class C> inline C wrapMul(C a, C b) {
  if constexpr (std::is_integral_v<C>) return C(WrapU<C>(a) * WrapU<C>(b));
  else return a * b;
}
template <class C> inline C negValue(C x) {
  if constexpr (std::is_integral_v<C>) return C(WrapU<C>(0) - WrapU<C>(x));
  else return -x;
}
template <class C> inline C absValue(C x) {
  if constexpr (std::is_floating_point_v<C>) return std::fabs(x);
  else if constexpr (std::is_unsigned_v<C>) return x;
  else return x < 0 ? negValue(x) : x;
}

// "[2,3]" for messages.
inline std::string shapeString(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

inline void checkSameDType(std::string_view op, const Tensor &a, const Tensor &b, int ia,
                           int ib) {
  INGOT_CHECK(a.dtype == b.dtype, std::string(op) + ": input " + std::to_string(ia) +
                                      " is " + dtypeName(a.dtype) + " but input " +
                                      std::to_string(ib) + " is " + dtypeName(b.dtype));
}

// The value of a one-element tensor of storage type T (Clip bounds, ...).
template <class T> inline Comp<T> scalarOf(std::string_view op, const Tensor &t,
                                           const char *what) {
  INGOT_CHECK(t.numel() == 1, std::string(op) + ": " + what + " must have one element, got shape " +
                                  shapeString(t.shape));
  return ld(t.as<T>()[0]);
}

} // namespace ingot::nd::typed
