// Tests for block_manager.cpp: allocation, growth, free, fork with
// copy-on-write, refusing to over-allocate, and the prefix cache (hits on
// full committed blocks only, LRU eviction order, clearing). Expected
// block counts are worked out by hand from the block size.
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/error.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

using namespace ingot;

namespace {

std::vector<int32_t> iota(int n, int start = 0) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(BlockManager, AllocateAppendFree) {
  BlockManager bm(4, 10, false);
  EXPECT_EQ(bm.numFree(), 10);
  std::vector<BlockCopy> copies;
  const auto toks = iota(20);
  EXPECT_EQ(bm.open(1, toks.data(), 19), 0); // caching off: no hits
  ASSERT_TRUE(bm.reserve(1, 5, 0, copies));  // 5 tokens -> 2 blocks
  EXPECT_EQ(bm.table(1).size(), 2u);
  EXPECT_EQ(bm.numFree(), 8);
  EXPECT_EQ(bm.numUsed(), 2);
  ASSERT_TRUE(bm.reserve(1, 8, 5, copies)); // still 2 blocks
  EXPECT_EQ(bm.table(1).size(), 2u);
  ASSERT_TRUE(bm.reserve(1, 9, 8, copies)); // a third
  EXPECT_EQ(bm.table(1).size(), 3u);
  EXPECT_TRUE(copies.empty());
  const std::set<int32_t> distinct(bm.table(1).begin(), bm.table(1).end());
  EXPECT_EQ(distinct.size(), 3u);
  for (int32_t b : bm.table(1)) {
    EXPECT_GE(b, 0);
    EXPECT_LT(b, 10);
    EXPECT_EQ(bm.refCount(b), 1);
  }
  bm.free(1);
  EXPECT_FALSE(bm.has(1));
  EXPECT_EQ(bm.numFree(), 10);
  EXPECT_THROW(bm.table(1), Error);
  EXPECT_THROW(bm.reserve(1, 1, 0, copies), Error);
  bm.free(1); // unknown: ignored
}

TEST(BlockManager, NeverHandsOutMoreThanItHas) {
  BlockManager bm(4, 5, false);
  std::vector<BlockCopy> copies;
  const auto toks = iota(40);
  bm.open(1, toks.data(), 0);
  bm.open(2, toks.data(), 0);
  ASSERT_TRUE(bm.reserve(1, 12, 0, copies)); // 3 blocks
  EXPECT_FALSE(bm.reserve(2, 12, 0, copies)); // needs 3, 2 left
  EXPECT_TRUE(bm.table(2).empty());           // unchanged on failure
  EXPECT_EQ(bm.numFree(), 2);
  ASSERT_TRUE(bm.reserve(2, 8, 0, copies));
  EXPECT_EQ(bm.numFree(), 0);
  EXPECT_FALSE(bm.reserve(1, 13, 12, copies));
  EXPECT_EQ(bm.table(1).size(), 3u);
  std::set<int32_t> all(bm.table(1).begin(), bm.table(1).end());
  all.insert(bm.table(2).begin(), bm.table(2).end());
  EXPECT_EQ(all.size(), 5u); // disjoint
  bm.free(2);
  EXPECT_TRUE(bm.reserve(1, 13, 12, copies));
  EXPECT_THROW(BlockManager(0, 4), Error);
  EXPECT_THROW(BlockManager(4, 0), Error);
}

TEST(BlockManager, ForkSharesThenCopiesOnWrite) {
  BlockManager bm(4, 10, false);
  std::vector<BlockCopy> copies;
  const auto toks = iota(20);
  bm.open(1, toks.data(), 0);
  ASSERT_TRUE(bm.reserve(1, 6, 0, copies)); // blocks A (full), B (2 of 4)
  const auto parent = bm.table(1);
  bm.fork(1, 2);
  bm.fork(1, 3);
  EXPECT_EQ(bm.table(2), parent);
  EXPECT_EQ(bm.refCount(parent[0]), 3);
  EXPECT_EQ(bm.refCount(parent[1]), 3);
  EXPECT_EQ(bm.numUsed(), 2);
  // Child 2 writes token 6 into the shared partial block: it gets a copy.
  ASSERT_TRUE(bm.reserve(2, 7, 6, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, parent[1]);
  EXPECT_EQ(bm.table(2)[0], parent[0]); // the full block stays shared
  EXPECT_EQ(copies[0].dst, bm.table(2)[1]);
  EXPECT_NE(bm.table(2)[1], parent[1]);
  EXPECT_EQ(bm.refCount(parent[1]), 2);
  // Child 3 too; then the parent is the last owner and writes in place.
  copies.clear();
  ASSERT_TRUE(bm.reserve(3, 7, 6, copies));
  EXPECT_EQ(copies.size(), 1u);
  copies.clear();
  ASSERT_TRUE(bm.reserve(1, 7, 6, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(bm.table(1), parent);
  EXPECT_EQ(bm.numUsed(), 4);
  // A copy needs a free block: with none, reserve fails and changes nothing.
  BlockManager small(4, 2, false);
  small.open(1, toks.data(), 0);
  ASSERT_TRUE(small.reserve(1, 6, 0, copies));
  small.fork(1, 2);
  copies.clear();
  EXPECT_FALSE(small.reserve(2, 7, 6, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(small.table(2), small.table(1));
  bm.free(1);
  bm.free(2);
  bm.free(3);
  EXPECT_EQ(bm.numFree(), 10);
}

TEST(BlockManager, PrefixCacheHitsFullCommittedBlocks) {
  BlockManager bm(4, 16, true, 7);
  std::vector<BlockCopy> copies;
  const auto a = iota(14, 100); // 3 full blocks + 2
  ASSERT_EQ(bm.open(1, a.data(), 13), 0);
  ASSERT_TRUE(bm.reserve(1, 14, 0, copies));
  // Nothing is reusable before the K/V are computed (committed).
  ASSERT_EQ(bm.open(2, a.data(), 13), 0);
  bm.free(2);
  bm.commit(1, a.data(), 10); // 2 full blocks computed
  EXPECT_EQ(bm.open(2, a.data(), 13), 8);
  EXPECT_EQ(bm.table(2)[0], bm.table(1)[0]);
  EXPECT_EQ(bm.table(2)[1], bm.table(1)[1]);
  EXPECT_EQ(bm.refCount(bm.table(1)[0]), 2);
  bm.free(2);
  bm.commit(1, a.data(), 14);
  // maxCached limits the hit to whole blocks below it.
  EXPECT_EQ(bm.open(3, a.data(), 11), 8);
  bm.free(3);
  EXPECT_EQ(bm.open(3, a.data(), 12), 12);
  bm.free(3);
  // A different second block: only the first matches; a different first
  // block: nothing (the chain hashes the prefix, not the block alone).
  auto b = a;
  b[5] = 7;
  EXPECT_EQ(bm.open(4, b.data(), 13), 4);
  bm.free(4);
  auto c = a;
  c[0] = 7;
  EXPECT_EQ(bm.open(5, c.data(), 13), 0);
  bm.free(5);
}

TEST(BlockManager, CachedBlocksSurviveFreeAndEvictLeastRecentlyUsed) {
  BlockManager bm(2, 6, true);
  std::vector<BlockCopy> copies;
  // One request's life: hit what is cached, compute the rest, finish.
  auto run = [&](BlockManager::SeqId id, const std::vector<int32_t> &t) {
    const int64_t hit = bm.open(id, t.data(), int64_t(t.size()) - 1);
    EXPECT_TRUE(bm.reserve(id, int64_t(t.size()), hit, copies));
    bm.commit(id, t.data(), int64_t(t.size()));
    bm.free(id);
    return hit;
  };
  // 3-token prompts: one full block (cached when freed) and a partial one
  // (uncached, reused first).
  const auto a = iota(3, 10), b = iota(3, 20), c = iota(3, 30);
  EXPECT_EQ(run(1, a), 0);
  EXPECT_EQ(run(2, b), 0);
  EXPECT_EQ(run(3, c), 0);
  EXPECT_EQ(bm.numCached(), 3);
  EXPECT_EQ(bm.numFree(), 6);
  EXPECT_EQ(run(4, a), 2); // a is now the most recently used
  // 7 tokens need 4 blocks: the 3 uncached ones, then the least recently
  // used cached block, b.
  const auto d = iota(7, 40);
  EXPECT_EQ(run(5, d), 0);
  EXPECT_EQ(bm.numCached(), 5); // a, c and d's three full blocks
  EXPECT_EQ(run(6, a), 2);
  EXPECT_EQ(run(7, c), 2);
  EXPECT_EQ(run(8, b), 0);
  // b took the least recently used cached block: d's last full one (d's
  // blocks were freed tail first), so d now hits its first two blocks.
  EXPECT_EQ(run(9, d), 4);
}

TEST(BlockManager, HitOnReferencedBlockAndClearCache) {
  BlockManager bm(2, 8, true);
  std::vector<BlockCopy> copies;
  const auto a = iota(5, 10);
  bm.open(1, a.data(), 4);
  ASSERT_TRUE(bm.reserve(1, 5, 0, copies));
  bm.commit(1, a.data(), 5);
  EXPECT_EQ(bm.open(2, a.data(), 4), 4); // shared while 1 still runs
  EXPECT_EQ(bm.numUsed(), 3);
  EXPECT_EQ(bm.refCount(bm.table(1)[1]), 2);
  bm.free(1);
  bm.free(2);
  EXPECT_EQ(bm.numCached(), 2);
  bm.clearCache();
  EXPECT_EQ(bm.numCached(), 0);
  EXPECT_EQ(bm.numFree(), 8);
  EXPECT_EQ(bm.open(3, a.data(), 4), 0);
}

} // namespace
