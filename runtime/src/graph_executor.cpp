// The graph executor (include/ingot/runtime/graph.h): runs a PlanKind.Graph
// plan once, from its graph_inputs to its graph_outputs, through Node steps
// whose N-d kernels (include/ingot/runtime/nd.h) compute each output's dtype
// and shape as the call runs.
//
// Invariants established at create() so that run() only checks the inputs:
// - every tensor id a step names is in range (or -1: an omitted optional
//   input / an output the graph does not use), every step input is available
//   when the step runs (a graph input, a weight, or the output of an earlier
//   step), and every activation is produced by exactly one step;
// - every step is a Node step with a registered kernel (the error names the
//   first step without one and counts the others);
// - attributes are converted to nd::Attrs once (typed by Attr.kind; a tensor
//   attribute's bytes are checked against its dtype and shape);
// - weights are bound once: embedded (used in place from the plan mapping),
//   external (materialised from the checkpoint through the recorded
//   transforms, as the decoder path does), and a weight with no sources is an
//   embedded constant even in a weights-external plan. Weights keep their
//   dtype: N-d kernels take any dtype.
// - liveness: each activation is freed right after the last step that reads
//   it (graph outputs are kept until run() returns them).
// Activation buffers are separate 64-byte aligned heap blocks. The plan's
// declared dtype/shape of step outputs are what the compiler inferred (some
// may be guesses); the kernels' results are what counts, so they are not
// checked against the declaration. Graph inputs are checked: count, dtype,
// rank, static dims, and equal values for dims that share a dim_param.
#include "cpu_kernels.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/graph.h"
#include "ingot/runtime/nd.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/schema/plan_generated.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>

namespace ingot {
namespace {

namespace fb = ::ingot::plan;

constexpr size_t kAlign = 64;
// Element counts above this are refused (a plan or kernel bug, not a model).
constexpr int64_t kMaxNumel = int64_t(1) << 46;

std::string shapeStr(const std::vector<int64_t> &s,
                     const std::vector<std::string> *params = nullptr) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      r += ",";
    if (s[i] >= 0)
      r += std::to_string(s[i]);
    else if (params && i < params->size() && !(*params)[i].empty())
      r += (*params)[i];
    else
      r += "?";
  }
  return r + "]";
}

std::vector<int64_t> toShape(const flatbuffers::Vector<int64_t> *v) {
  std::vector<int64_t> s;
  if (v)
    s.assign(v->begin(), v->end());
  return s;
}

// Element count, refusing negative dims and overflow.
bool checkedNumel(const std::vector<int64_t> &shape, int64_t &n) {
  n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxNumel)
      return false;
  return true;
}

// A 64-byte aligned heap block (at least 64 bytes, so zero-sized tensors
// still get a valid pointer).
struct AlignedFree {
  void operator()(void *p) const { std::free(p); }
};
using Block = std::unique_ptr<void, AlignedFree>;

Block allocBlock(size_t bytes) {
  const size_t n = std::max(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  void *p = std::aligned_alloc(kAlign, n);
  if (!p)
    throw std::bad_alloc();
  return Block(p);
}

// Non-null storage for empty inputs (a HostTensor with no bytes).
alignas(kAlign) uint8_t gEmpty[kAlign];

struct Slot {
  std::string name;
  fb::TensorKind kind = fb::TensorKind::Activation;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<std::string> dimParams;
  int producer = -1;        // Activation: the step that writes it
  int lastUse = -1;         // the last step that reads it
  bool graphOutput = false; // kept until run() returns
  nd::Tensor weight;        // Weight: bound data (read-only)
};

struct Node {
  size_t index = 0;
  std::string label; // "step 3 'name' (Add)"
  std::string opType, domain;
  nd::KernelFn fn = nullptr;
  nd::Attrs attrs;
  std::vector<int> in, out;
  std::vector<int> freeAfter; // activations whose last use is this step
};

// The context a kernel sees: inputs by pointer, outputs allocated on demand.
class NodeContext final : public nd::KernelContext {
public:
  NodeContext(const Node &n, std::vector<const nd::Tensor *> ins, int threads)
      : n_(n), ins_(std::move(ins)), outs_(n.out.size()), blocks_(n.out.size()),
        written_(n.out.size(), false), threads_(threads) {}

  const std::string &opType() const override { return n_.opType; }
  const std::string &domain() const override { return n_.domain; }
  int numInputs() const override { return int(ins_.size()); }
  const nd::Tensor *input(int i) const override {
    return i >= 0 && i < int(ins_.size()) ? ins_[size_t(i)] : nullptr;
  }
  int numOutputs() const override { return int(outs_.size()); }
  nd::Tensor &output(int i, DType dtype, const std::vector<int64_t> &shape) override {
    INGOT_CHECK(i >= 0 && i < int(outs_.size()),
                "kernel asked for output " + std::to_string(i) + " but the step has " +
                    std::to_string(outs_.size()) + " outputs");
    INGOT_CHECK(!written_[size_t(i)],
                "kernel allocated output " + std::to_string(i) + " twice");
    INGOT_CHECK(isValidDType(uint8_t(dtype)),
                "kernel gave output " + std::to_string(i) + " an invalid dtype");
    INGOT_CHECK(int(shape.size()) <= nd::kMaxRank,
                "kernel gave output " + std::to_string(i) + " rank " +
                    std::to_string(shape.size()) + " (at most " +
                    std::to_string(nd::kMaxRank) + ")");
    int64_t numel = 0;
    INGOT_CHECK(checkedNumel(shape, numel), "kernel gave output " + std::to_string(i) +
                                                " an invalid or implausibly large shape " +
                                                shapeStr(shape));
    written_[size_t(i)] = true;
    nd::Tensor &t = outs_[size_t(i)];
    t.dtype = dtype;
    t.shape = shape;
    blocks_[size_t(i)] = allocBlock(size_t(numel) * dtypeSize(dtype));
    t.data = blocks_[size_t(i)].get();
    return t;
  }
  const nd::Attrs &attrs() const override { return n_.attrs; }
  int numThreads() const override { return threads_; }

  bool written(size_t i) const { return written_[i]; }
  nd::Tensor &out(size_t i) { return outs_[i]; }
  Block takeBlock(size_t i) { return std::move(blocks_[i]); }

private:
  const Node &n_;
  std::vector<const nd::Tensor *> ins_;
  std::vector<nd::Tensor> outs_;
  std::vector<Block> blocks_;
  std::vector<bool> written_;
  int threads_;
};

std::string domainName(const std::string &d) { return d.empty() ? "ai.onnx" : d; }

// Converts one plan attribute; `at` prefixes errors.
nd::AttrValue convertAttr(const fb::Attr &a, const std::string &at) {
  nd::AttrValue v;
  switch (a.kind()) {
  case fb::AttrKind::Int:
    v.kind = nd::AttrValue::Int;
    v.i = a.i();
    break;
  case fb::AttrKind::Float:
    v.kind = nd::AttrValue::Float;
    v.f = a.f();
    break;
  case fb::AttrKind::String:
    v.kind = nd::AttrValue::String;
    v.s = a.s() ? a.s()->str() : std::string();
    break;
  case fb::AttrKind::Ints:
    v.kind = nd::AttrValue::Ints;
    v.ints = toShape(a.ints());
    break;
  case fb::AttrKind::Floats:
    v.kind = nd::AttrValue::Floats;
    if (a.floats())
      v.floats.assign(a.floats()->begin(), a.floats()->end());
    break;
  case fb::AttrKind::Strings:
    v.kind = nd::AttrValue::Strings;
    if (a.strings())
      for (const flatbuffers::String *s : *a.strings())
        v.strings.push_back(s ? s->str() : std::string());
    break;
  case fb::AttrKind::Tensor: {
    v.kind = nd::AttrValue::TensorValue;
    INGOT_CHECK(isValidDType(uint8_t(a.t_dtype())),
                at + ": tensor has invalid dtype " + std::to_string(int(a.t_dtype())));
    v.tdtype = DType(a.t_dtype());
    v.ints = toShape(a.ints());
    int64_t numel = 0;
    INGOT_CHECK(int(v.ints.size()) <= nd::kMaxRank && checkedNumel(v.ints, numel),
                at + ": tensor has an invalid shape " + shapeStr(v.ints));
    const size_t have = a.t_data() ? a.t_data()->size() : 0;
    const uint64_t need = uint64_t(numel) * dtypeSize(v.tdtype);
    INGOT_CHECK(have == need, at + ": tensor " + dtypeName(v.tdtype) + shapeStr(v.ints) +
                                  " needs " + std::to_string(need) + " bytes of t_data, has " +
                                  std::to_string(have));
    if (a.t_data())
      v.tdata.assign(a.t_data()->begin(), a.t_data()->end());
    break;
  }
  case fb::AttrKind::Unset:
    throw Error(at + " has no kind (Node step attributes must set Attr.kind)");
  default:
    throw Error(at + " has unknown kind " + std::to_string(int(a.kind())));
  }
  return v;
}

class GraphExecutorImpl final : public GraphExecutor {
public:
  GraphExecutorImpl(const PlanFile &pf, const GraphRunOptions &opts) : plan_(pf.program()) {
    INGOT_CHECK(plan_.kind() == fb::PlanKind::Graph,
                "plan " + pf.path() + " is a decoder plan, not a graph plan (run it with "
                                      "`ingot run`/`ingot serve`)");
    cpu::setNumThreads(opts.numThreads);
    threads_ = cpu::numThreads();
    describeTensors();
    describeInputs();
    bindWeights(pf, opts);
    prepareSteps();
    describeOutputs();
    // Last, so that a structurally broken plan reports that instead.
    checkKernels();
  }

  const std::vector<GraphIO> &inputs() const override { return inputs_; }
  const std::vector<GraphIO> &outputs() const override { return outputs_; }

  std::vector<HostTensor> run(const std::vector<HostTensor> &inputs) override {
    try {
      return runImpl(inputs);
    } catch (const std::bad_alloc &) {
      throw Error("out of memory while running the graph (activations are allocated as "
                  "the steps run)");
    }
  }

private:
  void describeTensors() {
    const size_t n = plan_.tensors() ? plan_.tensors()->size() : 0;
    slots_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const fb::TensorDesc *d = plan_.tensors()->Get(flatbuffers::uoffset_t(i));
      Slot &t = slots_[i];
      t.name = d->name() ? d->name()->str() : "#" + std::to_string(i);
      t.kind = d->kind();
      INGOT_CHECK(t.kind == fb::TensorKind::Activation || t.kind == fb::TensorKind::Weight ||
                      t.kind == fb::TensorKind::Input,
                  "tensor " + std::to_string(i) + " '" + t.name + "' has an unknown kind");
      INGOT_CHECK(isValidDType(uint8_t(d->dtype())),
                  "tensor " + std::to_string(i) + " '" + t.name + "' has an invalid dtype");
      t.dtype = DType(d->dtype());
      t.shape = toShape(d->shape());
      INGOT_CHECK(d->id() == int32_t(i) || d->id() == 0,
                  "tensor '" + t.name + "' at index " + std::to_string(i) + " has id " +
                      std::to_string(d->id()));
      for (int64_t dim : t.shape)
        INGOT_CHECK(dim >= 0 || dim == kDimDynamic,
                    "tensor " + std::to_string(i) + " '" + t.name + "' has dim " +
                        std::to_string(dim) + " (graph plans use static dims or -3, dynamic)");
      if (d->dim_params())
        for (const flatbuffers::String *s : *d->dim_params())
          t.dimParams.push_back(s ? s->str() : std::string());
      INGOT_CHECK(t.dimParams.empty() || t.dimParams.size() == t.shape.size(),
                  "tensor '" + t.name + "' has " + std::to_string(t.dimParams.size()) +
                      " dim_params for rank " + std::to_string(t.shape.size()));
      t.dimParams.resize(t.shape.size());
    }
  }

  GraphIO io(int id) const {
    const Slot &t = slots_[size_t(id)];
    return GraphIO{t.name, t.dtype, t.shape, t.dimParams};
  }

  int checkId(int32_t id, const std::string &what) const {
    INGOT_CHECK(id >= 0 && size_t(id) < slots_.size(),
                what + " tensor id " + std::to_string(id) + " is out of range (plan has " +
                    std::to_string(slots_.size()) + " tensors)");
    return int(id);
  }

  void describeInputs() {
    if (plan_.graph_inputs())
      for (int32_t raw : *plan_.graph_inputs()) {
        const int id = checkId(raw, "graph input");
        Slot &t = slots_[size_t(id)];
        INGOT_CHECK(t.kind == fb::TensorKind::Input,
                    "graph input '" + t.name + "' (tensor " + std::to_string(id) +
                        ") is not an Input tensor");
        INGOT_CHECK(std::find(inputIds_.begin(), inputIds_.end(), id) == inputIds_.end(),
                    "graph input '" + t.name + "' is listed twice");
        inputIds_.push_back(id);
        inputs_.push_back(io(id));
      }
    for (size_t i = 0; i < slots_.size(); ++i)
      INGOT_CHECK(slots_[i].kind != fb::TensorKind::Input ||
                      std::find(inputIds_.begin(), inputIds_.end(), int(i)) != inputIds_.end(),
                  "Input tensor " + std::to_string(i) + " '" + slots_[i].name +
                      "' is not one of the plan's graph_inputs");
  }

  void bindWeights(const PlanFile &pf, const GraphRunOptions &opts) {
    const size_t nw = plan_.weights() ? plan_.weights()->size() : 0;
    std::vector<nd::Tensor> bound(nw);
    std::vector<bool> done(nw, false);
    // Opened on the first weight that needs it; closed after binding (the
    // materialised weights are copies).
    std::unique_ptr<Checkpoint> ckpt;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot &t = slots_[i];
      if (t.kind != fb::TensorKind::Weight)
        continue;
      const fb::TensorDesc *d = plan_.tensors()->Get(flatbuffers::uoffset_t(i));
      INGOT_CHECK(d->weight() >= 0 && size_t(d->weight()) < nw,
                  "weight tensor '" + t.name + "' refers to weight " +
                      std::to_string(d->weight()) + " of " + std::to_string(nw));
      const size_t wi = size_t(d->weight());
      if (!done[wi]) {
        bound[wi] = bindWeight(pf, opts, wi, ckpt);
        done[wi] = true;
      }
      INGOT_CHECK(bound[wi].shape == t.shape && bound[wi].dtype == t.dtype,
                  "weight tensor '" + t.name + "' is declared " + dtypeName(t.dtype) +
                      shapeStr(t.shape) + " but its weight is " + dtypeName(bound[wi].dtype) +
                      shapeStr(bound[wi].shape));
      t.weight = bound[wi];
    }
  }

  nd::Tensor bindWeight(const PlanFile &pf, const GraphRunOptions &opts, size_t wi,
                        std::unique_ptr<Checkpoint> &ckpt) {
    const fb::Weight *w = plan_.weights()->Get(flatbuffers::uoffset_t(wi));
    const std::string name = w->name() ? w->name()->str() : "#" + std::to_string(wi);
    INGOT_CHECK(isValidDType(uint8_t(w->dtype())), "weight '" + name + "' has an invalid dtype");
    nd::Tensor t;
    t.dtype = DType(w->dtype());
    t.shape = toShape(w->shape());
    int64_t numel = 0;
    INGOT_CHECK(checkedNumel(t.shape, numel),
                "weight '" + name + "' has an invalid shape " + shapeStr(t.shape));
    const uint64_t bytes = uint64_t(numel) * dtypeSize(t.dtype);
    const bool hasSources = w->sources() && w->sources()->size() > 0;
    if (plan_.weights_external() && hasSources) {
      WeightSpec spec;
      spec.name = name;
      for (const flatbuffers::String *s : *w->sources())
        spec.sources.push_back(s ? s->str() : std::string());
      if (w->transforms())
        for (const fb::WeightTransform *x : *w->transforms())
          spec.transforms.push_back({WeightTransformKind(x->kind()), x->axis(), x->start(),
                                     x->size(), DType(x->dtype())});
      if (!ckpt)
        ckpt = openCheckpoint(opts);
      owned_.push_back(materializeWeight(*ckpt, spec));
      const HostTensor &h = owned_.back();
      INGOT_CHECK(h.shape == t.shape && h.dtype == t.dtype,
                  "weight '" + name + "' from " + ckpt->dir() + " is " + dtypeName(h.dtype) +
                      shapeStr(h.shape) + ", the plan expects " + dtypeName(t.dtype) +
                      shapeStr(t.shape));
      t.data = h.bytes.empty() ? static_cast<void *>(gEmpty)
                               : const_cast<uint8_t *>(h.bytes.data());
      return t;
    }
    // Embedded (a weight with no sources is an embedded constant, whatever
    // the plan's weights mode).
    const uint8_t *data = pf.weightsData();
    const uint64_t size = pf.weightsSize();
    INGOT_CHECK(w->embedded_size() == bytes,
                "weight '" + name + "': embedded_size " + std::to_string(w->embedded_size()) +
                    " != " + std::to_string(bytes) + " bytes for " + dtypeName(t.dtype) +
                    shapeStr(t.shape));
    if (bytes == 0) {
      t.data = gEmpty;
      return t;
    }
    INGOT_CHECK(data, "weight '" + name + "' is embedded but the plan has no weights section");
    INGOT_CHECK(w->embedded_offset() <= size && bytes <= size - w->embedded_offset(),
                "weight '" + name + "' lies outside the weights section");
    const uint8_t *src = data + w->embedded_offset();
    if (reinterpret_cast<uintptr_t>(src) % dtypeSize(t.dtype) == 0) {
      t.data = const_cast<uint8_t *>(src); // read-only mapping: kernels never write inputs
    } else {
      HostTensor h;
      h.dtype = t.dtype;
      h.shape = t.shape;
      h.bytes.assign(src, src + bytes);
      owned_.push_back(std::move(h));
      t.data = owned_.back().bytes.data();
    }
    return t;
  }

  std::unique_ptr<Checkpoint> openCheckpoint(const GraphRunOptions &opts) const {
    std::string dir = opts.weightsDir;
    if (dir.empty() && plan_.weights_dir())
      dir = plan_.weights_dir()->str();
    INGOT_CHECK(!dir.empty(), "the plan's weights are external and no weights directory is "
                              "set (the plan records none; pass --weights DIR)");
    auto ck = Checkpoint::open(dir);
    std::map<std::string, uint64_t> have;
    for (const auto &f : ck->files())
      have[f.first] = f.second;
    if (plan_.weight_files())
      for (const fb::WeightFile *wf : *plan_.weight_files()) {
        const std::string name = wf->name() ? wf->name()->str() : "";
        auto it = have.find(name);
        INGOT_CHECK(it != have.end(),
                    "weights file '" + name + "' recorded in the plan is not in " + dir);
        INGOT_CHECK(it->second == wf->size(),
                    "weights file '" + name + "' in " + dir + " has " +
                        std::to_string(it->second) + " bytes, the plan was compiled against " +
                        std::to_string(wf->size()) + " (checkpoint changed since compilation?)");
      }
    return ck;
  }

  void prepareSteps() {
    const size_t ns = plan_.steps() ? plan_.steps()->size() : 0;
    for (size_t si = 0; si < ns; ++si) {
      const fb::Step *s = plan_.steps()->Get(flatbuffers::uoffset_t(si));
      Node n;
      n.index = si;
      const std::string name = s->name() ? s->name()->str() : "";
      n.opType = s->op_type() ? s->op_type()->str() : "";
      n.domain = s->domain() ? s->domain()->str() : "";
      if (n.domain == "ai.onnx")
        n.domain.clear();
      const std::string base = "step " + std::to_string(si) + " '" + name + "'";
      if (s->op() != fb::OpKind::Node) {
        const char *k = fb::EnumNameOpKind(s->op());
        throw Error(base + ": op kind " + (k && *k ? std::string(k) : std::to_string(int(s->op()))) +
                    " is a decoder step; graph plans run only Node steps");
      }
      INGOT_CHECK(!n.opType.empty(), base + ": Node step has no op_type");
      n.label = base + " (" + (n.domain.empty() ? "" : n.domain + "::") + n.opType + ")";
      n.fn = nd::findKernel(n.domain, n.opType);
      if (!n.fn) {
        if (firstMissing_.empty())
          firstMissing_ = n.label + ": no kernel for op type '" + n.opType + "' in domain '" +
                          domainName(n.domain) + "'";
        else
          missing_.push_back((n.domain.empty() ? "" : n.domain + "::") + n.opType);
      }
      if (s->inputs())
        for (int32_t id : *s->inputs()) {
          if (id == -1) {
            n.in.push_back(-1);
            continue;
          }
          checkId(id, n.label + ": input");
          const Slot &t = slots_[size_t(id)];
          INGOT_CHECK(t.kind != fb::TensorKind::Activation || t.producer >= 0,
                      n.label + ": input tensor " + std::to_string(id) + " '" + t.name +
                          "' is used before any step produces it");
          n.in.push_back(id);
          slots_[size_t(id)].lastUse = int(si);
        }
      if (s->outputs())
        for (int32_t id : *s->outputs()) {
          if (id == -1) {
            n.out.push_back(-1);
            continue;
          }
          checkId(id, n.label + ": output");
          Slot &t = slots_[size_t(id)];
          INGOT_CHECK(t.kind == fb::TensorKind::Activation,
                      n.label + ": output tensor " + std::to_string(id) + " '" + t.name +
                          "' is not an Activation");
          INGOT_CHECK(t.producer < 0, n.label + ": output tensor " + std::to_string(id) + " '" +
                                          t.name + "' is already produced by step " +
                                          std::to_string(t.producer));
          t.producer = int(si);
          n.out.push_back(id);
        }
      if (s->attrs())
        for (const fb::Attr *a : *s->attrs()) {
          const std::string an = a->name() ? a->name()->str() : "";
          const std::string at = n.label + ": attribute '" + an + "'";
          INGOT_CHECK(!an.empty(), n.label + ": an attribute has no name");
          INGOT_CHECK(!n.attrs.has(an), at + " is given twice");
          n.attrs.values.emplace(an, convertAttr(*a, at));
        }
      nodes_.push_back(std::move(n));
    }
  }

  // Names the first step with no kernel and the op types of the others.
  void checkKernels() {
    if (firstMissing_.empty())
      return;
    std::string more;
    if (!missing_.empty()) {
      std::sort(missing_.begin(), missing_.end());
      missing_.erase(std::unique(missing_.begin(), missing_.end()), missing_.end());
      more = " (and more steps with no kernel: ";
      for (size_t i = 0; i < missing_.size(); ++i)
        more += (i ? ", " : "") + missing_[i];
      more += ")";
    }
    throw Error(firstMissing_ + more);
  }

  void describeOutputs() {
    if (plan_.graph_outputs())
      for (int32_t raw : *plan_.graph_outputs()) {
        const int id = checkId(raw, "graph output");
        Slot &t = slots_[size_t(id)];
        INGOT_CHECK(t.kind != fb::TensorKind::Activation || t.producer >= 0,
                    "graph output '" + t.name + "' (tensor " + std::to_string(id) +
                        ") is not produced by any step");
        t.graphOutput = true;
        outputIds_.push_back(id);
        outputs_.push_back(io(id));
      }
    // Free each activation after its last reader; unread ones right after
    // their producer.
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot &t = slots_[i];
      if (t.kind != fb::TensorKind::Activation || t.graphOutput || t.producer < 0)
        continue;
      const int at = std::max(t.lastUse, t.producer);
      nodes_[size_t(at)].freeAfter.push_back(int(i));
    }
  }

  void checkInputs(const std::vector<HostTensor> &in) const {
    if (in.size() != inputs_.size()) {
      std::string want;
      for (const GraphIO &g : inputs_)
        want += (want.empty() ? "" : ", ") + g.name + " " + dtypeName(g.dtype) +
                shapeStr(g.shape, &g.dimParams);
      throw Error("the graph takes " + std::to_string(inputs_.size()) + " inputs (" + want +
                  "), got " + std::to_string(in.size()));
    }
    std::map<std::string, std::pair<int64_t, std::string>> params; // dim_param -> value, where
    for (size_t k = 0; k < in.size(); ++k) {
      const GraphIO &g = inputs_[k];
      const HostTensor &h = in[k];
      const std::string at = "input '" + g.name + "'";
      const std::string want = dtypeName(g.dtype) + shapeStr(g.shape, &g.dimParams);
      INGOT_CHECK(h.dtype == g.dtype, at + " is " + dtypeName(h.dtype) + ", expected " + want);
      INGOT_CHECK(h.shape.size() == g.shape.size(),
                  at + " has rank " + std::to_string(h.shape.size()) + " " + shapeStr(h.shape) +
                      ", expected rank " + std::to_string(g.shape.size()) + " " + want);
      for (size_t d = 0; d < h.shape.size(); ++d) {
        INGOT_CHECK(h.shape[d] >= 0, at + ": dim " + std::to_string(d) + " is negative");
        if (g.shape[d] >= 0)
          INGOT_CHECK(h.shape[d] == g.shape[d],
                      at + ": dim " + std::to_string(d) + " is " + std::to_string(h.shape[d]) +
                          ", expected " + std::to_string(g.shape[d]) + " (shape " + want + ")");
        const std::string &p = g.dimParams[d];
        if (g.shape[d] < 0 && !p.empty()) {
          const std::string here = at + " dim " + std::to_string(d);
          auto it = params.emplace(p, std::make_pair(h.shape[d], here)).first;
          INGOT_CHECK(it->second.first == h.shape[d],
                      here + " ('" + p + "') is " + std::to_string(h.shape[d]) + " but " +
                          it->second.second + " ('" + p + "') is " +
                          std::to_string(it->second.first));
        }
      }
      int64_t numel = 0;
      INGOT_CHECK(checkedNumel(h.shape, numel),
                  at + " has an implausibly large shape " + shapeStr(h.shape));
      INGOT_CHECK(h.bytes.size() == uint64_t(numel) * dtypeSize(h.dtype),
                  at + " has " + std::to_string(h.bytes.size()) + " bytes, " +
                      dtypeName(h.dtype) + shapeStr(h.shape) + " needs " +
                      std::to_string(uint64_t(numel) * dtypeSize(h.dtype)));
    }
  }

  std::vector<HostTensor> runImpl(const std::vector<HostTensor> &in) {
    checkInputs(in);
    std::vector<nd::Tensor> values(slots_.size());
    std::vector<Block> blocks(slots_.size());
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].kind == fb::TensorKind::Weight)
        values[i] = slots_[i].weight;
    for (size_t k = 0; k < in.size(); ++k) {
      nd::Tensor &t = values[size_t(inputIds_[k])];
      t.dtype = in[k].dtype;
      t.shape = in[k].shape;
      t.data = in[k].bytes.empty() ? static_cast<void *>(gEmpty)
                                   : const_cast<uint8_t *>(in[k].bytes.data());
    }
    for (const Node &n : nodes_) {
      std::vector<const nd::Tensor *> ins;
      ins.reserve(n.in.size());
      for (int id : n.in)
        ins.push_back(id < 0 ? nullptr : &values[size_t(id)]);
      NodeContext ctx(n, std::move(ins), threads_);
      try {
        n.fn(ctx);
        for (size_t k = 0; k < n.out.size(); ++k)
          INGOT_CHECK(ctx.written(k), "kernel did not produce output " + std::to_string(k));
      } catch (const std::bad_alloc &) {
        throw Error(n.label + ": out of memory");
      } catch (const std::exception &e) {
        throw Error(n.label + ": " + e.what());
      }
      for (size_t k = 0; k < n.out.size(); ++k) {
        const int id = n.out[k];
        if (id < 0)
          continue; // an output the graph does not use: freed with ctx
        values[size_t(id)] = ctx.out(k);
        blocks[size_t(id)] = ctx.takeBlock(k);
      }
      for (int id : n.freeAfter) {
        blocks[size_t(id)].reset();
        values[size_t(id)] = nd::Tensor();
      }
    }
    std::vector<HostTensor> out;
    out.reserve(outputIds_.size());
    for (int id : outputIds_) {
      const nd::Tensor &t = values[size_t(id)];
      HostTensor h;
      h.dtype = t.dtype;
      h.shape = t.shape;
      const uint8_t *p = static_cast<const uint8_t *>(t.data);
      h.bytes.assign(p, p + t.nbytes());
      out.push_back(std::move(h));
    }
    return out;
  }

  const fb::Plan &plan_;
  int threads_ = 1;
  std::vector<Slot> slots_;
  std::vector<Node> nodes_;
  std::vector<int> inputIds_, outputIds_;
  std::vector<GraphIO> inputs_, outputs_;
  std::vector<HostTensor> owned_; // weights materialised or realigned at create
  std::string firstMissing_;        // the first step with no kernel (create only)
  std::vector<std::string> missing_; // op types of later steps with no kernel
};

} // namespace

std::unique_ptr<GraphExecutor> GraphExecutor::create(const PlanFile &plan,
                                                     const GraphRunOptions &opts) {
  try {
    return std::make_unique<GraphExecutorImpl>(plan, opts);
  } catch (const std::bad_alloc &) {
    throw Error("out of memory while loading " + plan.path());
  }
}

} // namespace ingot
