// The CPU executor: binds a plan's weights (embedded or external), owns the
// activation arena, and runs the flat program step by step for one batch.
#pragma once
#include "ingot/runtime/kv_cache.h"
#include "ingot/runtime/plan.h"
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ingot {

namespace cuda {
struct CudaDriver;
}

// Where a plan runs (createExecutor). Auto: CUDA when the driver loads, a
// device exists and the plan has CUDA kernels, else the CPU.
enum class DeviceKind { Cpu, Cuda, Auto };
// "cpu" | "cuda" | "auto"; false otherwise.
bool parseDeviceKind(const std::string &s, DeviceKind &out);

struct ExecutorOptions {
  std::string weightsDir;   // overrides the plan's weights_dir (external plans)
  int numThreads = 0;       // 0: all cores
  int64_t kvCacheBytes = 0; // 0: default (CPU: 256 MiB or what max_position
                            // needs; CUDA: what gpuMemoryFraction leaves)
  DeviceKind device = DeviceKind::Cpu;
  int cudaDevice = 0;              // device ordinal
  double gpuMemoryFraction = 0.9;  // share of free device memory the executor may use
  bool cudaGraphs = true;          // capture decode steps into CUDA graphs
  // The driver table to use; null: dlopen libcuda.so.1 (tests pass a fake).
  std::shared_ptr<const cuda::CudaDriver> cudaDriver;
};

// One draw of Executor::sampleOnDevice: row `row` of the last step's
// logits, sampled as runtime/cuda/kernels/sampling.cuh defines it (greedy
// when temperature <= 0 or topK == 1; top-k, then top-p over the top-k mass;
// one Philox4x32-10 uniform keyed by (seed, counter), sampling_abi.h).
struct DeviceSampleParams {
  int64_t row = 0;          // in [0, batch.seqs.size()) of the last step
  float temperature = 0.0f; // <= 0: greedy
  int topK = 0;             // <= 0 or >= vocab: off
  float topP = 1.0f;        // 1: off
  uint64_t seed = 0;
  int64_t counter = 0;      // e.g. tokens the sequence generated so far
};

class Executor {
public:
  virtual ~Executor() = default;
  // Runs one step. `tokens` and `positions` have batch.numTokens() entries.
  // Returns logits [batch.seqs.size(), vocab] for each sequence's last token.
  virtual const float *step(const std::vector<int32_t> &tokens,
                            const std::vector<int32_t> &positions,
                            const BatchMeta &batch) = 0;

  // The same step, but the logits may stay where they were computed (the
  // device): follow with sampleOnDevice() and/or fetchLogits(), which
  // downloads them only when called. Executors that compute on the host
  // keep the default: step(), and fetchLogits() returns its result.
  virtual void stepDeferLogits(const std::vector<int32_t> &tokens,
                               const std::vector<int32_t> &positions, const BatchMeta &batch) {
    deferredLogits_ = step(tokens, positions, batch);
  }
  // The logits [batch.seqs.size(), vocab] of the last stepDeferLogits(), on
  // the host (valid until the next step).
  virtual const float *fetchLogits() { return deferredLogits_; }
  // Whether sampleOnDevice() is available (CUDA: the plan's module has
  // ingot_sample_f32; plans of older compilers lack it).
  virtual bool canSampleOnDevice() const { return false; }
  // Samples per_seq[i] from the logits of the last stepDeferLogits() (or
  // step()) where they lie, into tokens_out[i]; only the tokens come back.
  virtual void sampleOnDevice(const std::vector<DeviceSampleParams> &per_seq,
                              std::vector<int32_t> &tokens_out);

  virtual PagedKvCache &kvCache() = 0;
  virtual int64_t vocabSize() const = 0;
  virtual int64_t maxTokensPerStep() const = 0;
  virtual int64_t maxSeqsPerStep() const = 0;
  // One line for logs: "cpu (8 threads)", "cuda: NVIDIA H100 (sm_90), cubin sm_90a, ...".
  virtual std::string description() const { return "cpu"; }

protected:
  const float *deferredLogits_ = nullptr;
};

std::unique_ptr<Executor> createCpuExecutor(const PlanFile &plan,
                                            const ExecutorOptions &opts);
// The CUDA executor (runtime/src/cuda/); throws ingot::Error when the driver,
// the device or the plan's CUDA module cannot be used.
std::unique_ptr<Executor> createCudaExecutor(const PlanFile &plan,
                                             const ExecutorOptions &opts);
// Why `plan` cannot run on CUDA here ("" when it can): no libcuda, no
// device, or a plan compiled for the CPU only. Fills opts' driver use.
std::string cudaUnavailableReason(const PlanFile &plan, const ExecutorOptions &opts);
// Picks the executor for opts.device. Auto falls back to the CPU when CUDA
// is unavailable and stores the one-line reason in *note, or prints it as
// one line on stderr when note is null; Cuda throws ingot::Error with that
// reason instead.
std::unique_ptr<Executor> createExecutor(const PlanFile &plan, const ExecutorOptions &opts,
                                         std::string *note = nullptr);

} // namespace ingot
