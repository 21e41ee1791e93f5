// Paged attention kernels (runtime/cuda/kernels/attention.cuh) under the CUDA
// emulation, launched by name through the kernel registry (as the fake driver
// does) with the geometry of attention_abi.h, against the CPU reference
// ingot::cpu::pagedAttention over a real KvCache: block tables out of order,
// block sizes 16 and 8, mixed batches (a prefill chunk with prior context,
// a fresh prefill, decodes with contexts 1, 17, 113), GQA groups 1/2/4, head
// dims 16/32/64, sliding windows, f32 / bf16 / f16 storage, decode with one
// split (direct write) and with many (combine), both fiber orders.
// The reference sees the same dtype-rounded inputs; f32 compares at 1e-5
// relative, 16-bit outputs at a few ulps of their type.
#include "../src/cpu_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

// After the standard headers: the emulation defines threadIdx, warpSize, ...
#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"

// ---- CPU model of mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}, for
// running ingot_attn_prefill_mma's index math under the emulation. Written
// from the PTX ISA's fragment tables ("Matrix Fragments for mma.m16n8k16
// with floating point type"), independently of the kernel: with
// g = lane / 4, t = lane % 4, a 32-bit register holds two elements, the lower
// column (A) / k (B) index in the low half;
//   A (16x16, row): reg0 (g, 2t..2t+1), reg1 (g+8, 2t..), reg2 (g, 2t+8..),
//                   reg3 (g+8, 2t+8..);
//   B (16x8, col):  reg0 (k = 2t..2t+1, n = g), reg1 (k = 2t+8.., n = g);
//   C/D (16x8 f32): c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
// Each lane gathers the A rows and B columns it needs with shuffles. ----
#define INGOT_ATTN_MMA_MODEL 1
namespace mma_model {
template <class T> unsigned short bitsOf(T v) {
  unsigned short b;
  std::memcpy(&b, &v, 2);
  return b;
}
template <class T> float lo16(unsigned u);
template <> float lo16<__nv_bfloat16>(unsigned u) {
  __nv_bfloat16 h;
  const unsigned short b = (unsigned short)(u & 0xffffu);
  std::memcpy(&h, &b, 2);
  return __bfloat162float(h);
}
template <> float lo16<__half>(unsigned u) {
  __half h;
  const unsigned short b = (unsigned short)(u & 0xffffu);
  std::memcpy(&h, &b, 2);
  return __half2float(h);
}
template <class T> float hi16(unsigned u) { return lo16<T>(u >> 16); }
} // namespace mma_model

template <class T> unsigned ingot_attn_pack2(float lo, float hi);
template <> unsigned ingot_attn_pack2<__nv_bfloat16>(float lo, float hi) {
  return unsigned(mma_model::bitsOf(__float2bfloat16_rn(lo))) |
         (unsigned(mma_model::bitsOf(__float2bfloat16_rn(hi))) << 16);
}
template <> unsigned ingot_attn_pack2<__half>(float lo, float hi) {
  return unsigned(mma_model::bitsOf(__float2half_rn(lo))) |
         (unsigned(mma_model::bitsOf(__float2half_rn(hi))) << 16);
}
template <class T> void ingot_attn_mma(float *c, const unsigned *a, unsigned b0, unsigned b1) {
  const int lane = int(threadIdx.x & 31), g = lane >> 2, t = lane & 3;
  float A[2][16], B[2][16]; // A rows g, g+8; B columns 2t, 2t+1
  for (int tt = 0; tt < 4; ++tt)
    for (int reg = 0; reg < 4; ++reg) {
      const unsigned v = __shfl_sync(0xffffffffu, a[reg], 4 * g + tt);
      const int row = reg & 1, col = 2 * tt + 8 * (reg >> 1);
      A[row][col] = mma_model::lo16<T>(v);
      A[row][col + 1] = mma_model::hi16<T>(v);
    }
  for (int i = 0; i < 2; ++i)
    for (int tt = 0; tt < 4; ++tt) {
      const int src = 4 * (2 * t + i) + tt; // lanes 4n..4n+3 hold column n
      const unsigned v0 = __shfl_sync(0xffffffffu, b0, src);
      const unsigned v1 = __shfl_sync(0xffffffffu, b1, src);
      B[i][2 * tt] = mma_model::lo16<T>(v0);
      B[i][2 * tt + 1] = mma_model::hi16<T>(v0);
      B[i][2 * tt + 8] = mma_model::lo16<T>(v1);
      B[i][2 * tt + 9] = mma_model::hi16<T>(v1);
    }
  for (int i = 0; i < 4; ++i) {
    float acc = c[i];
    for (int k = 0; k < 16; ++k)
      acc += A[i >> 1][k] * B[i & 1][k];
    c[i] = acc;
  }
}

#include "cuda/kernels/attention.cuh"

namespace {

// The instances the cases below use (internal linkage: no clash with other
// translation units that instantiate the same names).
INGOT_DEFINE_ATTN_DECODE_COMBINE(float, f32, 16)
INGOT_DEFINE_ATTN_DECODE_COMBINE(float, f32, 32)
INGOT_DEFINE_ATTN_DECODE_COMBINE(float, f32, 64)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__nv_bfloat16, bf16, 16)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__nv_bfloat16, bf16, 32)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__nv_bfloat16, bf16, 64)
INGOT_DEFINE_ATTN_DECODE_COMBINE(__half, f16, 32)
#define ATTN_INSTANCE(T, TN, D, G)                                                          \
  INGOT_DEFINE_ATTN_DECODE(T, TN, D, G)                                                    \
  INGOT_DEFINE_ATTN_PREFILL(T, TN, D, G)
ATTN_INSTANCE(float, f32, 16, 1)
ATTN_INSTANCE(float, f32, 32, 2)
ATTN_INSTANCE(float, f32, 32, 4)
ATTN_INSTANCE(float, f32, 64, 1)
ATTN_INSTANCE(float, f32, 64, 4)
ATTN_INSTANCE(__nv_bfloat16, bf16, 16, 4)
ATTN_INSTANCE(__nv_bfloat16, bf16, 32, 1)
ATTN_INSTANCE(__nv_bfloat16, bf16, 64, 2)
ATTN_INSTANCE(__nv_bfloat16, bf16, 64, 4)
ATTN_INSTANCE(__half, f16, 32, 2)
// G = 3 divides neither the plain kernel's row tile (128 rows at D = 32 f32, 64 at
// D = 64 bf16) nor the mma kernel's 64 rows (as Qwen2.5's G = 7, Qwen2's G = 6).
ATTN_INSTANCE(float, f32, 32, 3)
ATTN_INSTANCE(__nv_bfloat16, bf16, 64, 3)

// The mma prefill through the CPU fragment model (not registered: the fake
// driver must not find an mma kernel, the GPU-only variant).
__global__ void mmaModelBf16D16G2(IngotAttnParams p) { ingot_attn_prefill_mma_impl<__nv_bfloat16, 16, 2>(p); }
__global__ void mmaModelBf16D32G4(IngotAttnParams p) { ingot_attn_prefill_mma_impl<__nv_bfloat16, 32, 4>(p); }
__global__ void mmaModelF16D32G1(IngotAttnParams p) { ingot_attn_prefill_mma_impl<__half, 32, 1>(p); }
__global__ void mmaModelBf16D32G3(IngotAttnParams p) { ingot_attn_prefill_mma_impl<__nv_bfloat16, 32, 3>(p); }

using ingot::cudaemu::FiberOrder;
using ingot::cudaemu::LaunchOptions;

enum class Dt { F32, BF16, F16 };
const char *dtName(Dt d) { return d == Dt::F32 ? "f32" : d == Dt::BF16 ? "bf16" : "f16"; }
size_t dtBytes(Dt d) { return d == Dt::F32 ? 4 : 2; }
float roundTo(Dt d, float v) {
  if (d == Dt::BF16)
    return __bfloat162float(__float2bfloat16_rn(v));
  if (d == Dt::F16)
    return __half2float(__float2half_rn(v));
  return v;
}
// Device-side storage as raw bytes of the dtype.
std::vector<unsigned char> store(Dt d, const float *x, size_t n) {
  std::vector<unsigned char> b(n * dtBytes(d) + 16);
  for (size_t i = 0; i < n; ++i) {
    if (d == Dt::F32) {
      std::memcpy(b.data() + 4 * i, &x[i], 4);
    } else if (d == Dt::BF16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(x[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    } else {
      const __half h = __float2half_rn(x[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}
float loadAt(Dt d, const std::vector<unsigned char> &b, size_t i) {
  if (d == Dt::F32) {
    float f;
    std::memcpy(&f, b.data() + 4 * i, 4);
    return f;
  }
  if (d == Dt::BF16) {
    __nv_bfloat16 h;
    std::memcpy(&h, b.data() + 2 * i, 2);
    return __bfloat162float(h);
  }
  __half h;
  std::memcpy(&h, b.data() + 2 * i, 2);
  return __half2float(h);
}

struct SeqSpec {
  int qlen, ctx;
};

struct Case {
  Dt dt;
  int D, G, bs, window;
  FiberOrder order = FiberOrder::Forward;
  float softcap = 0.0f;
};

std::string caseName(const Case &c) {
  return std::string(dtName(c.dt)) + " D" + std::to_string(c.D) + " G" + std::to_string(c.G) +
         " bs" + std::to_string(c.bs) + " W" + std::to_string(c.window) +
         (c.softcap > 0 ? " softcap" : "") + (c.order == FiberOrder::Reverse ? " reverse" : "");
}

// One batch: inputs, the paged cache and the CPU reference output.
struct Batch {
  int nkv = 2, nh = 0, D = 0, bs = 0, maxBlocks = 0, maxQ = 0, maxCtx = 0;
  long long T = 0;
  int64_t numBlocks = 0;
  std::vector<int> blockTables, queryStart, contextLens;
  std::vector<float> q, kcache, vcache, ref; // rounded to the dtype
};

// Naive double-precision attention (for the soft cap, which the CPU
// reference does not have).
std::vector<float> naiveAttention(const Batch &b, const std::vector<SeqSpec> &seqs, float scale,
                                  int window, float softcap) {
  const int G = b.nh / b.nkv, D = b.D;
  std::vector<float> out(size_t(b.T) * b.nh * D, 0.f);
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int i = 0; i < seqs[s].qlen; ++i) {
      const int t = b.queryStart[s] + i;
      const int pos = seqs[s].ctx - seqs[s].qlen + i;
      const int lo = window > 0 ? std::max(0, pos - window + 1) : 0;
      for (int h = 0; h < b.nh; ++h) {
        const int kvh = h / G;
        std::vector<double> sc;
        double mx = -INFINITY;
        for (int j = lo; j <= pos; ++j) {
          const int blk = b.blockTables[s * b.maxBlocks + j / b.bs];
          const size_t off = ((size_t(blk) * b.bs + j % b.bs) * b.nkv + kvh) * D;
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += double(b.q[(size_t(t) * b.nh + h) * D + d]) * b.kcache[off + d];
          double x = dot * scale;
          if (softcap > 0)
            x = softcap * std::tanh(x / softcap);
          sc.push_back(x);
          mx = std::max(mx, x);
        }
        double sum = 0;
        std::vector<double> acc(D, 0.0);
        for (int j = lo; j <= pos; ++j) {
          const int blk = b.blockTables[s * b.maxBlocks + j / b.bs];
          const size_t off = ((size_t(blk) * b.bs + j % b.bs) * b.nkv + kvh) * D;
          const double w = std::exp(sc[size_t(j - lo)] - mx);
          sum += w;
          for (int d = 0; d < D; ++d)
            acc[d] += w * b.vcache[off + d];
        }
        for (int d = 0; d < D; ++d)
          out[(size_t(t) * b.nh + h) * D + d] = float(acc[d] / sum);
      }
    }
  }
  return out;
}

Batch makeBatch(const Case &c, const std::vector<SeqSpec> &seqs, unsigned seed) {
  Batch b;
  b.D = c.D;
  b.bs = c.bs;
  b.nh = b.nkv * c.G;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  ingot::BatchMeta meta;
  int blocksNeeded = 0;
  for (const auto &s : seqs) {
    blocksNeeded += (s.ctx + c.bs - 1) / c.bs;
    b.maxBlocks = std::max(b.maxBlocks, (s.ctx + c.bs - 1) / c.bs);
    b.maxQ = std::max(b.maxQ, s.qlen);
    b.maxCtx = std::max(b.maxCtx, s.ctx);
  }
  b.numBlocks = blocksNeeded + 3;
  // Physical blocks handed out in a shuffled order.
  std::vector<int> perm(size_t(b.numBlocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  ingot::KvCache cache({ingot::KvLayerShape{b.nkv, c.D}}, c.bs, b.numBlocks);
  const int64_t kvw = int64_t(b.nkv) * c.D;
  size_t next = 0;
  b.blockTables.assign(seqs.size() * size_t(b.maxBlocks), -1);
  b.queryStart.push_back(0);
  std::vector<float> knew, vnew;
  for (size_t s = 0; s < seqs.size(); ++s) {
    ingot::SeqStep st;
    st.queryStart = b.queryStart.back();
    st.queryLen = seqs[s].qlen;
    st.contextLen = seqs[s].ctx;
    const int nb = (seqs[s].ctx + c.bs - 1) / c.bs;
    for (int i = 0; i < nb; ++i) {
      st.blockTable.push_back(perm[next++]);
      b.blockTables[s * size_t(b.maxBlocks) + size_t(i)] = st.blockTable.back();
    }
    for (int j = 0; j < seqs[s].ctx; ++j) {
      const int64_t slot = int64_t(st.blockTable[size_t(j / c.bs)]) * c.bs + j % c.bs;
      std::vector<float> kr(static_cast<size_t>(kvw)), vr(static_cast<size_t>(kvw));
      for (auto &x : kr)
        x = roundTo(c.dt, uni(rng));
      for (auto &x : vr)
        x = roundTo(c.dt, uni(rng));
      std::copy(kr.begin(), kr.end(), cache.key(0, slot));
      std::copy(vr.begin(), vr.end(), cache.value(0, slot));
      if (j >= seqs[s].ctx - seqs[s].qlen) { // this step's tokens: also the op's k/v inputs
        meta.slotMapping.push_back(slot);
        knew.insert(knew.end(), kr.begin(), kr.end());
        vnew.insert(vnew.end(), vr.begin(), vr.end());
      }
    }
    meta.seqs.push_back(st);
    b.queryStart.push_back(st.queryStart + st.queryLen);
    b.contextLens.push_back(seqs[s].ctx);
  }
  b.T = b.queryStart.back();
  b.q.resize(size_t(b.T) * b.nh * c.D);
  for (auto &x : b.q)
    x = roundTo(c.dt, uni(rng) * 2.0f);
  b.ref.assign(b.q.size(), NAN);
  ingot::cpu::AttentionParams ap;
  ap.layer = 0;
  ap.numHeads = b.nh;
  ap.numKvHeads = b.nkv;
  ap.headDim = c.D;
  ap.scale = 1.0f / std::sqrt(float(c.D));
  ap.slidingWindow = c.window;
  ingot::cpu::pagedAttention(b.q.data(), knew.data(), vnew.data(), b.T, meta, cache, ap,
                             b.ref.data());
  const size_t cacheElems = size_t(b.numBlocks) * c.bs * size_t(kvw);
  b.kcache.assign(cache.key(0, 0), cache.key(0, 0) + cacheElems);
  b.vcache.assign(cache.value(0, 0), cache.value(0, 0) + cacheElems);
  if (c.softcap > 0)
    b.ref = naiveAttention(b, seqs, ap.scale, c.window, c.softcap);
  return b;
}

IngotAttnParams baseParams(const Case &c, const Batch &b, const void *q, const void *k,
                           const void *v, void *out) {
  IngotAttnParams p{};
  p.q = q;
  p.k_cache = k;
  p.v_cache = v;
  p.out = out;
  p.block_tables = b.blockTables.data();
  p.query_start = b.queryStart.data();
  p.context_lens = b.contextLens.data();
  p.num_tokens = b.T;
  p.num_seqs = int(b.contextLens.size());
  p.num_heads = b.nh;
  p.num_kv_heads = b.nkv;
  p.block_size = b.bs;
  p.max_blocks_per_seq = b.maxBlocks;
  p.max_query_len = b.maxQ;
  p.sliding_window = c.window;
  p.scale = 1.0f / std::sqrt(float(c.D));
  p.softcap = c.softcap;
  return p;
}

void launchByName(const std::string &name, const KernelLaunch &l, IngotAttnParams &p,
                  FiberOrder order) {
  const auto *k = ingot::cudaemu::findKernel(name.c_str());
  ASSERT_NE(k, nullptr) << name << " is not registered";
  ASSERT_EQ(k->paramBytes, sizeof(IngotAttnParams));
  LaunchOptions o;
  o.order = order;
  void *args[] = {&p};
  k->run(o, dim3(l.grid[0], l.grid[1], l.grid[2]), dim3(l.block[0], l.block[1], l.block[2]),
         l.shmem, args);
}

void expectClose(const Case &c, const Batch &b, const std::vector<unsigned char> &out,
                 const std::string &what) {
  double worst = 0;
  int bad = 0;
  for (size_t i = 0; i < b.ref.size(); ++i) {
    const float got = loadAt(c.dt, out, i);
    const float want = b.ref[i];
    // f32: 1e-5 relative (outputs are averages of values in [-1, 1], so
    // relative to max(|want|, 0.1)); 16-bit: the output rounding (bf16 2^-9,
    // f16 2^-12 relative) plus a few ulps.
    const double tol = c.dt == Dt::F32 ? 1e-5 * std::max(std::fabs(double(want)), 0.1)
                       : c.dt == Dt::BF16 ? 8e-3 * std::fabs(double(want)) + 2e-3
                                          : 2e-3 * std::fabs(double(want)) + 5e-4;
    const double err = std::fabs(double(got) - double(want));
    if (!(err <= tol)) {
      if (++bad <= 5)
        ADD_FAILURE() << what << " [" << caseName(c) << "] element " << i << " (token "
                      << i / (size_t(b.nh) * b.D) << ", head " << (i / b.D) % b.nh << ", dim "
                      << i % b.D << "): got " << got << " want " << want;
    }
    worst = std::max(worst, err / std::max(std::fabs(double(want)), 0.1));
  }
  EXPECT_EQ(bad, 0) << what << " [" << caseName(c) << "] worst rel err " << worst;
}

std::string suffix(const Case &c) {
  return std::string(dtName(c.dt)) + "_d" + std::to_string(c.D);
}

// Prefill kernel over the batch (any query lengths).
void runPrefill(const Case &c, const std::vector<SeqSpec> &seqs, unsigned seed) {
  const Batch b = makeBatch(c, seqs, seed);
  auto q = store(c.dt, b.q.data(), b.q.size());
  auto k = store(c.dt, b.kcache.data(), b.kcache.size());
  auto v = store(c.dt, b.vcache.data(), b.vcache.size());
  std::vector<float> nan(b.q.size(), NAN);
  auto out = store(c.dt, nan.data(), nan.size());
  IngotAttnParams p = baseParams(c, b, q.data(), k.data(), v.data(), out.data());
  ASSERT_EQ(ingot_attn_check(p, c.G, c.D, /*decode=*/false), nullptr);
  const KernelLaunch l = ingot_attn_prefill_launch(p, c.G, /*mma=*/false, c.D);
  launchByName("ingot_attn_prefill_" + suffix(c) + "_g" + std::to_string(c.G), l, p, c.order);
  expectClose(c, b, out, "prefill");
}

// Decode + combine (every sequence has query_len 1).
void runDecode(const Case &c, const std::vector<SeqSpec> &seqs, int splitTokens, unsigned seed) {
  const Batch b = makeBatch(c, seqs, seed);
  auto q = store(c.dt, b.q.data(), b.q.size());
  auto k = store(c.dt, b.kcache.data(), b.kcache.size());
  auto v = store(c.dt, b.vcache.data(), b.vcache.size());
  std::vector<float> nan(b.q.size(), NAN);
  auto out = store(c.dt, nan.data(), nan.size());
  IngotAttnParams p = baseParams(c, b, q.data(), k.data(), v.data(), out.data());
  p.split_tokens = splitTokens;
  p.max_splits = ingot_attn_decode_num_splits(b.maxCtx, splitTokens);
  std::vector<float> po(size_t(ingot_attn_decode_scratch_floats(p.num_seqs, p.num_heads,
                                                                 p.max_splits, c.D)),
                        NAN);
  std::vector<float> pl(size_t(ingot_attn_decode_lse_floats(p.num_seqs, p.num_heads, p.max_splits)),
                        NAN);
  p.partial_out = po.data();
  p.partial_lse = pl.data();
  ASSERT_EQ(ingot_attn_check(p, c.G, c.D, /*decode=*/true), nullptr);
  const KernelLaunch l = ingot_attn_decode_launch(p, c.G, c.D);
  ASSERT_LE(l.shmem, 48u * 1024u);
  launchByName("ingot_attn_decode_" + suffix(c) + "_g" + std::to_string(c.G), l, p, c.order);
  launchByName("ingot_attn_decode_combine_" + suffix(c), ingot_attn_decode_combine_launch(p), p,
               c.order);
  expectClose(c, b, out,
              "decode split_tokens " + std::to_string(splitTokens) + " (" +
                  std::to_string(p.max_splits) + " splits max)");
}

// Prefill chunk of 37 tokens after 20 cached ones, a fresh 5-token prefill,
// decodes with contexts 1, 17 and 113.
const std::vector<SeqSpec> kMixed = {{37, 57}, {1, 1}, {1, 17}, {5, 5}, {1, 113}};
const std::vector<SeqSpec> kDecodes = {{1, 1}, {1, 17}, {1, 113}, {1, 40}, {1, 64}};

void runCase(const Case &c) {
  SCOPED_TRACE(caseName(c));
  runPrefill(c, kMixed, 1);
  runPrefill(c, kDecodes, 2);
  runDecode(c, kDecodes, 2 * c.bs, 3); // up to 8 (bs 16) / 15 (bs 8) splits
  runDecode(c, kDecodes, ingot_attn_decode_split_tokens(c.bs, c.G, c.D), 4); // one split each
}

TEST(CudaAttention, F32) {
  runCase({Dt::F32, 16, 1, 16, 0});
  runCase({Dt::F32, 32, 2, 8, 0});
  runCase({Dt::F32, 64, 4, 16, 0});
  runCase({Dt::F32, 64, 1, 8, 0});
}

TEST(CudaAttention, F32SlidingWindow) {
  runCase({Dt::F32, 32, 4, 16, 20});
  runCase({Dt::F32, 64, 1, 8, 50, FiberOrder::Reverse});
}

TEST(CudaAttention, Bf16) {
  runCase({Dt::BF16, 16, 4, 8, 0});
  runCase({Dt::BF16, 32, 1, 16, 0, FiberOrder::Reverse});
  runCase({Dt::BF16, 64, 2, 16, 30});
  runCase({Dt::BF16, 64, 4, 8, 0});
}

TEST(CudaAttention, F16) { runCase({Dt::F16, 32, 2, 16, 0}); }

TEST(CudaAttention, SoftCapAgainstNaiveReference) {
  Case c{Dt::F32, 32, 2, 8, 0};
  c.softcap = 0.5f; // small enough to change the result a lot
  runCase(c);
}

TEST(CudaAttention, DecodeSplitTokensRecommended) {
  // A multiple of the block size, <= 512, shared memory within 48 KiB.
  for (int bs : {8, 16, 32})
    for (int G : {1, 4, 8})
      for (int D : {64, 128, 256}) {
        const int st = ingot_attn_decode_split_tokens(bs, G, D);
        EXPECT_EQ(st % bs, 0);
        EXPECT_LE(st, 512);
        EXPECT_GE(st, bs);
        EXPECT_LE(ingot_attn_decode_shmem(st, G, D), 48u * 1024u) << bs << " " << G << " " << D;
      }
  EXPECT_EQ(ingot_attn_decode_split_tokens(16, 4, 128), 512);
}

// The same tokens give bit-identical outputs alone and in a batch (and with
// a different chunking of the prefill): key tiles are aligned to absolute
// positions, so a row's reduction order does not depend on its neighbours.
TEST(CudaAttention, PrefillBatchInvariant) {
  const Case c{Dt::F32, 32, 2, 16, 0};
  // Sequence 0 alone, in one chunk of 37 after 20 cached tokens...
  const Batch one = makeBatch(c, {{37, 57}}, 7);
  // ... and the same sequence as a decode of its last token next to others:
  // compare the last token's rows.
  auto run = [&](const Batch &b) {
    auto q = store(c.dt, b.q.data(), b.q.size());
    auto k = store(c.dt, b.kcache.data(), b.kcache.size());
    auto v = store(c.dt, b.vcache.data(), b.vcache.size());
    std::vector<float> nan(b.q.size(), NAN);
    auto out = store(c.dt, nan.data(), nan.size());
    IngotAttnParams p = baseParams(c, b, q.data(), k.data(), v.data(), out.data());
    launchByName("ingot_attn_prefill_f32_d32_g2", ingot_attn_prefill_launch(p, c.G, false, c.D), p,
                 FiberOrder::Forward);
    std::vector<float> r(b.q.size());
    for (size_t i = 0; i < r.size(); ++i)
      r[i] = loadAt(c.dt, out, i);
    return r;
  };
  const std::vector<float> a = run(one);
  // Same cache and q, but the first 30 query tokens become prior context
  // (a later chunk of the same prompt): rows of tokens 30..36 must match.
  Batch chunk = one;
  chunk.queryStart = {0, 7};
  chunk.maxQ = 7;
  chunk.T = 7;
  chunk.q.assign(one.q.begin() + 30 * one.nh * one.D, one.q.end());
  const std::vector<float> bq = run(chunk);
  for (size_t i = 0; i < bq.size(); ++i)
    ASSERT_EQ(bq[i], a[30 * size_t(one.nh) * one.D + i]) << i;
}

// The mma prefill's schedule and fragment index math, with mma.sync replaced
// by the CPU model above. P is rounded to the storage type before P.V (as on
// the GPU), hence the looser tolerance.
void runMmaModel(const Case &c, void (*kernel)(IngotAttnParams), const std::vector<SeqSpec> &seqs,
                 unsigned seed) {
  SCOPED_TRACE(caseName(c) + " mma model");
  const Batch b = makeBatch(c, seqs, seed);
  auto q = store(c.dt, b.q.data(), b.q.size());
  auto k = store(c.dt, b.kcache.data(), b.kcache.size());
  auto v = store(c.dt, b.vcache.data(), b.vcache.size());
  std::vector<float> nan(b.q.size(), NAN);
  auto out = store(c.dt, nan.data(), nan.size());
  IngotAttnParams p = baseParams(c, b, q.data(), k.data(), v.data(), out.data());
  const KernelLaunch l = ingot_attn_prefill_launch(p, c.G, /*mma=*/true, c.D);
  LaunchOptions o;
  o.order = c.order;
  ingot::cudaemu::launchWith(o, dim3(l.grid[0], l.grid[1], l.grid[2]), dim3(l.block[0]), l.shmem,
                             kernel, p);
  double worst = 0;
  int bad = 0;
  for (size_t i = 0; i < b.ref.size(); ++i) {
    const double got = loadAt(c.dt, out, i), want = b.ref[i];
    const double err = std::fabs(got - want);
    const double tol = (c.dt == Dt::BF16 ? 1.6e-2 : 4e-3) * std::fabs(want) +
                       (c.dt == Dt::BF16 ? 4e-3 : 1e-3);
    worst = std::max(worst, err);
    if (!(err <= tol) && ++bad <= 5)
      ADD_FAILURE() << "element " << i << ": got " << got << " want " << want;
  }
  EXPECT_EQ(bad, 0) << "worst abs err " << worst;
}

TEST(CudaAttention, PrefillMmaFragmentModel) {
  runMmaModel({Dt::BF16, 16, 2, 16, 0}, mmaModelBf16D16G2, kMixed, 11);
  runMmaModel({Dt::BF16, 32, 4, 8, 30, FiberOrder::Reverse}, mmaModelBf16D32G4, kMixed, 12);
  runMmaModel({Dt::F16, 32, 1, 16, 0}, mmaModelF16D32G1, kMixed, 13);
}

// A GQA group that does not divide the prefill row tiles (the last rows of a
// tile idle): these instances did not compile before (static_assert).
TEST(CudaAttention, GroupNotDividingRowTile) {
  runCase({Dt::F32, 32, 3, 8, 0});
  runCase({Dt::BF16, 64, 3, 16, 20, FiberOrder::Reverse});
  runMmaModel({Dt::BF16, 32, 3, 8, 0}, mmaModelBf16D32G3, kMixed, 14);
  runMmaModel({Dt::BF16, 32, 3, 16, 25, FiberOrder::Reverse}, mmaModelBf16D32G3, kMixed, 15);
}

// max_splits below what a context needs (a host bug): that sequence's
// output is NaN rather than silently partial; the others are still right.
TEST(CudaAttention, DecodeTooFewSplitsIsLoud) {
  const Case c{Dt::F32, 16, 1, 16, 0};
  const Batch b = makeBatch(c, {{1, 17}, {1, 113}}, 21);
  auto q = store(c.dt, b.q.data(), b.q.size());
  auto k = store(c.dt, b.kcache.data(), b.kcache.size());
  auto v = store(c.dt, b.vcache.data(), b.vcache.size());
  std::vector<float> zeros(b.q.size(), 0.f);
  auto out = store(c.dt, zeros.data(), zeros.size());
  IngotAttnParams p = baseParams(c, b, q.data(), k.data(), v.data(), out.data());
  p.split_tokens = 16;
  p.max_splits = 2; // sequence 1 needs 8
  std::vector<float> po(size_t(ingot_attn_decode_scratch_floats(2, p.num_heads, 2, c.D)));
  std::vector<float> pl(size_t(ingot_attn_decode_lse_floats(2, p.num_heads, 2)));
  p.partial_out = po.data();
  p.partial_lse = pl.data();
  launchByName("ingot_attn_decode_f32_d16_g1", ingot_attn_decode_launch(p, c.G, c.D), p,
               FiberOrder::Forward);
  launchByName("ingot_attn_decode_combine_f32_d16", ingot_attn_decode_combine_launch(p), p,
               FiberOrder::Forward);
  const size_t row = size_t(b.nh) * c.D;
  for (size_t i = 0; i < row; ++i) {
    EXPECT_NEAR(loadAt(c.dt, out, i), b.ref[i], 1e-5) << i;
    EXPECT_TRUE(std::isnan(loadAt(c.dt, out, row + i))) << i;
  }
}

TEST(CudaAttention, CheckNamesBadFields) {
  IngotAttnParams p{};
  p.num_heads = 8;
  p.num_kv_heads = 2;
  p.block_size = 16;
  p.max_blocks_per_seq = 4;
  p.num_seqs = 1;
  p.num_tokens = 1;
  p.max_query_len = 1;
  EXPECT_EQ(ingot_attn_check(p, 4, 64, false), nullptr);
  EXPECT_NE(std::string(ingot_attn_check(p, 2, 64, false)).find("num_heads"), std::string::npos);
  EXPECT_NE(std::string(ingot_attn_check(p, 4, 64, true)).find("split_tokens"), std::string::npos);
  p.split_tokens = 24;
  EXPECT_NE(std::string(ingot_attn_check(p, 4, 64, true)).find("multiple"), std::string::npos);
  p.split_tokens = 4096;
  p.max_splits = 1;
  float scratch = 0;
  p.partial_out = p.partial_lse = &scratch;
  EXPECT_NE(std::string(ingot_attn_check(p, 4, 64, true)).find("shared memory"), std::string::npos);
  p.split_tokens = ingot_attn_decode_split_tokens(16, 4, 64);
  EXPECT_EQ(ingot_attn_check(p, 4, 64, true), nullptr);
  // Launch geometry.
  p.max_query_len = 37;
  const KernelLaunch l = ingot_attn_prefill_launch(p, 4, false, 64);
  EXPECT_EQ(l.grid[0], 3u); // 64 rows / G 4 = 16 tokens per block
  EXPECT_EQ(l.grid[1], 2u);
  EXPECT_EQ(l.block[0], 128u);
  EXPECT_EQ(ingot_attn_prefill_launch(p, 4, true, 64).grid[0], 3u);
  EXPECT_EQ(ingot_attn_prefill_launch(p, 1, false, 128).grid[0], 2u); // 32 rows
}

TEST(CudaAttention, HostAndDeviceTileSizesAgree) {
  EXPECT_EQ(ingot_attn_prefill_tpr(16), ingot_attn_prefill_tpr_c<16>());
  EXPECT_EQ(ingot_attn_prefill_tpr(64), ingot_attn_prefill_tpr_c<64>());
  EXPECT_EQ(ingot_attn_prefill_tpr(72), ingot_attn_prefill_tpr_c<72>());
  EXPECT_EQ(ingot_attn_prefill_tpr(80), ingot_attn_prefill_tpr_c<80>());
  EXPECT_EQ(ingot_attn_prefill_tpr(96), ingot_attn_prefill_tpr_c<96>());
  EXPECT_EQ(ingot_attn_prefill_tpr(128), ingot_attn_prefill_tpr_c<128>());
  EXPECT_EQ(ingot_attn_prefill_tpr(256), ingot_attn_prefill_tpr_c<256>());
  EXPECT_EQ(ingot_attn_prefill_tpr(96), 2);
  EXPECT_EQ(ingot_attn_prefill_tpr(72), 1);
  EXPECT_EQ(ingot_attn_prefill_tpr(128), 4);
}

TEST(CudaAttention, Registered) {
  for (const char *n : {"ingot_attn_decode_bf16_d64_g4", "ingot_attn_decode_combine_bf16_d64",
                        "ingot_attn_prefill_f32_d16_g1", "ingot_attn_prefill_f16_d32_g2"})
    EXPECT_NE(ingot::cudaemu::findKernel(n), nullptr) << n;
}

} // namespace
