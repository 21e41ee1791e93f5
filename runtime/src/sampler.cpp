// Token sampling. Greedy (temperature <= 0): argmax, lowest index on ties,
// NaN logits never win. Otherwise: p = softmax(logits / temperature); keep
// the topK most probable (0: all); renormalise; keep the smallest prefix of
// the most probable tokens whose cumulative probability reaches topP (1: all);
// renormalise; draw u ~ U[0,1) from mt19937_64(seed) and return the token
// where the cumulative probability first exceeds u. Candidates are ordered by
// (probability desc, index asc), a strict total order, so the result depends
// only on the logits, the parameters and the generator state.
#include "ingot/runtime/sampler.h"
#include "ingot/runtime/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace ingot {
namespace {

struct Cand {
  double p;
  int32_t id;
};
bool before(const Cand &a, const Cand &b) {
  return a.p > b.p || (a.p == b.p && a.id < b.id);
}

int32_t argmax(const float *logits, int64_t vocab) {
  int32_t best = 0;
  float bv = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (int64_t i = 0; i < vocab; ++i) {
    float v = logits[i];
    if (std::isnan(v))
      continue;
    if (!found || v > bv) {
      bv = v;
      best = int32_t(i);
      found = true;
    }
  }
  return best;
}

} // namespace

int32_t Sampler::sample(const float *logits, int64_t vocab) {
  INGOT_CHECK(vocab > 0 && vocab <= std::numeric_limits<int32_t>::max(),
              "sampler: invalid vocabulary size " + std::to_string(vocab));
  if (!(p_.temperature > 0.0f) || p_.topK == 1)
    return argmax(logits, vocab);

  // Unnormalised softmax weights exp((l - max) / T); NaN and -inf logits get
  // weight 0. Renormalising (after softmax, top-k, top-p) is done by scaling
  // thresholds and the draw by the kept mass instead of dividing every entry.
  const double invT = 1.0 / double(p_.temperature);
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      mx = std::max(mx, double(logits[i]));
  if (!std::isfinite(mx)) // all -inf/NaN, or a +inf logit: nothing to weigh
    return argmax(logits, vocab);
  // Per-thread scratch: a 150k-entry vocabulary would otherwise allocate and
  // fault in megabytes for every token.
  thread_local std::vector<Cand> c;
  c.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    // exp in float (fast, ample precision for weights); sums in double.
    float z = float((double(logits[i]) - mx) * invT);
    c[size_t(i)] = {std::isnan(z) ? 0.0 : double(std::exp(z)), int32_t(i)};
  }

  // keep: how many leading candidates (in `before` order) survive; the first
  // `sorted` entries of c are in that order.
  size_t keep = c.size(), sorted = 0;
  if (p_.topK > 0 && size_t(p_.topK) < c.size()) {
    keep = size_t(p_.topK);
    std::partial_sort(c.begin(), c.begin() + keep, c.end(), before);
    sorted = keep;
  }
  if (p_.topP < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < keep; ++i)
      mass += c[i].p;
    const double target = std::max(0.0, double(p_.topP)) * mass;
    // Grow the sorted prefix geometrically until it reaches topP, so a large
    // vocabulary is rarely sorted in full.
    size_t m = std::min<size_t>(keep, 256);
    for (;;) {
      if (m > sorted) {
        // c[0, sorted) already holds the most probable, in order: select the
        // next (m - sorted) from the rest in O(n), then sort only those.
        std::nth_element(c.begin() + sorted, c.begin() + (m - 1),
                         c.begin() + keep, before);
        std::sort(c.begin() + sorted, c.begin() + m, before);
        sorted = m;
      }
      double cum = 0.0;
      size_t n = 0;
      while (n < m) {
        cum += c[n].p;
        ++n;
        if (cum >= target)
          break;
      }
      if (cum >= target || m == keep) {
        keep = n;
        break;
      }
      m = std::min(keep, m * 4);
    }
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i)
    total += c[i].p;

  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double u = uni(rng_) * total;
  double cum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cum += c[i].p;
    if (u < cum)
      return c[i].id;
  }
  // Rounding can leave u == total: take the last kept token with weight.
  for (size_t i = keep; i-- > 0;)
    if (c[i].p > 0.0)
      return c[i].id;
  return c[0].id;
}

} // namespace ingot
