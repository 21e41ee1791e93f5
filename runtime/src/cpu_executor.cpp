// The CPU executor: binds a plan's weights as fp32 (embedded: from the mapped
// weights section, converted once when not already f32; external: from the
// checkpoint through the recorded transforms, except that a weight which is
// one f32 source unchanged is used in place from the checkpoint's mapping,
// kept open for the executor's life), lays activations out in one
// arena, owns the paged KV cache, validates each batch and runs the steps in
// order. All step-level validation that does not depend on the batch happens
// at load time (cpu_executor_prepare.cpp); step() checks the batch itself
// before any kernel runs, so kernels never see out-of-range indices.
// The PlanFile must outlive the executor: f32 embedded weights are used in
// place from its mapping.
#include "cpu_executor_impl.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <new>

namespace ingot {
namespace {

using namespace cpuexec;

static_assert(int(fb::EwOp::Add) == int(cpu::EwOp::Add) &&
                  int(fb::EwOp::Neg) == int(cpu::EwOp::Neg) &&
                  int(fb::EwOp::Recip) == int(cpu::EwOp::Recip) &&
                  int(fb::EwOp::Silu) == int(cpu::EwOp::Silu) &&
                  int(fb::EwOp::Sigmoid) == int(cpu::EwOp::Sigmoid) &&
                  int(fb::EwOp::Const) == int(cpu::EwOp::Const),
              "cpu::EwOp must mirror plan.fbs EwOp");
static_assert(int(fb::TransformKind::Cast) == int(WeightTransformKind::Cast) &&
                  int(fb::TransformKind::Stack) == int(WeightTransformKind::Stack),
              "WeightTransformKind must mirror plan.fbs TransformKind");

constexpr int64_t kDefaultKvBytes = int64_t(256) << 20;

std::string shapeString(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Element count of `shape` at (T, S), refusing overflow: shapes come from
// the plan file, which is verified structurally but not semantically.
int64_t checkedNumel(const std::vector<int64_t> &shape, int64_t T, int64_t S,
                     const std::string &what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    const int64_t v = resolveDim(d, T, S);
    INGOT_CHECK(v >= 0 && !__builtin_mul_overflow(n, v, &n) && n <= (int64_t(1) << 46),
                what + " has an invalid or implausibly large shape " + shapeString(shape));
  }
  return n;
}

bool isFloatDType(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

class CpuExecutor final : public Executor {
public:
  CpuExecutor(const PlanFile &pf, const ExecutorOptions &opts)
      : plan_(pf.program()) {
    cpu::setNumThreads(opts.numThreads);
    const fb::MemoryPlan *mem = plan_.memory();
    INGOT_CHECK(mem, "plan has no memory plan");
    maxTokens_ = mem->max_tokens();
    maxSeqs_ = mem->max_seqs();
    INGOT_CHECK(maxTokens_ >= 1 && maxSeqs_ >= 1,
                "plan memory: max_tokens and max_seqs must be >= 1");
    INGOT_CHECK(maxTokens_ <= (int64_t(1) << 24) && maxSeqs_ <= (int64_t(1) << 20),
                "plan memory: max_tokens or max_seqs is implausibly large");
    maxPosition_ = plan_.model() ? plan_.model()->max_position() : 0;
    INGOT_CHECK(plan_.tensors() && plan_.steps(), "plan has no tensors or steps");
    setupKvCache(opts);
    describeTensors();
    bindArena(*mem);
    bindInputs();
    bindWeights(pf, opts);
    for (const TensorSlot &t : tensors_)
      INGOT_CHECK(t.f || t.i, "tensor \"" + t.name + "\" is not bound");
    for (size_t i = 0; i < plan_.steps()->size(); ++i) {
      steps_.push_back(prepareStep(plan_, i, tensors_, kvLayers_));
      const PreparedStep &p = steps_.back();
      hasAttention_ = hasAttention_ || p.op == fb::OpKind::Attention;
      if (p.op == fb::OpKind::Logits)
        scratchFloats_ = std::max<int64_t>(scratchFloats_, maxSeqs_ * lastDim(tensors_[size_t(p.in[0])]));
    }
    scratch_.resize(size_t(scratchFloats_));
    checkLogitsOutput();
  }

  const float *step(const std::vector<int32_t> &tokens,
                    const std::vector<int32_t> &positions,
                    const BatchMeta &batch) override {
    validateBatch(tokens, positions, batch,
                  {maxTokens_, maxSeqs_, vocab_, maxPosition_, hasAttention_,
                   kv_->blockSize(), kv_->numBlocks()});
    const int64_t T = int64_t(tokens.size());
    const int64_t S = int64_t(batch.seqs.size());
    std::copy(tokens.begin(), tokens.end(), tokenBuf_.begin());
    std::copy(positions.begin(), positions.end(), posBuf_.begin());
    for (const PreparedStep &p : steps_)
      run(p, T, S, batch);
    return tensors_[size_t(plan_.logits_output())].f;
  }

  PagedKvCache &kvCache() override { return *kv_; }
  int64_t vocabSize() const override { return vocab_; }
  int64_t maxTokensPerStep() const override { return maxTokens_; }
  int64_t maxSeqsPerStep() const override { return maxSeqs_; }

private:
  void setupKvCache(const ExecutorOptions &opts) {
    const fb::KvCacheDesc *kd = plan_.kv_cache();
    int bs = kd && kd->block_size() > 0 ? kd->block_size() : 16;
    int64_t bytesPerToken = 0;
    if (kd && kd->layers()) {
      for (const fb::KvLayer *l : *kd->layers()) {
        INGOT_CHECK(l->num_kv_heads() > 0 && l->head_dim() > 0,
                    "plan kv_cache layer " + std::to_string(kvLayers_.size()) +
                        ": num_kv_heads and head_dim must be positive");
        kvLayers_.push_back({l->num_kv_heads(), l->head_dim()});
        bytesPerToken += 2 * int64_t(l->num_kv_heads()) * l->head_dim() * int64_t(sizeof(float));
      }
      INGOT_CHECK(kvLayers_.empty() || kd->block_size() > 0,
                  "plan kv_cache: block_size must be positive");
    }
    const int64_t blockBytes = bytesPerToken * bs;
    const int64_t maxPosBlocks = maxPosition_ > 0 ? (maxPosition_ + bs - 1) / bs : 0;
    int64_t numBlocks;
    if (blockBytes == 0) {
      numBlocks = std::max<int64_t>(1, maxPosBlocks);
    } else if (opts.kvCacheBytes > 0) {
      numBlocks = opts.kvCacheBytes / blockBytes;
      INGOT_CHECK(numBlocks >= 1, "KV cache of " + std::to_string(opts.kvCacheBytes) +
                                      " bytes holds no block (one block is " +
                                      std::to_string(blockBytes) + " bytes)");
    } else {
      // One full-length sequence at least; otherwise 256 MiB, but never more
      // than four full-length sequences' worth.
      const int64_t need = maxPosBlocks * blockBytes;
      int64_t bytes = need > 0 ? std::max(need, std::min(kDefaultKvBytes, 4 * need))
                               : kDefaultKvBytes;
      numBlocks = std::max<int64_t>(1, (bytes + blockBytes - 1) / blockBytes);
    }
    std::vector<KvLayerShape> shapes = kvLayers_;
    kv_ = std::make_unique<KvCache>(std::move(shapes), bs, numBlocks);
  }

  void describeTensors() {
    readTensorDescs(plan_, tensors_);
    for (const TensorSlot &t : tensors_)
      checkedNumel(t.shape, maxTokens_, maxSeqs_, "tensor \"" + t.name + "\"");
  }

  void bindArena(const fb::MemoryPlan &mem) {
    // The CPU computes in fp32. The plan sized activations in its compute
    // dtype's bytes (ModelConfig.compute_dtype, docs/dev/cuda-abi.md): every
    // offset and size is scaled by 4 / sizeof(compute dtype), which keeps
    // them disjoint (tensors the compiler kept in f32, the logits, sit
    // behind the scaled arena and only get more room). Plans written before
    // compute_dtype existed: 2 when any activation is 16-bit.
    int64_t scale = 1;
    const DType compute = plan_.model() ? DType(plan_.model()->compute_dtype()) : DType::F32;
    if (isFloatDType(compute) && dtypeSize(compute) < sizeof(float))
      scale = int64_t(sizeof(float) / dtypeSize(compute));
    for (const TensorSlot &t : tensors_)
      if (t.kind == fb::TensorKind::Activation && isFloatDType(t.dtype) && dtypeSize(t.dtype) == 2)
        scale = std::max<int64_t>(scale, 2);
    const uint64_t arenaBytes = mem.arena_bytes() * uint64_t(scale);
    INGOT_CHECK(mem.arena_bytes() < (uint64_t(1) << 40), "plan memory: arena_bytes is implausibly large");
    arena_ = ZeroedFloats(size_t(arenaBytes / sizeof(float) + 1)); // committed on first touch
    const auto &ts = *plan_.tensors();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      TensorSlot &t = tensors_[i];
      if (t.kind != fb::TensorKind::Activation)
        continue;
      const fb::TensorDesc *d = ts.Get(flatbuffers::uoffset_t(i));
      const std::string what = "activation \"" + t.name + "\" " + shapeString(t.shape);
      INGOT_CHECK(isFloatDType(t.dtype), what + " must have a floating-point dtype");
      const uint64_t off = d->arena_offset() * uint64_t(scale);
      const uint64_t size = d->arena_size() * uint64_t(scale);
      const uint64_t need = uint64_t(numelOf(t, maxTokens_, maxSeqs_)) * sizeof(float);
      INGOT_CHECK(off % sizeof(float) == 0, what + ": arena offset is not 4-byte aligned");
      INGOT_CHECK(need <= size, what + " needs " + std::to_string(need) +
                                    " bytes at max_tokens/max_seqs but reserves " +
                                    std::to_string(size));
      INGOT_CHECK(off <= arenaBytes && size <= arenaBytes - off,
                  what + " lies outside the arena (" + std::to_string(arenaBytes) + " bytes)");
      t.f = arena_.data() + off / sizeof(float);
    }
  }

  void bindInputs() {
    tokenBuf_.assign(size_t(maxTokens_), 0);
    posBuf_.assign(size_t(maxTokens_), 0);
    const int64_t n = int64_t(tensors_.size());
    INGOT_CHECK(plan_.token_input() >= 0 && plan_.token_input() < n,
                "plan token_input is not a valid tensor id");
    for (size_t i = 0; i < tensors_.size(); ++i) {
      TensorSlot &t = tensors_[i];
      if (t.kind != fb::TensorKind::Input)
        continue;
      INGOT_CHECK(t.dtype == DType::I32 && t.shape == std::vector<int64_t>{-1},
                  "input tensor \"" + t.name + "\" must be int32 [T]");
      if (int32_t(i) == plan_.token_input())
        t.i = tokenBuf_.data();
      else if (int32_t(i) == plan_.position_input())
        t.i = posBuf_.data();
      else
        throw Error("input tensor \"" + t.name +
                    "\" is neither the plan's token_input nor position_input");
    }
    INGOT_CHECK(tensors_[size_t(plan_.token_input())].i,
                "plan token_input is not an Input tensor");
  }

  void bindWeights(const PlanFile &pf, const ExecutorOptions &opts) {
    const size_t nw = plan_.weights() ? plan_.weights()->size() : 0;
    weightData_.assign(nw, nullptr);
    owned_.resize(nw);
    std::vector<bool> used(nw, false);
    for (TensorSlot &t : tensors_) {
      if (t.kind != fb::TensorKind::Weight)
        continue;
      const fb::TensorDesc *d = plan_.tensors()->Get(flatbuffers::uoffset_t(&t - tensors_.data()));
      INGOT_CHECK(d->weight() >= 0 && size_t(d->weight()) < nw,
                  "weight tensor \"" + t.name + "\" refers to weight " +
                      std::to_string(d->weight()) + " of " + std::to_string(nw));
      const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(d->weight()));
      INGOT_CHECK(toShape(w->shape()) == t.shape,
                  "weight tensor \"" + t.name + "\" " + shapeString(t.shape) +
                      " does not match its weight's shape " + shapeString(toShape(w->shape())));
      INGOT_CHECK(isFloatDType(DType(w->dtype())),
                  "weight tensor \"" + t.name + "\" must have a floating-point dtype on the CPU");
      for (int64_t dim : t.shape)
        INGOT_CHECK(dim >= 0, "weight tensor \"" + t.name + "\" has a symbolic dim");
      used[size_t(d->weight())] = true;
    }
    if (plan_.weights_external())
      bindExternal(opts, used);
    else
      bindEmbedded(pf, used);
    for (size_t i = 0; i < tensors_.size(); ++i) {
      TensorSlot &t = tensors_[i];
      if (t.kind == fb::TensorKind::Weight)
        t.f = const_cast<float *>(weightData_[size_t(plan_.tensors()->Get(flatbuffers::uoffset_t(i))->weight())]);
    }
  }

  static std::string weightName(const fb::Weight *w, size_t i) {
    return w->name() ? w->name()->str() : "#" + std::to_string(i);
  }

  // Converts `n` elements to fp32 in parallel chunks (large models convert
  // gigabytes at load time).
  static void toF32(const void *src, DType dt, float *dst, int64_t n) {
    const int64_t chunk = int64_t(1) << 20;
    const int64_t chunks = (n + chunk - 1) / chunk;
    const size_t es = dtypeSize(dt);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t b = c * chunk, e = std::min(n, b + chunk);
      convertToF32(static_cast<const uint8_t *>(src) + size_t(b) * es, dt, dst + b, size_t(e - b));
    }
  }

  void bindEmbedded(const PlanFile &pf, const std::vector<bool> &used) {
    const uint8_t *data = pf.weightsData();
    const uint64_t size = pf.weightsSize();
    for (size_t i = 0; i < used.size(); ++i) {
      if (!used[i])
        continue;
      const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(i));
      const std::string name = weightName(w, i);
      const DType dt = DType(w->dtype());
      const int64_t numel = checkedNumel(toShape(w->shape()), 0, 0, "weight \"" + name + "\"");
      const uint64_t bytes = uint64_t(numel) * dtypeSize(dt);
      INGOT_CHECK(data, "weight \"" + name +
                            "\": the plan embeds no weights section but is not weights-external");
      INGOT_CHECK(w->embedded_size() == bytes,
                  "weight \"" + name + "\": embedded_size " + std::to_string(w->embedded_size()) +
                      " != " + std::to_string(bytes) + " bytes for its shape and dtype");
      INGOT_CHECK(w->embedded_offset() <= size && bytes <= size - w->embedded_offset(),
                  "weight \"" + name + "\" lies outside the weights section");
      const uint8_t *src = data + w->embedded_offset();
      if (dt == DType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
        weightData_[i] = reinterpret_cast<const float *>(src); // used in place
      } else {
        owned_[i].resize(size_t(numel));
        toF32(src, dt, owned_[i].data(), numel);
        weightData_[i] = owned_[i].data();
      }
    }
  }

  void bindExternal(const ExecutorOptions &opts, const std::vector<bool> &used) {
    std::string dir = opts.weightsDir;
    if (dir.empty() && plan_.weights_dir())
      dir = plan_.weights_dir()->str();
    INGOT_CHECK(!dir.empty(), "the plan's weights are external and no weights directory is set "
                              "(the plan records none; pass --weights DIR)");
    ckpt_ = Checkpoint::open(dir); // kept open: weights may be used in place from its mapping
    const Checkpoint *ckpt = ckpt_.get();
    std::map<std::string, uint64_t> have;
    for (const auto &f : ckpt->files())
      have[f.first] = f.second;
    if (plan_.weight_files())
      for (const fb::WeightFile *wf : *plan_.weight_files()) {
        const std::string name = wf->name() ? wf->name()->str() : "";
        auto it = have.find(name);
        INGOT_CHECK(it != have.end(), "weights file \"" + name + "\" recorded in the plan is not in " + dir);
        INGOT_CHECK(it->second == wf->size(),
                    "weights file \"" + name + "\" in " + dir + " has " + std::to_string(it->second) +
                        " bytes, the plan was compiled against " + std::to_string(wf->size()) +
                        " (checkpoint changed since compilation?)");
      }
    for (size_t i = 0; i < used.size(); ++i) {
      if (!used[i])
        continue;
      const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(i));
      WeightSpec spec;
      spec.name = weightName(w, i);
      if (w->sources())
        for (const auto *s : *w->sources())
          spec.sources.push_back(s->str());
      if (w->transforms())
        for (const fb::WeightTransform *x : *w->transforms()) {
          WeightTransformSpec ts;
          ts.kind = WeightTransformKind(x->kind());
          ts.axis = x->axis();
          ts.start = x->start();
          ts.size = x->size();
          ts.dtype = DType(x->dtype());
          spec.transforms.push_back(ts);
        }
      const std::vector<int64_t> want = toShape(w->shape());
      if (const float *inPlace = pureF32Source(*ckpt, spec, DType(w->dtype()), want)) {
        weightData_[i] = inPlace; // no copy: read from the checkpoint's mapping
        continue;
      }
      HostTensor h = materializeWeight(*ckpt, spec);
      INGOT_CHECK(h.shape == want && h.dtype == DType(w->dtype()),
                  "weight \"" + spec.name + "\" from " + dir + " is " + dtypeName(h.dtype) +
                      shapeString(h.shape) + ", the plan expects " + dtypeName(DType(w->dtype())) +
                      shapeString(want));
      owned_[i].resize(size_t(h.numel()));
      toF32(h.bytes.data(), h.dtype, owned_[i].data(), h.numel());
      weightData_[i] = owned_[i].data();
    }
  }

  // The mapped data of `spec`'s source when the weight is that f32 tensor
  // unchanged (one source; no transforms, or only casts to f32) with the plan's
  // shape and a 4-byte aligned start; else null (the weight is materialised).
  static const float *pureF32Source(const Checkpoint &ckpt, const WeightSpec &spec, DType planDtype,
                                    const std::vector<int64_t> &want) {
    if (spec.sources.size() != 1 || planDtype != DType::F32)
      return nullptr;
    for (const WeightTransformSpec &x : spec.transforms)
      if (x.kind != WeightTransformKind::Cast || x.dtype != DType::F32)
        return nullptr;
    DType dt;
    std::vector<int64_t> shape;
    inferWeightShape(ckpt, spec, dt, shape); // the checks materializeWeight would make
    const TensorView &v = ckpt.get(spec.sources[0]);
    if (dt != DType::F32 || v.dtype != DType::F32 || shape != want || v.shape != want ||
        reinterpret_cast<uintptr_t>(v.data) % alignof(float) != 0 ||
        v.nbytes != size_t(v.numel()) * sizeof(float))
      return nullptr;
    return reinterpret_cast<const float *>(v.data);
  }

  void checkLogitsOutput() {
    const int32_t id = plan_.logits_output();
    INGOT_CHECK(id >= 0 && size_t(id) < tensors_.size(), "plan logits_output is not a valid tensor id");
    const TensorSlot &t = tensors_[size_t(id)];
    INGOT_CHECK(t.kind == fb::TensorKind::Activation && t.shape.size() == 2 && t.shape[0] == -2 &&
                    t.shape[1] > 0,
                "plan logits_output \"" + t.name + "\" " + shapeString(t.shape) +
                    " must be an [S,V] activation");
    vocab_ = t.shape[1];
    if (plan_.model() && plan_.model()->vocab_size() > 0)
      INGOT_CHECK(plan_.model()->vocab_size() == vocab_,
                  "plan model.vocab_size " + std::to_string(plan_.model()->vocab_size()) +
                      " differs from logits_output width " + std::to_string(vocab_));
  }

  void run(const PreparedStep &p, int64_t T, int64_t S, const BatchMeta &batch) {
    auto t = [&](size_t k) -> TensorSlot & { return tensors_[size_t(p.in[k])]; };
    auto o = [&](size_t k) -> TensorSlot & { return tensors_[size_t(p.out[k])]; };
    auto rows = [&](const TensorSlot &x) { return numelOf(x, T, S) / std::max<int64_t>(1, lastDim(x)); };
    switch (p.op) {
    case fb::OpKind::Embedding: {
      const int64_t n = numelOf(t(0), T, S);
      const int64_t V = t(1).shape[0], H = t(1).shape[1];
      const int32_t *ids = t(0).i;
      for (int64_t r = 0; r < n; ++r)
        INGOT_CHECK(ids[r] >= 0 && ids[r] < V, p.label + ": id " + std::to_string(ids[r]) +
                                                   " at row " + std::to_string(r) +
                                                   " is outside [0, " + std::to_string(V) + ")");
      cpu::embedding(ids, n, t(1).f, H, o(0).f);
      break;
    }
    case fb::OpKind::Linear:
      cpu::linear(t(0).f, rows(t(0)), lastDim(t(0)), t(1).f, t(1).shape[0],
                  p.in.size() > 2 ? t(2).f : nullptr, p.act, o(0).f);
      break;
    case fb::OpKind::RmsNorm:
      if (p.groupSize > 0) // groups are rows of a [R*H/g, g] view
        cpu::rmsNorm(t(0).f, rows(t(0)) * (lastDim(t(0)) / p.groupSize),
                     p.groupSize, t(1).f, p.eps, o(0).f);
      else
        cpu::rmsNorm(t(0).f, rows(t(0)), lastDim(t(0)), t(1).f, p.eps, o(0).f);
      break;
    case fb::OpKind::LayerNorm:
      cpu::layerNorm(t(0).f, rows(t(0)), lastDim(t(0)), t(1).f, t(2).f, p.eps, o(0).f);
      break;
    case fb::OpKind::AddRmsNorm:
      cpu::addRmsNorm(t(0).f, t(1).f, rows(t(0)), lastDim(t(0)), t(2).f, p.eps, o(0).f, o(1).f);
      break;
    case fb::OpKind::AddLayerNorm:
      cpu::addLayerNorm(t(0).f, t(1).f, rows(t(0)), lastDim(t(0)), t(2).f, t(3).f, p.eps,
                        o(0).f, o(1).f);
      break;
    case fb::OpKind::Rope: {
      const int64_t n = rows(t(0));
      INGOT_CHECK(n == numelOf(t(1), T, S), p.label + ": rows and positions differ");
      cpu::rope(t(0).f, n, int(lastDim(t(0)) / p.rope.headDim), t(1).i, p.rope, p.invFreq, o(0).f);
      break;
    }
    case fb::OpKind::Attention:
      INGOT_CHECK(rows(t(0)) == T, p.label + ": attention rows " + std::to_string(rows(t(0))) +
                                       " must equal the batch's " + std::to_string(T) + " tokens");
      cpu::pagedAttention(t(0).f, t(1).f, t(2).f, T, batch, *kv_, p.attn, o(0).f);
      break;
    case fb::OpKind::Elementwise: {
      std::vector<cpu::EwInput> ins(p.in.size());
      for (size_t k = 0; k < p.in.size(); ++k)
        ins[k] = {t(k).f, p.ewKinds[k]};
      std::vector<float *> outs(p.out.size());
      for (size_t k = 0; k < p.out.size(); ++k)
        outs[k] = o(k).f;
      cpu::elementwise(p.prog, p.numRegs, ins, p.progOut, outs, rows(o(0)), lastDim(o(0)));
      break;
    }
    case fb::OpKind::SiluMul:
      cpu::siluMul(t(0).f, t(1).f, numelOf(t(0), T, S), o(0).f);
      break;
    case fb::OpKind::Softmax:
      cpu::softmax(t(0).f, rows(t(0)), lastDim(t(0)), o(0).f);
      break;
    case fb::OpKind::MoE: {
      const int64_t E = t(1).shape[0], I = t(2).shape[1];
      cpu::moe(t(0).f, rows(t(0)), lastDim(t(0)), t(1).f, E, t(2).f, t(3).f, t(4).f, I, p.topK,
               p.normalize, o(0).f);
      break;
    }
    case fb::OpKind::GatherLast:
      cpu::gatherLast(t(0).f, lastDim(t(0)), batch, o(0).f);
      break;
    case fb::OpKind::Logits:
      cpu::logits(t(0).f, lastDim(t(0)), batch, t(1).f, t(1).shape[0], scratch_.data(), o(0).f);
      break;
    default:
      throw Error(p.label + ": unsupported op");
    }
  }

  const fb::Plan &plan_;
  std::vector<TensorSlot> tensors_;
  std::vector<PreparedStep> steps_;
  std::vector<KvLayerShape> kvLayers_;
  std::unique_ptr<KvCache> kv_;
  ZeroedFloats arena_;
  std::vector<const float *> weightData_;
  std::vector<std::vector<float>> owned_;
  std::unique_ptr<Checkpoint> ckpt_; // weights-external plans: mapped sources used in place
  std::vector<int32_t> tokenBuf_, posBuf_;
  std::vector<float> scratch_;
  int64_t scratchFloats_ = 0;
  int64_t vocab_ = 0, maxTokens_ = 0, maxSeqs_ = 0, maxPosition_ = 0;
  bool hasAttention_ = false;
};

} // namespace

namespace cpuexec {
void validateBatch(const std::vector<int32_t> &tokens, const std::vector<int32_t> &positions,
                   const BatchMeta &batch, const BatchLimits &lim) {
  const int64_t maxTokens_ = lim.maxTokens, maxSeqs_ = lim.maxSeqs, vocab_ = lim.vocab;
  const int64_t maxPosition_ = lim.maxPosition, numBlocks = lim.numBlocks;
  const bool hasAttention_ = lim.hasAttention;
  const int64_t T = int64_t(tokens.size());
  const int64_t S = int64_t(batch.seqs.size());
  INGOT_CHECK(T >= 1, "batch has no tokens");
  INGOT_CHECK(T <= maxTokens_, "batch has " + std::to_string(T) +
                                   " tokens, the plan allows at most " +
                                   std::to_string(maxTokens_) + " per step (memory.max_tokens)");
  INGOT_CHECK(int64_t(positions.size()) == T,
              "batch has " + std::to_string(T) + " tokens but " +
                  std::to_string(positions.size()) + " positions");
  INGOT_CHECK(S >= 1, "batch has no sequences");
  INGOT_CHECK(S <= maxSeqs_, "batch has " + std::to_string(S) +
                                 " sequences, the plan allows at most " +
                                 std::to_string(maxSeqs_) + " per step (memory.max_seqs)");
  for (int64_t t = 0; t < T; ++t) {
    INGOT_CHECK(tokens[size_t(t)] >= 0 && tokens[size_t(t)] < vocab_,
                "token id " + std::to_string(tokens[size_t(t)]) + " at row " + std::to_string(t) +
                    " is outside the vocabulary [0, " + std::to_string(vocab_) + ")");
    INGOT_CHECK(positions[size_t(t)] >= 0 &&
                    (maxPosition_ <= 0 || positions[size_t(t)] < maxPosition_),
                "position " + std::to_string(positions[size_t(t)]) + " at row " +
                    std::to_string(t) + " is outside [0, max_position " +
                    std::to_string(maxPosition_) + ")");
  }
  if (hasAttention_)
    INGOT_CHECK(int64_t(batch.slotMapping.size()) == T,
                "batch slot mapping has " + std::to_string(batch.slotMapping.size()) +
                    " entries for " + std::to_string(T) + " tokens");
  const int64_t bs = lim.blockSize;
  int64_t next = 0;
  for (int64_t s = 0; s < S; ++s) {
    const SeqStep &q = batch.seqs[size_t(s)];
    const std::string at = "batch sequence " + std::to_string(s) + ": ";
    INGOT_CHECK(q.queryStart == next, at + "queryStart " + std::to_string(q.queryStart) +
                                          " but its tokens must start at row " +
                                          std::to_string(next) + " (sequences tile the batch in order)");
    INGOT_CHECK(q.queryLen >= 1 && q.queryLen <= T - next,
                at + "queryLen " + std::to_string(q.queryLen) + " does not fit the batch");
    next += q.queryLen;
    if (!hasAttention_)
      continue;
    INGOT_CHECK(q.contextLen >= q.queryLen, at + "contextLen " + std::to_string(q.contextLen) +
                                                " is less than queryLen " + std::to_string(q.queryLen));
    const int64_t needBlocks = (int64_t(q.contextLen) + bs - 1) / bs;
    INGOT_CHECK(int64_t(q.blockTable.size()) >= needBlocks,
                at + "block table has " + std::to_string(q.blockTable.size()) + " blocks, " +
                    std::to_string(needBlocks) + " needed for contextLen " +
                    std::to_string(q.contextLen));
    for (int64_t b = 0; b < needBlocks; ++b)
      INGOT_CHECK(q.blockTable[size_t(b)] >= 0 && q.blockTable[size_t(b)] < numBlocks,
                  at + "block " + std::to_string(q.blockTable[size_t(b)]) + " is outside the cache (" +
                      std::to_string(numBlocks) + " blocks)");
    for (int32_t i = 0; i < q.queryLen; ++i) {
      const int64_t p = int64_t(q.contextLen) - q.queryLen + i;
      const int64_t want = int64_t(q.blockTable[size_t(p / bs)]) * bs + p % bs;
      const int64_t got = batch.slotMapping[size_t(q.queryStart + i)];
      INGOT_CHECK(got == want, at + "slot mapping of token " + std::to_string(q.queryStart + i) +
                                   " is " + std::to_string(got) + ", its block table puts cache index " +
                                   std::to_string(p) + " at slot " + std::to_string(want));
    }
  }
  INGOT_CHECK(next == T, "batch sequences cover " + std::to_string(next) + " of " +
                             std::to_string(T) + " tokens");
}

} // namespace cpuexec

std::unique_ptr<Executor> createCpuExecutor(const PlanFile &plan, const ExecutorOptions &opts) {
  INGOT_CHECK(plan.program().kind() != fb::PlanKind::Graph,
              "plan " + plan.path() + " is a graph plan (no KV cache, one call from inputs to "
                                      "outputs): run it with `ingot exec` or ingot::GraphExecutor");
  try {
    return std::make_unique<CpuExecutor>(plan, opts);
  } catch (const std::bad_alloc &) {
    throw Error("out of memory while loading " + plan.path() +
                " (weights as fp32, activation arena and KV cache must fit; "
                "a smaller KV cache may help)");
  }
}

} // namespace ingot
