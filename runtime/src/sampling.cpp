// Token sampling core and the serving engine's per-sequence sampler (see
// sampling.h for the processing order). Candidates are ordered by
// (probability desc, id asc), a strict total order, so a draw depends only
// on the logits, the parameters and the generator state.
#include "ingot/runtime/sampling.h"
#include "ingot/runtime/error.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace ingot {
namespace {

struct Cand {
  double p;
  int32_t id;
};
bool before(const Cand &a, const Cand &b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

int32_t argmax(const float *logits, int64_t vocab) {
  int32_t best = 0;
  float bv = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (int64_t i = 0; i < vocab; ++i) {
    const float v = logits[i];
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

int32_t sampleFiltered(const float *logits, int64_t vocab, float temperature, int topK,
                       float topP, float minP, std::mt19937_64 &rng) {
  if (!(temperature > 0.0f) || topK == 1)
    return argmax(logits, vocab);

  // Unnormalised softmax weights exp((l - max) / T), so the most probable
  // token has weight 1; NaN and -inf logits get weight 0. Renormalising
  // (after min-p, top-k, top-p) scales thresholds and the draw by the kept
  // mass instead of dividing every entry.
  const double invT = 1.0 / double(temperature);
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
  // min-p: p_i >= minP * p_max  <=>  weight_i >= minP (weights are p / p_max).
  const double minW = minP > 0.0f ? double(minP) : 0.0;
  for (int64_t i = 0; i < vocab; ++i) {
    // exp in float (fast, ample precision for weights); sums in double.
    const float z = float((double(logits[i]) - mx) * invT);
    double w = std::isnan(z) ? 0.0 : double(std::exp(z));
    if (w < minW)
      w = 0.0;
    c[size_t(i)] = {w, int32_t(i)};
  }

  // keep: how many leading candidates (in `before` order) survive; the first
  // `sorted` entries of c are in that order.
  size_t keep = c.size(), sorted = 0;
  if (topK > 0 && size_t(topK) < c.size()) {
    keep = size_t(topK);
    std::partial_sort(c.begin(), c.begin() + long(keep), c.end(), before);
    sorted = keep;
  }
  if (topP < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < keep; ++i)
      mass += c[i].p;
    const double target = std::max(0.0, double(topP)) * mass;
    // Grow the sorted prefix geometrically until it reaches topP, so a large
    // vocabulary is rarely sorted in full.
    size_t m = std::min<size_t>(keep, 256);
    for (;;) {
      if (m > sorted) {
        // c[0, sorted) already holds the most probable, in order: select the
        // next (m - sorted) from the rest in O(n), then sort only those.
        std::nth_element(c.begin() + long(sorted), c.begin() + long(m - 1), c.begin() + long(keep),
                         before);
        std::sort(c.begin() + long(sorted), c.begin() + long(m), before);
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
  const double u = uni(rng) * total;
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

float rawLogprobs(const float *logits, int64_t vocab, int32_t token, int topN,
                  std::vector<TopLogprob> &top) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      mx = std::max(mx, double(logits[i]));
  double sum = 0.0;
  if (std::isfinite(mx))
    for (int64_t i = 0; i < vocab; ++i)
      if (!std::isnan(logits[i]))
        sum += std::exp(double(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  auto lp = [&](int64_t i) {
    const double l = double(logits[i]);
    return std::isnan(l) || !std::isfinite(lse) ? -std::numeric_limits<float>::infinity()
                                                : float(l - lse);
  };
  top.clear();
  if (topN > 0) {
    // The topN largest by (logit desc, id asc), NaN last: a bounded
    // insertion list, cheap for the small N the API allows.
    auto better = [&](int64_t a, int64_t b) {
      const float la = logits[a], lb = logits[b];
      if (std::isnan(la) != std::isnan(lb))
        return std::isnan(lb);
      return la > lb || (!(lb > la) && a < b);
    };
    std::vector<int64_t> best;
    best.reserve(size_t(topN) + 1);
    for (int64_t i = 0; i < vocab; ++i) {
      if (best.size() == size_t(topN) && !better(i, best.back()))
        continue;
      auto it = std::upper_bound(best.begin(), best.end(), i,
                                 [&](int64_t a, int64_t b) { return better(a, b); });
      best.insert(it, i);
      if (best.size() > size_t(topN))
        best.pop_back();
    }
    for (int64_t i : best)
      top.push_back({int32_t(i), lp(i)});
  }
  return lp(token);
}

uint64_t choiceSeed(uint64_t seed, int choice) {
  if (choice == 0)
    return seed;
  const int64_t c = choice;
  return XXH3_64bits_withSeed(&c, sizeof c, seed);
}

SequenceSampler::SequenceSampler(const RequestSampling &p, uint64_t seed,
                                 const std::vector<int32_t> &prompt)
    : p_(p), rng_(seed) {
  if (p_.repetitionPenalty != 1.0f) {
    seen_ = prompt;
    std::sort(seen_.begin(), seen_.end());
    seen_.erase(std::unique(seen_.begin(), seen_.end()), seen_.end());
  }
}

SampledToken SequenceSampler::sample(const float *logits, int64_t vocab) {
  INGOT_CHECK(vocab > 0 && vocab <= std::numeric_limits<int32_t>::max(),
              "sampler: invalid vocabulary size " + std::to_string(vocab));
  const bool rep = p_.repetitionPenalty != 1.0f;
  const bool freq = p_.frequencyPenalty != 0.0f || p_.presencePenalty != 0.0f;
  const float *l = logits;
  if (rep || freq) {
    thread_local std::vector<float> buf;
    buf.assign(logits, logits + vocab);
    if (rep)
      for (int32_t id : seen_) {
        if (id < 0 || id >= vocab)
          continue;
        float &x = buf[size_t(id)];
        x = x > 0.0f ? x / p_.repetitionPenalty : x * p_.repetitionPenalty;
      }
    if (freq)
      for (const auto &kv : counts_)
        if (kv.first >= 0 && kv.first < vocab)
          buf[size_t(kv.first)] -= p_.frequencyPenalty * float(kv.second) + p_.presencePenalty;
    l = buf.data();
  }
  SampledToken r;
  r.token = sampleFiltered(l, vocab, p_.temperature, p_.topK, p_.topP, p_.minP, rng_);
  if (p_.logprobs >= 0)
    r.logprob = rawLogprobs(logits, vocab, r.token, p_.logprobs, r.top);
  if (rep) {
    auto it = std::lower_bound(seen_.begin(), seen_.end(), r.token);
    if (it == seen_.end() || *it != r.token)
      seen_.insert(it, r.token);
  }
  if (freq)
    ++counts_[r.token];
  return r;
}

} // namespace ingot
