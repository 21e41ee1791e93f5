// The CUDA executor end to end on the fake driver: the kernels of the plan's
// module run under the emulation (fake_cuda_kernels.cpp registers them), so
// the executor's whole path (module load, entry points, weight upload,
// arena and KV layout, batch metadata, Rope->Attention fusion, decode vs
// prefill attention, graph capture and replay with padding) is exercised
// without a GPU. Logits are compared with the CPU executor on the same plan:
// prefill, several decode steps, a mixed prefill+decode batch and a batched
// decode; f32 within 1e-4, bf16 within bf16 tolerance; CUDA graphs on and
// off give identical logits; copy-on-write of a KV block (device copy).
// Device sampling (ingot_sample_f32 after the step, Executor::sampleOnDevice,
// and the engine on the CUDA executor): greedy equals the host's, seeded
// draws equal a host replay of the documented Philox procedure and repeat,
// unsupported parameters fall back to the host, no logits download
// (the fake driver counts device-to-host bytes).
#include "../src/cpu_executor_impl.h"
#include "../src/cuda/cuda_driver.h"
#include "cuda/kernels/elementwise_abi.h"
#include "cuda/kernels/sampling_abi.h"
#include "fake_cuda_driver.h"
#include "sampling_reference.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/engine.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/sampling.h"
#include "ingot/schema/plan_generated.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

using namespace ingot;
namespace fb = ingot::plan;
namespace fs = std::filesystem;

#include "cpu_test_plans.h"
#include "test_engine_util.h"

namespace ingot {
namespace cudatest {
extern int fakeCudaKernelsLinked;
}
} // namespace ingot

namespace {

using namespace cputest;
using cudatest::FakeCudaDriver;

size_t countLaunches(const FakeCudaDriver &f, const std::string &name);

// Adds the CUDA image and every step's entry points (as ingotc --target
// sm_80 would) to a Llama plan built by buildLlama.
void addCuda(PlanBuilder &b, const Llama &m, const char *tn) {
  const std::string T = tn, D = std::to_string(m.d), G = std::to_string(m.nh / m.nkv);
  b.kernels.push_back({"sm_80", "cubin", "fake cubin for the emulation"});
  b.targets = {"sm_80"};
  for (auto &s : b.steps) {
    switch (s.op) {
    case fb::OpKind::Embedding: s.cudaFunctions = {"ingot_embedding_" + T}; break;
    case fb::OpKind::Linear: s.cudaFunctions = {"ingot_gemm_" + T}; break;
    case fb::OpKind::Logits:
      s.cudaFunctions = {"ingot_gather_rows_" + T, "ingot_gemm_" + T, "ingot_sample_f32"};
      break;
    case fb::OpKind::RmsNorm: s.cudaFunctions = {"ingot_rms_norm_" + T}; break;
    case fb::OpKind::AddRmsNorm: s.cudaFunctions = {"ingot_add_rms_norm_" + T}; break;
    case fb::OpKind::SiluMul: s.cudaFunctions = {"ingot_silu_mul_" + T}; break;
    case fb::OpKind::Rope: s.cudaFunctions = {"ingot_rope_" + T + "_d" + D}; break;
    case fb::OpKind::Attention:
      s.cudaFunctions = {"ingot_rope_kv_append_" + T + "_d" + D, "ingot_attn_prefill_" + T + "_d" + D + "_g" + G,
                         "ingot_attn_prefill_mma_" + T + "_d" + D + "_g" + G,
                         "ingot_attn_decode_" + T + "_d" + D + "_g" + G,
                         "ingot_attn_decode_combine_" + T + "_d" + D};
      break;
    case fb::OpKind::Elementwise: s.cudaFunctions = {"ingot_ew_test_add_" + T, "ingot_ew_test_add_" + T + "_v"}; break;
    default: break;
    }
  }
}

struct Seq {
  std::vector<int32_t> blocks;
  int32_t len = 0;
};

// One step's inputs for sequences each appending `ids[s]`.
struct Batch {
  std::vector<int32_t> tokens, positions;
  BatchMeta meta;
};
Batch makeBatch(std::vector<Seq *> seqs, const std::vector<std::vector<int32_t>> &ids, int bs) {
  Batch b;
  int32_t row = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    Seq &q = *seqs[s];
    SeqStep st;
    st.queryStart = row;
    st.queryLen = int32_t(ids[s].size());
    st.contextLen = q.len + st.queryLen;
    st.blockTable = q.blocks;
    for (size_t i = 0; i < ids[s].size(); ++i) {
      const int32_t p = q.len + int32_t(i);
      b.tokens.push_back(ids[s][i]);
      b.positions.push_back(p);
      b.meta.slotMapping.push_back(int64_t(q.blocks[size_t(p / bs)]) * bs + p % bs);
    }
    row += st.queryLen;
    q.len = st.contextLen;
    b.meta.seqs.push_back(st);
  }
  return b;
}

struct StepLogits {
  std::vector<std::vector<float>> logits; // per step, [S*V]
};

// The scenario: prefill A (7 tokens), 3 decodes of A, a mixed batch (B's
// 5-token prefill + A's decode), 2 batched decodes of A and B, then
// copy-on-write: C shares A's full blocks, gets a copy of A's partial last
// block and decodes the same token as A -> same logits as A would; last a
// decode of three sequences (a graph bucket of 4 with one padding sequence).
StepLogits scenario(Executor &ex, int64_t V) {
  const int bs = ex.kvCache().blockSize();
  Seq A{{0, 1, 2, 3, 4}}, B{{10, 11, 12, 13}};
  StepLogits r;
  auto run = [&](std::vector<Seq *> seqs, std::vector<std::vector<int32_t>> ids) {
    for (auto &v : ids)
      for (int32_t &t : v)
        t = int32_t(t % V);
    Batch b = makeBatch(seqs, ids, bs);
    const float *l = ex.step(b.tokens, b.positions, b.meta);
    r.logits.emplace_back(l, l + seqs.size() * size_t(V));
  };
  run({&A}, {{1, 17, 42, 3, 3, 49, 0}});
  run({&A}, {{25}});
  run({&A}, {{8}});
  run({&A}, {{31}});
  run({&B, &A}, {{5, 6, 7, 8, 9}, {12}});
  run({&A, &B}, {{2}, {4}});
  run({&A, &B}, {{44}, {13}});
  // Copy-on-write fork of A: C shares A's blocks but its own copy of A's
  // partial last block (block size 4: blocks 0..2 full, 3 partial).
  Seq C{A.blocks, A.len};
  const size_t partial = size_t(A.len / bs);
  C.blocks[partial] = 20;
  ex.kvCache().copyBlock(A.blocks[partial], 20);
  Seq A2 = A;
  run({&C}, {{7}});
  run({&A2}, {{7}});
  // Three decodes: padded to the graph bucket of 4.
  run({&B, &C, &A2}, {{1}, {2}, {3}});
  return r;
}

void expectClose(const StepLogits &got, const StepLogits &want, double tol, const std::string &what) {
  ASSERT_EQ(got.logits.size(), want.logits.size());
  double worst = 0;
  for (size_t s = 0; s < got.logits.size(); ++s) {
    double scale = 1;
    for (float x : want.logits[s])
      scale = std::max(scale, double(std::fabs(x)));
    for (size_t i = 0; i < got.logits[s].size(); ++i)
      worst = std::max(worst, std::fabs(double(got.logits[s][i]) - want.logits[s][i]) / scale);
  }
  std::printf("[ %s: max |diff| / max(1, max|logit|) = %.3g (tolerance %.3g) ]\n", what.c_str(), worst, tol);
  EXPECT_GT(worst, 0.0) << what << ": bit-identical to the CPU is suspicious (did the CUDA path run?)";
  for (size_t s = 0; s < got.logits.size(); ++s) {
    ASSERT_EQ(got.logits[s].size(), want.logits[s].size());
    double maxAbs = 0;
    for (float x : want.logits[s])
      maxAbs = std::max(maxAbs, double(std::fabs(x)));
    for (size_t i = 0; i < got.logits[s].size(); ++i)
      ASSERT_NEAR(got.logits[s][i], want.logits[s][i], tol * std::max(1.0, maxAbs))
          << what << ": step " << s << " logit " << i;
  }
}

struct CudaExec : ::testing::Test {
  TmpDir dir;
  void SetUp() override { ASSERT_EQ(cudatest::fakeCudaKernelsLinked, 1); }

  // unfused: an extra step after each attention also reads the rotated q,
  // so the Rope steps cannot be folded into the cache append.
  std::string buildPlan(int64_t d, int64_t nkv, fb::DType dt, bool unfused = false) {
    const bool bf = dt == fb::DType::BF16;
    Llama m(bf, d, nkv);
    PlanBuilder b;
    b.computeDtype = dt;
    b.actDtype = dt;
    buildLlama(b, m, dt);
    if (unfused)
      for (size_t i = 0; i < b.steps.size(); ++i) {
        if (b.steps[i].op != fb::OpKind::Attention)
          continue;
        const int qr = b.steps[i].in[0];
        const int dummy = b.act("dummy" + std::to_string(i), {-1, m.nh * m.d});
        PlanBuilder::Step e{fb::OpKind::Elementwise, "q_twice", {qr, qr}, {dummy}, {}, {}, 0, {}, {}};
        e.prog = {fb::EwInstr(fb::EwOp::Add, 0, 1, 2, 0.0f)};
        e.nregs = 3;
        e.progOut = {2};
        b.steps.insert(b.steps.begin() + long(i) + 1, e);
        ++i;
      }
    addCuda(b, m, bf ? "bf16" : "f32");
    return b.write(dir.path / ("llama_d" + std::to_string(d) + "_kv" + std::to_string(nkv) +
                               (bf ? "_bf16" : "_f32") + ".plan"));
  }

  StepLogits cpuRun(const PlanFile &pf) {
    ExecutorOptions o;
    o.numThreads = 1;
    auto ex = createCpuExecutor(pf, o);
    return scenario(*ex, ex->vocabSize());
  }

  StepLogits cudaRun(const PlanFile &pf, bool graphs, FakeCudaDriver &fake, std::string *desc = nullptr) {
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    o.cudaGraphs = graphs;
    o.gpuMemoryFraction = 0.5;
    std::string note;
    auto ex = createExecutor(pf, o, &note);
    EXPECT_EQ(note, "");
    if (desc)
      *desc = ex->description();
    return scenario(*ex, ex->vocabSize());
  }

  void check(int64_t d, int64_t nkv, fb::DType dt, double tol, bool unfused = false) {
    auto pf = PlanFile::open(buildPlan(d, nkv, dt, unfused));
    const StepLogits want = cpuRun(*pf);
    FakeCudaDriver fake;
    std::string desc;
    const StepLogits graphs = cudaRun(*pf, true, fake, &desc);
    EXPECT_NE(desc.find("cuda: Fake CUDA device (emulation) (sm_80), cubin sm_80"), std::string::npos) << desc;
    EXPECT_NE(desc.find("decode graphs (batch 1..4)"), std::string::npos) << desc;
    // Every decode step replayed a graph (buckets 1, 2 and 4).
    EXPECT_EQ(fake.graphLaunches, 3 + 2 + 2 + 1);
    std::map<std::string, int> names;
    for (const auto &l : fake.launches)
      names[l.name]++;
    const std::string tn = dt == fb::DType::BF16 ? "bf16" : "f32";
    // The rope steps fused into the attention's cache append (unless they cannot be).
    EXPECT_EQ(names.count("ingot_rope_" + tn + "_d" + std::to_string(d)), unfused ? 1u : 0u);
    EXPECT_GT(names["ingot_rope_kv_append_" + tn + "_d" + std::to_string(d)], 0);
    EXPECT_GT(names["ingot_attn_decode_" + tn + "_d" + std::to_string(d) + "_g" + std::to_string(4 / nkv)], 0);
    EXPECT_GT(names["ingot_attn_prefill_" + tn + "_d" + std::to_string(d) + "_g" + std::to_string(4 / nkv)], 0);
    expectClose(graphs, want, tol, "graphs on vs CPU");
    const size_t graphLaunches = size_t(fake.graphLaunches);
    const StepLogits plain = cudaRun(*pf, false, fake);
    EXPECT_EQ(size_t(fake.graphLaunches), graphLaunches); // none with --no-cuda-graphs
    expectClose(plain, want, tol, "graphs off vs CPU");
    // Graph replay and direct launches run the same kernels on the same data.
    for (size_t s = 0; s < plain.logits.size(); ++s)
      EXPECT_EQ(plain.logits[s], graphs.logits[s]) << "step " << s;
    // The forked sequence (copied block) matches its source.
    const size_t n = want.logits.size();
    EXPECT_EQ(graphs.logits[n - 3], graphs.logits[n - 2]);
    EXPECT_EQ(fake.liveAllocations(), 0u); // the executors freed everything
  }
};

TEST_F(CudaExec, F32HeadDim16Group2) { check(16, 2, fb::DType::F32, 1e-4); }

// A fake whose stream runs its work only when the host synchronises (as a
// real device does, fakeCuda's asyncStream): the executor's results do not
// change, graphs on or off; and two steps launched back to back without a
// download in between do not see each other's batch metadata (the pinned
// staging buffer of step N+1 is written only after step N's uploads ran).
TEST_F(CudaExec, AsyncStreamMatchesAndStagingIsNotReusedInFlight) {
  auto pf = PlanFile::open(buildPlan(16, 2, fb::DType::F32));
  const StepLogits want = cpuRun(*pf);
  for (bool graphs : {true, false}) {
    FakeCudaDriver::Options fo;
    fo.asyncStream = true;
    FakeCudaDriver fake(fo);
    expectClose(cudaRun(*pf, graphs, fake), want, 1e-4, graphs ? "async, graphs on" : "async, graphs off");
    EXPECT_TRUE(fake.captureViolations.empty());
    EXPECT_TRUE(fake.pending.empty());
  }
  // Back to back: prefill A, prefill B, decode A and B, all deferred; only
  // the last step's logits are read.
  ExecutorOptions co;
  co.numThreads = 1;
  auto cpu = createCpuExecutor(*pf, co);
  const int64_t V = cpu->vocabSize();
  auto steps = [&](Executor &ex, bool deferred) {
    const int bs = ex.kvCache().blockSize();
    Seq A{{0, 1, 2, 3}}, B{{8, 9, 10, 11}};
    std::vector<Batch> bs3;
    bs3.push_back(makeBatch({&A}, {{1, 17, 42, 3, 5}}, bs));
    bs3.push_back(makeBatch({&B}, {{7, 7, 30, 2, 9, 11}}, bs));
    bs3.push_back(makeBatch({&A, &B}, {{4}, {6}}, bs));
    const float *l = nullptr;
    for (const Batch &b : bs3) {
      if (deferred)
        ex.stepDeferLogits(b.tokens, b.positions, b.meta);
      else
        l = ex.step(b.tokens, b.positions, b.meta);
    }
    if (deferred)
      l = ex.fetchLogits();
    return std::vector<float>(l, l + 2 * V);
  };
  const std::vector<float> ref = steps(*cpu, false);
  for (bool graphs : {true, false}) {
    FakeCudaDriver::Options fo;
    fo.asyncStream = true;
    FakeCudaDriver fake(fo);
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    o.cudaGraphs = graphs;
    o.gpuMemoryFraction = 0.5;
    auto ex = createExecutor(*pf, o);
    const std::vector<float> got = steps(*ex, true);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], ref[i], 1e-4 * std::max(1.0f, std::fabs(ref[i]))) << "graphs " << graphs << " logit " << i;
    EXPECT_EQ(fake.graphLaunches, graphs ? 1 : 0);
  }
}

// The real driver refuses synchronous calls (allocation, module loading,
// stream synchronisation) while a stream captures, and the capture then
// fails; the fake does too.
TEST(CudaFake, RefusesSynchronousCallsDuringCapture) {
  FakeCudaDriver fake;
  const cuda::CudaDriver &d = *fake.table();
  cuda::CUstream s = nullptr;
  ASSERT_EQ(d.cuStreamCreate(&s, cuda::CU_STREAM_NON_BLOCKING), cuda::CUDA_SUCCESS);
  ASSERT_EQ(d.cuStreamBeginCapture(s, cuda::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), cuda::CUDA_SUCCESS);
  cuda::CUdeviceptr p = 0;
  EXPECT_EQ(d.cuMemAlloc(&p, 256), cuda::CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_EQ(d.cuStreamSynchronize(s), cuda::CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  cuda::CUgraph g = nullptr;
  EXPECT_EQ(d.cuStreamEndCapture(s, &g), cuda::CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  EXPECT_EQ(g, nullptr);
  EXPECT_EQ(fake.captureViolations, (std::vector<std::string>{"cuMemAlloc", "cuStreamSynchronize"}));
  // A clean capture afterwards works.
  ASSERT_EQ(d.cuStreamBeginCapture(s, cuda::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), cuda::CUDA_SUCCESS);
  ASSERT_EQ(d.cuStreamEndCapture(s, &g), cuda::CUDA_SUCCESS);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(d.cuGraphDestroy(g), cuda::CUDA_SUCCESS);
}

// asyncStream: a copy from pinned memory reads its source when the stream
// runs (so rewriting the buffer before a synchronisation races, as on a
// device); one from pageable memory takes it at the call.
TEST(CudaFake, AsyncStreamReadsPinnedSourcesLate) {
  FakeCudaDriver::Options fo;
  fo.asyncStream = true;
  FakeCudaDriver fake(fo);
  const cuda::CudaDriver &d = *fake.table();
  cuda::CUstream s = nullptr;
  ASSERT_EQ(d.cuStreamCreate(&s, cuda::CU_STREAM_NON_BLOCKING), cuda::CUDA_SUCCESS);
  cuda::CUdeviceptr dev = 0;
  ASSERT_EQ(d.cuMemAlloc(&dev, 8), cuda::CUDA_SUCCESS);
  void *pinned = nullptr;
  ASSERT_EQ(d.cuMemHostAlloc(&pinned, 4, cuda::CU_MEMHOSTALLOC_PORTABLE), cuda::CUDA_SUCCESS);
  int32_t pageable = 1;
  *static_cast<int32_t *>(pinned) = 10;
  ASSERT_EQ(d.cuMemcpyHtoDAsync(dev, pinned, 4, s), cuda::CUDA_SUCCESS);
  ASSERT_EQ(d.cuMemcpyHtoDAsync(dev + 4, &pageable, 4, s), cuda::CUDA_SUCCESS);
  *static_cast<int32_t *>(pinned) = 20; // too early: the copy has not run
  pageable = 2;
  int32_t back[2] = {0, 0};
  ASSERT_EQ(d.cuMemcpyDtoHAsync(back, dev, 8, s), cuda::CUDA_SUCCESS); // pageable: synchronous
  EXPECT_EQ(back[0], 20);
  EXPECT_EQ(back[1], 1);
  EXPECT_EQ(d.cuMemFreeHost(pinned), cuda::CUDA_SUCCESS);
  EXPECT_EQ(d.cuMemFree(dev), cuda::CUDA_SUCCESS);
}
TEST_F(CudaExec, Bf16HeadDim32Group4) { check(32, 1, fb::DType::BF16, 5e-2); }
TEST_F(CudaExec, Bf16HeadDim16Group1) { check(16, 4, fb::DType::BF16, 5e-2); }
TEST_F(CudaExec, UnfusedRopeF32) { check(16, 2, fb::DType::F32, 1e-4, /*unfused=*/true); }

// The ops the Llama plans do not use: Linear with bias and a GELU-tanh
// epilogue, an Elementwise step with row and scalar inputs, AddLayerNorm,
// Softmax, MoE (top-2 of 3, normalised), GatherLast and a Linear head (the
// CPU executor's dense test plan), f32 and bf16, no KV cache.
void denseCheck(const fs::path &dir, fb::DType dt, double tol, int topK) {
  const bool bf = dt == fb::DType::BF16;
  const std::string tn = bf ? "bf16" : "f32";
  const int64_t V = 7, H = 6, N = 5, E = 3, I = 4;
  PlanBuilder b;
  b.computeDtype = dt;
  b.actDtype = dt;
  b.vocab = V;
  b.tokenInput = b.input("tokens");
  b.positionInput = b.input("positions");
  auto rv = [&](size_t n, uint32_t seed, float lo, float hi) { return randVec(n, seed, lo, hi, bf); };
  auto W = [&](const std::string &name, std::vector<int64_t> shape, std::vector<float> v) {
    return b.weight(name, shape, std::move(v), dt);
  };
  const int x = b.act("x", {-1, H}), y = b.act("y", {-1, N}), z = b.act("z", {-1, N}), s = b.act("s", {-1, N}),
            n = b.act("n", {-1, N}), p = b.act("p", {-1, N}), mo = b.act("moe", {-1, N}),
            last = b.act("last", {-2, N});
  b.logitsOutput = b.act("out", {-2, V}, fb::DType::F32);
  b.step(fb::OpKind::Embedding, "emb", {b.tokenInput, W("emb", {V, H}, rv(size_t(V * H), 1, -1, 1))}, {x})
      .cudaFunctions = {"ingot_embedding_" + tn};
  b.step(fb::OpKind::Linear, "fc", {x, W("w1", {N, H}, rv(size_t(N * H), 2, -1, 1)), W("b1", {N}, rv(size_t(N), 3, -1, 1))},
         {y}, {AS("activation", "gelu_tanh")})
      .cudaFunctions = {"ingot_gemm_" + tn};
  auto &ew = b.step(fb::OpKind::Elementwise, "ew", {y, W("row", {N}, rv(size_t(N), 4, -1, 1)), W("sc", {1}, {0.5f})}, {z});
  ew.prog = {fb::EwInstr(fb::EwOp::Mul, 0, 1, 3, 0), fb::EwInstr(fb::EwOp::Add, 3, 2, 4, 0)};
  ew.nregs = 5;
  ew.progOut = {4};
  ew.cudaFunctions = {"ingot_ew_test_fma_" + tn};
  b.step(fb::OpKind::AddLayerNorm, "aln",
         {z, y, W("g", {N}, rv(size_t(N), 5, 0.5f, 1.5f)), W("be", {N}, rv(size_t(N), 6, -1, 1))}, {s, n},
         {AF("epsilon", 1e-5)})
      .cudaFunctions = {"ingot_add_layer_norm_" + tn};
  b.step(fb::OpKind::Softmax, "sm", {n}, {p}).cudaFunctions = {"ingot_softmax_" + tn};
  b.step(fb::OpKind::MoE, "moe",
         {p, W("router", {E, N}, rv(size_t(E * N), 7, -1, 1)), W("eg", {E, I, N}, rv(size_t(E * I * N), 8, -1, 1)),
          W("eu", {E, I, N}, rv(size_t(E * I * N), 9, -1, 1)), W("ed", {E, N, I}, rv(size_t(E * N * I), 10, -1, 1))},
         {mo}, {AI("top_k", topK), AI("normalize_topk", 1)})
      .cudaFunctions = {"ingot_gemm_" + tn, "ingot_moe_route_" + tn, "ingot_moe_permute", "ingot_moe_gemm_" + tn,
                        "ingot_moe_silu_mul_" + tn, "ingot_moe_combine_" + tn};
  b.step(fb::OpKind::GatherLast, "gl", {mo}, {last}).cudaFunctions = {"ingot_gather_rows_" + tn};
  // The head writes f32 logits from compute-dtype rows: the CUDA GEMM's c_f32.
  b.step(fb::OpKind::Linear, "head", {last, W("wo", {V, N}, rv(size_t(V * N), 11, -1, 1))}, {b.logitsOutput})
      .cudaFunctions = {"ingot_gemm_" + tn};
  b.kernels.push_back({"sm_80", "cubin", "fake"});
  b.targets = {"sm_80"};
  auto pf = PlanFile::open(b.write(dir / ("dense_" + tn + ".plan")));
  auto cpu = createCpuExecutor(*pf, {});
  FakeCudaDriver fake;
  ExecutorOptions o;
  o.device = DeviceKind::Cuda;
  o.cudaDriver = fake.table();
  auto gpu = createExecutor(*pf, o);
  const std::vector<int32_t> tok = {3, 6, 0, 2, 2};
  BatchMeta bm;
  bm.seqs = {{0, 2, 2, {}}, {2, 3, 3, {}}};
  const float *c = cpu->step(tok, {0, 1, 0, 1, 2}, bm);
  StepLogits want{{std::vector<float>(c, c + 2 * V)}};
  const float *g = gpu->step(tok, {0, 1, 0, 1, 2}, bm);
  StepLogits got{{std::vector<float>(g, g + 2 * V)}};
  expectClose(got, want, tol, "dense " + tn);
  std::map<std::string, int> names;
  for (const auto &l : fake.launches)
    names[l.name]++;
  EXPECT_EQ(names["ingot_moe_permute"], 1);
  EXPECT_EQ(names["ingot_moe_gemm_" + tn], 3);
  EXPECT_EQ(names["ingot_gemm_" + tn], 3); // fc, router, head
}

TEST_F(CudaExec, DenseOpsF32) { denseCheck(dir.path, fb::DType::F32, 1e-4, 2); }
TEST_F(CudaExec, DenseOpsBf16) { denseCheck(dir.path, fb::DType::BF16, 2e-2, 2); }

// Host stand-ins for a plan's generated Elementwise kernels (ingot_ew_*):
// the test binary cannot compile them, so the fake driver runs the step's
// program with the CPU interpreter on the IngotEwParams buffers (converted
// from and to the compute dtype). cgen's own tests run the generated kernels.
std::map<std::string, cudatest::HostKernel> elementwiseStandIns(const PlanFile &pf) {
  const fb::Plan &plan = pf.program();
  std::vector<cpuexec::TensorSlot> slots(plan.tensors()->size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const fb::TensorDesc *d = plan.tensors()->Get(flatbuffers::uoffset_t(i));
    slots[i].name = d->name() ? d->name()->str() : "";
    slots[i].kind = d->kind();
    slots[i].dtype = DType(d->dtype());
    if (d->shape())
      slots[i].shape.assign(d->shape()->begin(), d->shape()->end());
  }
  std::vector<KvLayerShape> kv;
  if (plan.kv_cache() && plan.kv_cache()->layers())
    for (const fb::KvLayer *l : *plan.kv_cache()->layers())
      kv.push_back({l->num_kv_heads(), l->head_dim()});
  const DType dt = DType(plan.model()->compute_dtype());
  std::map<std::string, cudatest::HostKernel> out;
  for (size_t i = 0; i < plan.steps()->size(); ++i) {
    const fb::Step *st = plan.steps()->Get(flatbuffers::uoffset_t(i));
    if (st->op() != fb::OpKind::Elementwise || !st->cuda_functions())
      continue;
    auto ps = std::make_shared<cpuexec::PreparedStep>(cpuexec::prepareStep(plan, i, slots, kv));
    cudatest::HostKernel hk;
    hk.paramBytes = sizeof(IngotEwParams);
    hk.run = [ps, dt](const void *raw) {
      IngotEwParams p;
      std::memcpy(&p, raw, sizeof p);
      const int64_t n = p.rows * p.width;
      std::vector<std::vector<float>> in(ps->in.size());
      std::vector<cpu::EwInput> ins(ps->in.size());
      for (size_t k = 0; k < ps->in.size(); ++k) {
        const auto kind = ps->ewKinds[k];
        const int64_t cnt = kind == cpu::EwInput::Kind::Full ? n : kind == cpu::EwInput::Kind::Row ? p.width : 1;
        in[k].resize(size_t(cnt));
        convertToF32(p.in[k], dt, in[k].data(), size_t(cnt));
        ins[k] = {in[k].data(), kind};
      }
      std::vector<std::vector<float>> outv(ps->out.size(), std::vector<float>(size_t(n)));
      std::vector<float *> outs;
      for (auto &o : outv)
        outs.push_back(o.data());
      cpu::elementwise(ps->prog, ps->numRegs, ins, ps->progOut, outs, p.rows, p.width);
      for (size_t k = 0; k < outv.size(); ++k)
        convertFromF32(outv[k].data(), p.out[k], dt, size_t(n));
    };
    for (const auto *f : *st->cuda_functions())
      if (f->str().rfind("ingot_ew_", 0) == 0)
        out[f->str()] = hk;
  }
  return out;
}

// A fixture plan compiled by `ingotc --target cpu,sm_80` (ctest
// cuda_executor_<fixture> sets INGOT_CUDA_FIXTURE_PLAN): the CUDA executor on
// the fake driver against the CPU executor on the same plan.
TEST(CudaFixture, MatchesCpuExecutor) {
  const char *path = std::getenv("INGOT_CUDA_FIXTURE_PLAN");
  if (!path)
    GTEST_SKIP() << "set INGOT_CUDA_FIXTURE_PLAN (ctest cuda_executor_*)";
  auto pf = PlanFile::open(path);
  const DType dt = DType(pf->program().model()->compute_dtype());
  const double tol = dt == DType::F32 ? 1e-4 : 6e-2;
  ExecutorOptions co;
  co.numThreads = 2;
  auto cpu = createCpuExecutor(*pf, co);
  const StepLogits want = scenario(*cpu, cpu->vocabSize());
  FakeCudaDriver::Options fo;
  fo.hostKernels = elementwiseStandIns(*pf);
  FakeCudaDriver fake(fo);
  StepLogits on, off;
  for (bool graphs : {true, false}) {
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    o.cudaGraphs = graphs;
    o.gpuMemoryFraction = 0.5;
    auto ex = createExecutor(*pf, o);
    std::printf("[ %s ]\n", ex->description().c_str());
    (graphs ? on : off) = scenario(*ex, ex->vocabSize());
  }
  expectClose(on, want, tol, std::string(path) + " graphs on");
  expectClose(off, want, tol, std::string(path) + " graphs off");
  for (size_t s = 0; s < on.logits.size(); ++s)
    EXPECT_EQ(on.logits[s], off.logits[s]) << "step " << s;
}

// The same fixture plan: greedy through ingot_sample_f32 (device sampling,
// graphs on) equals the host's greedy over the same logits, step by step,
// and the steps download only the tokens until the logits are asked for.
TEST(CudaFixture, DeviceGreedyMatchesHostGreedy) {
  const char *path = std::getenv("INGOT_CUDA_FIXTURE_PLAN");
  if (!path)
    GTEST_SKIP() << "set INGOT_CUDA_FIXTURE_PLAN (ctest cuda_executor_*)";
  auto pf = PlanFile::open(path);
  FakeCudaDriver::Options fo;
  fo.hostKernels = elementwiseStandIns(*pf);
  FakeCudaDriver fake(fo);
  ExecutorOptions o;
  o.device = DeviceKind::Cuda;
  o.cudaDriver = fake.table();
  o.gpuMemoryFraction = 0.5;
  auto ex = createExecutor(*pf, o);
  ASSERT_TRUE(ex->canSampleOnDevice()) << ex->description();
  const int64_t V = ex->vocabSize();
  const int bs = ex->kvCache().blockSize();
  Seq A{{0, 1, 2}}, B{{3, 4, 5}};
  Batch b = makeBatch({&A, &B}, {{int32_t(1 % V), int32_t(17 % V), int32_t(42 % V)}, {int32_t(7 % V)}}, bs);
  std::vector<DeviceSampleParams> ps(2);
  ps[1].row = 1;
  std::vector<int32_t> out;
  std::mt19937_64 unused;
  for (int step = 0; step < 5; ++step) {
    const int64_t dtoh0 = fake.dtohBytes;
    ex->stepDeferLogits(b.tokens, b.positions, b.meta);
    ex->sampleOnDevice(ps, out);
    EXPECT_EQ(fake.dtohBytes - dtoh0, 2 * 4) << "step " << step;
    const float *l = ex->fetchLogits();
    for (int s = 0; s < 2; ++s)
      EXPECT_EQ(out[size_t(s)], sampleFiltered(l + s * V, V, 0.0f, 0, 1.0f, 0.0f, unused))
          << "step " << step << " sequence " << s;
    b = makeBatch({&A, &B}, {{out[0]}, {out[1]}}, bs);
  }
  EXPECT_EQ(countLaunches(fake, "ingot_sample_f32"), 5u);
  EXPECT_GT(fake.graphLaunches, 0);
}

TEST_F(CudaExec, MissingMmaVariantFallsBackAndMissingRequiredFails) {
  auto pf = PlanFile::open(buildPlan(16, 2, fb::DType::BF16));
  {
    // The mma prefill kernel is never registered under the emulation: the
    // plain prefill kernel runs instead (covered above); a missing decode
    // kernel is an error naming it.
    FakeCudaDriver fake;
    fake.options().hidden.insert("ingot_attn_decode_bf16_d16_g2");
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    try {
      createExecutor(*pf, o);
      FAIL() << "expected an error";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("(Attention \"l0.attn\"): entry point ingot_attn_decode_bf16_d16_g2 "
                                           "is missing from the plan's CUDA module"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(fake.liveAllocations(), 0u);
  }
  {
    // Out of device memory while allocating: the CUDA call, error and task.
    FakeCudaDriver::Options fo;
    fo.failCall = "cuMemAlloc";
    FakeCudaDriver fake(fo);
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    try {
      createExecutor(*pf, o);
      FAIL() << "expected an error";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("cuMemAlloc_v2 failed with CUDA_ERROR_OUT_OF_MEMORY (out of memory) "
                                           "while allocating the device arena"),
                std::string::npos)
          << e.what();
    }
  }
  {
    // A module the JIT rejects: the call, the error and the JIT's log.
    FakeCudaDriver::Options fo;
    fo.failCall = "cuModuleLoadDataEx";
    fo.failWith = cuda::CUDA_ERROR_INVALID_PTX;
    FakeCudaDriver fake(fo);
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    try {
      createExecutor(*pf, o);
      FAIL() << "expected an error";
    } catch (const Error &e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("cuModuleLoadDataEx failed with CUDA error 218 while loading the plan's CUDA module"),
                std::string::npos) << m;
      EXPECT_NE(m.find("; JIT log: ptxas fatal: fake JIT error"), std::string::npos) << m;
    }
  }
  {
    // The KV cache is sized from free memory x fraction.
    FakeCudaDriver::Options fo;
    fo.totalBytes = size_t(8) << 20;
    FakeCudaDriver fake(fo);
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    o.cudaGraphs = false;
    o.gpuMemoryFraction = 0.5;
    auto ex = createExecutor(*pf, o);
    // 4 MiB minus weights and activations, in blocks of 2 layers x K,V x
    // 4 tokens x 2 heads x 16 dims x 2 bytes = 1 KiB, capped at what
    // max_seqs full-length sequences need (4 x 16 blocks + 1).
    EXPECT_EQ(ex->kvCache().numBlocks(), 4 * 16 + 1);
    // --kv-cache-size: that many bytes of blocks (1 KiB each), whatever memory is free.
    ExecutorOptions sized = o;
    sized.kvCacheBytes = 10 * 1024 + 100;
    EXPECT_EQ(createExecutor(*pf, sized)->kvCache().numBlocks(), 10);
    o.gpuMemoryFraction = 0.0005; // ~4 KiB: not even the weights
    try {
      auto ex2 = createExecutor(*pf, o);
      FAIL() << "expected an error";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("device memory too small"), std::string::npos) << e.what();
    }
  }
}


// ---------------------------------------------------------------------------
// Device sampling (Executor::sampleOnDevice, ingot_sample_f32 after the step,
// and the engine's use of it).

int32_t referenceDeviceSample(const float *l, int64_t V, const DeviceSampleParams &q) {
  return ingot::test::referenceDeviceSample(l, V, q.temperature, q.topK, q.topP, q.seed, q.counter);
}

size_t countLaunches(const FakeCudaDriver &f, const std::string &name) {
  size_t n = 0;
  for (const auto &l : f.launches)
    n += l.name == name;
  return n;
}

ExecutorOptions fakeCuda(FakeCudaDriver &fake, bool graphs) {
  ExecutorOptions o;
  o.device = DeviceKind::Cuda;
  o.cudaDriver = fake.table();
  o.cudaGraphs = graphs;
  o.gpuMemoryFraction = 0.5;
  return o;
}

// Greedy on the device over a prefill and several decodes (graphs on and
// off) equals the host argmax of the CPU executor's logits; only the tokens
// come back (no logits download); the sample launch follows the graph.
TEST_F(CudaExec, DeviceGreedyMatchesHostGreedy) {
  auto pf = PlanFile::open(buildPlan(16, 2, fb::DType::F32));
  ExecutorOptions co;
  co.numThreads = 1;
  auto cpu = createCpuExecutor(*pf, co);
  const int64_t V = cpu->vocabSize();
  // Host: two sequences, prefill then 5 greedy decodes each.
  auto hostRun = [&](Executor &ex) {
    const int bs = ex.kvCache().blockSize();
    Seq A{{0, 1, 2, 3}}, B{{8, 9, 10, 11}};
    Batch b = makeBatch({&A, &B}, {{1, 17, 42, 3, 5}, {7, 7, 30}}, bs);
    const float *l = ex.step(b.tokens, b.positions, b.meta);
    std::vector<std::vector<int32_t>> toks(2);
    std::mt19937_64 unused;
    for (int step = 0; step < 6; ++step) {
      for (int s = 0; s < 2; ++s)
        toks[size_t(s)].push_back(sampleFiltered(l + s * V, V, 0.0f, 0, 1.0f, 0.0f, unused));
      if (step == 5)
        break;
      b = makeBatch({&A, &B}, {{toks[0].back()}, {toks[1].back()}}, bs);
      l = ex.step(b.tokens, b.positions, b.meta);
    }
    return toks;
  };
  const auto want = hostRun(*cpu);
  for (bool graphs : {true, false}) {
    FakeCudaDriver fake;
    auto ex = createExecutor(*pf, fakeCuda(fake, graphs));
    ASSERT_TRUE(ex->canSampleOnDevice());
    EXPECT_NE(ex->description().find("sampling on the device"), std::string::npos) << ex->description();
    const int bs = ex->kvCache().blockSize();
    Seq A{{0, 1, 2, 3}}, B{{8, 9, 10, 11}};
    Batch b = makeBatch({&A, &B}, {{1, 17, 42, 3, 5}, {7, 7, 30}}, bs);
    std::vector<std::vector<int32_t>> got(2);
    std::vector<DeviceSampleParams> ps(2);
    ps[1].row = 1;
    std::vector<int32_t> out;
    const int64_t dtoh0 = fake.dtohBytes;
    for (int step = 0; step < 6; ++step) {
      ex->stepDeferLogits(b.tokens, b.positions, b.meta);
      ex->sampleOnDevice(ps, out);
      ASSERT_EQ(out.size(), 2u);
      got[0].push_back(out[0]);
      got[1].push_back(out[1]);
      if (step == 5)
        break;
      b = makeBatch({&A, &B}, {{out[0]}, {out[1]}}, bs);
    }
    EXPECT_EQ(got, want) << "graphs " << graphs;
    // Six steps, each one launch and 2 int32 tokens back; no logits.
    EXPECT_EQ(countLaunches(fake, "ingot_sample_f32"), 6u);
    EXPECT_EQ(fake.dtohBytes - dtoh0, 6 * 2 * 4);
    for (const auto &l : fake.launches)
      if (l.name == "ingot_sample_f32") {
        EXPECT_FALSE(l.fromGraph);
        EXPECT_EQ(l.grid[0], 2u);
        EXPECT_EQ(l.block[0], unsigned(INGOT_SAMPLE_THREADS));
      }
    EXPECT_EQ(fake.graphLaunches, graphs ? 5 : 0);
    // The logits are still there on request (one download, then cached).
    const float *l = ex->fetchLogits();
    EXPECT_EQ(fake.dtohBytes - dtoh0, 6 * 2 * 4 + 2 * V * 4);
    ex->fetchLogits();
    EXPECT_EQ(fake.dtohBytes - dtoh0, 6 * 2 * 4 + 2 * V * 4);
    std::mt19937_64 unused;
    EXPECT_EQ(sampleFiltered(l + V, V, 0.0f, 0, 1.0f, 0.0f, unused), got[1].back());
  }
}

// Seeded draws on the device equal the documented procedure run on the
// host over the same logits, for several (seed, counter) and filters,
// including a row sampled twice (a fork: its own launch); and they repeat.
TEST_F(CudaExec, DeviceSamplingFollowsTheDocumentedProcedure) {
  auto pf = PlanFile::open(buildPlan(16, 2, fb::DType::F32));
  FakeCudaDriver fake;
  auto ex = createExecutor(*pf, fakeCuda(fake, true));
  const int64_t V = ex->vocabSize();
  const int bs = ex->kvCache().blockSize();
  Seq A{{0, 1, 2, 3}}, B{{8, 9, 10, 11}}, C{{12, 13}};
  Batch b = makeBatch({&A, &B, &C}, {{1, 17, 42}, {7, 30}, {9}}, bs);
  ex->stepDeferLogits(b.tokens, b.positions, b.meta);
  std::vector<DeviceSampleParams> ps;
  for (int i = 0; i < 24; ++i) {
    DeviceSampleParams q;
    q.row = i < 3 ? i : (i % 3); // rows 0,1,2 then repeats: several launches
    q.temperature = i % 4 == 3 ? 0.0f : 0.5f + 0.4f * float(i % 3);
    q.topK = i % 5 == 1 ? 7 : (i % 5 == 2 ? int(V) + 3 : 0);
    q.topP = i % 3 == 2 ? 0.6f : 1.0f;
    q.seed = 0x9E3779B97F4A7C15ull * uint64_t(i + 1);
    q.counter = int64_t(i) * 1000003;
    ps.push_back(q);
  }
  std::vector<int32_t> out, again;
  const size_t launches0 = countLaunches(fake, "ingot_sample_f32");
  ex->sampleOnDevice(ps, out);
  // Rows 0,1,2 are consecutive (one launch); each later draw starts a run.
  const size_t launches = countLaunches(fake, "ingot_sample_f32") - launches0;
  EXPECT_LT(launches, ps.size());
  EXPECT_GT(launches, 1u);
  ex->sampleOnDevice(ps, again);
  EXPECT_EQ(out, again);
  const float *l = ex->fetchLogits();
  std::set<int32_t> distinct;
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(out[i], referenceDeviceSample(l + ps[i].row * V, V, ps[i])) << "draw " << i;
    distinct.insert(out[i]);
  }
  EXPECT_GT(distinct.size(), 3u); // the draws are not all the argmax
  // Out-of-range rows are an error naming the row.
  ps[0].row = 3;
  try {
    ex->sampleOnDevice(ps, out);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("reads logits row 3; the last step has 3"), std::string::npos) << e.what();
  }
}

// A module without ingot_sample_f32 (plans of older compilers): no device
// sampling; step() still returns the logits.
TEST_F(CudaExec, NoSampleKernelMeansHostSampling) {
  auto pf = PlanFile::open(buildPlan(16, 2, fb::DType::F32));
  FakeCudaDriver fake;
  fake.options().hidden.insert("ingot_sample_f32");
  auto ex = createExecutor(*pf, fakeCuda(fake, false));
  EXPECT_FALSE(ex->canSampleOnDevice());
  EXPECT_NE(ex->description().find("sampling on the host"), std::string::npos) << ex->description();
  std::vector<int32_t> out;
  EXPECT_THROW(ex->sampleOnDevice({DeviceSampleParams{}}, out), Error);
  ExecutorOptions co;
  co.numThreads = 1;
  EXPECT_FALSE(createCpuExecutor(*pf, co)->canSampleOnDevice());
}

// The engine on the CUDA executor (fake driver).
struct CudaEngine : CudaExec {
  std::unique_ptr<PlanFile> pf;
  void SetUp() override {
    CudaExec::SetUp();
    pf = PlanFile::open(buildPlan(16, 2, fb::DType::F32));
  }
  EngineOptions cudaEngine(FakeCudaDriver &fake) {
    EngineOptions o;
    o.executor = fakeCuda(fake, true);
    return o;
  }
};

TEST_F(CudaEngine, GreedyOnDeviceMatchesCpuEngineWithoutLogitsDownload) {
  using namespace enginetest;
  EngineOptions co;
  co.executor.numThreads = 1;
  auto cpuEngine = Engine::create(*pf, co);
  const std::vector<GenerationRequest> reqs = {request("a", promptIds(6, 1), 6),
                                               request("b", promptIds(3, 2), 5)};
  Results want = runRequests(*cpuEngine, reqs);
  FakeCudaDriver fake;
  auto e = Engine::create(*pf, cudaEngine(fake));
  Results got = runRequests(*e, reqs);
  for (const char *id : {"a", "b"}) {
    EXPECT_EQ(got[id][0].tokens, want[id][0].tokens) << id;
    EXPECT_EQ(got[id][0].finishReason, "length");
  }
  const int64_t generated = e->stats().generatedTokens;
  EXPECT_EQ(generated, 11);
  EXPECT_GT(countLaunches(fake, "ingot_sample_f32"), 0u);
  // Only the sampled tokens came back: 4 bytes per generated token.
  EXPECT_EQ(fake.dtohBytes, 4 * generated);
}

// A seeded request samples with Philox(seed, counter = tokens generated so
// far): reproducible, the same alone or next to a request that samples on
// the host, and each token equals the documented procedure replayed over the
// executor's logits.
TEST_F(CudaEngine, SeededSamplingIsReproducibleAndFollowsPhilox) {
  using namespace enginetest;
  GenerationRequest s = request("s", promptIds(5, 3), 8, 0.9f);
  s.sampling.seed = 4242;
  s.sampling.topK = 20;
  s.sampling.topP = 0.95f;
  GenerationRequest pen = request("p", promptIds(4, 4), 6, 0.7f);
  pen.sampling.seed = 7;
  pen.sampling.repetitionPenalty = 1.3f;
  std::vector<int32_t> alone, again, mixed;
  {
    FakeCudaDriver fake;
    auto e = Engine::create(*pf, cudaEngine(fake));
    alone = runRequests(*e, {s})["s"][0].tokens;
    again = runRequests(*e, {s})["s"][0].tokens;
  }
  ASSERT_EQ(alone.size(), 8u);
  EXPECT_EQ(alone, again);
  {
    FakeCudaDriver fake;
    auto e = Engine::create(*pf, cudaEngine(fake));
    Results r = runRequests(*e, {s, pen});
    mixed = r["s"][0].tokens;
    EXPECT_EQ(r["p"][0].tokens.size(), 6u);
    // Both paths ran: the device sampler, and the logits download for "p".
    EXPECT_GT(countLaunches(fake, "ingot_sample_f32"), 0u);
    EXPECT_GT(fake.dtohBytes, 4 * 14);
  }
  EXPECT_EQ(mixed, alone);
  // Replay: the executor's logits for the prompt + tokens so far, and the
  // documented procedure with (seed, counter = index).
  FakeCudaDriver fake;
  auto ex = createExecutor(*pf, fakeCuda(fake, true));
  const int64_t V = ex->vocabSize();
  Seq A{{0, 1, 2, 3, 4}};
  Batch b = makeBatch({&A}, {s.promptIds}, ex->kvCache().blockSize());
  for (size_t k = 0; k < alone.size(); ++k) {
    const float *l = ex->step(b.tokens, b.positions, b.meta);
    DeviceSampleParams q;
    q.temperature = s.sampling.temperature;
    q.topK = s.sampling.topK;
    q.topP = s.sampling.topP;
    q.seed = *s.sampling.seed; // choice 0: the request's seed
    q.counter = int64_t(k);
    EXPECT_EQ(alone[k], referenceDeviceSample(l, V, q)) << "token " << k;
    b = makeBatch({&A}, {{alone[k]}}, ex->kvCache().blockSize());
  }
}

// Requests the kernel cannot serve (penalties, min-p, logprobs) sample on
// the host: no ingot_sample_f32 launch, the logits come back every step, and
// the tokens equal the CPU engine's for greedy + penalty.
TEST_F(CudaEngine, UnsupportedParametersFallBackToHost) {
  using namespace enginetest;
  std::vector<GenerationRequest> reqs;
  for (int k = 0; k < 3; ++k) {
    GenerationRequest r = request("r" + std::to_string(k), promptIds(4, 5 + k), 4);
    if (k == 0)
      r.sampling.repetitionPenalty = 1.5f;
    else if (k == 1)
      r.sampling.minP = 0.1f, r.sampling.temperature = 0.8f, r.sampling.seed = 3;
    else
      r.sampling.logprobs = 2;
    reqs.push_back(r);
  }
  EngineOptions co;
  co.executor.numThreads = 1;
  auto cpuEngine = Engine::create(*pf, co);
  FakeCudaDriver fake;
  auto e = Engine::create(*pf, cudaEngine(fake));
  const int64_t V = 50;
  for (const GenerationRequest &r : reqs) {
    const int64_t steps0 = e->stats().steps, dtoh0 = fake.dtohBytes;
    Results got = runRequests(*e, {r});
    EXPECT_EQ(got[r.id][0].tokens.size(), 4u) << r.id;
    EXPECT_EQ(countLaunches(fake, "ingot_sample_f32"), 0u) << r.id;
    EXPECT_EQ(fake.dtohBytes - dtoh0, (e->stats().steps - steps0) * V * 4) << r.id;
    if (r.id != "r1") { // greedy: same tokens as the CPU engine
      Results want = runRequests(*cpuEngine, {r});
      EXPECT_EQ(got[r.id][0].tokens, want[r.id][0].tokens) << r.id;
    }
  }
}

// n > 1 on the device: the children's first draw samples the parent's row
// again (launches of their own); every choice is reproducible.
TEST_F(CudaEngine, ForkedChoicesSampleOnDevice) {
  using namespace enginetest;
  GenerationRequest r = request("n", promptIds(5, 9), 4, 1.0f);
  r.sampling.n = 3;
  r.sampling.seed = 99;
  FakeCudaDriver fake;
  auto e = Engine::create(*pf, cudaEngine(fake));
  Results a = runRequests(*e, {r});
  Results b = runRequests(*e, {r});
  ASSERT_EQ(a["n"].size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(a["n"][k].tokens.size(), 4u);
    EXPECT_EQ(a["n"][k].tokens, b["n"][k].tokens) << k;
  }
  EXPECT_EQ(fake.dtohBytes, 4 * e->stats().generatedTokens);
  // One launch per step, plus two at each run's fork (choices 1 and 2
  // sample row 0 again).
  EXPECT_EQ(int64_t(countLaunches(fake, "ingot_sample_f32")), e->stats().steps + 4);
  // The choices do not all draw the same tokens (own seeds).
  EXPECT_FALSE(a["n"][0].tokens == a["n"][1].tokens && a["n"][1].tokens == a["n"][2].tokens);
}

} // namespace
