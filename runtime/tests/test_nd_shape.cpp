// Unit tests for the shape/index/generator and nn groups of the N-d kernel
// library (runtime/src/nd/nd_shape*.cpp, nd_nn*.cpp): error paths (bad input
// must be an ingot::Error naming the op and the problem, never a crash) and a
// few hand-computed results. The bulk of the value checks are ONNX's own node
// tests (scripts/dev/nd_node_tests.py) and onnxruntime comparisons
// (runtime/tests/nd_contrib_vs_ort.py).
#include "../src/cpu_kernels.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"
#include "nd_test_util.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>

using namespace ingot;

namespace {

using ndtest::Buf;
using ndtest::Ctx;
using ndtest::expectError;

std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = float(i);
  return v;
}

} // namespace

TEST(NdShape, KernelsAreRegistered) {
  for (const char *op : {"Reshape", "Transpose", "Concat", "Slice", "Gather", "Pad", "MatMul",
                         "Gemm", "LayerNormalization", "Trilu", "NonZero"})
    EXPECT_NE(nd::findKernel("", op), nullptr) << op;
  for (const char *op : {"SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization",
                         "RotaryEmbedding", "FastGelu", "BiasGelu", "QuickGelu",
                         "SkipLayerNormalization"})
    EXPECT_NE(nd::findKernel("com.microsoft", op), nullptr) << op;
}

TEST(NdShape, ReshapeIncompatibleSizeNamesOpAndShapes) {
  Buf x = Buf::make<float>(DType::F32, {2, 3}, iota(6));
  Buf s = Buf::make<int64_t>(DType::I64, {2}, {4, 2});
  Ctx c("Reshape", {&x.t, &s.t});
  expectError(c, {"Reshape", "[2,3]", "[4,2]"});
}

TEST(NdShape, ReshapeInferNotDivisible) {
  Buf x = Buf::make<float>(DType::F32, {2, 3}, iota(6));
  Buf s = Buf::make<int64_t>(DType::I64, {2}, {4, -1});
  Ctx c("Reshape", {&x.t, &s.t});
  expectError(c, {"Reshape", "cannot reshape"});
  Buf s2 = Buf::make<int64_t>(DType::I64, {2}, {-1, -1});
  Ctx c2("Reshape", {&x.t, &s2.t});
  expectError(c2, {"Reshape", "more than one -1"});
}

TEST(NdShape, GatherIndexOutOfRange) {
  Buf x = Buf::make<float>(DType::F32, {3, 2}, iota(6));
  Buf i = Buf::make<int64_t>(DType::I64, {2}, {1, 3});
  Ctx c("Gather", {&x.t, &i.t});
  expectError(c, {"Gather", "index 3", "out of range"});
  Buf j = Buf::make<int32_t>(DType::I32, {1}, {-4});
  Ctx c2("Gather", {&x.t, &j.t});
  expectError(c2, {"Gather", "index -4"});
}

TEST(NdShape, GatherNegativeIndexAndInt8) {
  Buf x = Buf::make<int8_t>(DType::I8, {3, 2}, {1, 2, 3, 4, 5, 6});
  Buf i = Buf::make<int64_t>(DType::I64, {2}, {-1, 0});
  Ctx c("Gather", {&x.t, &i.t});
  c.setInt("axis", 1);
  c.run();
  EXPECT_EQ(c.outs[0].t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(c.out<int8_t>(), (std::vector<int8_t>{2, 1, 4, 3, 6, 5}));
}

TEST(NdShape, ConcatRankMismatch) {
  Buf a = Buf::make<float>(DType::F32, {2, 2}, iota(4));
  Buf b = Buf::make<float>(DType::F32, {4}, iota(4));
  Ctx c("Concat", {&a.t, &b.t});
  c.setInt("axis", 0);
  expectError(c, {"Concat", "input 1", "rank 1", "rank 2"});
}

TEST(NdShape, ConcatDimMismatchAndDtypeMismatch) {
  Buf a = Buf::make<float>(DType::F32, {2, 2}, iota(4));
  Buf b = Buf::make<float>(DType::F32, {2, 3}, iota(6));
  Ctx c("Concat", {&a.t, &b.t});
  c.setInt("axis", 0);
  expectError(c, {"Concat", "[2,3]", "[2,2]"});
  Buf d = Buf::make<int32_t>(DType::I32, {2, 2}, {1, 2, 3, 4});
  Ctx c2("Concat", {&a.t, &d.t});
  c2.setInt("axis", 0);
  expectError(c2, {"Concat", "i32", "f32"});
}

TEST(NdShape, ScatterAndGatherNDBadIndices) {
  Buf x = Buf::make<float>(DType::F32, {2, 2}, iota(4));
  Buf i = Buf::make<int64_t>(DType::I64, {1, 1}, {2});
  Buf u = Buf::make<float>(DType::F32, {1, 1}, {9});
  Ctx c("ScatterElements", {&x.t, &i.t, &u.t});
  expectError(c, {"ScatterElements", "index 2"});
  Buf k = Buf::make<int64_t>(DType::I64, {1, 3}, {0, 0, 0});
  Ctx c2("GatherND", {&x.t, &k.t});
  expectError(c2, {"GatherND", "length 3"});
}

TEST(NdShape, BadAttributesAndShapes) {
  Buf x = Buf::make<float>(DType::F32, {2, 3}, iota(6));
  Ctx t("Transpose", {&x.t});
  t.setInts("perm", {0, 0});
  expectError(t, {"Transpose", "permutation"});
  Buf st = Buf::make<int64_t>(DType::I64, {1}, {0});
  Buf en = Buf::make<int64_t>(DType::I64, {1}, {2});
  Buf ax = Buf::make<int64_t>(DType::I64, {1}, {0});
  Buf sp = Buf::make<int64_t>(DType::I64, {1}, {0});
  Ctx s("Slice", {&x.t, &st.t, &en.t, &ax.t, &sp.t});
  expectError(s, {"Slice", "step"});
  Buf a = Buf::make<float>(DType::F32, {2, 3}, iota(6));
  Ctx m("MatMul", {&x.t, &a.t});
  expectError(m, {"MatMul", "inner dims"});
  Buf e = Buf::make<int64_t>(DType::I64, {2}, {3, 3});
  Ctx ex("Expand", {&x.t, &e.t});
  expectError(ex, {"Expand", "broadcast"});
  Ctx sq("Squeeze", {&x.t, &ax.t});
  expectError(sq, {"Squeeze", "not 1"});
  Buf pads = Buf::make<int64_t>(DType::I64, {4}, {0, -2, 0, -2});
  Ctx p("Pad", {&x.t, &pads.t});
  expectError(p, {"Pad", "below zero"});
}

TEST(NdShape, MissingRequiredInputNamesOp) {
  Buf x = Buf::make<float>(DType::F32, {2}, iota(2));
  Ctx c("Gather", {&x.t});
  expectError(c, {"Gather", "input 1 is required"});
}

TEST(NdShape, TransposeAndNegativeStepSlice) {
  Buf x = Buf::make<float>(DType::F32, {2, 3}, iota(6)); // [[0,1,2],[3,4,5]]
  Ctx t("Transpose", {&x.t});
  t.run();
  EXPECT_EQ(t.outs[0].t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.out<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // x[:, ::-2] -> [[2,0],[5,3]]
  Buf st = Buf::make<int64_t>(DType::I64, {1}, {-1});
  Buf en = Buf::make<int64_t>(DType::I64, {1}, {INT64_MIN});
  Buf ax = Buf::make<int64_t>(DType::I64, {1}, {1});
  Buf sp = Buf::make<int64_t>(DType::I64, {1}, {-2});
  Ctx s("Slice", {&x.t, &st.t, &en.t, &ax.t, &sp.t});
  s.run();
  EXPECT_EQ(s.outs[0].t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(s.out<float>(), (std::vector<float>{2, 0, 5, 3}));
}

TEST(NdShape, PadReflectAndWrapOnBf16Bytes) {
  // Pad moves bytes: a 2-byte dtype checks the element-size dispatch.
  Buf x = Buf::make<uint16_t>(DType::BF16, {3}, {10, 20, 30});
  Buf pads = Buf::make<int64_t>(DType::I64, {2}, {2, 2});
  Ctx r("Pad", {&x.t, &pads.t});
  r.setString("mode", "reflect");
  r.run();
  EXPECT_EQ(r.out<uint16_t>(), (std::vector<uint16_t>{30, 20, 10, 20, 30, 20, 10}));
  Ctx w("Pad", {&x.t, &pads.t});
  w.setString("mode", "wrap");
  w.run();
  EXPECT_EQ(w.out<uint16_t>(), (std::vector<uint16_t>{20, 30, 10, 20, 30, 10, 20}));
}

TEST(NdShape, SplitNumOutputsUneven) {
  Buf x = Buf::make<int32_t>(DType::I32, {5}, {1, 2, 3, 4, 5});
  Ctx c("Split", {&x.t}, 3);
  c.setInt("num_outputs", 3);
  c.run();
  EXPECT_EQ(c.out<int32_t>(0), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(c.out<int32_t>(1), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(c.out<int32_t>(2), (std::vector<int32_t>{5}));
}

TEST(NdNn, MatMulIntegerBroadcastAndVectors) {
  // [2,1,2,2] x [3,2,1] -> [2,3,2,1], exact in int64.
  Buf a = Buf::make<int64_t>(DType::I64, {2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Buf b = Buf::make<int64_t>(DType::I64, {3, 2, 1}, {1, 1, 2, 0, 0, 3});
  Ctx c("MatMul", {&a.t, &b.t});
  c.run();
  EXPECT_EQ(c.outs[0].t.shape, (std::vector<int64_t>{2, 3, 2, 1}));
  EXPECT_EQ(c.out<int64_t>(), (std::vector<int64_t>{3, 7, 2, 6, 6, 12, 11, 15, 10, 14, 18, 24}));
  // 1-D x 1-D -> scalar.
  Buf v = Buf::make<float>(DType::F32, {3}, {1, 2, 3});
  Ctx d("MatMul", {&v.t, &v.t});
  d.run();
  EXPECT_TRUE(d.outs[0].t.shape.empty());
  EXPECT_EQ(d.out<float>()[0], 14.0f);
}

// Both f32 paths: one tall GEMM (shared B, column-parallel) and many small
// products (batched B, batch-parallel).
TEST(NdNn, MatMulF32IsThreadCountInvariant) {
  struct Case {
    std::vector<int64_t> as, bs;
  };
  for (const Case &cs : {Case{{4, 37, 129}, {129, 70}}, Case{{6, 20, 33}, {6, 33, 25}}}) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> av(size_t(nd::product(cs.as))), bv(size_t(nd::product(cs.bs)));
    for (float &f : av)
      f = u(rng);
    for (float &f : bv)
      f = u(rng);
    Buf a = Buf::make<float>(DType::F32, cs.as, av);
    Buf b = Buf::make<float>(DType::F32, cs.bs, bv);
    std::vector<std::vector<float>> results;
    for (int threads : {1, 3, 4}) {
      cpu::setNumThreads(threads);
      Ctx c("MatMul", {&a.t, &b.t});
      c.run();
      results.push_back(c.out<float>());
    }
    cpu::setNumThreads(0);
    for (auto &r : results)
      EXPECT_EQ(0, std::memcmp(r.data(), results[0].data(), r.size() * sizeof(float)));
    // Against a double-precision reference.
    const int64_t M = cs.as[1], K = cs.as[2], N = cs.bs.back();
    const bool batchedB = cs.bs.size() == 3;
    for (int64_t bt = 0; bt < cs.as[0]; ++bt)
      for (int64_t m = 0; m < M; m += 7)
        for (int64_t n = 0; n < N; n += 5) {
          double ref = 0;
          for (int64_t k = 0; k < K; ++k)
            ref += double(av[size_t((bt * M + m) * K + k)]) *
                   bv[size_t((batchedB ? bt * K * N : 0) + k * N + n)];
          EXPECT_NEAR(results[0][size_t((bt * M + m) * N + n)], ref, 1e-4);
        }
  }
}

TEST(NdNn, DropoutTrainingRefused) {
  Buf x = Buf::make<float>(DType::F32, {2}, iota(2));
  Buf r = Buf::make<float>(DType::F32, {}, {0.5f});
  Buf t = Buf::make<uint8_t>(DType::Bool, {}, {1});
  Ctx c("Dropout", {&x.t, &r.t, &t.t});
  expectError(c, {"Dropout", "training_mode"});
}

TEST(NdNn, GemmInt32TransAWithRowBias) {
  // onnxruntime has no integer Gemm, so this one is checked by hand:
  // A' = Aᵀ = [[1,3,5],[2,4,6]], A'·B = [[6,8],[8,10]], + C [10,20].
  Buf a = Buf::make<int32_t>(DType::I32, {3, 2}, {1, 2, 3, 4, 5, 6});
  Buf b = Buf::make<int32_t>(DType::I32, {3, 2}, {1, 0, 0, 1, 1, 1});
  Buf cb = Buf::make<int32_t>(DType::I32, {2}, {10, 20});
  Ctx c("Gemm", {&a.t, &b.t, &cb.t});
  c.setInt("transA", 1);
  c.run();
  EXPECT_EQ(c.outs[0].t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(c.out<int32_t>(), (std::vector<int32_t>{16, 28, 18, 30}));
}

TEST(NdShape, ExtremeStepsAndRangesDoNotOverflow) {
  Buf x = Buf::make<float>(DType::F32, {5}, iota(5));
  Buf st = Buf::make<int64_t>(DType::I64, {1}, {1});
  Buf en = Buf::make<int64_t>(DType::I64, {1}, {INT64_MAX});
  Buf sp = Buf::make<int64_t>(DType::I64, {1}, {INT64_MAX});
  Ctx s("Slice", {&x.t, &st.t, &en.t, nullptr, &sp.t});
  s.run();
  EXPECT_EQ(s.out<float>(), (std::vector<float>{1}));
  Buf st2 = Buf::make<int64_t>(DType::I64, {1}, {-1});
  Buf en2 = Buf::make<int64_t>(DType::I64, {1}, {INT64_MIN});
  Buf sp2 = Buf::make<int64_t>(DType::I64, {1}, {INT64_MIN});
  Ctx s2("Slice", {&x.t, &st2.t, &en2.t, nullptr, &sp2.t});
  s2.run();
  EXPECT_EQ(s2.out<float>(), (std::vector<float>{4}));
  Buf lo = Buf::make<int64_t>(DType::I64, {}, {INT64_MIN});
  Buf hi = Buf::make<int64_t>(DType::I64, {}, {INT64_MAX});
  Buf one = Buf::make<int64_t>(DType::I64, {}, {1});
  Ctx r("Range", {&lo.t, &hi.t, &one.t});
  expectError(r, {"Range", "too many"});
}
