// onnxruntime contrib ops (domain com.microsoft) that exported transformer
// graphs use: FastGelu, BiasGelu, QuickGelu, RotaryEmbedding; and ONNX's own
// RotaryEmbedding (opset 23), which shares the rotation code (rotateHead, also
// used by GroupQueryAttention's do_rotary in nd_nn_attention.cpp).
//
// Semantics follow onnxruntime's CPU kernels (checked against onnxruntime by
// runtime/tests/nd_contrib_vs_ort.py). Values are computed in double and
// rounded once to the tensor's dtype; elements/heads are independent, so the
// thread count cannot change a result.
#include "nd_copy.h"

#include <cmath>

namespace ingot::nd {
namespace {

// y[i] = f(x[i] + bias[i % H]) over chunks, bias (1-D [H], H = last dim of x)
// optional.
template <class F> void mapWithBias(KernelContext &c, const Tensor *bias, F f) {
  const std::string &op = c.opType();
  const Tensor &x = c.in(0);
  INGOT_CHECK(isFloatDType(x.dtype), op + ": input must be a float tensor, got " +
                                         std::string(dtypeName(x.dtype)));
  std::vector<double> b;
  int64_t H = 1;
  if (bias) {
    INGOT_CHECK(bias->dtype == x.dtype, op + ": bias dtype differs from the input");
    H = x.rank() ? x.shape.back() : 1;
    INGOT_CHECK(bias->rank() == 1 && bias->shape[0] == H,
                op + ": bias must be 1-D of the input's last dim " + std::to_string(H) +
                    ", got " + shapeToString(bias->shape));
    b = toDoubles(*bias);
  }
  Tensor &y = c.output(0, x.dtype, x.shape);
  const int64_t n = x.numel(), chunk = 4096;
  const size_t es = dtypeSize(x.dtype);
#pragma omp parallel if (n >= (int64_t(1) << 15))
  {
    std::vector<double> buf(static_cast<size_t>(chunk));
#pragma omp for schedule(static)
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
      const int64_t len = std::min(chunk, n - c0);
      loadDoubles(x.dtype, static_cast<const char *>(x.data) + c0 * int64_t(es), len, buf.data());
      for (int64_t i = 0; i < len; ++i) {
        double v = buf[size_t(i)];
        if (!b.empty())
          v += b[size_t((c0 + i) % H)];
        buf[size_t(i)] = f(v);
      }
      storeDoubles(x.dtype, buf.data(), len, static_cast<char *>(y.data) + c0 * int64_t(es));
    }
  }
}

void fastGeluKernel(KernelContext &c) {
  // 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))
  mapWithBias(c, c.input(1), [](double x) {
    return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  });
}

void biasGeluKernel(KernelContext &c) {
  // Gelu with erf of (A + B).
  mapWithBias(c, &c.in(1), [](double x) { return 0.5 * x * (1.0 + std::erf(x * M_SQRT1_2)); });
}

void quickGeluKernel(KernelContext &c) {
  const double alpha = c.attrs().getFloat("alpha", 1.702);
  mapWithBias(c, nullptr, [alpha](double x) { return x / (1.0 + std::exp(-alpha * x)); });
}

} // namespace

void rotateHead(double *v, const double *cs, const double *sn, int64_t rd, bool interleaved) {
  const int64_t half = rd / 2;
  for (int64_t i = 0; i < half; ++i) {
    // Pair (x1, x2) = interleaved ? (2i, 2i+1) : (i, i + rd/2).
    const int64_t i1 = interleaved ? 2 * i : i, i2 = interleaved ? 2 * i + 1 : i + half;
    const double x1 = v[i1], x2 = v[i2];
    v[i1] = x1 * cs[i] - x2 * sn[i];
    v[i2] = x2 * cs[i] + x1 * sn[i];
  }
}

namespace {

// The rotation shared by both RotaryEmbedding forms. Input elements of
// (b, s, n, d) are at b·bs + s·ss + n·ns + d. cosAt(b, s) returns the offset of
// the rd/2 cos/sin values for that token.
template <class CosAt>
void rotate(const Tensor &x, Tensor &y, const std::vector<double> &cosv,
            const std::vector<double> &sinv, int64_t B, int64_t S, int64_t N, int64_t Hd,
            int64_t rd, int64_t bs, int64_t ss, int64_t ns, bool interleaved, CosAt cosAt) {
  const size_t es = dtypeSize(x.dtype);
#pragma omp parallel if (x.numel() >= (int64_t(1) << 15))
  {
    std::vector<double> in(static_cast<size_t>(Hd)), out(static_cast<size_t>(Hd));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * S * N; ++t) {
      const int64_t b = t / (S * N), s = t / N % S, n = t % N;
      const int64_t off = (b * bs + s * ss + n * ns) * int64_t(es);
      loadDoubles(x.dtype, static_cast<const char *>(x.data) + off, Hd, in.data());
      const int64_t co = cosAt(b, s);
      const double *cs = cosv.data() + co, *sn = sinv.data() + co;
      out = in; // dims past rd pass through
      rotateHead(out.data(), cs, sn, rd, interleaved);
      storeDoubles(x.dtype, out.data(), Hd, static_cast<char *>(y.data) + off);
    }
  }
}

// Checks the float caches: same dtype as x, 2-D or 3-D, last dim >= rd/2.
void checkCaches(const std::string &op, const Tensor &x, const Tensor &cosT, const Tensor &sinT) {
  INGOT_CHECK(isFloatDType(x.dtype), op + ": input must be a float tensor");
  INGOT_CHECK(cosT.dtype == x.dtype && sinT.dtype == x.dtype,
              op + ": cos_cache/sin_cache dtype differs from the input");
  INGOT_CHECK(cosT.shape == sinT.shape, op + ": cos_cache " + shapeToString(cosT.shape) +
                                            " and sin_cache " + shapeToString(sinT.shape) +
                                            " differ in shape");
}

// com.microsoft RotaryEmbedding: input [B,S,hidden] or [B,N,S,head],
// position_ids [B,S] or one start position, caches [max_pos, rd/2].
void msRotaryKernel(KernelContext &c) {
  const std::string op = "RotaryEmbedding";
  const Tensor &x = c.in(0);
  const Tensor &pos = c.in(1);
  const Tensor &cosT = c.in(2), &sinT = c.in(3);
  checkCaches(op, x, cosT, sinT);
  INGOT_CHECK(x.rank() == 3 || x.rank() == 4,
              op + ": input must be 3-D or 4-D, got " + shapeToString(x.shape));
  INGOT_CHECK(cosT.rank() == 2, op + ": cos_cache must be 2-D, got " + shapeToString(cosT.shape));
  const bool interleaved = c.attrs().getInt("interleaved", 0) != 0;
  int64_t numHeads = c.attrs().getInt("num_heads", 0);
  const int64_t rdAttr = c.attrs().getInt("rotary_embedding_dim", 0);
  INGOT_CHECK(rdAttr == 0 || numHeads > 0,
              op + ": num_heads is required when rotary_embedding_dim is set");
  const int64_t B = x.shape[0];
  int64_t S, N, Hd, bs, ss, ns;
  if (x.rank() == 4) { // [B, N, S, head]
    N = x.shape[1];
    S = x.shape[2];
    Hd = x.shape[3];
    ss = Hd;
    ns = S * Hd;
    bs = N * S * Hd;
  } else {
    S = x.shape[1];
    const int64_t hidden = x.shape[2];
    Hd = numHeads > 0 ? hidden / numHeads : cosT.shape[1] * 2;
    INGOT_CHECK(Hd > 0 && hidden % Hd == 0, op + ": hidden size " + std::to_string(hidden) +
                                                " is not a multiple of the head size " +
                                                std::to_string(Hd));
    N = hidden / Hd;
    ns = Hd;
    ss = N * Hd;
    bs = S * ss;
  }
  const int64_t rd = rdAttr > 0 ? rdAttr : Hd;
  INGOT_CHECK(rd % 2 == 0 && rd <= Hd, op + ": rotary dim " + std::to_string(rd) +
                                           " must be even and at most the head size " +
                                           std::to_string(Hd));
  const int64_t maxPos = cosT.shape[0], cw = cosT.shape[1];
  INGOT_CHECK(cw >= rd / 2, op + ": cos_cache " + shapeToString(cosT.shape) +
                                " has fewer than rotary_dim/2 = " + std::to_string(rd / 2) +
                                " columns");
  std::vector<int64_t> p = readInts(op, pos);
  const bool perToken = p.size() != 1;
  INGOT_CHECK(!perToken || (pos.rank() == 2 && pos.shape[0] == B && pos.shape[1] == S),
              op + ": position_ids must be [batch, seq] = [" + std::to_string(B) + "," +
                  std::to_string(S) + "] or one start position, got " +
                  shapeToString(pos.shape));
  for (int64_t b = 0; b < (perToken ? B : 1); ++b)
    for (int64_t s = 0; s < S; ++s) {
      const int64_t q = perToken ? p[size_t(b * S + s)] : p[0] + s;
      INGOT_CHECK(q >= 0 && q < maxPos, op + ": position " + std::to_string(q) +
                                            " is outside the cos/sin cache of " +
                                            std::to_string(maxPos) + " positions");
    }
  std::vector<double> cosv = toDoubles(cosT), sinv = toDoubles(sinT);
  Tensor &y = c.output(0, x.dtype, x.shape);
  rotate(x, y, cosv, sinv, B, S, N, Hd, rd, bs, ss, ns, interleaved, [&](int64_t b, int64_t s) {
    return (perToken ? p[size_t(b * S + s)] : p[0] + s) * cw;
  });
}

// ONNX RotaryEmbedding (opset 23): X [B,N,S,head] or [B,S,hidden] (num_heads
// given), cos/sin [B,S,rd/2] or, with position_ids [B,S], [max_pos, rd/2].
void onnxRotaryKernel(KernelContext &c) {
  const std::string op = "RotaryEmbedding";
  const Tensor &x = c.in(0);
  const Tensor &cosT = c.in(1), &sinT = c.in(2);
  const Tensor *pos = c.input(3);
  checkCaches(op, x, cosT, sinT);
  INGOT_CHECK(x.rank() == 3 || x.rank() == 4,
              op + ": input must be 3-D or 4-D, got " + shapeToString(x.shape));
  const bool interleaved = c.attrs().getInt("interleaved", 0) != 0;
  const int64_t numHeads = c.attrs().getInt("num_heads", 0);
  const int64_t B = x.shape[0];
  int64_t S, N, Hd, bs, ss, ns;
  if (x.rank() == 4) { // [B, N, S, head]
    N = x.shape[1];
    S = x.shape[2];
    Hd = x.shape[3];
    ss = Hd;
    ns = S * Hd;
    bs = N * S * Hd;
  } else {
    INGOT_CHECK(numHeads > 0, op + ": num_heads is required for a 3-D input");
    S = x.shape[1];
    INGOT_CHECK(x.shape[2] % numHeads == 0, op + ": hidden size is not a multiple of num_heads");
    N = numHeads;
    Hd = x.shape[2] / numHeads;
    ns = Hd;
    ss = N * Hd;
    bs = S * ss;
  }
  const int64_t rdAttr = c.attrs().getInt("rotary_embedding_dim", 0);
  const int64_t rd = rdAttr > 0 ? rdAttr : Hd;
  INGOT_CHECK(rd % 2 == 0 && rd <= Hd, op + ": rotary dim " + std::to_string(rd) +
                                           " must be even and at most the head size " +
                                           std::to_string(Hd));
  INGOT_CHECK(cosT.rank() >= 1 && cosT.shape.back() == rd / 2,
              op + ": cos_cache last dim must be rotary_dim/2 = " + std::to_string(rd / 2) +
                  ", got " + shapeToString(cosT.shape));
  std::vector<double> cosv = toDoubles(cosT), sinv = toDoubles(sinT);
  Tensor &y = c.output(0, x.dtype, x.shape);
  const int64_t half = rd / 2;
  if (pos) {
    std::vector<int64_t> p = readInts(op, *pos);
    INGOT_CHECK(pos->rank() == 2 && pos->shape[0] == B && pos->shape[1] == S,
                op + ": position_ids must be [" + std::to_string(B) + "," + std::to_string(S) +
                    "], got " + shapeToString(pos->shape));
    INGOT_CHECK(cosT.rank() == 2, op + ": with position_ids, cos_cache must be 2-D");
    for (int64_t q : p)
      INGOT_CHECK(q >= 0 && q < cosT.shape[0], op + ": position " + std::to_string(q) +
                                                   " is outside the cos/sin cache");
    rotate(x, y, cosv, sinv, B, S, N, Hd, rd, bs, ss, ns, interleaved,
           [&](int64_t b, int64_t s) { return p[size_t(b * S + s)] * half; });
  } else {
    INGOT_CHECK(cosT.rank() == 3 && cosT.shape[0] == B && cosT.shape[1] == S,
                op + ": without position_ids, cos_cache must be [" + std::to_string(B) + "," +
                    std::to_string(S) + "," + std::to_string(half) + "], got " +
                    shapeToString(cosT.shape));
    rotate(x, y, cosv, sinv, B, S, N, Hd, rd, bs, ss, ns, interleaved,
           [&](int64_t b, int64_t s) { return (b * S + s) * half; });
  }
}

} // namespace

void registerNnContribKernels(Registry &r) {
  r.add("com.microsoft", "FastGelu", fastGeluKernel);
  r.add("com.microsoft", "BiasGelu", biasGeluKernel);
  r.add("com.microsoft", "QuickGelu", quickGeluKernel);
  r.add("com.microsoft", "RotaryEmbedding", msRotaryKernel);
  r.add("", "RotaryEmbedding", onnxRotaryKernel);
}

} // namespace ingot::nd
