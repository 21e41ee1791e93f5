// The CUDA executor's parts that need no kernels: the dlopen'ed driver table
// and its error messages, module image choice, graph buckets, KV sizing, the
// fake driver itself (launch by name, capture and replay with the parameter
// bytes copied at capture) and device selection (createExecutor).
#include "../src/cuda/cublaslt.h"
#include "../src/cuda/cuda_driver.h"
#include "../src/cuda/cuda_plan.h"
#include "fake_cuda_driver.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_generated.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <unistd.h>

#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"
#include "cuda/kernels/common.cuh"

using namespace ingot;
namespace fb = ingot::plan;
namespace fs = std::filesystem;

#include "cpu_test_plans.h"

namespace {

using namespace ingot::cuda;
using namespace cputest;
using cudatest::FakeCudaDriver;

template <class F> std::string errorOf(F &&f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

// ---- driver loading and errors ----

TEST(CudaDriver, MissingLibraryIsReported) {
  std::string why;
  EXPECT_EQ(loadCudaDriver(&why, "/nonexistent/libcuda.so.1"), nullptr);
  EXPECT_NE(why.find("/nonexistent/libcuda.so.1 could not be loaded"), std::string::npos) << why;
  EXPECT_NE(why.find("NVIDIA driver"), std::string::npos) << why;
}

TEST(CudaDriver, LibraryWithoutTheEntryPointsIsReported) {
  std::string why;
  EXPECT_EQ(loadCudaDriver(&why, "libm.so.6"), nullptr);
  EXPECT_NE(why.find("libm.so.6 lacks cuInit"), std::string::npos) << why;
}

TEST(CudaDriver, SymbolTableCoversEveryMember) {
  size_t n = 0;
  const DriverSymbol *s = driverSymbols(&n);
  // Every function pointer of CudaDriver (after `source`) has a symbol, in order.
  const size_t first = offsetof(CudaDriver, cuInit);
  EXPECT_EQ(n, (sizeof(CudaDriver) - first) / sizeof(void *));
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(s[i].offset, first + i * sizeof(void *)) << s[i].member;
  bool sawV2 = false;
  for (size_t i = 0; i < n; ++i)
    sawV2 = sawV2 || std::string(s[i].symbol) == "cuMemAlloc_v2";
  EXPECT_TRUE(sawV2);
}

TEST(CudaDriver, ErrorsNameCallCodeAndTask) {
  FakeCudaDriver fake;
  const CudaDriver &d = *fake.table();
  const std::string m = errorOf([&] {
    INGOT_CU(d, cuModuleGetFunction, (nullptr, nullptr, "x"), "looking up x for step 3");
  });
  EXPECT_EQ(m, "cuModuleGetFunction failed with CUDA_ERROR_INVALID_HANDLE (invalid resource handle) "
               "while looking up x for step 3");
  // Versioned entry points are named as loaded.
  EXPECT_EQ(cudaErrorMessage(d, CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc", "allocating the arena"),
            "cuMemAlloc_v2 failed with CUDA_ERROR_OUT_OF_MEMORY (out of memory) while allocating the arena");
  // Unknown codes still say which.
  EXPECT_EQ(cudaErrorMessage(d, 4242, "cuInit", ""), "cuInit failed with CUDA error 4242");
}

// ---- image choice ----

std::vector<ModuleImage> imgs(std::initializer_list<const char *> specs) {
  std::vector<ModuleImage> v;
  for (const char *s : specs) {
    std::string x = s;
    const size_t sp = x.find(' ');
    v.push_back({x.substr(sp + 1), x.substr(0, sp)});
  }
  return v;
}

TEST(CudaImage, ParsesArchNames) {
  int ma, mi;
  bool spec;
  ASSERT_TRUE(parseArch("sm_90a", &ma, &mi, &spec));
  EXPECT_EQ(ma, 9);
  EXPECT_EQ(mi, 0);
  EXPECT_TRUE(spec);
  ASSERT_TRUE(parseArch("compute_86", &ma, &mi, &spec));
  EXPECT_EQ(ma * 10 + mi, 86);
  EXPECT_FALSE(spec);
  ASSERT_TRUE(parseArch("sm_120", &ma, &mi, &spec));
  EXPECT_EQ(ma, 12);
  EXPECT_FALSE(parseArch("sm_9", &ma, &mi, &spec));
  EXPECT_FALSE(parseArch("gfx90a", &ma, &mi, &spec));
  EXPECT_FALSE(parseArch("sm_90x", &ma, &mi, &spec));
}

TEST(CudaImage, ChoosesPerContract) {
  const auto all = imgs({"cuda-source x", "cubin sm_80", "cubin sm_90", "cubin sm_90a", "ptx compute_90"});
  // sm_90a preferred on sm_90, then sm_90.
  EXPECT_EQ(chooseImage(all, 9, 0, {}).index, 3u);
  EXPECT_EQ(chooseImage(imgs({"cubin sm_80", "cubin sm_90", "ptx compute_90"}), 9, 0, {}).index, 1u);
  // sm_80 runs on sm_86 / sm_89 (same major, lower minor).
  const ImageChoice c86 = chooseImage(all, 8, 6, {});
  EXPECT_EQ(c86.index, 1u);
  EXPECT_NE(c86.why.find("same major"), std::string::npos);
  EXPECT_EQ(chooseImage(imgs({"cubin sm_80", "cubin sm_86"}), 8, 9, {}).index, 1u);
  // Newer majors get the PTX (JIT); the highest compute capability that fits.
  const ImageChoice c100 = chooseImage(imgs({"ptx compute_80", "cubin sm_90a", "ptx compute_90"}), 10, 0, {});
  EXPECT_EQ(c100.index, 2u);
  EXPECT_NE(c100.why.find("JIT"), std::string::npos);
  // An arch-specific cubin never runs elsewhere.
  EXPECT_THROW(chooseImage(imgs({"cubin sm_90a"}), 10, 0, {}), Error);
  // A cubin of a higher minor does not run on a lower one; nor does sm_90 PTX on sm_80.
  const std::string m = errorOf([&] {
    chooseImage(imgs({"cubin sm_86", "cubin sm_90a", "ptx compute_90"}), 8, 0, {"sm_86", "sm_90a"});
  });
  EXPECT_NE(m.find("no CUDA image that runs on this sm_80 device"), std::string::npos) << m;
  EXPECT_NE(m.find("plan targets: sm_86,sm_90a"), std::string::npos) << m;
  EXPECT_NE(m.find("cubin sm_86, cubin sm_90a, ptx compute_90"), std::string::npos) << m;
  EXPECT_NE(m.find("--target sm_80"), std::string::npos) << m;
  EXPECT_NE(errorOf([&] { chooseImage({}, 9, 0, {"cpu"}); }).find("plan targets: cpu; images: none"),
            std::string::npos);
}

// ---- graph buckets and KV sizing ----

TEST(CudaGraphs, Buckets) {
  EXPECT_EQ(graphBuckets(1), (std::vector<int>{1}));
  EXPECT_EQ(graphBuckets(4), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(graphBuckets(6), (std::vector<int>{1, 2, 4, 6}));
  EXPECT_EQ(graphBuckets(256).back(), 256);
  EXPECT_EQ(graphBuckets(256).size(), 9u);
  const auto b = graphBuckets(48);
  EXPECT_EQ(bucketFor(b, 1), 1);
  EXPECT_EQ(bucketFor(b, 3), 4);
  EXPECT_EQ(bucketFor(b, 33), 48);
  EXPECT_EQ(bucketFor(b, 48), 48);
  EXPECT_EQ(bucketFor(b, 49), -1);
}

TEST(CudaKvSizing, FreeMemoryTimesFractionMinusTheRest) {
  KvBudget b;
  b.freeBytes = size_t(10) << 30;
  b.fraction = 0.9;
  b.weightBytes = size_t(2) << 30;
  b.arenaBytes = size_t(1) << 30;
  b.scratchBytes = 0;
  b.blockBytes = size_t(2) << 20;
  // 9 GiB - 3 GiB = 6 GiB of 2 MiB blocks.
  EXPECT_EQ(kvBlocksThatFit(b), 3072);
  b.fraction = 0.5;
  EXPECT_EQ(kvBlocksThatFit(b), 1024);
  b.weightBytes = size_t(6) << 30;
  const std::string m = errorOf([&] { kvBlocksThatFit(b); });
  EXPECT_NE(m.find("device memory too small"), std::string::npos) << m;
  EXPECT_NE(m.find("weights 6.00 GiB"), std::string::npos) << m;
  b.fraction = 1.5;
  EXPECT_NE(errorOf([&] { kvBlocksThatFit(b); }).find("--gpu-memory-fraction"), std::string::npos);
}

// ---- the fake driver ----

struct ScaleAddParams {
  const float *x;
  float *y;
  const int *n; // device-side count (metadata updated before replays)
  float s;
};

extern "C" __global__ void ingot_test_scale_add(ScaleAddParams p) {
  const int n = *p.n;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    p.y[i] += p.x[i] * p.s;
}
INGOT_REGISTER_KERNEL(ingot_test_scale_add)

TEST(FakeCudaDriver, LaunchesCapturesAndReplays) {
  FakeCudaDriver fake;
  const CudaDriver &d = *fake.table();
  CUmodule mod;
  ASSERT_EQ(d.cuModuleLoadData(&mod, "fake image"), CUDA_SUCCESS);
  CUfunction f = nullptr;
  ASSERT_EQ(d.cuModuleGetFunction(&f, mod, "ingot_test_scale_add"), CUDA_SUCCESS);
  CUfunction missing = nullptr;
  EXPECT_EQ(d.cuModuleGetFunction(&missing, mod, "ingot_no_such_kernel"), CUDA_ERROR_NOT_FOUND);
  CUstream s;
  ASSERT_EQ(d.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  CUdeviceptr x, y, n;
  ASSERT_EQ(d.cuMemAlloc(&x, 64 * 4), CUDA_SUCCESS);
  ASSERT_EQ(d.cuMemAlloc(&y, 64 * 4), CUDA_SUCCESS);
  ASSERT_EQ(d.cuMemAlloc(&n, 4), CUDA_SUCCESS);
  std::vector<float> hx(64);
  for (int i = 0; i < 64; ++i)
    hx[size_t(i)] = float(i);
  ASSERT_EQ(d.cuMemcpyHtoDAsync(x, hx.data(), 256, s), CUDA_SUCCESS);
  ASSERT_EQ(d.cuMemsetD8Async(y, 0, 256, s), CUDA_SUCCESS);
  int count = 64;
  ASSERT_EQ(d.cuMemcpyHtoDAsync(n, &count, 4, s), CUDA_SUCCESS);
  ScaleAddParams p{reinterpret_cast<const float *>(x), reinterpret_cast<float *>(y),
                   reinterpret_cast<const int *>(n), 2.0f};
  void *args[] = {&p};
  ASSERT_EQ(d.cuLaunchKernel(f, 2, 1, 1, 32, 1, 1, 0, s, args, nullptr), CUDA_SUCCESS);
  std::vector<float> hy(64);
  ASSERT_EQ(d.cuMemcpyDtoHAsync(hy.data(), y, 256, s), CUDA_SUCCESS);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(hy[size_t(i)], 2.0f * float(i));
  ASSERT_EQ(fake.launches.size(), 1u);
  EXPECT_EQ(fake.launches[0].name, "ingot_test_scale_add");
  EXPECT_FALSE(fake.launches[0].fromGraph);

  // Capture: nothing runs; the parameters are copied at capture time.
  ASSERT_EQ(d.cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  p.s = 1.0f;
  ASSERT_EQ(d.cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, s, args, nullptr), CUDA_SUCCESS);
  p.s = 100.0f; // must not affect the captured launch
  CUgraph g;
  ASSERT_EQ(d.cuStreamEndCapture(s, &g), CUDA_SUCCESS);
  EXPECT_EQ(fake.capturedLaunches, 1);
  EXPECT_EQ(fake.launches.size(), 1u);
  CUgraphExec e;
  ASSERT_EQ(d.cuGraphInstantiateWithFlags(&e, g, 0), CUDA_SUCCESS);
  // Replays read device metadata updated in between (here: the count).
  count = 10;
  ASSERT_EQ(d.cuMemcpyHtoDAsync(n, &count, 4, s), CUDA_SUCCESS);
  ASSERT_EQ(d.cuGraphLaunch(e, s), CUDA_SUCCESS);
  ASSERT_EQ(d.cuGraphLaunch(e, s), CUDA_SUCCESS);
  ASSERT_EQ(d.cuMemcpyDtoHAsync(hy.data(), y, 256, s), CUDA_SUCCESS);
  ASSERT_EQ(d.cuStreamSynchronize(s), CUDA_SUCCESS);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(hy[size_t(i)], i < 10 ? 4.0f * float(i) : 2.0f * float(i)) << i;
  EXPECT_EQ(fake.graphLaunches, 2);
  ASSERT_EQ(fake.launches.size(), 3u);
  EXPECT_TRUE(fake.launches[2].fromGraph);
  EXPECT_EQ(d.cuGraphExecDestroy(e), CUDA_SUCCESS);
  EXPECT_EQ(d.cuGraphDestroy(g), CUDA_SUCCESS);
  // Memory accounting and failure injection.
  size_t freeB, total;
  ASSERT_EQ(d.cuMemGetInfo(&freeB, &total), CUDA_SUCCESS);
  EXPECT_EQ(total - freeB, size_t(64 * 4 * 2 + 4));
  for (CUdeviceptr q : {x, y, n})
    EXPECT_EQ(d.cuMemFree(q), CUDA_SUCCESS);
  EXPECT_EQ(fake.liveAllocations(), 0u);
  fake.options().failCall = "cuMemAlloc";
  EXPECT_EQ(d.cuMemAlloc(&x, 16), CUDA_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(d.cuModuleUnload(mod), CUDA_SUCCESS);
}

// ---- device selection ----

struct CudaSelect : ::testing::Test {
  TmpDir dir;
  // A tiny decoder plan (embedding -> rms norm -> logits); `cuda` adds an
  // image and the entry points.
  std::unique_ptr<PlanFile> plan(bool cuda, const std::string &arch = "sm_80") {
    PlanBuilder b;
    b.vocab = 8;
    b.tokenInput = b.input("tokens");
    b.positionInput = b.input("positions");
    const int h = b.act("h", {-1, 4}), n = b.act("n", {-1, 4});
    b.step(fb::OpKind::Embedding, "embed", {b.tokenInput, b.weight("emb", {8, 4}, randVec(32, 1, -1, 1, false))}, {h});
    b.step(fb::OpKind::RmsNorm, "norm", {h, b.weight("g", {4}, {1, 1, 1, 1})}, {n}, {AF("epsilon", 1e-5)});
    b.logitsOutput = b.act("logits", {-2, 8});
    b.step(fb::OpKind::Logits, "lm_head", {n, b.weight("lm", {8, 4}, randVec(32, 2, -1, 1, false))},
           {b.logitsOutput});
    if (cuda) {
      b.kernels.push_back({arch, "cubin", "not a real cubin"});
      b.targets = {arch};
    } else {
      b.targets = {"cpu"};
    }
    return PlanFile::open(b.write(dir.path / (cuda ? "cuda.plan" : "cpu.plan")));
  }
};

TEST_F(CudaSelect, AutoFallsBackWithOneReason) {
  auto pf = plan(false);
  ExecutorOptions o;
  o.device = DeviceKind::Auto;
  std::string note;
  auto ex = createExecutor(*pf, o, &note);
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->description().rfind("cpu", 0), 0u);
  EXPECT_NE(note.find("using the CPU: plan"), std::string::npos) << note;
  EXPECT_NE(note.find("has no CUDA kernels (compiled for cpu"), std::string::npos) << note;
  EXPECT_EQ(note.find('\n'), std::string::npos);
  // --device cuda fails with that reason.
  o.device = DeviceKind::Cuda;
  const std::string m = errorOf([&] { createExecutor(*pf, o); });
  EXPECT_NE(m.find("--device cuda: plan"), std::string::npos) << m;
  // --device cpu says nothing.
  o.device = DeviceKind::Cpu;
  note.clear();
  createExecutor(*pf, o, &note);
  EXPECT_EQ(note, "");
}

TEST_F(CudaSelect, NoLibcudaOrNoDevice) {
  auto pf = plan(true);
  ExecutorOptions o;
  o.device = DeviceKind::Auto;
  std::string note;
  {
    FakeCudaDriver::Options fo;
    fo.initFails = true;
    FakeCudaDriver fake(fo);
    o.cudaDriver = fake.table();
    auto ex = createExecutor(*pf, o, &note);
    EXPECT_EQ(ex->description().rfind("cpu", 0), 0u);
    EXPECT_EQ(note, "using the CPU: no CUDA device found (fake CUDA driver (emulation))");
    o.device = DeviceKind::Cuda;
    EXPECT_EQ(errorOf([&] { createExecutor(*pf, o); }),
              "--device cuda: no CUDA device found (fake CUDA driver (emulation))");
  }
  {
    FakeCudaDriver::Options fo;
    fo.deviceCount = 0;
    FakeCudaDriver fake(fo);
    o.cudaDriver = fake.table();
    o.device = DeviceKind::Auto;
    note.clear();
    createExecutor(*pf, o, &note);
    EXPECT_NE(note.find("no CUDA device found"), std::string::npos) << note;
  }
  // The real loader on this machine: with no libcuda the reason names it.
  o.cudaDriver = nullptr;
  std::string why;
  if (!loadCudaDriver(&why)) {
    note.clear();
    auto ex = createExecutor(*pf, o, &note);
    EXPECT_EQ(ex->description().rfind("cpu", 0), 0u);
    EXPECT_NE(note.find("libcuda.so.1 could not be loaded"), std::string::npos) << note;
  }
}

TEST_F(CudaSelect, WrongArchAndMissingEntryPoints) {
  {
    auto pf = plan(true, "sm_90a");
    FakeCudaDriver fake; // an sm_80 device
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    const std::string m = errorOf([&] { createExecutor(*pf, o); });
    EXPECT_NE(m.find("no CUDA image that runs on this sm_80 device (plan targets: sm_90a"), std::string::npos)
        << m;
    EXPECT_EQ(fake.liveAllocations(), 0u); // nothing leaked on the error path
  }
  {
    auto pf = plan(true, "sm_80");
    FakeCudaDriver fake; // no ingot_embedding_f32 registered in this binary? hide it anyway
    fake.options().hidden.insert("ingot_embedding_f32");
    ExecutorOptions o;
    o.device = DeviceKind::Cuda;
    o.cudaDriver = fake.table();
    const std::string m = errorOf([&] { createExecutor(*pf, o); });
    EXPECT_NE(m.find("step 0 (Embedding \"embed\"): entry point ingot_embedding_f32 is missing from the "
                     "plan's CUDA module (cubin sm_80 (exact match for sm_80))"),
              std::string::npos)
        << m;
    EXPECT_EQ(fake.modulesLoaded, 1);
    EXPECT_EQ(fake.lastImage, "not a real cubin");
  }
}

TEST_F(CudaSelect, CliDeviceOptions) {
  auto pf = plan(false);
  const std::string npy = (dir.path / "x.npy").string();
  auto ingot = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"logits", pf->path(), "--ids", "1,2", "--out", npy};
    args.insert(args.end(), extra.begin(), extra.end());
    return testutil::runTool(INGOT_CLI_PATH, args, dir.path);
  };
  // auto (the default): one line saying why, then the CPU.
  testutil::Cmd r = ingot({});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.rfind("ingot: using the CPU: plan ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = ingot({"--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = ingot({"--device", "cuda", "--gpu-memory-fraction", "0.5", "--no-cuda-graphs"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ingot: error: --device cuda: plan "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has no CUDA kernels"), std::string::npos) << r.err;
  r = ingot({"--device", "gpu"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--device must be cpu, cuda or auto, got \"gpu\""), std::string::npos) << r.err;
  r = ingot({"--gpu-memory-fraction", "1.5"});
  EXPECT_EQ(r.code, 2) << r.err;
}

TEST(CudaSelect2, ParsesDeviceKinds) {
  DeviceKind k;
  ASSERT_TRUE(parseDeviceKind("cuda", k));
  EXPECT_EQ(k, DeviceKind::Cuda);
  ASSERT_TRUE(parseDeviceKind("auto", k));
  EXPECT_EQ(k, DeviceKind::Auto);
  EXPECT_FALSE(parseDeviceKind("gpu", k));
}


// ---- cuBLASLt calls (a recording stand-in for libcublasLt) ----

struct FakeLt {
  struct Layout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
  };
  struct Attrs {
    std::map<int, std::vector<uint8_t>> a;
    int compute = -1, scale = -1;
  };
  std::vector<std::unique_ptr<Layout>> layouts;
  std::vector<std::unique_ptr<Attrs>> descs, prefs;
  int heuristicCalls = 0, matmulCalls = 0;
  bool noAlgorithm = false;
  // The last matmul's operands.
  const void *A = nullptr, *B = nullptr, *C = nullptr;
  void *D = nullptr;
  Layout *Al = nullptr, *Bl = nullptr, *Cl = nullptr, *Dl = nullptr;
  Attrs *desc = nullptr, *heuristicPref = nullptr;
  size_t workspaceBytes = 0;
};
FakeLt *g_lt = nullptr;
int g_ltHandle;

template <class T> T attrAs(const FakeLt::Attrs &x, int id) {
  auto it = x.a.find(id);
  EXPECT_NE(it, x.a.end()) << "attribute " << id << " not set";
  if (it == x.a.end())
    return T{};
  EXPECT_EQ(it->second.size(), sizeof(T)) << "attribute " << id << " size";
  T v{};
  std::memcpy(&v, it->second.data(), std::min(sizeof(T), it->second.size()));
  return v;
}

std::shared_ptr<const CublasLtApi> fakeLtApi() {
  auto api = std::make_shared<CublasLtApi>();
  api->source = "fake cuBLASLt";
  api->cublasLtCreate = [](void **h) { *h = &g_ltHandle; return 0; };
  api->cublasLtDestroy = [](void *) { return 0; };
  api->cublasLtGetStatusName = [](int) -> const char * { return "CUBLAS_STATUS_X"; };
  api->cublasLtGetStatusString = [](int) -> const char * { return "x"; };
  api->cublasLtMatmulDescCreate = [](void **d, int compute, int scale) {
    g_lt->descs.push_back(std::make_unique<FakeLt::Attrs>());
    g_lt->descs.back()->compute = compute;
    g_lt->descs.back()->scale = scale;
    *d = g_lt->descs.back().get();
    return 0;
  };
  api->cublasLtMatmulDescDestroy = [](void *) { return 0; };
  api->cublasLtMatmulDescSetAttribute = [](void *d, int attr, const void *buf, size_t n) {
    auto *b = static_cast<const uint8_t *>(buf);
    static_cast<FakeLt::Attrs *>(d)->a[attr].assign(b, b + n);
    return 0;
  };
  api->cublasLtMatrixLayoutCreate = [](void **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    g_lt->layouts.push_back(std::make_unique<FakeLt::Layout>(FakeLt::Layout{type, rows, cols, ld}));
    *l = g_lt->layouts.back().get();
    return 0;
  };
  api->cublasLtMatrixLayoutDestroy = [](void *) { return 0; };
  api->cublasLtMatmulPreferenceCreate = [](void **p) {
    g_lt->prefs.push_back(std::make_unique<FakeLt::Attrs>());
    *p = g_lt->prefs.back().get();
    return 0;
  };
  api->cublasLtMatmulPreferenceDestroy = [](void *) { return 0; };
  api->cublasLtMatmulPreferenceSetAttribute = [](void *p, int attr, const void *buf, size_t n) {
    auto *b = static_cast<const uint8_t *>(buf);
    static_cast<FakeLt::Attrs *>(p)->a[attr].assign(b, b + n);
    return 0;
  };
  api->cublasLtMatmulAlgoGetHeuristic = [](void *, void *, void *, void *, void *, void *, void *pref,
                                           int requested, LtHeuristicResult *r, int *returned) {
    ++g_lt->heuristicCalls;
    g_lt->heuristicPref = static_cast<FakeLt::Attrs *>(pref);
    EXPECT_GE(requested, 1);
    *returned = g_lt->noAlgorithm ? 0 : 1;
    r->state = 0;
    r->algo.data[0] = 42;
    return 0;
  };
  api->cublasLtMatmul = [](void *, void *desc, const void *alpha, const void *A, void *Al, const void *B,
                           void *Bl, const void *beta, const void *C, void *Cl, void *D, void *Dl,
                           const LtAlgo *algo, void *, size_t ws, CUstream) {
    ++g_lt->matmulCalls;
    EXPECT_EQ(*static_cast<const float *>(alpha), 1.0f);
    EXPECT_EQ(*static_cast<const float *>(beta), 0.0f);
    EXPECT_EQ(algo->data[0], 42u);
    g_lt->desc = static_cast<FakeLt::Attrs *>(desc);
    g_lt->A = A;
    g_lt->B = B;
    g_lt->C = C;
    g_lt->D = D;
    g_lt->Al = static_cast<FakeLt::Layout *>(Al);
    g_lt->Bl = static_cast<FakeLt::Layout *>(Bl);
    g_lt->Cl = static_cast<FakeLt::Layout *>(Cl);
    g_lt->Dl = static_cast<FakeLt::Layout *>(Dl);
    g_lt->workspaceBytes = ws;
    return 0;
  };
  return api;
}

// Row-major C[m,n] = A[m,k] . W[n,k]^T as cuBLASLt's column-major
// D[n,m] = op_T(W) . A, with the attribute ids, value types and layouts of
// cublasLt.h; algorithms chosen for 16-byte alignment; no heuristic query
// when planning is not allowed (stream capture).
TEST(CudaLt, LayoutsAttributesAndCapture) {
  FakeLt lt;
  g_lt = &lt;
  {
    LtGemm g(fakeLtApi(), CUdeviceptr(0x10000), size_t(32) << 20);
    const CUdeviceptr a = 0x100020, w = 0x200000, bias = 0x300000, c = 0x400030;
    ASSERT_TRUE(g.gemm(DType::BF16, false, LtEpilogue::GeluTanh, a, w, bias, c, 3, 5, 8, nullptr, "t"));
    EXPECT_EQ(lt.heuristicCalls, 1);
    ASSERT_EQ(lt.matmulCalls, 1);
    // Operand A of cuBLASLt is W (k x n, ld k, transposed), B the activations.
    EXPECT_EQ(lt.A, reinterpret_cast<const void *>(w));
    EXPECT_EQ(lt.B, reinterpret_cast<const void *>(a));
    EXPECT_EQ(lt.C, reinterpret_cast<const void *>(c));
    EXPECT_EQ(lt.D, reinterpret_cast<void *>(c));
    auto layoutIs = [](const FakeLt::Layout *l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
      ASSERT_NE(l, nullptr);
      EXPECT_EQ(l->type, type);
      EXPECT_EQ(l->rows, rows);
      EXPECT_EQ(l->cols, cols);
      EXPECT_EQ(l->ld, ld);
    };
    layoutIs(lt.Al, 14, 8, 5, 8); // CUDA_R_16BF
    layoutIs(lt.Bl, 14, 8, 3, 8);
    layoutIs(lt.Cl, 14, 5, 3, 5);
    layoutIs(lt.Dl, 14, 5, 3, 5);
    const FakeLt::Attrs &d = *lt.desc;
    EXPECT_EQ(d.compute, 68); // CUBLAS_COMPUTE_32F
    EXPECT_EQ(d.scale, 0);    // CUDA_R_32F
    EXPECT_EQ(attrAs<int32_t>(d, 3), 1);     // TRANSA = CUBLAS_OP_T
    EXPECT_EQ(attrAs<int32_t>(d, 4), 0);     // TRANSB = CUBLAS_OP_N
    EXPECT_EQ(attrAs<uint32_t>(d, 7), 36u);  // EPILOGUE = GELU_BIAS
    EXPECT_EQ(attrAs<int32_t>(d, 26), 14);   // BIAS_DATA_TYPE = bf16 (= D's type)
    EXPECT_EQ(attrAs<const void *>(d, 8), reinterpret_cast<const void *>(bias)); // BIAS_POINTER
    const FakeLt::Attrs &p = *lt.heuristicPref;
    EXPECT_EQ(attrAs<uint64_t>(p, 1), uint64_t(32) << 20); // MAX_WORKSPACE_BYTES
    for (int id : {5, 6, 7, 8})                             // MIN_ALIGNMENT_{A,B,C,D}_BYTES
      EXPECT_EQ(attrAs<uint32_t>(p, id), uint32_t(kLtMinAlign)) << id;
    EXPECT_EQ(lt.workspaceBytes, size_t(32) << 20);
    // Cached: no second heuristic query.
    ASSERT_TRUE(g.gemm(DType::BF16, false, LtEpilogue::GeluTanh, a, w, bias, c, 3, 5, 8, nullptr, "t"));
    EXPECT_EQ(lt.heuristicCalls, 1);
    // During capture an unprepared shape falls back without a query; a
    // prepared one runs.
    EXPECT_FALSE(g.gemm(DType::BF16, false, LtEpilogue::None, a, w, 0, c, 4, 5, 8, nullptr, "t", false));
    EXPECT_EQ(lt.heuristicCalls, 1);
    EXPECT_TRUE(g.prepare(DType::BF16, false, LtEpilogue::None, false, 4, 5, 8));
    EXPECT_EQ(lt.heuristicCalls, 2);
    EXPECT_TRUE(g.gemm(DType::BF16, false, LtEpilogue::None, a, w, 0, c, 4, 5, 8, nullptr, "t", false));
    EXPECT_EQ(lt.heuristicCalls, 2);
    EXPECT_EQ(attrAs<uint32_t>(*lt.desc, 7), 1u); // EPILOGUE_DEFAULT
    // A pointer below the alignment the algorithm was chosen for: fall back.
    const int before = lt.matmulCalls;
    EXPECT_FALSE(g.gemm(DType::BF16, false, LtEpilogue::None, a + 8, w, 0, c, 4, 5, 8, nullptr, "t"));
    EXPECT_FALSE(g.gemm(DType::BF16, false, LtEpilogue::None, a, w, 0, c + 2, 4, 5, 8, nullptr, "t"));
    EXPECT_EQ(lt.matmulCalls, before);
    // f32 logits from bf16 rows: D is CUDA_R_32F.
    ASSERT_TRUE(g.gemm(DType::BF16, true, LtEpilogue::None, a, w, 0, c, 2, 5, 8, nullptr, "t"));
    layoutIs(lt.Dl, 0, 5, 2, 5);
    layoutIs(lt.Al, 14, 8, 5, 8);
    // GELU-erf (cuBLASLt has only the tanh form) and no algorithm: fall back.
    EXPECT_FALSE(g.gemm(DType::BF16, false, LtEpilogue::GeluErf, a, w, 0, c, 2, 5, 8, nullptr, "t"));
    lt.noAlgorithm = true;
    EXPECT_FALSE(g.gemm(DType::F32, false, LtEpilogue::None, a, w, 0, c, 2, 5, 8, nullptr, "t"));
  }
  g_lt = nullptr;
}

} // namespace
