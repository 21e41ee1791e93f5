// Tests for the CPU kernels (src/cpu_kernels*.cpp). Every kernel is compared
// with a naive reference written here independently, in double precision,
// straight from the formulas in docs/plan-format.md, on odd sizes (H = 37,
// T = 5, head_dim 16 with rotary 8, GQA, MQA, windows, non-contiguous block
// tables). The llama3 rope reference follows Meta's original branchy
// formulation rather than HF's vectorised one.
#include "../src/cpu_kernels.h"
#include "ingot/runtime/kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace ingot;

namespace {

std::vector<float> randVec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

void expectNear(const std::vector<double> &ref, const float *got, double tol,
                const std::string &what) {
  for (size_t i = 0; i < ref.size(); ++i) {
    const double scale = std::max(1.0, std::fabs(ref[i]));
    ASSERT_NEAR(got[i], ref[i], tol * scale) << what << " at " << i;
  }
}

double actRef(const std::string &a, double x) {
  if (a == "gelu")
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  if (a == "gelu_tanh")
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  if (a == "relu")
    return x > 0 ? x : 0;
  if (a == "silu")
    return x / (1.0 + std::exp(-x));
  return x;
}

struct KernelTest : ::testing::Test {
  void SetUp() override { cpu::setNumThreads(2); }
};

TEST_F(KernelTest, Embedding) {
  const int64_t V = 11, H = 37;
  auto table = randVec(size_t(V * H), 1);
  std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  std::vector<float> out(ids.size() * H);
  cpu::embedding(ids.data(), int64_t(ids.size()), table.data(), H, out.data());
  for (size_t t = 0; t < ids.size(); ++t)
    for (int64_t h = 0; h < H; ++h)
      ASSERT_EQ(out[t * H + size_t(h)], table[size_t(ids[t] * H + h)]);
}

// Sizes on both sides of the kernels' parallel thresholds, so the serial
// and the multithreaded paths (column-split GEMM/GEMV) are both checked.
TEST_F(KernelTest, LinearAllActivationsAndShapes) {
  const int64_t sizes[][3] = {{1, 37, 23}, {5, 37, 23}, {1, 1024, 300}, {7, 300, 301}};
  for (const auto &sz : sizes) {
    const int64_t R = sz[0], K = sz[1], N = sz[2];
    for (const char *act : {"none", "gelu", "gelu_tanh", "relu", "silu"}) {
      for (bool bias : {false, true}) {
        auto x = randVec(size_t(R * K), 2), W = randVec(size_t(N * K), 3),
             b = randVec(size_t(N), 4);
        cpu::Activation a;
        ASSERT_TRUE(cpu::parseActivation(act, a));
        std::vector<float> out(static_cast<size_t>(R * N));
        cpu::linear(x.data(), R, K, W.data(), N, bias ? b.data() : nullptr, a, out.data());
        std::vector<double> ref(static_cast<size_t>(R * N));
        for (int64_t r = 0; r < R; ++r)
          for (int64_t n = 0; n < N; ++n) {
            double s = bias ? b[size_t(n)] : 0.0;
            for (int64_t k = 0; k < K; ++k)
              s += double(x[size_t(r * K + k)]) * W[size_t(n * K + k)];
            ref[size_t(r * N + n)] = actRef(act, s);
          }
        expectNear(ref, out.data(), 1e-5,
                   std::string("linear ") + act + " R=" + std::to_string(R) + " K=" +
                       std::to_string(K) + " N=" + std::to_string(N));
      }
    }
  }
  cpu::Activation a;
  EXPECT_FALSE(cpu::parseActivation("swish", a));
}

void normRef(const float *x, int64_t R, int64_t H, const float *g, const float *b,
             double eps, bool layer, std::vector<double> &out) {
  out.assign(size_t(R * H), 0);
  for (int64_t r = 0; r < R; ++r) {
    const float *xr = x + r * H;
    double mean = 0, var = 0;
    if (layer) {
      for (int64_t i = 0; i < H; ++i)
        mean += xr[i];
      mean /= double(H);
    }
    for (int64_t i = 0; i < H; ++i)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= double(H);
    for (int64_t i = 0; i < H; ++i)
      out[size_t(r * H + i)] =
          (xr[i] - mean) / std::sqrt(var + eps) * g[i] + (layer ? b[i] : 0.0);
  }
}

class NormTest : public KernelTest, public ::testing::WithParamInterface<std::pair<int64_t, int64_t>> {};
INSTANTIATE_TEST_SUITE_P(Sizes, NormTest,
                         ::testing::Values(std::make_pair(int64_t(5), int64_t(37)),
                                           std::make_pair(int64_t(70), int64_t(301))));

TEST_P(NormTest, Norms) {
  const int64_t R = GetParam().first, H = GetParam().second;
  const float eps = 1e-5f;
  auto x = randVec(size_t(R * H), 5, -3, 3), res = randVec(size_t(R * H), 6);
  auto g = randVec(size_t(H), 7, 0.5f, 1.5f), b = randVec(size_t(H), 8);
  std::vector<double> ref;
  std::vector<float> out(size_t(R * H)), sum(size_t(R * H));

  normRef(x.data(), R, H, g.data(), nullptr, eps, false, ref);
  cpu::rmsNorm(x.data(), R, H, g.data(), eps, out.data());
  expectNear(ref, out.data(), 1e-5, "rms_norm");

  normRef(x.data(), R, H, g.data(), b.data(), eps, true, ref);
  cpu::layerNorm(x.data(), R, H, g.data(), b.data(), eps, out.data());
  expectNear(ref, out.data(), 1e-5, "layer_norm");

  std::vector<float> s(static_cast<size_t>(R * H));
  for (size_t i = 0; i < s.size(); ++i)
    s[i] = x[i] + res[i];
  std::vector<double> sumRef(s.begin(), s.end());

  normRef(s.data(), R, H, g.data(), nullptr, eps, false, ref);
  cpu::addRmsNorm(x.data(), res.data(), R, H, g.data(), eps, sum.data(), out.data());
  expectNear(sumRef, sum.data(), 1e-6, "add_rms_norm sum");
  expectNear(ref, out.data(), 1e-5, "add_rms_norm normed");

  normRef(s.data(), R, H, g.data(), b.data(), eps, true, ref);
  // The sum may be written over the residual (in-place residual stream).
  std::vector<float> resCopy = res;
  cpu::addLayerNorm(x.data(), resCopy.data(), R, H, g.data(), b.data(), eps, resCopy.data(),
                    out.data());
  expectNear(sumRef, resCopy.data(), 1e-6, "add_layer_norm sum (aliased)");
  expectNear(ref, out.data(), 1e-5, "add_layer_norm normed");
}

// Meta's llama3 scaling, in double.
std::vector<double> invFreqRef(const cpu::RopeParams &p) {
  std::vector<double> inv;
  for (int i = 0; i < p.rotaryDim / 2; ++i) {
    double f = 1.0 / std::pow(p.theta, double(2 * i) / p.rotaryDim);
    if (p.scaling == cpu::RopeParams::Scaling::Linear) {
      f /= p.factor;
    } else if (p.scaling == cpu::RopeParams::Scaling::Llama3) {
      const double lowWl = p.originalMaxPosition / p.lowFreqFactor;
      const double highWl = p.originalMaxPosition / p.highFreqFactor;
      const double wl = 2 * M_PI / f;
      if (wl < highWl) {
      } else if (wl > lowWl) {
        f = f / p.factor;
      } else {
        const double sm = (p.originalMaxPosition / wl - p.lowFreqFactor) /
                          (p.highFreqFactor - p.lowFreqFactor);
        f = (1 - sm) * f / p.factor + sm * f;
      }
    }
    inv.push_back(f);
  }
  return inv;
}

TEST_F(KernelTest, RopeInvFreqLlama3HitsAllBranches) {
  cpu::RopeParams p;
  p.headDim = 8;
  p.rotaryDim = 8;
  p.theta = 500000.0;
  p.scaling = cpu::RopeParams::Scaling::Llama3;
  p.factor = 8;
  p.lowFreqFactor = 1;
  p.highFreqFactor = 4;
  p.originalMaxPosition = 8192;
  auto got = cpu::ropeInvFreq(p);
  auto ref = invFreqRef(p);
  ASSERT_EQ(got.size(), 4u);
  // Wavelengths ~6.3, ~167 (kept), ~4443 (smoothed), ~118000 (divided).
  for (size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(got[i], ref[i], 1e-6 * ref[i]) << i;
  const double unscaled3 = 1.0 / std::pow(500000.0, 6.0 / 8);
  EXPECT_NEAR(got[3], unscaled3 / 8, 1e-6 * unscaled3);
  const double unscaled2 = 1.0 / std::pow(500000.0, 4.0 / 8);
  EXPECT_LT(got[2], unscaled2);
  EXPECT_GT(got[2], unscaled2 / 8);
}

TEST_F(KernelTest, RopeVariants) {
  const int64_t T = 5;
  const int nh = 3;
  std::vector<int32_t> pos = {0, 1, 7, 130, 999};
  for (bool inter : {false, true}) {
    for (int scaling = 0; scaling < 3; ++scaling) {
      cpu::RopeParams p;
      p.headDim = 16;
      p.rotaryDim = 8;
      p.theta = 10000.0;
      p.interleaved = inter;
      p.scaling = cpu::RopeParams::Scaling(scaling);
      p.factor = 4.0;
      p.lowFreqFactor = 1;
      p.highFreqFactor = 4;
      p.originalMaxPosition = 64;
      auto x = randVec(size_t(T * nh * 16), 9);
      std::vector<float> out(x.size());
      cpu::rope(x.data(), T, nh, pos.data(), p, cpu::ropeInvFreq(p), out.data());
      auto inv = invFreqRef(p);
      std::vector<double> ref(x.begin(), x.end());
      for (int64_t t = 0; t < T; ++t)
        for (int h = 0; h < nh; ++h) {
          const size_t base = size_t((t * nh + h) * 16);
          for (int j = 0; j < 4; ++j) {
            const size_t i0 = base + size_t(inter ? 2 * j : j);
            const size_t i1 = base + size_t(inter ? 2 * j + 1 : j + 4);
            const double a = pos[size_t(t)] * inv[size_t(j)];
            ref[i0] = x[i0] * std::cos(a) - x[i1] * std::sin(a);
            ref[i1] = x[i1] * std::cos(a) + x[i0] * std::sin(a);
          }
        }
      expectNear(ref, out.data(), 2e-4,
                 "rope inter=" + std::to_string(inter) + " scaling=" + std::to_string(scaling));
      // In place gives the same result.
      cpu::rope(x.data(), T, nh, pos.data(), p, cpu::ropeInvFreq(p), x.data());
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(x[i], out[i]);
    }
  }
}

// --- attention --------------------------------------------------------------

struct SeqSpec {
  int ctx, qlen;
  std::vector<int32_t> blocks;
};

// Reference: per sequence, full K/V by cache index; causal (and windowed)
// softmax attention in double.
void attentionCase(int nh, int nkv, int d, int64_t window, int bs,
                   const std::vector<SeqSpec> &seqs, uint32_t seed) {
  const int layer = 1;
  KvCache cache({{1, 4}, {nkv, d}}, bs, 16);
  const int64_t kvw = int64_t(nkv) * d, qw = int64_t(nh) * d;
  BatchMeta batch;
  int64_t T = 0;
  for (const auto &s : seqs)
    T += s.qlen;
  std::vector<float> q = randVec(size_t(T * qw), seed), kNew(size_t(T * kvw)), vNew(size_t(T * kvw));
  std::vector<std::vector<float>> K, V;
  int32_t row = 0;
  for (size_t si = 0; si < seqs.size(); ++si) {
    const auto &s = seqs[si];
    K.push_back(randVec(size_t(s.ctx * kvw), seed + 100 + uint32_t(si), -2, 2));
    V.push_back(randVec(size_t(s.ctx * kvw), seed + 200 + uint32_t(si)));
    SeqStep st;
    st.queryStart = row;
    st.queryLen = s.qlen;
    st.contextLen = s.ctx;
    st.blockTable = s.blocks;
    batch.seqs.push_back(st);
    for (int j = 0; j < s.ctx; ++j) {
      const int64_t slot = int64_t(s.blocks[size_t(j / bs)]) * bs + j % bs;
      const float *kr = K.back().data() + j * kvw, *vr = V.back().data() + j * kvw;
      if (j < s.ctx - s.qlen) { // already cached
        std::copy(kr, kr + kvw, cache.key(layer, slot));
        std::copy(vr, vr + kvw, cache.value(layer, slot));
      } else {
        const int64_t t = row + (j - (s.ctx - s.qlen));
        std::copy(kr, kr + kvw, kNew.begin() + t * kvw);
        std::copy(vr, vr + kvw, vNew.begin() + t * kvw);
        batch.slotMapping.push_back(slot);
      }
    }
    row += s.qlen;
  }
  cpu::AttentionParams p;
  p.layer = layer;
  p.numHeads = nh;
  p.numKvHeads = nkv;
  p.headDim = d;
  p.scale = float(1.0 / std::sqrt(double(d)));
  p.slidingWindow = window;
  std::vector<float> out(static_cast<size_t>(T * qw));
  cpu::pagedAttention(q.data(), kNew.data(), vNew.data(), T, batch, cache, p, out.data());

  std::vector<double> ref(out.size());
  for (size_t si = 0; si < seqs.size(); ++si) {
    const auto &s = seqs[si];
    for (int i = 0; i < s.qlen; ++i) {
      const int64_t t = batch.seqs[si].queryStart + i;
      const int pos = s.ctx - s.qlen + i;
      for (int h = 0; h < nh; ++h) {
        const int kvh = h / (nh / nkv);
        std::vector<double> sc;
        std::vector<int> keys;
        for (int j = 0; j <= pos; ++j) {
          if (window > 0 && !(pos - window < j))
            continue;
          double dot = 0;
          for (int e = 0; e < d; ++e)
            dot += double(q[size_t(t * qw + h * d + e)]) * K[si][size_t(j * kvw + kvh * d + e)];
          sc.push_back(dot / std::sqrt(double(d)));
          keys.push_back(j);
        }
        const double m = *std::max_element(sc.begin(), sc.end());
        double z = 0;
        for (double &v : sc)
          z += (v = std::exp(v - m));
        for (int e = 0; e < d; ++e) {
          double acc = 0;
          for (size_t k = 0; k < keys.size(); ++k)
            acc += sc[k] / z * V[si][size_t(keys[k] * kvw + kvh * d + e)];
          ref[size_t(t * qw + h * d + e)] = acc;
        }
      }
    }
  }
  expectNear(ref, out.data(), 2e-5,
             "attention nh=" + std::to_string(nh) + " nkv=" + std::to_string(nkv) +
                 " window=" + std::to_string(window));
  // The new K/V landed at their slots.
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < kvw; ++e) {
      ASSERT_EQ(cache.key(layer, batch.slotMapping[size_t(t)])[e], kNew[size_t(t * kvw + e)]);
      ASSERT_EQ(cache.value(layer, batch.slotMapping[size_t(t)])[e], vNew[size_t(t * kvw + e)]);
    }
}

// A mixed batch: a prefill chunk continuing a cached prefix, a decode, a full
// prefill; block tables are non-contiguous and out of order.
const std::vector<SeqSpec> kMixed = {
    {7, 3, {5, 2}}, {10, 1, {0, 7, 3}}, {5, 5, {11, 6}}, {13, 2, {15, 1, 9, 4}}};

TEST_F(KernelTest, AttentionGqaMixedBatch) { attentionCase(4, 2, 16, 0, 4, kMixed, 10); }
TEST_F(KernelTest, AttentionMha) { attentionCase(2, 2, 8, 0, 4, kMixed, 11); }
TEST_F(KernelTest, AttentionMqa) { attentionCase(3, 1, 8, 0, 4, kMixed, 12); }
TEST_F(KernelTest, AttentionSlidingWindow) {
  attentionCase(4, 2, 16, 3, 4, kMixed, 13);
  attentionCase(4, 1, 8, 5, 4, kMixed, 14);
  attentionCase(2, 1, 8, 1, 4, kMixed, 15); // only the token itself
}
TEST_F(KernelTest, AttentionLargeEnoughToRunInParallel) {
  std::vector<int32_t> b1, b2;
  for (int i = 0; i < 6; ++i) {
    b1.push_back(15 - i); // 6 blocks of 8 = 48 slots, descending ids
    b2.push_back(i);
  }
  attentionCase(8, 2, 64, 0, 8, {{40, 20, b1}, {33, 1, b2}}, 18);
  attentionCase(8, 2, 64, 16, 8, {{40, 20, b1}, {33, 1, b2}}, 19);
}
TEST_F(KernelTest, AttentionBlockSizeOneAndLarge) {
  attentionCase(2, 1, 16, 0, 1, {{3, 2, {4, 0, 9}}, {1, 1, {2}}}, 16);
  attentionCase(2, 2, 16, 0, 32, {{20, 20, {3}}, {31, 1, {0}}}, 17);
}

// Prefilling at once, in chunks and one token at a time gives the same
// outputs (the cache carries state between calls).
TEST_F(KernelTest, AttentionChunkedEqualsFullEqualsStepwise) {
  const int nh = 4, nkv = 2, d = 16, bs = 4, L = 11;
  const int64_t qw = nh * d, kvw = nkv * d;
  auto q = randVec(size_t(L * qw), 20), k = randVec(size_t(L * kvw), 21),
       v = randVec(size_t(L * kvw), 22);
  const std::vector<int32_t> blocks = {6, 1, 4};
  cpu::AttentionParams p;
  p.layer = 0;
  p.numHeads = nh;
  p.numKvHeads = nkv;
  p.headDim = d;
  p.scale = 0.25f;
  auto runChunks = [&](int chunk) {
    KvCache cache({{nkv, d}}, bs, 8);
    std::vector<float> out(static_cast<size_t>(L * qw));
    for (int s = 0; s < L; s += chunk) {
      const int n = std::min(chunk, L - s);
      BatchMeta b;
      SeqStep st;
      st.queryLen = n;
      st.contextLen = s + n;
      st.blockTable = blocks;
      b.seqs.push_back(st);
      for (int j = s; j < s + n; ++j)
        b.slotMapping.push_back(int64_t(blocks[size_t(j / bs)]) * bs + j % bs);
      cpu::pagedAttention(q.data() + s * qw, k.data() + s * kvw, v.data() + s * kvw, n, b,
                          cache, p, out.data() + s * qw);
    }
    return out;
  };
  auto full = runChunks(L), chunked = runChunks(3), step = runChunks(1);
  for (size_t i = 0; i < full.size(); ++i) {
    ASSERT_NEAR(chunked[i], full[i], 1e-5) << i;
    ASSERT_NEAR(step[i], full[i], 1e-5) << i;
  }
}

// --- elementwise ----------------------------------------------------------

double ewRef(cpu::EwOp op, double a, double b, float imm) {
  switch (op) {
  case cpu::EwOp::Add: return a + b;
  case cpu::EwOp::Sub: return a - b;
  case cpu::EwOp::Mul: return a * b;
  case cpu::EwOp::Div: return a / b;
  case cpu::EwOp::Max: return std::max(a, b);
  case cpu::EwOp::Min: return std::min(a, b);
  case cpu::EwOp::Neg: return -a;
  case cpu::EwOp::Exp: return std::exp(a);
  case cpu::EwOp::Tanh: return std::tanh(a);
  case cpu::EwOp::Sqrt: return std::sqrt(a);
  case cpu::EwOp::Rsqrt: return 1 / std::sqrt(a);
  case cpu::EwOp::Recip: return 1 / a;
  case cpu::EwOp::Silu: return actRef("silu", a);
  case cpu::EwOp::GeluErf: return actRef("gelu", a);
  case cpu::EwOp::GeluTanh: return actRef("gelu_tanh", a);
  case cpu::EwOp::Relu: return actRef("relu", a);
  case cpu::EwOp::Sigmoid: return 1 / (1 + std::exp(-a));
  case cpu::EwOp::Const: return imm;
  }
  return 0;
}

class EwTest : public KernelTest, public ::testing::WithParamInterface<int64_t> {};
INSTANTIATE_TEST_SUITE_P(Rows, EwTest, ::testing::Values(int64_t(3), int64_t(40)));

TEST_P(EwTest, EveryOpWithBroadcast) {
  const int64_t R = GetParam(), C = 300; // more than one 256-wide tile per row
  auto x = randVec(size_t(R * C), 30, 0.1f, 2.0f); // positive: sqrt/rsqrt
  auto row = randVec(size_t(C), 31, 0.5f, 1.5f);
  const float scalar = -0.75f;
  const std::vector<cpu::EwInput> ins = {{x.data(), cpu::EwInput::Kind::Full},
                                         {row.data(), cpu::EwInput::Kind::Row},
                                         {&scalar, cpu::EwInput::Kind::Scalar}};
  for (int opi = 0; opi <= 30; ++opi) {
    if (!cpu::ewIsKnown(uint8_t(opi)))
      continue;
    const cpu::EwOp op = cpu::EwOp(opi);
    // r3 = op(r0, r1); r4 = r3 * r2 (scalar); outputs r3 and r4.
    std::vector<cpu::EwInstr> prog = {{op, 0, 1, 3, 1.25f}, {cpu::EwOp::Mul, 3, 2, 4, 0}};
    std::vector<float> o1(size_t(R * C)), o2(size_t(R * C));
    cpu::elementwise(prog, 5, ins, {3, 4}, {o1.data(), o2.data()}, R, C);
    std::vector<double> r1(o1.size()), r2(o1.size());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const size_t i = size_t(r * C + c);
        r1[i] = ewRef(op, x[i], row[size_t(c)], 1.25f);
        r2[i] = r1[i] * scalar;
      }
    expectNear(r1, o1.data(), 2e-6, "ew op " + std::to_string(opi));
    expectNear(r2, o2.data(), 2e-6, "ew op " + std::to_string(opi) + " * scalar");
  }
}

TEST_F(KernelTest, ElementwiseOverwritesInputRegisterNotTensor) {
  const int64_t R = 2, C = 5;
  auto x = randVec(size_t(R * C), 32);
  const auto xCopy = x;
  std::vector<float> out(static_cast<size_t>(R * C));
  // r0 = r0 + r0 ; out = r0
  cpu::elementwise({{cpu::EwOp::Add, 0, 0, 0, 0}}, 1, {{x.data(), cpu::EwInput::Kind::Full}}, {0},
                   {out.data()}, R, C);
  EXPECT_EQ(x, xCopy);
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_FLOAT_EQ(out[i], 2 * x[i]);
}

TEST_P(NormTest, SiluMulAndSoftmax) {
  const int64_t R = GetParam().first, C = GetParam().second;
  auto g = randVec(size_t(R * C), 40, -4, 4), u = randVec(size_t(R * C), 41);
  std::vector<float> out(static_cast<size_t>(R * C));
  cpu::siluMul(g.data(), u.data(), R * C, out.data());
  std::vector<double> ref(out.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ref[i] = actRef("silu", g[i]) * u[i];
  expectNear(ref, out.data(), 1e-6, "silu_mul");

  auto x = randVec(size_t(R * C), 42, -30, 30);
  cpu::softmax(x.data(), R, C, out.data());
  for (int64_t r = 0; r < R; ++r) {
    double m = -1e300, z = 0;
    for (int64_t c = 0; c < C; ++c)
      m = std::max(m, double(x[size_t(r * C + c)]));
    for (int64_t c = 0; c < C; ++c)
      z += std::exp(x[size_t(r * C + c)] - m);
    for (int64_t c = 0; c < C; ++c)
      ref[size_t(r * C + c)] = std::exp(x[size_t(r * C + c)] - m) / z;
  }
  expectNear(ref, out.data(), 1e-6, "softmax");
}

TEST_F(KernelTest, MoE) {
  const int64_t T = 5, H = 12, E = 4, I = 7;
  auto x = randVec(size_t(T * H), 50), router = randVec(size_t(E * H), 51, -2, 2);
  auto gate = randVec(size_t(E * I * H), 52), up = randVec(size_t(E * I * H), 53),
       down = randVec(size_t(E * H * I), 54);
  for (int topK : {1, 2, 4}) {
    for (bool norm : {false, true}) {
      std::vector<float> out(static_cast<size_t>(T * H));
      cpu::moe(x.data(), T, H, router.data(), E, gate.data(), up.data(), down.data(), I, topK,
               norm, out.data());
      std::vector<double> ref(out.size(), 0.0);
      for (int64_t t = 0; t < T; ++t) {
        const float *xt = x.data() + t * H;
        std::vector<double> p(static_cast<size_t>(E));
        double m = -1e300, z = 0;
        for (int64_t e = 0; e < E; ++e) {
          double s = 0;
          for (int64_t h = 0; h < H; ++h)
            s += double(xt[h]) * router[size_t(e * H + h)];
          p[size_t(e)] = s;
          m = std::max(m, s);
        }
        for (auto &v : p)
          z += (v = std::exp(v - m));
        for (auto &v : p)
          v /= z;
        std::vector<int64_t> order(static_cast<size_t>(E));
        for (int64_t e = 0; e < E; ++e)
          order[size_t(e)] = e;
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
        double sel = 0;
        for (int k = 0; k < topK; ++k)
          sel += p[size_t(order[size_t(k)])];
        for (int k = 0; k < topK; ++k) {
          const int64_t e = order[size_t(k)];
          const double w = p[size_t(e)] / (norm ? sel : 1.0);
          std::vector<double> a(static_cast<size_t>(I));
          for (int64_t i = 0; i < I; ++i) {
            double gs = 0, us = 0;
            for (int64_t h = 0; h < H; ++h) {
              gs += double(gate[size_t((e * I + i) * H + h)]) * xt[h];
              us += double(up[size_t((e * I + i) * H + h)]) * xt[h];
            }
            a[size_t(i)] = actRef("silu", gs) * us;
          }
          for (int64_t h = 0; h < H; ++h) {
            double s = 0;
            for (int64_t i = 0; i < I; ++i)
              s += double(down[size_t((e * H + h) * I + i)]) * a[size_t(i)];
            ref[size_t(t * H + h)] += w * s;
          }
        }
      }
      expectNear(ref, out.data(), 1e-5,
                 "moe top_k=" + std::to_string(topK) + " norm=" + std::to_string(norm));
    }
  }
}

TEST_F(KernelTest, GatherLastAndLogits) {
  const int64_t H = 37, V = 29;
  BatchMeta b;
  b.seqs.resize(3);
  b.seqs[0].queryStart = 0;
  b.seqs[0].queryLen = 3;
  b.seqs[1].queryStart = 3;
  b.seqs[1].queryLen = 1;
  b.seqs[2].queryStart = 4;
  b.seqs[2].queryLen = 2;
  const int64_t T = 6;
  auto h = randVec(size_t(T * H), 60), W = randVec(size_t(V * H), 61);
  std::vector<float> g(size_t(3 * H)), scratch(size_t(3 * H)), lg(size_t(3 * V));
  cpu::gatherLast(h.data(), H, b, g.data());
  const int64_t lastRows[3] = {2, 3, 5};
  for (int s = 0; s < 3; ++s)
    for (int64_t i = 0; i < H; ++i)
      ASSERT_EQ(g[size_t(s * H + i)], h[size_t(lastRows[s] * H + i)]);
  cpu::logits(h.data(), H, b, W.data(), V, scratch.data(), lg.data());
  std::vector<double> ref(static_cast<size_t>(3 * V));
  for (int s = 0; s < 3; ++s)
    for (int64_t v = 0; v < V; ++v) {
      double acc = 0;
      for (int64_t i = 0; i < H; ++i)
        acc += double(h[size_t(lastRows[s] * H + i)]) * W[size_t(v * H + i)];
      ref[size_t(s * V + v)] = acc;
    }
  expectNear(ref, lg.data(), 1e-5, "logits");
}

} // namespace
