// Tests for kv_cache.cpp: layout ([block][offset][head][dim] per layer, K and
// V separate), sizes, argument checks, and BatchMeta::numTokens.
#include "ingot/runtime/error.h"
#include "ingot/runtime/kv_cache.h"

#include <gtest/gtest.h>

using namespace ingot;

namespace {

TEST(KvCache, Layout) {
  KvCache kv({{2, 4}, {1, 8}, {3, 2}}, /*blockSize=*/4, /*numBlocks=*/3);
  EXPECT_EQ(kv.numLayers(), 3);
  EXPECT_EQ(kv.blockSize(), 4);
  EXPECT_EQ(kv.numBlocks(), 3);
  EXPECT_EQ(kv.layer(2).numKvHeads, 3);
  // 12 slots; per slot 8, 8, 6 floats; K and V.
  EXPECT_EQ(kv.bytes(), size_t(12 * (8 + 8 + 6) * 2 * 4));
  for (int l = 0; l < 3; ++l) {
    int row = kv.layer(l).numKvHeads * kv.layer(l).headDim;
    for (int64_t slot = 0; slot < 12; ++slot) {
      EXPECT_EQ(kv.key(l, slot) - kv.key(l, 0), slot * row);
      EXPECT_EQ(kv.value(l, slot) - kv.value(l, 0), slot * row);
    }
  }
  // Zero-initialised; writes land where they are read back, K apart from V.
  EXPECT_EQ(kv.key(1, 11)[7], 0.0f);
  kv.key(1, 11)[7] = 3.0f;
  kv.value(1, 11)[7] = 4.0f;
  EXPECT_EQ(kv.key(1, 11)[7], 3.0f);
  EXPECT_EQ(kv.value(1, 11)[7], 4.0f);
  EXPECT_EQ(kv.key(0, 11)[7], 0.0f);
}

TEST(KvCache, BadArguments) {
  EXPECT_THROW(KvCache({{2, 4}}, 0, 3), Error);
  EXPECT_THROW(KvCache({{2, 4}}, 4, 0), Error);
  EXPECT_THROW(KvCache({{0, 4}}, 4, 3), Error);
  EXPECT_THROW(KvCache({{2, -1}}, 4, 3), Error);
  EXPECT_THROW(KvCache({{1, 1}}, 1 << 30, int64_t(1) << 40), Error);
}

TEST(BatchMeta, NumTokens) {
  BatchMeta b;
  EXPECT_EQ(b.numTokens(), 0);
  b.seqs.resize(3);
  b.seqs[0].queryLen = 17; // prefill chunk
  b.seqs[1].queryLen = 1;  // decode
  b.seqs[2].queryLen = 1;
  EXPECT_EQ(b.numTokens(), 19);
}

} // namespace
