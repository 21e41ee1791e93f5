// N-d matrix products: MatMul (numpy batch broadcasting, 1-D operands) and
// Gemm (transA/transB, alpha/beta, C broadcast). The norms live in
// nd_nn_norm.cpp, the com.microsoft activation/rotary ops in nd_nn_contrib.cpp,
// com.microsoft GroupQueryAttention in nd_nn_attention.cpp.
//
// Float types (f32, and f16/bf16 widened to f32) go through the project's
// batch-invariant GEMM (cpu::gemmInvariant / cpu::linear, which want the
// right operand as W[N,K]): every output element is summed in the same order
// whatever the batch, the row count or the thread count, so a MatMul gives
// bit-identical results for any threading. f64 runs double loops; integer
// types accumulate exactly in 64 bits (wrapping to the output type, as
// two's-complement arithmetic in the type would).
#include "nd_copy.h"
#include "../cpu_kernels.h"

#include <algorithm>
#include <type_traits>

namespace ingot::nd {
namespace {

// Widens a float tensor to f32 (no copy for f32).
const float *asF32(const Tensor &t, std::vector<float> &buf) {
  if (t.dtype == DType::F32)
    return t.as<float>();
  buf.resize(size_t(t.numel()));
  visitDType(t.dtype, [&](auto e) {
    using E = decltype(e);
    const auto *s = t.as<typename E::S>();
    for (size_t i = 0; i < buf.size(); ++i)
      buf[i] = float(E::get(s[i]));
  });
  return buf.data();
}

void storeF32(const float *src, int64_t n, DType dt, void *dst) {
  visitDType(dt, [&](auto e) {
    using E = decltype(e);
    auto *d = static_cast<typename E::S *>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = E::put(typename E::C(src[i]));
  });
}

// dst[C,R] = src[R,C]ᵀ (f32).
void transposeF32(const float *src, int64_t R, int64_t C, float *dst) {
  stridedCopy(dst, src, {C, R}, {1, C}, sizeof(float));
}

// out[b] = x[b] · W[b]ᵀ for `nb` products of [M,K]·[N,K]ᵀ (x, W by pointer
// lists). One product at a time runs cpu::linear (column-parallel); many small
// products run in parallel, each single-threaded. gemmInvariant makes both
// give the same bits.
void gemmBatchF32(const std::vector<const float *> &xs, const std::vector<const float *> &ws,
                  int64_t M, int64_t K, int64_t N, float *out) {
  const int64_t nb = int64_t(xs.size());
  if (M == 0 || N == 0 || nb == 0)
    return;
  if (K == 0) {
    std::fill(out, out + nb * M * N, 0.0f);
    return;
  }
  if (nb > 1 && M * N * K < (int64_t(1) << 20)) {
#pragma omp parallel for schedule(dynamic, 1) if (nb * M * N * K >= (int64_t(1) << 16))
    for (int64_t b = 0; b < nb; ++b)
      cpu::gemmInvariant(xs[size_t(b)], M, K, ws[size_t(b)], N, 0, N, out + b * M * N);
    return;
  }
  for (int64_t b = 0; b < nb; ++b)
    cpu::linear(xs[size_t(b)], M, K, ws[size_t(b)], N, nullptr, cpu::Activation::None,
                out + b * M * N);
}

// Exact/double accumulator for the non-f32 paths.
template <class C>
using AccOf = std::conditional_t<std::is_floating_point_v<C>, double,
                                 std::conditional_t<std::is_signed_v<C>, int64_t, uint64_t>>;

// out[M,N] = Σ_k a(m,k)·b(k,n), a/b addressed through strides (elements).
template <class E>
void gemmLoops(const typename E::S *a, int64_t sam, int64_t sak, const typename E::S *b,
               int64_t sbk, int64_t sbn, int64_t M, int64_t K, int64_t N,
               AccOf<typename E::C> *acc) {
  using Acc = AccOf<typename E::C>;
  std::fill(acc, acc + M * N, Acc(0));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      const Acc av = Acc(E::get(a[m * sam + k * sak]));
      Acc *row = acc + m * N;
      for (int64_t n = 0; n < N; ++n)
        row[n] += av * Acc(E::get(b[k * sbk + n * sbn]));
    }
}

void matMulKernel(KernelContext &c) {
  const Tensor &A = c.in(0), &B = c.in(1);
  INGOT_CHECK(A.dtype == B.dtype, std::string("MatMul: operand dtypes differ (") +
                                      dtypeName(A.dtype) + " and " + dtypeName(B.dtype) + ")");
  INGOT_CHECK(A.rank() >= 1 && B.rank() >= 1, "MatMul: operands must have rank >= 1");
  INGOT_CHECK(A.dtype != DType::Bool, "MatMul: bool operands are not supported");
  std::vector<int64_t> as = A.shape, bs = B.shape;
  const bool aVec = as.size() == 1, bVec = bs.size() == 1;
  if (aVec)
    as.insert(as.begin(), 1);
  if (bVec)
    bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  INGOT_CHECK(bs[bs.size() - 2] == K, "MatMul: inner dims differ: " + shapeToString(A.shape) +
                                          " x " + shapeToString(B.shape));
  std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  std::vector<int64_t> batch = broadcastShapes("MatMul", {ab, bb});
  std::vector<int64_t> out = batch;
  if (!aVec)
    out.push_back(M);
  if (!bVec)
    out.push_back(N);
  Tensor &O = c.output(0, A.dtype, out);
  const int64_t nb = product(batch);
  // Batch offsets of each operand (broadcast dims repeat).
  auto batchIndex = [&](const std::vector<int64_t> &s) {
    std::vector<int64_t> idx(static_cast<size_t>(nb));
    std::vector<int64_t> st = rowMajorStrides(s), str(batch.size(), 0);
    const size_t off = batch.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i)
      str[off + i] = s[i] == 1 ? 0 : st[i];
    for (int64_t b = 0; b < nb; ++b) {
      int64_t rem = b, o = 0;
      for (int d = int(batch.size()) - 1; d >= 0; --d) {
        o += (rem % batch[size_t(d)]) * str[size_t(d)];
        rem /= batch[size_t(d)];
      }
      idx[size_t(b)] = o;
    }
    return idx;
  };
  const std::vector<int64_t> ai = batchIndex(ab), bi = batchIndex(bb);
  if (O.numel() == 0)
    return;
  const int64_t aMat = M * K, bMat = K * N;
  if (A.dtype == DType::F32 || A.dtype == DType::F16 || A.dtype == DType::BF16) {
    std::vector<float> abuf, bbuf, obuf;
    const float *a = asF32(A, abuf), *b = asF32(B, bbuf);
    // W[N,K] per distinct B matrix.
    const int64_t nbB = product(bb);
    std::vector<float> wt(size_t(nbB * bMat));
    for (int64_t j = 0; j < nbB; ++j)
      transposeF32(b + j * bMat, K, N, wt.data() + j * bMat);
    float *o = O.dtype == DType::F32 ? O.as<float>()
                                     : (obuf.resize(size_t(O.numel())), obuf.data());
    bool bShared = true; // every product uses the same B: one tall GEMM
    for (int64_t x : bi)
      bShared = bShared && x == 0;
    bool aContig = true; // A's batches are its own consecutive matrices
    for (int64_t x = 0; x < nb; ++x)
      aContig = aContig && ai[size_t(x)] == x;
    if (bShared && aContig) {
      gemmBatchF32({a}, {wt.data()}, nb * M, K, N, o);
    } else {
      std::vector<const float *> xs(static_cast<size_t>(nb)), ws(static_cast<size_t>(nb));
      for (int64_t x = 0; x < nb; ++x) {
        xs[size_t(x)] = a + ai[size_t(x)] * aMat;
        ws[size_t(x)] = wt.data() + bi[size_t(x)] * bMat;
      }
      gemmBatchF32(xs, ws, M, K, N, o);
    }
    if (O.dtype != DType::F32)
      storeF32(o, O.numel(), O.dtype, O.data);
    return;
  }
  visitDType(A.dtype, [&](auto e) {
    using E = decltype(e);
    using S = typename E::S;
    using Acc = AccOf<typename E::C>;
    std::vector<Acc> acc(size_t(M * N));
    S *o = O.as<S>();
    for (int64_t x = 0; x < nb; ++x) {
      gemmLoops<E>(A.as<S>() + ai[size_t(x)] * aMat, K, 1, B.as<S>() + bi[size_t(x)] * bMat, N,
                   1, M, K, N, acc.data());
      for (int64_t i = 0; i < M * N; ++i)
        o[x * M * N + i] = E::put(typename E::C(acc[size_t(i)]));
    }
  });
}

void gemmKernel(KernelContext &c) {
  const Tensor &A = c.in(0), &B = c.in(1);
  const Tensor *C = c.input(2);
  INGOT_CHECK(A.rank() == 2 && B.rank() == 2, "Gemm: A and B must be 2-D, got " +
                                                  shapeToString(A.shape) + " and " +
                                                  shapeToString(B.shape));
  INGOT_CHECK(A.dtype == B.dtype && (!C || C->dtype == A.dtype), "Gemm: operand dtypes differ");
  INGOT_CHECK(A.dtype != DType::Bool, "Gemm: bool operands are not supported");
  const bool tA = c.attrs().getInt("transA", 0) != 0, tB = c.attrs().getInt("transB", 0) != 0;
  const double alpha = c.attrs().getFloat("alpha", 1.0), beta = c.attrs().getFloat("beta", 1.0);
  const int64_t M = tA ? A.shape[1] : A.shape[0], K = tA ? A.shape[0] : A.shape[1];
  const int64_t K2 = tB ? B.shape[1] : B.shape[0], N = tB ? B.shape[0] : B.shape[1];
  INGOT_CHECK(K == K2, "Gemm: inner dims differ: A " + shapeToString(A.shape) + (tA ? "ᵀ" : "") +
                           ", B " + shapeToString(B.shape) + (tB ? "ᵀ" : ""));
  // C broadcast to [M,N]: element (m,n) at m·cm + n·cn.
  int64_t cm = 0, cn = 0;
  if (C) {
    INGOT_CHECK(C->rank() <= 2, "Gemm: C must have rank <= 2");
    std::vector<int64_t> cs = C->shape;
    while (cs.size() < 2)
      cs.insert(cs.begin(), 1);
    INGOT_CHECK((cs[0] == 1 || cs[0] == M) && (cs[1] == 1 || cs[1] == N),
                "Gemm: C " + shapeToString(C->shape) + " does not broadcast to [" +
                    std::to_string(M) + "," + std::to_string(N) + "]");
    cn = cs[1] == 1 ? 0 : 1;
    cm = cs[0] == 1 ? 0 : cs[1];
  }
  Tensor &O = c.output(0, A.dtype, {M, N});
  if (O.numel() == 0)
    return;
  if (A.dtype == DType::F32 || A.dtype == DType::F16 || A.dtype == DType::BF16) {
    std::vector<float> abuf, bbuf, cbuf, xt, wt, acc(size_t(M * N));
    const float *a = asF32(A, abuf), *b = asF32(B, bbuf);
    const float *cc = C ? asF32(*C, cbuf) : nullptr;
    const float *x = a, *w = b;
    if (tA) {
      xt.resize(size_t(M * K));
      transposeF32(a, K, M, xt.data());
      x = xt.data();
    }
    if (!tB) {
      wt.resize(size_t(N * K));
      transposeF32(b, K, N, wt.data());
      w = wt.data();
    }
    gemmBatchF32({x}, {w}, M, K, N, acc.data());
    const float fa = float(alpha), fb = float(beta);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        float v = fa * acc[size_t(m * N + n)];
        if (cc)
          v += fb * cc[m * cm + n * cn];
        acc[size_t(m * N + n)] = v;
      }
    storeF32(acc.data(), M * N, O.dtype, O.data);
    return;
  }
  visitDType(A.dtype, [&](auto e) {
    using E = decltype(e);
    using S = typename E::S;
    using Acc = AccOf<typename E::C>;
    std::vector<Acc> acc(size_t(M * N));
    // A(m,k) = tA ? A[k,m] : A[m,k]; B(k,n) = tB ? B[n,k] : B[k,n].
    gemmLoops<E>(A.as<S>(), tA ? 1 : K, tA ? M : 1, B.as<S>(), tB ? 1 : N, tB ? K : 1, M, K, N,
                 acc.data());
    S *o = O.as<S>();
    const S *cp = C ? C->as<S>() : nullptr;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const Acc v = acc[size_t(m * N + n)];
        if (alpha == 1 && (beta == 1 || !cp)) { // exact for integers
          Acc r = v;
          if (cp)
            r += Acc(E::get(cp[m * cm + n * cn]));
          o[m * N + n] = E::put(typename E::C(r));
        } else {
          double r = alpha * double(v);
          if (cp)
            r += beta * double(E::get(cp[m * cm + n * cn]));
          o[m * N + n] = E::put(typename E::C(r));
        }
      }
  });
}

} // namespace

void registerNnKernels(Registry &r) {
  r.add("", "MatMul", matMulKernel);
  r.add("", "Gemm", gemmKernel);
  registerNnNormKernels(r);
  registerNnContribKernels(r);
  registerNnAttentionKernels(r);
}

} // namespace ingot::nd
