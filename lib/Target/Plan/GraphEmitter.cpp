//===- GraphEmitter.cpp - graph module -> graph plan ----------------------===//
//
// Writes a module of the general path (`ingot.source = "onnx"`, func @main
// after `ingot-onnx-lower-graph`) as a plan of kind Graph
// (docs/plan-format.md, "Graph plans"):
//
// - function arguments are the graph inputs (TensorKind.Input), named by
//   their `ingot.name` attribute, with `ingot.dim_params`;
// - returned values are the graph outputs, named by the function's
//   `ingot.output_names` (and `ingot.output_dim_params`);
// - `ingot.weight` results are weights bound to the checkpoint as in decoder
//   plans (PlanEmitOptions::checkpoint, else checkpointDir);
// - `ingot.constant` values are weights with no sources whose bytes are
//   always embedded in the weights section (also in weights-external plans);
// - `ingot.step "Node"` ops are Node steps with typed attributes; positions
//   in `ingot.absent_inputs` get input id -1.
//
// Every Node step's (domain, op_type) must have a runtime kernel: a plan is
// refused here, naming the node, rather than failing when it runs.
// Activations of graph plans have no arena offsets (the executor allocates
// them as the call runs). Dims known only at run time are -3; an unranked
// tensor has no `shape` vector at all (a scalar has an empty one).
//
//===----------------------------------------------------------------------===//
#include "PlanEmitterInternal.h"
#include "ingot/NdEval/NdEval.h"

#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"
#include "ingot/schema/plan_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>

namespace fb = flatbuffers;
namespace pl = ::ingot::plan;
namespace nd = ::ingot::nd;
using namespace mlir;
using namespace mlir::ingot;
using mlir::ingot::plan_detail::locString;

// Constants are small and many: they are aligned for any element type and
// SIMD loads, not to pages like checkpoint weights.
static constexpr uint64_t kConstantAlignment = 64;

bool mlir::ingot::plan_detail::isGraphModule(ModuleOp module) {
  auto source = module->getAttrOfType<StringAttr>("ingot.source");
  return source && source.getValue() == "onnx" &&
         module.lookupSymbol<func::FuncOp>("main");
}

namespace {

struct WeightEntry {
  std::string name;
  bool constant = false;
  ::ingot::WeightSpec spec;      // checkpoint weights
  std::vector<uint8_t> bytes;    // constants
  ::ingot::DType dtype = ::ingot::DType::F32;
  std::vector<int64_t> shape;
  bool embedded = true;
  uint64_t offset = 0, size = 0;
};

struct GraphEmitter {
  ModuleOp module;
  const PlanEmitOptions &opts;
  PlanMemoryReport &report;
  std::string &error;

  GraphEmitter(ModuleOp module, const PlanEmitOptions &opts,
               PlanMemoryReport &report, std::string &error)
      : module(module), opts(opts), report(report), error(error) {}

  fb::FlatBufferBuilder fbb{1 << 16};
  std::vector<fb::Offset<pl::TensorDesc>> tensors;
  llvm::DenseMap<Value, int32_t> tensorOf;
  std::vector<WeightEntry> entries;
  std::map<std::string, int32_t> weightTensor; // symbol -> tensor id
  llvm::StringSet<> usedNames;
  llvm::DenseMap<Value, std::pair<std::string, ArrayAttr>> outputNames;

  bool fail(const std::string &msg) {
    error = msg;
    return false;
  }

  std::string uniqueName(std::string base) {
    if (base.empty())
      base = "tensor";
    std::string name = base;
    for (int k = 1; usedNames.contains(name); ++k)
      name = base + "." + std::to_string(k);
    usedNames.insert(name);
    return name;
  }

  // -1 on failure (error set).
  int32_t addTensor(Value v, const std::string &name, pl::TensorKind kind,
                    int32_t weight, ArrayAttr dimParams) {
    auto tt = dyn_cast<TensorType>(v.getType());
    ::ingot::DType dt;
    if (!tt || !toRuntimeDType(tt.getElementType(), dt)) {
      std::string t;
      llvm::raw_string_ostream os(t);
      os << v.getType();
      fail("tensor '" + name + "' has type " + t +
           ", which a plan cannot hold (element types: f32, f16, bf16, f64, "
           "i8..i64, ui8..ui64, i1)");
      return -1;
    }
    std::vector<int64_t> shape;
    if (tt.hasRank())
      for (int64_t d : tt.getShape())
        shape.push_back(ShapedType::isDynamic(d) ? ::ingot::kDimDynamic : d);
    std::vector<fb::Offset<fb::String>> params;
    if (dimParams && tt.hasRank())
      for (Attribute a : dimParams) {
        auto s = dyn_cast<StringAttr>(a);
        params.push_back(fbb.CreateString(s ? s.getValue().str() : ""));
      }
    int32_t id = int32_t(tensors.size());
    tensors.push_back(pl::CreateTensorDescDirect(
        fbb, id, name.c_str(), kind, pl::DType(uint8_t(dt)),
        tt.hasRank() ? &shape : nullptr, 0, 0, weight,
        params.empty() ? nullptr : &params));
    tensorOf[v] = id;
    return id;
  }

  std::string opsetOf(StringRef domain) {
    // The default domain may be keyed "ai.onnx" (MLIR dictionaries cannot
    // have an empty key) or "".
    auto opsets = module->getAttrOfType<DictionaryAttr>("ingot.onnx.opsets");
    if (!opsets)
      return "";
    bool isDefault = domain.empty() || domain == "ai.onnx";
    for (StringRef key : isDefault ? llvm::SmallVector<StringRef>{"ai.onnx", ""}
                                   : llvm::SmallVector<StringRef>{domain})
      if (!key.empty())
        if (auto v = opsets.getAs<IntegerAttr>(key))
          return ", opset " + std::to_string(v.getValue().getSExtValue());
    return "";
  }

  fb::Offset<pl::Attr> attrOf(const std::string &name, const nd::AttrValue &v) {
    using K = nd::AttrValue;
    switch (v.kind) {
    case K::Int:
      return pl::CreateAttrDirect(fbb, name.c_str(), v.i, 0.0, nullptr, nullptr,
                                  nullptr, pl::AttrKind::Int);
    case K::Float:
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, v.f, nullptr, nullptr,
                                  nullptr, pl::AttrKind::Float);
    case K::String:
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, 0.0, v.s.c_str(),
                                  nullptr, nullptr, pl::AttrKind::String);
    case K::Ints:
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, 0.0, nullptr, &v.ints,
                                  nullptr, pl::AttrKind::Ints);
    case K::Floats:
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, 0.0, nullptr, nullptr,
                                  &v.floats, pl::AttrKind::Floats);
    case K::Strings: {
      std::vector<fb::Offset<fb::String>> strs;
      for (const std::string &s : v.strings)
        strs.push_back(fbb.CreateString(s));
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, 0.0, nullptr, nullptr,
                                  nullptr, pl::AttrKind::Strings, &strs);
    }
    case K::TensorValue:
      return pl::CreateAttrDirect(fbb, name.c_str(), 0, 0.0, nullptr, &v.ints,
                                  nullptr, pl::AttrKind::Tensor, nullptr,
                                  pl::DType(uint8_t(v.tdtype)), &v.tdata);
    }
    return {};
  }

  bool addWeight(WeightOp w) {
    std::string sym = w.getName().str();
    if (auto it = weightTensor.find(sym); it != weightTensor.end()) {
      tensorOf[w.getResult()] = it->second;
      return true;
    }
    auto decl = module.lookupSymbol<WeightDeclOp>(sym);
    if (!decl)
      return fail("ingot.weight refers to undeclared weight '" + sym + "'");
    WeightEntry e;
    if (!plan_detail::weightSpecOf(decl, e.spec, error))
      return false;
    auto type = dyn_cast<RankedTensorType>(decl.getType());
    if (!type || !type.hasStaticShape() ||
        !toRuntimeDType(type.getElementType(), e.dtype))
      return fail("weight '" + sym + "' must have a static shape and a "
                                     "supported element type");
    e.name = uniqueName(sym);
    e.shape.assign(type.getShape().begin(), type.getShape().end());
    e.size = uint64_t(type.getNumElements()) * ::ingot::dtypeSize(e.dtype);
    e.embedded = opts.embedWeights;
    int32_t index = int32_t(entries.size());
    entries.push_back(std::move(e));
    int32_t id = addTensor(w.getResult(), entries.back().name,
                           pl::TensorKind::Weight, index, nullptr);
    if (id < 0)
      return false;
    weightTensor[sym] = id;
    return true;
  }

  bool addConstant(ConstantOp c) {
    auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
    std::string where = locString(c.getLoc());
    if (!dense)
      return fail("constant at " + where +
                  " is not dense elements (a plan embeds dense data only)");
    WeightEntry e;
    e.constant = true;
    if (!toRuntimeDType(dense.getType().getElementType(), e.dtype) ||
        !denseBytes(dense, e.bytes, error))
      return fail("constant at " + where + ": " +
                  (error.empty() ? "unsupported element type" : error));
    auto nl = dyn_cast<NameLoc>(c.getLoc());
    e.name = uniqueName(nl ? nl.getName().getValue().str()
                           : "const." + std::to_string(entries.size()));
    e.shape.assign(dense.getType().getShape().begin(),
                   dense.getType().getShape().end());
    e.size = e.bytes.size();
    int32_t index = int32_t(entries.size());
    entries.push_back(std::move(e));
    return addTensor(c.getResult(), entries.back().name, pl::TensorKind::Weight,
                     index, nullptr) >= 0;
  }

  bool addStep(StepOp step, std::vector<fb::Offset<pl::Step>> &steps) {
    auto getStr = [&](StringRef n) {
      auto a = step->getAttrOfType<StringAttr>(n);
      return a ? a.getValue().str() : std::string();
    };
    std::string opType = getStr("op_type"), domain = getStr("domain"),
                name = getStr("name");
    if (name.empty())
      name = locString(step.getLoc());
    std::string where = "node '" + name + "' (" + opType +
                        (domain.empty() ? "" : ", domain " + domain) + ")";
    if (step.getKind() != "Node")
      return fail("graph plans hold Node steps only; step " + where +
                  " has kind " + step.getKind().str());
    if (!hasNdKernel(domain, opType))
      return fail("no CPU kernel for " + opType + " (domain '" +
                  (domain.empty() ? "ai.onnx" : domain) + "'" +
                  opsetOf(domain) + ") at node '" + name + "'");

    std::vector<int32_t> inputs, outputs;
    llvm::ArrayRef<int64_t> absent;
    if (auto a = step->getAttrOfType<DenseI64ArrayAttr>("ingot.absent_inputs"))
      absent = a.asArrayRef();
    size_t total = step.getInputs().size() + absent.size(), next = 0, k = 0;
    for (size_t pos = 0; pos < total; ++pos) {
      if (k < absent.size() && absent[k] == int64_t(pos)) {
        inputs.push_back(-1);
        ++k;
        continue;
      }
      Value in = step.getInputs()[next++];
      auto it = tensorOf.find(in);
      if (it == tensorOf.end())
        return fail("step " + where + " reads a value that is not a tensor of "
                                      "the plan");
      inputs.push_back(it->second);
    }
    for (auto [i, r] : llvm::enumerate(step.getResults())) {
      auto out = outputNames.find(r);
      std::string tname = out != outputNames.end()
                              ? out->second.first
                              : uniqueName(name + ":" + std::to_string(i));
      int32_t id = addTensor(r, tname, pl::TensorKind::Activation, -1,
                             out != outputNames.end() ? out->second.second
                                                      : ArrayAttr());
      if (id < 0)
        return false;
      outputs.push_back(id);
    }

    nd::Attrs attrs;
    auto dict = step->getAttrOfType<DictionaryAttr>("ingot.attrs");
    std::string err;
    if (!toNdAttrs(dict, attrs, err))
      return fail("step " + where + ": " + err);
    std::vector<fb::Offset<pl::Attr>> flat;
    for (const auto &[n, v] : attrs.values)
      flat.push_back(attrOf(n, v));
    steps.push_back(pl::CreateStepDirect(
        fbb, pl::OpKind::Node, name.c_str(), &inputs, &outputs, &flat, nullptr,
        0, nullptr, -1, opType.c_str(), domain.c_str()));
    return true;
  }

  bool run() {
    auto fn = module.lookupSymbol<func::FuncOp>("main");
    if (!fn || fn.isExternal() || !fn.getBody().hasOneBlock())
      return fail("a graph module needs a single-block func.func @main");
    Block &block = fn.getBody().front();
    auto ret = dyn_cast<func::ReturnOp>(block.getTerminator());
    if (!ret)
      return fail("@main must end with func.return");

    // Graph outputs: names decided up front so the step results get them.
    auto outNames = fn->getAttrOfType<ArrayAttr>("ingot.output_names");
    auto outParams = fn->getAttrOfType<ArrayAttr>("ingot.output_dim_params");
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      std::string name = "output" + std::to_string(i);
      if (outNames && i < outNames.size())
        if (auto s = dyn_cast<StringAttr>(outNames[i]))
          name = s.getValue().str();
      ArrayAttr params;
      if (outParams && i < outParams.size())
        params = dyn_cast<ArrayAttr>(outParams[i]);
      if (!v.getDefiningOp<StepOp>() || outputNames.count(v))
        return fail("graph output '" + name +
                    "' is not a step result of its own (run "
                    "ingot-onnx-lower-graph)");
      if (usedNames.contains(name))
        return fail("two graph outputs are named '" + name + "'");
      usedNames.insert(name);
      outputNames[v] = {name, params};
    }

    std::vector<int32_t> graphInputs, graphOutputs;
    for (auto [i, arg] : llvm::enumerate(block.getArguments())) {
      auto n = fn.getArgAttrOfType<StringAttr>(unsigned(i), "ingot.name");
      std::string name = n ? n.getValue().str() : "input" + std::to_string(i);
      if (usedNames.contains(name))
        return fail("graph input '" + name + "' is named twice");
      usedNames.insert(name);
      int32_t id = addTensor(arg, name, pl::TensorKind::Input, -1,
                             fn.getArgAttrOfType<ArrayAttr>(
                                 unsigned(i), "ingot.dim_params"));
      if (id < 0)
        return false;
      graphInputs.push_back(id);
    }

    std::vector<fb::Offset<pl::Step>> steps;
    for (Operation &op : block) {
      bool ok = true;
      if (auto w = dyn_cast<WeightOp>(op))
        ok = addWeight(w);
      else if (auto c = dyn_cast<ConstantOp>(op))
        ok = addConstant(c);
      else if (auto s = dyn_cast<StepOp>(op))
        ok = addStep(s, steps);
      else if (isa<AbsentOp>(op)) {
        if (!op.use_empty())
          return fail("an ingot.absent is used by something other than a "
                      "Node step (run ingot-onnx-lower-graph)");
      } else if (isa<func::ReturnOp>(op)) {
        for (Value v : op.getOperands())
          graphOutputs.push_back(tensorOf.lookup(v));
      } else
        return fail("unexpected op '" + op.getName().getStringRef().str() +
                    "' at " + locString(op.getLoc()) +
                    " (run ingot-onnx-lower-graph first)");
      if (!ok)
        return false;
    }
    report.numSteps = int64_t(steps.size());
    return finish(graphInputs, graphOutputs, steps);
  }

  bool finish(const std::vector<int32_t> &graphInputs,
              const std::vector<int32_t> &graphOutputs,
              std::vector<fb::Offset<pl::Step>> &steps) {
    // The checkpoint, when there are checkpoint weights.
    std::unique_ptr<::ingot::Checkpoint> owned;
    const ::ingot::Checkpoint *ckpt = opts.checkpoint;
    bool needCheckpoint = llvm::any_of(
        entries, [](const WeightEntry &e) { return !e.constant; });
    if (needCheckpoint && !ckpt) {
      if (opts.checkpointDir.empty())
        return fail("the graph uses weights (ingot.weight) but no checkpoint "
                    "was given");
      owned = ::ingot::Checkpoint::open(opts.checkpointDir);
      ckpt = owned.get();
    }
    bool external = needCheckpoint && !opts.embedWeights;
    std::string weightsDir;
    std::vector<fb::Offset<pl::WeightFile>> files;
    if (external) {
      std::string dir = opts.checkpoint ? ckpt->dir() : opts.checkpointDir;
      if (dir.empty())
        return fail("weights from an in-memory checkpoint cannot be external: "
                    "embed them");
      llvm::SmallString<256> abs(dir);
      llvm::sys::fs::make_absolute(abs);
      weightsDir = std::string(abs);
      for (auto &[name, size] : ckpt->files())
        files.push_back(pl::CreateWeightFileDirect(fbb, name.c_str(), size));
    }

    // Layout of the weights section; checks recipes against the checkpoint.
    uint64_t end = 0;
    std::vector<fb::Offset<pl::Weight>> weights;
    for (WeightEntry &e : entries) {
      if (!e.constant) {
        ::ingot::DType dt;
        std::vector<int64_t> shape;
        ::ingot::inferWeightShape(*ckpt, e.spec, dt, shape);
        if (shape != e.shape || dt != e.dtype)
          return fail("weight '" + e.spec.name +
                      "' is declared with another shape or dtype than its "
                      "checkpoint recipe produces");
      }
      report.weightBytes += e.size;
      if (e.embedded && e.size > 0) {
        uint64_t align = e.constant ? kConstantAlignment : ::ingot::kWeightAlignment;
        e.offset = (end + align - 1) / align * align;
        end = e.offset + e.size;
      }
      std::vector<fb::Offset<fb::String>> sources;
      for (const std::string &s : e.spec.sources)
        sources.push_back(fbb.CreateString(s));
      std::vector<fb::Offset<pl::WeightTransform>> transforms;
      for (const auto &t : e.spec.transforms)
        transforms.push_back(pl::CreateWeightTransform(
            fbb, pl::TransformKind(uint8_t(t.kind)), t.axis, t.start, t.size,
            pl::DType(uint8_t(t.dtype))));
      weights.push_back(pl::CreateWeightDirect(
          fbb, e.name.c_str(), e.constant ? nullptr : &sources,
          e.constant ? nullptr : &transforms, pl::DType(uint8_t(e.dtype)),
          &e.shape, e.embedded ? e.offset : 0, e.embedded ? e.size : 0));
    }
    report.numWeights = int64_t(entries.size());

    auto tensorsOff = fbb.CreateVector(tensors);
    auto weightsOff = fbb.CreateVector(weights);
    auto stepsOff = fbb.CreateVector(steps);
    auto inputsOff = fbb.CreateVector(graphInputs);
    auto outputsOff = fbb.CreateVector(graphOutputs);
    auto sourceOff = fbb.CreateString("onnx");
    auto dirOff = weightsDir.empty() ? 0 : fbb.CreateString(weightsDir);
    auto filesOff = files.empty() ? 0 : fbb.CreateVector(files);
    std::vector<flatbuffers::Offset<flatbuffers::String>> targetStrs;
    for (const std::string &t : opts.targets.empty()
                                    ? std::vector<std::string>{opts.target}
                                    : opts.targets)
      targetStrs.push_back(fbb.CreateString(t));
    auto targetsOff = fbb.CreateVector(targetStrs);
    pl::PlanBuilder pb(fbb);
    pb.add_tensors(tensorsOff);
    pb.add_weights(weightsOff);
    pb.add_steps(stepsOff);
    pb.add_token_input(-1);
    pb.add_position_input(-1);
    pb.add_logits_output(-1);
    pb.add_weights_external(external);
    if (!weightsDir.empty())
      pb.add_weights_dir(dirOff);
    if (!files.empty())
      pb.add_weight_files(filesOff);
    pb.add_kind(pl::PlanKind::Graph);
    pb.add_graph_inputs(inputsOff);
    pb.add_graph_outputs(outputsOff);
    pb.add_source(sourceOff);
    pb.add_targets(targetsOff);
    pl::FinishPlanBuffer(fbb, pb.Finish());

    ::ingot::PlanWriteRequest req;
    req.target = opts.target;
    req.producer = opts.producer;
    req.program = fbb.GetBufferPointer();
    req.programSize = fbb.GetSize();
    req.weightsSize = end;
    if (end > 0)
      req.writeWeights =
          [&](const std::function<void(const void *, size_t)> &sink) {
            static const std::vector<uint8_t> zeros(::ingot::kWeightAlignment, 0);
            uint64_t pos = 0;
            for (const WeightEntry &e : entries) {
              if (!e.embedded || e.size == 0)
                continue;
              if (e.offset > pos)
                sink(zeros.data(), size_t(e.offset - pos));
              if (e.constant) {
                sink(e.bytes.data(), e.bytes.size());
              } else {
                ::ingot::HostTensor t = ::ingot::materializeWeight(*ckpt, e.spec);
                if (t.bytes.size() != e.size)
                  throw ::ingot::Error("weight '" + e.name + "' produced " +
                                       std::to_string(t.bytes.size()) +
                                       " bytes, expected " +
                                       std::to_string(e.size));
                sink(t.bytes.data(), t.bytes.size());
              }
              pos = e.offset + e.size;
            }
          };
    ::ingot::writePlanFile(opts.outputPath, req);
    uint64_t size = 0;
    llvm::sys::fs::file_size(opts.outputPath, size);
    report.planBytes = size;
    return true;
  }
};

} // namespace

bool mlir::ingot::plan_detail::emitGraphPlan(ModuleOp module,
                                             const PlanEmitOptions &opts,
                                             PlanMemoryReport &report,
                                             std::string &error) {
  GraphEmitter e(module, opts, report, error);
  return e.run();
}
