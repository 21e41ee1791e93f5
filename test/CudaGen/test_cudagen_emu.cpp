// Runs the CUDA C++ that ingot-print-cuda generates for the Elementwise
// programs of Inputs/ew_programs.mlir (generated at build time into
// cudagen_ew.cuh, once per storage dtype: f32, bf16, f16) under the CPU
// emulation of the CUDA execution model, and compares every output with the
// formulas written out here, independently of the generator. The kernels are
// launched by name through the emulation's registry with an IngotEwParams
// struct, as the fake driver does: both entry points (scalar and 16-byte),
// with the ABI's geometry (ingot_elementwise_launch) and with a small grid
// that makes the grid-stride loop iterate, at widths with and without a
// multiple of the vector size, plus in-place and misaligned buffers. Each
// output is also compared with the CPU executor's interpreter of the same
// program (ingot::cpu::elementwise, runtime/src/cpu_kernels.h), whose
// formulas the generator promises to follow.
//
// Tolerances: f32 1e-5 relative. bf16/f16: the reference is computed in fp32
// from the same dtype-rounded inputs, so the output differs from it by the
// final rounding (half an ulp, 2^-9 / 2^-12 relative); allowed: one ulp
// (2^-8 / 2^-11 relative) plus 1e-7 absolute for f16 subnormals.
#include "src/cpu_kernels.h"

#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"

#include "cudagen_ew.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using ingot::cudaemu::findKernel;
using ingot::cudaemu::LaunchOptions;

template <class S> struct DtypeInfo;
template <> struct DtypeInfo<float> {
  static constexpr const char *tn = "f32";
  static float tol(float want) { return 1e-5f * std::max(1.0f, std::abs(want)); }
};
template <> struct DtypeInfo<__nv_bfloat16> {
  static constexpr const char *tn = "bf16";
  static float tol(float want) { return std::ldexp(1.0f, -8) * std::abs(want) + 1e-7f; }
};
template <> struct DtypeInfo<__half> {
  static constexpr const char *tn = "f16";
  static float tol(float want) { return std::ldexp(1.0f, -11) * std::abs(want) + 1e-7f; }
};

// A 16-byte aligned buffer of n elements of S starting `offset` elements
// past an aligned address (offset 1: misaligned for the vector kernel).
template <class S> class Buf {
public:
  Buf(size_t n, size_t offset = 0) : n_(n) {
    const size_t bytes = ((n + offset) * sizeof(S) + 15) / 16 * 16 + 16;
    mem_.reset(static_cast<S *>(std::aligned_alloc(16, bytes)));
    p_ = mem_.get() + offset;
  }
  S *data() { return p_; }
  size_t size() const { return n_; }
  float get(size_t i) const { return ingot_to_f32(p_[i]); }
  void set(size_t i, float v) { p_[i] = ingot_from_f32<S>(v); }

private:
  struct Free {
    void operator()(S *p) const { std::free(p); }
  };
  std::unique_ptr<S, Free> mem_;
  S *p_;
  size_t n_;
};

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float geluErf(float x) { return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f))); }
float geluTanh(float x) {
  const float k = std::sqrt(2.0f / 3.14159265358979f);
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

enum class Kind { Full, Row, Scalar };

// One program of Inputs/ew_programs.mlir: how its inputs broadcast, what it
// computes per element (x: inputs, y: outputs), and the program itself
// (quads op, a, b, dst; copied from the .mlir) for the CPU interpreter.
struct Case {
  int index; // ingot_ew_<index>_<tn>
  std::vector<Kind> in;
  int numOut;
  std::function<void(const float *x, float *y)> ref;
  std::vector<int> program;
  std::vector<float> imms;
  int numRegs;
  std::vector<uint8_t> outRegs;
};

const std::vector<Case> &cases() {
  static const std::vector<Case> c = {
      {0, {Kind::Full, Kind::Row}, 1,
       [](const float *x, float *y) { y[0] = geluErf(silu(x[0] + x[1])); },
       {0, 0, 1, 2, 20, 2, 2, 3, 21, 3, 3, 4},
       {0, 0, 0},
       5,
       {4}},
      {1, {Kind::Full, Kind::Full}, 2,
       [](const float *x, float *y) {
         y[0] = (x[0] * x[1] - 0.5f) / std::sqrt(x[1] * x[1] + 1.0f);
         y[1] = std::tanh(x[0]);
       },
       {2, 0, 1, 2, 30, 0, 0, 3, 1, 2, 3, 4, 2, 1, 1, 5, 30, 0, 0, 6, 0, 5, 6, 7,
        13, 7, 7, 8, 3, 4, 8, 9, 12, 0, 0, 10},
       {0, 0.5f, 0, 0, 1.0f, 0, 0, 0, 0},
       11,
       {9, 10}},
      {2, {Kind::Full}, 1,
       [](const float *x, float *y) {
         y[0] = std::max(std::min(x[0], 2.0f), -2.0f) * sigmoid(x[0]) + geluTanh(x[0]);
       },
       {30, 0, 0, 1, 5, 0, 1, 2, 30, 0, 0, 3, 4, 2, 3, 4, 24, 0, 0, 5, 2, 4, 5, 6,
        22, 0, 0, 7, 0, 6, 7, 8},
       {2.0f, 0, -2.0f, 0, 0, 0, 0, 0},
       9,
       {8}},
      {3, {Kind::Full, Kind::Scalar, Kind::Row, Kind::Full}, 1,
       [](const float *x, float *y) {
         y[0] = std::max(x[0] - x[1], 0.0f) * x[2] + std::exp(-x[3]);
       },
       {1, 0, 1, 4, 23, 4, 4, 5, 2, 5, 2, 6, 10, 3, 3, 7, 11, 7, 7, 8, 0, 6, 8, 9},
       {0, 0, 0, 0, 0, 0},
       10,
       {9}},
  };
  return c;
}

struct Shape {
  long long rows, width;
};
// Widths: 1 and 5 (scalar kernel only), 100 (a multiple of 4, not of 8),
// 24/64/4096 (multiples of 8).
const Shape kShapes[] = {{1, 1}, {3, 5}, {4, 64}, {7, 100}, {5, 24}, {2, 4096}};

enum class Geometry { Abi, SmallGrid };

// Launches kernel `name` through the registry like the fake driver.
void launchByName(const std::string &name, IngotEwParams p, int perThread, Geometry g) {
  const auto *k = findKernel(name.c_str());
  ASSERT_NE(k, nullptr) << name << " is not registered";
  ASSERT_EQ(k->paramBytes, sizeof(IngotEwParams));
  void *args[] = {&p};
  if (g == Geometry::Abi) {
    const KernelLaunch l = ingot_elementwise_launch(p, perThread);
    k->run(LaunchOptions{}, dim3(l.grid[0], l.grid[1], l.grid[2]),
           dim3(l.block[0], l.block[1], l.block[2]), l.shmem, args);
  } else {
    k->run(LaunchOptions{}, dim3(2), dim3(64), 0, args);
  }
}

template <class S> class CudaGenEmu : public ::testing::Test {};
using Dtypes = ::testing::Types<float, __nv_bfloat16, __half>;
TYPED_TEST_SUITE(CudaGenEmu, Dtypes);

// Runs case `c` at shape `s` with both entry points and geometries;
// `inPlace`: output 0 is written over input 0; `offset`: buffers start that
// many elements past a 16-byte boundary (scalar kernel only when nonzero).
template <class S> void runCase(const Case &c, Shape s, bool inPlace = false, size_t offset = 0) {
  using Info = DtypeInfo<S>;
  const size_t n = size_t(s.rows * s.width), w = size_t(s.width);
  std::mt19937 rng(unsigned(1000 * c.index + s.width + s.rows));
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  // Inputs rounded to storage; the reference reads the rounded values.
  std::vector<Buf<S>> ins;
  for (Kind k : c.in) {
    ins.emplace_back(k == Kind::Full ? n : k == Kind::Row ? w : 1, offset);
    for (size_t i = 0; i < ins.back().size(); ++i)
      ins.back().set(i, dist(rng));
  }
  std::vector<std::vector<float>> want(size_t(c.numOut), std::vector<float>(n));
  std::vector<float> x(c.in.size()), y(size_t(c.numOut));
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < c.in.size(); ++k)
      x[k] = ins[k].get(c.in[k] == Kind::Full ? i : c.in[k] == Kind::Row ? i % w : 0);
    c.ref(x.data(), y.data());
    for (int o = 0; o < c.numOut; ++o)
      want[size_t(o)][i] = y[size_t(o)];
  }
  // The CPU executor's interpreter on the same (rounded) inputs.
  std::vector<std::vector<float>> cpuWant(size_t(c.numOut), std::vector<float>(n, NAN));
  {
    std::vector<ingot::cpu::EwInstr> prog;
    for (size_t i = 0; i < c.program.size(); i += 4)
      prog.push_back({ingot::cpu::EwOp(c.program[i]), uint8_t(c.program[i + 1]),
                      uint8_t(c.program[i + 2]), uint8_t(c.program[i + 3]), c.imms[i / 4]});
    std::vector<std::vector<float>> inF(c.in.size());
    std::vector<ingot::cpu::EwInput> cin;
    for (size_t k = 0; k < c.in.size(); ++k) {
      for (size_t i = 0; i < ins[k].size(); ++i)
        inF[k].push_back(ins[k].get(i));
      ingot::cpu::EwInput e;
      e.data = inF[k].data();
      e.kind = c.in[k] == Kind::Full  ? ingot::cpu::EwInput::Kind::Full
               : c.in[k] == Kind::Row ? ingot::cpu::EwInput::Kind::Row
                                      : ingot::cpu::EwInput::Kind::Scalar;
      cin.push_back(e);
    }
    std::vector<float *> couts;
    for (auto &v : cpuWant)
      couts.push_back(v.data());
    ingot::cpu::elementwise(prog, c.numRegs, cin, c.outRegs, couts, s.rows, s.width);
  }
  const int vn = ingot_vec<S>::n;
  const std::string base = "ingot_ew_" + std::to_string(c.index) + "_" + Info::tn;
  for (int vec = 0; vec < 2; ++vec) {
    if (vec && (s.width % vn != 0 || offset != 0))
      continue;
    for (Geometry g : {Geometry::Abi, Geometry::SmallGrid}) {
      SCOPED_TRACE(base + (vec ? "_v" : "") + " rows " + std::to_string(s.rows) + " width " +
                   std::to_string(s.width) + (g == Geometry::Abi ? " abi grid" : " small grid") +
                   (inPlace ? " in place" : "") + (offset ? " misaligned" : ""));
      // A fresh copy of input 0 when it is overwritten.
      Buf<S> in0(ins[0].size(), offset);
      for (size_t i = 0; i < in0.size(); ++i)
        in0.data()[i] = ins[0].data()[i];
      std::vector<Buf<S>> outs;
      for (int o = 0; o < c.numOut; ++o) {
        outs.emplace_back(n, offset);
        for (size_t i = 0; i < n; ++i)
          outs.back().set(i, NAN);
      }
      IngotEwParams p{};
      p.in[0] = in0.data();
      for (size_t k = 1; k < c.in.size(); ++k)
        p.in[k] = ins[k].data();
      for (int o = 0; o < c.numOut; ++o)
        p.out[o] = (inPlace && o == 0) ? static_cast<void *>(in0.data()) : outs[size_t(o)].data();
      p.rows = s.rows;
      p.width = s.width;
      launchByName(base + (vec ? "_v" : ""), p, vec ? vn : 1, g);
      for (int o = 0; o < c.numOut; ++o) {
        const Buf<S> &got = (inPlace && o == 0) ? in0 : outs[size_t(o)];
        for (size_t i = 0; i < n; ++i) {
          const float wv = want[size_t(o)][i];
          ASSERT_NEAR(got.get(i), wv, Info::tol(wv)) << "output " << o << " element " << i;
          const float cv = cpuWant[size_t(o)][i];
          ASSERT_NEAR(got.get(i), cv, Info::tol(cv))
              << "output " << o << " element " << i << " vs the CPU interpreter";
        }
      }
    }
  }
}

TYPED_TEST(CudaGenEmu, BroadcastRowSiluGelu) {
  for (const Shape &s : kShapes)
    runCase<TypeParam>(cases()[0], s);
}

TYPED_TEST(CudaGenEmu, TwoOutputsAndConstants) {
  for (const Shape &s : kShapes)
    runCase<TypeParam>(cases()[1], s);
}

TYPED_TEST(CudaGenEmu, ClampSigmoidGeluTanh) {
  for (const Shape &s : kShapes)
    runCase<TypeParam>(cases()[2], s);
}

TYPED_TEST(CudaGenEmu, ScalarRowAndFullInputs) {
  for (const Shape &s : kShapes)
    runCase<TypeParam>(cases()[3], s);
}

// The planner may give an output the buffer of a full input: every element
// is read before it is written, by the same thread.
TYPED_TEST(CudaGenEmu, InPlace) {
  for (const Case &c : cases())
    for (const Shape &s : {Shape{3, 5}, Shape{4, 64}})
      runCase<TypeParam>(c, s, /*inPlace=*/true);
}

// The scalar entry point needs no alignment.
TYPED_TEST(CudaGenEmu, MisalignedScalarKernel) {
  for (const Case &c : cases())
    runCase<TypeParam>(c, Shape{3, 40}, false, /*offset=*/1);
}

TEST(CudaGenEmuRegistry, BothEntryPointsPerProgramAndDtype) {
  for (const char *tn : {"f32", "bf16", "f16"})
    for (const Case &c : cases())
      for (const char *sfx : {"", "_v"}) {
        const std::string name = "ingot_ew_" + std::to_string(c.index) + "_" + tn + sfx;
        const auto *k = findKernel(name.c_str());
        ASSERT_NE(k, nullptr) << name;
        EXPECT_EQ(k->paramBytes, sizeof(IngotEwParams)) << name;
      }
}

} // namespace
