// cuBLASLt for the CUDA executor's GEMMs, dlopen'ed (libcublasLt.so.13, then
// .12) with hand-written declarations (values from cublasLt.h / cublas_api.h
// / library_types.h of CUDA 12/13; no header is included). Computes the
// plan's row-major C[m,n] = A[m,k] . W[n,k]^T (+ bias[n]) (+ GELU-tanh) in
// fp32 as the column-major D[n,m] = op_T(W) . A. The algorithm for each
// (m, n, k, dtypes, epilogue) is chosen once with
// cublasLtMatmulAlgoGetHeuristic and cached with its descriptors; shapes the
// heuristic has no algorithm for (or GELU-erf, which cuBLASLt lacks) return
// false so the caller falls back to the plan module's ingot_gemm kernel.
#pragma once
#include "cuda_driver.h"
#include "ingot/runtime/dtype.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

namespace ingot {
namespace cuda {

struct LtAlgo {
  uint64_t data[8];
};
struct LtHeuristicResult {
  LtAlgo algo;
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(LtHeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t layout");

struct CublasLtApi {
  std::string source;
  int (*cublasLtCreate)(void **handle) = nullptr;
  int (*cublasLtDestroy)(void *handle) = nullptr;
  const char *(*cublasLtGetStatusName)(int status) = nullptr;
  const char *(*cublasLtGetStatusString)(int status) = nullptr;
  int (*cublasLtMatmulDescCreate)(void **desc, int computeType, int scaleType) = nullptr;
  int (*cublasLtMatmulDescDestroy)(void *desc) = nullptr;
  int (*cublasLtMatmulDescSetAttribute)(void *desc, int attr, const void *buf, size_t size) = nullptr;
  int (*cublasLtMatrixLayoutCreate)(void **layout, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  int (*cublasLtMatrixLayoutDestroy)(void *layout) = nullptr;
  int (*cublasLtMatmulPreferenceCreate)(void **pref) = nullptr;
  int (*cublasLtMatmulPreferenceDestroy)(void *pref) = nullptr;
  int (*cublasLtMatmulPreferenceSetAttribute)(void *pref, int attr, const void *buf, size_t size) = nullptr;
  int (*cublasLtMatmulAlgoGetHeuristic)(void *handle, void *desc, void *a, void *b, void *c, void *d,
                                        void *pref, int requested, LtHeuristicResult *results,
                                        int *returned) = nullptr;
  int (*cublasLtMatmul)(void *handle, void *desc, const void *alpha, const void *a, void *aDesc,
                        const void *b, void *bDesc, const void *beta, const void *c, void *cDesc, void *d,
                        void *dDesc, const LtAlgo *algo, void *workspace, size_t workspaceBytes,
                        CUstream stream) = nullptr;
};

// Null (and *why) when neither libcublasLt.so.13 nor .12 loads completely.
std::shared_ptr<const CublasLtApi> loadCublasLt(std::string *why);

// GELU variants of the plan's Linear epilogue (IngotGemmParams.epilogue).
enum class LtEpilogue { None = 0, GeluTanh = 1, GeluErf = 2 };

// The pointer alignment (bytes) the algorithms are chosen for (the heuristic
// preference CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES); gemm() falls back
// for pointers less aligned.
constexpr size_t kLtMinAlign = 16;

class LtGemm {
public:
  // Throws ingot::Error when the handle cannot be created.
  LtGemm(std::shared_ptr<const CublasLtApi> api, CUdeviceptr workspace, size_t workspaceBytes);
  ~LtGemm();
  LtGemm(const LtGemm &) = delete;
  LtGemm &operator=(const LtGemm &) = delete;

  // C[m,n] (cF32: fp32, else `ab`) = A[m,k] . W[n,k]^T (+ bias[n] of `ab`);
  // false when cuBLASLt has no algorithm for it, or a pointer is not
  // kLtMinAlign-byte aligned (the caller falls back). With planIfMissing
  // false (stream capture) only shapes already prepared run here: no
  // heuristic query is made. Throws ingot::Error when a call fails.
  bool gemm(DType ab, bool cF32, LtEpilogue epi, CUdeviceptr a, CUdeviceptr w, CUdeviceptr bias,
            CUdeviceptr c, int64_t m, int64_t n, int64_t k, CUstream stream, const std::string &what,
            bool planIfMissing = true);
  // Chooses (and caches) the algorithm for a shape; false when none.
  bool prepare(DType ab, bool cF32, LtEpilogue epi, bool bias, int64_t m, int64_t n, int64_t k);
  size_t cachedShapes() const { return plans_.size(); }
  const std::string &source() const { return api_->source; }

private:
  struct Plan {
    void *desc = nullptr, *a = nullptr, *b = nullptr, *c = nullptr;
    LtAlgo algo{};
    bool ok = false;
  };
  using Key = std::tuple<int, int, int, int, int64_t, int64_t, int64_t>;
  Plan *plan(DType ab, bool cF32, LtEpilogue epi, bool bias, int64_t m, int64_t n, int64_t k);
  void check(int status, const char *call, const std::string &what) const;

  std::shared_ptr<const CublasLtApi> api_;
  void *handle_ = nullptr;
  CUdeviceptr workspace_;
  size_t workspaceBytes_;
  std::map<Key, Plan> plans_;
};

} // namespace cuda
} // namespace ingot
