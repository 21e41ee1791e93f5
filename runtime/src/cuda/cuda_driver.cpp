// Loading the CUDA driver API at run time (see cuda_driver.h): dlopen of
// libcuda.so.1 and dlsym of the versioned entry points, and the mapping of
// CUresult codes to ingot::Error messages.
#include "cuda_driver.h"
#include "ingot/runtime/error.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

namespace ingot {
namespace cuda {

namespace {

#define INGOT_SYM(member, symbol) {#member, symbol, offsetof(CudaDriver, member)}
const DriverSymbol kSymbols[] = {
    INGOT_SYM(cuInit, "cuInit"),
    INGOT_SYM(cuDriverGetVersion, "cuDriverGetVersion"),
    INGOT_SYM(cuGetErrorName, "cuGetErrorName"),
    INGOT_SYM(cuGetErrorString, "cuGetErrorString"),
    INGOT_SYM(cuDeviceGetCount, "cuDeviceGetCount"),
    INGOT_SYM(cuDeviceGet, "cuDeviceGet"),
    INGOT_SYM(cuDeviceGetAttribute, "cuDeviceGetAttribute"),
    INGOT_SYM(cuDeviceGetName, "cuDeviceGetName"),
    INGOT_SYM(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
    INGOT_SYM(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
    INGOT_SYM(cuCtxSetCurrent, "cuCtxSetCurrent"),
    INGOT_SYM(cuMemAlloc, "cuMemAlloc_v2"),
    INGOT_SYM(cuMemFree, "cuMemFree_v2"),
    INGOT_SYM(cuMemGetInfo, "cuMemGetInfo_v2"),
    INGOT_SYM(cuMemHostAlloc, "cuMemHostAlloc"),
    INGOT_SYM(cuMemFreeHost, "cuMemFreeHost"),
    INGOT_SYM(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
    INGOT_SYM(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
    INGOT_SYM(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
    INGOT_SYM(cuMemsetD8Async, "cuMemsetD8Async"),
    INGOT_SYM(cuModuleLoadData, "cuModuleLoadData"),
    INGOT_SYM(cuModuleLoadDataEx, "cuModuleLoadDataEx"),
    INGOT_SYM(cuModuleUnload, "cuModuleUnload"),
    INGOT_SYM(cuModuleGetFunction, "cuModuleGetFunction"),
    INGOT_SYM(cuFuncSetAttribute, "cuFuncSetAttribute"),
    INGOT_SYM(cuLaunchKernel, "cuLaunchKernel"),
    INGOT_SYM(cuStreamCreate, "cuStreamCreate"),
    INGOT_SYM(cuStreamSynchronize, "cuStreamSynchronize"),
    INGOT_SYM(cuStreamDestroy, "cuStreamDestroy_v2"),
    INGOT_SYM(cuStreamBeginCapture, "cuStreamBeginCapture_v2"),
    INGOT_SYM(cuStreamEndCapture, "cuStreamEndCapture"),
    INGOT_SYM(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"),
    INGOT_SYM(cuGraphLaunch, "cuGraphLaunch"),
    INGOT_SYM(cuGraphExecDestroy, "cuGraphExecDestroy"),
    INGOT_SYM(cuGraphDestroy, "cuGraphDestroy"),
    INGOT_SYM(cuEventCreate, "cuEventCreate"),
    INGOT_SYM(cuEventRecord, "cuEventRecord"),
    INGOT_SYM(cuEventSynchronize, "cuEventSynchronize"),
    INGOT_SYM(cuEventElapsedTime, "cuEventElapsedTime_v2"),
    INGOT_SYM(cuEventDestroy, "cuEventDestroy_v2"),
};
#undef INGOT_SYM

// cuEventElapsedTime_v2 appeared in CUDA 12.8; older drivers have the
// unversioned one with the same signature.
const char *fallbackSymbol(const char *symbol) {
  if (std::strcmp(symbol, "cuEventElapsedTime_v2") == 0)
    return "cuEventElapsedTime";
  return nullptr;
}

const char *symbolOf(const char *member) {
  for (const DriverSymbol &s : kSymbols)
    if (std::strcmp(s.member, member) == 0)
      return s.symbol;
  return member;
}

} // namespace

const DriverSymbol *driverSymbols(size_t *count) {
  *count = sizeof(kSymbols) / sizeof(kSymbols[0]);
  return kSymbols;
}

std::shared_ptr<const CudaDriver> loadCudaDriver(std::string *why, const std::string &libPath) {
  dlerror();
  void *h = dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    if (why)
      *why = "the CUDA driver library " + libPath + " could not be loaded (" +
             (e ? e : "unknown dlopen error") + "); is the NVIDIA driver installed?";
    return nullptr;
  }
  auto d = std::make_shared<CudaDriver>();
  d->source = libPath;
  for (const DriverSymbol &s : kSymbols) {
    void *fn = dlsym(h, s.symbol);
    if (!fn && fallbackSymbol(s.symbol))
      fn = dlsym(h, fallbackSymbol(s.symbol));
    if (!fn) {
      if (why)
        *why = "the CUDA driver " + libPath + " lacks " + s.symbol +
               " (driver too old? CUDA 12 or newer is required)";
      dlclose(h);
      return nullptr;
    }
    std::memcpy(reinterpret_cast<char *>(d.get()) + s.offset, &fn, sizeof(void *));
  }
  return d; // the handle is never closed: function pointers stay valid
}

std::string cudaErrorMessage(const CudaDriver &d, CUresult r, const char *call,
                             const std::string &doing) {
  const char *name = nullptr, *str = nullptr;
  if (d.cuGetErrorName && d.cuGetErrorName(r, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (d.cuGetErrorString && d.cuGetErrorString(r, &str) != CUDA_SUCCESS)
    str = nullptr;
  std::string m = std::string(symbolOf(call)) + " failed with " +
                  (name ? std::string(name) : "CUDA error " + std::to_string(r));
  if (str)
    m += std::string(" (") + str + ")";
  if (!doing.empty())
    m += " while " + doing;
  return m;
}

void checkCuda(const CudaDriver &d, CUresult r, const char *call, const std::string &doing) {
  if (r != CUDA_SUCCESS)
    throw Error(cudaErrorMessage(d, r, call, doing));
}

} // namespace cuda
} // namespace ingot
