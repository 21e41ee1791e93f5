// fp32 CPU kernels: threading set-up, embedding, linear (the batch-invariant
// GEMM of cpu_kernels_gemm.cpp) with bias/activation epilogue, norms,
// silu·mul, softmax, gather-last, logits.
// Rope, attention, the elementwise interpreter and MoE live in sibling files.
// Threading: one OpenMP pool; GEMMs run on column slices inside OpenMP
// regions (see cpu_kernels.h). OpenBLAS stays pinned to one thread so any
// BLAS call never starts a second pool.
#include "cpu_kernels.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

namespace ingot {
namespace cpu {

namespace {
int gThreads = 0;
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 14;
} // namespace

void setNumThreads(int n) {
  if (n <= 0)
    n = std::max(1, omp_get_num_procs());
  gThreads = n;
  omp_set_num_threads(n);
  // BLAS calls run single-threaded inside OpenMP regions (see linear()).
  openblas_set_num_threads(1);
}

int numThreads() {
  if (gThreads <= 0)
    setNumThreads(0);
  return gThreads;
}

bool parseActivation(const char *s, Activation &out) {
  static const struct {
    const char *name;
    Activation act;
  } table[] = {{"none", Activation::None},
               {"", Activation::None},
               {"gelu", Activation::Gelu},
               {"gelu_tanh", Activation::GeluTanh},
               {"relu", Activation::Relu},
               {"silu", Activation::Silu}};
  for (const auto &e : table)
    if (std::strcmp(s, e.name) == 0) {
      out = e.act;
      return true;
    }
  return false;
}

static inline float applyAct(Activation a, float x) {
  switch (a) {
  case Activation::None:
    return x;
  case Activation::Gelu:
    return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
  case Activation::GeluTanh: {
    const float k = 0.79788456080286535588f; // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
  }
  case Activation::Relu:
    return x > 0.0f ? x : 0.0f;
  case Activation::Silu:
    return x / (1.0f + std::exp(-x));
  }
  return x;
}

void embedding(const int32_t *ids, int64_t T, const float *table, int64_t H,
               float *out) {
#pragma omp parallel for schedule(static) if (T * H >= kParallelMin)
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(out + t * H, table + int64_t(ids[t]) * H, sizeof(float) * H);
}

void linear(const float *x, int64_t R, int64_t K, const float *W, int64_t N,
            const float *bias, Activation act, float *out) {
  if (R == 0 || N == 0)
    return;
  if (K == 0) {
    std::fill(out, out + R * N, 0.0f);
  } else if (numThreads() == 1 || R * N * K < (int64_t(1) << 18) || N < 64) {
    gemmInvariant(x, R, K, W, N, 0, N, out);
  } else {
    // OpenMP splits the output columns; each thread runs the single-threaded
    // batch-invariant GEMM on its slice (cpu_kernels_gemm.cpp: OpenBLAS's
    // sgemm/sgemv sum in an order that depends on the number of rows, so a
    // request's logits would depend on its batch). Where a column lands
    // does not change how it is summed.
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = ((N + nt - 1) / nt + 15) / 16 * 16;
      gemmInvariant(x, R, K, W, N, std::min(N, t * chunk), std::min(N, (t + 1) * chunk), out);
    }
  }
  if (!bias && act == Activation::None)
    return;
#pragma omp parallel for schedule(static) if (R * N >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    float *o = out + r * N;
    if (bias)
      for (int64_t n = 0; n < N; ++n)
        o[n] += bias[n];
    if (act != Activation::None)
      for (int64_t n = 0; n < N; ++n)
        o[n] = applyAct(act, o[n]);
  }
}

// Row helpers: reductions in double so long rows keep fp32-level accuracy.
static inline void rmsRow(const float *x, int64_t H, const float *gamma,
                          float eps, float *out) {
  double ss = 0.0;
  for (int64_t i = 0; i < H; ++i)
    ss += double(x[i]) * x[i];
  const float inv = float(1.0 / std::sqrt(ss / double(H) + double(eps)));
  for (int64_t i = 0; i < H; ++i)
    out[i] = x[i] * inv * gamma[i];
}

static inline void lnRow(const float *x, int64_t H, const float *gamma,
                         const float *beta, float eps, float *out) {
  double sum = 0.0;
  for (int64_t i = 0; i < H; ++i)
    sum += x[i];
  const double mean = sum / double(H);
  double var = 0.0;
  for (int64_t i = 0; i < H; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= double(H);
  const float inv = float(1.0 / std::sqrt(var + double(eps)));
  const float m = float(mean);
  for (int64_t i = 0; i < H; ++i)
    out[i] = (x[i] - m) * inv * gamma[i] + (beta ? beta[i] : 0.0f);
}

void rmsNorm(const float *x, int64_t R, int64_t H, const float *gamma,
             float eps, float *out) {
#pragma omp parallel for schedule(static) if (R * H >= kParallelMin)
  for (int64_t r = 0; r < R; ++r)
    rmsRow(x + r * H, H, gamma, eps, out + r * H);
}

void layerNorm(const float *x, int64_t R, int64_t H, const float *gamma,
               const float *beta, float eps, float *out) {
#pragma omp parallel for schedule(static) if (R * H >= kParallelMin)
  for (int64_t r = 0; r < R; ++r)
    lnRow(x + r * H, H, gamma, beta, eps, out + r * H);
}

void addRmsNorm(const float *x, const float *residual, int64_t R, int64_t H,
                const float *gamma, float eps, float *sum, float *normed) {
#pragma omp parallel for schedule(static) if (R * H >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    float *s = sum + r * H;
    for (int64_t i = 0; i < H; ++i)
      s[i] = x[r * H + i] + residual[r * H + i];
    rmsRow(s, H, gamma, eps, normed + r * H);
  }
}

void addLayerNorm(const float *x, const float *residual, int64_t R, int64_t H,
                  const float *gamma, const float *beta, float eps, float *sum,
                  float *normed) {
#pragma omp parallel for schedule(static) if (R * H >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    float *s = sum + r * H;
    for (int64_t i = 0; i < H; ++i)
      s[i] = x[r * H + i] + residual[r * H + i];
    lnRow(s, H, gamma, beta, eps, normed + r * H);
  }
}

void siluMul(const float *gate, const float *up, int64_t n, float *out) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(const float *x, int64_t R, int64_t C, float *out) {
#pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    const float *xi = x + r * C;
    float *o = out + r * C;
    float m = -INFINITY;
    for (int64_t c = 0; c < C; ++c)
      m = std::max(m, xi[c]);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      o[c] = std::exp(xi[c] - m);
      sum += o[c];
    }
    const float inv = float(1.0 / sum);
    for (int64_t c = 0; c < C; ++c)
      o[c] *= inv;
  }
}

void gatherLast(const float *h, int64_t H, const BatchMeta &batch, float *out) {
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const auto &sq = batch.seqs[s];
    const int64_t row = int64_t(sq.queryStart) + sq.queryLen - 1;
    std::memcpy(out + int64_t(s) * H, h + row * H, sizeof(float) * H);
  }
}

void logits(const float *h, int64_t H, const BatchMeta &batch, const float *W,
            int64_t V, float *scratch, float *out) {
  gatherLast(h, H, batch, scratch);
  linear(scratch, int64_t(batch.seqs.size()), H, W, V, nullptr,
         Activation::None, out);
}

} // namespace cpu
} // namespace ingot
