// Unit tests for com.microsoft GroupQueryAttention (runtime/src/nd/nd_nn_attention.cpp):
// error paths (bad input is an ingot::Error naming the op and the problem) and
// properties checked at head sizes onnxruntime's CPU kernel refuses (it wants
// multiples of 8): closed-form results with a zero query (uniform attention =
// the mean of the visible values), grouped heads = the same heads with K/V
// duplicated, and prefill = prefill + decode through present -> past. The
// value checks against onnxruntime are runtime/tests/nd_gqa_vs_ort.py.
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"
#include "nd_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace ingot;

namespace {

using ndtest::Buf;
using ndtest::Ctx;

std::vector<float> randoms(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-2.f, 2.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}

void expectGqaError(Ctx &c, std::initializer_list<const char *> needles) {
  try {
    c.run();
    FAIL() << "expected an error";
  } catch (const Error &e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("GroupQueryAttention"), std::string::npos) << m;
    for (const char *n : needles)
      EXPECT_NE(m.find(n), std::string::npos) << "message '" << m << "' lacks '" << n << "'";
  }
}

// A valid prefill: B=1, S=3, Hq=4, Hkv=2, D=8; tests break one thing each.
struct Prefill {
  Buf q = Buf::make<float>(DType::F32, {1, 3, 32}, randoms(96, 1));
  Buf k = Buf::make<float>(DType::F32, {1, 3, 16}, randoms(48, 2));
  Buf v = Buf::make<float>(DType::F32, {1, 3, 16}, randoms(48, 3));
  Buf seqlens = Buf::make<int32_t>(DType::I32, {1}, {2});
  Buf total = Buf::make<int32_t>(DType::I32, {}, {3});
  std::vector<const nd::Tensor *> ins() {
    return {&q.t, &k.t, &v.t, nullptr, nullptr, &seqlens.t, &total.t};
  }
};

Ctx gqa(std::vector<const nd::Tensor *> ins, int64_t hq, int64_t hkv, int nOut = 3) {
  Ctx c("GroupQueryAttention", std::move(ins), nOut, "com.microsoft");
  c.setInt("num_heads", hq);
  c.setInt("kv_num_heads", hkv);
  return c;
}

} // namespace

TEST(NdAttention, Registered) {
  EXPECT_NE(nd::findKernel("com.microsoft", "GroupQueryAttention"), nullptr);
}

TEST(NdAttention, ValidPrefillRuns) {
  Prefill p;
  Ctx c = gqa(p.ins(), 4, 2);
  c.run();
  EXPECT_EQ(c.outs[0].t.shape, (std::vector<int64_t>{1, 3, 32}));
  EXPECT_EQ(c.outs[1].t.shape, (std::vector<int64_t>{1, 2, 3, 8}));
}

TEST(NdAttention, WrongRanks) {
  Prefill p;
  Buf q2 = Buf::make<float>(DType::F32, {3, 32}, randoms(96, 4));
  std::vector<const nd::Tensor *> in = p.ins();
  in[0] = &q2.t;
  Ctx c1 = gqa(in, 4, 2);
  expectGqaError(c1, {"query must be 3-D", "[3,32]"});

  Buf k2 = Buf::make<float>(DType::F32, {3, 16}, randoms(48, 5));
  in = p.ins();
  in[1] = &k2.t;
  Ctx c2 = gqa(in, 4, 2);
  expectGqaError(c2, {"key must be", "[3,16]"});

  Buf pk = Buf::make<float>(DType::F32, {1, 2, 8}, randoms(16, 6));
  in = p.ins();
  in[3] = &pk.t;
  in[4] = &pk.t;
  Ctx c3 = gqa(in, 4, 2);
  expectGqaError(c3, {"past_key must be", "[1,2,8]"});

  Buf sl = Buf::make<int32_t>(DType::I32, {1, 2}, {2, 2});
  in = p.ins();
  in[5] = &sl.t;
  Ctx c4 = gqa(in, 4, 2);
  expectGqaError(c4, {"seqlens_k must be [batch] or [batch, 1]"});

  Buf tot = Buf::make<int32_t>(DType::I32, {2}, {3, 3});
  in = p.ins();
  in[6] = &tot.t;
  Ctx c5 = gqa(in, 4, 2);
  expectGqaError(c5, {"total_sequence_length must be a scalar"});
}

TEST(NdAttention, BadHeadCounts) {
  Prefill p;
  Ctx c1 = gqa(p.ins(), 4, 3);
  expectGqaError(c1, {"num_heads 4 is not a multiple of kv_num_heads 3"});
  Ctx c2("GroupQueryAttention", p.ins(), 3, "com.microsoft"); // no head counts
  expectGqaError(c2, {"num_heads and kv_num_heads must be positive"});
  Ctx c3 = gqa(p.ins(), 5, 1); // 32 is not a multiple of 5
  expectGqaError(c3, {"hidden size 32"});
  Ctx c4 = gqa(p.ins(), 4, 1); // key hidden 16 != 1*8
  expectGqaError(c4, {"key must be", "[1,3,8]"});
}

TEST(NdAttention, BadLengthsAndOptionalInputs) {
  Prefill p;
  std::vector<const nd::Tensor *> in = p.ins();
  in[2] = nullptr;
  Ctx c1 = gqa(in, 4, 2);
  expectGqaError(c1, {"key and value must both be given"});

  Buf sl = Buf::make<int32_t>(DType::I32, {1}, {3});
  in = p.ins();
  in[5] = &sl.t;
  Ctx c2 = gqa(in, 4, 2);
  expectGqaError(c2, {"seqlens_k[0] = 3 is outside [0, 3)"});

  // A past of 2 with 3 new tokens needs total 5 (or a shared buffer >= total).
  Buf pk = Buf::make<float>(DType::F32, {1, 2, 2, 8}, randoms(32, 7));
  Buf tot = Buf::make<int32_t>(DType::I32, {}, {4});
  in = p.ins();
  in[3] = &pk.t;
  in[4] = &pk.t;
  in[6] = &tot.t;
  Ctx c3 = gqa(in, 4, 2);
  expectGqaError(c3, {"total_sequence_length 4 must be past_seq + seq = 5"});

  Ctx c4 = gqa(p.ins(), 4, 2);
  c4.setInt("do_rotary", 1);
  expectGqaError(c4, {"do_rotary=1 needs cos_cache"});

  // Positions 0..2 but a cache of 2 positions.
  Buf cs = Buf::make<float>(DType::F32, {2, 4}, randoms(8, 8));
  in = p.ins();
  in.resize(9);
  in[7] = &cs.t;
  in[8] = &cs.t;
  Ctx c5 = gqa(in, 4, 2);
  c5.setInt("do_rotary", 1);
  expectGqaError(c5, {"rotary position 2 is outside the cos/sin cache of 2"});

  Buf pk16 = Buf::make<uint16_t>(DType::F16, {1, 2, 0, 8}, {});
  in = p.ins();
  in[3] = &pk16.t;
  in[4] = &pk16.t;
  Ctx c6 = gqa(in, 4, 2);
  expectGqaError(c6, {"past_key has dtype f16", "quantized"});

  Buf bias = Buf::make<float>(DType::F32, {1, 4, 3, 2}, randoms(24, 9));
  in = p.ins();
  in.resize(11);
  in[10] = &bias.t;
  Ctx c7 = gqa(in, 4, 2);
  expectGqaError(c7, {"attention_bias must be", "[1,4,3,2]"});

  Ctx c8 = gqa(p.ins(), 4, 2);
  c8.setInt("causal", 0);
  c8.setInt("local_window_size", 2);
  expectGqaError(c8, {"local_window_size needs causal=1"});
}

TEST(NdAttention, UnsupportedFeaturesAreRefused) {
  Prefill p;
  std::vector<const nd::Tensor *> in = p.ins();
  in.resize(17);
  in[16] = &p.seqlens.t;
  Ctx c1 = gqa(in, 4, 2);
  expectGqaError(c1, {"query_seqlens", "not supported"});
  Ctx c2 = gqa(p.ins(), 4, 2, 4);
  expectGqaError(c2, {"output_qk"});
  Ctx c3 = gqa(p.ins(), 4, 2);
  c3.setInt("sliding_window_cache", 1);
  expectGqaError(c3, {"sliding_window_cache"});
}

// Zero queries: every visible key gets the same weight, so each output row is
// the mean of the visible value rows. Head size 3, a right-padded batch row
// and a window; the visible sets are worked out here by hand.
TEST(NdAttention, ZeroQueryAveragesVisibleValues) {
  const int64_t B = 2, S = 4, D = 3;
  Buf q =
      Buf::make<float>(DType::F32, {B, S, 2 * D}, std::vector<float>(size_t(B * S * 2 * D), 0.f));
  Buf k = Buf::make<float>(DType::F32, {B, S, D}, randoms(size_t(B * S * D), 11));
  std::vector<float> vv(size_t(B * S * D));
  for (size_t i = 0; i < vv.size(); ++i)
    vv[i] = float(i % 7) - 2.f;
  Buf v = Buf::make<float>(DType::F32, {B, S, D}, vv);
  Buf sl = Buf::make<int32_t>(DType::I32, {B}, {3, 1}); // row 1: 2 valid tokens
  Buf tot = Buf::make<int32_t>(DType::I32, {}, {4});
  for (int64_t window : {-1, 2}) {
    Ctx c = gqa({&q.t, &k.t, &v.t, nullptr, nullptr, &sl.t, &tot.t}, 2, 1);
    c.setInt("local_window_size", window);
    c.run();
    const std::vector<float> y = c.out();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s) {
        // Keys j <= s and j < T (padded rows see the T valid keys), j > s - window.
        const int64_t T = b == 0 ? 4 : 2;
        const int64_t hi = std::min(s + 1, T), lo = window < 0 ? 0 : std::max<int64_t>(0, s - 1);
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t d = 0; d < D; ++d) {
            double want = 0;
            if (lo < hi) {
              for (int64_t j = lo; j < hi; ++j)
                want += vv[size_t((b * S + j) * D + d)];
              want /= double(hi - lo);
            }
            EXPECT_NEAR(y[size_t(((b * S + s) * 2 + h) * D + d)], want, 1e-5)
                << "window " << window << " b " << b << " s " << s << " h " << h << " d " << d;
          }
      }
  }
}

// Grouped heads read their group's K/V: Hq=4 over Hkv=2 equals Hq=4 over
// Hkv=4 with each K/V head duplicated. Head size 12, with past and rotary.
TEST(NdAttention, GroupingEqualsDuplicatedHeads) {
  const int64_t B = 2, S = 1, D = 12, P = 5;
  Buf q = Buf::make<float>(DType::F32, {B, S, 4 * D}, randoms(size_t(B * S * 4 * D), 21));
  std::vector<float> kv2 = randoms(size_t(B * S * 2 * D), 22),
                     vv2 = randoms(size_t(B * S * 2 * D), 23);
  std::vector<float> pk2 = randoms(size_t(B * 2 * P * D), 24),
                     pv2 = randoms(size_t(B * 2 * P * D), 25);
  // Duplicate head g into heads 2g and 2g+1.
  auto dupTokens = [&](const std::vector<float> &x) {
    std::vector<float> y;
    for (int64_t r = 0; r < B * S; ++r)
      for (int64_t h = 0; h < 4; ++h)
        y.insert(y.end(), x.begin() + (r * 2 + h / 2) * D, x.begin() + (r * 2 + h / 2 + 1) * D);
    return y;
  };
  auto dupPast = [&](const std::vector<float> &x) {
    std::vector<float> y;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < 4; ++h)
        y.insert(y.end(), x.begin() + (b * 2 + h / 2) * P * D,
                 x.begin() + (b * 2 + h / 2 + 1) * P * D);
    return y;
  };
  Buf k2 = Buf::make<float>(DType::F32, {B, S, 2 * D}, kv2),
      v2 = Buf::make<float>(DType::F32, {B, S, 2 * D}, vv2);
  Buf k4 = Buf::make<float>(DType::F32, {B, S, 4 * D}, dupTokens(kv2));
  Buf v4 = Buf::make<float>(DType::F32, {B, S, 4 * D}, dupTokens(vv2));
  Buf p2k = Buf::make<float>(DType::F32, {B, 2, P, D}, pk2),
      p2v = Buf::make<float>(DType::F32, {B, 2, P, D}, pv2);
  Buf p4k = Buf::make<float>(DType::F32, {B, 4, P, D}, dupPast(pk2));
  Buf p4v = Buf::make<float>(DType::F32, {B, 4, P, D}, dupPast(pv2));
  Buf sl = Buf::make<int32_t>(DType::I32, {B}, {5, 2});
  Buf tot = Buf::make<int32_t>(DType::I32, {}, {6});
  Buf cs = Buf::make<float>(DType::F32, {8, 6}, randoms(48, 26));
  Buf sn = Buf::make<float>(DType::F32, {8, 6}, randoms(48, 27));
  Ctx a = gqa({&q.t, &k2.t, &v2.t, &p2k.t, &p2v.t, &sl.t, &tot.t, &cs.t, &sn.t}, 4, 2, 1);
  Ctx b = gqa({&q.t, &k4.t, &v4.t, &p4k.t, &p4v.t, &sl.t, &tot.t, &cs.t, &sn.t}, 4, 4, 1);
  a.setInt("do_rotary", 1);
  b.setInt("do_rotary", 1);
  a.run();
  b.run();
  const std::vector<float> ya = a.out(), yb = b.out();
  ASSERT_EQ(ya.size(), yb.size());
  for (size_t i = 0; i < ya.size(); ++i)
    EXPECT_FLOAT_EQ(ya[i], yb[i]) << i;
}

// Prefill of S tokens = prefill of S-1 tokens, then one decode step that
// takes the presents as its past. Head size 20 (rotary dim 20), window 3.
TEST(NdAttention, PrefillEqualsPrefillThenDecode) {
  const int64_t S = 5, D = 20, Hq = 2, Hkv = 1;
  const std::vector<float> qa = randoms(size_t(S * Hq * D), 31),
                           ka = randoms(size_t(S * Hkv * D), 32),
                           va = randoms(size_t(S * Hkv * D), 33);
  Buf cs = Buf::make<float>(DType::F32, {S, D / 2}, randoms(size_t(S * D / 2), 34));
  Buf sn = Buf::make<float>(DType::F32, {S, D / 2}, randoms(size_t(S * D / 2), 35));
  auto slice = [](const std::vector<float> &x, int64_t from, int64_t n) {
    return std::vector<float>(x.begin() + from, x.begin() + from + n);
  };
  auto setup = [](Ctx &c) {
    c.setInt("do_rotary", 1);
    c.setInt("rotary_interleaved", 1);
    c.setInt("local_window_size", 3);
  };
  // Full prefill.
  Buf q = Buf::make<float>(DType::F32, {1, S, Hq * D}, qa),
      k = Buf::make<float>(DType::F32, {1, S, D}, ka),
      v = Buf::make<float>(DType::F32, {1, S, D}, va);
  Buf sl = Buf::make<int32_t>(DType::I32, {1}, {int32_t(S - 1)});
  Buf tot = Buf::make<int32_t>(DType::I32, {}, {int32_t(S)});
  Ctx full = gqa({&q.t, &k.t, &v.t, nullptr, nullptr, &sl.t, &tot.t, &cs.t, &sn.t}, Hq, Hkv);
  setup(full);
  full.run();
  // Prefill S-1, then decode the last token.
  Buf q1 = Buf::make<float>(DType::F32, {1, S - 1, Hq * D}, slice(qa, 0, (S - 1) * Hq * D));
  Buf k1 = Buf::make<float>(DType::F32, {1, S - 1, D}, slice(ka, 0, (S - 1) * D));
  Buf v1 = Buf::make<float>(DType::F32, {1, S - 1, D}, slice(va, 0, (S - 1) * D));
  Buf sl1 = Buf::make<int32_t>(DType::I32, {1}, {int32_t(S - 2)});
  Buf tot1 = Buf::make<int32_t>(DType::I32, {}, {int32_t(S - 1)});
  Ctx pre = gqa({&q1.t, &k1.t, &v1.t, nullptr, nullptr, &sl1.t, &tot1.t, &cs.t, &sn.t}, Hq, Hkv);
  setup(pre);
  pre.run();
  Buf q2 = Buf::make<float>(DType::F32, {1, 1, Hq * D}, slice(qa, (S - 1) * Hq * D, Hq * D));
  Buf k2 = Buf::make<float>(DType::F32, {1, 1, D}, slice(ka, (S - 1) * D, D));
  Buf v2 = Buf::make<float>(DType::F32, {1, 1, D}, slice(va, (S - 1) * D, D));
  Ctx dec = gqa({&q2.t, &k2.t, &v2.t, &pre.outs[1].t, &pre.outs[2].t, &sl.t, &tot.t, &cs.t, &sn.t},
                Hq, Hkv);
  setup(dec);
  dec.run();
  const std::vector<float> yf = full.out(), yp = pre.out(), yd = dec.out();
  for (int64_t i = 0; i < (S - 1) * Hq * D; ++i)
    EXPECT_FLOAT_EQ(yf[size_t(i)], yp[size_t(i)]) << i;
  for (int64_t i = 0; i < Hq * D; ++i)
    EXPECT_NEAR(yf[size_t((S - 1) * Hq * D + i)], yd[size_t(i)], 1e-6) << i;
  for (int o = 1; o < 3; ++o) {
    const std::vector<float> pf = full.out(o), pd = dec.out(o);
    ASSERT_EQ(pf.size(), pd.size());
    for (size_t i = 0; i < pf.size(); ++i)
      EXPECT_FLOAT_EQ(pf[i], pd[i]) << "present " << o << " " << i;
  }
}
