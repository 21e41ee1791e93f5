// Batch-invariant fp32 GEMM for linear(): out[r, n] = Σ_k x[r, k] · W[n, k].
//
// Why not OpenBLAS: its sgemm sums in an order that depends on the number of
// rows M (M < 12 and M ≥ 12 take different kernels on this Haswell-class
// build) and even on a row's position inside the M tile, and sgemv differs
// from both. A request's logits would then change with what it is batched
// with. Here every output element is computed by the same sequence of
// operations whatever R, the tile it falls in or the thread that runs it:
//   acc[0..V) = 0; for each full V-wide chunk of k: acc = fma(x, w, acc)
//   lane-wise; the K % V tail as one more chunk with masked (zero) loads;
//   then one fixed horizontal-sum tree.
// Tiles of RT×CT elements only share loads between elements; each element
// keeps its own accumulator. V and the code path depend on the CPU (AVX-512,
// AVX2+FMA, else portable C++), chosen once per process: invariance holds
// within one machine, not across instruction sets. INGOT_GEMM_ISA=avx2 or
// =generic forces a lesser path.
//
// Blocking: rows in blocks of about 256 KiB of x, W in blocks of about
// 128 KiB, so both stay in L2 while the micro-tiles stream through them.
// The portable path is compiled with -ffp-contract=off (runtime/CMakeLists.txt)
// so the compiler cannot fuse some multiply-adds and not others.
#include "cpu_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's AVX-512 intrinsics build "undefined" registers as `__Y = __Y`,
// which -Wuninitialized reports when they are used under a target attribute.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define INGOT_GEMM_X86 1
#endif

namespace ingot {
namespace cpu {
namespace {

using TileFn = void (*)(const float *x, int64_t K, const float *w, float *out, int64_t ldo);

// ---- portable: V = 8 emulated lanes, plain multiply then add ---------------
template <int RT, int CT>
void tileGeneric(const float *x, int64_t K, const float *w, float *out, int64_t ldo) {
  for (int r = 0; r < RT; ++r)
    for (int c = 0; c < CT; ++c) {
      const float *xr = x + r * K, *wc = w + c * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; ++l)
          acc[l] = acc[l] + xr[k + l] * wc[k + l];
      for (int l = 0; k + l < K; ++l)
        acc[l] = acc[l] + xr[k + l] * wc[k + l];
      out[r * ldo + c] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
}

#ifdef INGOT_GEMM_X86
// ---- AVX-512: V = 16, tiles up to 4 rows x 6 columns ----------------------
// 24 accumulators + 4 x + 1 w = 29 of the 32 zmm registers: 10 loads per 24
// FMAs (a 4 x 4 tile needs 8 per 16).
template <int RT, int CT>
__attribute__((target("avx512f"))) void tile512(const float *x, int64_t K, const float *w, float *out,
                                                 int64_t ldo) {
  __m512 acc[RT][CT];
#pragma GCC unroll 8
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < CT; ++c)
      acc[r][c] = _mm512_setzero_ps();
  const int64_t kMain = K & ~int64_t(15);
  for (int64_t k = 0; k < kMain; k += 16) {
    __m512 xv[RT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r)
      xv[r] = _mm512_loadu_ps(x + r * K + k);
#pragma GCC unroll 8
    for (int c = 0; c < CT; ++c) {
      const __m512 wv = _mm512_loadu_ps(w + c * K + k);
#pragma GCC unroll 8
      for (int r = 0; r < RT; ++r)
        acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
  if (kMain < K) {
    const __mmask16 m = __mmask16((1u << unsigned(K - kMain)) - 1u);
    __m512 xv[RT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r)
      xv[r] = _mm512_maskz_loadu_ps(m, x + r * K + kMain);
#pragma GCC unroll 8
    for (int c = 0; c < CT; ++c) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + c * K + kMain);
#pragma GCC unroll 8
      for (int r = 0; r < RT; ++r)
        acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < CT; ++c) {
      const __m512 v = acc[r][c];
      // High 256 bits via a lane shuffle (AVX512F only; no DQ needed).
      const __m256 hi = _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2)));
      const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
      out[r * ldo + c] = _mm_cvtss_f32(s);
    }
}

// ---- AVX2 + FMA: V = 8, tiles up to 3 rows x 4 columns (16 registers) ----------------------
__attribute__((target("avx2,fma"))) inline __m256i tailMask8(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), idx);
}

template <int RT, int CT>
__attribute__((target("avx2,fma"))) void tile256(const float *x, int64_t K, const float *w, float *out,
                                                  int64_t ldo) {
  __m256 acc[RT][CT];
#pragma GCC unroll 4
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < CT; ++c)
      acc[r][c] = _mm256_setzero_ps();
  const int64_t kMain = K & ~int64_t(7);
  for (int64_t k = 0; k < kMain; k += 8) {
    __m256 xv[RT];
#pragma GCC unroll 4
    for (int r = 0; r < RT; ++r)
      xv[r] = _mm256_loadu_ps(x + r * K + k);
#pragma GCC unroll 4
    for (int c = 0; c < CT; ++c) {
      const __m256 wv = _mm256_loadu_ps(w + c * K + k);
#pragma GCC unroll 4
      for (int r = 0; r < RT; ++r)
        acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
  if (kMain < K) {
    const __m256i m = tailMask8(K - kMain);
    __m256 xv[RT];
#pragma GCC unroll 4
    for (int r = 0; r < RT; ++r)
      xv[r] = _mm256_maskload_ps(x + r * K + kMain, m);
#pragma GCC unroll 4
    for (int c = 0; c < CT; ++c) {
      const __m256 wv = _mm256_maskload_ps(w + c * K + kMain, m);
#pragma GCC unroll 4
      for (int r = 0; r < RT; ++r)
        acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < CT; ++c) {
      const __m256 v = acc[r][c];
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
      out[r * ldo + c] = _mm_cvtss_f32(s);
    }
}
#endif

// The tile functions of one instruction set: fns[rt-1][ct-1] for the edges.
struct Kernel {
  int rt = 1, ct = 1;
  TileFn fns[4][6] = {};
};

// INGOT_GEMM_ISA=avx2|generic selects a lesser path (tests, comparisons).
Kernel makeKernel() {
  Kernel k;
  const char *env = std::getenv("INGOT_GEMM_ISA");
  const std::string want = env ? env : "";
#ifdef INGOT_GEMM_X86
  __builtin_cpu_init();
  if (want != "avx2" && want != "generic" && __builtin_cpu_supports("avx512f")) {
    k.rt = 4;
    k.ct = 6;
    TileFn t[4][6] = {
        {tile512<1, 1>, tile512<1, 2>, tile512<1, 3>, tile512<1, 4>, tile512<1, 5>, tile512<1, 6>},
        {tile512<2, 1>, tile512<2, 2>, tile512<2, 3>, tile512<2, 4>, tile512<2, 5>, tile512<2, 6>},
        {tile512<3, 1>, tile512<3, 2>, tile512<3, 3>, tile512<3, 4>, tile512<3, 5>, tile512<3, 6>},
        {tile512<4, 1>, tile512<4, 2>, tile512<4, 3>, tile512<4, 4>, tile512<4, 5>, tile512<4, 6>}};
    std::memcpy(k.fns, t, sizeof t);
    return k;
  }
  if (want != "generic" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    k.rt = 3;
    k.ct = 4;
    TileFn t[4][6] = {{tile256<1, 1>, tile256<1, 2>, tile256<1, 3>, tile256<1, 4>},
                      {tile256<2, 1>, tile256<2, 2>, tile256<2, 3>, tile256<2, 4>},
                      {tile256<3, 1>, tile256<3, 2>, tile256<3, 3>, tile256<3, 4>}};
    std::memcpy(k.fns, t, sizeof t);
    return k;
  }
#endif
  k.rt = 1;
  k.ct = 4;
  TileFn t[4][6] = {{tileGeneric<1, 1>, tileGeneric<1, 2>, tileGeneric<1, 3>, tileGeneric<1, 4>}};
  std::memcpy(k.fns, t, sizeof t);
  return k;
}

const Kernel &kernel() {
  static const Kernel k = makeKernel();
  return k;
}

} // namespace

const char *gemmIsa() {
  const Kernel &k = kernel();
  return k.rt == 4 ? "avx512" : k.rt == 3 ? "avx2" : "generic";
}

void gemmInvariant(const float *x, int64_t R, int64_t K, const float *W, int64_t N, int64_t n0,
                   int64_t n1, float *out) {
  const Kernel &kn = kernel();
  const int64_t RT = kn.rt, CT = kn.ct;
  // Block sizes in rows/columns of K floats (never below one tile).
  const int64_t rowBlock = std::max<int64_t>(RT, (int64_t(1) << 16) / std::max<int64_t>(K, 1) / RT * RT);
  const int64_t colBlock = std::max<int64_t>(CT, (int64_t(1) << 15) / std::max<int64_t>(K, 1) / CT * CT);
  for (int64_t rb = 0; rb < R; rb += rowBlock) {
    const int64_t re = std::min(R, rb + rowBlock);
    for (int64_t nb = n0; nb < n1; nb += colBlock) {
      const int64_t ne = std::min(n1, nb + colBlock);
      for (int64_t r = rb; r < re; r += RT) {
        const int64_t rt = std::min(RT, re - r);
        for (int64_t n = nb; n < ne; n += CT) {
          const int64_t ct = std::min(CT, ne - n);
          kn.fns[rt - 1][ct - 1](x + r * K, K, W + n * K, out + r * N + n, N);
        }
      }
    }
  }
}

} // namespace cpu
} // namespace ingot
