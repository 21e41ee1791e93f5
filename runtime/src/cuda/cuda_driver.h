// The CUDA driver API as the CUDA executor uses it: a table of function
// pointers filled either by dlopen("libcuda.so.1") + dlsym of the versioned
// entry points (loadCudaDriver) or by a fake (runtime/tests/fake_cuda_driver.h,
// which runs the kernels under the emulation). No CUDA header is included and
// nothing links against libcuda: the declarations below are written by hand
// from the driver API's documented signatures and enum values (cuda.h of
// CUDA 12/13); handles are opaque pointers, enums are ints.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ingot {
namespace cuda {

// ---- Driver API types (ABI-compatible with cuda.h) ----
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;
struct CUevent_st;
using CUcontext = CUctx_st *;
using CUmodule = CUmod_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
using CUgraph = CUgraph_st *;
using CUgraphExec = CUgraphExec_st *;
using CUevent = CUevent_st *;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_INVALID_VALUE = 1;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_NOT_INITIALIZED = 3;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_INVALID_IMAGE = 200;
constexpr CUresult CUDA_ERROR_NO_BINARY_FOR_GPU = 209;
constexpr CUresult CUDA_ERROR_INVALID_PTX = 218;
constexpr CUresult CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222;
constexpr CUresult CUDA_ERROR_INVALID_HANDLE = 400;
constexpr CUresult CUDA_ERROR_NOT_FOUND = 500;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;
constexpr CUresult CUDA_ERROR_LAUNCH_FAILED = 719;
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901;

constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
constexpr unsigned CU_MEMHOSTALLOC_PORTABLE = 0x1;
constexpr unsigned CU_EVENT_DEFAULT = 0x0;
// CUjit_option (cuModuleLoadDataEx): the value of _SIZE_BYTES is an unsigned
// int passed in the void * slot itself.
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

// ---- The table. Every member is required; a fake fills all of them. ----
struct CudaDriver {
  std::string source; // "libcuda.so.1", "fake", ...: for messages

  CUresult (*cuInit)(unsigned flags) = nullptr;
  CUresult (*cuDriverGetVersion)(int *version) = nullptr;
  CUresult (*cuGetErrorName)(CUresult err, const char **str) = nullptr;
  CUresult (*cuGetErrorString)(CUresult err, const char **str) = nullptr;
  CUresult (*cuDeviceGetCount)(int *count) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice *dev, int ordinal) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int *value, int attrib, CUdevice dev) = nullptr;
  CUresult (*cuDeviceGetName)(char *name, int len, CUdevice dev) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice dev) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext ctx) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr *dptr, size_t bytes) = nullptr;       // _v2
  CUresult (*cuMemFree)(CUdeviceptr dptr) = nullptr;                       // _v2
  CUresult (*cuMemGetInfo)(size_t *free, size_t *total) = nullptr;        // _v2
  CUresult (*cuMemHostAlloc)(void **pp, size_t bytes, unsigned flags) = nullptr;
  CUresult (*cuMemFreeHost)(void *p) = nullptr;
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes,
                                CUstream s) = nullptr; // _v2
  CUresult (*cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes,
                                CUstream s) = nullptr; // _v2
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                                CUstream s) = nullptr; // _v2
  CUresult (*cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t n,
                              CUstream s) = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule *mod, const void *image) = nullptr;
  CUresult (*cuModuleLoadDataEx)(CUmodule *mod, const void *image, unsigned numOptions,
                                 int *options, void **optionValues) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule mod) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction *f, CUmodule mod, const char *name) = nullptr;
  CUresult (*cuFuncSetAttribute)(CUfunction f, int attrib, int value) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                             unsigned by, unsigned bz, unsigned shmem, CUstream s,
                             void **params, void **extra) = nullptr;
  CUresult (*cuStreamCreate)(CUstream *s, unsigned flags) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream s) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream s) = nullptr; // _v2
  CUresult (*cuStreamBeginCapture)(CUstream s, int mode) = nullptr; // _v2
  CUresult (*cuStreamEndCapture)(CUstream s, CUgraph *g) = nullptr;
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *e, CUgraph g,
                                          unsigned long long flags) = nullptr;
  CUresult (*cuGraphLaunch)(CUgraphExec e, CUstream s) = nullptr;
  CUresult (*cuGraphExecDestroy)(CUgraphExec e) = nullptr;
  CUresult (*cuGraphDestroy)(CUgraph g) = nullptr;
  CUresult (*cuEventCreate)(CUevent *e, unsigned flags) = nullptr;
  CUresult (*cuEventRecord)(CUevent e, CUstream s) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent e) = nullptr;
  CUresult (*cuEventElapsedTime)(float *ms, CUevent start, CUevent end) = nullptr;
  CUresult (*cuEventDestroy)(CUevent e) = nullptr; // _v2
};

// The symbol each member is loaded from (versioned names where the API has
// them), in declaration order; used by the loader and its tests.
struct DriverSymbol {
  const char *member; // "cuMemAlloc"
  const char *symbol; // "cuMemAlloc_v2": what dlsym looks up
  size_t offset;      // byte offset of the member in CudaDriver
};
const DriverSymbol *driverSymbols(size_t *count);

// dlopen(libPath) (default "libcuda.so.1") and dlsym every entry point.
// Returns null and sets *why ("libcuda.so.1 not found (dlerror...)", "...
// lacks cuGraphInstantiateWithFlags (driver too old?)") when it cannot.
// The library stays loaded for the process's life.
std::shared_ptr<const CudaDriver> loadCudaDriver(std::string *why,
                                                 const std::string &libPath = "libcuda.so.1");

// "cuMemAlloc_v2 failed with CUDA_ERROR_OUT_OF_MEMORY (out of memory) while
// allocating the KV cache (3 GiB)": the message of every failing call.
std::string cudaErrorMessage(const CudaDriver &d, CUresult r, const char *call,
                             const std::string &doing);
// Throws ingot::Error with cudaErrorMessage unless r == CUDA_SUCCESS.
void checkCuda(const CudaDriver &d, CUresult r, const char *call, const std::string &doing);

// Calls drv.call args; on failure throws with `doing` (built only then).
#define INGOT_CU(drv, call, args, doing)                                                   \
  do {                                                                                     \
    const ::ingot::cuda::CUresult ingot_cu_r_ = (drv).call args;                           \
    if (ingot_cu_r_ != ::ingot::cuda::CUDA_SUCCESS)                                        \
      ::ingot::cuda::checkCuda((drv), ingot_cu_r_, #call, (doing));                        \
  } while (0)

} // namespace cuda
} // namespace ingot
