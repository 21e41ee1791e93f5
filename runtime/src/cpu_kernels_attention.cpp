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
#include "cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ingot {
namespace cpu {

void pagedAttention(const float *q, const float *k, const float *v, int64_t T,
                    const BatchMeta &batch, KvCache &cache,
                    const AttentionParams &p, float *out) {
  const int nh = p.numHeads, nkv = p.numKvHeads, d = p.headDim;
  const int group = nh / nkv;
  const int64_t kvWidth = int64_t(nkv) * d;
  const int64_t qWidth = int64_t(nh) * d;
  const int bs = cache.blockSize();
  const int layer = p.layer;

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
        for (int g = 0; g < group; ++g) {
          const float *qh = qBase + int64_t(g) * d;
          float *sc = scores.data() + size_t(g) * bs;
          float bmax = -INFINITY;
          for (int64_t j = j0; j < j1; ++j) {
            const float *kr = kb + (j - blk * bs) * kvWidth;
            float dot = 0.0f;
            for (int i = 0; i < d; ++i)
              dot += qh[i] * kr[i];
            dot *= p.scale;
            sc[j - j0] = dot;
            bmax = std::max(bmax, dot);
          }
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
          for (int64_t j = j0; j < j1; ++j) {
            const float w = std::exp(sc[j - j0] - m);
            s += w;
            const float *vr = vb + (j - blk * bs) * kvWidth;
            for (int i = 0; i < d; ++i)
              a[i] += w * vr[i];
          }
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
