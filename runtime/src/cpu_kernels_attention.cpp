// Paged causal attention over the KV cache, for mixed batches of prefill
// chunks and decodes (one op reads the per-step BatchMeta).
//
// Invariants relied on (validated by the executor before the call):
//  - sequences' query rows tile [0, T) and queryLen <= contextLen;
//  - each block table covers ceil(contextLen / blockSize) valid blocks;
//  - slotMapping[t] is the cache slot of token t (its K/V are written there
//    before any query reads, so tokens of one step see each other).
// Cache layout per layer: [num_blocks][block_size][num_kv_heads][head_dim].
// Work is split over (token, kv head) so the heads of a GQA group share the
// K/V rows while they are hot; softmax is online (running max and sum).
//
// The q·k scores and the p·v accumulation of one cache block run through
// block functions picked once per process with the GEMM's instruction set
// (gemmIsa(): AVX-512, AVX2+FMA or portable), so a (token, head)'s result is
// the same sequence of operations whatever the batch, chunking or thread:
// a score is V lane-wise FMA accumulators over head_dim (the tail masked),
// then a fixed horizontal-sum tree; an output element is updated by one FMA
// per key, in position order.
#include "cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define INGOT_ATTN_X86 1
#endif

namespace ingot {
namespace cpu {
namespace {

// sc[j] = scale * dot(q, k + j * stride) for j in [0, n), over d elements.
using ScoresFn = void (*)(const float *q, const float *k, int64_t n, int64_t stride, int d,
                          float scale, float *sc);
// a[i] += w[j] * v[j * stride + i] for j in [0, n) in order, i in [0, d).
using AccumFn = void (*)(float *a, const float *w, const float *v, int64_t n, int64_t stride, int d);

void scoresGeneric(const float *q, const float *k, int64_t n, int64_t stride, int d, float scale,
                   float *sc) {
  for (int64_t j = 0; j < n; ++j) {
    const float *kr = k + j * stride;
    float dot = 0.0f;
    for (int i = 0; i < d; ++i)
      dot += q[i] * kr[i];
    sc[j] = dot * scale;
  }
}

void accumGeneric(float *a, const float *w, const float *v, int64_t n, int64_t stride, int d) {
  for (int64_t j = 0; j < n; ++j) {
    const float *vr = v + j * stride;
    const float wj = w[j];
    for (int i = 0; i < d; ++i)
      a[i] += wj * vr[i];
  }
}

#ifdef INGOT_ATTN_X86
__attribute__((target("avx512f"))) void scores512(const float *q, const float *k, int64_t n,
                                                   int64_t stride, int d, float scale, float *sc) {
  const int dMain = d & ~15;
  const __mmask16 tail = __mmask16((1u << unsigned(d - dMain)) - 1u);
  for (int64_t j = 0; j < n; ++j) {
    const float *kr = k + j * stride;
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < dMain; i += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(kr + i), acc);
    if (dMain < d)
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + dMain), _mm512_maskz_loadu_ps(tail, kr + dMain),
                            acc);
    const __m256 hi = _mm512_castps512_ps256(_mm512_shuffle_f32x4(acc, acc, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc), hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    sc[j] = _mm_cvtss_f32(s) * scale;
  }
}

__attribute__((target("avx512f"))) void accum512(float *a, const float *w, const float *v, int64_t n,
                                                  int64_t stride, int d) {
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    __m512 acc = _mm512_loadu_ps(a + i);
    for (int64_t j = 0; j < n; ++j)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_loadu_ps(v + j * stride + i), acc);
    _mm512_storeu_ps(a + i, acc);
  }
  if (i < d) {
    const __mmask16 m = __mmask16((1u << unsigned(d - i)) - 1u);
    __m512 acc = _mm512_maskz_loadu_ps(m, a + i);
    for (int64_t j = 0; j < n; ++j)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_maskz_loadu_ps(m, v + j * stride + i), acc);
    _mm512_mask_storeu_ps(a + i, m, acc);
  }
}

__attribute__((target("avx2,fma"))) inline __m256i attnMask8(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) void scores256(const float *q, const float *k, int64_t n,
                                                    int64_t stride, int d, float scale, float *sc) {
  const int dMain = d & ~7;
  const __m256i tail = attnMask8(d - dMain);
  for (int64_t j = 0; j < n; ++j) {
    const float *kr = k + j * stride;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < dMain; i += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kr + i), acc);
    if (dMain < d)
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(q + dMain, tail), _mm256_maskload_ps(kr + dMain, tail), acc);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    sc[j] = _mm_cvtss_f32(s) * scale;
  }
}

__attribute__((target("avx2,fma"))) void accum256(float *a, const float *w, const float *v, int64_t n,
                                                   int64_t stride, int d) {
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    __m256 acc = _mm256_loadu_ps(a + i);
    for (int64_t j = 0; j < n; ++j)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(v + j * stride + i), acc);
    _mm256_storeu_ps(a + i, acc);
  }
  if (i < d) {
    const __m256i m = attnMask8(d - i);
    __m256 acc = _mm256_maskload_ps(a + i, m);
    for (int64_t j = 0; j < n; ++j)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_maskload_ps(v + j * stride + i, m), acc);
    _mm256_maskstore_ps(a + i, m, acc);
  }
}
#endif

struct AttnKernel {
  ScoresFn scores = scoresGeneric;
  AccumFn accum = accumGeneric;
};

// Same instruction set as the GEMM (INGOT_GEMM_ISA also forces it here).
const AttnKernel &attnKernel() {
  static const AttnKernel k = [] {
    AttnKernel r;
#ifdef INGOT_ATTN_X86
    const std::string isa = gemmIsa();
    if (isa == "avx512") {
      r.scores = scores512;
      r.accum = accum512;
    } else if (isa == "avx2") {
      r.scores = scores256;
      r.accum = accum256;
    }
#endif
    return r;
  }();
  return k;
}

} // namespace

void pagedAttention(const float *q, const float *k, const float *v, int64_t T,
                    const BatchMeta &batch, KvCache &cache,
                    const AttentionParams &p, float *out) {
  const int nh = p.numHeads, nkv = p.numKvHeads, d = p.headDim;
  const int group = nh / nkv;
  const int64_t kvWidth = int64_t(nkv) * d;
  const int64_t qWidth = int64_t(nh) * d;
  const int bs = cache.blockSize();
  const int layer = p.layer;
  const AttnKernel &kn = attnKernel();

  // 1. Store the new keys and values.
#pragma omp parallel for schedule(static) if (T * kvWidth >= 4096)
  for (int64_t t = 0; t < T; ++t) {
    const int64_t slot = batch.slotMapping[size_t(t)];
    std::memcpy(cache.key(layer, slot), k + t * kvWidth, sizeof(float) * kvWidth);
    std::memcpy(cache.value(layer, slot), v + t * kvWidth, sizeof(float) * kvWidth);
  }

  // Token -> sequence, so the parallel loop can run over flat (t, kv head).
  std::vector<int32_t> seqOf(size_t(T), 0);
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const auto &sq = batch.seqs[s];
    for (int32_t i = 0; i < sq.queryLen; ++i)
      seqOf[size_t(sq.queryStart + i)] = int32_t(s);
  }

  const int64_t items = T * nkv;
  // Multiply-adds in the score and value loops; small steps (short decodes)
  // run on the calling thread rather than paying for a parallel region.
  int64_t work = 0;
  for (const auto &sq : batch.seqs)
    work += int64_t(sq.queryLen) * sq.contextLen * nh * d * 2;
#pragma omp parallel if (work >= (int64_t(1) << 16) && items > 1)
  {
    std::vector<float> scores(size_t(group) * bs);
    std::vector<float> acc(size_t(group) * d);
    std::vector<float> mx(static_cast<size_t>(group));
    std::vector<float> sum(static_cast<size_t>(group));
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t t = it / nkv;
      const int kvh = int(it % nkv);
      const auto &sq = batch.seqs[size_t(seqOf[size_t(t)])];
      // Cache index of this query token within its sequence.
      const int64_t pos = int64_t(sq.contextLen) - sq.queryLen + (t - sq.queryStart);
      const int64_t lo = p.slidingWindow > 0 ? std::max<int64_t>(0, pos - p.slidingWindow + 1) : 0;
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(mx.begin(), mx.end(), -INFINITY);
      std::fill(sum.begin(), sum.end(), 0.0f);
      const float *qBase = q + t * qWidth + int64_t(kvh) * group * d;

      for (int64_t blk = lo / bs; blk * bs <= pos; ++blk) {
        const int64_t j0 = std::max(lo, blk * bs);
        const int64_t j1 = std::min(pos + 1, (blk + 1) * bs); // exclusive
        const int64_t base = int64_t(sq.blockTable[size_t(blk)]) * bs;
        const float *kb = cache.key(layer, base) + int64_t(kvh) * d;
        const float *vb = cache.value(layer, base) + int64_t(kvh) * d;
        const int64_t n = j1 - j0;
        const float *kj = kb + (j0 - blk * bs) * kvWidth;
        const float *vj = vb + (j0 - blk * bs) * kvWidth;
        for (int g = 0; g < group; ++g) {
          const float *qh = qBase + int64_t(g) * d;
          float *sc = scores.data() + size_t(g) * bs;
          kn.scores(qh, kj, n, kvWidth, d, p.scale, sc);
          float bmax = -INFINITY;
          for (int64_t j = 0; j < n; ++j)
            bmax = std::max(bmax, sc[j]);
          float *a = acc.data() + size_t(g) * d;
          if (bmax > mx[size_t(g)]) {
            // Rescale what was accumulated under the old maximum.
            const float f = std::exp(mx[size_t(g)] - bmax);
            sum[size_t(g)] *= f;
            for (int i = 0; i < d; ++i)
              a[i] *= f;
            mx[size_t(g)] = bmax;
          }
          const float m = mx[size_t(g)];
          float s = 0.0f;
          for (int64_t j = 0; j < n; ++j) {
            sc[j] = std::exp(sc[j] - m); // the weights, in place of the scores
            s += sc[j];
          }
          kn.accum(a, sc, vj, n, kvWidth, d);
          sum[size_t(g)] += s;
        }
      }
      for (int g = 0; g < group; ++g) {
        float *o = out + t * qWidth + (int64_t(kvh) * group + g) * d;
        const float inv = 1.0f / sum[size_t(g)];
        const float *a = acc.data() + size_t(g) * d;
        for (int i = 0; i < d; ++i)
          o[i] = a[i] * inv;
      }
    }
  }
}

} // namespace cpu
} // namespace ingot
