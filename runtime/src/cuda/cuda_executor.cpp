// The CUDA executor: runs a Decoder plan's steps as the kernels of the plan's
// CUDA module (docs/dev/cuda-abi.md) through the driver API table of
// cuda_driver.h (dlopen'ed libcuda, or the emulation-backed fake in tests).
//
// Load: create the primary context and one stream, choose and load the
// module image for the device (cuda_plan.h), resolve each step's entry
// points, upload the weights (already in the plan's compute dtype), size
// the KV cache from free memory x gpu_memory_fraction, allocate ONE device
// arena:
//   [activations (plan memory offsets)] [batch metadata] [decode partials]
//   [rope inv_freq tables] [logits gather rows] [KV cache: per layer K, V]
// and capture the decode CUDA graphs (one per batch-size bucket).
// Step: validate the batch (the CPU executor's checks), write tokens,
// positions and batch metadata into one pinned staging buffer, upload it to
// the fixed metadata region, launch the steps (or replay the captured graph
// for a decode batch padded to its bucket), copy the f32 logits back.
//
// Rope -> Attention fusion: when the q and k Rope steps feed only the next
// Attention, take the same positions and tables, and their inputs stay
// untouched until the Attention runs (no step in between writes over them,
// and the attention output does not overlap q), the Rope steps are skipped
// and ingot_rope_kv_append rotates q in place, writes rotated k and v to the
// cache. Otherwise the Rope steps run ingot_rope_<TN>_d<D> on their outputs
// and the Attention appends k and v unrotated (apply_rope = 0).
#include "../cpu_executor_impl.h"
#include "cublaslt.h"
#include "cuda_driver.h"
#include "cuda_plan.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"

#include "cuda/kernels/act_abi.h"
#include "cuda/kernels/attention_abi.h"
#include "cuda/kernels/elementwise_abi.h"
#include "cuda/kernels/embedding_abi.h"
#include "cuda/kernels/gemm_abi.h"
#include "cuda/kernels/moe_abi.h"
#include "cuda/kernels/norm_abi.h"
#include "cuda/kernels/rope_abi.h"
#include "cuda/kernels/sampling_abi.h"
#include "cuda/kernels/softmax_abi.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

namespace ingot {
namespace cuda {
namespace {

namespace fb = ::ingot::plan;
using cpuexec::PreparedStep;
using cpuexec::TensorSlot;
using cpuexec::toShape;

constexpr size_t kAlign = 256;
size_t alignUp(size_t n, size_t a = kAlign) { return (n + a - 1) / a * a; }


int64_t numelAt(const std::vector<int64_t> &shape, int64_t T, int64_t S) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= cpuexec::resolveDim(d, T, S);
  return n;
}

const char *dtypeSuffix(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::BF16: return "bf16";
  case DType::F16: return "f16";
  default: return nullptr;
  }
}

// A device pointer as the kernels' parameter structs take it.
inline void *dp(CUdeviceptr p) { return reinterpret_cast<void *>(uintptr_t(p)); }

// The KV cache in device memory: per layer K and V, each
// [numBlocks][blockSize][numKvHeads][headDim] of the compute dtype. The last
// block is reserved for graph padding and not exposed to the engine.
class DeviceKvCache final : public PagedKvCache {
public:
  DeviceKvCache(const CudaDriver &d, CUcontext ctx, CUstream s, std::vector<KvLayerShape> layers, int bs,
                int64_t usableBlocks, size_t elem)
      : d_(d), ctx_(ctx), s_(s), layers_(std::move(layers)), bs_(bs), usable_(usableBlocks), elem_(elem) {
    size_t off = 0;
    for (const KvLayerShape &l : layers_) {
      const size_t bytes = alignUp(size_t(totalBlocks()) * blockBytes(l));
      kOff_.push_back(off);
      off += bytes;
      vOff_.push_back(off);
      off += bytes;
    }
    bytes_ = off;
  }
  void bind(CUdeviceptr base) { base_ = base; }
  int blockSize() const override { return bs_; }
  int64_t numBlocks() const override { return usable_; }
  size_t bytes() const override { return bytes_; }
  int64_t totalBlocks() const { return usable_ + 1; }
  int64_t paddingBlock() const { return usable_; }
  size_t blockBytes(const KvLayerShape &l) const {
    return size_t(bs_) * size_t(l.numKvHeads) * size_t(l.headDim) * elem_;
  }
  CUdeviceptr key(int layer) const { return base_ + kOff_[size_t(layer)]; }
  CUdeviceptr value(int layer) const { return base_ + vOff_[size_t(layer)]; }
  void copyBlock(int64_t src, int64_t dst) override {
    INGOT_CHECK(src >= 0 && src < usable_ && dst >= 0 && dst < usable_,
                "KV cache: cannot copy block " + std::to_string(src) + " to " +
                    std::to_string(dst) + " (" + std::to_string(usable_) + " blocks)");
    if (src == dst)
      return;
    INGOT_CU(d_, cuCtxSetCurrent, (ctx_), "making the device's context current");
    for (size_t l = 0; l < layers_.size(); ++l) {
      const size_t n = blockBytes(layers_[l]);
      for (size_t off : {kOff_[l], vOff_[l]})
        INGOT_CU(d_, cuMemcpyDtoDAsync,
                 (base_ + off + size_t(dst) * n, base_ + off + size_t(src) * n, n, s_),
                 "copying KV block " + std::to_string(src) + " to " + std::to_string(dst) +
                     " (layer " + std::to_string(l) + ")");
    }
  }
  static size_t bytesFor(const std::vector<KvLayerShape> &layers, int bs, int64_t totalBlocks,
                         size_t elem) {
    size_t n = 0;
    for (const KvLayerShape &l : layers)
      n += 2 * alignUp(size_t(totalBlocks) * size_t(bs) * size_t(l.numKvHeads) *
                       size_t(l.headDim) * elem);
    return n;
  }

private:
  const CudaDriver &d_;
  CUcontext ctx_;
  CUstream s_;
  std::vector<KvLayerShape> layers_;
  int bs_;
  int64_t usable_;
  size_t elem_;
  std::vector<size_t> kOff_, vOff_;
  size_t bytes_ = 0;
  CUdeviceptr base_ = 0;
};

struct Fn {
  CUfunction f = nullptr;
  std::string name;
  explicit operator bool() const { return f != nullptr; }
};

struct DevStep {
  const PreparedStep *p = nullptr;
  bool skip = false; // a Rope step fused into the next Attention
  Fn main, vec;      // the step's kernel (Elementwise: scalar + 16-byte variant)
  Fn gather;         // Logits: ingot_gather_rows_<TN>
  Fn moeRoute, moePermute, moeGemm, moeSiluMul, moeCombine; // MoE (main: the router GEMM)
  // Attention
  Fn ropeKv, prefill, prefillMma, decode, combine;
  int group = 1, headDim = 0, splitTokens = 0;
  int fusedQ = -1, fusedK = -1; // Rope step indices fused into this Attention
  CUdeviceptr invFreq = 0;      // Rope / fused Attention
  size_t invFreqOffset = 0;     // in the scratch region, while sizing
  int epilogue = 0;             // Linear
};

// Batch metadata, fixed layout (offsets into the metadata region and the
// pinned staging buffer): int32 tokens[maxTokens], positions[maxTokens],
// query_start[maxSeqs+1], context_lens[maxSeqs],
// block_tables[maxSeqs][maxBlocksPerSeq]; int64 slot_mapping[maxTokens].
struct MetaLayout {
  size_t tokens = 0, positions = 0, queryStart = 0, contextLens = 0, blockTables = 0,
         slotMapping = 0, bytes = 0;
  void build(int64_t maxTokens, int64_t maxSeqs, int64_t maxBlocksPerSeq) {
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t o = off;
      off = alignUp(off + bytes);
      return o;
    };
    tokens = take(size_t(maxTokens) * 4);
    positions = take(size_t(maxTokens) * 4);
    queryStart = take(size_t(maxSeqs + 1) * 4);
    contextLens = take(size_t(maxSeqs) * 4);
    blockTables = take(size_t(maxSeqs) * size_t(maxBlocksPerSeq) * 4);
    slotMapping = take(size_t(maxTokens) * 8);
    bytes = off;
  }
};

// Device sampling buffers (offsets into the scratch region and the pinned
// sampling buffer), for maxSeqs draws: f32 temperature[], f32 top_p[],
// i32 top_k[], u64 seeds[], i64 counters[], then i32 tokens[] (the output).
struct SampleLayout {
  size_t temperature = 0, topP = 0, topK = 0, seeds = 0, counters = 0, tokens = 0, bytes = 0;
  void build(int64_t maxSeqs) {
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t o = off;
      off = alignUp(off + bytes);
      return o;
    };
    temperature = take(size_t(maxSeqs) * 4);
    topP = take(size_t(maxSeqs) * 4);
    topK = take(size_t(maxSeqs) * 4);
    seeds = take(size_t(maxSeqs) * 8);
    counters = take(size_t(maxSeqs) * 8);
    tokens = take(size_t(maxSeqs) * 4);
    bytes = off;
  }
};

class CudaExecutor final : public Executor {
public:
  CudaExecutor(const PlanFile &pf, const ExecutorOptions &opts,
               std::shared_ptr<const CudaDriver> drv)
      : drvHold_(std::move(drv)), d_(*drvHold_), plan_(pf.program()), opts_(opts) {
    try {
      load(pf);
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaExecutor() override { release(); }

  const float *step(const std::vector<int32_t> &tokens, const std::vector<int32_t> &positions,
                    const BatchMeta &batch) override {
    stepDeferLogits(tokens, positions, batch);
    return fetchLogits();
  }

  // The step's kernels (or the decode graph), without the logits download:
  // they stay in the plan's logits_output activation until fetchLogits() or
  // sampleOnDevice() reads them (the next step overwrites them).
  void stepDeferLogits(const std::vector<int32_t> &tokens, const std::vector<int32_t> &positions,
                       const BatchMeta &batch) override {
    logitsRows_ = -1; // invalid until the step has been launched
    // The engine may step from another thread than the one that loaded.
    INGOT_CU(d_, cuCtxSetCurrent, (ctx_), "making the device's context current");
    if (unsynced_) { // the staging buffer may still be in flight
      INGOT_CU(d_, cuStreamSynchronize, (stream_), "running the previous step's kernels");
      unsynced_ = false;
    }
    cpuexec::validateBatch(tokens, positions, batch,
                           {maxTokens_, maxSeqs_, vocab_, maxPosition_, hasAttention_,
                            kv_->blockSize(), kv_->numBlocks()});
    const int64_t T = int64_t(tokens.size());
    const int64_t S = int64_t(batch.seqs.size());
    bool decode = true;
    int32_t maxQuery = 0, maxCtx = 0;
    for (const SeqStep &q : batch.seqs) {
      decode = decode && q.queryLen == 1;
      maxQuery = std::max(maxQuery, q.queryLen);
      maxCtx = std::max(maxCtx, q.contextLen);
    }
    INGOT_CHECK(!hasAttention_ || (maxCtx + kv_->blockSize() - 1) / kv_->blockSize() <=
                                      maxBlocksPerSeq_,
                "batch: a context of " + std::to_string(maxCtx) + " tokens exceeds the " +
                    std::to_string(maxBlocksPerSeq_ * kv_->blockSize()) +
                    " the CUDA executor's block tables hold");
    int64_t runS = S, runT = T;
    const GraphExec *g = nullptr;
    if (decode && !graphs_.empty()) {
      const int b = bucketFor(buckets_, S);
      auto it = b > 0 ? graphs_.find(b) : graphs_.end();
      if (it != graphs_.end()) {
        g = &it->second;
        runS = runT = b;
      }
    }
    stage(tokens, positions, batch, runS);
    unsynced_ = true; // from here the staging buffer may be in flight (even if a launch throws)
    upload(runT, runS);
    if (g) {
      INGOT_CU(d_, cuGraphLaunch, (g->exec, stream_),
               "replaying the decode graph for " + std::to_string(runS) + " sequences");
      ++graphReplays_;
    } else {
      runSteps(T, S, decode, maxQuery, maxCtx);
    }
    logitsRows_ = S;
    logitsFetched_ = false;
    unsynced_ = true;
  }

  // Downloads the last step's logits [S, vocab] (once per step).
  const float *fetchLogits() override {
    INGOT_CHECK(logitsRows_ >= 0, "CUDA executor: fetchLogits() without a completed step");
    if (logitsFetched_)
      return logitsHost_;
    INGOT_CU(d_, cuCtxSetCurrent, (ctx_), "making the device's context current");
    INGOT_CU(d_, cuMemcpyDtoHAsync,
             (logitsHost_, tensorPtr(plan_.logits_output()), size_t(logitsRows_ * vocab_) * sizeof(float),
              stream_),
             "copying the logits back");
    INGOT_CU(d_, cuStreamSynchronize, (stream_), "running the step's kernels");
    unsynced_ = false;
    logitsFetched_ = true;
    return logitsHost_;
  }

  bool canSampleOnDevice() const override { return bool(sample_); }

  // ingot_sample_f32 over rows of the logits still on the device. The
  // per-draw parameters go up through the pinned sampling buffer (one copy);
  // one launch per run of draws whose rows are consecutive (usually one for
  // the whole batch; a fork samples the same row again in a launch of its
  // own), then only the int32 tokens come back. Runs after the step's
  // kernels or graph replay on the same stream, outside any graph.
  void sampleOnDevice(const std::vector<DeviceSampleParams> &per_seq,
                      std::vector<int32_t> &tokens_out) override {
    INGOT_CHECK(sample_, "CUDA executor: the plan's CUDA module has no ingot_sample_f32 (" + imageWhy_ +
                             "); recompile the plan with this ingotc to sample on the device");
    INGOT_CHECK(logitsRows_ >= 0, "CUDA executor: sampleOnDevice() without a completed step");
    for (size_t i = 0; i < per_seq.size(); ++i)
      INGOT_CHECK(per_seq[i].row >= 0 && per_seq[i].row < logitsRows_,
                  "CUDA executor: device sample " + std::to_string(i) + " reads logits row " +
                      std::to_string(per_seq[i].row) + "; the last step has " + std::to_string(logitsRows_));
    tokens_out.assign(per_seq.size(), 0);
    if (per_seq.empty())
      return;
    INGOT_CU(d_, cuCtxSetCurrent, (ctx_), "making the device's context current");
    const CUdeviceptr logits = tensorPtr(plan_.logits_output());
    char *host = static_cast<char *>(sampleHost_);
    const CUdeviceptr dev = scratchBase_ + sampleOff_;
    for (size_t base = 0; base < per_seq.size(); base += size_t(maxSeqs_)) {
      const size_t n = std::min(per_seq.size() - base, size_t(maxSeqs_));
      float *temp = reinterpret_cast<float *>(host + sampleLayout_.temperature);
      float *topP = reinterpret_cast<float *>(host + sampleLayout_.topP);
      int *topK = reinterpret_cast<int *>(host + sampleLayout_.topK);
      auto *seeds = reinterpret_cast<unsigned long long *>(host + sampleLayout_.seeds);
      auto *ctrs = reinterpret_cast<long long *>(host + sampleLayout_.counters);
      for (size_t i = 0; i < n; ++i) {
        const DeviceSampleParams &q = per_seq[base + i];
        temp[i] = q.temperature;
        topP[i] = q.topP;
        topK[i] = q.topK;
        seeds[i] = q.seed;
        ctrs[i] = (long long)q.counter;
      }
      // The parameter arrays lie contiguously from offset 0 up to `tokens`.
      INGOT_CU(d_, cuMemcpyHtoDAsync, (dev, host, sampleLayout_.tokens, stream_),
               "uploading the sampling parameters");
      for (size_t j = 0; j < n;) {
        size_t m = 1;
        while (j + m < n && per_seq[base + j + m].row == per_seq[base + j].row + int64_t(m))
          ++m;
        IngotSampleParams p{};
        p.logits = static_cast<const float *>(dp(logits + CUdeviceptr(per_seq[base + j].row * vocab_) * 4));
        p.out_tokens = static_cast<int *>(dp(dev + sampleLayout_.tokens + j * 4));
        p.temperature = static_cast<const float *>(dp(dev + sampleLayout_.temperature + j * 4));
        p.top_p = static_cast<const float *>(dp(dev + sampleLayout_.topP + j * 4));
        p.top_k = static_cast<const int *>(dp(dev + sampleLayout_.topK + j * 4));
        p.seeds = static_cast<const unsigned long long *>(dp(dev + sampleLayout_.seeds + j * 8));
        p.counters = static_cast<const long long *>(dp(dev + sampleLayout_.counters + j * 8));
        p.rows = (long long)m;
        p.vocab = (long long)vocab_;
        const KernelLaunch l = ingot_sample_launch(p);
        void *args[] = {&p};
        INGOT_CU(d_, cuLaunchKernel,
                 (sample_.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shmem,
                  stream_, args, nullptr),
                 "launching ingot_sample_f32 for " + std::to_string(m) + " sequences");
        j += m;
      }
      INGOT_CU(d_, cuMemcpyDtoHAsync, (host + sampleLayout_.tokens, dev + sampleLayout_.tokens, n * 4, stream_),
               "copying the sampled tokens back");
      INGOT_CU(d_, cuStreamSynchronize, (stream_), "sampling on the device");
      unsynced_ = false;
      std::memcpy(tokens_out.data() + base, host + sampleLayout_.tokens, n * 4);
    }
  }

  PagedKvCache &kvCache() override { return *kv_; }
  int64_t vocabSize() const override { return vocab_; }
  int64_t maxTokensPerStep() const override { return maxTokens_; }
  int64_t maxSeqsPerStep() const override { return maxSeqs_; }
  std::string description() const override { return description_; }

  // For tests: how many decode steps replayed a graph.
  int64_t graphReplays() const { return graphReplays_; }

private:
  struct GraphExec {
    CUgraph graph = nullptr;
    CUgraphExec exec = nullptr;
  };

  // ---------------------------------------------------------------- load
  void load(const PlanFile &pf) {
    INGOT_CHECK(plan_.kind() == fb::PlanKind::Decoder,
                "the CUDA executor runs decoder plans; " + pf.path() + " is a graph plan");
    const fb::MemoryPlan *mem = plan_.memory();
    INGOT_CHECK(mem && plan_.tensors() && plan_.steps(), "plan has no memory plan, tensors or steps");
    maxTokens_ = mem->max_tokens();
    maxSeqs_ = mem->max_seqs();
    INGOT_CHECK(maxTokens_ >= 1 && maxSeqs_ >= 1 && maxTokens_ <= (int64_t(1) << 24) &&
                    maxSeqs_ <= (int64_t(1) << 20),
                "plan memory: max_tokens and max_seqs must be in a plausible range");
    maxPosition_ = plan_.model() ? plan_.model()->max_position() : 0;
    dtype_ = plan_.model() ? DType(plan_.model()->compute_dtype()) : DType::F32;
    tn_ = dtypeSuffix(dtype_);
    INGOT_CHECK(tn_, std::string("the CUDA executor needs an f32, bf16 or f16 compute dtype; the plan's is ") +
                         dtypeName(dtype_));
    elem_ = dtypeSize(dtype_);

    openDevice();
    // cuBLASLt for the GEMMs with the real driver (the fake runs kernels only).
    if (!opts_.cudaDriver) {
      std::string why;
      ltApi_ = loadCublasLt(&why);
      gemmWhy_ = ltApi_ ? "cuBLASLt (" + ltApi_->source + ", ingot_gemm where it has no algorithm)"
                        : "ingot_gemm (" + why + ")";
    } else {
      gemmWhy_ = "ingot_gemm";
    }
    loadModule();
    describeTensors();
    prepareSteps();
    resolveFunctions();
    planMemory();
    uploadWeights(pf);
    bindTensors();
    uploadTables();
    if (opts_.cudaGraphs && hasAttention_)
      captureGraphs();
    describe();
  }

  void openDevice() {
    INGOT_CU(d_, cuInit, (0), "initialising the CUDA driver (" + d_.source + ")");
    int count = 0;
    INGOT_CU(d_, cuDeviceGetCount, (&count), "counting CUDA devices");
    INGOT_CHECK(count > 0, "no CUDA device found (" + d_.source + ")");
    INGOT_CHECK(opts_.cudaDevice >= 0 && opts_.cudaDevice < count,
                "CUDA device " + std::to_string(opts_.cudaDevice) + " does not exist (" +
                    std::to_string(count) + " found)");
    INGOT_CU(d_, cuDeviceGet, (&dev_, opts_.cudaDevice), "opening CUDA device " + std::to_string(opts_.cudaDevice));
    INGOT_CU(d_, cuDeviceGetAttribute, (&ccMajor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev_),
             "reading the device's compute capability");
    INGOT_CU(d_, cuDeviceGetAttribute, (&ccMinor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev_),
             "reading the device's compute capability");
    INGOT_CU(d_, cuDeviceGetAttribute, (&smemOptin_, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev_),
             "reading the device's shared memory limit");
    char name[256] = {0};
    INGOT_CU(d_, cuDeviceGetName, (name, int(sizeof name) - 1, dev_), "reading the device's name");
    devName_ = name;
    INGOT_CU(d_, cuDevicePrimaryCtxRetain, (&ctx_, dev_), "creating the device's context");
    ctxRetained_ = true;
    INGOT_CU(d_, cuCtxSetCurrent, (ctx_), "making the device's context current");
    INGOT_CU(d_, cuStreamCreate, (&stream_, CU_STREAM_NON_BLOCKING), "creating the stream");
  }

  void loadModule() {
    std::vector<ModuleImage> images;
    std::vector<const fb::Kernel *> ks;
    if (plan_.kernels())
      for (const fb::Kernel *k : *plan_.kernels()) {
        images.push_back({k->arch() ? k->arch()->str() : "", k->format() ? k->format()->str() : ""});
        ks.push_back(k);
      }
    std::vector<std::string> targets;
    if (plan_.targets())
      for (const auto *t : *plan_.targets())
        targets.push_back(t->str());
    const ImageChoice c = chooseImage(images, ccMajor_, ccMinor_, targets);
    imageWhy_ = c.why;
    const fb::Kernel *k = ks[c.index];
    INGOT_CHECK(k->data() && k->data()->size() > 0, "the plan's CUDA image " + images[c.index].arch + " is empty");
    // A private, 8-byte aligned, NUL-terminated copy (PTX must end in NUL).
    std::vector<uint64_t> buf(k->data()->size() / 8 + 1, 0);
    std::memcpy(buf.data(), k->data()->data(), k->data()->size());
    // cuModuleLoadDataEx with an error log: a PTX image is JIT-compiled here,
    // and the JIT's log is the only account of why it failed.
    char log[8192] = {0};
    int jitOpts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *jitVals[2] = {log, reinterpret_cast<void *>(uintptr_t(sizeof log - 1))};
    const CUresult r = d_.cuModuleLoadDataEx(&module_, buf.data(), 2, jitOpts, jitVals);
    if (r != CUDA_SUCCESS) {
      module_ = nullptr;
      log[sizeof log - 1] = 0;
      throw Error(cudaErrorMessage(d_, r, "cuModuleLoadDataEx", "loading the plan's CUDA module (" + c.why + ")") +
                  (log[0] ? std::string("; JIT log: ") + log : std::string()));
    }
  }

  void describeTensors() {
    cpuexec::readTensorDescs(plan_, slots_);
    const int32_t lo = plan_.logits_output();
    INGOT_CHECK(lo >= 0 && size_t(lo) < slots_.size(), "plan logits_output is not a valid tensor id");
    const TensorSlot &l = slots_[size_t(lo)];
    INGOT_CHECK(l.kind == fb::TensorKind::Activation && l.shape.size() == 2 && l.shape[0] == -2 &&
                    l.shape[1] > 0 && l.dtype == DType::F32,
                "plan logits_output \"" + l.name + "\" must be an f32 [S,V] activation");
    vocab_ = l.shape[1];
    for (size_t i = 0; i < slots_.size(); ++i) {
      const TensorSlot &t = slots_[i];
      if (t.kind == fb::TensorKind::Input) {
        INGOT_CHECK(t.dtype == DType::I32 && t.shape == std::vector<int64_t>{-1},
                    "input tensor \"" + t.name + "\" must be int32 [T]");
        INGOT_CHECK(int32_t(i) == plan_.token_input() || int32_t(i) == plan_.position_input(),
                    "input tensor \"" + t.name + "\" is neither the plan's token_input nor position_input");
      } else if (int32_t(i) != lo) {
        INGOT_CHECK(t.dtype == dtype_, "tensor \"" + t.name + "\" is " + dtypeName(t.dtype) +
                                           "; the CUDA executor needs every activation and weight in the "
                                           "plan's compute dtype " + dtypeName(dtype_));
      }
    }
    const fb::KvCacheDesc *kd = plan_.kv_cache();
    if (kd && kd->layers())
      for (const fb::KvLayer *l : *kd->layers()) {
        INGOT_CHECK(l->num_kv_heads() > 0 && l->head_dim() > 0,
                    "plan kv_cache layer " + std::to_string(kvLayers_.size()) +
                        ": num_kv_heads and head_dim must be positive");
        kvLayers_.push_back({l->num_kv_heads(), l->head_dim()});
      }
    blockSize_ = kd && kd->block_size() > 0 ? kd->block_size() : 16;
  }

  void prepareSteps() {
    const size_t n = plan_.steps()->size();
    prepared_.reserve(n);
    for (size_t i = 0; i < n; ++i)
      prepared_.push_back(cpuexec::prepareStep(plan_, i, slots_, kvLayers_));
    steps_.resize(n);
    std::map<int, int> producer;
    std::map<int, std::vector<int>> consumers;
    for (size_t i = 0; i < n; ++i) {
      steps_[i].p = &prepared_[i];
      for (int t : prepared_[i].in)
        consumers[t].push_back(int(i));
      for (int t : prepared_[i].out)
        producer[t] = int(i);
      if (prepared_[i].op == fb::OpKind::Attention)
        hasAttention_ = true;
    }
    for (size_t i = 0; i < n; ++i) {
      const PreparedStep &p = prepared_[i];
      if (p.op != fb::OpKind::Attention)
        continue;
      auto pq = producer.find(p.in[0]), pk = producer.find(p.in[1]);
      if (pq == producer.end() || pk == producer.end())
        continue;
      const int rq = pq->second, rk = pk->second;
      if (rq == rk || prepared_[size_t(rq)].op != fb::OpKind::Rope || prepared_[size_t(rk)].op != fb::OpKind::Rope)
        continue;
      const PreparedStep &q = prepared_[size_t(rq)], &k = prepared_[size_t(rk)];
      auto only = [&](int tensor, int step) {
        const auto &c = consumers[tensor];
        return std::all_of(c.begin(), c.end(), [&](int s) { return s == step; });
      };
      bool ok = only(q.out[0], int(i)) && only(k.out[0], int(i)) && only(q.in[0], rq) &&
                only(k.in[0], rk) && q.in[1] == k.in[1] && q.invFreq == k.invFreq &&
                q.rope.rotaryDim == k.rope.rotaryDim && q.rope.interleaved == k.rope.interleaved &&
                q.rope.headDim == p.attn.headDim && k.rope.headDim == p.attn.headDim &&
                q.in[0] != k.in[0];
      // q (rotated in place) and k are read when the Attention runs: nothing
      // in between may write over them, nor the attention output over q.
      for (int s = std::min(rq, rk) + 1; ok && s < int(i); ++s) {
        if (s == rq || s == rk)
          continue;
        for (int o : prepared_[size_t(s)].out)
          ok = ok && !overlaps(o, q.in[0]) && !overlaps(o, k.in[0]);
      }
      for (int o : p.out)
        ok = ok && !overlaps(o, q.in[0]);
      if (!ok)
        continue;
      steps_[i].fusedQ = rq;
      steps_[i].fusedK = rk;
      steps_[size_t(rq)].skip = true;
      steps_[size_t(rk)].skip = true;
    }
  }

  // Whether two activation tensors' arena ranges intersect.
  bool overlaps(int a, int b) const {
    const fb::TensorDesc *x = plan_.tensors()->Get(flatbuffers::uoffset_t(a));
    const fb::TensorDesc *y = plan_.tensors()->Get(flatbuffers::uoffset_t(b));
    if (x->kind() != fb::TensorKind::Activation || y->kind() != fb::TensorKind::Activation)
      return a == b;
    return x->arena_offset() < y->arena_offset() + y->arena_size() &&
           y->arena_offset() < x->arena_offset() + x->arena_size();
  }

  Fn function(const std::string &name, bool required, const std::string &label) {
    auto it = fnCache_.find(name);
    if (it != fnCache_.end()) {
      INGOT_CHECK(it->second.f || !required, label + ": entry point " + name +
                                                 " is missing from the plan's CUDA module (" +
                                                 imageWhy_ + ")");
      return it->second;
    }
    Fn fn;
    fn.name = name;
    const CUresult r = d_.cuModuleGetFunction(&fn.f, module_, name.c_str());
    if (r == CUDA_ERROR_NOT_FOUND || r == CUDA_ERROR_INVALID_VALUE) {
      fn.f = nullptr;
      fnCache_[name] = fn;
      INGOT_CHECK(!required, label + ": entry point " + name + " is missing from the plan's CUDA module (" +
                                 imageWhy_ + "); was the plan compiled by an older ingotc?");
      return fn;
    }
    checkCuda(d_, r, "cuModuleGetFunction", "looking up " + name + " for " + label);
    fnCache_[name] = fn;
    return fn;
  }

  void allowShmem(const Fn &f, unsigned bytes, const std::string &label) {
    if (!f || bytes <= 48 * 1024)
      return;
    INGOT_CHECK(int(bytes) <= smemOptin_, label + ": " + f.name + " needs " + std::to_string(bytes) +
                                             " bytes of shared memory, the device allows " +
                                             std::to_string(smemOptin_));
    INGOT_CU(d_, cuFuncSetAttribute, (f.f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes)),
             "raising " + f.name + "'s shared memory limit");
  }

  void resolveFunctions() {
    const std::string tn = tn_;
    for (size_t i = 0; i < steps_.size(); ++i) {
      DevStep &s = steps_[i];
      const PreparedStep &p = *s.p;
      const std::string &L = p.label;
      switch (p.op) {
      case fb::OpKind::Embedding: s.main = function("ingot_embedding_" + tn, true, L); break;
      case fb::OpKind::Linear:
        s.main = function("ingot_gemm_" + tn, true, L);
        if (p.act == cpu::Activation::None)
          s.epilogue = INGOT_GEMM_EPI_NONE;
        else if (p.act == cpu::Activation::GeluTanh)
          s.epilogue = INGOT_GEMM_EPI_GELU_TANH;
        else if (p.act == cpu::Activation::Gelu)
          s.epilogue = INGOT_GEMM_EPI_GELU_ERF;
        else
          throw Error(L + ": the CUDA GEMM epilogue supports no activation, gelu and gelu_tanh; "
                          "this Linear fuses another");
        allowShmem(s.main, ingot_gemm_shmem(INGOT_GEMM_CFG_SMALL), L);
        allowShmem(s.main, ingot_gemm_shmem(INGOT_GEMM_CFG_LARGE), L);
        break;
      case fb::OpKind::Logits:
        s.main = function("ingot_gemm_" + tn, true, L);
        s.gather = function("ingot_gather_rows_" + tn, true, L);
        // Device sampling (optional: modules of older plans lack it).
        sample_ = function("ingot_sample_f32", false, L);
        allowShmem(s.main, ingot_gemm_shmem(INGOT_GEMM_CFG_SMALL), L);
        allowShmem(s.main, ingot_gemm_shmem(INGOT_GEMM_CFG_LARGE), L);
        break;
      case fb::OpKind::RmsNorm: s.main = function("ingot_rms_norm_" + tn, true, L); break;
      case fb::OpKind::LayerNorm: s.main = function("ingot_layer_norm_" + tn, true, L); break;
      case fb::OpKind::AddRmsNorm: s.main = function("ingot_add_rms_norm_" + tn, true, L); break;
      case fb::OpKind::AddLayerNorm: s.main = function("ingot_add_layer_norm_" + tn, true, L); break;
      case fb::OpKind::SiluMul: s.main = function("ingot_silu_mul_" + tn, true, L); break;
      case fb::OpKind::Softmax: s.main = function("ingot_softmax_" + tn, true, L); break;
      case fb::OpKind::GatherLast: s.main = function("ingot_gather_rows_" + tn, true, L); break;
      case fb::OpKind::Rope:
        if (!s.skip)
          s.main = function("ingot_rope_" + tn + "_d" + std::to_string(p.rope.headDim), true, L);
        break;
      case fb::OpKind::Attention: {
        const int D = p.attn.headDim, G = p.attn.numHeads / p.attn.numKvHeads;
        s.headDim = D;
        s.group = G;
        const std::string dg = "_d" + std::to_string(D) + "_g" + std::to_string(G);
        s.ropeKv = function("ingot_rope_kv_append_" + tn + "_d" + std::to_string(D), true, L);
        s.prefill = function("ingot_attn_prefill_" + tn + dg, true, L);
        if (dtype_ != DType::F32)
          s.prefillMma = function("ingot_attn_prefill_mma_" + tn + dg, false, L);
        s.decode = function("ingot_attn_decode_" + tn + dg, true, L);
        s.combine = function("ingot_attn_decode_combine_" + tn + "_d" + std::to_string(D), true, L);
        s.splitTokens = ingot_attn_decode_split_tokens(blockSize_, G, D);
        INGOT_CHECK(s.splitTokens > 0, L + ": no decode split size fits block size " +
                                           std::to_string(blockSize_));
        allowShmem(s.decode, ingot_attn_decode_shmem(s.splitTokens, G, D), L);
        break;
      }
      case fb::OpKind::MoE:
        s.main = function("ingot_gemm_" + tn, true, L);
        s.moeRoute = function("ingot_moe_route_" + tn, true, L);
        s.moePermute = function("ingot_moe_permute", true, L);
        s.moeGemm = function("ingot_moe_gemm_" + tn, true, L);
        s.moeSiluMul = function("ingot_moe_silu_mul_" + tn, true, L);
        s.moeCombine = function("ingot_moe_combine_" + tn, true, L);
        allowShmem(s.moeGemm, ingot_gemm_shmem(INGOT_GEMM_CFG_SMALL), L);
        allowShmem(s.moeGemm, ingot_gemm_shmem(INGOT_GEMM_CFG_LARGE), L);
        break;
      case fb::OpKind::Elementwise: {
        const fb::Step *st = plan_.steps()->Get(flatbuffers::uoffset_t(i));
        std::string scalar, vec;
        if (st->cuda_functions())
          for (const auto *f : *st->cuda_functions()) {
            const std::string nm = f->str();
            if (nm.rfind("ingot_ew_", 0) != 0)
              continue;
            auto endsWith = [&](const std::string &suf) {
              return nm.size() > suf.size() && nm.compare(nm.size() - suf.size(), suf.size(), suf) == 0;
            };
            // ingot_ew_<hash>_<TN> and its 16-byte variant ..._<TN>_v.
            if (endsWith("_" + tn + "_v"))
              vec = nm;
            else if (endsWith("_" + tn))
              scalar = nm;
          }
        INGOT_CHECK(!scalar.empty(), L + ": the plan lists no ingot_ew_*_" + tn +
                                         " entry point for this Elementwise step (compiled without a CUDA target?)");
        INGOT_CHECK(p.in.size() <= INGOT_EW_MAX_INPUTS && p.out.size() <= INGOT_EW_MAX_OUTPUTS,
                    L + ": too many inputs or outputs for IngotEwParams");
        s.main = function(scalar, true, L);
        if (!vec.empty())
          s.vec = function(vec, false, L);
        break;
      }
      default:
        throw Error(L + ": the CUDA executor cannot run this op");
      }
    }
  }

  // ------------------------------------------------------- memory sizing
  void planMemory() {
    const fb::MemoryPlan *mem = plan_.memory();
    arenaBytes_ = alignUp(mem->arena_bytes());
    INGOT_CHECK(mem->arena_bytes() < (uint64_t(1) << 40), "plan memory: arena_bytes is implausibly large");
    // Context bound for block tables and decode splits.
    int64_t maxContext = maxPosition_ > 0 ? maxPosition_ : int64_t(1) << 17;
    maxBlocksPerSeq_ = (maxContext + blockSize_ - 1) / blockSize_;
    meta_.build(maxTokens_, maxSeqs_, maxBlocksPerSeq_);
    // Decode partials (shared by the layers, which run one after another).
    size_t partialFloats = 0, lseFloats = 0;
    for (DevStep &s : steps_) {
      if (s.p->op != fb::OpKind::Attention)
        continue;
      const int splits = ingot_attn_decode_num_splits(int(maxBlocksPerSeq_ * blockSize_), s.splitTokens);
      maxSplits_ = std::max(maxSplits_, splits);
      partialFloats = std::max(partialFloats, size_t(ingot_attn_decode_scratch_floats(
                                                  int(maxSeqs_), s.p->attn.numHeads, splits, s.headDim)));
      lseFloats = std::max(lseFloats, size_t(ingot_attn_decode_lse_floats(int(maxSeqs_), s.p->attn.numHeads, splits)));
    }
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t o = off;
      off = alignUp(off + bytes);
      return o;
    };
    metaOff_ = take(meta_.bytes);
    if (ltApi_)
      ltWorkspaceOff_ = take(kLtWorkspaceBytes);
    partialOff_ = take(partialFloats * 4);
    lseOff_ = take(lseFloats * 4);
    size_t moeBytes = 0;
    for (const DevStep &s : steps_)
      if (s.p->op == fb::OpKind::MoE) {
        const PreparedStep &p = *s.p;
        const TensorSlot &x = slots_[size_t(p.in[0])];
        const int64_t E = slots_[size_t(p.in[1])].shape[0], I = slots_[size_t(p.in[2])].shape[1];
        moeBytes = std::max(moeBytes, size_t(ingot_moe_scratch_layout(
                                          numelAt(x.shape, maxTokens_, maxSeqs_) / cpuexec::lastDim(x),
                                          cpuexec::lastDim(x), I, int(E), p.topK, int(elem_), nullptr)));
      }
    moeOff_ = take(moeBytes);
    for (DevStep &s : steps_) {
      const PreparedStep &p = *s.p;
      if (p.op == fb::OpKind::Rope && !s.skip)
        s.invFreqOffset = take(p.invFreq.size() * 4);
      else if (p.op == fb::OpKind::Attention && s.fusedQ >= 0)
        s.invFreqOffset = take(prepared_[size_t(s.fusedQ)].invFreq.size() * 4);
      else if (p.op == fb::OpKind::Logits)
        gatherOff_ = take(size_t(maxSeqs_) * size_t(cpuexec::lastDim(slots_[size_t(p.in[0])])) * elem_);
    }
    if (sample_) {
      sampleLayout_.build(maxSeqs_);
      sampleOff_ = take(sampleLayout_.bytes);
    }
    scratchBytes_ = off;
    // Weights.
    weightBytes_ = 0;
    const size_t nw = plan_.weights() ? plan_.weights()->size() : 0;
    weightOff_.assign(nw, SIZE_MAX);
    for (const TensorSlot &t : slots_) {
      if (t.kind != fb::TensorKind::Weight)
        continue;
      const fb::TensorDesc *d = plan_.tensors()->Get(flatbuffers::uoffset_t(&t - slots_.data()));
      INGOT_CHECK(d->weight() >= 0 && size_t(d->weight()) < nw,
                  "weight tensor \"" + t.name + "\" refers to weight " + std::to_string(d->weight()));
      const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(d->weight()));
      INGOT_CHECK(toShape(w->shape()) == t.shape, "weight tensor \"" + t.name + "\" does not match its weight's shape");
      if (weightOff_[size_t(d->weight())] != SIZE_MAX)
        continue;
      weightOff_[size_t(d->weight())] = weightBytes_;
      weightBytes_ = alignUp(weightBytes_ + size_t(numelAt(t.shape, 0, 0)) * elem_);
    }
    // KV cache.
    size_t perBlock = 0;
    for (const KvLayerShape &l : kvLayers_)
      perBlock += 2 * size_t(blockSize_) * size_t(l.numKvHeads) * size_t(l.headDim) * elem_;
    int64_t usable = 1;
    if (perBlock > 0) {
      if (opts_.kvCacheBytes > 0) {
        usable = opts_.kvCacheBytes / int64_t(perBlock);
        INGOT_CHECK(usable >= 1, "KV cache of " + std::to_string(opts_.kvCacheBytes) +
                                     " bytes holds no block (one block is " + std::to_string(perBlock) + " bytes)");
      } else {
        size_t freeB = 0, totalB = 0;
        INGOT_CU(d_, cuMemGetInfo, (&freeB, &totalB), "reading free device memory");
        KvBudget b;
        b.freeBytes = freeB;
        b.fraction = opts_.gpuMemoryFraction;
        b.weightBytes = weightBytes_;
        b.arenaBytes = arenaBytes_;
        // Per-layer alignment slack of the cache, and the padding block.
        b.scratchBytes = scratchBytes_ + kvLayers_.size() * 2 * kAlign + perBlock;
        b.blockBytes = perBlock;
        b.minBlocks = 1;
        usable = kvBlocksThatFit(b);
        // No use beyond what max_seqs full-length sequences need.
        usable = std::min<int64_t>(usable, maxSeqs_ * maxBlocksPerSeq_ + 1);
      }
    }
    kv_ = std::make_unique<DeviceKvCache>(d_, ctx_, stream_, kvLayers_.empty()
                                                           ? std::vector<KvLayerShape>{}
                                                           : kvLayers_,
                                          blockSize_, usable, elem_);
    kvOff_ = take(0);
    totalBytes_ = kvOff_ + kv_->bytes();
    // The arena: activations first, then scratch, then the KV cache.
    INGOT_CU(d_, cuMemAlloc, (&arena_, arenaBytes_ + totalBytes_),
             "allocating the device arena (" + formatBytes(arenaBytes_ + totalBytes_) +
                 ": activations " + formatBytes(arenaBytes_) + ", KV cache " + formatBytes(kv_->bytes()) + ")");
    scratchBase_ = arena_ + arenaBytes_;
    kv_->bind(scratchBase_ + kvOff_);
    INGOT_CU(d_, cuMemsetD8Async, (arena_, 0, arenaBytes_ + totalBytes_, stream_), "zeroing the device arena");
    if (ltApi_) {
      lt_ = std::make_unique<LtGemm>(ltApi_, scratchBase_ + ltWorkspaceOff_, kLtWorkspaceBytes);
      prepareGemms();
    }
    INGOT_CU(d_, cuMemHostAlloc, (&staging_, meta_.bytes, CU_MEMHOSTALLOC_PORTABLE),
             "allocating the pinned staging buffer");
    std::memset(staging_, 0, meta_.bytes);
    INGOT_CU(d_, cuMemHostAlloc, (reinterpret_cast<void **>(&logitsHost_), size_t(maxSeqs_ * vocab_) * 4,
                                  CU_MEMHOSTALLOC_PORTABLE),
             "allocating the pinned logits buffer");
    if (sample_) {
      INGOT_CU(d_, cuMemHostAlloc, (&sampleHost_, sampleLayout_.bytes, CU_MEMHOSTALLOC_PORTABLE),
               "allocating the pinned sampling buffer");
      std::memset(sampleHost_, 0, sampleLayout_.bytes);
    }
  }

  // ------------------------------------------------------------ weights
  void uploadWeights(const PlanFile &pf) {
    if (weightBytes_ == 0)
      return;
    INGOT_CU(d_, cuMemAlloc, (&weights_, weightBytes_), "allocating " + formatBytes(weightBytes_) + " for the weights");
    std::unique_ptr<Checkpoint> ckpt;
    std::string dir;
    if (plan_.weights_external()) {
      dir = opts_.weightsDir;
      if (dir.empty() && plan_.weights_dir())
        dir = plan_.weights_dir()->str();
      INGOT_CHECK(!dir.empty(), "the plan's weights are external and no weights directory is set "
                                "(the plan records none; pass --weights DIR)");
      ckpt = Checkpoint::open(dir);
    }
    for (size_t i = 0; i < weightOff_.size(); ++i) {
      if (weightOff_[i] == SIZE_MAX)
        continue;
      const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(i));
      const std::string name = w->name() ? w->name()->str() : "#" + std::to_string(i);
      const std::vector<int64_t> shape = toShape(w->shape());
      const int64_t numel = numelAt(shape, 0, 0);
      const DType wd = DType(w->dtype());
      INGOT_CHECK(wd == DType::F32 || wd == DType::BF16 || wd == DType::F16,
                  "weight \"" + name + "\" must have a floating-point dtype");
      HostTensor h;
      const uint8_t *src;
      if (ckpt) {
        WeightSpec spec;
        spec.name = name;
        if (w->sources())
          for (const auto *s : *w->sources())
            spec.sources.push_back(s->str());
        if (w->transforms())
          for (const fb::WeightTransform *x : *w->transforms())
            spec.transforms.push_back({WeightTransformKind(x->kind()), x->axis(), x->start(), x->size(), DType(x->dtype())});
        h = materializeWeight(*ckpt, spec);
        INGOT_CHECK(h.shape == shape && h.dtype == wd, "weight \"" + name + "\" from " + dir +
                                                           " does not have the plan's dtype and shape");
        src = h.bytes.data();
      } else {
        const uint64_t bytes = uint64_t(numel) * dtypeSize(wd);
        INGOT_CHECK(pf.weightsData() && w->embedded_size() == bytes &&
                        w->embedded_offset() <= pf.weightsSize() &&
                        bytes <= pf.weightsSize() - w->embedded_offset(),
                    "weight \"" + name + "\" lies outside the plan's weights section");
        src = pf.weightsData() + w->embedded_offset();
      }
      std::vector<uint8_t> conv;
      if (wd != dtype_) { // e.g. a plan whose weights were not cast: convert here
        std::vector<float> f(static_cast<size_t>(numel));
        convertToF32(src, wd, f.data(), size_t(numel));
        conv.resize(size_t(numel) * elem_);
        convertFromF32(f.data(), conv.data(), dtype_, size_t(numel));
        src = conv.data();
      }
      INGOT_CU(d_, cuMemcpyHtoDAsync, (weights_ + weightOff_[i], src, size_t(numel) * elem_, stream_),
               "uploading weight \"" + name + "\"");
      // The host copy must outlive the transfer.
      INGOT_CU(d_, cuStreamSynchronize, (stream_), "uploading weight \"" + name + "\"");
    }
  }

  void bindTensors() {
    ptrs_.assign(slots_.size(), 0);
    const auto &ts = *plan_.tensors();
    for (size_t i = 0; i < slots_.size(); ++i) {
      const fb::TensorDesc *d = ts.Get(flatbuffers::uoffset_t(i));
      const TensorSlot &t = slots_[i];
      switch (t.kind) {
      case fb::TensorKind::Activation: {
        const uint64_t need = uint64_t(numelAt(t.shape, maxTokens_, maxSeqs_)) * dtypeSize(t.dtype);
        INGOT_CHECK(need <= d->arena_size() && d->arena_offset() <= arenaBytes_ &&
                        d->arena_size() <= arenaBytes_ - d->arena_offset(),
                    "activation \"" + t.name + "\" does not fit its arena range");
        ptrs_[i] = arena_ + d->arena_offset();
        break;
      }
      case fb::TensorKind::Weight: ptrs_[i] = weights_ + weightOff_[size_t(d->weight())]; break;
      case fb::TensorKind::Input:
        ptrs_[i] = metaBase() + (int32_t(i) == plan_.token_input() ? meta_.tokens : meta_.positions);
        break;
      default: throw Error("tensor \"" + t.name + "\" has an unknown kind");
      }
    }
  }

  void uploadTables() {
    for (DevStep &s : steps_) {
      const std::vector<float> *f = nullptr;
      if (s.p->op == fb::OpKind::Rope && !s.skip)
        f = &s.p->invFreq;
      else if (s.p->op == fb::OpKind::Attention && s.fusedQ >= 0)
        f = &prepared_[size_t(s.fusedQ)].invFreq;
      if (!f || f->empty())
        continue;
      s.invFreq = scratchBase_ + s.invFreqOffset;
      INGOT_CU(d_, cuMemcpyHtoDAsync, (s.invFreq, f->data(), f->size() * 4, stream_),
               "uploading the rope table of " + s.p->label);
    }
    INGOT_CU(d_, cuStreamSynchronize, (stream_), "uploading the rope tables");
  }

  // --------------------------------------------------------------- graphs
  void captureGraphs() {
    const auto t0 = std::chrono::steady_clock::now();
    buckets_ = graphBuckets(std::min(maxSeqs_, maxTokens_));
    for (int b : buckets_) {
      // A batch of b padding sequences sets up the launch parameters; the
      // metadata values are uploaded before each replay.
      GraphExec g;
      INGOT_CU(d_, cuStreamBeginCapture, (stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
               "starting to capture the decode graph for " + std::to_string(b) + " sequences");
      try {
        runSteps(b, b, true, 1, int32_t(maxBlocksPerSeq_ * blockSize_), /*capturing=*/true);
      } catch (...) {
        CUgraph dead = nullptr;
        d_.cuStreamEndCapture(stream_, &dead);
        if (dead)
          d_.cuGraphDestroy(dead);
        throw;
      }
      INGOT_CU(d_, cuStreamEndCapture, (stream_, &g.graph),
               "capturing the decode graph for " + std::to_string(b) + " sequences");
      GraphExec &kept = graphs_[b] = g; // release() destroys it if instantiation fails
      INGOT_CU(d_, cuGraphInstantiateWithFlags, (&kept.exec, kept.graph, 0),
               "instantiating the decode graph for " + std::to_string(b) + " sequences");
    }
    captureSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // ----------------------------------------------------------------- step
  CUdeviceptr metaBase() const { return scratchBase_ + metaOff_; }
  CUdeviceptr tensorPtr(int id) const { return ptrs_[size_t(id)]; }
  template <class T> T *stagingAt(size_t off) { return reinterpret_cast<T *>(static_cast<char *>(staging_) + off); }

  // Fills the staging buffer for `batch`, padded to `runS` sequences of one
  // token each (decode graphs) whose K/V go to the reserved padding block.
  void stage(const std::vector<int32_t> &tokens, const std::vector<int32_t> &positions,
             const BatchMeta &batch, int64_t runS) {
    const int64_t S = int64_t(batch.seqs.size()), T = int64_t(tokens.size());
    int32_t *tok = stagingAt<int32_t>(meta_.tokens), *pos = stagingAt<int32_t>(meta_.positions);
    int32_t *qs = stagingAt<int32_t>(meta_.queryStart), *cl = stagingAt<int32_t>(meta_.contextLens);
    int32_t *bt = stagingAt<int32_t>(meta_.blockTables);
    int64_t *sm = stagingAt<int64_t>(meta_.slotMapping);
    std::copy(tokens.begin(), tokens.end(), tok);
    std::copy(positions.begin(), positions.end(), pos);
    const int bs = kv_->blockSize();
    for (int64_t s = 0; s < S; ++s) {
      const SeqStep &q = batch.seqs[size_t(s)];
      qs[s] = q.queryStart;
      cl[s] = q.contextLen;
      if (hasAttention_) { // validated: the table covers contextLen, within maxBlocksPerSeq_
        const int64_t nb = (int64_t(q.contextLen) + bs - 1) / bs;
        std::copy(q.blockTable.begin(), q.blockTable.begin() + nb, bt + s * maxBlocksPerSeq_);
      }
    }
    qs[S] = int32_t(T);
    for (int64_t t = 0; t < T; ++t)
      sm[t] = hasAttention_ ? batch.slotMapping[size_t(t)] : 0;
    for (int64_t s = S; s < runS; ++s) { // padding sequences (decode graphs)
      tok[s] = 0;
      pos[s] = 0;
      qs[s + 1] = int32_t(s + 1);
      cl[s] = 1;
      bt[s * maxBlocksPerSeq_] = int32_t(kv_->paddingBlock());
      sm[s] = kv_->paddingBlock() * bs;
    }
  }

  void upload(int64_t T, int64_t S) {
    auto put = [&](size_t off, size_t bytes, const char *what) {
      if (bytes)
        INGOT_CU(d_, cuMemcpyHtoDAsync, (metaBase() + off, static_cast<char *>(staging_) + off, bytes, stream_),
                 std::string("uploading the batch's ") + what);
    };
    put(meta_.tokens, size_t(T) * 4, "tokens");
    put(meta_.positions, size_t(T) * 4, "positions");
    put(meta_.queryStart, size_t(S + 1) * 4, "query starts");
    put(meta_.contextLens, size_t(S) * 4, "context lengths");
    put(meta_.blockTables, size_t(S * maxBlocksPerSeq_) * 4, "block tables");
    put(meta_.slotMapping, size_t(T) * 8, "slot mapping");
  }

  template <class P>
  void launch(const Fn &f, const KernelLaunch &l, P &params, const PreparedStep &p) {
    void *args[] = {&params};
    INGOT_CU(d_, cuLaunchKernel,
             (f.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shmem,
              stream_, args, nullptr),
             "launching " + f.name + " for " + p.label);
  }

  // cuBLASLt algorithms for every Linear / Logits / MoE-router shape at the
  // token-count buckets 1, 2, 4, ... and at every decode-graph bucket (the
  // capture runs only prepared shapes: cublasLtMatmulAlgoGetHeuristic is
  // not called while capturing); other counts are planned on first use and
  // cached.
  void prepareGemms() {
    std::vector<int> graphB;
    if (opts_.cudaGraphs && hasAttention_)
      graphB = graphBuckets(std::min(maxSeqs_, maxTokens_));
    for (const DevStep &s : steps_) {
      const PreparedStep &p = *s.p;
      if (p.op != fb::OpKind::Linear && p.op != fb::OpKind::Logits && p.op != fb::OpKind::MoE)
        continue;
      const bool logits = p.op == fb::OpKind::Logits, moe = p.op == fb::OpKind::MoE;
      const int64_t n = slots_[size_t(p.in[1])].shape[0], k = cpuexec::lastDim(slots_[size_t(p.in[0])]);
      const int64_t maxM = logits ? maxSeqs_ : maxTokens_;
      const bool cF32 = logits || moe || slots_[size_t(p.out[0])].dtype == DType::F32;
      const LtEpilogue epi = moe ? LtEpilogue::None : LtEpilogue(s.epilogue);
      const bool bias = p.op == fb::OpKind::Linear && p.in.size() > 2;
      std::set<int64_t> ms;
      for (int64_t m : graphBuckets(maxM))
        ms.insert(m);
      for (int b : graphB) // a decode graph of b sequences runs b tokens
        ms.insert(b);
      for (int64_t m : ms)
        lt_->prepare(dtype_, cF32, epi, bias, m, n, k);
    }
  }

  void gemm(const Fn &f, const PreparedStep &p, CUdeviceptr a, CUdeviceptr w, CUdeviceptr bias,
            CUdeviceptr c, int64_t m, int64_t n, int64_t k, int cF32, int epi, bool capturing = false) {
    if (lt_ && lt_->gemm(dtype_, cF32 != 0, LtEpilogue(epi), a, w, bias, c, m, n, k, stream_, p.label,
                         /*planIfMissing=*/!capturing))
      return;
    IngotGemmParams g{};
    g.a = dp(a);
    g.w = dp(w);
    g.bias = bias ? dp(bias) : nullptr;
    g.c = dp(c);
    g.m = m;
    g.n = n;
    g.k = k;
    g.lda = k;
    g.ldw = k;
    g.ldc = n;
    g.c_f32 = cF32;
    g.epilogue = epi;
    const KernelLaunch l = ingot_gemm_launch(g);
    launch(f, l, g, p);
  }

  void runSteps(int64_t T, int64_t S, bool decode, int32_t maxQuery, int32_t maxCtx,
                bool capturing = false) {
    for (size_t i = 0; i < steps_.size(); ++i) {
      const DevStep &s = steps_[i];
      if (s.skip)
        continue;
      const PreparedStep &p = *s.p;
      auto in = [&](size_t k) { return tensorPtr(p.in[k]); };
      auto out = [&](size_t k) { return tensorPtr(p.out[k]); };
      auto slot = [&](size_t k) -> const TensorSlot & { return slots_[size_t(p.in[k])]; };
      auto rows = [&](const TensorSlot &x) {
        return numelAt(x.shape, T, S) / std::max<int64_t>(1, cpuexec::lastDim(x));
      };
      const int eb = int(elem_);
      switch (p.op) {
      case fb::OpKind::Embedding: {
        IngotEmbeddingParams e{};
        e.ids = static_cast<const int *>(dp(in(0)));
        e.table = dp(in(1));
        e.out = dp(out(0));
        e.rows = numelAt(slot(0).shape, T, S);
        e.vocab = slots_[size_t(p.in[1])].shape[0];
        e.hidden = slots_[size_t(p.in[1])].shape[1];
        launch(s.main, ingot_embedding_launch(e, eb), e, p);
        break;
      }
      case fb::OpKind::Linear:
        // A Linear may write the f32 logits output from compute-dtype rows.
        gemm(s.main, p, in(0), in(1), p.in.size() > 2 ? in(2) : 0, out(0), rows(slot(0)),
             slots_[size_t(p.in[1])].shape[0], cpuexec::lastDim(slot(0)),
             slots_[size_t(p.out[0])].dtype == DType::F32 ? 1 : 0, s.epilogue, capturing);
        break;
      case fb::OpKind::RmsNorm:
      case fb::OpKind::LayerNorm:
      case fb::OpKind::AddRmsNorm:
      case fb::OpKind::AddLayerNorm: {
        IngotNormParams n{};
        const bool add = p.op == fb::OpKind::AddRmsNorm || p.op == fb::OpKind::AddLayerNorm;
        const bool layer = p.op == fb::OpKind::LayerNorm || p.op == fb::OpKind::AddLayerNorm;
        size_t w = 1;
        n.x = dp(in(0));
        if (add) {
          n.residual = dp(in(1));
          w = 2;
          n.sum = dp(out(0));
          n.out = dp(out(1));
        } else {
          n.out = dp(out(0));
        }
        n.gamma = dp(in(w));
        if (layer)
          n.beta = dp(in(w + 1));
        n.rows = rows(slot(0));
        n.cols = cpuexec::lastDim(slot(0));
        if (p.groupSize > 0) {
          n.rows = n.rows * (n.cols / p.groupSize);
          n.cols = p.groupSize;
        }
        n.eps = p.eps;
        launch(s.main, ingot_norm_launch(n, eb), n, p);
        break;
      }
      case fb::OpKind::SiluMul: {
        IngotActMulParams a{};
        a.gate = dp(in(0));
        a.up = dp(in(1));
        a.out = dp(out(0));
        a.n = numelAt(slot(0).shape, T, S);
        launch(s.main, ingot_act_launch(a, eb), a, p);
        break;
      }
      case fb::OpKind::Softmax: {
        IngotSoftmaxParams m{};
        m.x = dp(in(0));
        m.out = dp(out(0));
        m.rows = rows(slot(0));
        m.cols = cpuexec::lastDim(slot(0));
        launch(s.main, ingot_softmax_launch(m, eb), m, p);
        break;
      }
      case fb::OpKind::Rope: {
        const int64_t n = rows(slot(0));
        const int64_t width = cpuexec::lastDim(slot(0));
        if (out(0) != in(0))
          INGOT_CU(d_, cuMemcpyDtoDAsync, (out(0), in(0), size_t(n * width) * elem_, stream_),
                   "copying the input of " + p.label);
        IngotRopeParams r{};
        r.x = dp(out(0));
        r.positions = static_cast<const int *>(dp(in(1)));
        r.inv_freq = static_cast<const float *>(dp(s.invFreq));
        r.tokens = n;
        r.num_heads = int(width / p.rope.headDim);
        r.rotary_dim = p.rope.rotaryDim;
        r.neox = p.rope.interleaved ? 0 : 1;
        r.attn_scale = 1.0f;
        launch(s.main, ingot_rope_launch(r, p.rope.headDim, eb), r, p);
        break;
      }
      case fb::OpKind::Attention: attention(s, p, T, S, decode, maxQuery, maxCtx, capturing); break;
      case fb::OpKind::MoE: moe(s, p, rows(slot(0)), capturing); break;
      case fb::OpKind::Elementwise: {
        IngotEwParams e{};
        bool aligned = true;
        for (size_t k = 0; k < p.in.size(); ++k) {
          e.in[k] = dp(in(k));
          aligned = aligned && in(k) % 16 == 0;
        }
        for (size_t k = 0; k < p.out.size(); ++k) {
          e.out[k] = dp(out(k));
          aligned = aligned && out(k) % 16 == 0;
        }
        const TensorSlot &o0 = slots_[size_t(p.out[0])];
        e.rows = rows(o0);
        e.width = cpuexec::lastDim(o0);
        const int per = 16 / eb;
        const bool useVec = s.vec && aligned && e.width % per == 0;
        launch(useVec ? s.vec : s.main, ingot_elementwise_launch(e, useVec ? per : 1), e, p);
        break;
      }
      case fb::OpKind::GatherLast: {
        IngotGatherRowsParams g{};
        g.x = dp(in(0));
        g.out = dp(out(0));
        g.rows_idx = static_cast<const int *>(dp(metaBase() + meta_.queryStart));
        g.n = S;
        g.cols = cpuexec::lastDim(slot(0));
        g.x_rows = T;
        g.out_f32 = slots_[size_t(p.out[0])].dtype == DType::F32 ? 1 : 0;
        g.last_of_query_start = 1;
        launch(s.main, ingot_gather_rows_launch(g, eb), g, p);
        break;
      }
      case fb::OpKind::Logits: {
        const int64_t H = cpuexec::lastDim(slot(0));
        IngotGatherRowsParams g{};
        g.x = dp(in(0));
        g.out = dp(scratchBase_ + gatherOff_);
        g.rows_idx = static_cast<const int *>(dp(metaBase() + meta_.queryStart));
        g.n = S;
        g.cols = H;
        g.x_rows = T;
        g.out_f32 = 0;
        g.last_of_query_start = 1;
        launch(s.gather, ingot_gather_rows_launch(g, eb), g, p);
        gemm(s.main, p, scratchBase_ + gatherOff_, in(1), 0, out(0), S,
             slots_[size_t(p.in[1])].shape[0], H, 1, INGOT_GEMM_EPI_NONE, capturing);
        break;
      }
      default: throw Error(p.label + ": the CUDA executor cannot run this op");
      }
    }
  }

  // The MoE step as moe_abi.h lays it out: router GEMM (fp32 logits), top-k
  // routing, counting-sort permutation, grouped gate/up GEMMs, silu*up,
  // grouped down GEMM, weighted combine; all on the stream, nothing read back.
  void moe(const DevStep &s, const PreparedStep &p, int64_t tokens, bool capturing) {
    const TensorSlot &x = slots_[size_t(p.in[0])];
    const int64_t H = cpuexec::lastDim(x);
    const int64_t E = slots_[size_t(p.in[1])].shape[0], I = slots_[size_t(p.in[2])].shape[1];
    const int K = int(std::min<int64_t>(p.topK, E));
    const int64_t N = tokens * K;
    const int vec = 16 / int(elem_);
    IngotMoeScratchLayout L;
    ingot_moe_scratch_layout(tokens, H, I, int(E), K, int(elem_), &L);
    const CUdeviceptr base = scratchBase_ + moeOff_;
    auto at = [&](long long off) { return dp(base + CUdeviceptr(off)); };
    const CUdeviceptr xin = tensorPtr(p.in[0]);
    gemm(s.main, p, xin, tensorPtr(p.in[1]), 0, base + CUdeviceptr(L.logits), tokens, E, H, 1, INGOT_GEMM_EPI_NONE,
         capturing);
    IngotMoeRouteParams r{};
    r.router_logits = static_cast<const float *>(at(L.logits));
    r.topk_ids = static_cast<int *>(at(L.topk_ids));
    r.topk_w = static_cast<float *>(at(L.topk_w));
    r.tokens = tokens;
    r.num_experts = int(E);
    r.top_k = K;
    r.normalize = p.normalize ? 1 : 0;
    launch(s.moeRoute, ingot_moe_route_launch(r), r, p);
    IngotMoePermuteParams pm{};
    pm.topk_ids = r.topk_ids;
    pm.sorted_pairs = static_cast<int *>(at(L.sorted_pairs));
    pm.pair_pos = static_cast<int *>(at(L.pair_pos));
    pm.expert_offsets = static_cast<int *>(at(L.expert_offsets));
    pm.scratch = static_cast<int *>(at(L.permute));
    pm.pairs = N;
    pm.num_experts = int(E);
    launch(s.moePermute, ingot_moe_permute_launch(pm), pm, p);
    auto grouped = [&](const void *a, const int *gather, int gatherDiv, CUdeviceptr w, void *c, int64_t n,
                       int64_t k) {
      IngotMoeGemmParams g{};
      g.a = a;
      g.gather = gather;
      g.w = dp(w);
      g.c = c;
      g.expert_offsets = pm.expert_offsets;
      g.pairs = N;
      g.n = n;
      g.k = k;
      g.lda = k;
      g.ldc = n;
      g.w_expert_stride = n * k;
      g.num_experts = int(E);
      g.gather_div = gatherDiv;
      launch(s.moeGemm, ingot_moe_gemm_launch(g), g, p);
    };
    grouped(dp(xin), pm.sorted_pairs, K, tensorPtr(p.in[2]), at(L.gate), I, H);
    grouped(dp(xin), pm.sorted_pairs, K, tensorPtr(p.in[3]), at(L.up), I, H);
    IngotMoeSiluMulParams sm{};
    sm.gate = at(L.gate);
    sm.up = at(L.up);
    sm.out = at(L.gate);
    sm.n = N * I;
    launch(s.moeSiluMul, ingot_moe_silu_mul_launch(sm, vec), sm, p);
    grouped(at(L.gate), nullptr, 1, tensorPtr(p.in[4]), at(L.y), H, I);
    IngotMoeCombineParams c{};
    c.y = at(L.y);
    c.topk_w = r.topk_w;
    c.pair_pos = pm.pair_pos;
    c.out = dp(tensorPtr(p.out[0]));
    c.tokens = tokens;
    c.hidden = H;
    c.top_k = K;
    launch(s.moeCombine, ingot_moe_combine_launch(c, vec), c, p);
  }

  void attention(const DevStep &s, const PreparedStep &p, int64_t T, int64_t S, bool decode,
                 int32_t maxQuery, int32_t maxCtx, bool capturing) {
    const int layer = p.attn.layer;
    const CUdeviceptr meta = metaBase();
    // 1. rope (when fused) and the cache append.
    IngotRopeKvParams r{};
    CUdeviceptr q = tensorPtr(p.in[0]);
    r.k = dp(tensorPtr(p.in[1]));
    r.positions = static_cast<const int *>(dp(meta + meta_.positions));
    if (s.fusedQ >= 0) {
      const PreparedStep &rq = prepared_[size_t(s.fusedQ)], &rk = prepared_[size_t(s.fusedK)];
      q = tensorPtr(rq.in[0]); // rotated in place
      r.k = dp(tensorPtr(rk.in[0]));
      r.positions = static_cast<const int *>(dp(tensorPtr(rq.in[1])));
      r.inv_freq = static_cast<const float *>(dp(s.invFreq));
      r.rotary_dim = rq.rope.rotaryDim;
      r.neox = rq.rope.interleaved ? 0 : 1;
      r.apply_rope = 1;
    }
    r.q = dp(q);
    r.v = dp(tensorPtr(p.in[2]));
    r.k_cache = dp(kv_->key(layer));
    r.v_cache = dp(kv_->value(layer));
    r.slot_mapping = reinterpret_cast<const long long *>(dp(meta + meta_.slotMapping));
    r.tokens = T;
    r.num_heads = p.attn.numHeads;
    r.num_kv_heads = p.attn.numKvHeads;
    r.block_size = kv_->blockSize();
    r.attn_scale = 1.0f;
    launch(s.ropeKv, ingot_rope_kv_append_launch(r, s.headDim, int(elem_)), r, p);
    // 2. attention over the cache.
    IngotAttnParams a{};
    a.q = dp(q);
    a.k_cache = r.k_cache;
    a.v_cache = r.v_cache;
    a.out = dp(tensorPtr(p.out[0]));
    a.block_tables = static_cast<const int *>(dp(meta + meta_.blockTables));
    a.query_start = static_cast<const int *>(dp(meta + meta_.queryStart));
    a.context_lens = static_cast<const int *>(dp(meta + meta_.contextLens));
    a.partial_out = static_cast<float *>(dp(scratchBase_ + partialOff_));
    a.partial_lse = static_cast<float *>(dp(scratchBase_ + lseOff_));
    a.num_tokens = T;
    a.num_seqs = int(S);
    a.num_heads = p.attn.numHeads;
    a.num_kv_heads = p.attn.numKvHeads;
    a.block_size = kv_->blockSize();
    a.max_blocks_per_seq = int(maxBlocksPerSeq_);
    a.max_query_len = maxQuery;
    a.split_tokens = s.splitTokens;
    a.sliding_window = int(p.attn.slidingWindow);
    a.scale = p.attn.scale;
    a.softcap = 0.0f;
    // Graphs fix the grid at capture: enough splits for the longest context.
    if (decode)
      a.max_splits = capturing ? maxSplits_ : ingot_attn_decode_num_splits(maxCtx, s.splitTokens);
    if (const char *bad = ingot_attn_check(a, s.group, s.headDim, decode))
      throw Error(p.label + ": " + bad);
    if (decode) {
      launch(s.decode, ingot_attn_decode_launch(a, s.group, s.headDim), a, p);
      if (a.max_splits > 1 || capturing)
        launch(s.combine, ingot_attn_decode_combine_launch(a), a, p);
    } else {
      const bool mma = bool(s.prefillMma);
      launch(mma ? s.prefillMma : s.prefill, ingot_attn_prefill_launch(a, s.group, mma, s.headDim), a, p);
    }
  }

  void describe() {
    std::string g = graphs_.empty()
                         ? std::string(opts_.cudaGraphs ? "none (no attention)" : "off")
                         : std::to_string(graphs_.size()) + " decode graphs (batch " +
                               std::to_string(buckets_.front()) + ".." + std::to_string(buckets_.back()) +
                               ") captured at load in " + std::to_string(int(captureSeconds_ * 1000)) + " ms";
    description_ = "cuda: " + devName_ + " (sm_" + std::to_string(ccMajor_) + std::to_string(ccMinor_) + "), " +
                   imageWhy_ + ", " + dtypeName(dtype_) + ", weights " + formatBytes(weightBytes_) +
                   ", KV cache " + std::to_string(kv_->numBlocks()) + " blocks of " +
                   std::to_string(kv_->blockSize()) + " tokens (" + formatBytes(kv_->bytes()) +
                   "), GEMM " + gemmWhy_ + ", graphs: " + g +
                   (sample_ ? ", sampling on the device"
                            : ", sampling on the host (no ingot_sample_f32 in the module)");
  }

  void release() {
    if (ctxRetained_)
      d_.cuCtxSetCurrent(ctx_);
    if (stream_)
      d_.cuStreamSynchronize(stream_);
    for (auto &e : graphs_) {
      if (e.second.exec)
        d_.cuGraphExecDestroy(e.second.exec);
      if (e.second.graph)
        d_.cuGraphDestroy(e.second.graph);
    }
    graphs_.clear();
    lt_.reset();
    if (logitsHost_)
      d_.cuMemFreeHost(logitsHost_);
    if (staging_)
      d_.cuMemFreeHost(staging_);
    if (sampleHost_)
      d_.cuMemFreeHost(sampleHost_);
    if (arena_)
      d_.cuMemFree(arena_);
    if (weights_)
      d_.cuMemFree(weights_);
    if (module_)
      d_.cuModuleUnload(module_);
    if (stream_)
      d_.cuStreamDestroy(stream_);
    if (ctxRetained_)
      d_.cuDevicePrimaryCtxRelease(dev_);
    logitsHost_ = nullptr;
    staging_ = nullptr;
    sampleHost_ = nullptr;
    arena_ = weights_ = 0;
    module_ = nullptr;
    stream_ = nullptr;
    ctxRetained_ = false;
  }

  std::shared_ptr<const CudaDriver> drvHold_;
  const CudaDriver &d_;
  const fb::Plan &plan_;
  ExecutorOptions opts_;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  bool ctxRetained_ = false;
  CUstream stream_ = nullptr;
  CUmodule module_ = nullptr;
  int ccMajor_ = 0, ccMinor_ = 0, smemOptin_ = 48 * 1024;
  std::string devName_, imageWhy_, description_;
  DType dtype_ = DType::F32;
  const char *tn_ = nullptr;
  size_t elem_ = 4;
  std::vector<TensorSlot> slots_;
  std::vector<PreparedStep> prepared_;
  std::vector<DevStep> steps_;
  std::vector<KvLayerShape> kvLayers_;
  std::map<std::string, Fn> fnCache_;
  int blockSize_ = 16;
  int64_t maxTokens_ = 0, maxSeqs_ = 0, maxPosition_ = 0, vocab_ = 0, maxBlocksPerSeq_ = 0;
  int maxSplits_ = 1;
  bool hasAttention_ = false;
  MetaLayout meta_;
  size_t arenaBytes_ = 0, scratchBytes_ = 0, totalBytes_ = 0, weightBytes_ = 0;
  size_t moeOff_ = 0;
  size_t metaOff_ = 0, partialOff_ = 0, lseOff_ = 0, gatherOff_ = 0, kvOff_ = 0;
  std::vector<size_t> weightOff_;
  CUdeviceptr arena_ = 0, weights_ = 0, scratchBase_ = 0;
  std::vector<CUdeviceptr> ptrs_;
  void *staging_ = nullptr;
  float *logitsHost_ = nullptr;
  int64_t logitsRows_ = -1;    // rows of the last step's logits (-1: none yet)
  bool logitsFetched_ = false; // logitsHost_ holds them
  bool unsynced_ = false;      // a deferred step may still be running
  Fn sample_;                  // ingot_sample_f32, when the module has it
  SampleLayout sampleLayout_;
  size_t sampleOff_ = 0;       // in the scratch region
  void *sampleHost_ = nullptr; // pinned, same layout
  std::unique_ptr<DeviceKvCache> kv_;
  static constexpr size_t kLtWorkspaceBytes = size_t(32) << 20;
  std::shared_ptr<const CublasLtApi> ltApi_;
  std::unique_ptr<LtGemm> lt_;
  std::string gemmWhy_;
  size_t ltWorkspaceOff_ = 0;
  std::vector<int> buckets_;
  std::map<int, GraphExec> graphs_;
  double captureSeconds_ = 0;
  int64_t graphReplays_ = 0;
};

std::mutex gDriverMu;

std::shared_ptr<const CudaDriver> systemDriver(std::string *why) {
  static std::shared_ptr<const CudaDriver> drv;
  static std::string err;
  static bool tried = false;
  std::lock_guard<std::mutex> lock(gDriverMu);
  if (!tried) {
    tried = true;
    drv = loadCudaDriver(&err);
  }
  if (!drv && why)
    *why = err;
  return drv;
}

bool planHasCudaImages(const fb::Plan &p) {
  if (p.kernels())
    for (const fb::Kernel *k : *p.kernels())
      if (k->format() && (k->format()->str() == "cubin" || k->format()->str() == "ptx"))
        return true;
  return false;
}

std::string planTargets(const fb::Plan &p) {
  std::string t;
  if (p.targets())
    for (const auto *s : *p.targets())
      t += (t.empty() ? "" : ",") + s->str();
  return t.empty() ? "cpu" : t;
}

} // namespace
} // namespace cuda

void Executor::sampleOnDevice(const std::vector<DeviceSampleParams> &, std::vector<int32_t> &) {
  throw Error("this executor (" + description() + ") cannot sample on the device; "
              "check canSampleOnDevice() first");
}

bool parseDeviceKind(const std::string &s, DeviceKind &out) {
  if (s == "cpu")
    out = DeviceKind::Cpu;
  else if (s == "cuda")
    out = DeviceKind::Cuda;
  else if (s == "auto")
    out = DeviceKind::Auto;
  else
    return false;
  return true;
}

std::string cudaUnavailableReason(const PlanFile &plan, const ExecutorOptions &opts) {
  using namespace cuda;
  if (!planHasCudaImages(plan.program()))
    return "plan " + plan.path() + " has no CUDA kernels (compiled for " + planTargets(plan.program()) +
           "; recompile with ingotc --target sm_80,sm_90a)";
  std::string why;
  std::shared_ptr<const CudaDriver> d = opts.cudaDriver ? opts.cudaDriver : systemDriver(&why);
  if (!d)
    return why;
  CUresult r = d->cuInit(0);
  if (r == CUDA_ERROR_NO_DEVICE)
    return "no CUDA device found (" + d->source + ")";
  if (r != CUDA_SUCCESS)
    return cudaErrorMessage(*d, r, "cuInit", "initialising the CUDA driver (" + d->source + ")");
  int count = 0;
  r = d->cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS)
    return cudaErrorMessage(*d, r, "cuDeviceGetCount", "counting CUDA devices");
  if (count <= 0)
    return "no CUDA device found (" + d->source + ")";
  if (opts.cudaDevice >= count)
    return "CUDA device " + std::to_string(opts.cudaDevice) + " does not exist (" + std::to_string(count) +
           " found)";
  return "";
}

std::unique_ptr<Executor> createCudaExecutor(const PlanFile &plan, const ExecutorOptions &opts) {
  using namespace cuda;
  std::string why;
  std::shared_ptr<const CudaDriver> d = opts.cudaDriver ? opts.cudaDriver : systemDriver(&why);
  INGOT_CHECK(d, why);
  INGOT_CHECK(planHasCudaImages(plan.program()), cudaUnavailableReason(plan, opts));
  return std::make_unique<CudaExecutor>(plan, opts, d);
}

std::unique_ptr<Executor> createExecutor(const PlanFile &plan, const ExecutorOptions &opts,
                                         std::string *note) {
  if (opts.device == DeviceKind::Cpu)
    return createCpuExecutor(plan, opts);
  const std::string why = cudaUnavailableReason(plan, opts);
  if (why.empty())
    return createCudaExecutor(plan, opts);
  INGOT_CHECK(opts.device != DeviceKind::Cuda, "--device cuda: " + why);
  if (note)
    *note = "using the CPU: " + why;
  else
    std::fprintf(stderr, "ingot: using the CPU: %s\n", why.c_str());
  return createCpuExecutor(plan, opts);
}

} // namespace ingot
