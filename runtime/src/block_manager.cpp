// KV-cache block manager (see block_manager.h). The free list is intrusive
// and doubly linked so a prefix-cache hit can take a block out of it in O(1).
// Uncached free blocks go to its front (reused first); cached ones to its
// back, so the front is always the best block to hand out: never used, else
// least recently used.
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/error.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace ingot {

BlockManager::BlockManager(int blockSize, int64_t numBlocks, bool prefixCaching,
                           uint64_t salt)
    : blockSize_(blockSize), prefixCaching_(prefixCaching), salt_(salt) {
  INGOT_CHECK(blockSize > 0, "block manager: block size must be positive, got " +
                                 std::to_string(blockSize));
  INGOT_CHECK(numBlocks > 0 && numBlocks < INT32_MAX,
              "block manager: number of blocks must be in [1, 2^31-1), got " +
                  std::to_string(numBlocks));
  const size_t n = size_t(numBlocks);
  ref_.assign(n, 0);
  prev_.assign(n + 1, 0);
  next_.assign(n + 1, 0);
  const int32_t sentinel = int32_t(n);
  prev_[n] = next_[n] = sentinel;
  blockHash_.assign(n, 0);
  cached_.assign(n, 0);
  for (int32_t b = 0; b < sentinel; ++b)
    pushFree(b, false);
  if (prefixCaching_)
    blockTokens_.assign(n * size_t(blockSize), 0);
}

BlockManager::Seq &BlockManager::seq(SeqId id) {
  auto it = seqs_.find(id);
  INGOT_CHECK(it != seqs_.end(), "block manager: unknown sequence " + std::to_string(id));
  return it->second;
}

const std::vector<int32_t> &BlockManager::table(SeqId id) const {
  auto it = seqs_.find(id);
  INGOT_CHECK(it != seqs_.end(), "block manager: unknown sequence " + std::to_string(id));
  return it->second.blocks;
}

void BlockManager::unlinkFree(int32_t b) {
  next_[size_t(prev_[size_t(b)])] = next_[size_t(b)];
  prev_[size_t(next_[size_t(b)])] = prev_[size_t(b)];
  --numFree_;
  if (cached_[size_t(b)])
    --numCachedFree_;
}

void BlockManager::pushFree(int32_t b, bool front) {
  const int32_t s = int32_t(ref_.size());
  const int32_t after = front ? s : prev_[size_t(s)]; // insert after this node
  const int32_t before = next_[size_t(after)];
  prev_[size_t(b)] = after;
  next_[size_t(b)] = before;
  next_[size_t(after)] = b;
  prev_[size_t(before)] = b;
  ++numFree_;
  if (cached_[size_t(b)])
    ++numCachedFree_;
}

int32_t BlockManager::allocBlock() {
  const int32_t s = int32_t(ref_.size());
  const int32_t b = next_[size_t(s)];
  // Callers check numFree_ first; an empty list here is a logic error.
  INGOT_CHECK(b != s, "block manager: no free block (internal error)");
  unlinkFree(b);
  if (cached_[size_t(b)]) { // evict: the block is about to be overwritten
    auto it = cache_.find(blockHash_[size_t(b)]);
    if (it != cache_.end() && it->second == b)
      cache_.erase(it);
    cached_[size_t(b)] = 0;
  }
  ref_[size_t(b)] = 1;
  return b;
}

void BlockManager::release(int32_t b) {
  if (--ref_[size_t(b)] == 0)
    pushFree(b, !cached_[size_t(b)]);
}

uint64_t BlockManager::chain(uint64_t parent, const int32_t *tokens) const {
  return XXH3_64bits_withSeed(tokens, sizeof(int32_t) * size_t(blockSize_), parent);
}

int64_t BlockManager::open(SeqId id, const int32_t *tokens, int64_t maxCached) {
  INGOT_CHECK(!seqs_.count(id), "block manager: sequence " + std::to_string(id) +
                                    " is already open");
  Seq &s = seqs_[id];
  if (!prefixCaching_ || maxCached < blockSize_)
    return 0;
  const int64_t full = maxCached / blockSize_;
  uint64_t h = salt_;
  for (int64_t i = 0; i < full; ++i) {
    const int32_t *t = tokens + i * blockSize_;
    h = chain(h, t);
    auto it = cache_.find(h);
    if (it == cache_.end())
      break;
    const int32_t b = it->second;
    if (std::memcmp(blockTokens_.data() + size_t(b) * size_t(blockSize_), t,
                    sizeof(int32_t) * size_t(blockSize_)) != 0)
      break; // a hash collision: treat as a miss
    if (ref_[size_t(b)] == 0)
      unlinkFree(b);
    ++ref_[size_t(b)];
    s.blocks.push_back(b);
    s.hashes.push_back(h);
  }
  return int64_t(s.blocks.size()) * blockSize_;
}

bool BlockManager::reserve(SeqId id, int64_t numTokens, int64_t writeFrom,
                           std::vector<BlockCopy> &copies) {
  Seq &s = seq(id);
  const int64_t have = int64_t(s.blocks.size());
  const int64_t need = (numTokens + blockSize_ - 1) / blockSize_;
  const int64_t firstWrite = std::max<int64_t>(0, writeFrom / blockSize_);
  int64_t shared = 0;
  for (int64_t i = firstWrite; i < std::min(have, need); ++i)
    shared += ref_[size_t(s.blocks[size_t(i)])] > 1;
  const int64_t extra = std::max<int64_t>(0, need - have);
  if (extra + shared > numFree_)
    return false;
  for (int64_t i = firstWrite; i < std::min(have, need); ++i) {
    int32_t &b = s.blocks[size_t(i)];
    if (ref_[size_t(b)] <= 1)
      continue;
    const int32_t fresh = allocBlock();
    copies.push_back({b, fresh});
    release(b);
    b = fresh;
    // A copied block is being written past its computed tokens: it is not
    // (yet) a full committed block, so it has no hash of its own.
    if (size_t(i) < s.hashes.size())
      s.hashes.resize(size_t(i));
  }
  for (int64_t i = have; i < need; ++i)
    s.blocks.push_back(allocBlock());
  return true;
}

void BlockManager::commit(SeqId id, const int32_t *tokens, int64_t numComputed) {
  if (!prefixCaching_)
    return;
  Seq &s = seq(id);
  const int64_t full = std::min<int64_t>(numComputed / blockSize_, int64_t(s.blocks.size()));
  uint64_t h = s.hashes.empty() ? salt_ : s.hashes.back();
  for (int64_t i = int64_t(s.hashes.size()); i < full; ++i) {
    const int32_t *t = tokens + i * blockSize_;
    h = chain(h, t);
    s.hashes.push_back(h);
    const int32_t b = s.blocks[size_t(i)];
    // An equal block already cached (two requests computed the same prefix
    // at once) keeps its entry; this copy stays private and uncached.
    if (cached_[size_t(b)] || cache_.count(h))
      continue;
    cache_.emplace(h, b);
    blockHash_[size_t(b)] = h;
    cached_[size_t(b)] = 1;
    std::memcpy(blockTokens_.data() + size_t(b) * size_t(blockSize_), t,
                sizeof(int32_t) * size_t(blockSize_));
  }
}

void BlockManager::fork(SeqId parent, SeqId child) {
  INGOT_CHECK(!seqs_.count(child), "block manager: sequence " + std::to_string(child) +
                                       " is already open");
  Seq copy = seq(parent);
  for (int32_t b : copy.blocks)
    ++ref_[size_t(b)];
  seqs_.emplace(child, std::move(copy));
}

void BlockManager::free(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end())
    return;
  const std::vector<int32_t> &blocks = it->second.blocks;
  for (size_t i = blocks.size(); i-- > 0;)
    release(blocks[i]);
  seqs_.erase(it);
}

void BlockManager::clearCache() {
  for (size_t b = 0; b < cached_.size(); ++b) {
    if (!cached_[b])
      continue;
    if (ref_[b] == 0) { // move it to the front: nothing worth keeping now
      unlinkFree(int32_t(b));
      cached_[b] = 0;
      pushFree(int32_t(b), true);
    } else {
      cached_[b] = 0;
    }
  }
  cache_.clear();
}

} // namespace ingot
