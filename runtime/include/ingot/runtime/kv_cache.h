// The paged KV cache storage: per layer, K and V in blocks of `blockSize`
// tokens, laid out [num_blocks][block_size][num_kv_heads][head_dim] (fp32 on
// the CPU backend). Which blocks a sequence owns is decided by the caller
// (a block table per sequence): the serving engine's BlockManager, or
// generate.h's LinearSequence for a single sequence.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ingot {

// Zero-filled float storage backed by an anonymous private mapping, so its
// pages are committed only when first written: a KV cache or activation arena
// sized for the worst case costs resident memory only for what a run touches
// (reads of untouched pages see zeros, as with a value-initialised vector).
// Throws std::bad_alloc if the mapping fails (the kernel's overcommit check
// still refuses sizes that cannot fit).
class ZeroedFloats {
public:
  ZeroedFloats() = default;
  explicit ZeroedFloats(size_t n);
  ~ZeroedFloats();
  ZeroedFloats(ZeroedFloats &&o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  ZeroedFloats &operator=(ZeroedFloats &&o) noexcept;
  ZeroedFloats(const ZeroedFloats &) = delete;
  ZeroedFloats &operator=(const ZeroedFloats &) = delete;
  float *data() { return p_; }
  const float *data() const { return p_; }
  size_t size() const { return n_; }

private:
  float *p_ = nullptr;
  size_t n_ = 0;
};

struct KvLayerShape {
  int numKvHeads = 0;
  int headDim = 0;
};

// What the engine needs of an executor's paged KV cache, wherever it lives
// (host memory: KvCache below; device memory: the CUDA executor's cache).
class PagedKvCache {
public:
  virtual ~PagedKvCache() = default;
  virtual int blockSize() const = 0;
  virtual int64_t numBlocks() const = 0;
  virtual size_t bytes() const = 0;
  // Copies block `src`'s K and V rows into block `dst`, every layer (the
  // block manager's copy-on-write of a shared block). Throws on bad ids.
  virtual void copyBlock(int64_t src, int64_t dst) = 0;
};

class KvCache final : public PagedKvCache {
public:
  KvCache(std::vector<KvLayerShape> layers, int blockSize, int64_t numBlocks);
  int blockSize() const override { return blockSize_; }
  int64_t numBlocks() const override { return numBlocks_; }
  int numLayers() const { return int(layers_.size()); }
  const KvLayerShape &layer(int l) const { return layers_[l]; }
  // Start of the K (or V) row for `slot` = block * blockSize + offset.
  float *key(int layer, int64_t slot);
  float *value(int layer, int64_t slot);
  size_t bytes() const override;
  void copyBlock(int64_t src, int64_t dst) override;

private:
  std::vector<KvLayerShape> layers_;
  int blockSize_;
  int64_t numBlocks_;
  std::vector<ZeroedFloats> k_, v_;
};

// Per-step batch metadata: the one attention op reads it for mixed batches of
// prefill chunks and decodes (see shared design note 2).
struct SeqStep {
  int32_t queryStart = 0;   // first row of this sequence in the step's tokens
  int32_t queryLen = 0;     // new tokens this step
  int32_t contextLen = 0;   // tokens in the cache after this step (incl. new)
  std::vector<int32_t> blockTable; // physical blocks, in logical order
};

struct BatchMeta {
  std::vector<SeqStep> seqs;
  std::vector<int64_t> slotMapping; // per token: cache slot for its new K/V
  int32_t numTokens() const;
};

} // namespace ingot
