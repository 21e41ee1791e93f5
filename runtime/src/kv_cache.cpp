// Paged KV cache storage (fp32, CPU backend): per layer, K and V each hold
// [numBlocks][blockSize][numKvHeads][headDim] floats, zero-initialised but
// committed lazily (ZeroedFloats: anonymous mmap), so a cache sized for many
// sequences costs resident memory only for the blocks actually written.
// key()/value() are on the attention hot path and may run on worker threads,
// so they do not throw: callers (the executor) validate block tables and the
// slot mapping against numBlocks() * blockSize() once per step.
#include "ingot/runtime/kv_cache.h"
#include "ingot/runtime/error.h"

#include <sys/mman.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <string>

namespace ingot {

ZeroedFloats::ZeroedFloats(size_t n) : n_(n) {
  if (n == 0)
    return;
  INGOT_CHECK(n <= SIZE_MAX / sizeof(float), "zeroed buffer of " + std::to_string(n) + " floats overflows");
  // No MAP_NORESERVE: the kernel's overcommit heuristic still rejects sizes
  // that cannot fit, so an oversized cache fails here rather than on first touch.
  void *p = mmap(nullptr, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw std::bad_alloc();
  p_ = static_cast<float *>(p);
}

ZeroedFloats::~ZeroedFloats() {
  if (p_)
    munmap(p_, n_ * sizeof(float));
}

ZeroedFloats &ZeroedFloats::operator=(ZeroedFloats &&o) noexcept {
  if (this != &o) {
    if (p_)
      munmap(p_, n_ * sizeof(float));
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

KvCache::KvCache(std::vector<KvLayerShape> layers, int blockSize,
                 int64_t numBlocks)
    : layers_(std::move(layers)), blockSize_(blockSize), numBlocks_(numBlocks) {
  INGOT_CHECK(blockSize > 0, "KV cache: block size must be positive, got " +
                                 std::to_string(blockSize));
  INGOT_CHECK(numBlocks > 0,
              "KV cache: number of blocks must be positive, got " +
                  std::to_string(numBlocks));
  INGOT_CHECK(numBlocks <= INT64_MAX / blockSize,
              "KV cache: " + std::to_string(numBlocks) + " blocks of " +
                  std::to_string(blockSize) + " tokens overflows");
  const int64_t slots = numBlocks * blockSize;
  k_.resize(layers_.size());
  v_.resize(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    const KvLayerShape &s = layers_[l];
    INGOT_CHECK(s.numKvHeads > 0 && s.headDim > 0,
                "KV cache: layer " + std::to_string(l) + " has " +
                    std::to_string(s.numKvHeads) + " KV heads of dim " +
                    std::to_string(s.headDim) + " (both must be positive)");
    const int64_t row = int64_t(s.numKvHeads) * s.headDim;
    INGOT_CHECK(slots <= INT64_MAX / row / int64_t(sizeof(float)) / 2,
                "KV cache: layer " + std::to_string(l) + " size overflows");
    try {
      k_[l] = ZeroedFloats(size_t(slots * row));
      v_[l] = ZeroedFloats(size_t(slots * row));
    } catch (const std::bad_alloc &) {
      throw Error("KV cache: cannot allocate layer " + std::to_string(l) +
                  " (" + std::to_string(2 * slots * row * 4) + " bytes for " +
                  std::to_string(numBlocks) + " blocks of " +
                  std::to_string(blockSize) +
                  " tokens); lower the KV cache size");
    }
  }
}

float *KvCache::key(int layer, int64_t slot) {
  assert(layer >= 0 && layer < numLayers());
  assert(slot >= 0 && slot < numBlocks_ * blockSize_);
  const KvLayerShape &s = layers_[size_t(layer)];
  return k_[size_t(layer)].data() + slot * int64_t(s.numKvHeads) * s.headDim;
}

float *KvCache::value(int layer, int64_t slot) {
  assert(layer >= 0 && layer < numLayers());
  assert(slot >= 0 && slot < numBlocks_ * blockSize_);
  const KvLayerShape &s = layers_[size_t(layer)];
  return v_[size_t(layer)].data() + slot * int64_t(s.numKvHeads) * s.headDim;
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (size_t l = 0; l < layers_.size(); ++l)
    n += (k_[l].size() + v_[l].size()) * sizeof(float);
  return n;
}

void KvCache::copyBlock(int64_t src, int64_t dst) {
  INGOT_CHECK(src >= 0 && src < numBlocks_ && dst >= 0 && dst < numBlocks_,
              "KV cache: cannot copy block " + std::to_string(src) + " to " +
                  std::to_string(dst) + " (" + std::to_string(numBlocks_) + " blocks)");
  if (src == dst)
    return;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const size_t n = size_t(blockSize_) * size_t(layers_[l].numKvHeads) * size_t(layers_[l].headDim);
    std::copy_n(k_[l].data() + size_t(src) * n, n, k_[l].data() + size_t(dst) * n);
    std::copy_n(v_[l].data() + size_t(src) * n, n, v_[l].data() + size_t(dst) * n);
  }
}

int32_t BatchMeta::numTokens() const {
  int32_t n = 0;
  for (const SeqStep &s : seqs)
    n += s.queryLen;
  return n;
}

} // namespace ingot
