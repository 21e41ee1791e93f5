// cuBLASLt GEMMs for the CUDA executor (cublaslt.h).
#include "cublaslt.h"
#include "ingot/runtime/error.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

namespace ingot {
namespace cuda {

namespace {

// Values from library_types.h, cublas_api.h and cublasLt.h.
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR16BF = 14;
constexpr int kComputeF32 = 68; // CUBLAS_COMPUTE_32F
constexpr int kOpN = 0, kOpT = 1;
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8,
              kDescBiasDataType = 26;
constexpr uint32_t kEpiDefault = 1, kEpiBias = 4, kEpiGelu = 32, kEpiGeluBias = 36;
constexpr int kPrefMaxWorkspace = 1;
// CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES (uint32_t, default 256).
constexpr int kPrefMinAlignA = 5, kPrefMinAlignB = 6, kPrefMinAlignC = 7, kPrefMinAlignD = 8;
constexpr int kStatusSuccess = 0;

int cudaType(DType t) {
  switch (t) {
  case DType::F32: return kCudaR32F;
  case DType::F16: return kCudaR16F;
  case DType::BF16: return kCudaR16BF;
  default: throw Error(std::string("cuBLASLt GEMM: unsupported dtype ") + dtypeName(t));
  }
}

} // namespace

std::shared_ptr<const CublasLtApi> loadCublasLt(std::string *why) {
  std::string err;
  for (const char *lib : {"libcublasLt.so.13", "libcublasLt.so.12"}) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *e = dlerror();
      err += std::string(err.empty() ? "" : "; ") + (e ? e : lib);
      continue;
    }
    auto api = std::make_shared<CublasLtApi>();
    api->source = lib;
    bool ok = true;
    auto sym = [&](auto &fn, const char *name) {
      void *p = dlsym(h, name);
      if (!p) {
        ok = false;
        err += std::string(err.empty() ? "" : "; ") + lib + " lacks " + name;
        return;
      }
      std::memcpy(&fn, &p, sizeof(void *));
    };
#define INGOT_LT_SYM(name) sym(api->name, #name)
    INGOT_LT_SYM(cublasLtCreate);
    INGOT_LT_SYM(cublasLtDestroy);
    INGOT_LT_SYM(cublasLtGetStatusName);
    INGOT_LT_SYM(cublasLtGetStatusString);
    INGOT_LT_SYM(cublasLtMatmulDescCreate);
    INGOT_LT_SYM(cublasLtMatmulDescDestroy);
    INGOT_LT_SYM(cublasLtMatmulDescSetAttribute);
    INGOT_LT_SYM(cublasLtMatrixLayoutCreate);
    INGOT_LT_SYM(cublasLtMatrixLayoutDestroy);
    INGOT_LT_SYM(cublasLtMatmulPreferenceCreate);
    INGOT_LT_SYM(cublasLtMatmulPreferenceDestroy);
    INGOT_LT_SYM(cublasLtMatmulPreferenceSetAttribute);
    INGOT_LT_SYM(cublasLtMatmulAlgoGetHeuristic);
    INGOT_LT_SYM(cublasLtMatmul);
#undef INGOT_LT_SYM
    if (ok)
      return api; // the library stays loaded
    dlclose(h);
  }
  if (why)
    *why = "cuBLASLt unavailable (" + err + ")";
  return nullptr;
}

LtGemm::LtGemm(std::shared_ptr<const CublasLtApi> api, CUdeviceptr workspace, size_t workspaceBytes)
    : api_(std::move(api)), workspace_(workspace), workspaceBytes_(workspaceBytes) {
  check(api_->cublasLtCreate(&handle_), "cublasLtCreate", "creating the cuBLASLt handle");
}

LtGemm::~LtGemm() {
  for (auto &e : plans_) {
    Plan &p = e.second;
    for (void *l : {p.a, p.b, p.c})
      if (l)
        api_->cublasLtMatrixLayoutDestroy(l);
    if (p.desc)
      api_->cublasLtMatmulDescDestroy(p.desc);
  }
  if (handle_)
    api_->cublasLtDestroy(handle_);
}

void LtGemm::check(int status, const char *call, const std::string &what) const {
  if (status == kStatusSuccess)
    return;
  const char *name = api_->cublasLtGetStatusName ? api_->cublasLtGetStatusName(status) : nullptr;
  const char *str = api_->cublasLtGetStatusString ? api_->cublasLtGetStatusString(status) : nullptr;
  throw Error(std::string(call) + " failed with " + (name ? name : "cuBLAS status " + std::to_string(status)) +
              (str ? std::string(" (") + str + ")" : std::string()) + " while " + what);
}

LtGemm::Plan *LtGemm::plan(DType ab, bool cF32, LtEpilogue epi, bool bias, int64_t m, int64_t n, int64_t k) {
  const Key key{int(ab), int(cF32), int(epi), int(bias), m, n, k};
  auto it = plans_.find(key);
  if (it != plans_.end())
    return it->second.ok ? &it->second : nullptr;
  Plan &p = plans_[key];
  if (epi == LtEpilogue::GeluErf)
    return nullptr; // cuBLASLt's GELU is the tanh approximation
  const std::string what = "planning the cuBLASLt GEMM " + std::to_string(m) + "x" + std::to_string(n) +
                           "x" + std::to_string(k);
  const int t = cudaType(ab), ct = cF32 ? kCudaR32F : t;
  check(api_->cublasLtMatmulDescCreate(&p.desc, kComputeF32, kCudaR32F), "cublasLtMatmulDescCreate", what);
  const int32_t opT = kOpT, opN = kOpN;
  check(api_->cublasLtMatmulDescSetAttribute(p.desc, kDescTransA, &opT, sizeof opT), "cublasLtMatmulDescSetAttribute", what);
  check(api_->cublasLtMatmulDescSetAttribute(p.desc, kDescTransB, &opN, sizeof opN), "cublasLtMatmulDescSetAttribute", what);
  const uint32_t e = epi == LtEpilogue::GeluTanh ? (bias ? kEpiGeluBias : kEpiGelu) : (bias ? kEpiBias : kEpiDefault);
  check(api_->cublasLtMatmulDescSetAttribute(p.desc, kDescEpilogue, &e, sizeof e), "cublasLtMatmulDescSetAttribute", what);
  if (bias) {
    const int32_t bt = t; // the bias is stored in the compute dtype
    check(api_->cublasLtMatmulDescSetAttribute(p.desc, kDescBiasDataType, &bt, sizeof bt),
          "cublasLtMatmulDescSetAttribute", what);
  }
  // Column-major view: A operand = W (k x n, ld k, transposed), B operand =
  // the activations (k x m, ld k), D = C^T (n x m, ld n).
  check(api_->cublasLtMatrixLayoutCreate(&p.a, t, uint64_t(k), uint64_t(n), k), "cublasLtMatrixLayoutCreate", what);
  check(api_->cublasLtMatrixLayoutCreate(&p.b, t, uint64_t(k), uint64_t(m), k), "cublasLtMatrixLayoutCreate", what);
  check(api_->cublasLtMatrixLayoutCreate(&p.c, ct, uint64_t(n), uint64_t(m), n), "cublasLtMatrixLayoutCreate", what);
  void *pref = nullptr;
  check(api_->cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate", what);
  const uint64_t ws = workspaceBytes_;
  int returned = 0;
  LtHeuristicResult r{};
  int st = api_->cublasLtMatmulPreferenceSetAttribute(pref, kPrefMaxWorkspace, &ws, sizeof ws);
  // The heuristic assumes 256-byte aligned A/B/C/D unless told otherwise, and
  // the algorithm it picks may then need that alignment; the plan's
  // activations are only 32-byte (bf16) / 64-byte (f32) aligned, so ask for
  // algorithms that work with kLtMinAlign-byte pointers (gemm() checks them).
  const uint32_t align = uint32_t(kLtMinAlign);
  for (int attr : {kPrefMinAlignA, kPrefMinAlignB, kPrefMinAlignC, kPrefMinAlignD})
    if (st == kStatusSuccess)
      st = api_->cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof align);
  if (st == kStatusSuccess)
    st = api_->cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &r, &returned);
  api_->cublasLtMatmulPreferenceDestroy(pref);
  // No algorithm (or an unsupported combination): fall back, not an error.
  p.ok = st == kStatusSuccess && returned > 0 && r.state == kStatusSuccess;
  if (p.ok)
    p.algo = r.algo;
  return p.ok ? &p : nullptr;
}

bool LtGemm::prepare(DType ab, bool cF32, LtEpilogue epi, bool bias, int64_t m, int64_t n, int64_t k) {
  return plan(ab, cF32, epi, bias, m, n, k) != nullptr;
}

bool LtGemm::gemm(DType ab, bool cF32, LtEpilogue epi, CUdeviceptr a, CUdeviceptr w, CUdeviceptr bias,
                  CUdeviceptr c, int64_t m, int64_t n, int64_t k, CUstream stream, const std::string &what,
                  bool planIfMissing) {
  // Pointers less aligned than the algorithms were chosen for: fall back.
  for (CUdeviceptr ptr : {a, w, bias, c})
    if (ptr % kLtMinAlign != 0)
      return false;
  Plan *p = nullptr;
  if (planIfMissing) {
    p = plan(ab, cF32, epi, bias != 0, m, n, k);
  } else { // e.g. during stream capture: no heuristic query, cached plans only
    auto it = plans_.find(Key{int(ab), int(cF32), int(epi), int(bias != 0), m, n, k});
    p = it != plans_.end() && it->second.ok ? &it->second : nullptr;
  }
  if (!p)
    return false;
  if (bias) {
    const void *bp = reinterpret_cast<const void *>(uintptr_t(bias));
    check(api_->cublasLtMatmulDescSetAttribute(p->desc, kDescBiasPointer, &bp, sizeof bp),
          "cublasLtMatmulDescSetAttribute", what);
  }
  const float alpha = 1.0f, beta = 0.0f;
  void *cp = reinterpret_cast<void *>(uintptr_t(c));
  check(api_->cublasLtMatmul(handle_, p->desc, &alpha, reinterpret_cast<const void *>(uintptr_t(w)), p->a,
                             reinterpret_cast<const void *>(uintptr_t(a)), p->b, &beta, cp, p->c, cp, p->c,
                             &p->algo, reinterpret_cast<void *>(uintptr_t(workspace_)), workspaceBytes_, stream),
        "cublasLtMatmul", what);
  return true;
}

} // namespace cuda
} // namespace ingot
