// Tests for the graph executor (src/graph_executor.cpp) on graph plans built
// in memory (tests/graph_test_plans.h).
// - Without kernels: plan validation at create (decoder plan, unknown op type
//   naming the step, non-Node steps, ids out of range, SSA violations, bad
//   typed attributes, weight binding errors), input checks at run (count,
//   dtype, rank, static dims, shared dim names, byte size), and graph outputs
//   that are graph inputs or weights (embedded constants, external weights
//   through the checkpoint with a transform).
// - With kernels (Add, Relu, Transpose, MatMul, Reshape, Clip): small graphs
//   against loops written here; each test is skipped while the kernel it
//   needs is not registered (the N-d kernels land separately).
#include "graph_test_plans.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/graph.h"
#include "ingot/runtime/nd.h"
#include "ingot/runtime/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace graphtest;

namespace {

#define REQUIRE_KERNELS(...)                                                          \
  do {                                                                                \
    for (const char *op_ : {__VA_ARGS__})                                             \
      if (!ingot::nd::findKernel("", op_))                                            \
        GTEST_SKIP() << "no N-d kernel for " << op_ << " yet";                        \
  } while (0)

// Expects `f` to throw ingot::Error whose message contains every string in
// `parts`.
template <class F>
void expectError(F &&f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an ingot::Error";
  } catch (const ingot::Error &e) {
    const std::string msg = e.what();
    for (const std::string &p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

struct GraphTest : ::testing::Test {
  TmpDir dir;
  std::unique_ptr<PlanFile> pf;

  std::unique_ptr<GraphExecutor> create(const GraphPlanBuilder &b, GraphRunOptions o = {}) {
    pf = PlanFile::open(b.write(dir.path / "g.plan"));
    return GraphExecutor::create(*pf, o);
  }
  void expectCreateError(const GraphPlanBuilder &b, std::initializer_list<std::string> parts) {
    expectError([&] { create(b); }, parts);
  }
};

std::vector<float> randFloats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-2.f, 2.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}

// --- graphs without steps: inputs and weights straight to outputs ----------

GraphPlanBuilder passThrough() {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {-3, 3}, {"batch", ""});
  const int y = b.input("y", fb::DType::I64, {-3, 2}, {"batch", ""});
  const int c = b.constant("c", fb::DType::I64, {2}, bytesOf(std::vector<int64_t>{7, -9}));
  b.output(x);
  b.output(c);
  b.output(y);
  return b;
}

TEST_F(GraphTest, DescribesInputsAndOutputs) {
  auto ex = create(passThrough());
  ASSERT_EQ(ex->inputs().size(), 2u);
  EXPECT_EQ(ex->inputs()[0].name, "x");
  EXPECT_EQ(ex->inputs()[0].dtype, DType::F32);
  EXPECT_EQ(ex->inputs()[0].shape, (std::vector<int64_t>{kDimDynamic, 3}));
  EXPECT_EQ(ex->inputs()[0].dimParams, (std::vector<std::string>{"batch", ""}));
  EXPECT_EQ(ex->inputs()[1].dtype, DType::I64);
  ASSERT_EQ(ex->outputs().size(), 3u);
  EXPECT_EQ(ex->outputs()[1].name, "c");
  EXPECT_EQ(ex->outputs()[1].shape, (std::vector<int64_t>{2}));
}

TEST_F(GraphTest, PassesInputsAndConstantsThrough) {
  auto ex = create(passThrough());
  const std::vector<float> xs = {1.5f, -2, 3, 4, 5, 6};
  auto out = ex->run({hostTensor(DType::F32, {2, 3}, xs),
                      hostTensor(DType::I64, {2, 2}, std::vector<int64_t>{1, 2, 3, 4})});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].dtype, DType::F32);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(valuesOf<float>(out[0]), xs);
  EXPECT_EQ(out[1].dtype, DType::I64);
  EXPECT_EQ(valuesOf<int64_t>(out[1]), (std::vector<int64_t>{7, -9}));
  EXPECT_EQ(valuesOf<int64_t>(out[2]), (std::vector<int64_t>{1, 2, 3, 4}));
  // Zero-sized dynamic dims are legal.
  out = ex->run({hostTensor(DType::F32, {0, 3}, std::vector<float>{}),
                 hostTensor(DType::I64, {0, 2}, std::vector<int64_t>{})});
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(out[0].bytes.empty());
}

TEST_F(GraphTest, ChecksInputs) {
  auto ex = create(passThrough());
  const HostTensor y = hostTensor(DType::I64, {2, 2}, std::vector<int64_t>{1, 2, 3, 4});
  expectError([&] { ex->run({y}); }, {"takes 2 inputs", "x f32[batch,3]", "y i64[batch,2]", "got 1"});
  expectError([&] { ex->run({hostTensor(DType::F64, {2, 3}, std::vector<double>(6)), y}); },
              {"input 'x'", "f64", "expected f32[batch,3]"});
  expectError([&] { ex->run({hostTensor(DType::F32, {6}, std::vector<float>(6)), y}); },
              {"input 'x'", "rank 1", "expected rank 2"});
  expectError([&] { ex->run({hostTensor(DType::F32, {2, 4}, std::vector<float>(8)), y}); },
              {"input 'x'", "dim 1 is 4, expected 3"});
  expectError([&] { ex->run({hostTensor(DType::F32, {3, 3}, std::vector<float>(9)), y}); },
              {"input 'y' dim 0 ('batch') is 2", "input 'x' dim 0 ('batch') is 3"});
  expectError([&] { ex->run({hostTensor(DType::F32, {2, 3}, std::vector<float>(5)), y}); },
              {"input 'x'", "20 bytes", "needs 24"});
}

TEST_F(GraphTest, BindsExternalWeightsThroughTransforms) {
  // A 2x3 f32 checkpoint tensor, transposed to the plan's 3x2 weight, plus an
  // embedded constant (no sources) in the same weights-external plan.
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  const fs::path ckdir = dir.path / "ckpt";
  fs::create_directories(ckdir);
  TensorView v;
  v.name = "W.src";
  v.dtype = DType::F32;
  v.shape = {2, 3};
  v.data = reinterpret_cast<const uint8_t *>(w.data());
  v.nbytes = w.size() * 4;
  writeSafetensors((ckdir / "model.safetensors").string(), {v});

  GraphPlanBuilder b;
  b.external = true;
  b.weightsDir = (dir.path / "nowhere").string();
  const int wt = b.externalWeight("W", fb::DType::F32, {3, 2}, "W.src", {fb::TransformKind::Transpose});
  const int c = b.constant("c", fb::DType::U8, {3}, {1, 2, 250});
  b.output(wt);
  b.output(c);
  expectCreateError(b, {"nowhere"});
  GraphRunOptions o;
  o.weightsDir = ckdir.string();
  auto ex = create(b, o);
  auto out = ex->run({});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(valuesOf<float>(out[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(out[1].bytes, (std::vector<uint8_t>{1, 2, 250}));

  // The recorded file size must match.
  b.weightFiles = {{"model.safetensors", 1}};
  pf = PlanFile::open(b.write(dir.path / "g2.plan"));
  expectError([&] { GraphExecutor::create(*pf, o); }, {"model.safetensors", "changed"});
}

TEST_F(GraphTest, RejectsBadWeights) {
  GraphPlanBuilder b;
  b.output(b.constant("c", fb::DType::F32, {2}, bytesOf(std::vector<float>{1, 2})));
  b.weights[0].embeddedSizeDelta = -4;
  expectCreateError(b, {"weight 'c'", "embedded_size 4"});
  GraphPlanBuilder b2;
  const int c = b2.constant("c", fb::DType::F32, {2}, bytesOf(std::vector<float>{1, 2}));
  b2.tensors[size_t(c)].shape = {1, 2};
  b2.output(c);
  expectCreateError(b2, {"weight tensor 'c'", "f32[1,2]", "f32[2]"});
}

// --- create-time validation ------------------------------------------------

TEST_F(GraphTest, RejectsDecoderPlan) {
  GraphPlanBuilder b = passThrough();
  b.kind = fb::PlanKind::Decoder;
  expectCreateError(b, {"decoder plan", "not a graph plan"});
}

TEST_F(GraphTest, UnknownOpTypeNamesStep) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2});
  const int z = b.act("z"), u = b.act("u"), v = b.act("v");
  b.node("FrobnicateV2", "layer0/frob", {x}, {z}).domain = "com.example";
  b.node("Wibble", "later", {z}, {u});
  b.node("Wibble", "later2", {u}, {v});
  b.output(v);
  expectCreateError(b, {"step 0 'layer0/frob' (com.example::FrobnicateV2)",
                        "no kernel for op type 'FrobnicateV2' in domain 'com.example'",
                        "(and more steps with no kernel: Wibble)"});
}

TEST_F(GraphTest, RejectsNonNodeSteps) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2, 2});
  const int y = b.act("y");
  b.node("", "softmax0", {x}, {y}).op = fb::OpKind::Softmax;
  b.output(y);
  expectCreateError(b, {"step 0 'softmax0'", "Softmax", "only Node steps"});
  GraphPlanBuilder b2;
  const int x2 = b2.input("x", fb::DType::F32, {2});
  const int y2 = b2.act("y");
  b2.node("", "nameless", {x2}, {y2});
  b2.output(y2);
  expectCreateError(b2, {"step 0 'nameless'", "no op_type"});
}

TEST_F(GraphTest, RejectsIdsOutOfRange) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2});
  const int y = b.act("y");
  b.node("Add", "add0", {x, 99}, {y});
  b.output(y);
  expectCreateError(b, {"step 0 'add0' (Add)", "input tensor id 99 is out of range"});
  b.steps[0].in = {x, -2};
  expectCreateError(b, {"step 0 'add0' (Add)", "tensor id -2"});
  b.steps[0].in = {x, x};
  b.steps[0].out = {7};
  expectCreateError(b, {"step 0 'add0' (Add)", "output tensor id 7"});
  b.steps[0].out = {y};
  b.outputs = {42};
  expectCreateError(b, {"graph output tensor id 42"});
  b.outputs = {y};
  b.inputs = {5};
  expectCreateError(b, {"graph input tensor id 5"});
}

TEST_F(GraphTest, RejectsBrokenDataflow) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2});
  const int y = b.act("y"), z = b.act("z");
  b.node("Relu", "r0", {z}, {y}); // z is produced later
  b.node("Relu", "r1", {x}, {z});
  b.output(y);
  expectCreateError(b, {"step 0 'r0' (Relu)", "'z' is used before any step produces it"});
  b.steps[0].in = {x};
  b.steps[1].out = {y};
  expectCreateError(b, {"step 1 'r1' (Relu)", "'y' is already produced by step 0"});
  b.steps[1].out = {x};
  expectCreateError(b, {"step 1 'r1' (Relu)", "'x' is not an Activation"});
  b.steps.pop_back();
  b.output(z);
  expectCreateError(b, {"graph output 'z'", "not produced by any step"});
}

TEST_F(GraphTest, RejectsBadGraphInterface) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2});
  b.tensor("stray", fb::TensorKind::Input, fb::DType::F32, {2});
  b.output(x);
  expectCreateError(b, {"'stray'", "not one of the plan's graph_inputs"});
  GraphPlanBuilder b2;
  const int a = b2.act("a");
  b2.inputs = {a};
  expectCreateError(b2, {"graph input 'a'", "not an Input tensor"});
  GraphPlanBuilder b3;
  b3.output(b3.input("x", fb::DType::F32, {-1, 2}));
  expectCreateError(b3, {"'x' has dim -1"});
  GraphPlanBuilder b4;
  b4.output(b4.input("x", fb::DType::F32, {2, 3}, {"a"}));
  expectCreateError(b4, {"'x' has 1 dim_params for rank 2"});
}

TEST_F(GraphTest, RejectsBadAttributes) {
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {4});
  const int y = b.act("y");
  // A tensor attribute whose bytes do not cover its shape (truncated).
  b.node("ConstantOfShape", "cos", {x}, {y},
         {aTensor("value", fb::DType::F32, {4}, std::vector<uint8_t>(8))});
  b.output(y);
  expectCreateError(b, {"step 0 'cos' (ConstantOfShape)", "attribute 'value'",
                        "needs 16 bytes of t_data, has 8"});
  b.steps[0].attrs = {aTensor("value", fb::DType::F32, {-1}, {})};
  expectCreateError(b, {"attribute 'value'", "invalid shape"});
  GAttr unset;
  unset.name = "axis";
  b.steps[0].attrs = {unset};
  expectCreateError(b, {"step 0 'cos'", "attribute 'axis' has no kind"});
  b.steps[0].attrs = {aInt("axis", 1), aInt("axis", 2)};
  expectCreateError(b, {"attribute 'axis' is given twice"});
  b.steps[0].attrs = {aInt("", 1)};
  expectCreateError(b, {"step 0 'cos'", "no name"});
}

// --- with kernels ------------------------------------------------------------

TEST_F(GraphTest, AddReluWithDynamicBatch) {
  REQUIRE_KERNELS("Add", "Relu");
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {-3, 3}, {"batch", ""});
  const std::vector<float> bias = {0.5f, -1.0f, 2.0f};
  const int w = b.constant("bias", fb::DType::F32, {3}, bytesOf(bias));
  const int s = b.act("s"), r = b.act("r"), o = b.act("o");
  b.node("Add", "add", {x, w}, {s});
  b.node("Relu", "relu", {s}, {r});
  b.node("Add", "residual", {r, s}, {o}); // s is read again after relu: must still be live
  b.output(o);
  b.output(r);
  auto ex = create(b);
  for (int64_t batch : {1, 4}) {
    const auto xs = randFloats(size_t(batch * 3), uint32_t(batch));
    auto out = ex->run({hostTensor(DType::F32, {batch, 3}, xs)});
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(out[0].shape, (std::vector<int64_t>{batch, 3}));
    const auto got = valuesOf<float>(out[0]), gotR = valuesOf<float>(out[1]);
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const double sv = double(xs[size_t(i * 3 + j)]) + bias[size_t(j)];
        const double rv = sv > 0 ? sv : 0;
        EXPECT_NEAR(gotR[size_t(i * 3 + j)], rv, 1e-6);
        EXPECT_NEAR(got[size_t(i * 3 + j)], rv + sv, 1e-6);
      }
  }
}

TEST_F(GraphTest, TransposeMatMulReshape) {
  REQUIRE_KERNELS("Transpose", "MatMul", "Reshape");
  // x[2,3,4] -> Transpose(0,2,1) [2,4,3] -> MatMul W[3,5] [2,4,5] -> Reshape [8,5]
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {2, 3, 4});
  const auto wv = randFloats(15, 7);
  const int w = b.constant("W", fb::DType::F32, {3, 5}, bytesOf(wv));
  const int shape = b.constant("shape", fb::DType::I64, {2}, bytesOf(std::vector<int64_t>{-1, 5}));
  const int t = b.act("t"), m = b.act("m"), y = b.act("y");
  b.node("Transpose", "tr", {x}, {t}, {aInts("perm", {0, 2, 1})});
  b.node("MatMul", "mm", {t, w}, {m});
  b.node("Reshape", "rs", {m, shape}, {y});
  b.output(y);
  auto ex = create(b);
  const auto xs = randFloats(24, 3);
  auto out = ex->run({hostTensor(DType::F32, {2, 3, 4}, xs)});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].dtype, DType::F32);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{8, 5}));
  const auto got = valuesOf<float>(out[0]);
  for (int bb = 0; bb < 2; ++bb)
    for (int i = 0; i < 4; ++i)     // rows of the transposed [4,3]
      for (int n = 0; n < 5; ++n) {
        double acc = 0;
        for (int k = 0; k < 3; ++k) // t[bb,i,k] = x[bb,k,i]
          acc += double(xs[size_t(bb * 12 + k * 4 + i)]) * wv[size_t(k * 5 + n)];
        EXPECT_NEAR(got[size_t((bb * 4 + i) * 5 + n)], acc, 1e-5) << bb << " " << i << " " << n;
      }
}

TEST_F(GraphTest, OmittedOptionalInput) {
  REQUIRE_KERNELS("Clip");
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {5});
  const int mx = b.constant("max", fb::DType::F32, {}, bytesOf(std::vector<float>{0.25f}));
  const int y = b.act("y");
  b.node("Clip", "clip", {x, -1, mx}, {y}); // min omitted
  b.output(y);
  auto ex = create(b);
  const std::vector<float> xs = {-3, 0.1f, 0.25f, 0.3f, 9};
  auto out = ex->run({hostTensor(DType::F32, {5}, xs)});
  EXPECT_EQ(valuesOf<float>(out[0]), (std::vector<float>{-3, 0.1f, 0.25f, 0.25f, 0.25f}));
}

TEST_F(GraphTest, KernelErrorsNameTheStep) {
  REQUIRE_KERNELS("Add");
  GraphPlanBuilder b;
  const int x = b.input("x", fb::DType::F32, {-3, 3}, {"n", ""});
  const int w = b.constant("w", fb::DType::F32, {4}, bytesOf(std::vector<float>(4, 1.f)));
  const int y = b.act("y");
  b.node("Add", "blocks.0/add", {x, w}, {y});
  b.output(y);
  auto ex = create(b);
  expectError([&] { ex->run({hostTensor(DType::F32, {2, 3}, std::vector<float>(6))}); },
              {"step 0 'blocks.0/add' (Add): "});
  // The executor stays usable after a failed run.
  GraphPlanBuilder ok;
  const int x2 = ok.input("x", fb::DType::F32, {2});
  const int y2 = ok.act("y");
  ok.node("Add", "a", {x2, x2}, {y2});
  ok.output(y2);
  auto ex2 = create(ok);
  auto out = ex2->run({hostTensor(DType::F32, {2}, std::vector<float>{1, 2})});
  EXPECT_EQ(valuesOf<float>(out[0]), (std::vector<float>{2, 4}));
}

} // namespace
