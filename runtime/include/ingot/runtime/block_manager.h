// The KV-cache block manager: which physical cache blocks each sequence owns.
// Fixed-size blocks (the plan's kv_cache.block_size tokens), reference
// counted so sequences can share them (fork for n > 1, prefix caching).
//
// Prefix caching: a full block whose K/V have been computed is identified by
// a hash chain, h_i = XXH3(tokens of block i, seed = h_{i-1}), h_{-1} = salt
// (the engine salts with the plan's program checksum, so two models never
// share entries). Cached blocks stay cached after their last reference is
// dropped and are evicted least-recently-used only when a free block is
// needed. Matches compare the token ids too, so a hash collision can only
// alias two prefixes whose 64-bit chain hashes collide at every block.
//
// Invariants: never more blocks handed out than the cache has; a block with
// refcount > 1 is never written (reserve() copies it first: copy-on-write);
// blocks with refcount 0 sit in one free list, uncached ones first, then
// cached ones from least to most recently used. Not thread-safe: the engine
// thread owns it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace ingot {

struct BlockCopy {
  int32_t src, dst; // copy the K/V of block src into block dst (every layer)
};

class BlockManager {
public:
  using SeqId = int64_t;
  BlockManager(int blockSize, int64_t numBlocks, bool prefixCaching = true,
               uint64_t salt = 0);

  int blockSize() const { return blockSize_; }
  int64_t numBlocks() const { return int64_t(ref_.size()); }
  int64_t numFree() const { return numFree_; }       // allocatable now
  int64_t numUsed() const { return numBlocks() - numFree_; }
  int64_t numCached() const { return numCachedFree_; } // free but still cached

  // Registers `seq` with an empty table and, with prefix caching, takes the
  // cached blocks matching the longest run of full leading blocks of
  // tokens[0, maxCached). Returns the number of tokens they hold.
  int64_t open(SeqId seq, const int32_t *tokens, int64_t maxCached);
  // Grows the table to hold `numTokens` tokens, and makes the block that
  // token `writeFrom` falls in (and every later one) private: a shared block
  // there is replaced by a copy, appended to `copies`. Returns false and
  // changes nothing when free blocks run out.
  bool reserve(SeqId seq, int64_t numTokens, int64_t writeFrom,
               std::vector<BlockCopy> &copies);
  // Publishes the full blocks among the first `numComputed` tokens (their
  // K/V are now in the cache) for prefix reuse.
  void commit(SeqId seq, const int32_t *tokens, int64_t numComputed);
  // `child` shares every block of `parent` (copy-on-write later).
  void fork(SeqId parent, SeqId child);
  // Drops the sequence's references, last block first (so a prefix's tail
  // is evicted before its head).
  void free(SeqId seq);
  bool has(SeqId seq) const { return seqs_.count(seq) != 0; }
  const std::vector<int32_t> &table(SeqId seq) const;
  int32_t refCount(int32_t block) const { return ref_[std::size_t(block)]; }
  // Drops every unreferenced cached block from the prefix cache.
  void clearCache();

private:
  struct Seq {
    std::vector<int32_t> blocks;
    std::vector<uint64_t> hashes; // chain hashes of the committed full blocks
  };
  Seq &seq(SeqId id);
  int32_t allocBlock();          // pops the free list; evicts a cached entry
  void release(int32_t block);   // refcount -1; to the free list at 0
  void unlinkFree(int32_t block);
  void pushFree(int32_t block, bool front);
  uint64_t chain(uint64_t parent, const int32_t *tokens) const;

  int blockSize_;
  bool prefixCaching_;
  uint64_t salt_;
  std::vector<int32_t> ref_;
  // Free list: intrusive doubly linked over block ids; sentinel = numBlocks.
  std::vector<int32_t> prev_, next_;
  int64_t numFree_ = 0, numCachedFree_ = 0;
  // Prefix cache: hash -> block, and per block its hash and tokens.
  std::unordered_map<uint64_t, int32_t> cache_;
  std::vector<uint64_t> blockHash_;
  std::vector<uint8_t> cached_;
  std::vector<int32_t> blockTokens_; // numBlocks x blockSize when caching
  std::unordered_map<SeqId, Seq> seqs_;
};

} // namespace ingot
