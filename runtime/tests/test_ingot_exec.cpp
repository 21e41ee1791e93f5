// Tests for `ingot exec` and the graph-plan parts of `ingot inspect`
// (tools/cmd_exec.cpp, tools/ingot_main.cpp), running the `ingot` binary on
// graph plans from tests/graph_test_plans.h: safetensors in/out by tensor
// name, the error that lists the expected inputs, --repeat/--stats, inspect's
// inputs/outputs and op-type histogram, and the message that sends graph
// plans from `run`/`serve` to `exec`. The graphs that run need no kernels
// (outputs are inputs and constants); Node steps appear only in plans that
// are inspected or refused.
#include "graph_test_plans.h"
#include "ingot/runtime/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <sys/wait.h>

using namespace graphtest;
using json = nlohmann::json;

namespace {

using testutil::Cmd;


struct ExecCliTest : ::testing::Test {
  TmpDir dir;

  Cmd ingot(const std::vector<std::string> &args) {
    return testutil::runTool(INGOT_CLI_PATH, args, dir.path);
  }

  // x f32[batch,3] and ids i64[batch] in; x, a constant and ids out.
  std::string passThroughPlan() {
    GraphPlanBuilder b;
    const int x = b.input("x", fb::DType::F32, {-3, 3}, {"batch", ""});
    const int ids = b.input("input.ids", fb::DType::I64, {-3}, {"batch"});
    b.output(x);
    b.output(b.constant("scale", fb::DType::F32, {2}, bytesOf(std::vector<float>{0.5f, 8})));
    b.output(ids);
    return b.write(dir.path / "pass.plan");
  }

  template <class T>
  static TensorView view(const std::string &name, DType dt, std::vector<int64_t> shape,
                         const std::vector<T> &v) {
    TensorView t;
    t.name = name;
    t.dtype = dt;
    t.shape = std::move(shape);
    t.data = reinterpret_cast<const uint8_t *>(v.data());
    t.nbytes = v.size() * sizeof(T);
    return t;
  }
};

const std::vector<float> kX = {1, 2, 3, -4, 5.5f, 6};
const std::vector<int64_t> kIds = {11, -12};

TEST_F(ExecCliTest, RoundTripsTensorsByName) {
  const std::string plan = passThroughPlan();
  const std::string in = (dir.path / "in.safetensors").string();
  const std::string out = (dir.path / "out.safetensors").string();
  writeSafetensors(in, {view("x", DType::F32, {2, 3}, kX), view("input.ids", DType::I64, {2}, kIds)});
  Cmd r = ingot({"exec", plan, "--inputs", in, "--outputs", out, "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto f = SafetensorsFile::open(out);
  ASSERT_EQ(f->tensors().size(), 3u);
  const TensorView *x = f->find("x");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> xs(6);
  std::memcpy(xs.data(), x->data, 24);
  EXPECT_EQ(xs, kX);
  const TensorView *s = f->find("scale");
  ASSERT_TRUE(s);
  float sv[2];
  std::memcpy(sv, s->data, 8);
  EXPECT_EQ(sv[0], 0.5f);
  EXPECT_EQ(sv[1], 8.0f);
  const TensorView *ids = f->find("input.ids");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->dtype, DType::I64);
  int64_t iv[2];
  std::memcpy(iv, ids->data, 16);
  EXPECT_EQ(iv[0], 11);
  EXPECT_EQ(iv[1], -12);
}

TEST_F(ExecCliTest, MismatchedInputsListWhatTheGraphTakes) {
  const std::string plan = passThroughPlan();
  const std::string in = (dir.path / "in.safetensors").string();
  const std::string out = (dir.path / "out.safetensors").string();
  writeSafetensors(in, {view("x", DType::F64, {2, 3}, std::vector<double>(6)),
                        view("extra", DType::I64, {2}, kIds)});
  Cmd r = ingot({"exec", plan, "--inputs", in, "--outputs", out});
  EXPECT_EQ(r.code, 1);
  for (const char *part : {"ingot: error:", "'x' is f64, expected f32", "missing 'input.ids'",
                           "unexpected 'extra'", "the graph takes 2 inputs", "x f32[batch,3]",
                           "input.ids i64[batch]"})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in: " << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A wrong static dim is named by the executor.
  writeSafetensors(in, {view("x", DType::F32, {3, 2}, kX), view("input.ids", DType::I64, {2}, kIds)});
  r = ingot({"exec", plan, "--inputs", in, "--outputs", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("input 'x': dim 1 is 2, expected 3"), std::string::npos) << r.err;
  // No --inputs at all.
  r = ingot({"exec", plan});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing 'x'"), std::string::npos) << r.err;
}

TEST_F(ExecCliTest, RepeatAndStats) {
  const std::string plan = passThroughPlan();
  const std::string in = (dir.path / "in.safetensors").string();
  writeSafetensors(in, {view("x", DType::F32, {2, 3}, kX), view("input.ids", DType::I64, {2}, kIds)});
  Cmd r = ingot({"exec", plan, "--inputs", in, "--repeat", "3", "--stats"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("load:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 runs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("median"), std::string::npos) << r.err;
  r = ingot({"exec", plan, "--inputs", in, "--repeat", "0"});
  EXPECT_EQ(r.code, 2) << r.err;
}

TEST_F(ExecCliTest, InspectShowsInterfaceAndOpTypes) {
  GraphPlanBuilder b;
  const int x = b.input("pixel_values", fb::DType::F32, {-3, 3, 224, 224}, {"batch", "", "", ""});
  const int a = b.act("a"), c = b.act("c"), d = b.act("d");
  b.node("Relu", "r0", {x}, {a});
  b.node("Relu", "r1", {a}, {c});
  b.node("FastGelu", "g", {c}, {d}).domain = "com.microsoft";
  b.output(d);
  const std::string plan = b.write(dir.path / "g.plan");
  Cmd r = ingot({"inspect", plan});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char *part : {"kind graph", "inputs 1", "pixel_values f32[batch,3,224,224]",
                           "outputs 1", "  d f32[]", "op types 2", "  Relu 2",
                           "  com.microsoft::FastGelu 1"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " not in: " << r.out;
  r = ingot({"inspect", plan, "--json", "--steps"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["kind"], "graph");
  EXPECT_EQ(j["graph"]["inputs"][0]["name"], "pixel_values");
  EXPECT_EQ(j["graph"]["inputs"][0]["shape"], json::parse(R"(["batch",3,224,224])"));
  EXPECT_EQ(j["steps"]["by_op_type"]["Relu"], 2);
  EXPECT_EQ(j["steps"]["list"][2]["op"], "com.microsoft::FastGelu");
  EXPECT_FALSE(j.contains("interface"));
}

TEST_F(ExecCliTest, DecoderCommandsPointGraphPlansToExec) {
  const std::string plan = passThroughPlan();
  for (const std::vector<std::string> &args :
       {std::vector<std::string>{"run", plan, "--prompt", "hi"},
        std::vector<std::string>{"serve", plan, "--port", "0"},
        std::vector<std::string>{"logits", plan, "--ids", "1", "--out", "x.npy"},
        std::vector<std::string>{"bench", plan, "--ids", "1"}}) {
    Cmd r = ingot(args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_NE(r.err.find("is a graph plan"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("ingot exec"), std::string::npos) << args[0] << ": " << r.err;
  }
  GraphPlanBuilder dec;
  dec.kind = fb::PlanKind::Decoder;
  Cmd r = ingot({"exec", dec.write(dir.path / "dec.plan")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is a decoder plan"), std::string::npos) << r.err;
}

} // namespace
