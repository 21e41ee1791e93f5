// The fake CUDA driver (fake_cuda_driver.h): host memory as device memory,
// kernels from the emulation's registry, stream capture as a recorded list.
#include "fake_cuda_driver.h"
#include "cuda/emu/cuda_emu.h"
#include "ingot/runtime/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ingot {
namespace cudatest {

using namespace ingot::cuda;

namespace {

FakeCudaDriver *g_fake = nullptr;

struct FakeFunction {
  std::string name;
  const cudaemu::RegisteredKernel *k; // or
  const HostKernel *host;
};
struct FakeModule {
  std::map<std::string, std::unique_ptr<FakeFunction>> fns;
};
struct FakeGraph {
  std::vector<FakeCudaDriver::Op> ops;
};
int g_stream_tag, g_ctx_tag, g_event_tag;

FakeCudaDriver &fake() {
  if (!g_fake)
    throw std::logic_error("fake CUDA driver used with no FakeCudaDriver alive");
  return *g_fake;
}

#define FAKE_FAIL(member)                                                                  \
  do {                                                                                     \
    if (fake().shouldFail(member))                                                         \
      return fake().options().failWith;                                                    \
  } while (0)

const char *errName(CUresult r) {
  switch (r) {
  case CUDA_SUCCESS: return "CUDA_SUCCESS";
  case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
  case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
  case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
  case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
  case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
  case CUDA_ERROR_NO_BINARY_FOR_GPU: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
  case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
  case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
  case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
  case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
  default: return nullptr;
  }
}
const char *errString(CUresult r) {
  switch (r) {
  case CUDA_SUCCESS: return "no error";
  case CUDA_ERROR_INVALID_VALUE: return "invalid argument";
  case CUDA_ERROR_OUT_OF_MEMORY: return "out of memory";
  case CUDA_ERROR_NOT_INITIALIZED: return "initialization error";
  case CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
  case CUDA_ERROR_INVALID_IMAGE: return "device kernel image is invalid";
  case CUDA_ERROR_NO_BINARY_FOR_GPU: return "no kernel image is available for execution on the device";
  case CUDA_ERROR_INVALID_HANDLE: return "invalid resource handle";
  case CUDA_ERROR_NOT_FOUND: return "named symbol not found";
  case CUDA_ERROR_LAUNCH_FAILED: return "unspecified launch failure";
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "operation not permitted when stream is capturing";
  case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "operation failed due to a previous error during capture";
  default: return nullptr;
  }
}

CUresult fInit(unsigned) {
  FAKE_FAIL("cuInit");
  return fake().options().initFails ? CUDA_ERROR_NO_DEVICE : CUDA_SUCCESS;
}
CUresult fDriverGetVersion(int *v) {
  *v = 13000;
  return CUDA_SUCCESS;
}
CUresult fGetErrorName(CUresult r, const char **s) {
  *s = errName(r);
  return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult fGetErrorString(CUresult r, const char **s) {
  *s = errString(r);
  return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult fDeviceGetCount(int *n) {
  FAKE_FAIL("cuDeviceGetCount");
  *n = fake().options().deviceCount;
  return CUDA_SUCCESS;
}
CUresult fDeviceGet(CUdevice *d, int ordinal) {
  if (ordinal < 0 || ordinal >= fake().options().deviceCount)
    return CUDA_ERROR_INVALID_VALUE;
  *d = ordinal;
  return CUDA_SUCCESS;
}
CUresult fDeviceGetAttribute(int *v, int attr, CUdevice) {
  switch (attr) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = fake().options().major; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = fake().options().minor; break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 4; break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 * 1024; break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 48 * 1024; break;
  default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}
CUresult fDeviceGetName(char *name, int len, CUdevice) {
  std::strncpy(name, fake().options().name.c_str(), size_t(len));
  return CUDA_SUCCESS;
}
CUresult fPrimaryCtxRetain(CUcontext *c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(&g_ctx_tag);
  return CUDA_SUCCESS;
}
CUresult fPrimaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }
CUresult fCtxSetCurrent(CUcontext) { return CUDA_SUCCESS; }

CUresult fMemAlloc(CUdeviceptr *p, size_t bytes) {
  FAKE_FAIL("cuMemAlloc");
  if (CUresult r = fake().refuseInCapture("cuMemAlloc"))
    return r;
  FakeCudaDriver &f = fake();
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (f.used_ + bytes > f.options().totalBytes)
    return CUDA_ERROR_OUT_OF_MEMORY;
  void *m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!m)
    return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(m, 0xA5, bytes); // garbage, like fresh device memory
  f.allocs_[m] = bytes;
  f.used_ += bytes;
  *p = CUdeviceptr(uintptr_t(m));
  return CUDA_SUCCESS;
}
CUresult fMemFree(CUdeviceptr p) {
  FakeCudaDriver &f = fake();
  if (CUresult r = f.refuseInCapture("cuMemFree"))
    return r;
  f.flush(); // cuMemFree waits for work that may use the memory
  auto it = f.allocs_.find(reinterpret_cast<void *>(uintptr_t(p)));
  if (it == f.allocs_.end())
    return CUDA_ERROR_INVALID_VALUE;
  f.used_ -= it->second;
  std::free(it->first);
  f.allocs_.erase(it);
  return CUDA_SUCCESS;
}
CUresult fMemGetInfo(size_t *freeB, size_t *total) {
  *total = fake().options().totalBytes;
  *freeB = *total - fake().used_;
  return CUDA_SUCCESS;
}
CUresult fMemHostAlloc(void **p, size_t bytes, unsigned) {
  FAKE_FAIL("cuMemHostAlloc");
  if (CUresult r = fake().refuseInCapture("cuMemHostAlloc"))
    return r;
  *p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (*p)
    fake().pinned_[*p] = bytes;
  return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
CUresult fMemFreeHost(void *p) {
  FakeCudaDriver &f = fake();
  if (CUresult r = f.refuseInCapture("cuMemFreeHost"))
    return r;
  f.flush();
  if (!f.pinned_.erase(p))
    return CUDA_ERROR_INVALID_VALUE;
  std::free(p);
  return CUDA_SUCCESS;
}
CUresult copyOp(void *dst, const void *src, size_t n) {
  FakeCudaDriver::Op op;
  op.kind = 1;
  op.dst = dst;
  op.src = src;
  op.bytes = n;
  return fake().record(std::move(op));
}
CUresult fHtoD(CUdeviceptr dst, const void *src, size_t n, CUstream) {
  FAKE_FAIL("cuMemcpyHtoDAsync");
  FakeCudaDriver &f = fake();
  if (f.options().asyncStream && !f.capturing && !f.isPinned(src)) {
    // Pageable source: the driver stages it before returning.
    FakeCudaDriver::Op op;
    op.kind = 1;
    op.dst = reinterpret_cast<void *>(uintptr_t(dst));
    op.staged.assign(static_cast<const uint8_t *>(src), static_cast<const uint8_t *>(src) + n);
    op.bytes = n;
    return f.record(std::move(op));
  }
  return copyOp(reinterpret_cast<void *>(uintptr_t(dst)), src, n);
}
CUresult fDtoH(void *dst, CUdeviceptr src, size_t n, CUstream) {
  FAKE_FAIL("cuMemcpyDtoHAsync");
  FakeCudaDriver &f = fake();
  ++f.dtohCopies;
  f.dtohBytes += int64_t(n);
  const CUresult r = copyOp(dst, reinterpret_cast<const void *>(uintptr_t(src)), n);
  // To pageable memory the copy is synchronous.
  if (r == CUDA_SUCCESS && f.options().asyncStream && !f.capturing && !f.isPinned(dst))
    return f.flush();
  return r;
}
CUresult fDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) {
  FAKE_FAIL("cuMemcpyDtoDAsync");
  return copyOp(reinterpret_cast<void *>(uintptr_t(dst)), reinterpret_cast<const void *>(uintptr_t(src)), n);
}
CUresult fMemsetD8(CUdeviceptr dst, unsigned char v, size_t n, CUstream) {
  FakeCudaDriver::Op op;
  op.kind = 2;
  op.dst = reinterpret_cast<void *>(uintptr_t(dst));
  op.value = v;
  op.bytes = n;
  return fake().record(std::move(op));
}
CUresult fModuleLoadData(CUmodule *m, const void *image) {
  FAKE_FAIL("cuModuleLoadData");
  FakeCudaDriver &f = fake();
  if (CUresult r = f.refuseInCapture("cuModuleLoadData"))
    return r;
  f.lastImage.assign(static_cast<const char *>(image), strnlen(static_cast<const char *>(image), 64));
  ++f.modulesLoaded;
  *m = reinterpret_cast<CUmodule>(new FakeModule());
  return CUDA_SUCCESS;
}
CUresult fModuleLoadDataEx(CUmodule *m, const void *image, unsigned n, int *opts, void **vals) {
  if (n && (!opts || !vals))
    return CUDA_ERROR_INVALID_VALUE;
  if (fake().shouldFail("cuModuleLoadDataEx")) { // a JIT failure, with its log
    char *log = nullptr;
    size_t size = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (opts[i] == CU_JIT_ERROR_LOG_BUFFER)
        log = static_cast<char *>(vals[i]);
      else if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        size = size_t(reinterpret_cast<uintptr_t>(vals[i]));
    }
    if (log && size)
      std::snprintf(log, size, "ptxas fatal: fake JIT error");
    return fake().options().failWith;
  }
  return fModuleLoadData(m, image);
}
CUresult fModuleUnload(CUmodule m) {
  if (CUresult r = fake().refuseInCapture("cuModuleUnload"))
    return r;
  delete reinterpret_cast<FakeModule *>(m);
  return CUDA_SUCCESS;
}
CUresult fModuleGetFunction(CUfunction *fn, CUmodule m, const char *name) {
  FakeModule *mod = reinterpret_cast<FakeModule *>(m);
  if (!mod)
    return CUDA_ERROR_INVALID_HANDLE;
  if (fake().options().hidden.count(name))
    return CUDA_ERROR_NOT_FOUND;
  const cudaemu::RegisteredKernel *k = cudaemu::findKernel(name);
  const HostKernel *host = nullptr;
  if (!k) {
    auto it = fake().options().hostKernels.find(name);
    if (it == fake().options().hostKernels.end())
      return CUDA_ERROR_NOT_FOUND;
    host = &it->second;
  }
  auto &slot = mod->fns[name];
  if (!slot)
    slot.reset(new FakeFunction{name, k, host});
  *fn = reinterpret_cast<CUfunction>(slot.get());
  return CUDA_SUCCESS;
}
CUresult fFuncSetAttribute(CUfunction, int attr, int value) {
  if (attr == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES && value > 48 * 1024)
    return CUDA_ERROR_INVALID_VALUE; // the emulation's limit
  return CUDA_SUCCESS;
}
CUresult fLaunchKernel(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                       unsigned by, unsigned bz, unsigned shmem, CUstream, void **params,
                       void **extra) {
  FAKE_FAIL("cuLaunchKernel");
  const FakeFunction *f = reinterpret_cast<const FakeFunction *>(fn);
  if (!f || !params || extra)
    return CUDA_ERROR_INVALID_VALUE;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx * by * bz > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  FakeCudaDriver::Op op;
  op.kind = 0;
  op.name = f->name;
  op.kernel = f->k;
  op.host = f->host;
  const size_t paramBytes = f->k ? f->k->paramBytes : f->host->paramBytes;
  op.grid[0] = gx;
  op.grid[1] = gy;
  op.grid[2] = gz;
  op.block[0] = bx;
  op.block[1] = by;
  op.block[2] = bz;
  op.shmem = shmem;
  op.params.resize((paramBytes + 7) / 8);
  std::memcpy(op.params.data(), params[0], paramBytes); // as the driver does
  return fake().record(std::move(op));
}
CUresult fStreamCreate(CUstream *s, unsigned) {
  *s = reinterpret_cast<CUstream>(&g_stream_tag);
  return CUDA_SUCCESS;
}
CUresult fStreamSynchronize(CUstream) {
  FakeCudaDriver &f = fake();
  if (CUresult r = f.refuseInCapture("cuStreamSynchronize"))
    return r;
  return f.flush();
}
CUresult fStreamDestroy(CUstream) { return CUDA_SUCCESS; }
CUresult fBeginCapture(CUstream, int) {
  FAKE_FAIL("cuStreamBeginCapture");
  FakeCudaDriver &f = fake();
  if (f.capturing)
    return CUDA_ERROR_INVALID_VALUE;
  f.capturing = true;
  f.captureInvalidated = false;
  f.captured.clear();
  return CUDA_SUCCESS;
}
CUresult fEndCapture(CUstream, CUgraph *g) {
  FakeCudaDriver &f = fake();
  if (!f.capturing)
    return CUDA_ERROR_INVALID_VALUE;
  f.capturing = false;
  if (f.captureInvalidated) { // as the driver: no graph
    f.captureInvalidated = false;
    f.captured.clear();
    *g = nullptr;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  auto *graph = new FakeGraph();
  graph->ops = std::move(f.captured);
  f.captured.clear();
  *g = reinterpret_cast<CUgraph>(graph);
  return CUDA_SUCCESS;
}
CUresult fGraphInstantiate(CUgraphExec *e, CUgraph g, unsigned long long) {
  FAKE_FAIL("cuGraphInstantiateWithFlags");
  auto *exec = new FakeGraph(*reinterpret_cast<FakeGraph *>(g));
  *e = reinterpret_cast<CUgraphExec>(exec);
  return CUDA_SUCCESS;
}
CUresult fGraphLaunch(CUgraphExec e, CUstream) {
  FAKE_FAIL("cuGraphLaunch");
  FakeCudaDriver &f = fake();
  if (f.capturing) // not used by the executor; keep the fake simple
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  ++f.graphLaunches;
  for (const FakeCudaDriver::Op &op : reinterpret_cast<FakeGraph *>(e)->ops) {
    if (f.options().asyncStream) {
      f.pending.push_back(op);
      f.pending.back().fromGraph = true;
      continue;
    }
    const int r = f.run(op, true);
    if (r != CUDA_SUCCESS)
      return r;
  }
  return CUDA_SUCCESS;
}
CUresult fGraphExecDestroy(CUgraphExec e) {
  delete reinterpret_cast<FakeGraph *>(e);
  return CUDA_SUCCESS;
}
CUresult fGraphDestroy(CUgraph g) {
  delete reinterpret_cast<FakeGraph *>(g);
  return CUDA_SUCCESS;
}
CUresult fEventCreate(CUevent *e, unsigned) {
  *e = reinterpret_cast<CUevent>(&g_event_tag);
  return CUDA_SUCCESS;
}
CUresult fEventRecord(CUevent, CUstream) { return CUDA_SUCCESS; }
CUresult fEventSynchronize(CUevent) {
  FakeCudaDriver &f = fake();
  if (CUresult r = f.refuseInCapture("cuEventSynchronize"))
    return r;
  return f.flush();
}
CUresult fEventElapsedTime(float *ms, CUevent, CUevent) {
  *ms = 0.0f;
  return CUDA_SUCCESS;
}
CUresult fEventDestroy(CUevent) { return CUDA_SUCCESS; }

} // namespace

FakeCudaDriver::FakeCudaDriver(Options o) : opts_(std::move(o)) {
  if (g_fake)
    throw std::logic_error("only one FakeCudaDriver may be alive at a time");
  g_fake = this;
  auto t = std::make_shared<CudaDriver>();
  t->source = "fake CUDA driver (emulation)";
  t->cuInit = fInit;
  t->cuDriverGetVersion = fDriverGetVersion;
  t->cuGetErrorName = fGetErrorName;
  t->cuGetErrorString = fGetErrorString;
  t->cuDeviceGetCount = fDeviceGetCount;
  t->cuDeviceGet = fDeviceGet;
  t->cuDeviceGetAttribute = fDeviceGetAttribute;
  t->cuDeviceGetName = fDeviceGetName;
  t->cuDevicePrimaryCtxRetain = fPrimaryCtxRetain;
  t->cuDevicePrimaryCtxRelease = fPrimaryCtxRelease;
  t->cuCtxSetCurrent = fCtxSetCurrent;
  t->cuMemAlloc = fMemAlloc;
  t->cuMemFree = fMemFree;
  t->cuMemGetInfo = fMemGetInfo;
  t->cuMemHostAlloc = fMemHostAlloc;
  t->cuMemFreeHost = fMemFreeHost;
  t->cuMemcpyHtoDAsync = fHtoD;
  t->cuMemcpyDtoHAsync = fDtoH;
  t->cuMemcpyDtoDAsync = fDtoD;
  t->cuMemsetD8Async = fMemsetD8;
  t->cuModuleLoadData = fModuleLoadData;
  t->cuModuleLoadDataEx = fModuleLoadDataEx;
  t->cuModuleUnload = fModuleUnload;
  t->cuModuleGetFunction = fModuleGetFunction;
  t->cuFuncSetAttribute = fFuncSetAttribute;
  t->cuLaunchKernel = fLaunchKernel;
  t->cuStreamCreate = fStreamCreate;
  t->cuStreamSynchronize = fStreamSynchronize;
  t->cuStreamDestroy = fStreamDestroy;
  t->cuStreamBeginCapture = fBeginCapture;
  t->cuStreamEndCapture = fEndCapture;
  t->cuGraphInstantiateWithFlags = fGraphInstantiate;
  t->cuGraphLaunch = fGraphLaunch;
  t->cuGraphExecDestroy = fGraphExecDestroy;
  t->cuGraphDestroy = fGraphDestroy;
  t->cuEventCreate = fEventCreate;
  t->cuEventRecord = fEventRecord;
  t->cuEventSynchronize = fEventSynchronize;
  t->cuEventElapsedTime = fEventElapsedTime;
  t->cuEventDestroy = fEventDestroy;
  table_ = t;
}

FakeCudaDriver::~FakeCudaDriver() {
  for (auto &a : allocs_)
    std::free(a.first);
  for (auto &a : pinned_)
    std::free(a.first);
  g_fake = nullptr;
}

bool FakeCudaDriver::shouldFail(const char *member) {
  if (opts_.failCall != member)
    return false;
  return callCount_++ >= opts_.failAfter;
}

int FakeCudaDriver::record(Op op) {
  if (capturing) {
    if (op.kind == 0)
      ++capturedLaunches;
    captured.push_back(std::move(op));
    return CUDA_SUCCESS;
  }
  if (opts_.asyncStream) {
    pending.push_back(std::move(op));
    return CUDA_SUCCESS;
  }
  return run(op, false);
}

cuda::CUresult FakeCudaDriver::refuseInCapture(const char *member) {
  if (!capturing)
    return CUDA_SUCCESS;
  captureViolations.push_back(member);
  captureInvalidated = true;
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

int FakeCudaDriver::flush() {
  std::vector<Op> ops;
  ops.swap(pending);
  for (const Op &op : ops) {
    const int r = run(op, op.fromGraph);
    if (r != CUDA_SUCCESS)
      return r;
  }
  return CUDA_SUCCESS;
}

bool FakeCudaDriver::isPinned(const void *p) const {
  auto it = pinned_.upper_bound(const_cast<void *>(p));
  if (it == pinned_.begin())
    return false;
  --it;
  const char *b = static_cast<const char *>(it->first);
  return static_cast<const char *>(p) < b + it->second;
}

int FakeCudaDriver::run(const Op &op, bool fromGraph) {
  if (op.kind == 1) {
    std::memmove(op.dst, op.staged.empty() ? op.src : op.staged.data(), op.bytes);
    return CUDA_SUCCESS;
  }
  if (op.kind == 2) {
    std::memset(op.dst, op.value, op.bytes);
    return CUDA_SUCCESS;
  }
  FakeLaunch l;
  l.name = op.name;
  for (int i = 0; i < 3; ++i) {
    l.grid[i] = op.grid[i];
    l.block[i] = op.block[i];
  }
  l.shmem = op.shmem;
  l.fromGraph = fromGraph;
  launches.push_back(l);
  cudaemu::LaunchOptions lo;
  lo.workers = opts_.emuWorkers;
  std::vector<uint64_t> params = op.params; // kernels get their own copy
  if (op.host) {
    op.host->run(params.data());
    return CUDA_SUCCESS;
  }
  void *args[] = {params.data()};
  const auto *k = static_cast<const cudaemu::RegisteredKernel *>(op.kernel);
  // Emulation errors (deadlocks, shared memory overflow) are test failures:
  // they propagate as ingot::Error rather than a CUDA error code.
  k->run(lo, dim3(op.grid[0], op.grid[1], op.grid[2]), dim3(op.block[0], op.block[1], op.block[2]),
         op.shmem, args);
  return CUDA_SUCCESS;
}

} // namespace cudatest
} // namespace ingot
