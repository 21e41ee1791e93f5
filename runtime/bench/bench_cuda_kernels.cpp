// ingot_bench_cuda_kernels: checks and times single CUDA kernels of
// runtime/cuda/kernels on a GPU, for the device runs
// (scripts/device/check_and_bench.py, docs/device-runs.md).
//
//   ingot_bench_cuda_kernels --spec SPEC.json [--out-dir DIR] [--dry-run] [--only NAME]
//   ingot_bench_cuda_kernels --list
//
// No CUDA header and no CUDA library at build time: the driver API comes
// from the executor's dlopen'ed table (runtime/src/cuda/cuda_driver.h), and
// every kernel is launched through its family's parameter struct and launch
// geometry function (runtime/cuda/kernels/<family>_abi.h), exactly as the
// executor launches it (docs/dev/cuda-abi.md).
//
// SPEC.json:
//   {"images": {"sm_90a": "k.sm_90a.cubin", "sm_90": "...", "compute_90": "k.compute_90.ptx"},
//    "cases": [{
//      "name": "rms_norm_bf16_16384x4096",
//      "inputs": "case.safetensors",            // each tensor becomes a device buffer of that name
//      "buffers": {"out": {"dtype": "bf16", "shape": [16384, 4096], "init": "poison"}},
//      "launches": [{"kernel": "ingot_rms_norm_bf16",
//                    "params": {"x": "x", "gamma": "gamma", "out": "out",
//                               "rows": 16384, "cols": 4096, "eps": 1e-6}}],
//      "outputs": ["out"],                      // -> DIR/<name>.safetensors after the check run
//      "warmup": 3, "iters": 20, "repeats": 5,  // timing: repeats x (events around iters runs)
//      "rotate": 1,                             // >1: that many copies of every buffer, used in turn
//      "graph": false,                          // time replays of a CUDA graph of the iters runs
//      "bytes": 0, "flops": 0}]}                // for GB/s and TFLOP/s in the report
// Parameter values: a string names a buffer (its device address), null is a
// null pointer, numbers fill int / long long / float / unsigned long long
// fields; fields not given are zero; unknown names are errors. Buffers
// "init": "poison" (0xFF bytes: NaN in f32/bf16/f16, -1 in ints; the
// default, so unwritten outputs show), "zero", or "none".
// A "run" is the case's launches in order; the check run (on copy 0) comes
// first, its outputs are read back, then warmup runs and the timed ones.
//
// Output: one JSON object per line on stdout: first {"device": ...}, then one
// per case: {"name", "ok", "error"?, "launches": [{kernel, grid, block,
// shmem}], "ms_median", "ms_min", "ms_all", "gbps", "tflops", "outputs"}.
// A failing case is reported and the next one runs, unless the failure left
// the CUDA context unusable (a launch error), which ends the run. Exit
// status: 0 when every case passed, 1 otherwise, 2 for usage errors.
//
// --dry-run needs no GPU and no driver: it reads the spec and inputs, binds
// every parameter (buffers get fake addresses), computes the launch
// geometry and prints the same per-case lines without timings; the
// scripts' CPU dry run uses it to check that what they write matches the
// structs.
//
// Adding a kernel family: include its _abi.h under __has_include below and
// add one FamilySpec to kFamilies (name prefixes, the struct's fields, the
// launch geometry call).
#include "cuda/cuda_driver.h"

#include "cuda/kernels/abi.h"
#if __has_include("cuda/kernels/norm_abi.h")
#include "cuda/kernels/norm_abi.h"
#define INGOT_BENCH_HAVE_NORM 1
#endif
#if __has_include("cuda/kernels/act_abi.h")
#include "cuda/kernels/act_abi.h"
#define INGOT_BENCH_HAVE_ACT 1
#endif
#if __has_include("cuda/kernels/softmax_abi.h")
#include "cuda/kernels/softmax_abi.h"
#define INGOT_BENCH_HAVE_SOFTMAX 1
#endif
#if __has_include("cuda/kernels/embedding_abi.h")
#include "cuda/kernels/embedding_abi.h"
#define INGOT_BENCH_HAVE_EMBEDDING 1
#endif
#if __has_include("cuda/kernels/rope_abi.h")
#include "cuda/kernels/rope_abi.h"
#define INGOT_BENCH_HAVE_ROPE 1
#endif
#if __has_include("cuda/kernels/attention_abi.h")
#include "cuda/kernels/attention_abi.h"
#define INGOT_BENCH_HAVE_ATTENTION 1
#endif
#if __has_include("cuda/kernels/gemm_abi.h")
#include "cuda/kernels/gemm_abi.h"
#define INGOT_BENCH_HAVE_GEMM 1
#endif

#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/safetensors.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using json = nlohmann::json;
using namespace ingot;
using namespace ingot::cuda;

// ---------------------------------------------------------------------------
// Kernel families: the parameter struct's fields and the launch geometry.

enum class FieldKind { Ptr, I32, I64, U64, F32 };

struct Field {
  const char *name;
  size_t offset;
  FieldKind kind;
};

template <class T> constexpr FieldKind fieldKind() {
  if constexpr (std::is_pointer_v<T>)
    return FieldKind::Ptr;
  else if constexpr (std::is_same_v<T, int>)
    return FieldKind::I32;
  else if constexpr (std::is_same_v<T, long long>)
    return FieldKind::I64;
  else if constexpr (std::is_same_v<T, unsigned long long>)
    return FieldKind::U64;
  else {
    static_assert(std::is_same_v<T, float>, "ABI structs hold pointers, int, long long, "
                                            "unsigned long long and float only");
    return FieldKind::F32;
  }
}

#define INGOT_FIELD(S, f) Field{#f, offsetof(S, f), fieldKind<decltype(S::f)>()}

// What the kernel's name says (docs/dev/cuda-abi.md: ingot_<family>_<TN>[_d<D>][_g<G>]).
struct KernelName {
  std::string name;
  int elemBytes = 0; // sizeof(T) of the _f32/_bf16/_f16 suffix
  int headDim = 0;   // _d<D>
  int group = 0;     // _g<G>
};

KernelName parseKernelName(const std::string &name) {
  KernelName k;
  k.name = name;
  std::smatch m;
  static const std::regex tn("_(f32|bf16|f16)(_|$)");
  if (std::regex_search(name, m, tn))
    k.elemBytes = m[1] == "f32" ? 4 : 2;
  static const std::regex d("_d([0-9]+)(_|$)");
  if (std::regex_search(name, m, d))
    k.headDim = std::stoi(m[1]);
  static const std::regex g("_g([0-9]+)(_|$)");
  if (std::regex_search(name, m, g))
    k.group = std::stoi(m[1]);
  return k;
}

struct FamilySpec {
  const char *family;
  std::vector<std::string> prefixes; // entry points "<prefix>..." belong to this family
  size_t size;                       // sizeof the params struct
  std::vector<Field> fields;
  // Launch geometry from the filled struct (through the family's _abi.h).
  std::function<KernelLaunch(const void *params, const KernelName &k)> launch;
};

int needElem(const KernelName &k) {
  INGOT_CHECK(k.elemBytes > 0, "kernel " + k.name + ": no _f32/_bf16/_f16 in the name");
  return k.elemBytes;
}
int needD(const KernelName &k) {
  INGOT_CHECK(k.headDim > 0, "kernel " + k.name + ": no _d<HEAD_DIM> in the name");
  return k.headDim;
}
int needG(const KernelName &k) {
  INGOT_CHECK(k.group > 0, "kernel " + k.name + ": no _g<GROUP> in the name");
  return k.group;
}

template <class P>
FamilySpec family(const char *name, std::vector<std::string> prefixes, std::vector<Field> fields,
                  std::function<KernelLaunch(const P &, const KernelName &)> launch) {
  static_assert(std::is_standard_layout_v<P> && std::is_trivially_copyable_v<P>,
                "ABI structs are plain standard-layout structs");
  FamilySpec f;
  f.family = name;
  f.prefixes = std::move(prefixes);
  f.size = sizeof(P);
  f.fields = std::move(fields);
  f.launch = [launch](const void *p, const KernelName &k) {
    P params;
    std::memcpy(&params, p, sizeof(P));
    return launch(params, k);
  };
  return f;
}

std::vector<FamilySpec> makeFamilies() {
  std::vector<FamilySpec> fs;
#ifdef INGOT_BENCH_HAVE_NORM
  using NP = IngotNormParams;
  fs.push_back(family<NP>(
      "norm", {"ingot_rms_norm_", "ingot_add_rms_norm_", "ingot_layer_norm_", "ingot_add_layer_norm_"},
      {INGOT_FIELD(NP, x), INGOT_FIELD(NP, residual), INGOT_FIELD(NP, gamma), INGOT_FIELD(NP, beta),
       INGOT_FIELD(NP, out), INGOT_FIELD(NP, sum), INGOT_FIELD(NP, rows), INGOT_FIELD(NP, cols),
       INGOT_FIELD(NP, eps)},
      [](const NP &p, const KernelName &k) { return ingot_norm_launch(p, needElem(k)); }));
#endif
#ifdef INGOT_BENCH_HAVE_ACT
  using AP = IngotActMulParams;
  fs.push_back(family<AP>(
      "act", {"ingot_silu_mul_", "ingot_gelu_mul_"},
      {INGOT_FIELD(AP, gate), INGOT_FIELD(AP, up), INGOT_FIELD(AP, out), INGOT_FIELD(AP, n),
       INGOT_FIELD(AP, tanh_approx)},
      [](const AP &p, const KernelName &k) { return ingot_act_launch(p, needElem(k)); }));
#endif
#ifdef INGOT_BENCH_HAVE_SOFTMAX
  using SP = IngotSoftmaxParams;
  fs.push_back(family<SP>(
      "softmax", {"ingot_softmax_"},
      {INGOT_FIELD(SP, x), INGOT_FIELD(SP, out), INGOT_FIELD(SP, rows), INGOT_FIELD(SP, cols)},
      [](const SP &p, const KernelName &k) { return ingot_softmax_launch(p, needElem(k)); }));
#endif
#ifdef INGOT_BENCH_HAVE_EMBEDDING
  using EP = IngotEmbeddingParams;
  fs.push_back(family<EP>(
      "embedding", {"ingot_embedding_"},
      {INGOT_FIELD(EP, ids), INGOT_FIELD(EP, table), INGOT_FIELD(EP, out), INGOT_FIELD(EP, rows),
       INGOT_FIELD(EP, hidden), INGOT_FIELD(EP, vocab)},
      [](const EP &p, const KernelName &k) { return ingot_embedding_launch(p, needElem(k)); }));
  using GP = IngotGatherRowsParams;
  fs.push_back(family<GP>(
      "gather_rows", {"ingot_gather_rows_"},
      {INGOT_FIELD(GP, x), INGOT_FIELD(GP, out), INGOT_FIELD(GP, rows_idx), INGOT_FIELD(GP, n),
       INGOT_FIELD(GP, cols), INGOT_FIELD(GP, x_rows), INGOT_FIELD(GP, out_f32),
       INGOT_FIELD(GP, last_of_query_start)},
      [](const GP &p, const KernelName &k) { return ingot_gather_rows_launch(p, needElem(k)); }));
  using CP = IngotCastParams;
  fs.push_back(family<CP>("cast", {"ingot_cast_"},
                          {INGOT_FIELD(CP, x), INGOT_FIELD(CP, out), INGOT_FIELD(CP, n)},
                          [](const CP &p, const KernelName &) { return ingot_cast_launch(p); }));
#endif
#ifdef INGOT_BENCH_HAVE_ROPE
  using RP = IngotRopeParams;
  fs.push_back(family<RP>(
      "rope", {"ingot_rope_"},
      {INGOT_FIELD(RP, x), INGOT_FIELD(RP, positions), INGOT_FIELD(RP, inv_freq), INGOT_FIELD(RP, tokens),
       INGOT_FIELD(RP, num_heads), INGOT_FIELD(RP, rotary_dim), INGOT_FIELD(RP, neox),
       INGOT_FIELD(RP, attn_scale)},
      [](const RP &p, const KernelName &k) { return ingot_rope_launch(p, needD(k), needElem(k)); }));
  using RK = IngotRopeKvParams;
  fs.push_back(family<RK>(
      "rope_kv_append", {"ingot_rope_kv_append_"},
      {INGOT_FIELD(RK, q), INGOT_FIELD(RK, k), INGOT_FIELD(RK, v), INGOT_FIELD(RK, k_cache),
       INGOT_FIELD(RK, v_cache), INGOT_FIELD(RK, positions), INGOT_FIELD(RK, slot_mapping),
       INGOT_FIELD(RK, inv_freq), INGOT_FIELD(RK, tokens), INGOT_FIELD(RK, num_heads),
       INGOT_FIELD(RK, num_kv_heads), INGOT_FIELD(RK, rotary_dim), INGOT_FIELD(RK, neox),
       INGOT_FIELD(RK, block_size), INGOT_FIELD(RK, apply_rope), INGOT_FIELD(RK, attn_scale)},
      [](const RK &p, const KernelName &k) {
        return ingot_rope_kv_append_launch(p, needD(k), needElem(k));
      }));
#endif
#ifdef INGOT_BENCH_HAVE_ATTENTION
  using AT = IngotAttnParams;
  const std::vector<Field> attnFields = {
      INGOT_FIELD(AT, q),           INGOT_FIELD(AT, k_cache),        INGOT_FIELD(AT, v_cache),
      INGOT_FIELD(AT, out),         INGOT_FIELD(AT, block_tables),   INGOT_FIELD(AT, query_start),
      INGOT_FIELD(AT, context_lens), INGOT_FIELD(AT, partial_out),   INGOT_FIELD(AT, partial_lse),
      INGOT_FIELD(AT, num_tokens),  INGOT_FIELD(AT, num_seqs),       INGOT_FIELD(AT, num_heads),
      INGOT_FIELD(AT, num_kv_heads), INGOT_FIELD(AT, block_size),    INGOT_FIELD(AT, max_blocks_per_seq),
      INGOT_FIELD(AT, max_query_len), INGOT_FIELD(AT, split_tokens), INGOT_FIELD(AT, max_splits),
      INGOT_FIELD(AT, sliding_window), INGOT_FIELD(AT, scale),       INGOT_FIELD(AT, softcap)};
  // Longest prefix wins, so the combine and mma entry points are told apart.
  fs.push_back(family<AT>("attn_decode_combine", {"ingot_attn_decode_combine_"}, attnFields,
                          [](const AT &p, const KernelName &) {
                            return ingot_attn_decode_combine_launch(p);
                          }));
  fs.push_back(family<AT>("attn_decode", {"ingot_attn_decode_"}, attnFields,
                          [](const AT &p, const KernelName &k) {
                            return ingot_attn_decode_launch(p, needG(k), needD(k));
                          }));
  fs.push_back(family<AT>("attn_prefill_mma", {"ingot_attn_prefill_mma_"}, attnFields,
                          [](const AT &p, const KernelName &k) {
                            return ingot_attn_prefill_launch(p, needG(k), true, needD(k));
                          }));
  fs.push_back(family<AT>("attn_prefill", {"ingot_attn_prefill_"}, attnFields,
                          [](const AT &p, const KernelName &k) {
                            return ingot_attn_prefill_launch(p, needG(k), false, needD(k));
                          }));
#endif
#ifdef INGOT_BENCH_HAVE_GEMM
  using GM = IngotGemmParams;
  fs.push_back(family<GM>(
      "gemm", {"ingot_gemm_"},
      {INGOT_FIELD(GM, a), INGOT_FIELD(GM, w), INGOT_FIELD(GM, bias), INGOT_FIELD(GM, c),
       INGOT_FIELD(GM, m), INGOT_FIELD(GM, n), INGOT_FIELD(GM, k), INGOT_FIELD(GM, lda),
       INGOT_FIELD(GM, ldw), INGOT_FIELD(GM, ldc), INGOT_FIELD(GM, c_f32), INGOT_FIELD(GM, epilogue)},
      [](const GM &p, const KernelName &) { return ingot_gemm_launch(p); }));
#endif
  return fs;
}

const std::vector<FamilySpec> &families() {
  static const std::vector<FamilySpec> fs = makeFamilies();
  return fs;
}

const FamilySpec &familyOf(const std::string &kernel) {
  const FamilySpec *best = nullptr;
  size_t bestLen = 0;
  for (const auto &f : families())
    for (const auto &p : f.prefixes)
      if (kernel.compare(0, p.size(), p) == 0 && p.size() > bestLen) {
        best = &f;
        bestLen = p.size();
      }
  if (!best) {
    std::string known;
    for (const auto &f : families())
      known += std::string(known.empty() ? "" : ", ") + f.family;
    throw Error("kernel " + kernel + ": no kernel family of this build matches its name (built with: " +
                (known.empty() ? std::string("none") : known) +
                "; a family is compiled in when its runtime/cuda/kernels/<family>_abi.h exists)");
  }
  return *best;
}

const char *kindName(FieldKind k) {
  switch (k) {
  case FieldKind::Ptr: return "ptr";
  case FieldKind::I32: return "int";
  case FieldKind::I64: return "long long";
  case FieldKind::U64: return "unsigned long long";
  case FieldKind::F32: return "float";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Device access: the real driver, or nothing (--dry-run).

struct Buffer {
  DType dtype = DType::U8;
  std::vector<int64_t> shape;
  size_t bytes = 0;
  std::string init = "poison";
  const TensorView *input = nullptr; // from the inputs file
  std::vector<CUdeviceptr> copies;   // one per rotation slot
};

class Device {
public:
  // Dry run: no driver, fake addresses.
  Device() = default;
  explicit Device(std::shared_ptr<const CudaDriver> drv) : drv_(std::move(drv)) {
    const CudaDriver &d = *drv_;
    INGOT_CU(d, cuInit, (0), "initialising the driver");
    int count = 0;
    INGOT_CU(d, cuDeviceGetCount, (&count), "counting devices");
    INGOT_CHECK(count > 0, "no CUDA device");
    INGOT_CU(d, cuDeviceGet, (&dev_, 0), "opening device 0");
    INGOT_CU(d, cuDevicePrimaryCtxRetain, (&ctx_, dev_), "creating the context");
    INGOT_CU(d, cuCtxSetCurrent, (ctx_), "making the context current");
    INGOT_CU(d, cuStreamCreate, (&stream_, CU_STREAM_NON_BLOCKING), "creating a stream");
    INGOT_CU(d, cuEventCreate, (&ev0_, CU_EVENT_DEFAULT), "creating an event");
    INGOT_CU(d, cuEventCreate, (&ev1_, CU_EVENT_DEFAULT), "creating an event");
  }
  ~Device() {
    if (!drv_)
      return;
    for (CUdeviceptr p : allocs_)
      drv_->cuMemFree(p);
    if (module_)
      drv_->cuModuleUnload(module_);
    drv_->cuEventDestroy(ev0_);
    drv_->cuEventDestroy(ev1_);
    drv_->cuStreamDestroy(stream_);
    drv_->cuDevicePrimaryCtxRelease(dev_);
  }
  bool real() const { return drv_ != nullptr; }
  const CudaDriver &drv() const { return *drv_; }
  CUstream stream() const { return stream_; }

  json info() const {
    if (!drv_)
      return {{"dry_run", true}};
    char name[256] = {0};
    drv_->cuDeviceGetName(name, sizeof(name) - 1, dev_);
    int version = 0;
    drv_->cuDriverGetVersion(&version);
    return {{"name", name},
            {"arch", arch()},
            {"sms", attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)},
            {"smem_optin", attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)},
            {"driver_version", version},
            {"driver", drv_->source}};
  }
  int attr(int a) const {
    int v = 0;
    INGOT_CU(*drv_, cuDeviceGetAttribute, (&v, a, dev_), "reading a device attribute");
    return v;
  }
  std::pair<int, int> cc() const {
    return {attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)};
  }
  std::string arch() const {
    auto [ma, mi] = cc();
    return "sm_" + std::to_string(ma) + std::to_string(mi);
  }

  CUdeviceptr alloc(size_t bytes, const std::string &what) {
    bytes = std::max<size_t>(bytes, 16);
    if (!drv_) {
      const CUdeviceptr p = fakeNext_;
      fakeNext_ += (bytes + 255) / 256 * 256;
      return p;
    }
    CUdeviceptr p = 0;
    INGOT_CU(*drv_, cuMemAlloc, (&p, bytes), "allocating " + std::to_string(bytes) + " bytes for " + what);
    allocs_.push_back(p);
    return p;
  }
  void freeAll() {
    if (drv_)
      for (CUdeviceptr p : allocs_)
        drv_->cuMemFree(p);
    allocs_.clear();
  }

  // Module: the image for this device (docs/dev/cuda-abi.md "Image choice").
  std::string loadModule(const json &images, const std::string &specDir) {
    INGOT_CHECK(images.is_object() && !images.empty(), "spec: \"images\" must map arch -> file");
    if (!drv_)
      return "(dry run)";
    auto [ma, mi] = cc();
    std::vector<std::string> order = {"sm_" + std::to_string(ma) + std::to_string(mi) + "a",
                                      "sm_" + std::to_string(ma) + std::to_string(mi)};
    for (int m = mi - 1; m >= 0; --m)
      order.push_back("sm_" + std::to_string(ma) + std::to_string(m));
    for (int m = mi; m >= 0; --m)
      order.push_back("compute_" + std::to_string(ma) + std::to_string(m));
    for (int M = ma - 1; M >= 5; --M)
      for (int m = 9; m >= 0; --m)
        order.push_back("compute_" + std::to_string(M) + std::to_string(m));
    for (const auto &a : order) {
      if (!images.contains(a))
        continue;
      std::string path = images[a].get<std::string>();
      if (!path.empty() && path[0] != '/')
        path = specDir + "/" + path;
      std::ifstream f(path, std::ios::binary);
      INGOT_CHECK(f.good(), "cannot read the " + a + " image " + path);
      std::stringstream ss;
      ss << f.rdbuf();
      image_ = ss.str(); // PTX must be NUL-terminated: std::string is
      INGOT_CU(*drv_, cuModuleLoadData, (&module_, image_.c_str()), "loading " + path);
      return a + " (" + path + ")";
    }
    std::string have;
    for (auto it = images.begin(); it != images.end(); ++it)
      have += " " + it.key();
    throw Error("no image for device arch " + arch() + " among:" + have);
  }
  CUfunction function(const std::string &name) {
    if (!drv_)
      return nullptr;
    auto it = funcs_.find(name);
    if (it != funcs_.end())
      return it->second;
    CUfunction f = nullptr;
    const CUresult r = drv_->cuModuleGetFunction(&f, module_, name.c_str());
    INGOT_CHECK(r == CUDA_SUCCESS, "kernel " + name + " is not in the module (" +
                                       cudaErrorMessage(*drv_, r, "cuModuleGetFunction", "looking it up") +
                                       ")");
    funcs_[name] = f;
    return f;
  }

private:
  std::shared_ptr<const CudaDriver> drv_;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  CUstream stream_ = nullptr;
  CUevent ev0_ = nullptr, ev1_ = nullptr;
  CUmodule module_ = nullptr;
  std::string image_;
  std::map<std::string, CUfunction> funcs_;
  std::vector<CUdeviceptr> allocs_;
  CUdeviceptr fakeNext_ = 0x700000000000ull;

public:
  CUevent ev0() const { return ev0_; }
  CUevent ev1() const { return ev1_; }
};

// ---------------------------------------------------------------------------
// One case.

struct Launch {
  std::string kernel;
  KernelName name;
  const FamilySpec *fam = nullptr;
  std::vector<std::vector<unsigned char>> params; // one filled struct per rotation slot
  KernelLaunch geom{};
  CUfunction func = nullptr;
};

size_t numelOf(const std::vector<int64_t> &shape) {
  size_t n = 1;
  for (int64_t d : shape) {
    INGOT_CHECK(d >= 0, "negative dimension");
    n *= size_t(d);
  }
  return n;
}

void fillField(unsigned char *base, const Field &f, const json &v, const std::map<std::string, Buffer> &bufs,
               int slot, const std::string &where) {
  unsigned char *dst = base + f.offset;
  const std::string what = where + " field " + f.name;
  if (f.kind == FieldKind::Ptr) {
    CUdeviceptr p = 0;
    if (v.is_string()) {
      auto it = bufs.find(v.get<std::string>());
      INGOT_CHECK(it != bufs.end(), what + ": no buffer named \"" + v.get<std::string>() + "\"");
      p = it->second.copies[size_t(slot)];
    } else {
      INGOT_CHECK(v.is_null(), what + ": a pointer field takes a buffer name or null");
    }
    std::memcpy(dst, &p, sizeof(p));
    return;
  }
  INGOT_CHECK(v.is_number() || v.is_boolean(), what + " (" + kindName(f.kind) + ") needs a number, got " + v.dump());
  switch (f.kind) {
  case FieldKind::I32: {
    INGOT_CHECK(!v.is_number_float(), what + ": int field given " + v.dump());
    const long long x = v.is_boolean() ? (long long)v.get<bool>() : v.get<long long>();
    INGOT_CHECK(x >= INT32_MIN && x <= INT32_MAX, what + ": " + v.dump() + " does not fit in int");
    const int i = int(x);
    std::memcpy(dst, &i, sizeof(i));
    break;
  }
  case FieldKind::I64: {
    INGOT_CHECK(!v.is_number_float(), what + ": long long field given " + v.dump());
    const long long x = v.get<long long>();
    std::memcpy(dst, &x, sizeof(x));
    break;
  }
  case FieldKind::U64: {
    INGOT_CHECK(!v.is_number_float(), what + ": unsigned long long field given " + v.dump());
    const unsigned long long x = v.get<unsigned long long>();
    std::memcpy(dst, &x, sizeof(x));
    break;
  }
  case FieldKind::F32: {
    const float x = v.get<float>();
    std::memcpy(dst, &x, sizeof(x));
    break;
  }
  case FieldKind::Ptr: break;
  }
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct CaseResult {
  json j;
  bool contextBroken = false;
};

class CaseRunner {
public:
  CaseRunner(Device &dev, const json &c, const std::string &specDir, const std::string &outDir)
      : dev_(dev), c_(c), specDir_(specDir), outDir_(outDir) {}

  void run(json &out) {
    name_ = c_.value("name", std::string());
    INGOT_CHECK(!name_.empty(), "a case has no \"name\"");
    out["name"] = name_;
    const int rotate = c_.value("rotate", 1);
    INGOT_CHECK(rotate >= 1 && rotate <= 1024, name_ + ": rotate must be 1..1024");
    setupBuffers(rotate);
    setupLaunches(rotate);
    json ls = json::array();
    for (const auto &l : launches_)
      ls.push_back({{"kernel", l.kernel},
                    {"family", l.fam->family},
                    {"grid", {l.geom.grid[0], l.geom.grid[1], l.geom.grid[2]}},
                    {"block", {l.geom.block[0], l.geom.block[1], l.geom.block[2]}},
                    {"shmem", l.geom.shmem}});
    out["launches"] = ls;
    out["rotate"] = rotate;
    if (!dev_.real()) {
      out["ok"] = true;
      out["dry_run"] = true;
      return;
    }
    for (auto &l : launches_)
      l.func = dev_.function(l.kernel);
    setAttributes();
    checkRun(out);
    time(out, rotate);
    out["ok"] = true;
  }

  bool launchFailed() const { return launchFailed_; }

private:
  void setupBuffers(int rotate) {
    if (c_.contains("inputs") && !c_["inputs"].is_null()) {
      std::string path = c_["inputs"].get<std::string>();
      if (!path.empty() && path[0] != '/')
        path = specDir_ + "/" + path;
      inputs_ = SafetensorsFile::open(path);
      for (const auto &kv : inputs_->tensors()) {
        Buffer b;
        b.dtype = kv.second.dtype;
        b.shape = kv.second.shape;
        b.bytes = kv.second.nbytes;
        b.input = &kv.second;
        b.init = "input";
        bufs_[kv.first] = b;
      }
    }
    if (c_.contains("buffers"))
      for (auto it = c_["buffers"].begin(); it != c_["buffers"].end(); ++it) {
        INGOT_CHECK(!bufs_.count(it.key()), name_ + ": buffer \"" + it.key() + "\" is also an input");
        const json &d = it.value();
        Buffer b;
        INGOT_CHECK(d.contains("dtype") && parseDType(d["dtype"].get<std::string>(), b.dtype),
                    name_ + ": buffer \"" + it.key() + "\" needs a dtype (f32, bf16, f16, i32, i64, ...)");
        b.shape = d.at("shape").get<std::vector<int64_t>>();
        b.bytes = numelOf(b.shape) * dtypeSize(b.dtype);
        b.init = d.value("init", std::string("poison"));
        INGOT_CHECK(b.init == "poison" || b.init == "zero" || b.init == "none",
                    name_ + ": buffer \"" + it.key() + "\" init must be poison, zero or none");
        bufs_[it.key()] = b;
      }
    for (auto &kv : bufs_) {
      Buffer &b = kv.second;
      for (int r = 0; r < rotate; ++r)
        b.copies.push_back(dev_.alloc(b.bytes, name_ + "/" + kv.first));
      if (!dev_.real())
        continue;
      const CudaDriver &d = dev_.drv();
      for (int r = 0; r < rotate; ++r) {
        if (b.input) {
          if (r == 0)
            INGOT_CU(d, cuMemcpyHtoDAsync, (b.copies[0], b.input->data, b.bytes, dev_.stream()),
                     "uploading " + kv.first);
          else
            INGOT_CU(d, cuMemcpyDtoDAsync, (b.copies[size_t(r)], b.copies[0], b.bytes, dev_.stream()),
                     "copying " + kv.first);
        } else if (b.init != "none") {
          INGOT_CU(d, cuMemsetD8Async,
                   (b.copies[size_t(r)], b.init == "zero" ? 0 : 0xFF, b.bytes, dev_.stream()),
                   "initialising " + kv.first);
        }
      }
    }
    if (dev_.real())
      INGOT_CU(dev_.drv(), cuStreamSynchronize, (dev_.stream()), name_ + ": uploading the inputs");
  }

  void setupLaunches(int rotate) {
    INGOT_CHECK(c_.contains("launches") && c_["launches"].is_array() && !c_["launches"].empty(),
                name_ + ": \"launches\" must be a non-empty list");
    int idx = 0;
    for (const json &lj : c_["launches"]) {
      Launch l;
      l.kernel = lj.at("kernel").get<std::string>();
      l.name = parseKernelName(l.kernel);
      l.fam = &familyOf(l.kernel);
      const std::string where = name_ + " launch " + std::to_string(idx) + " (" + l.kernel + ")";
      const json params = lj.value("params", json::object());
      INGOT_CHECK(params.is_object(), where + ": params must be an object");
      for (auto it = params.begin(); it != params.end(); ++it) {
        bool known = false;
        for (const Field &f : l.fam->fields)
          known = known || it.key() == f.name;
        if (!known) {
          std::string names;
          for (const Field &f : l.fam->fields)
            names += std::string(names.empty() ? "" : ", ") + f.name;
          throw Error(where + ": the " + l.fam->family + " params have no field \"" + it.key() +
                      "\" (fields: " + names + ")");
        }
      }
      for (int r = 0; r < rotate; ++r) {
        std::vector<unsigned char> p(l.fam->size, 0);
        for (const Field &f : l.fam->fields)
          if (params.contains(f.name))
            fillField(p.data(), f, params[f.name], bufs_, r, where);
        l.params.push_back(std::move(p));
      }
      l.geom = l.fam->launch(l.params[0].data(), l.name);
      for (int a = 0; a < 3; ++a)
        INGOT_CHECK(l.geom.grid[a] >= 1 && l.geom.block[a] >= 1,
                    where + ": the launch geometry has an empty dimension (nothing to do?)");
      launches_.push_back(std::move(l));
      ++idx;
    }
  }

  void setAttributes() {
    for (auto &l : launches_)
      if (l.geom.shmem > 48 * 1024)
        INGOT_CU(dev_.drv(), cuFuncSetAttribute,
                 (l.func, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(l.geom.shmem)),
                 "raising " + l.kernel + "'s dynamic shared memory to " + std::to_string(l.geom.shmem));
  }

  void launchAll(int slot) {
    const CudaDriver &d = dev_.drv();
    for (auto &l : launches_) {
      void *args[] = {l.params[size_t(slot)].data()};
      const CUresult r = d.cuLaunchKernel(l.func, l.geom.grid[0], l.geom.grid[1], l.geom.grid[2],
                                          l.geom.block[0], l.geom.block[1], l.geom.block[2], l.geom.shmem,
                                          dev_.stream(), args, nullptr);
      if (r != CUDA_SUCCESS) {
        launchFailed_ = true;
        checkCuda(d, r, "cuLaunchKernel", "launching " + l.kernel);
      }
    }
  }

  void sync(const std::string &doing) {
    const CUresult r = dev_.drv().cuStreamSynchronize(dev_.stream());
    if (r != CUDA_SUCCESS) {
      launchFailed_ = true; // asynchronous kernel faults surface here and poison the context
      checkCuda(dev_.drv(), r, "cuStreamSynchronize", doing);
    }
  }

  void checkRun(json &out) {
    launchAll(0);
    sync(name_ + ": the check run");
    if (!c_.contains("outputs"))
      return;
    std::vector<std::vector<uint8_t>> host;
    std::vector<TensorView> views;
    for (const json &o : c_["outputs"]) {
      const std::string n = o.get<std::string>();
      auto it = bufs_.find(n);
      INGOT_CHECK(it != bufs_.end(), name_ + ": output \"" + n + "\" is not a buffer");
      host.emplace_back(it->second.bytes);
      INGOT_CU(dev_.drv(), cuMemcpyDtoHAsync, (host.back().data(), it->second.copies[0], it->second.bytes,
                                               dev_.stream()),
               "downloading " + n);
    }
    sync(name_ + ": downloading the outputs");
    size_t i = 0;
    for (const json &o : c_["outputs"]) {
      const std::string n = o.get<std::string>();
      const Buffer &b = bufs_.at(n);
      TensorView v;
      v.name = n;
      v.dtype = b.dtype;
      v.shape = b.shape;
      v.data = host[i].data();
      v.nbytes = b.bytes;
      views.push_back(v);
      ++i;
    }
    const std::string path = outDir_ + "/" + name_ + ".safetensors";
    writeSafetensors(path, views);
    out["outputs"] = path;
  }

  void time(json &out, int rotate) {
    const int warmup = c_.value("warmup", 3), iters = c_.value("iters", 20), repeats = c_.value("repeats", 5);
    INGOT_CHECK(iters >= 1 && repeats >= 1 && warmup >= 0, name_ + ": warmup >= 0, iters and repeats >= 1");
    const bool graph = c_.value("graph", false);
    const CudaDriver &d = dev_.drv();
    for (int i = 0; i < warmup; ++i)
      launchAll(i % rotate);
    sync(name_ + ": warm-up runs");
    CUgraphExec exec = nullptr;
    if (graph) {
      CUgraph g = nullptr;
      INGOT_CU(d, cuStreamBeginCapture, (dev_.stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
               name_ + ": starting the graph capture");
      for (int i = 0; i < iters; ++i)
        launchAll(i % rotate);
      INGOT_CU(d, cuStreamEndCapture, (dev_.stream(), &g), name_ + ": ending the graph capture");
      INGOT_CU(d, cuGraphInstantiateWithFlags, (&exec, g, 0), name_ + ": instantiating the graph");
      d.cuGraphDestroy(g);
      INGOT_CU(d, cuGraphLaunch, (exec, dev_.stream()), name_ + ": graph warm-up");
      sync(name_ + ": graph warm-up");
    }
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      INGOT_CU(d, cuEventRecord, (dev_.ev0(), dev_.stream()), "recording an event");
      if (graph)
        INGOT_CU(d, cuGraphLaunch, (exec, dev_.stream()), name_ + ": graph replay");
      else
        for (int i = 0; i < iters; ++i)
          launchAll(i % rotate);
      INGOT_CU(d, cuEventRecord, (dev_.ev1(), dev_.stream()), "recording an event");
      const CUresult er = d.cuEventSynchronize(dev_.ev1());
      if (er != CUDA_SUCCESS) {
        launchFailed_ = true;
        checkCuda(d, er, "cuEventSynchronize", name_ + ": timed runs");
      }
      float t = 0;
      INGOT_CU(d, cuEventElapsedTime, (&t, dev_.ev0(), dev_.ev1()), "reading the timer");
      ms.push_back(double(t) / iters);
    }
    if (exec)
      d.cuGraphExecDestroy(exec);
    const double med = median(ms);
    out["ms_median"] = med;
    out["ms_min"] = *std::min_element(ms.begin(), ms.end());
    out["ms_all"] = ms;
    out["iters"] = iters;
    out["graph"] = graph;
    const double bytes = c_.value("bytes", 0.0), flops = c_.value("flops", 0.0);
    if (bytes > 0 && med > 0)
      out["gbps"] = bytes / (med * 1e-3) / 1e9;
    if (flops > 0 && med > 0)
      out["tflops"] = flops / (med * 1e-3) / 1e12;
  }

  Device &dev_;
  const json &c_;
  std::string specDir_, outDir_, name_;
  std::unique_ptr<SafetensorsFile> inputs_;
  std::map<std::string, Buffer> bufs_;
  std::vector<Launch> launches_;
  bool launchFailed_ = false;
};

json listFamilies() {
  json fams = json::array();
  for (const auto &f : families()) {
    json fields = json::array();
    for (const Field &x : f.fields)
      fields.push_back({{"name", x.name}, {"offset", x.offset}, {"type", kindName(x.kind)}});
    fams.push_back({{"family", f.family}, {"prefixes", f.prefixes}, {"size", f.size}, {"fields", fields}});
  }
  return fams;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Check and time single CUDA kernels (docs/device-runs.md)"};
  std::string specPath, outDir = ".", only, driverLib = "libcuda.so.1";
  bool dryRun = false, list = false;
  app.add_option("--spec", specPath, "Cases to run (JSON; see the header of bench_cuda_kernels.cpp)");
  app.add_option("--out-dir", outDir, "Where <case>.safetensors outputs go")->capture_default_str();
  app.add_option("--only", only, "Run only the cases whose name contains this");
  app.add_option("--driver", driverLib, "The driver library to dlopen")->capture_default_str();
  app.add_flag("--dry-run", dryRun, "No GPU: bind parameters and compute launch geometry only");
  app.add_flag("--list", list, "Print the kernel families this build knows, as JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (list) {
    std::cout << listFamilies().dump(1) << std::endl;
    return 0;
  }
  if (specPath.empty()) {
    std::cerr << "ingot_bench_cuda_kernels: error: --spec is required (or --list)\n";
    return 2;
  }
  json spec;
  std::unique_ptr<Device> dev;
  try {
    std::ifstream f(specPath);
    INGOT_CHECK(f.good(), "cannot read " + specPath);
    spec = json::parse(f);
    if (dryRun) {
      dev = std::make_unique<Device>();
    } else {
      std::string why;
      auto drv = loadCudaDriver(&why, driverLib);
      INGOT_CHECK(drv, "no CUDA driver: " + why + " (use --dry-run on a machine without a GPU)");
      dev = std::make_unique<Device>(drv);
    }
  } catch (const std::exception &e) {
    std::cerr << "ingot_bench_cuda_kernels: error: " << e.what() << "\n";
    return 1;
  }
  const std::string specDir = [&] {
    const size_t s = specPath.find_last_of('/');
    return s == std::string::npos ? std::string(".") : specPath.substr(0, s);
  }();
  json head = {{"device", dev->info()}};
  try {
    head["image"] = dev->loadModule(spec.value("images", json::object()), specDir);
  } catch (const std::exception &e) {
    head["error"] = e.what();
    std::cout << head.dump() << std::endl;
    return 1;
  }
  std::cout << head.dump() << std::endl;
  const json cases = spec.value("cases", json::array());
  int failed = 0;
  for (const json &c : cases) {
    const std::string name = c.value("name", std::string());
    if (!only.empty() && name.find(only) == std::string::npos)
      continue;
    json out = {{"name", name}, {"ok", false}};
    bool broken = false;
    {
      CaseRunner runner(*dev, c, specDir, outDir);
      try {
        runner.run(out);
      } catch (const std::exception &e) {
        out["ok"] = false;
        out["error"] = e.what();
        broken = runner.launchFailed();
      }
    }
    dev->freeAll();
    if (!out.value("ok", false))
      ++failed;
    std::cout << out.dump() << std::endl;
    if (broken) {
      std::cout << json({{"error", "a launch failed; the CUDA context is unusable, remaining cases skipped"}}).dump()
                << std::endl;
      return 1;
    }
  }
  return failed ? 1 : 0;
}
