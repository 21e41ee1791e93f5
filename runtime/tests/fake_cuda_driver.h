// A fake CUDA driver for tests without a GPU: fills the CudaDriver table
// (src/cuda/cuda_driver.h) with functions that keep "device" memory in host
// memory and launch kernels by name through the emulation's registry
// (cuda/emu/cuda_emu.h: kernels registered by a TU that defines
// INGOT_EMU_REGISTER_KERNELS). Stream capture records kernel launches (with
// a copy of the parameter bytes, as the real driver does), copies and
// memsets; a graph launch replays them. Every launch is logged.
//
// The table's functions are plain function pointers, so they reach the one
// live FakeCudaDriver through a global: create one at a time.
#pragma once
#include "../src/cuda/cuda_driver.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ingot {
namespace cudatest {

struct FakeLaunch {
  std::string name;
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned shmem = 0;
  bool fromGraph = false;
};

// A kernel implemented on the host (e.g. a stand-in for a plan's generated
// Elementwise kernel, which the test binary cannot compile): gets the
// parameter struct's bytes.
struct HostKernel {
  std::function<void(const void *params)> run;
  size_t paramBytes = 0;
};

class FakeCudaDriver {
public:
  struct Options {
    int deviceCount = 1;
    int major = 8, minor = 0;
    std::string name = "Fake CUDA device (emulation)";
    size_t totalBytes = size_t(512) << 20;
    bool initFails = false;            // cuInit returns CUDA_ERROR_NO_DEVICE
    std::set<std::string> hidden;      // cuModuleGetFunction reports these missing
    std::string failCall;              // this call (member name) fails ...
    int failAfter = 0;                 // ... after this many successful calls
    int failWith = cuda::CUDA_ERROR_OUT_OF_MEMORY;
    int emuWorkers = 2;                // OS threads per emulated launch
    // Entry points not in the emulation's registry, run on the host.
    std::map<std::string, HostKernel> hostKernels;
    // Stream work (launches, copies, memsets, graph replays) runs when the
    // host synchronises (cuStreamSynchronize, cuEventSynchronize, a copy to
    // pageable host memory, cuMemFree*), as on a real device, instead of at
    // the call: a copy from pinned memory (cuMemHostAlloc) reads its source
    // then, so the host rewriting a pinned buffer before the copy ran is seen;
    // a copy from pageable memory takes its source at the call (the real
    // driver stages it before returning).
    bool asyncStream = false;
  };
  explicit FakeCudaDriver(Options o);
  FakeCudaDriver() : FakeCudaDriver(Options{}) {}
  ~FakeCudaDriver();
  FakeCudaDriver(const FakeCudaDriver &) = delete;
  FakeCudaDriver &operator=(const FakeCudaDriver &) = delete;

  std::shared_ptr<const cuda::CudaDriver> table() const { return table_; }
  Options &options() { return opts_; }

  // Log of every kernel run (direct launches and graph replays); captured
  // launches are logged when replayed.
  std::vector<FakeLaunch> launches;
  int64_t capturedLaunches = 0, graphLaunches = 0, modulesLoaded = 0;
  // Device-to-host copies (cuMemcpyDtoHAsync calls) and their bytes.
  int64_t dtohCopies = 0, dtohBytes = 0;
  std::string lastImage; // first bytes of the last module image loaded
  size_t liveAllocations() const { return allocs_.size(); }
  size_t bytesInUse() const { return used_; }
  bool isPinned(const void *p) const;

  // Internal (called by the table's functions).
  struct Op {
    int kind = 0; // 0 kernel, 1 copy, 2 memset
    std::string name;
    const void *kernel = nullptr; // cudaemu::RegisteredKernel
    const HostKernel *host = nullptr;
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1}, shmem = 0;
    std::vector<uint64_t> params; // the parameter struct's bytes
    void *dst = nullptr;
    const void *src = nullptr;
    size_t bytes = 0;
    unsigned char value = 0;
    std::vector<uint8_t> staged; // a pageable source, taken at the call
    bool fromGraph = false;
  };
  bool shouldFail(const char *member);
  int run(const Op &op, bool fromGraph);
  int record(Op op); // captured or run now
  bool capturing = false;
  bool captureInvalidated = false; // a capture-unsafe call during the capture
  // Calls made during a capture that the real driver refuses there (as
  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, invalidating the capture).
  std::vector<std::string> captureViolations;
  cuda::CUresult refuseInCapture(const char *member);
  std::vector<Op> captured;
  std::vector<Op> pending; // asyncStream: enqueued, not yet run
  int flush();             // runs `pending`
  std::map<void *, size_t> pinned_; // cuMemHostAlloc blocks
  std::map<void *, size_t> allocs_;
  size_t used_ = 0;
  int callCount_ = 0;

private:
  Options opts_;
  std::shared_ptr<cuda::CudaDriver> table_;
};

} // namespace cudatest
} // namespace ingot
