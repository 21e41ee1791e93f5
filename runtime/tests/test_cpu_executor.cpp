// Tests for the CPU executor (src/cpu_executor*.cpp) and generate.cpp. Plans
// are built here with the FlatBuffers builder, written with writePlanFile and
// opened with PlanFile::open. A two-layer Llama-style plan (GQA, rope, paged
// attention, SwiGLU) is checked against a naive double-precision forward pass
// (tests/cpu_test_plans.h); logits must agree for one-shot prefill, chunked
// prefill, stepwise decode and a mixed two-sequence batch, with f32, bf16
// and external (safetensors + transforms) weights. Error paths check that
// bad plans and bad batches are refused with messages naming the problem.
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/generate.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_generated.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <unistd.h>

using namespace ingot;
namespace fb = ingot::plan;
namespace fs = std::filesystem;

#include "cpu_test_plans.h"

namespace {

using namespace cputest;
void expectRow(const std::vector<double> &ref, const float *got, double tol, const std::string &what) {
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], tol * std::max(1.0, std::fabs(ref[i]))) << what << " vocab " << i;
}

const std::vector<int32_t> kIds = {1, 17, 42, 3, 3, 49, 0, 25, 8, 31, 12};

struct LlamaFixture : ::testing::Test {
  TmpDir dir;
  std::unique_ptr<PlanFile> pf;
  std::unique_ptr<Executor> ex;
  void load(const std::string &path, ExecutorOptions opts = {}) {
    pf = PlanFile::open(path);
    opts.numThreads = 2;
    ex = createCpuExecutor(*pf, opts);
  }
};

TEST_F(LlamaFixture, MatchesReferenceInEveryMode) {
  Llama m(false);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  load(b.write(dir.path / "llama.plan"));
  const auto ref = m.reference(kIds);
  const int64_t V = m.V;
  ASSERT_EQ(ex->vocabSize(), V);

  int64_t rows = 0;
  auto step = computeLogits(*ex, kIds, "stepwise", rows);
  ASSERT_EQ(rows, int64_t(kIds.size()));
  for (size_t t = 0; t < kIds.size(); ++t)
    expectRow(ref[t], step.data() + t * size_t(V), 1e-4, "stepwise pos " + std::to_string(t));

  auto pre = computeLogits(*ex, kIds, "prefill", rows);
  ASSERT_EQ(rows, 1);
  expectRow(ref.back(), pre.data(), 1e-4, "prefill");

  for (int n : {3, 4, 11}) {
    auto ch = computeLogits(*ex, kIds, "chunked:" + std::to_string(n), rows);
    ASSERT_EQ(rows, int64_t((kIds.size() + size_t(n) - 1) / size_t(n)));
    for (int64_t r = 0; r < rows; ++r) {
      const size_t last = std::min(kIds.size(), size_t((r + 1) * n)) - 1;
      expectRow(ref[last], ch.data() + size_t(r * V), 1e-4,
                "chunked:" + std::to_string(n) + " row " + std::to_string(r));
    }
    // Chunked and one-shot prefill agree closely with each other as well.
    for (int64_t i = 0; i < V; ++i)
      ASSERT_NEAR(ch[size_t((rows - 1) * V + i)], pre[size_t(i)], 1e-4);
  }
  EXPECT_THROW(computeLogits(*ex, kIds, "chunked:0", rows), Error);
  EXPECT_THROW(computeLogits(*ex, kIds, "chunky", rows), Error);
}

TEST_F(LlamaFixture, Bf16EmbeddedWeights) {
  Llama m(true);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::BF16);
  load(b.write(dir.path / "llama-bf16.plan"));
  const auto ref = m.reference(kIds);
  int64_t rows = 0;
  auto ch = computeLogits(*ex, kIds, "chunked:5", rows);
  expectRow(ref.back(), ch.data() + size_t((rows - 1) * m.V), 1e-4, "bf16 chunked:5");
}

// Two sequences in one step with non-contiguous block tables: first both
// prefill, then one continues with a chunk while the other decodes.
TEST_F(LlamaFixture, MixedBatchOfTwoSequences) {
  Llama m(false);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  load(b.write(dir.path / "llama.plan"));
  const std::vector<int32_t> A = {5, 9, 13, 2, 40, 41, 7}, B = {30, 1, 22, 19};
  const auto refA = m.reference(A), refB = m.reference(B);
  const std::vector<int32_t> blocksA = {5, 2}, blocksB = {0, 7};
  const int bs = ex->kvCache().blockSize();
  ASSERT_EQ(bs, 4);
  auto slot = [&](const std::vector<int32_t> &bt, int p) { return int64_t(bt[size_t(p / bs)]) * bs + p % bs; };

  // Step 1: A[0..4) and B[0..3).
  BatchMeta b1;
  b1.seqs.resize(2);
  b1.seqs[0] = {0, 4, 4, blocksA};
  b1.seqs[1] = {4, 3, 3, blocksB};
  std::vector<int32_t> tok = {A[0], A[1], A[2], A[3], B[0], B[1], B[2]};
  std::vector<int32_t> pos = {0, 1, 2, 3, 0, 1, 2};
  for (int p = 0; p < 4; ++p)
    b1.slotMapping.push_back(slot(blocksA, p));
  for (int p = 0; p < 3; ++p)
    b1.slotMapping.push_back(slot(blocksB, p));
  const float *l1 = ex->step(tok, pos, b1);
  expectRow(refA[3], l1, 1e-4, "step1 seq A");
  expectRow(refB[2], l1 + m.V, 1e-4, "step1 seq B");

  // Step 2: B decodes B[3]; A continues with A[4..7). B comes first this time.
  BatchMeta b2;
  b2.seqs.resize(2);
  b2.seqs[0] = {0, 1, 4, blocksB};
  b2.seqs[1] = {1, 3, 7, blocksA};
  tok = {B[3], A[4], A[5], A[6]};
  pos = {3, 4, 5, 6};
  b2.slotMapping = {slot(blocksB, 3), slot(blocksA, 4), slot(blocksA, 5), slot(blocksA, 6)};
  const float *l2 = ex->step(tok, pos, b2);
  expectRow(refB[3], l2, 1e-4, "step2 seq B");
  expectRow(refA[6], l2 + m.V, 1e-4, "step2 seq A");
}

TEST_F(LlamaFixture, GreedyGenerationFollowsReferenceArgmax) {
  Llama m(false);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  load(b.write(dir.path / "llama.plan"));
  GenerateOptions go;
  go.maxTokens = 6;
  go.prefillChunk = 2;
  std::vector<int32_t> streamed;
  const std::vector<int32_t> prompt = {1, 17, 42};
  auto res = generate(*ex, prompt, go, [&](int32_t id) { streamed.push_back(id); });
  EXPECT_EQ(res.stopReason, "max_tokens");
  ASSERT_EQ(res.tokens.size(), 6u);
  EXPECT_EQ(streamed, res.tokens);
  std::vector<int32_t> seq = prompt;
  for (int i = 0; i < 6; ++i) {
    const auto ref = m.reference(seq).back();
    const int32_t arg = int32_t(std::max_element(ref.begin(), ref.end()) - ref.begin());
    ASSERT_EQ(res.tokens[size_t(i)], arg) << "token " << i;
    seq.push_back(arg);
  }
  // Stops at an EOS id (the first token generated, here) unless ignored.
  go.eosTokenIds = {res.tokens[0]};
  EXPECT_EQ(generate(*ex, prompt, go).stopReason, "eos");
  EXPECT_EQ(generate(*ex, prompt, go).tokens.size(), 1u);
  go.ignoreEos = true;
  EXPECT_EQ(generate(*ex, prompt, go).tokens, res.tokens);
  // The context limit stops generation.
  go.maxContext = 5;
  auto r = generate(*ex, prompt, go);
  EXPECT_EQ(r.stopReason, "context");
  EXPECT_EQ(r.tokens.size(), 3u); // 3 prompt + 2 fed back + 1 last sampled
}

TEST_F(LlamaFixture, KvCacheSizing) {
  Llama m(false);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  const std::string path = b.write(dir.path / "llama.plan");
  load(path);
  // max_position 64 = 16 blocks of 4; tiny, so the default is 4x that.
  EXPECT_EQ(ex->kvCache().numBlocks(), 64);
  const int64_t blockBytes = 2 * m.L * m.nkv * m.d * 4 * 4;
  ExecutorOptions o;
  o.kvCacheBytes = blockBytes * 10 + 5;
  load(path, o);
  EXPECT_EQ(ex->kvCache().numBlocks(), 10);
  o.kvCacheBytes = blockBytes - 1;
  EXPECT_THROW(load(path, o), Error);
}

// --- external weights --------------------------------------------------

void writeSafetensors(const fs::path &path,
                      const std::vector<std::tuple<std::string, std::string, std::vector<int64_t>,
                                                   std::vector<uint8_t>>> &ts) {
  nlohmann::json h = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (const auto &[name, dt, shape, bytes] : ts) {
    h[name] = {{"dtype", dt}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data.insert(data.end(), bytes.begin(), bytes.end());
  }
  std::string hs = h.dump();
  while (hs.size() % 8)
    hs += ' ';
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = hs.size();
  f.write(reinterpret_cast<const char *>(&n), 8);
  f.write(hs.data(), std::streamsize(hs.size()));
  f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size()));
}

TEST_F(LlamaFixture, ExternalWeightsThroughTransforms) {
  Llama m(true);
  TmpDir ckpt;
  // Checkpoint: l0.wq stored transposed, lm_head stored as bf16; the plan
  // records the Transpose and the Cast that undo it.
  std::vector<std::tuple<std::string, std::string, std::vector<int64_t>, std::vector<uint8_t>>> ts;
  for (const auto &[name, data] : m.w) {
    std::vector<int64_t> shape = m.shape.at(name);
    std::vector<uint8_t> bytes;
    std::string dt = "F32";
    if (name == "l0.wq") {
      const int64_t N = shape[0], K = shape[1];
      std::vector<float> tr(data.size());
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < K; ++k)
          tr[size_t(k * N + i)] = data[size_t(i * K + k)];
      bytes.resize(tr.size() * 4);
      std::memcpy(bytes.data(), tr.data(), bytes.size());
      shape = {K, N};
    } else if (name == "lm_head") {
      dt = "BF16";
      for (float x : data) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        bytes.push_back(uint8_t(bits >> 16));
        bytes.push_back(uint8_t(bits >> 24));
      }
    } else {
      bytes.resize(data.size() * 4);
      std::memcpy(bytes.data(), data.data(), bytes.size());
    }
    ts.emplace_back(name, dt, shape, bytes);
  }
  writeSafetensors(ckpt.path / "model.safetensors", ts);
  const uint64_t fsize = fs::file_size(ckpt.path / "model.safetensors");

  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  b.external = true;
  b.weightsDir = ckpt.path.string();
  b.weightFiles = {{"model.safetensors", fsize}};
  for (auto &w : b.weights) {
    if (w.name == "l0.wq")
      w.transforms = {{fb::TransformKind::Transpose}};
    if (w.name == "lm_head")
      w.transforms = {{fb::TransformKind::Cast, fb::DType::F32}};
  }
  const std::string path = b.write(dir.path / "llama-ext.plan");
  load(path);
  const auto ref = m.reference(kIds);
  int64_t rows = 0;
  auto pre = computeLogits(*ex, kIds, "prefill", rows);
  expectRow(ref.back(), pre.data(), 1e-4, "external prefill");

  // --weights overrides the recorded directory.
  TmpDir other;
  fs::copy_file(ckpt.path / "model.safetensors", other.path / "model.safetensors");
  ExecutorOptions o;
  o.weightsDir = other.path.string();
  load(path, o);
  pre = computeLogits(*ex, kIds, "prefill", rows);
  expectRow(ref.back(), pre.data(), 1e-4, "external prefill (override)");

  // A checkpoint whose file size changed is refused.
  fs::resize_file(other.path / "model.safetensors", fsize + 8);
  try {
    load(path, o);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(fsize)), std::string::npos) << e.what();
  }
}

// --- a non-attention plan: Linear+bias+gelu_tanh, Elementwise broadcast,
//     AddLayerNorm, Softmax, GatherLast, MoE -------------------------------

TEST(CpuExecutor, DenseOpsPlanMatchesReference) {
  TmpDir dir;
  const int64_t V = 7, H = 6, N = 5, E = 3, I = 4;
  PlanBuilder b;
  b.vocab = V;
  b.tokenInput = b.input("tokens");
  b.positionInput = b.input("positions");
  auto emb = randVec(size_t(V * H), 1, -1, 1, false), w1 = randVec(size_t(N * H), 2, -1, 1, false),
       b1 = randVec(size_t(N), 3, -1, 1, false), rowv = randVec(size_t(N), 4, -1, 1, false),
       g = randVec(size_t(N), 5, 0.5f, 1.5f, false), be = randVec(size_t(N), 6, -1, 1, false),
       router = randVec(size_t(E * N), 7, -1, 1, false), eg = randVec(size_t(E * I * N), 8, -1, 1, false),
       eu = randVec(size_t(E * I * N), 9, -1, 1, false), ed = randVec(size_t(E * N * I), 10, -1, 1, false),
       wo = randVec(size_t(V * N), 11, -1, 1, false);
  const float scalar = 0.5f;
  const int x = b.act("x", {-1, H}), y = b.act("y", {-1, N}), z = b.act("z", {-1, N}),
            s = b.act("s", {-1, N}), n = b.act("n", {-1, N}), p = b.act("p", {-1, N}),
            mo = b.act("moe", {-1, N}), last = b.act("last", {-2, N});
  b.logitsOutput = b.act("out", {-2, V});
  b.step(fb::OpKind::Embedding, "emb", {b.tokenInput, b.weight("emb", {V, H}, emb)}, {x});
  b.step(fb::OpKind::Linear, "fc", {x, b.weight("w1", {N, H}, w1), b.weight("b1", {N}, b1)}, {y},
         {AS("activation", "gelu_tanh")});
  // z = y * row + scalar ; (s, n) = AddLayerNorm(z, y)
  auto &ew = b.step(fb::OpKind::Elementwise, "ew", {y, b.weight("row", {N}, rowv),
                                                    b.weight("sc", {1}, {scalar})}, {z});
  ew.prog = {fb::EwInstr(fb::EwOp::Mul, 0, 1, 3, 0), fb::EwInstr(fb::EwOp::Add, 3, 2, 4, 0)};
  ew.nregs = 5;
  ew.progOut = {4};
  b.step(fb::OpKind::AddLayerNorm, "aln", {z, y, b.weight("g", {N}, g), b.weight("be", {N}, be)},
         {s, n}, {AF("epsilon", 1e-5)});
  b.step(fb::OpKind::Softmax, "sm", {n}, {p});
  b.step(fb::OpKind::MoE, "moe", {p, b.weight("router", {E, N}, router), b.weight("eg", {E, I, N}, eg),
                                  b.weight("eu", {E, I, N}, eu), b.weight("ed", {E, N, I}, ed)},
         {mo}, {AI("top_k", 2), AI("normalize_topk", 1)});
  b.step(fb::OpKind::GatherLast, "gl", {mo}, {last});
  b.step(fb::OpKind::Linear, "head", {last, b.weight("wo", {V, N}, wo)}, {b.logitsOutput});
  auto pf = PlanFile::open(b.write(dir.path / "dense.plan"));
  auto ex = createCpuExecutor(*pf, {});

  const std::vector<int32_t> tok = {3, 6, 0, 2, 2};
  BatchMeta bm;
  bm.seqs = {{0, 2, 2, {}}, {2, 3, 3, {}}};
  const float *out = ex->step(tok, {0, 1, 0, 1, 2}, bm);

  auto ref = [&](int32_t id) {
    std::vector<double> yv(N), zv(N), sv(N), nv(N), pv(N), mv(N, 0.0);
    for (int64_t i = 0; i < N; ++i) {
      double acc = b1[size_t(i)];
      for (int64_t h = 0; h < H; ++h)
        acc += double(emb[size_t(id * H + h)]) * w1[size_t(i * H + h)];
      yv[size_t(i)] = 0.5 * acc * (1 + std::tanh(std::sqrt(2 / M_PI) * (acc + 0.044715 * acc * acc * acc)));
      zv[size_t(i)] = yv[size_t(i)] * rowv[size_t(i)] + scalar;
      sv[size_t(i)] = zv[size_t(i)] + yv[size_t(i)];
    }
    double mean = 0, var = 0;
    for (double v : sv)
      mean += v / N;
    for (double v : sv)
      var += (v - mean) * (v - mean) / N;
    double mx = -1e300, zsum = 0;
    for (int64_t i = 0; i < N; ++i) {
      nv[size_t(i)] = (sv[size_t(i)] - mean) / std::sqrt(var + 1e-5) * g[size_t(i)] + be[size_t(i)];
      mx = std::max(mx, nv[size_t(i)]);
    }
    for (int64_t i = 0; i < N; ++i)
      zsum += (pv[size_t(i)] = std::exp(nv[size_t(i)] - mx));
    for (auto &v : pv)
      v /= zsum;
    std::vector<double> rp(E);
    double rm = -1e300, rz = 0;
    for (int64_t e = 0; e < E; ++e) {
      for (int64_t i = 0; i < N; ++i)
        rp[size_t(e)] += router[size_t(e * N + i)] * pv[size_t(i)];
      rm = std::max(rm, rp[size_t(e)]);
    }
    for (auto &v : rp)
      rz += (v = std::exp(v - rm));
    for (auto &v : rp)
      v /= rz;
    // top-2 of 3 = all but the smallest.
    const int64_t drop = std::min_element(rp.begin(), rp.end()) - rp.begin();
    const double sel = 1.0 - rp[size_t(drop)];
    for (int64_t e = 0; e < E; ++e) {
      if (e == drop)
        continue;
      std::vector<double> a(I);
      for (int64_t j = 0; j < I; ++j) {
        double gs = 0, us = 0;
        for (int64_t i = 0; i < N; ++i) {
          gs += eg[size_t((e * I + j) * N + i)] * pv[size_t(i)];
          us += eu[size_t((e * I + j) * N + i)] * pv[size_t(i)];
        }
        a[size_t(j)] = gs / (1 + std::exp(-gs)) * us;
      }
      for (int64_t i = 0; i < N; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < I; ++j)
          acc += ed[size_t((e * N + i) * I + j)] * a[size_t(j)];
        mv[size_t(i)] += rp[size_t(e)] / sel * acc;
      }
    }
    std::vector<double> o(V, 0.0);
    for (int64_t v = 0; v < V; ++v)
      for (int64_t i = 0; i < N; ++i)
        o[size_t(v)] += wo[size_t(v * N + i)] * mv[size_t(i)];
    return o;
  };
  expectRow(ref(tok[1]), out, 1e-5, "dense seq 0");
  expectRow(ref(tok[4]), out + V, 1e-5, "dense seq 1");
}

// --- error paths ---------------------------------------------------------

// A minimal valid plan: Embedding -> RmsNorm -> Logits (no attention).
PlanBuilder minimalPlan() {
  PlanBuilder b;
  b.vocab = 5;
  b.maxTokens = 4;
  b.maxSeqs = 2;
  b.tokenInput = b.input("tokens");
  b.positionInput = b.input("positions");
  const int x = b.act("x", {-1, 3}), n = b.act("n", {-1, 3});
  b.logitsOutput = b.act("logits", {-2, 5});
  b.step(fb::OpKind::Embedding, "emb", {b.tokenInput, b.weight("emb", {5, 3}, std::vector<float>(15, 0.5f))}, {x});
  b.step(fb::OpKind::RmsNorm, "norm", {x, b.weight("g", {3}, {1, 1, 1})}, {n}, {AF("epsilon", 1e-6)});
  b.step(fb::OpKind::Logits, "head", {n, b.weight("head", {5, 3}, std::vector<float>(15, 0.25f))},
         {b.logitsOutput});
  return b;
}

std::string loadError(PlanBuilder &b) {
  TmpDir dir;
  auto pf = PlanFile::open(b.write(dir.path / "bad.plan"));
  try {
    createCpuExecutor(*pf, {});
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(CpuExecutorErrors, MissingAttributeNamesStepAndAttr) {
  PlanBuilder b = minimalPlan();
  b.steps[1].attrs.clear();
  const std::string e = loadError(b);
  EXPECT_NE(e.find("step 1"), std::string::npos) << e;
  EXPECT_NE(e.find("\"norm\""), std::string::npos) << e;
  EXPECT_NE(e.find("'epsilon'"), std::string::npos) << e;
}

TEST(CpuExecutorErrors, BadTensorId) {
  PlanBuilder b = minimalPlan();
  b.steps[1].in[0] = 99;
  const std::string e = loadError(b);
  EXPECT_NE(e.find("step 1"), std::string::npos) << e;
  EXPECT_NE(e.find("99"), std::string::npos) << e;
}

TEST(CpuExecutorErrors, ShapeMismatchAndArity) {
  PlanBuilder b = minimalPlan();
  b.tensors[size_t(b.steps[1].in[1])].shape = {4};
  b.weights[1].shape = {4};
  b.weights[1].data = {1, 1, 1, 1};
  EXPECT_NE(loadError(b).find("gamma"), std::string::npos);
  PlanBuilder c = minimalPlan();
  c.steps[2].in.pop_back();
  EXPECT_NE(loadError(c).find("expects 2 inputs"), std::string::npos);
}

TEST(CpuExecutorErrors, BadElementwiseProgram) {
  PlanBuilder b = minimalPlan();
  const int y = b.act("y", {-1, 3});
  auto &s = b.step(fb::OpKind::Elementwise, "ew", {2 + 0 /* x */}, {y});
  s.in = {b.steps[0].out[0]};
  s.prog = {fb::EwInstr(fb::EwOp::Add, 0, 2, 1, 0)}; // reads r2, never written
  s.nregs = 3;
  s.progOut = {1};
  EXPECT_NE(loadError(b).find("undefined register"), std::string::npos);
}

TEST(CpuExecutorErrors, AttentionLayerOutOfRange) {
  PlanBuilder b = minimalPlan();
  const int a = b.act("a", {-1, 3});
  b.step(fb::OpKind::Attention, "attn", {b.steps[0].out[0], b.steps[0].out[0], b.steps[0].out[0]}, {a},
         {AI("layer", 0), AI("num_heads", 1), AI("num_kv_heads", 1), AI("head_dim", 3), AF("scale", 1.0)});
  EXPECT_NE(loadError(b).find("kv_cache has 0 layers"), std::string::npos) << loadError(b);
}

TEST(CpuExecutorErrors, BadBatches) {
  TmpDir dir;
  Llama m(false);
  PlanBuilder b;
  buildLlama(b, m, fb::DType::F32);
  auto pf = PlanFile::open(b.write(dir.path / "llama.plan"));
  auto ex = createCpuExecutor(*pf, {});
  auto expectErr = [&](const std::vector<int32_t> &tok, const std::vector<int32_t> &pos,
                       const BatchMeta &bm, const std::string &needle) {
    try {
      ex->step(tok, pos, bm);
      ADD_FAILURE() << "no error, expected one containing: " << needle;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto one = [](int32_t len, std::vector<int32_t> blocks) {
    BatchMeta bm;
    bm.seqs = {{0, len, len, blocks}};
    for (int32_t p = 0; p < len; ++p)
      bm.slotMapping.push_back(int64_t(blocks[size_t(p / 4)]) * 4 + p % 4);
    return bm;
  };
  // Too many tokens for the plan (max_tokens 16).
  std::vector<int32_t> many(17, 1), manyPos(17);
  for (int i = 0; i < 17; ++i)
    manyPos[size_t(i)] = i;
  expectErr(many, manyPos, one(17, {0, 1, 2, 3, 4}), "max_tokens");
  expectErr({1, 50}, {0, 1}, one(2, {0}), "outside the vocabulary");
  expectErr({1, 2}, {0, 64}, one(2, {0}), "max_position");
  expectErr({1, 2}, {0}, one(2, {0}), "positions");
  BatchMeta shortTable = one(5, {0, 1});
  shortTable.seqs[0].blockTable = {0};
  expectErr({1, 2, 3, 4, 5}, {0, 1, 2, 3, 4}, shortTable, "block table has 1 blocks, 2 needed");
  BatchMeta badBlock = one(2, {0});
  badBlock.seqs[0].blockTable = {64};
  badBlock.slotMapping = {256, 257};
  expectErr({1, 2}, {0, 1}, badBlock, "outside the cache");
  BatchMeta badSlot = one(2, {3});
  badSlot.slotMapping[1] = 0;
  expectErr({1, 2}, {0, 1}, badSlot, "slot mapping");
  BatchMeta gap = one(2, {0});
  gap.seqs[0].queryStart = 1;
  expectErr({1, 2}, {0, 1}, gap, "queryStart");
  BatchMeta ctx = one(2, {0});
  ctx.seqs[0].contextLen = 1;
  expectErr({1, 2}, {0, 1}, ctx, "contextLen");
  BatchMeta five;
  for (int s = 0; s < 5; ++s) {
    five.seqs.push_back({s, 1, 1, {s}});
    five.slotMapping.push_back(int64_t(s) * 4);
  }
  expectErr({1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, five, "max_seqs");
  // A valid batch still works after the errors.
  EXPECT_NO_THROW(ex->step({1, 2}, {0, 1}, one(2, {0})));
}

} // namespace
