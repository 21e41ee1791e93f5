//===- PlanEmitter.cpp - module -> plan file ------------------------------===//
//
// Serialises a lowered module into the runtime's FlatBuffers schema. Every
// SSA value becomes a numbered tensor: function arguments are program
// inputs, `ingot.weight` results are weights (one tensor per declaration),
// step results are activations at the arena offsets chosen by
// `ingot-plan-memory`. Embedded weights are produced by the runtime's own
// `materializeWeight`, so compile-time and load-time binding share one path.
//
// Graph modules (ingot.source = "onnx", func @main) are written by
// GraphEmitter.cpp instead; both share PlanEmitterInternal.h.
//
// This file is built with exceptions (it calls the runtime library) and
// converts every runtime error into the `error` string.
//
//===----------------------------------------------------------------------===//
#include "ingot/Target/Plan/PlanEmitter.h"
#include "PlanEmitterInternal.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "ingot/runtime/error.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"
#include "ingot/schema/plan_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <sstream>

namespace fb = flatbuffers;
namespace pl = ::ingot::plan;
using namespace mlir;

namespace {

std::string readFileOr(const std::string &path, const std::string &fallback) {
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf)
    return fallback;
  return (*buf)->getBuffer().str();
}

bool dtypeOf(Type t, pl::DType &out) {
  Type e = getElementTypeOrSelf(t);
  if (e.isF32())
    out = pl::DType::F32;
  else if (e.isF16())
    out = pl::DType::F16;
  else if (e.isBF16())
    out = pl::DType::BF16;
  else if (e.isInteger(32))
    out = pl::DType::I32;
  else if (e.isInteger(64))
    out = pl::DType::I64;
  else
    return false;
  return true;
}

::ingot::DType runtimeDType(const std::string &s) {
  ::ingot::DType d = ::ingot::DType::F32;
  ::ingot::parseDType(s, d);
  return d;
}

} // namespace

std::string mlir::ingot::plan_detail::locString(Location loc) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto fl = dyn_cast<FileLineColLoc>(loc))
    os << llvm::sys::path::filename(fl.getFilename().getValue()) << ":"
       << fl.getLine() << ":" << fl.getColumn();
  else if (auto nl = dyn_cast<NameLoc>(loc))
    os << nl.getName().getValue();
  else if (auto fused = dyn_cast<FusedLoc>(loc); fused && !fused.getLocations().empty())
    return locString(fused.getLocations().front());
  return s;
}

bool mlir::ingot::plan_detail::weightSpecOf(mlir::ingot::WeightDeclOp decl,
                                            ::ingot::WeightSpec &spec,
                                            std::string &error) {
  spec.name = decl.getSymName().str();
  for (Attribute a : decl.getSources())
    spec.sources.push_back(cast<StringAttr>(a).getValue().str());
  for (Attribute a : decl.getTransforms()) {
    mlir::ingot::WeightTransform t;
    std::string err;
    if (!mlir::ingot::parseWeightTransform(cast<StringAttr>(a).getValue(), t, err)) {
      error = "weight '" + spec.name + "': " + err;
      return false;
    }
    ::ingot::WeightTransformSpec ts;
    switch (t.kind) {
    case mlir::ingot::WeightTransform::Transpose:
      ts.kind = ::ingot::WeightTransformKind::Transpose;
      break;
    case mlir::ingot::WeightTransform::Concat:
      ts.kind = ::ingot::WeightTransformKind::Concat;
      break;
    case mlir::ingot::WeightTransform::Stack:
      ts.kind = ::ingot::WeightTransformKind::Stack;
      break;
    case mlir::ingot::WeightTransform::Slice:
      ts.kind = ::ingot::WeightTransformKind::Slice;
      break;
    case mlir::ingot::WeightTransform::Cast:
      ts.kind = ::ingot::WeightTransformKind::Cast;
      ts.dtype = runtimeDType(t.dtype);
      break;
    }
    ts.axis = int(t.axis);
    ts.start = t.start;
    ts.size = t.size;
    spec.transforms.push_back(ts);
  }
  return true;
}

namespace {
using mlir::ingot::plan_detail::locString;

const std::map<std::string, pl::OpKind> &opKinds() {
  static const std::map<std::string, pl::OpKind> kinds = {
      {"Embedding", pl::OpKind::Embedding},   {"Linear", pl::OpKind::Linear},
      {"RmsNorm", pl::OpKind::RmsNorm},       {"LayerNorm", pl::OpKind::LayerNorm},
      {"AddRmsNorm", pl::OpKind::AddRmsNorm}, {"Rope", pl::OpKind::Rope},
      {"Attention", pl::OpKind::Attention},   {"Elementwise", pl::OpKind::Elementwise},
      {"SiluMul", pl::OpKind::SiluMul},       {"Softmax", pl::OpKind::Softmax},
      {"MoE", pl::OpKind::MoE},               {"Logits", pl::OpKind::Logits},
      {"AddLayerNorm", pl::OpKind::AddLayerNorm},
      {"GatherLast", pl::OpKind::GatherLast}};
  return kinds;
}

// Step kinds whose outputs have as many rows as their first input.
bool rowPreserving(StringRef kind) {
  return kind == "Linear" || kind == "RmsNorm" || kind == "LayerNorm" ||
         kind == "Elementwise" || kind == "SiluMul" || kind == "Softmax" ||
         kind == "AddRmsNorm" || kind == "AddLayerNorm" || kind == "MoE";
}

struct Emitter {
  ModuleOp module;
  const mlir::ingot::PlanEmitOptions &opts;
  mlir::ingot::PlanMemoryReport &report;
  std::string &error;

  Emitter(ModuleOp module, const mlir::ingot::PlanEmitOptions &opts,
          mlir::ingot::PlanMemoryReport &report, std::string &error)
      : module(module), opts(opts), report(report), error(error) {}

  fb::FlatBufferBuilder fbb{1 << 16};
  std::vector<fb::Offset<pl::TensorDesc>> tensors;
  llvm::DenseMap<Value, int32_t> tensorOf;
  llvm::DenseSet<Value> seqRows;
  std::map<std::string, int32_t> weightIndex;   // symbol -> Weight index
  std::map<std::string, int32_t> weightTensor;  // symbol -> tensor id
  std::unique_ptr<::ingot::Checkpoint> withConsts;
  std::vector<RankedTensorType> declTypes;
  // ingot.constant values of @forward (imported models: small initializers
  // such as norm weights): embedded weights named const.<k>, served to the
  // weight writer through an in-memory checkpoint.
  llvm::DenseMap<Operation *, std::string> constName;
  std::vector<std::vector<uint8_t>> constBytes;
  std::vector<std::pair<std::string, RankedTensorType>> constInfo;
  std::vector<::ingot::WeightSpec> specs;
  std::vector<uint64_t> weightOffsets, weightSizes;
  int64_t maxTokens = 0;
  // The plan's compute dtype (PlanEmitOptions::computeDtype) and its bytes.
  pl::DType computeDt = pl::DType::F32;
  uint64_t computeBytes = 4;
  // Non-f32 plans: activations that keep their own dtype (the logits, any
  // integer activation) move behind the scaled arena, from `tailOffset`.
  Value logitsValue;
  uint64_t tailOffset = 0;

  static uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
  static bool isFloat(pl::DType d) {
    return d == pl::DType::F32 || d == pl::DType::F16 || d == pl::DType::BF16;
  }
  static uint64_t bytesOf(pl::DType d) {
    return (d == pl::DType::F32 || d == pl::DType::I32) ? 4 : d == pl::DType::I64 ? 8 : 2;
  }

  // Non-f32 plans: weights end in a Cast to the compute dtype (replacing a
  // final Cast of the recipe), so embedded and external weights agree.
  void castToCompute(::ingot::WeightSpec &spec) {
    if (computeDt == pl::DType::F32)
      return;
    ::ingot::DType to = ::ingot::DType(uint8_t(computeDt));
    if (!spec.transforms.empty() &&
        spec.transforms.back().kind == ::ingot::WeightTransformKind::Cast) {
      spec.transforms.back().dtype = to;
      return;
    }
    ::ingot::WeightTransformSpec t;
    t.kind = ::ingot::WeightTransformKind::Cast;
    t.dtype = to;
    spec.transforms.push_back(t);
  }
  // The dtype a weight of declared dtype `d` has in the plan.
  pl::DType weightDtype(pl::DType d) const {
    return isFloat(d) && computeDt != pl::DType::F32 ? computeDt : d;
  }

  bool fail(const std::string &msg) {
    error = msg;
    return false;
  }

  std::vector<int64_t> shapeOf(Value v, bool seq) {
    std::vector<int64_t> shape;
    auto t = cast<RankedTensorType>(v.getType());
    for (auto [i, d] : llvm::enumerate(t.getShape()))
      shape.push_back(ShapedType::isDynamic(d)
                          ? (seq && i == 0 ? ::ingot::kDimSeqs : ::ingot::kDimTokens)
                          : d);
    return shape;
  }

  int32_t addTensor(Value v, const std::string &name, pl::TensorKind kind,
                    uint64_t offset, int32_t weight) {
    auto rt = dyn_cast<RankedTensorType>(v.getType());
    pl::DType dt;
    if (!rt || !dtypeOf(rt, dt)) {
      fail("value '" + name + "' has unsupported type (expected a ranked "
           "tensor of f32/f16/bf16/i32/i64); run the full pipeline first");
      return -1;
    }
    bool seq = seqRows.contains(v);
    std::vector<int64_t> shape = shapeOf(v, seq);
    if (kind == pl::TensorKind::Weight)
      dt = weightDtype(dt);
    bool tail = false;
    if (kind == pl::TensorKind::Activation && computeDt != pl::DType::F32) {
      // The planner sized float activations in f32 bytes: scaling every
      // offset by the same factor keeps live buffers disjoint. Tensors that
      // keep their bytes (logits, integers) go behind the scaled arena.
      if (isFloat(dt) && v != logitsValue) {
        dt = computeDt;
        offset = offset * computeBytes / 4;
      } else {
        tail = true;
      }
    }
    uint64_t bytes = bytesOf(dt);
    for (int64_t d : shape)
      bytes *= uint64_t(d < 0 ? maxTokens : d);
    if (tail) {
      offset = tailOffset;
      tailOffset = alignUp(tailOffset + bytes, 64);
    }
    int32_t id = int32_t(tensors.size());
    tensors.push_back(pl::CreateTensorDescDirect(
        fbb, id, name.c_str(), kind, dt, &shape, offset,
        kind == pl::TensorKind::Activation ? bytes : 0, weight));
    tensorOf[v] = id;
    return id;
  }

  bool collectWeights() {
    uint64_t offset = 0;
    for (auto decl : module.getOps<mlir::ingot::WeightDeclOp>()) {
      ::ingot::WeightSpec spec;
      if (!mlir::ingot::plan_detail::weightSpecOf(decl, spec, error))
        return false;
      auto type = cast<RankedTensorType>(decl.getType());
      pl::DType dt;
      if (!dtypeOf(type, dt))
        return fail("weight '" + spec.name + "' has an unsupported element type");
      if (isFloat(dt))
        castToCompute(spec);
      dt = weightDtype(dt);
      uint64_t bytes = bytesOf(dt);
      for (int64_t d : type.getShape())
        bytes *= uint64_t(d);
      weightIndex[spec.name] = int32_t(specs.size());
      specs.push_back(spec);
      declTypes.push_back(type);
      offset = (offset + ::ingot::kWeightAlignment - 1) /
               ::ingot::kWeightAlignment * ::ingot::kWeightAlignment;
      weightOffsets.push_back(offset);
      weightSizes.push_back(bytes);
      offset += bytes;
      report.weightBytes += bytes;
    }
    if (func::FuncOp fn = module.lookupSymbol<func::FuncOp>("forward")) {
      for (Operation &op : fn.getBody().front()) {
        auto c = dyn_cast<mlir::ingot::ConstantOp>(op);
        if (!c)
          continue;
        auto type = dyn_cast<RankedTensorType>(c.getType());
        auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
        pl::DType dt;
        if (!type || !dense || !dtypeOf(type, dt) ||
            (dt != pl::DType::F32 && dt != pl::DType::F16 && dt != pl::DType::BF16))
          return fail("constant at " + locString(op.getLoc()) +
                      " is not a dense floating-point tensor");
        std::string name = "const." + std::to_string(constBytes.size());
        std::vector<uint8_t> bytes;
        ArrayRef<char> raw = dense.getRawData();
        uint64_t size = bytesOf(dt) * uint64_t(type.getNumElements());
        if (dense.isSplat()) {
          for (int64_t i = 0; i < type.getNumElements(); ++i)
            bytes.insert(bytes.end(), raw.begin(), raw.end());
        } else {
          bytes.assign(raw.begin(), raw.end());
        }
        if (bytes.size() != size)
          return fail("constant at " + locString(op.getLoc()) + " has unexpected storage");
        constName[&op] = name;
        constBytes.push_back(std::move(bytes));
        constInfo.push_back({name, type});
        ::ingot::WeightSpec spec;
        spec.name = name;
        spec.sources = {name};
        castToCompute(spec);
        weightIndex[name] = int32_t(specs.size());
        specs.push_back(spec);
        declTypes.push_back(type);
        size = bytesOf(weightDtype(dt)) * uint64_t(type.getNumElements());
        offset = (offset + ::ingot::kWeightAlignment - 1) /
                 ::ingot::kWeightAlignment * ::ingot::kWeightAlignment;
        weightOffsets.push_back(offset);
        weightSizes.push_back(size);
        offset += size;
        report.weightBytes += size;
      }
    }
    report.numWeights = int64_t(specs.size());
    return true;
  }

  fb::Offset<pl::Attr> attrOf(StringRef name, Attribute a, bool &ok) {
    std::string n = name.str();
    if (auto i = dyn_cast<IntegerAttr>(a))
      return pl::CreateAttrDirect(fbb, n.c_str(), i.getInt());
    if (auto b = dyn_cast<BoolAttr>(a))
      return pl::CreateAttrDirect(fbb, n.c_str(), b.getValue() ? 1 : 0);
    if (auto f = dyn_cast<FloatAttr>(a))
      return pl::CreateAttrDirect(fbb, n.c_str(), 0, f.getValueAsDouble());
    if (auto s = dyn_cast<StringAttr>(a)) {
      std::string v = s.getValue().str();
      return pl::CreateAttrDirect(fbb, n.c_str(), 0, 0.0, v.c_str());
    }
    if (auto arr = dyn_cast<DenseI64ArrayAttr>(a)) {
      std::vector<int64_t> v(arr.asArrayRef().begin(), arr.asArrayRef().end());
      return pl::CreateAttrDirect(fbb, n.c_str(), 0, 0.0, nullptr, &v);
    }
    if (auto arr = dyn_cast<DenseF32ArrayAttr>(a)) {
      std::vector<double> v(arr.asArrayRef().begin(), arr.asArrayRef().end());
      return pl::CreateAttrDirect(fbb, n.c_str(), 0, 0.0, nullptr, nullptr, &v);
    }
    ok = false;
    return {};
  }

  bool run() {
    func::FuncOp fn = module.lookupSymbol<func::FuncOp>("forward");
    if (!fn || fn.isExternal())
      return fail("the module has no func.func @forward to emit");
    if (fn.getNumArguments() < 2)
      return fail("@forward must take (tokens, positions, batch)");
    auto arenaAttr = fn->getAttrOfType<IntegerAttr>("ingot.arena_bytes");
    auto maxTokAttr = fn->getAttrOfType<IntegerAttr>("ingot.max_tokens");
    auto maxSeqAttr = fn->getAttrOfType<IntegerAttr>("ingot.max_seqs");
    if (!arenaAttr || !maxTokAttr || !maxSeqAttr)
      return fail("@forward has no memory plan (run ingot-plan-memory)");
    maxTokens = maxTokAttr.getInt();
    report.arenaBytes = uint64_t(arenaAttr.getInt());
    if (opts.computeDtype == "bf16")
      computeDt = pl::DType::BF16;
    else if (opts.computeDtype == "f16")
      computeDt = pl::DType::F16;
    else if (opts.computeDtype != "f32")
      return fail("unknown compute dtype '" + opts.computeDtype +
                  "' (expected f32, bf16 or f16)");
    computeBytes = bytesOf(computeDt);
    tailOffset = alignUp(report.arenaBytes * computeBytes / 4, 64);
    for (Operation &op : fn.getBody().front())
      if (auto ret = dyn_cast<func::ReturnOp>(op); ret && ret.getNumOperands() == 1)
        logitsValue = ret.getOperand(0);
    report.maxTokens = maxTokens;
    report.maxSeqs = maxSeqAttr.getInt();

    if (!collectWeights())
      return false;

    int32_t tokenInput =
        addTensor(fn.getArgument(0), "tokens", pl::TensorKind::Input, 0, -1);
    int32_t positionInput =
        addTensor(fn.getArgument(1), "positions", pl::TensorKind::Input, 0, -1);
    if (tokenInput < 0 || positionInput < 0)
      return false;

    std::vector<fb::Offset<pl::Step>> steps;
    std::map<int, std::pair<int, int>> kvLayers; // layer -> (kv heads, head dim)
    int32_t logitsOutput = -1;
    for (Operation &op : fn.getBody().front()) {
      if (isa<mlir::ingot::WeightOp, mlir::ingot::ConstantOp>(op)) {
        auto w = dyn_cast<mlir::ingot::WeightOp>(op);
        std::string sym = w ? w.getName().str() : constName.lookup(&op);
        auto it = weightIndex.find(sym);
        if (it == weightIndex.end())
          return fail("ingot.weight refers to undeclared weight '" + sym + "'");
        auto tIt = weightTensor.find(sym);
        if (tIt != weightTensor.end()) {
          tensorOf[op.getResult(0)] = tIt->second;
          continue;
        }
        int32_t id = addTensor(op.getResult(0), sym, pl::TensorKind::Weight, 0,
                               it->second);
        if (id < 0)
          return false;
        weightTensor[sym] = id;
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        if (ret.getNumOperands() != 1 || !tensorOf.count(ret.getOperand(0)))
          return fail("@forward must return exactly the logits of a step");
        logitsOutput = tensorOf[ret.getOperand(0)];
        continue;
      }
      auto step = dyn_cast<mlir::ingot::StepOp>(op);
      if (!step)
        return fail("unexpected op '" + op.getName().getStringRef().str() +
                    "' at " + locString(op.getLoc()) +
                    " (run ingot-lower-to-plan first)");
      std::string kind = step.getKind().str();
      auto kIt = opKinds().find(kind);
      if (kIt == opKinds().end())
        return fail("unknown step kind '" + kind + "'");
      std::string where = kind + " at " + locString(op.getLoc());

      std::vector<int32_t> inputs, outputs;
      for (Value in : step.getInputs()) {
        auto it = tensorOf.find(in);
        if (it == tensorOf.end())
          return fail("step " + where + " reads a value that is not a tensor "
                                        "of the program");
        inputs.push_back(it->second);
      }
      bool seq = kind == "GatherLast" || kind == "Logits" ||
                 (rowPreserving(kind) && !step.getInputs().empty() &&
                  seqRows.contains(step.getInputs()[0]));
      auto offsets = op.getAttrOfType<DenseI64ArrayAttr>("ingot.arena_offsets");
      if (!offsets || offsets.size() != int64_t(op.getNumResults()))
        return fail("step " + where + " has no arena offsets (run "
                                      "ingot-plan-memory)");
      for (auto [i, r] : llvm::enumerate(op.getResults())) {
        if (seq)
          seqRows.insert(r);
        int32_t id = addTensor(r, kind + "." + std::to_string(tensors.size()),
                               pl::TensorKind::Activation,
                               uint64_t(offsets[i]), -1);
        if (id < 0)
          return false;
        outputs.push_back(id);
      }

      std::vector<fb::Offset<pl::Attr>> attrs;
      std::vector<pl::EwInstr> program;
      std::vector<uint8_t> programOutputs;
      int32_t numRegisters = 0;
      for (NamedAttribute na : op.getAttrs()) {
        StringRef n = na.getName().getValue();
        if (n == "kind" || n == "ingot.arena_offsets" ||
            n == "operandSegmentSizes")
          continue;
        if (n == "program" || n == "imms" || n == "program_outputs")
          continue;
        if (n == "num_registers") {
          numRegisters = int32_t(cast<IntegerAttr>(na.getValue()).getInt());
          continue;
        }
        bool ok = true;
        auto a = attrOf(n, na.getValue(), ok);
        if (!ok)
          return fail("step " + where + ": attribute '" + n.str() +
                      "' has a type the plan cannot hold");
        attrs.push_back(a);
      }
      if (kind == "Elementwise") {
        auto prog = op.getAttrOfType<DenseI64ArrayAttr>("program");
        auto imms = op.getAttrOfType<DenseF32ArrayAttr>("imms");
        auto outs = op.getAttrOfType<DenseI64ArrayAttr>("program_outputs");
        if (!prog || !imms || !outs || prog.size() % 4 ||
            imms.size() * 4 != prog.size())
          return fail("Elementwise step " + where +
                      " has a malformed program");
        for (int64_t i = 0; i < prog.size(); i += 4)
          program.emplace_back(pl::EwOp(prog[i]), uint8_t(prog[i + 1]),
                               uint8_t(prog[i + 2]), uint8_t(prog[i + 3]),
                               imms[i / 4]);
        for (int64_t o : outs.asArrayRef())
          programOutputs.push_back(uint8_t(o));
      }
      if (kind == "Attention") {
        auto geti = [&](const char *n) {
          auto a = op.getAttrOfType<IntegerAttr>(n);
          return a ? int(a.getInt()) : -1;
        };
        int layer = geti("layer");
        if (layer < 0 || geti("num_kv_heads") <= 0 || geti("head_dim") <= 0)
          return fail("Attention step " + where + " lacks layer/heads attrs");
        auto prev = kvLayers.find(layer);
        std::pair<int, int> shape{geti("num_kv_heads"), geti("head_dim")};
        if (prev != kvLayers.end() && prev->second != shape)
          return fail("two attention steps use KV layer " +
                      std::to_string(layer) + " with different shapes");
        kvLayers[layer] = shape;
      }
      std::string name = locString(op.getLoc());
      std::vector<fb::Offset<fb::String>> cudaFunctions;
      if (opts.stepFunctions) {
        auto fit = opts.stepFunctions->find(&op);
        if (fit == opts.stepFunctions->end())
          return fail("step " + where + " has no CUDA kernels selected");
        for (const std::string &f : fit->second)
          cudaFunctions.push_back(fbb.CreateString(f));
      }
      steps.push_back(pl::CreateStepDirect(
          fbb, kIt->second, name.c_str(), &inputs, &outputs, &attrs,
          kind == "Elementwise" ? &program : nullptr, numRegisters,
          kind == "Elementwise" ? &programOutputs : nullptr, -1, nullptr, nullptr,
          opts.stepFunctions ? &cudaFunctions : nullptr));
    }
    if (logitsOutput < 0)
      return fail("@forward returns nothing");
    report.numSteps = int64_t(steps.size());

    // KV cache: layers must be numbered 0..L-1.
    std::vector<fb::Offset<pl::KvLayer>> kv;
    uint64_t kvBytes = 0;
    for (int l = 0; l < int(kvLayers.size()); ++l) {
      auto it = kvLayers.find(l);
      if (it == kvLayers.end())
        return fail("attention layers are not numbered 0.." +
                    std::to_string(kvLayers.size() - 1));
      kv.push_back(pl::CreateKvLayer(fbb, it->second.first, it->second.second));
      kvBytes += 2ull * it->second.first * it->second.second * computeBytes;
    }
    report.kvBytesPerToken = kvBytes;

    // Weights table (and, for external plans, the checkpoint files).
    std::unique_ptr<::ingot::Checkpoint> owned;
    const ::ingot::Checkpoint *ckpt = opts.checkpoint;
    if (!specs.empty() && !ckpt) {
      if (opts.checkpointDir.empty())
        return fail("the module declares weights but no checkpoint directory "
                    "was given");
      owned = ::ingot::Checkpoint::open(opts.checkpointDir);
      ckpt = owned.get();
    }
    if (!constBytes.empty()) {
      if (!opts.embedWeights)
        return fail("the module has constants, which only an embedded-weights "
                    "plan can hold");
      // The checkpoint's tensors plus the constants, in one lookup.
      std::vector<::ingot::TensorView> views;
      if (ckpt)
        for (const std::string &n : ckpt->tensorNames())
          views.push_back(ckpt->get(n));
      for (size_t k = 0; k < constBytes.size(); ++k) {
        ::ingot::TensorView v;
        v.name = constInfo[k].first;
        pl::DType dt;
        dtypeOf(constInfo[k].second, dt);
        v.dtype = ::ingot::DType(uint8_t(dt));
        v.shape.assign(constInfo[k].second.getShape().begin(),
                       constInfo[k].second.getShape().end());
        v.data = constBytes[k].data();
        v.nbytes = constBytes[k].size();
        views.push_back(v);
      }
      withConsts = ::ingot::Checkpoint::fromMemory(std::move(views), nullptr);
      ckpt = withConsts.get();
    }
    std::vector<fb::Offset<pl::Weight>> weights;
    for (size_t i = 0; i < specs.size(); ++i) {
      const auto &spec = specs[i];
      // Check the recipe against the checkpoint now, not at load time.
      ::ingot::DType dt;
      std::vector<int64_t> shape;
      ::ingot::inferWeightShape(*ckpt, spec, dt, shape);
      auto type = declTypes[i];
      pl::DType declDt;
      dtypeOf(type, declDt);
      declDt = weightDtype(declDt);
      std::vector<int64_t> declShape(type.getShape().begin(), type.getShape().end());
      if (shape != declShape || uint8_t(dt) != uint8_t(declDt))
        return fail("weight '" + spec.name + "' is declared as " +
                    llvm::formatv("{0}", type).str() +
                    " but its checkpoint recipe produces another shape or "
                    "dtype");
      std::vector<fb::Offset<fb::String>> sources;
      for (const auto &s : spec.sources)
        sources.push_back(fbb.CreateString(s));
      std::vector<fb::Offset<pl::WeightTransform>> transforms;
      for (const auto &t : spec.transforms)
        transforms.push_back(pl::CreateWeightTransform(
            fbb, pl::TransformKind(uint8_t(t.kind)), t.axis, t.start, t.size,
            pl::DType(uint8_t(t.dtype))));
      weights.push_back(pl::CreateWeightDirect(
          fbb, spec.name.c_str(), &sources, &transforms, declDt, &declShape,
          opts.embedWeights ? weightOffsets[i] : 0,
          opts.embedWeights ? weightSizes[i] : 0));
    }
    std::vector<fb::Offset<pl::WeightFile>> files;
    std::string weightsDir;
    if (!opts.embedWeights && ckpt) {
      std::string dir = opts.checkpoint ? ckpt->dir() : opts.checkpointDir;
      if (dir.empty())
        return fail("weights from an in-memory checkpoint cannot be "
                    "external: embed them");
      llvm::SmallString<256> abs(dir);
      llvm::sys::fs::make_absolute(abs);
      weightsDir = std::string(abs);
      for (auto &[name, size] : ckpt->files())
        files.push_back(pl::CreateWeightFileDirect(fbb, name.c_str(), size));
    }

    // Model config and tokenizer.
    auto model = module->getAttrOfType<DictionaryAttr>("ingot.model");
    if (!model)
      return fail("the module has no ingot.model attribute (model config)");
    auto gets = [&](const char *n) {
      auto a = model.getAs<StringAttr>(n);
      return a ? a.getValue().str() : std::string();
    };
    auto geti = [&](const char *n, int64_t def) {
      auto a = model.getAs<IntegerAttr>(n);
      return a ? a.getInt() : def;
    };
    std::vector<int32_t> eos;
    if (auto arr = model.getAs<DenseI64ArrayAttr>("eos_token_ids"))
      for (int64_t id : arr.asArrayRef())
        eos.push_back(int32_t(id));
    else if (auto arr = model.getAs<ArrayAttr>("eos_token_ids"))
      for (Attribute a : arr)
        if (auto i = dyn_cast<IntegerAttr>(a))
          eos.push_back(int32_t(i.getInt()));
    std::string configJson =
        readFileOr(opts.checkpointDir + "/config.json", "{}");
    std::string modelType = gets("model_type"), arch = gets("architecture");
    auto modelCfg = pl::CreateModelConfigDirect(
        fbb, modelType.c_str(), arch.c_str(), geti("vocab_size", 0),
        geti("hidden_size", 0), int32_t(geti("num_layers", 0)),
        geti("max_position", 0), int32_t(geti("bos_token_id", -1)), &eos,
        int32_t(geti("pad_token_id", -1)), computeDt, configJson.c_str());
    std::string tokJson = readFileOr(opts.checkpointDir + "/tokenizer.json", "");
    std::string tokCfg =
        readFileOr(opts.checkpointDir + "/tokenizer_config.json", "");
    if (tokJson.empty())
      return fail("no tokenizer.json in '" + opts.checkpointDir +
                  "': a plan carries its tokenizer");
    auto tokenizer =
        pl::CreateTokenizerDirect(fbb, tokJson.c_str(), tokCfg.c_str());
    // Non-f32: the scaled arena plus the tensors placed behind it.
    if (computeDt != pl::DType::F32)
      report.arenaBytes = tailOffset;
    auto memory = pl::CreateMemoryPlan(fbb, report.arenaBytes, report.maxTokens,
                                       report.maxSeqs);
    auto kvDesc = pl::CreateKvCacheDescDirect(fbb, int32_t(opts.blockSize),
                                              computeDt, &kv, kvBytes);
    std::vector<fb::Offset<pl::Kernel>> kernels;
    for (const mlir::ingot::PlanKernelImage &k : opts.kernels)
      kernels.push_back(pl::CreateKernelDirect(fbb, k.name.c_str(), k.arch.c_str(),
                                               k.format.c_str(), &k.data));
    std::vector<fb::Offset<fb::String>> targets;
    for (const std::string &t : opts.targets.empty()
                                    ? std::vector<std::string>{opts.target}
                                    : opts.targets)
      targets.push_back(fbb.CreateString(t));
    auto planOff = pl::CreatePlanDirect(
        fbb, modelCfg, tokenizer, &tensors, &weights, &steps, tokenInput,
        positionInput, logitsOutput, memory, kvDesc,
        kernels.empty() ? nullptr : &kernels,
        !opts.embedWeights, weightsDir.empty() ? nullptr : weightsDir.c_str(),
        files.empty() ? nullptr : &files, pl::PlanKind::Decoder, nullptr, nullptr,
        nullptr, &targets);
    pl::FinishPlanBuffer(fbb, planOff);

    ::ingot::PlanWriteRequest req;
    req.target = opts.target;
    req.producer = opts.producer;
    req.program = fbb.GetBufferPointer();
    req.programSize = fbb.GetSize();
    if (opts.embedWeights && !specs.empty()) {
      uint64_t total = weightOffsets.back() + weightSizes.back();
      req.weightsSize = total;
      req.writeWeights =
          [&](const std::function<void(const void *, size_t)> &sink) {
            static const std::vector<uint8_t> zeros(::ingot::kWeightAlignment, 0);
            uint64_t pos = 0;
            for (size_t i = 0; i < specs.size(); ++i) {
              if (weightOffsets[i] > pos)
                sink(zeros.data(), size_t(weightOffsets[i] - pos));
              ::ingot::HostTensor t = ::ingot::materializeWeight(*ckpt, specs[i]);
              if (t.bytes.size() != weightSizes[i])
                throw ::ingot::Error("weight '" + specs[i].name + "' produced " +
                                     std::to_string(t.bytes.size()) +
                                     " bytes, expected " +
                                     std::to_string(weightSizes[i]));
              sink(t.bytes.data(), t.bytes.size());
              pos = weightOffsets[i] + weightSizes[i];
            }
          };
    }
    ::ingot::writePlanFile(opts.outputPath, req);
    uint64_t size = 0;
    llvm::sys::fs::file_size(opts.outputPath, size);
    report.planBytes = size;
    return true;
  }
};

std::string humanBytes(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30))
    snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
  else if (b >= (1ull << 20))
    snprintf(buf, sizeof buf, "%.2f MiB", double(b) / double(1ull << 20));
  else if (b >= 1024)
    snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  else
    snprintf(buf, sizeof buf, "%llu B", (unsigned long long)b);
  return buf;
}

} // namespace

bool mlir::ingot::emitPlan(ModuleOp module, const PlanEmitOptions &opts,
                           PlanMemoryReport &report, std::string &error) {
  try {
    if (mlir::ingot::plan_detail::isGraphModule(module)) {
      if (opts.computeDtype != "f32") {
        error = "graph plans compute in f32 (--dtype " + opts.computeDtype +
                " applies to decoder plans)";
        return false;
      }
      return mlir::ingot::plan_detail::emitGraphPlan(module, opts, report, error);
    }
    Emitter e(module, opts, report, error);
    return e.run();
  } catch (const ::ingot::Error &err) {
    error = err.what();
  } catch (const std::exception &err) {
    error = std::string("internal error: ") + err.what();
  }
  return false;
}

std::string mlir::ingot::formatMemoryReport(const PlanMemoryReport &r,
                                            uint64_t memoryBytes) {
  std::ostringstream os;
  os << "memory report\n"
     << "  weights:            " << humanBytes(r.weightBytes) << " ("
     << r.numWeights << " tensors)\n"
     << "  activation arena:   " << humanBytes(r.arenaBytes)
     << " (worst case " << r.maxTokens << " tokens, " << r.maxSeqs
     << " sequences per step)\n"
     << "  KV cache per token: " << humanBytes(r.kvBytesPerToken) << "\n"
     << "  plan steps:         " << r.numSteps << "\n";
  if (r.planBytes)
    os << "  plan file:          " << humanBytes(r.planBytes) << "\n";
  if (memoryBytes) {
    uint64_t fixed = r.weightBytes + r.arenaBytes;
    os << "  in " << humanBytes(memoryBytes) << ": ";
    if (fixed >= memoryBytes || r.kvBytesPerToken == 0)
      os << "no room for KV cache (weights + arena need " << humanBytes(fixed)
         << ")\n";
    else
      os << (memoryBytes - fixed) / r.kvBytesPerToken
         << " tokens of KV cache fit after weights and arena\n";
  }
  return os.str();
}
