// Mixture-of-experts layer (Mixtral style). Routing: softmax over the router
// logits, top-k (ties go to the lower expert index), optional renormalisation
// of the k probabilities. Each expert then runs its SiLU MLP as GEMMs on the
// gathered rows of the tokens routed to it, and the weighted results are
// scattered back. Experts are visited in index order so results are
// deterministic; the GEMMs themselves are multithreaded by OpenBLAS.
#include "cpu_kernels.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace ingot {
namespace cpu {

void moe(const float *x, int64_t T, int64_t H, const float *router, int64_t E,
         const float *gate, const float *up, const float *down, int64_t I,
         int topK, bool normalize, float *out) {
  std::fill(out, out + T * H, 0.0f);
  if (T == 0 || E == 0 || topK <= 0)
    return;
  std::vector<float> probs(static_cast<size_t>(T * E));
  linear(x, T, H, router, E, nullptr, Activation::None, probs.data());
  softmax(probs.data(), T, E, probs.data());

  // Per expert: the tokens routed to it and their weights.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(E));
  std::vector<int64_t> idx(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float *p = probs.data() + t * E;
    std::iota(idx.begin(), idx.end(), 0);
    const int k = int(std::min<int64_t>(topK, E));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) {
                        return p[a] > p[b] || (p[a] == p[b] && a < b);
                      });
    float norm = 1.0f;
    if (normalize) {
      float s = 0.0f;
      for (int i = 0; i < k; ++i)
        s += p[idx[size_t(i)]];
      norm = s > 0.0f ? 1.0f / s : 1.0f;
    }
    for (int i = 0; i < k; ++i) {
      const int64_t e = idx[size_t(i)];
      routed[size_t(e)].push_back({t, p[e] * norm});
    }
  }

  std::vector<float> xe, g, u, y;
  for (int64_t e = 0; e < E; ++e) {
    const auto &rows = routed[size_t(e)];
    const int64_t n = int64_t(rows.size());
    if (n == 0)
      continue;
    xe.resize(size_t(n * H));
    g.resize(size_t(n * I));
    u.resize(size_t(n * I));
    y.resize(size_t(n * H));
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(xe.data() + r * H, x + rows[size_t(r)].first * H, sizeof(float) * H);
    linear(xe.data(), n, H, gate + e * I * H, I, nullptr, Activation::None, g.data());
    linear(xe.data(), n, H, up + e * I * H, I, nullptr, Activation::None, u.data());
    siluMul(g.data(), u.data(), n * I, g.data());
    linear(g.data(), n, I, down + e * H * I, H, nullptr, Activation::None, y.data());
#pragma omp parallel for schedule(static) if (n * H >= 16384)
    for (int64_t r = 0; r < n; ++r) {
      float *o = out + rows[size_t(r)].first * H;
      const float w = rows[size_t(r)].second;
      const float *yr = y.data() + r * H;
      for (int64_t h = 0; h < H; ++h)
        o[h] += w * yr[h];
    }
  }
}

} // namespace cpu
} // namespace ingot
