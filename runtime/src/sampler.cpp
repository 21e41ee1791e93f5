// Token sampling for `ingot run` (sampler.h). The filtering core,
// sampleFiltered, lives in sampling.cpp and is shared with the serving
// engine's per-request sampler; this file is its min-p-free special case.
// Greedy (temperature <= 0): argmax, lowest index on ties,
// NaN logits never win. Otherwise: p = softmax(logits / temperature); keep
// the topK most probable (0: all); renormalise; keep the smallest prefix of
// the most probable tokens whose cumulative probability reaches topP (1: all);
// renormalise; draw u ~ U[0,1) from mt19937_64(seed) and return the token
// where the cumulative probability first exceeds u. Candidates are ordered by
// (probability desc, index asc), a strict total order, so the result depends
// only on the logits, the parameters and the generator state.
#include "ingot/runtime/sampler.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/sampling.h"

#include <limits>
#include <string>

namespace ingot {

int32_t Sampler::sample(const float *logits, int64_t vocab) {
  INGOT_CHECK(vocab > 0 && vocab <= std::numeric_limits<int32_t>::max(),
              "sampler: invalid vocabulary size " + std::to_string(vocab));
  return sampleFiltered(logits, vocab, p_.temperature, p_.topK, p_.topP, 0.0f, rng_);
}

} // namespace ingot
