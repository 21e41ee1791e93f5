// GEMM, MoE and sampling kernels (runtime/cuda/kernels/{gemm,moe,sampling}.cuh)
// under the CUDA emulation, launched by name through the kernel registry
// (what the fake driver does) with the geometry of their *_abi.h, against:
//  - GEMM: ingot::cpu::linear (1e-5 for f32) and a sequential-fma host loop
//    over the same rounded inputs (the kernel's documented operation order:
//    bitwise equal), plus batch invariance (a row's result does not depend
//    on m or the tile configuration);
//  - sampling: ingot::sampleFiltered's greedy rule, a host reimplementation
//    of the documented procedure (same token for each (seed, counter)),
//    Philox4x32-10 known answers, and a chi-square bound on the empirical
//    distribution;
//  - MoE: ingot::cpu::moe on the same (rounded) inputs, plus the route and
//    permute outputs checked against their definitions.
#include "../src/cpu_kernels.h"
#include "ingot/runtime/sampling.h"
#include "sampling_reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

// After the standard headers: the emulation defines threadIdx, warpSize, ...
#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"
#include "cuda/kernels/gemm.cuh"
#include "cuda/kernels/moe.cuh"
#include "cuda/kernels/sampling.cuh"

INGOT_DEFINE_GEMM(float, f32)
INGOT_DEFINE_GEMM(__nv_bfloat16, bf16)
INGOT_DEFINE_GEMM(__half, f16)
INGOT_DEFINE_MOE_PERMUTE()
INGOT_DEFINE_MOE(float, f32)
INGOT_DEFINE_MOE(__nv_bfloat16, bf16)
INGOT_DEFINE_MOE(__half, f16)
INGOT_DEFINE_SAMPLE()

using ingot::cudaemu::FiberOrder;
using ingot::cudaemu::LaunchOptions;

namespace {

template <class P>
void launchByName(const std::string &name, const P &p, const KernelLaunch &l,
                  FiberOrder order = FiberOrder::Forward) {
  const auto *k = ingot::cudaemu::findKernel(name.c_str());
  ASSERT_NE(k, nullptr) << name << " is not registered";
  ASSERT_EQ(k->paramBytes, sizeof(P)) << name;
  if (l.grid[0] == 0 || l.grid[1] == 0 || l.grid[2] == 0)
    return;
  LaunchOptions o;
  o.order = order;
  P copy = p;
  void *args[] = {&copy};
  k->run(o, dim3(l.grid[0], l.grid[1], l.grid[2]), dim3(l.block[0], l.block[1], l.block[2]),
         l.shmem, args);
}

// Storage-type helpers.
template <class T> T toT(float v) { return ingot_from_f32<T>(v); }
template <class T> float fromT(T v) { return ingot_to_f32(v); }
template <class T> const char *tn();
template <> const char *tn<float>() { return "f32"; }
template <> const char *tn<__nv_bfloat16>() { return "bf16"; }
template <> const char *tn<__half>() { return "f16"; }

// A buffer of T with `pad` leading elements (to misalign it) and its values
// rounded through T as floats.
template <class T> struct Buf {
  std::vector<T> storage;
  T *ptr = nullptr;
  std::vector<float> vals; // rounded values, as the kernel sees them
  Buf(size_t n, int pad = 0) : storage(n + size_t(pad) + 16), vals(n) {
    ptr = storage.data() + pad;
  }
  void fill(std::mt19937 &rng, float scale) {
    std::uniform_real_distribution<float> d(-scale, scale);
    for (size_t i = 0; i < vals.size(); ++i) {
      ptr[i] = toT<T>(d(rng));
      vals[i] = fromT(ptr[i]);
    }
  }
  float at(size_t i) const { return fromT(ptr[i]); }
};

float geluRef(float v, int epi) {
  if (epi == INGOT_GEMM_EPI_GELU_TANH) {
    const float kk = 0.79788456080286535588f;
    return 0.5f * v * (1.0f + std::tanh(kk * (v + 0.044715f * v * v * v)));
  }
  if (epi == INGOT_GEMM_EPI_GELU_ERF)
    return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752440f));
  return v;
}

// ======================= GEMM =======================

struct GemmCase {
  long long m, n, k;
  long long padA = 0, padW = 0; // extra columns (lda = k + padA)
  int misalign = 0;             // element offset of A, W, C
  bool bias = false;
  int epi = INGOT_GEMM_EPI_NONE;
  bool cF32 = false;
};

template <class T> void checkGemm(const GemmCase &g, FiberOrder order) {
  SCOPED_TRACE(std::string(tn<T>()) + " m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) +
               " k=" + std::to_string(g.k) + " epi=" + std::to_string(g.epi) +
               (g.bias ? " bias" : "") + (g.cF32 ? " c_f32" : "") +
               " misalign=" + std::to_string(g.misalign));
  std::mt19937 rng(unsigned(g.m * 131 + g.n * 7 + g.k));
  const long long lda = g.k + g.padA, ldw = g.k + g.padW, ldc = g.n + 3;
  Buf<T> a(size_t(g.m * lda), g.misalign), w(size_t(g.n * ldw), g.misalign),
      bias(size_t(g.n), g.misalign);
  a.fill(rng, 1.0f);
  w.fill(rng, 1.0f);
  bias.fill(rng, 0.5f);
  Buf<T> c(size_t(g.m * ldc), g.misalign);
  std::vector<float> cf(size_t(g.m * ldc) + 4, -7.0f);
  for (size_t i = 0; i < c.vals.size(); ++i)
    c.ptr[i] = toT<T>(-7.0f);
  IngotGemmParams p{};
  p.a = a.ptr;
  p.w = w.ptr;
  p.bias = g.bias ? bias.ptr : nullptr;
  p.c = g.cF32 ? static_cast<void *>(cf.data() + g.misalign) : static_cast<void *>(c.ptr);
  p.m = g.m, p.n = g.n, p.k = g.k, p.lda = lda, p.ldw = ldw, p.ldc = ldc;
  p.c_f32 = g.cF32, p.epilogue = g.epi;
  launchByName(std::string("ingot_gemm_") + tn<T>(), p, ingot_gemm_launch(p), order);

  // CPU reference (f32 semantics) on the rounded inputs.
  std::vector<float> ac(size_t(g.m * g.k)), wc(size_t(g.n * g.k)), ref(size_t(g.m * g.n));
  for (long long r = 0; r < g.m; ++r)
    for (long long kk = 0; kk < g.k; ++kk)
      ac[size_t(r * g.k + kk)] = a.vals[size_t(r * lda + kk)];
  for (long long r = 0; r < g.n; ++r)
    for (long long kk = 0; kk < g.k; ++kk)
      wc[size_t(r * g.k + kk)] = w.vals[size_t(r * ldw + kk)];
  const auto act = g.epi == INGOT_GEMM_EPI_GELU_TANH  ? ingot::cpu::Activation::GeluTanh
                   : g.epi == INGOT_GEMM_EPI_GELU_ERF ? ingot::cpu::Activation::Gelu
                                                      : ingot::cpu::Activation::None;
  if (g.k > 0)
    ingot::cpu::linear(ac.data(), g.m, g.k, wc.data(), g.n, g.bias ? bias.vals.data() : nullptr,
                       act, ref.data());
  else // k = 0: act(bias) or 0
    for (long long r = 0; r < g.m; ++r)
      for (long long n = 0; n < g.n; ++n)
        ref[size_t(r * g.n + n)] = geluRef(g.bias ? bias.vals[size_t(n)] : 0.0f, g.epi);
  const bool f32out = g.cF32 || std::is_same<T, float>::value;
  for (long long r = 0; r < g.m; ++r)
    for (long long n = 0; n < g.n; ++n) {
      // The kernel's documented sequence: sequential fma from 0, + bias, epilogue.
      float acc = 0.0f;
      for (long long kk = 0; kk < g.k; ++kk)
        acc = std::fma(ac[size_t(r * g.k + kk)], wc[size_t(n * g.k + kk)], acc);
      if (g.bias)
        acc += bias.vals[size_t(n)];
      acc = geluRef(acc, g.epi);
      const float got = g.cF32 ? cf[size_t(g.misalign + r * ldc + n)] : c.at(size_t(r * ldc + n));
      const float seq = f32out ? acc : fromT(toT<T>(acc));
      ASSERT_EQ(got, seq) << "r=" << r << " n=" << n;
      const float rv = ref[size_t(r * g.n + n)];
      const float tol = f32out ? 1e-5f * (1.0f + std::fabs(rv)) + 2e-6f * float(g.k)
                               : 1e-2f * (1.0f + std::fabs(rv));
      ASSERT_NEAR(got, rv, tol) << "r=" << r << " n=" << n << " vs cpu::linear";
    }
  // Nothing outside C's m x n window is written.
  for (long long r = 0; r < g.m; ++r)
    for (long long n = g.n; n < ldc; ++n) {
      const float got = g.cF32 ? cf[size_t(g.misalign + r * ldc + n)] : c.at(size_t(r * ldc + n));
      ASSERT_EQ(got, -7.0f);
    }
}

std::vector<GemmCase> gemmCases() {
  std::vector<GemmCase> cs;
  cs.push_back({1, 1, 1});
  cs.push_back({1, 3, 17, 0, 0, 0, true});
  cs.push_back({1, 65, 130, 0, 0, 0, false, INGOT_GEMM_EPI_GELU_TANH});
  cs.push_back({3, 17, 65, 1, 3, 1, true, INGOT_GEMM_EPI_GELU_ERF});
  cs.push_back({16, 33, 128, 0, 0, 0, true, INGOT_GEMM_EPI_NONE, true});
  cs.push_back({17, 65, 64, 0, 8, 0, true});
  cs.push_back({65, 130, 33, 2, 0, 0, false, INGOT_GEMM_EPI_GELU_TANH, true});
  cs.push_back({130, 70, 72, 0, 0, 1, true, INGOT_GEMM_EPI_GELU_ERF});
  cs.push_back({64, 64, 0}); // k = 0: C = bias / 0
  cs.push_back({1, 300, 1000, 0, 0, 0, true});        // decode: 8 k-steps of the small tile
  cs.push_back({2, 40, 257, 5, 1, 1, false, INGOT_GEMM_EPI_GELU_ERF});
  return cs;
}

TEST(CudaGemm, F32MatchesCpuAndSequentialFma) {
  for (const auto &g : gemmCases())
    checkGemm<float>(g, FiberOrder::Forward);
}
TEST(CudaGemm, Bf16MatchesCpuAndSequentialFma) {
  for (const auto &g : gemmCases())
    checkGemm<__nv_bfloat16>(g, FiberOrder::Reverse);
}
TEST(CudaGemm, F16MatchesCpuAndSequentialFma) {
  const auto cs = gemmCases();
  for (size_t i = 0; i < cs.size(); i += 2)
    checkGemm<__half>(cs[i], FiberOrder::Forward);
}

// A row's output is bitwise the same whatever m (both tile configurations)
// and the row's position in the batch.
TEST(CudaGemm, BatchInvariant) {
  const long long M = 70, N = 40, K = 50;
  std::mt19937 rng(5);
  Buf<__nv_bfloat16> a(size_t(M * K)), w(size_t(N * K));
  a.fill(rng, 1.0f);
  w.fill(rng, 1.0f);
  std::vector<float> full(size_t(M * N));
  IngotGemmParams p{a.ptr, w.ptr, nullptr, full.data(), M, N, K, K, K, N, 1, 0};
  launchByName("ingot_gemm_bf16", p, ingot_gemm_launch(p));
  for (long long r : {0LL, 13LL, 64LL, 69LL}) {
    for (long long m : {1LL, 5LL}) {
      std::vector<float> part(size_t(m * N));
      IngotGemmParams q = p;
      q.a = a.ptr + r * K;
      q.m = std::min(m, M - r);
      q.c = part.data();
      launchByName("ingot_gemm_bf16", q, ingot_gemm_launch(q));
      for (long long n = 0; n < N; ++n)
        ASSERT_EQ(part[size_t(n)], full[size_t(r * N + n)]) << "row " << r << " m=" << m;
    }
  }
}

// ======================= sampling =======================

TEST(CudaSampling, PhiloxKnownAnswers) {
  // Random123 kat_vectors for philox4x32_10.
  const unsigned ctr[3][4] = {{0, 0, 0, 0},
                              {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                              {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
  const unsigned key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
  const unsigned want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                               {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                               {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
  for (int i = 0; i < 3; ++i) {
    unsigned out[4];
    ingot_philox4x32_10(ctr[i], key[i], out);
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(out[j], want[i][j]) << "vector " << i << " word " << j;
  }
  const float u = ingot_sample_uniform(0x0123456789abcdefull, 42);
  EXPECT_GE(u, 0.0f);
  EXPECT_LT(u, 1.0f);
  EXPECT_NE(u, ingot_sample_uniform(0x0123456789abcdefull, 43));
  EXPECT_NE(u, ingot_sample_uniform(0x0123456789abcdeeull, 42));
}

struct SampleRow {
  std::vector<float> logits;
  float temp = 1.0f, topP = 1.0f;
  int topK = 0;
  unsigned long long seed = 1;
  long long counter = 0;
};

std::vector<int> runSampler(const std::vector<SampleRow> &rows, long long vocab,
                            FiberOrder order = FiberOrder::Forward) {
  std::vector<float> logits, temp, topP;
  std::vector<int> topK, out(rows.size(), -5);
  std::vector<unsigned long long> seeds;
  std::vector<long long> counters;
  for (const auto &r : rows) {
    logits.insert(logits.end(), r.logits.begin(), r.logits.end());
    temp.push_back(r.temp);
    topP.push_back(r.topP);
    topK.push_back(r.topK);
    seeds.push_back(r.seed);
    counters.push_back(r.counter);
  }
  IngotSampleParams p{logits.data(), out.data(), temp.data(), topP.data(), topK.data(),
                      seeds.data(),  counters.data(), (long long)rows.size(), vocab};
  launchByName("ingot_sample_f32", p, ingot_sample_launch(p), order);
  return out;
}

int referenceSample(const SampleRow &r) {
  return ingot::test::referenceDeviceSample(r.logits.data(), (int64_t)r.logits.size(), r.temp,
                                            r.topK, r.topP, r.seed, r.counter);
}

TEST(CudaSampling, GreedyMatchesCpuArgmax) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<SampleRow> rows;
  for (long long V : {1LL, 5LL, 300LL, 1500LL}) {
    rows.clear();
    for (int i = 0; i < 6; ++i) {
      SampleRow r;
      r.logits.resize(size_t(V));
      for (auto &v : r.logits)
        v = std::round(nd(rng)); // many exact ties
      if (i == 1 && V > 3)
        r.logits[2] = NAN;
      if (i == 2)
        std::fill(r.logits.begin(), r.logits.end(), -INFINITY);
      if (i == 3)
        std::fill(r.logits.begin(), r.logits.end(), NAN);
      r.temp = i == 4 ? 0.7f : 0.0f;
      r.topK = i == 4 ? 1 : 0; // top_k 1 is greedy too
      if (i == 5 && V > 4) {   // +inf logit: greedy on it
        r.temp = 1.0f;
        r.logits[size_t(V - 2)] = INFINITY;
      }
      rows.push_back(r);
    }
    const auto got = runSampler(rows, V);
    for (size_t i = 0; i < rows.size(); ++i) {
      std::mt19937_64 g(1);
      const int cpu = ingot::sampleFiltered(rows[i].logits.data(), V, rows[i].temp,
                                            rows[i].topK, 1.0f, 0.0f, g);
      EXPECT_EQ(got[i], cpu) << "V=" << V << " row " << i;
      EXPECT_EQ(got[i], referenceSample(rows[i])) << "V=" << V << " row " << i;
    }
  }
}

// A denormal temperature: 1 / T is +inf in fp32, so the weights of the top token
// would be expf(0 * inf) = NaN; the kernel samples greedily there, as the CPU
// sampler (double 1 / T) in effect does.
TEST(CudaSampling, DenormalTemperatureIsGreedy) {
  const long long V = 300;
  std::vector<SampleRow> rows;
  for (int i = 0; i < 3; ++i) {
    SampleRow r;
    r.logits.resize(size_t(V));
    for (long long j = 0; j < V; ++j)
      r.logits[size_t(j)] = float((j * 37 + i * 11) % 101) * 0.01f - float(j == 123 + i) * -5.0f;
    r.temp = i == 0 ? 1e-39f : i == 1 ? 1e-44f : 2e-39f;
    r.topP = i == 2 ? 0.9f : 1.0f;
    r.counter = i;
    rows.push_back(r);
  }
  const auto got = runSampler(rows, V);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::mt19937_64 g(1);
    EXPECT_EQ(got[i], 123 + int(i)) << "row " << i;
    EXPECT_EQ(got[i], ingot::sampleFiltered(rows[i].logits.data(), V, rows[i].temp, 0,
                                            rows[i].topP, 0.0f, g))
        << "row " << i;
  }
}

TEST(CudaSampling, MatchesDocumentedProcedure) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  struct Cfg {
    float temp;
    int topK;
    float topP;
  };
  const Cfg cfgs[] = {{1.0f, 0, 1.0f},  {0.8f, 5, 1.0f},  {1.3f, 0, 0.9f},  {1.0f, 20, 0.5f},
                      {0.5f, 3, 0.0f},  {2.0f, 1000000, 0.95f}, {1.0f, 2, 0.99f}};
  long long seedBase = 100;
  for (long long V : {2LL, 7LL, 129LL, 1100LL, 5000LL}) {
    std::vector<SampleRow> rows;
    for (const auto &c : cfgs)
      for (int rep = 0; rep < 3; ++rep) {
        SampleRow r;
        r.logits.resize(size_t(V));
        for (auto &v : r.logits)
          v = nd(rng);
        if (rep == 1) // ties in probability: tie-break by index
          for (long long i = 0; i < V; i += 3)
            r.logits[size_t(i)] = 1.5f;
        if (rep == 2 && V > 5) {
          r.logits[1] = NAN;
          r.logits[4] = -INFINITY;
        }
        r.temp = c.temp, r.topK = c.topK, r.topP = c.topP;
        r.seed = 0x9e3779b97f4a7c15ull * (unsigned long long)(seedBase++);
        r.counter = seedBase * 17;
        rows.push_back(r);
      }
    const auto got = runSampler(rows, V, V == 129 ? FiberOrder::Reverse : FiberOrder::Forward);
    for (size_t i = 0; i < rows.size(); ++i) {
      const int want = referenceSample(rows[i]);
      EXPECT_EQ(got[i], want) << "V=" << V << " row " << i << " T=" << rows[i].temp
                              << " k=" << rows[i].topK << " p=" << rows[i].topP;
      if (rows[i].topK == 1 || rows[i].topP <= 0.0f) {
        std::mt19937_64 g(1); // the filtered set is one token: CPU agrees
        EXPECT_EQ(got[i], ingot::sampleFiltered(rows[i].logits.data(), V, rows[i].temp,
                                                rows[i].topK, rows[i].topP, 0.0f, g));
      }
    }
  }
}

// The distribution over counters, for a top-k and a top-p setting: the
// kernel's draws for 96 counters equal the host procedure's, and the host
// procedure's frequencies over 40000 counters fit the filtered,
// renormalised softmax (chi-square; the emulation is too slow for 40000
// kernel rows).
TEST(CudaSampling, DistributionOverCounters) {
  const std::vector<float> logits = {0.3f, 1.2f, -0.4f, 0.9f, 2.0f, -1.0f, 0.1f, 1.2f};
  const long long V = (long long)logits.size();
  struct Cfg {
    int topK;
    float topP;
    float temp;
  };
  for (const Cfg c : {Cfg{4, 1.0f, 1.0f}, Cfg{0, 0.8f, 0.7f}}) {
    SCOPED_TRACE("topK=" + std::to_string(c.topK) + " topP=" + std::to_string(c.topP));
    auto row = [&](long long counter) {
      SampleRow r;
      r.logits = logits;
      r.topK = c.topK;
      r.topP = c.topP;
      r.temp = c.temp;
      r.seed = 0xfeedull;
      r.counter = counter;
      return r;
    };
    std::vector<SampleRow> rows;
    for (int i = 0; i < 96; ++i)
      rows.push_back(row(i * 7919LL));
    const auto got = runSampler(rows, V);
    for (size_t i = 0; i < rows.size(); ++i)
      ASSERT_EQ(got[i], referenceSample(rows[i])) << "counter " << rows[i].counter;

    // Expected probabilities from the definition (double).
    std::vector<double> w(static_cast<size_t>(V));
    const double mx = *std::max_element(logits.begin(), logits.end());
    for (long long i = 0; i < V; ++i)
      w[size_t(i)] = std::exp((logits[size_t(i)] - mx) / c.temp);
    std::vector<int> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return w[size_t(a)] > w[size_t(b)]; });
    size_t keep = c.topK > 0 ? size_t(c.topK) : size_t(V);
    double mass = 0;
    for (size_t i = 0; i < keep; ++i)
      mass += w[size_t(order[i])];
    if (c.topP < 1.0f) {
      double cum = 0;
      size_t n = 0;
      while (n < keep && cum < c.topP * mass)
        cum += w[size_t(order[n++])];
      keep = n;
    }
    std::vector<double> pexp(static_cast<size_t>(V), 0.0);
    double tot = 0;
    for (size_t i = 0; i < keep; ++i)
      tot += w[size_t(order[i])];
    for (size_t i = 0; i < keep; ++i)
      pexp[size_t(order[i])] = w[size_t(order[i])] / tot;
    const int draws = 40000; // host draws
    std::vector<int> hist(static_cast<size_t>(V), 0);
    for (int i = 0; i < draws; ++i)
      ++hist[size_t(referenceSample(row(i)))];
    double chi2 = 0;
    int dof = -1;
    for (long long i = 0; i < V; ++i) {
      if (pexp[size_t(i)] == 0.0) {
        EXPECT_EQ(hist[size_t(i)], 0) << "token " << i << " is filtered out";
        continue;
      }
      const double e = pexp[size_t(i)] * draws;
      chi2 += (hist[size_t(i)] - e) * (hist[size_t(i)] - e) / e;
      ++dof;
    }
    // dof <= 7: the 99.99th percentile of chi-square(7) is about 29.9.
    EXPECT_LT(chi2, 30.0) << "dof=" << dof;
    EXPECT_GE(dof, 2);
  }
}

// ======================= MoE =======================

template <class T> void checkMoe(long long tokens, long long H, long long I, int E, int topK,
                                 bool normalize, FiberOrder order) {
  SCOPED_TRACE(std::string(tn<T>()) + " T=" + std::to_string(tokens) + " H=" + std::to_string(H) +
               " I=" + std::to_string(I) + " E=" + std::to_string(E) + " k=" +
               std::to_string(topK) + (normalize ? " normalize" : ""));
  std::mt19937 rng(unsigned(tokens * 1000 + H * 10 + I));
  Buf<T> x(size_t(tokens * H)), router(size_t(E * H)), gate(size_t(E * I * H)),
      up(size_t(E * I * H)), down(size_t(E * H * I));
  x.fill(rng, 1.0f);
  router.fill(rng, 0.5f);
  gate.fill(rng, 0.3f);
  up.fill(rng, 0.3f);
  down.fill(rng, 0.3f);
  const int K = std::min(topK, E);
  const long long N = tokens * K;
  IngotMoeScratchLayout lay;
  const long long bytes = ingot_moe_scratch_layout(tokens, H, I, E, topK, int(sizeof(T)), &lay);
  std::vector<unsigned char> scratch(size_t(bytes) + 256);
  unsigned char *base = scratch.data() + (256 - reinterpret_cast<uintptr_t>(scratch.data()) % 256);
  auto at = [&](long long off) { return static_cast<void *>(base + off); };
  Buf<T> out(size_t(tokens * H));
  for (size_t i = 0; i < out.vals.size(); ++i)
    out.ptr[i] = toT<T>(-9.0f);
  const std::string s = tn<T>();

  IngotGemmParams rg{x.ptr, router.ptr, nullptr, at(lay.logits), tokens, E, H, H, H, E, 1, 0};
  launchByName("ingot_gemm_" + s, rg, ingot_gemm_launch(rg), order);
  IngotMoeRouteParams rp{static_cast<float *>(at(lay.logits)), static_cast<int *>(at(lay.topk_ids)),
                         static_cast<float *>(at(lay.topk_w)), tokens, E, K, normalize ? 1 : 0};
  launchByName("ingot_moe_route_" + s, rp, ingot_moe_route_launch(rp), order);
  IngotMoePermuteParams pp{static_cast<int *>(at(lay.topk_ids)), static_cast<int *>(at(lay.sorted_pairs)),
                           static_cast<int *>(at(lay.pair_pos)), static_cast<int *>(at(lay.expert_offsets)),
                           static_cast<int *>(at(lay.permute)), N, E};
  launchByName("ingot_moe_permute", pp, ingot_moe_permute_launch(pp), order);
  IngotMoeGemmParams g1{x.ptr, pp.sorted_pairs, gate.ptr, at(lay.gate), pp.expert_offsets, N, I, H,
                        H, I, I * H, E, K};
  launchByName("ingot_moe_gemm_" + s, g1, ingot_moe_gemm_launch(g1), order);
  IngotMoeGemmParams g2 = g1;
  g2.w = up.ptr;
  g2.c = at(lay.up);
  launchByName("ingot_moe_gemm_" + s, g2, ingot_moe_gemm_launch(g2), order);
  IngotMoeSiluMulParams sm{at(lay.gate), at(lay.up), at(lay.gate), N * I};
  launchByName("ingot_moe_silu_mul_" + s, sm, ingot_moe_silu_mul_launch(sm, ingot_vec<T>::n), order);
  IngotMoeGemmParams g3{at(lay.gate), nullptr, down.ptr, at(lay.y), pp.expert_offsets, N, H, I,
                        I, H, H * I, E, 1};
  launchByName("ingot_moe_gemm_" + s, g3, ingot_moe_gemm_launch(g3), order);
  IngotMoeCombineParams cp{at(lay.y), rp.topk_w, pp.pair_pos, out.ptr, tokens, H, K};
  launchByName("ingot_moe_combine_" + s, cp, ingot_moe_combine_launch(cp, ingot_vec<T>::n), order);

  // Route: against softmax + top-k of the logits the GEMM produced.
  const float *logits = static_cast<const float *>(at(lay.logits));
  for (long long t = 0; t < tokens; ++t) {
    std::vector<float> pr(static_cast<size_t>(E));
    ingot::cpu::softmax(logits + t * E, 1, E, pr.data());
    std::vector<int> idx(static_cast<size_t>(E));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return pr[size_t(a)] > pr[size_t(b)]; });
    double s2 = 0;
    for (int j = 0; j < K; ++j)
      s2 += pr[size_t(idx[size_t(j)])];
    for (int j = 0; j < K; ++j) {
      ASSERT_EQ(rp.topk_ids[t * K + j], idx[size_t(j)]) << "token " << t << " slot " << j;
      const double want = pr[size_t(idx[size_t(j)])] / (normalize ? s2 : 1.0);
      ASSERT_NEAR(rp.topk_w[t * K + j], want, 1e-5) << "token " << t << " slot " << j;
    }
  }
  // Permute: a stable sort of the pairs by expert, and its inverse.
  std::vector<int> want(static_cast<size_t>(N));
  std::iota(want.begin(), want.end(), 0);
  std::stable_sort(want.begin(), want.end(),
                   [&](int a, int b) { return rp.topk_ids[a] < rp.topk_ids[b]; });
  for (long long i = 0; i < N; ++i) {
    ASSERT_EQ(pp.sorted_pairs[i], want[size_t(i)]) << "row " << i;
    ASSERT_EQ(pp.pair_pos[pp.sorted_pairs[i]], i);
  }
  for (int e = 0; e <= E; ++e) {
    long long c = 0;
    for (long long i = 0; i < N; ++i)
      c += rp.topk_ids[i] < e;
    ASSERT_EQ(pp.expert_offsets[e], c) << "expert " << e;
  }

  // The whole step against the CPU MoE on the same rounded inputs.
  std::vector<float> ref(size_t(tokens * H));
  ingot::cpu::moe(x.vals.data(), tokens, H, router.vals.data(), E, gate.vals.data(), up.vals.data(),
                  down.vals.data(), I, topK, normalize, ref.data());
  float scale = 0;
  for (float v : ref)
    scale = std::max(scale, std::fabs(v));
  // f32: only summation order differs. 16-bit: g, u, silu*up, y and out are
  // each rounded to T (the CPU keeps fp32): a few ulps of T, relative to the
  // output's scale.
  const float tol = std::is_same<T, float>::value ? 2e-5f * (scale + 1e-3f) : 3e-2f * scale;
  for (long long i = 0; i < tokens * H; ++i)
    ASSERT_NEAR(out.at(size_t(i)), ref[size_t(i)], tol) << "element " << i;
}

TEST(CudaMoe, F32MatchesCpu) {
  int i = 0;
  for (long long t : {1LL, 2LL, 5LL, 9LL})
    for (auto hi : {std::make_pair(16LL, 32LL), std::make_pair(40LL, 56LL), std::make_pair(64LL, 96LL)}) {
      checkMoe<float>(t, hi.first, hi.second, 4, 2, (i & 1) == 0,
                      (i & 2) ? FiberOrder::Reverse : FiberOrder::Forward);
      ++i;
    }
  checkMoe<float>(7, 24, 40, 4, 1, false, FiberOrder::Forward);
  checkMoe<float>(3, 16, 32, 4, 6, true, FiberOrder::Forward); // top_k > E clamps
  checkMoe<float>(40, 32, 48, 4, 2, true, FiberOrder::Forward); // large tiles (80 pairs)
}

TEST(CudaMoe, Bf16MatchesCpu) {
  for (long long t : {1LL, 4LL, 9LL})
    checkMoe<__nv_bfloat16>(t, t == 4 ? 40 : 64, t == 4 ? 56 : 96, 4, 2, t != 4,
                            FiberOrder::Reverse);
}

TEST(CudaMoe, F16MatchesCpu) { checkMoe<__half>(5, 32, 48, 4, 2, true, FiberOrder::Forward); }

TEST(CudaMoe, ScratchLayout) {
  IngotMoeScratchLayout l;
  const long long total = ingot_moe_scratch_layout(9, 64, 96, 4, 2, 2, &l);
  EXPECT_EQ(l.logits, 0);
  EXPECT_EQ(total, l.y + (2LL * 18 * 64 + 255) / 256 * 256);
  for (long long off : {l.topk_ids, l.topk_w, l.sorted_pairs, l.pair_pos, l.expert_offsets,
                        l.permute, l.gate, l.up, l.y})
    EXPECT_EQ(off % 256, 0);
  EXPECT_GE(l.up - l.gate, 2LL * 18 * 96);
}

} // namespace
