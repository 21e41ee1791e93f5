// The core CUDA kernel families (runtime/cuda/kernels/{norm,act,softmax,
// embedding,rope}.cuh) under the emulation, against the CPU reference kernels
// (runtime/src/cpu_kernels.h) for every storage type: f32 at 1e-5 relative;
// bf16/f16 against the reference computed in fp32 from the same rounded
// inputs, within about one ulp of the output type (rounded intermediates the
// kernels store, such as the residual sum, must match exactly). Shapes
// include odd widths, 16-byte-misaligned rows, the launch functions' block
// sizes and others, and both fiber orders.
//
// The kernels are instantiated here from their templates (not through the
// INGOT_DEFINE_* macros), so this file defines no extern "C" entry point
// that a translation unit registering the kernels for the fake driver
// would define too.
#include "../src/cpu_executor_impl.h"
#include "../src/cpu_kernels.h"
#include "ingot/runtime/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

// After the standard headers: the emulation defines threadIdx, warpSize, ...
#include "cuda/emu/cuda_emu.h"
#include "cuda/kernels/act.cuh"
#include "cuda/kernels/embedding.cuh"
#include "cuda/kernels/norm.cuh"
#include "cuda/kernels/rope.cuh"
#include "cuda/kernels/softmax.cuh"

using ingot::cudaemu::FiberOrder;
using ingot::cudaemu::LaunchOptions;
using ingot::cudaemu::launchWith;

namespace {

// ---- dtype traits ----
template <class T> struct Dt;
template <> struct Dt<float> {
  static constexpr const char *name = "f32";
  static constexpr float rtol = 1e-5f;
};
template <> struct Dt<__nv_bfloat16> {
  static constexpr const char *name = "bf16";
  static constexpr float rtol = 1.0f / 128; // one bf16 ulp (8 significant bits)
};
template <> struct Dt<__half> {
  static constexpr const char *name = "f16";
  static constexpr float rtol = 1.0f / 1024; // one f16 ulp
};
template <class T> float roundTo(float v) { return ingot_to_f32(ingot_from_f32<T>(v)); }

// A device-style buffer of n elements of T starting `off` elements past a
// 16-byte boundary (off = 1: misaligned rows), plus its fp32 mirror.
template <class T> struct Buf {
  std::vector<T> store;
  T *p;
  size_t n;
  Buf(size_t n_, int off) : store(n_ + 16), p(store.data() + off), n(n_) {}
  void set(const std::vector<float> &f) {
    for (size_t i = 0; i < n; ++i)
      p[i] = ingot_from_f32<T>(f[i]);
  }
  std::vector<float> get() const {
    std::vector<float> f(n);
    for (size_t i = 0; i < n; ++i)
      f[i] = ingot_to_f32(p[i]);
    return f;
  }
};

// n random values already representable in T.
template <class T> std::vector<float> randomT(size_t n, std::mt19937 &rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> f(n);
  for (float &v : f)
    v = roundTo<T>(d(rng));
  return f;
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want, float rtol,
                float atol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (!(std::fabs(got[i] - want[i]) <= rtol * std::fabs(want[i]) + atol)) {
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << " want " << want[i];
      ++bad;
    }
}
void expectEqual(const std::vector<float> &got, const std::vector<float> &want,
                 const std::string &what) {
  expectNear(got, want, 0.0f, 0.0f, what);
}

LaunchOptions opts(FiberOrder ord) {
  LaunchOptions o;
  o.order = ord;
  return o;
}

// Launches with the family's geometry, or with blockDim.x = block if > 0.
template <class P>
void run(void (*kernel)(P), const KernelLaunch &l, const P &p, FiberOrder ord, int block = 0) {
  launchWith(opts(ord), dim3(l.grid[0], l.grid[1], l.grid[2]),
             dim3(block > 0 ? unsigned(block) : l.block[0], l.block[1], l.block[2]), l.shmem,
             kernel, p);
}

const int64_t kWidths[] = {1, 3, 33, 1000, 4099};

// The emulated entry points, one per template instance.
template <class T, bool ADD, bool LAYER> void normKernel(IngotNormParams p) {
  ingot_norm_impl<T, ADD, LAYER>(p);
}
template <class T, bool GELU> void actKernel(IngotActMulParams p) {
  ingot_act_mul_impl<T, GELU>(p);
}
template <class T> void softmaxKernel(IngotSoftmaxParams p) { ingot_softmax_impl<T>(p); }
template <class T> void embeddingKernel(IngotEmbeddingParams p) { ingot_embedding_impl<T>(p); }
template <class T> void gatherKernel(IngotGatherRowsParams p) { ingot_gather_rows_impl<T>(p); }
template <class S, class D> void castKernel(IngotCastParams p) { ingot_cast_impl<S, D>(p); }
template <class T, int D> void ropeKernel(IngotRopeParams p) { ingot_rope_impl<T, D>(p); }
template <class T, int D> void ropeKvKernel(IngotRopeKvParams p) {
  ingot_rope_kv_append_impl<T, D>(p);
}

// ---- Norms ----

template <class T, bool ADD, bool LAYER> void checkNorm(const char *kind, uint32_t seed) {
  std::mt19937 rng(seed);
  const float rtol = Dt<T>::rtol, atol = std::is_same<T, float>::value ? 1e-6f : 1e-5f;
  for (int64_t H : kWidths)
    for (int off : {0, 1})
      for (int inPlace : {0, 1}) {
        const int64_t R = 3;
        const size_t n = size_t(R * H);
        const FiberOrder ord = off ? FiberOrder::Reverse : FiberOrder::Forward;
        const int block = inPlace ? 32 : 0; // 0: ingot_norm_launch's
        const std::string what = std::string(kind) + "_" + Dt<T>::name +
                                 " H=" + std::to_string(H) + " off=" + std::to_string(off) +
                                 (inPlace ? " in-place block=32" : "");
        const std::vector<float> x = randomT<T>(n, rng, -2.0f, 2.0f);
        const std::vector<float> r = randomT<T>(n, rng, -2.0f, 2.0f);
        const std::vector<float> g = randomT<T>(size_t(H), rng, 0.5f, 1.5f);
        const std::vector<float> b = randomT<T>(size_t(H), rng, -0.5f, 0.5f);
        const float eps = 1e-5f;
        // Reference: the sum rounded to T, then the CPU norm of it.
        std::vector<float> s = x, want(n);
        if (ADD) {
          if (std::is_same<T, float>::value) {
            if (LAYER)
              ingot::cpu::addLayerNorm(x.data(), r.data(), R, H, g.data(), b.data(), eps,
                                       s.data(), want.data());
            else
              ingot::cpu::addRmsNorm(x.data(), r.data(), R, H, g.data(), eps, s.data(),
                                     want.data());
          } else {
            for (size_t i = 0; i < n; ++i)
              s[i] = roundTo<T>(x[i] + r[i]);
          }
        }
        if (!ADD || !std::is_same<T, float>::value) {
          if (LAYER)
            ingot::cpu::layerNorm(s.data(), R, H, g.data(), b.data(), eps, want.data());
          else
            ingot::cpu::rmsNorm(s.data(), R, H, g.data(), eps, want.data());
        }
        Buf<T> bx(n, off), br(n, off), bg(size_t(H), off), bb(size_t(H), off), bs(n, off),
            bo(n, off);
        bx.set(x);
        br.set(r);
        bg.set(g);
        bb.set(b);
        IngotNormParams p{};
        p.x = bx.p;
        p.residual = ADD ? br.p : nullptr;
        p.gamma = bg.p;
        p.beta = LAYER ? bb.p : nullptr;
        p.out = inPlace ? bx.p : bo.p;          // out over x
        p.sum = ADD ? (inPlace ? br.p : bs.p) : nullptr; // sum over residual
        p.rows = R;
        p.cols = H;
        p.eps = eps;
        run(&normKernel<T, ADD, LAYER>, ingot_norm_launch(p, int(sizeof(T))), p, ord, block);
        expectNear((inPlace ? bx : bo).get(), want, rtol, atol, what + " out");
        if (ADD)
          expectEqual((inPlace ? br : bs).get(), s, what + " sum");
      }
}

template <class T> void checkNorms() {
  checkNorm<T, false, false>("rms_norm", 1);
  checkNorm<T, true, false>("add_rms_norm", 2);
  checkNorm<T, false, true>("layer_norm", 3);
  checkNorm<T, true, true>("add_layer_norm", 4);
}
TEST(CudaKernelsCore, NormsF32) { checkNorms<float>(); }
TEST(CudaKernelsCore, NormsBf16) { checkNorms<__nv_bfloat16>(); }
TEST(CudaKernelsCore, NormsF16) { checkNorms<__half>(); }

TEST(CudaKernelsCore, LaunchGeometry) {
  IngotNormParams p{};
  p.rows = 7;
  p.cols = 4096;
  KernelLaunch l = ingot_norm_launch(p, 2);
  EXPECT_EQ(l.grid[0], 7u);
  EXPECT_EQ(l.block[0], 512u); // 512 bf16 vectors
  p.cols = 128;                // a qwen3 q/k-norm group: 16 vectors
  l = ingot_norm_launch(p, 2);
  EXPECT_EQ(l.block[0], 32u);
  p.cols = 1000;
  EXPECT_EQ(ingot_norm_launch(p, 4).block[0], 256u);
  IngotActMulParams a{};
  a.n = 1 << 20;
  EXPECT_EQ(ingot_act_launch(a, 2).grid[0], 512u);
  a.n = 0;
  EXPECT_EQ(ingot_act_launch(a, 2).grid[0], 1u);
}

// ---- Activations ----

template <class T> void checkActs() {
  std::mt19937 rng(11);
  const float rtol = Dt<T>::rtol;
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(33), int64_t(1000), int64_t(4099)})
    for (int off : {0, 1})
      for (int kind = 0; kind < 3; ++kind) { // silu, gelu erf, gelu tanh
        const FiberOrder ord = off ? FiberOrder::Reverse : FiberOrder::Forward;
        const std::string what = std::string(kind == 0 ? "silu_mul_" : "gelu_mul_") +
                                 Dt<T>::name + (kind == 2 ? " tanh" : "") +
                                 " n=" + std::to_string(n) + " off=" + std::to_string(off);
        const std::vector<float> gate = randomT<T>(size_t(n), rng, -6.0f, 6.0f);
        const std::vector<float> up = randomT<T>(size_t(n), rng, -2.0f, 2.0f);
        std::vector<float> want(static_cast<size_t>(n));
        if (kind == 0) {
          ingot::cpu::siluMul(gate.data(), up.data(), n, want.data());
        } else {
          // The CPU's gelu formulas, through its elementwise interpreter.
          using ingot::cpu::EwOp;
          const std::vector<ingot::cpu::EwInstr> prog = {
              {kind == 1 ? EwOp::GeluErf : EwOp::GeluTanh, 0, 0, 2, 0.0f},
              {EwOp::Mul, 2, 1, 3, 0.0f}};
          std::vector<ingot::cpu::EwInput> ins(2);
          ins[0].data = gate.data();
          ins[1].data = up.data();
          ingot::cpu::elementwise(prog, 4, ins, {3}, {want.data()}, 1, n);
        }
        Buf<T> bg(size_t(n), off), bu(size_t(n), off), bo(size_t(n), off);
        bg.set(gate);
        bu.set(up);
        IngotActMulParams p{bg.p, bu.p, bo.p, n, kind == 2 ? 1 : 0};
        KernelLaunch l = ingot_act_launch(p, int(sizeof(T)));
        // A grid smaller than the work: the grid-stride loop covers the rest.
        l.grid[0] = std::min(l.grid[0], 2u);
        run(kind == 0 ? &actKernel<T, false> : &actKernel<T, true>, l, p, ord, off ? 64 : 0);
        expectNear(bo.get(), want, rtol, 1e-6f, what);
      }
}
TEST(CudaKernelsCore, ActsF32) { checkActs<float>(); }
TEST(CudaKernelsCore, ActsBf16) { checkActs<__nv_bfloat16>(); }
TEST(CudaKernelsCore, ActsF16) { checkActs<__half>(); }

// ---- Softmax ----

template <class T> void checkSoftmax() {
  std::mt19937 rng(21);
  const float rtol = Dt<T>::rtol;
  const float atol = std::is_same<T, __half>::value ? 1e-7f : 0.0f; // f16 subnormals
  for (int64_t C : kWidths)
    for (int off : {0, 1})
      for (int inPlace : {0, 1}) {
        const int64_t R = 3;
        const size_t n = size_t(R * C);
        const FiberOrder ord = off ? FiberOrder::Reverse : FiberOrder::Forward;
        const std::string what = std::string("softmax_") + Dt<T>::name + " C=" +
                                 std::to_string(C) + " off=" + std::to_string(off) +
                                 (inPlace ? " in-place" : "");
        const std::vector<float> x = randomT<T>(n, rng, -8.0f, 8.0f);
        std::vector<float> want(n);
        ingot::cpu::softmax(x.data(), R, C, want.data());
        Buf<T> bx(n, off), bo(n, off);
        bx.set(x);
        IngotSoftmaxParams p{bx.p, inPlace ? bx.p : bo.p, R, C};
        run(&softmaxKernel<T>, ingot_softmax_launch(p, int(sizeof(T))), p, ord,
            inPlace ? 128 : 0);
        expectNear((inPlace ? bx : bo).get(), want, rtol, atol, what);
      }
}
TEST(CudaKernelsCore, SoftmaxF32) { checkSoftmax<float>(); }
TEST(CudaKernelsCore, SoftmaxBf16) { checkSoftmax<__nv_bfloat16>(); }
TEST(CudaKernelsCore, SoftmaxF16) { checkSoftmax<__half>(); }

// ---- Embedding, gather rows, casts ----

template <class T> void checkEmbedding() {
  std::mt19937 rng(31);
  for (int64_t H : kWidths)
    for (int off : {0, 1}) {
      const int64_t V = 11, T_ = 5;
      const std::string what = std::string("embedding_") + Dt<T>::name +
                               " H=" + std::to_string(H) + " off=" + std::to_string(off);
      const std::vector<float> table = randomT<T>(size_t(V * H), rng, -1.0f, 1.0f);
      const std::vector<int> ids = {3, 0, 10, 3, 7};
      std::vector<float> want(size_t(T_ * H));
      ingot::cpu::embedding(ids.data(), T_, table.data(), H, want.data());
      Buf<T> bt(table.size(), off), bo(want.size(), off);
      bt.set(table);
      IngotEmbeddingParams p{ids.data(), bt.p, bo.p, T_, H, V};
      run(&embeddingKernel<T>, ingot_embedding_launch(p, int(sizeof(T))), p,
          off ? FiberOrder::Reverse : FiberOrder::Forward);
      expectEqual(bo.get(), want, what);
      // Out-of-range ids write zero rows.
      const std::vector<int> bad = {-1, int(V)};
      bo.set(std::vector<float>(bo.n, 1.0f));
      p.ids = bad.data();
      p.rows = 2;
      run(&embeddingKernel<T>, ingot_embedding_launch(p, int(sizeof(T))), p, FiberOrder::Forward);
      std::vector<float> got = bo.get();
      got.resize(size_t(2 * H));
      expectEqual(got, std::vector<float>(size_t(2 * H), 0.0f), what + " bad ids");
    }
}
TEST(CudaKernelsCore, EmbeddingF32) { checkEmbedding<float>(); }
TEST(CudaKernelsCore, EmbeddingBf16) { checkEmbedding<__nv_bfloat16>(); }
TEST(CudaKernelsCore, EmbeddingF16) { checkEmbedding<__half>(); }

template <class T> void checkGather() {
  std::mt19937 rng(41);
  for (int64_t H : kWidths)
    for (int off : {0, 1})
      for (int outF32 : {0, 1}) {
        const std::string what = std::string("gather_rows_") + Dt<T>::name +
                                 " H=" + std::to_string(H) + " off=" + std::to_string(off) +
                                 " out_f32=" + std::to_string(outF32);
        // Three sequences of 4, 1 and 2 tokens: GatherLast picks rows 3, 4, 6.
        ingot::BatchMeta batch;
        const int lens[] = {4, 1, 2};
        std::vector<int> queryStart = {0};
        for (int len : lens) {
          ingot::SeqStep s;
          s.queryStart = queryStart.back();
          s.queryLen = len;
          s.contextLen = len;
          batch.seqs.push_back(s);
          queryStart.push_back(queryStart.back() + len);
        }
        const int64_t rows = queryStart.back(), S = 3;
        const std::vector<float> h = randomT<T>(size_t(rows * H), rng, -3.0f, 3.0f);
        std::vector<float> want(size_t(S * H));
        ingot::cpu::gatherLast(h.data(), H, batch, want.data());
        Buf<T> bh(h.size(), off);
        bh.set(h);
        Buf<T> bo(want.size(), off);
        Buf<float> bo32(want.size(), off);
        IngotGatherRowsParams p{};
        p.x = bh.p;
        p.out = outF32 ? static_cast<void *>(bo32.p) : static_cast<void *>(bo.p);
        p.rows_idx = queryStart.data();
        p.n = S;
        p.cols = H;
        p.x_rows = rows;
        p.out_f32 = outF32;
        p.last_of_query_start = 1;
        run(&gatherKernel<T>, ingot_gather_rows_launch(p, int(sizeof(T))), p,
            off ? FiberOrder::Reverse : FiberOrder::Forward);
        expectEqual(outF32 ? bo32.get() : bo.get(), want, what);
        // Explicit indices, one out of range (a zero row).
        const std::vector<int> idx = {6, 0, int(rows)};
        p.rows_idx = idx.data();
        p.last_of_query_start = 0;
        run(&gatherKernel<T>, ingot_gather_rows_launch(p, int(sizeof(T))), p, FiberOrder::Forward);
        std::vector<float> want2(size_t(S * H), 0.0f);
        std::copy(h.begin() + 6 * H, h.begin() + 7 * H, want2.begin());
        std::copy(h.begin(), h.begin() + H, want2.begin() + H);
        expectEqual(outF32 ? bo32.get() : bo.get(), want2, what + " explicit rows");
      }
}
TEST(CudaKernelsCore, GatherRowsF32) { checkGather<float>(); }
TEST(CudaKernelsCore, GatherRowsBf16) { checkGather<__nv_bfloat16>(); }
TEST(CudaKernelsCore, GatherRowsF16) { checkGather<__half>(); }

template <class T> void checkCasts() {
  std::mt19937 rng(51);
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(33), int64_t(1000), int64_t(4099)})
    for (int off : {0, 1}) {
      const std::string what = std::string("cast ") + Dt<T>::name + " n=" + std::to_string(n) +
                               " off=" + std::to_string(off);
      std::uniform_real_distribution<float> d(-100.0f, 100.0f);
      std::vector<float> f(static_cast<size_t>(n));
      for (float &v : f)
        v = d(rng);
      // fp32 -> T rounds to nearest even; T -> fp32 is exact.
      std::vector<float> want(static_cast<size_t>(n));
      for (size_t i = 0; i < f.size(); ++i)
        want[i] = std::is_same<T, __half>::value
                      ? ingot::f16ToFloat(ingot::floatToF16(f[i]))
                      : ingot::bf16ToFloat(ingot::floatToBf16(f[i]));
      Buf<float> src(f.size(), off), back(f.size(), off);
      Buf<T> mid(f.size(), off);
      src.set(f);
      IngotCastParams p{src.p, mid.p, n};
      KernelLaunch l = ingot_cast_launch(p);
      l.grid[0] = std::min(l.grid[0], 2u);
      run(&castKernel<float, T>, l, p, FiberOrder::Forward, 32);
      expectEqual(mid.get(), want, what + " from f32");
      IngotCastParams q{mid.p, back.p, n};
      run(&castKernel<T, float>, ingot_cast_launch(q), q, FiberOrder::Reverse);
      expectEqual(back.get(), want, what + " to f32");
    }
}
TEST(CudaKernelsCore, CastsBf16) { checkCasts<__nv_bfloat16>(); }
TEST(CudaKernelsCore, CastsF16) { checkCasts<__half>(); }

// ---- Rope ----

struct RopeCase {
  int rotaryDim; // of D
  bool interleaved;
  ingot::cpu::RopeParams::Scaling scaling;
};

ingot::cpu::RopeParams ropeParams(int D, const RopeCase &c) {
  ingot::cpu::RopeParams r;
  r.headDim = D;
  r.rotaryDim = c.rotaryDim;
  r.theta = 500000.0;
  r.interleaved = c.interleaved;
  r.scaling = c.scaling;
  if (c.scaling == ingot::cpu::RopeParams::Scaling::Llama3) {
    r.factor = 8.0;
    r.lowFreqFactor = 1.0;
    r.highFreqFactor = 4.0;
    r.originalMaxPosition = 8192;
  } else if (c.scaling == ingot::cpu::RopeParams::Scaling::Linear) {
    r.factor = 2.0;
  }
  return r;
}

template <class T, int D> void checkRope() {
  using S = ingot::cpu::RopeParams::Scaling;
  std::mt19937 rng(61);
  const float rtol = Dt<T>::rtol, atol = std::is_same<T, float>::value ? 2e-6f : 1e-5f;
  const RopeCase cases[] = {{D, false, S::None},
                            {D, true, S::Llama3},
                            {D / 2, false, S::Linear}, // partial rotary
                            {D / 2 + 2, true, S::None}, // not a multiple of the vector
                            {6, false, S::None}};       // scalar path
  const std::vector<int> positions = {0, 1, 17, 4095, 131071};
  const int64_t Tn = int64_t(positions.size());
  const int nh = 3;
  for (const RopeCase &c : cases)
    for (int off : {0, 1}) {
      const ingot::cpu::RopeParams rp = ropeParams(D, c);
      const std::vector<float> inv = ingot::cpu::ropeInvFreq(rp);
      const std::string what = std::string("rope_") + Dt<T>::name + "_d" + std::to_string(D) +
                               " rotary=" + std::to_string(c.rotaryDim) +
                               (c.interleaved ? " interleaved" : " half") +
                               " off=" + std::to_string(off);
      const size_t n = size_t(Tn * nh * D);
      const std::vector<float> x = randomT<T>(n, rng, -1.0f, 1.0f);
      std::vector<float> want(n);
      ingot::cpu::rope(x.data(), Tn, nh, positions.data(), rp, inv, want.data());
      Buf<T> bx(n, off);
      bx.set(x);
      IngotRopeParams p{bx.p, positions.data(), inv.data(), Tn, nh, c.rotaryDim,
                        c.interleaved ? 0 : 1, 1.0f};
      run(&ropeKernel<T, D>, ingot_rope_launch(p, D, int(sizeof(T))), p,
          off ? FiberOrder::Reverse : FiberOrder::Forward);
      expectNear(bx.get(), want, rtol, atol, what);
    }
}
TEST(CudaKernelsCore, RopeF32) {
  checkRope<float, 64>();
  checkRope<float, 128>();
}
TEST(CudaKernelsCore, RopeBf16) {
  checkRope<__nv_bfloat16, 64>();
  checkRope<__nv_bfloat16, 128>();
}
TEST(CudaKernelsCore, RopeF16) { checkRope<__half, 64>(); }

TEST(CudaKernelsCore, RopeAttnScaleScalesTheRotatedDims) {
  constexpr int D = 64;
  const RopeCase c{32, false, ingot::cpu::RopeParams::Scaling::None};
  const ingot::cpu::RopeParams rp = ropeParams(D, c);
  const std::vector<float> inv = ingot::cpu::ropeInvFreq(rp);
  std::mt19937 rng(62);
  const std::vector<int> positions = {5, 900};
  const std::vector<float> x = randomT<float>(size_t(2 * 2 * D), rng, -1.0f, 1.0f);
  std::vector<float> want(x.size());
  ingot::cpu::rope(x.data(), 2, 2, positions.data(), rp, inv, want.data());
  for (size_t i = 0; i < want.size(); ++i)
    if (int(i % D) < c.rotaryDim)
      want[i] *= 0.5f;
  Buf<float> bx(x.size(), 0);
  bx.set(x);
  IngotRopeParams p{bx.p, positions.data(), inv.data(), 2, 2, c.rotaryDim, 1, 0.5f};
  run(&ropeKernel<float, D>, ingot_rope_launch(p, D, 4), p, FiberOrder::Forward);
  expectNear(bx.get(), want, 1e-5f, 1e-6f, "rope attn_scale 0.5");
}

// The host side of the rope kernels: the inv_freq table the CUDA executor
// uploads comes from the CPU executor's own attribute parsing.
struct RopeStep {
  flatbuffers::FlatBufferBuilder fbb;
  const ingot::plan::Step *step = nullptr;
  RopeStep(const std::string &style, const std::string &scaling,
           const std::vector<double> &table = {}) {
    namespace fb = ingot::plan;
    std::vector<flatbuffers::Offset<fb::Attr>> as = {
        fb::CreateAttrDirect(fbb, "head_dim", 64), fb::CreateAttrDirect(fbb, "rotary_dim", 8),
        fb::CreateAttrDirect(fbb, "theta", 0, 500000.0),
        fb::CreateAttrDirect(fbb, "style", 0, 0.0, style.c_str()),
        fb::CreateAttrDirect(fbb, "scaling", 0, 0.0, scaling.c_str()),
        fb::CreateAttrDirect(fbb, "factor", 0, 8.0),
        fb::CreateAttrDirect(fbb, "low_freq_factor", 0, 1.0),
        fb::CreateAttrDirect(fbb, "high_freq_factor", 0, 4.0),
        fb::CreateAttrDirect(fbb, "original_max_position", 8192),
        fb::CreateAttrDirect(fbb, "inv_freq", 0, 0.0, nullptr, nullptr, &table)};
    const std::vector<int32_t> in = {0, 1}, out = {2};
    fbb.Finish(fb::CreateStepDirect(fbb, fb::OpKind::Rope, "rope_q", &in, &out, &as));
    step = flatbuffers::GetRoot<fb::Step>(fbb.GetBufferPointer());
  }
};

TEST(CudaKernelsCore, RopeStepAttrsGiveTheCpuInvFreq) {
  RopeStep llama3("half", "llama3");
  const ingot::cpuexec::RopeStepAttrs a = ingot::cpuexec::ropeStepAttrs(*llama3.step, "step 3");
  EXPECT_EQ(a.params.headDim, 64);
  EXPECT_EQ(a.params.rotaryDim, 8);
  EXPECT_FALSE(a.params.interleaved);
  ingot::cpu::RopeParams r = ropeParams(64, {8, false, ingot::cpu::RopeParams::Scaling::Llama3});
  r.rotaryDim = 8;
  EXPECT_EQ(a.invFreq, ingot::cpu::ropeInvFreq(r));

  RopeStep table("interleaved", "table", {1.0, 0.5, 0.25, 0.125});
  const ingot::cpuexec::RopeStepAttrs t = ingot::cpuexec::ropeStepAttrs(*table.step, "step 4");
  EXPECT_TRUE(t.params.interleaved);
  EXPECT_EQ(t.invFreq, (std::vector<float>{1.0f, 0.5f, 0.25f, 0.125f}));

  RopeStep bad("sideways", "none");
  try {
    ingot::cpuexec::ropeStepAttrs(*bad.step, "step 5 (Rope \"rope_q\")");
    ADD_FAILURE() << "no error for a bad style";
  } catch (const ingot::Error &e) {
    EXPECT_NE(std::string(e.what()).find("step 5 (Rope \"rope_q\"): attribute 'style'"),
              std::string::npos)
        << e.what();
  }
  RopeStep shortTable("half", "table", {1.0});
  EXPECT_THROW(ingot::cpuexec::ropeStepAttrs(*shortTable.step, "step 6"), ingot::Error);
}

// rope_kv_append vs the CPU's Rope steps on q and k followed by
// pagedAttention's cache append, through a real (non-contiguous) block table.
template <class T, int D> void checkRopeKvAppend(const RopeCase &c, int off) {
  std::mt19937 rng(71);
  const float rtol = Dt<T>::rtol, atol = std::is_same<T, float>::value ? 2e-6f : 1e-5f;
  const int nh = 4, nkv = 2, bs = 4;
  const int64_t numBlocks = 8;
  const std::string what = std::string("rope_kv_append_") + Dt<T>::name + "_d" +
                           std::to_string(D) + " rotary=" + std::to_string(c.rotaryDim) +
                           (c.interleaved ? " interleaved" : " half") +
                           " off=" + std::to_string(off);
  // Sequence 0: 2 cached tokens + 3 new (blocks 5, 2); sequence 1: 2 new
  // tokens (block 7).
  ingot::BatchMeta batch;
  {
    ingot::SeqStep s0;
    s0.queryStart = 0;
    s0.queryLen = 3;
    s0.contextLen = 5;
    s0.blockTable = {5, 2};
    ingot::SeqStep s1;
    s1.queryStart = 3;
    s1.queryLen = 2;
    s1.contextLen = 2;
    s1.blockTable = {7};
    batch.seqs = {s0, s1};
  }
  std::vector<int> positions;
  for (const ingot::SeqStep &s : batch.seqs)
    for (int i = 0; i < s.queryLen; ++i) {
      const int pos = s.contextLen - s.queryLen + i;
      positions.push_back(pos);
      batch.slotMapping.push_back(int64_t(s.blockTable[size_t(pos / bs)]) * bs + pos % bs);
    }
  const int64_t Tn = int64_t(positions.size());
  const ingot::cpu::RopeParams rp = ropeParams(D, c);
  const std::vector<float> inv = ingot::cpu::ropeInvFreq(rp);
  const std::vector<float> q = randomT<T>(size_t(Tn * nh * D), rng, -1.0f, 1.0f);
  const std::vector<float> k = randomT<T>(size_t(Tn * nkv * D), rng, -1.0f, 1.0f);
  const std::vector<float> v = randomT<T>(size_t(Tn * nkv * D), rng, -1.0f, 1.0f);

  // CPU: Rope(q), Rope(k), then the attention step's append.
  std::vector<float> qr(q.size()), kr(k.size()), attnOut(q.size());
  ingot::cpu::rope(q.data(), Tn, nh, positions.data(), rp, inv, qr.data());
  ingot::cpu::rope(k.data(), Tn, nkv, positions.data(), rp, inv, kr.data());
  ingot::KvCache cache({{nkv, D}}, bs, numBlocks);
  ingot::cpu::AttentionParams ap;
  ap.numHeads = nh;
  ap.numKvHeads = nkv;
  ap.headDim = D;
  ap.scale = 0.125f;
  ingot::cpu::pagedAttention(qr.data(), kr.data(), v.data(), Tn, batch, cache, ap,
                             attnOut.data());

  const size_t cacheN = size_t(numBlocks * bs * nkv * D);
  const float sentinel = 7.0f;
  Buf<T> bq(q.size(), off), bk(k.size(), off), bv(v.size(), off), kc(cacheN, off),
      vc(cacheN, off);
  bq.set(q);
  bk.set(k);
  bv.set(v);
  kc.set(std::vector<float>(cacheN, sentinel));
  vc.set(std::vector<float>(cacheN, sentinel));
  IngotRopeKvParams p{};
  p.q = bq.p;
  p.k = bk.p;
  p.v = bv.p;
  p.k_cache = kc.p;
  p.v_cache = vc.p;
  p.positions = positions.data();
  const std::vector<long long> slots0(batch.slotMapping.begin(), batch.slotMapping.end());
  p.slot_mapping = slots0.data();
  p.inv_freq = inv.data();
  p.tokens = Tn;
  p.num_heads = nh;
  p.num_kv_heads = nkv;
  p.rotary_dim = c.rotaryDim;
  p.neox = c.interleaved ? 0 : 1;
  p.block_size = bs;
  p.apply_rope = 1;
  p.attn_scale = 1.0f;
  run(&ropeKvKernel<T, D>, ingot_rope_kv_append_launch(p, D, int(sizeof(T))), p,
      off ? FiberOrder::Reverse : FiberOrder::Forward);
  expectNear(bq.get(), qr, rtol, atol, what + " q");
  // Every cache slot: the appended tokens' rows equal the CPU cache's,
  // everything else is untouched.
  const std::vector<float> kg = kc.get(), vg = vc.get();
  const int64_t kvw = int64_t(nkv) * D;
  std::vector<float> wantK(cacheN, sentinel), wantV(cacheN, sentinel);
  for (int64_t slot : batch.slotMapping) {
    std::copy(cache.key(0, slot), cache.key(0, slot) + kvw, wantK.begin() + slot * kvw);
    std::copy(cache.value(0, slot), cache.value(0, slot) + kvw, wantV.begin() + slot * kvw);
  }
  expectNear(kg, wantK, rtol, atol, what + " k cache");
  expectEqual(vg, wantV, what + " v cache");

  // apply_rope = 0: q untouched, k appended as is. Negative slots: no write.
  bq.set(q);
  kc.set(std::vector<float>(cacheN, sentinel));
  vc.set(std::vector<float>(cacheN, sentinel));
  std::vector<long long> slots(batch.slotMapping.begin(), batch.slotMapping.end());
  slots[1] = -1;
  p.slot_mapping = slots.data();
  p.apply_rope = 0;
  run(&ropeKvKernel<T, D>, ingot_rope_kv_append_launch(p, D, int(sizeof(T))), p,
      FiberOrder::Forward);
  expectEqual(bq.get(), q, what + " no-rope q");
  std::vector<float> wantK2(cacheN, sentinel), wantV2(cacheN, sentinel);
  for (int64_t t = 0; t < Tn; ++t)
    if (slots[size_t(t)] >= 0) {
      std::copy(k.begin() + t * kvw, k.begin() + (t + 1) * kvw,
                wantK2.begin() + slots[size_t(t)] * kvw);
      std::copy(v.begin() + t * kvw, v.begin() + (t + 1) * kvw,
                wantV2.begin() + slots[size_t(t)] * kvw);
    }
  expectEqual(kc.get(), wantK2, what + " no-rope k cache");
  expectEqual(vc.get(), wantV2, what + " no-rope v cache");
}

TEST(CudaKernelsCore, RopeKvAppendF32) {
  using S = ingot::cpu::RopeParams::Scaling;
  checkRopeKvAppend<float, 64>({64, false, S::None}, 0);
  checkRopeKvAppend<float, 64>({32, true, S::Llama3}, 1);
  checkRopeKvAppend<float, 128>({128, false, S::Linear}, 1);
}
TEST(CudaKernelsCore, RopeKvAppendBf16) {
  using S = ingot::cpu::RopeParams::Scaling;
  checkRopeKvAppend<__nv_bfloat16, 128>({128, false, S::Llama3}, 0);
  checkRopeKvAppend<__nv_bfloat16, 64>({32, false, S::None}, 1);
  checkRopeKvAppend<__nv_bfloat16, 64>({64, true, S::None}, 0);
}
TEST(CudaKernelsCore, RopeKvAppendF16) {
  using S = ingot::cpu::RopeParams::Scaling;
  checkRopeKvAppend<__half, 64>({64, false, S::None}, 0);
  checkRopeKvAppend<__half, 64>({24, true, S::None}, 1);
}

} // namespace
