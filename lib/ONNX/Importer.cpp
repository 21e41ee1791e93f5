//===- Importer.cpp - ONNX ModelProto -> ingot IR -------------------------===//
//
// Builds the module described in include/ingot/ONNX/Import.h from a parsed
// ModelProto (ModelFile.h reads it and the tensor bytes). One pass over the
// graph's nodes in file order: ONNX requires topological order, and a use
// before its definition is reported naming the node, the input and the
// producer. Initializers are materialized lazily at their first use, so an
// unused one costs nothing; model-local functions are inlined.
//
// Internally errors are ImportError exceptions (this library is compiled
// with exceptions); importOnnx() catches everything and returns false, so
// callers built without exceptions never see one.
//
//===----------------------------------------------------------------------===//
#include "ingot/ONNX/Import.h"

#include "ModelFile.h"
#include "Types.h"

#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/runtime/safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <cctype>
#include <map>
#include <new>
#include <set>

using namespace mlir;
using namespace mlir::ingot;
using namespace ::ingot::onnximport;

namespace {

constexpr int64_t kMaxDefaultOpset = 23;
constexpr int64_t kMinDefaultOpset = 13;
constexpr size_t kMaxInlineDepth = 64;

bool isDefaultDomain(const std::string &d) { return d.empty() || d == "ai.onnx"; }

// Names a node in errors: node 'name' (Op), or node #3 (Op) if unnamed.
std::string nodeLabel(const onnx::NodeProto &n, size_t index,
                      const std::string &prefix) {
  std::string op = isDefaultDomain(n.domain()) ? n.op_type()
                                               : n.domain() + ":" + n.op_type();
  if (!n.name().empty())
    return "node '" + prefix + n.name() + "' (" + op + ")";
  return "node #" + std::to_string(index) + (prefix.empty() ? "" : " of '" + prefix + "'") +
         " (" + op + ")";
}

// Names of values are local to a graph or to one inlined function call.
struct Scope {
  llvm::StringMap<Value> values;
  // Main graph only: initializers not yet materialized.
  llvm::StringMap<const onnx::TensorProto *> initializers;
  // Every output name of this scope's nodes -> its producer's label.
  llvm::StringMap<std::string> producers;
  // Declared types (graph outputs, then value_info).
  llvm::StringMap<const onnx::TypeProto *> types;
  // Inside a function: formal inputs the call left out (read as "").
  llvm::StringSet<> omitted;
  // Inside a function: the call's attributes (and the function's defaults)
  // that `ref_attr_name` refers to.
  const std::map<std::string, const onnx::AttributeProto *> *callAttrs = nullptr;
  std::string prefix;  // node-name prefix ("call/")
  std::string context; // " in function 'f' called by node ..." or ""
};

class Importer {
public:
  Importer(MLIRContext &ctx, const std::string &path, const OnnxImportOptions &opts)
      : ctx(ctx), path(path), opts(opts), builder(&ctx), declBuilder(&ctx) {
    llvm::StringRef dir = llvm::sys::path::parent_path(path);
    modelDir = dir.empty() ? "." : dir.str();
  }

  void run(OnnxImportResult &out, bool text);

private:
  // Module-level pieces.
  void readOpsets();
  void collectFunctions();
  func::FuncOp buildMain();

  // Nodes.
  void importNodes(const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
                   Scope &scope);
  void importNode(const onnx::NodeProto &n, size_t index, Scope &scope);
  void importConstant(const onnx::NodeProto &n, const std::string &label,
                      Scope &scope, Location loc);
  void inlineCall(const onnx::NodeProto &n, const onnx::FunctionProto &f,
                  const std::string &key, const std::string &label,
                  ArrayRef<Value> inputs, Scope &scope);
  Value lookup(const std::string &name, Scope &scope, const std::string &label,
               Location loc);
  void define(const std::string &name, Value v, Scope &scope,
              const std::string &label);
  const onnx::AttributeProto *resolveAttr(const onnx::AttributeProto &a,
                                          const Scope &scope,
                                          const std::string &label);

  // Tensors.
  Value materialize(const TensorBytes &tb, const std::string &valueName,
                    Location loc);
  std::string uniqueSymbol(const std::string &name);
  std::string uniqueSource(const std::string &name);

  MLIRContext &ctx;
  std::string path, modelDir;
  const OnnxImportOptions &opts;
  OpBuilder builder, declBuilder;
  std::shared_ptr<Storage> storage = std::make_shared<Storage>();
  const onnx::ModelProto *model = nullptr;
  OwningOpRef<ModuleOp> module;
  std::vector<std::string> warnings;

  std::map<std::string, int64_t> opsets; // "" = default domain
  std::map<std::string, const onnx::FunctionProto *> functions;
  // Default attribute values of functions (FunctionProto.attribute_proto,
  // newer than the 1.12 schema, read from unknown fields).
  std::map<std::string, std::vector<std::unique_ptr<onnx::AttributeProto>>> funcDefaults;
  std::vector<std::string> inlineStack;
  std::set<std::string> warnedDomains;

  std::vector<::ingot::TensorView> weights;
  llvm::StringSet<> symbols, sources;
};

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

void Importer::readOpsets() {
  for (const onnx::OperatorSetIdProto &o : model->opset_import()) {
    std::string d = isDefaultDomain(o.domain()) ? "" : o.domain();
    auto [it, inserted] = opsets.emplace(d, o.version());
    if (!inserted && it->second != o.version())
      fail("opset_import names domain '" + (d.empty() ? "ai.onnx" : d) +
           "' twice, with versions " + std::to_string(it->second) + " and " +
           std::to_string(o.version()));
  }
  auto it = opsets.find("");
  if (it == opsets.end())
    return; // an error only if a default-domain node appears
  int64_t v = it->second;
  if (v > kMaxDefaultOpset)
    fail("the model uses opset " + std::to_string(v) +
         " of the default domain; Ingot supports opsets up to " +
         std::to_string(kMaxDefaultOpset));
  if (v < 1)
    fail("the model declares opset " + std::to_string(v) +
         " of the default domain, which does not exist");
  if (v < kMinDefaultOpset)
    warnings.push_back(path + ": opset " + std::to_string(v) +
                       " of the default domain is older than " +
                       std::to_string(kMinDefaultOpset) +
                       "; it is imported as is, and ops whose semantics "
                       "changed since may be rejected or differ (re-export "
                       "with opset >= 13 if results look wrong)");
}

static std::string functionKey(const std::string &domain, const std::string &name,
                               const std::string &overload) {
  return domain + ":" + name + (overload.empty() ? "" : ":" + overload);
}

void Importer::collectFunctions() {
  for (const onnx::FunctionProto &f : model->functions()) {
    // FunctionProto.overload is field 13 (IR 10), NodeProto.overload 8.
    std::string key = functionKey(f.domain(), f.name(), unknownStringField(f, 13));
    if (!functions.emplace(key, &f).second)
      fail("model-local function '" + key + "' is defined twice");
    auto &defaults = funcDefaults[key];
    for (const std::string &bytes : unknownMessageFields(f, 11)) {
      auto a = std::make_unique<onnx::AttributeProto>();
      if (!a->ParseFromString(bytes))
        fail("model-local function '" + key + "' has a malformed default attribute");
      defaults.push_back(std::move(a));
    }
  }
}

func::FuncOp Importer::buildMain() {
  const onnx::GraphProto &g = model->graph();
  if (g.sparse_initializer_size() > 0)
    fail("sparse initializer '" + g.sparse_initializer(0).values().name() +
         "' is not supported");

  Scope scope;
  for (const onnx::TensorProto &t : g.initializer()) {
    if (t.name().empty())
      fail("an initializer has no name");
    if (!scope.initializers.try_emplace(t.name(), &t).second)
      fail("initializer '" + t.name() + "' is defined twice");
  }

  // Arguments: graph inputs that are not initializers (IR < 4 lists
  // initializers among the inputs, as defaults that cannot be overridden
  // here).
  SmallVector<Type> argTypes;
  SmallVector<Location> argLocs;
  SmallVector<DictionaryAttr> argAttrs;
  SmallVector<std::string> argNames;
  llvm::StringSet<> inputNames;
  for (const onnx::ValueInfoProto &in : g.input()) {
    if (in.name().empty())
      fail("a graph input has no name");
    if (!inputNames.insert(in.name()).second)
      fail("graph input '" + in.name() + "' is listed twice");
    if (scope.initializers.count(in.name()))
      continue;
    std::string what = "graph input '" + in.name() + "'";
    if (!in.has_type())
      fail(what + " has no type");
    SmallVector<std::string> params;
    argTypes.push_back(convertValueType(ctx, in.type(), what, &params));
    argLocs.push_back(NameLoc::get(StringAttr::get(&ctx, in.name())));
    SmallVector<Attribute> ps;
    for (const std::string &p : params)
      ps.push_back(StringAttr::get(&ctx, p));
    NamedAttribute attrs[] = {
        NamedAttribute(StringAttr::get(&ctx, "ingot.name"), StringAttr::get(&ctx, in.name())),
        NamedAttribute(StringAttr::get(&ctx, "ingot.dim_params"), ArrayAttr::get(&ctx, ps))};
    argAttrs.push_back(DictionaryAttr::get(&ctx, attrs));
    argNames.push_back(in.name());
  }

  for (const onnx::ValueInfoProto &o : g.output())
    if (o.has_type())
      scope.types.try_emplace(o.name(), &o.type());
  for (const onnx::ValueInfoProto &v : g.value_info())
    if (v.has_type())
      scope.types.try_emplace(v.name(), &v.type());

  builder.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(builder, UnknownLoc::get(&ctx), "main",
                                 FunctionType::get(&ctx, argTypes, {}));
  symbols.insert("main");
  Block *entry = fn.addEntryBlock();
  for (auto [i, arg] : llvm::enumerate(entry->getArguments())) {
    arg.setLoc(argLocs[i]);
    fn.setArgAttrs(i, argAttrs[i]);
    scope.values[argNames[i]] = arg;
  }
  builder.setInsertionPointToEnd(entry);
  declBuilder.setInsertionPoint(fn);

  importNodes(g.node(), scope);

  // Results: the graph outputs (an output may be an input or initializer).
  SmallVector<Value> results;
  SmallVector<Attribute> outNames, outParams;
  for (const onnx::ValueInfoProto &o : g.output()) {
    if (o.name().empty())
      fail("a graph output has no name");
    std::string label = "graph output '" + o.name() + "'";
    if (!scope.values.count(o.name()) && !scope.initializers.count(o.name()))
      fail(label + " is not a graph input, an initializer or the output of any node");
    results.push_back(lookup(o.name(), scope, label, NameLoc::get(StringAttr::get(&ctx, o.name()))));
    outNames.push_back(StringAttr::get(&ctx, o.name()));
    SmallVector<std::string> params;
    if (o.has_type())
      (void)convertValueType(ctx, o.type(), label, &params);
    SmallVector<Attribute> ps;
    for (const std::string &p : params)
      ps.push_back(StringAttr::get(&ctx, p));
    outParams.push_back(ArrayAttr::get(&ctx, ps));
  }
  func::ReturnOp::create(builder, UnknownLoc::get(&ctx), results);
  fn.setFunctionType(FunctionType::get(&ctx, argTypes, ValueRange(results).getTypes()));
  fn->setAttr("ingot.output_names", ArrayAttr::get(&ctx, outNames));
  fn->setAttr("ingot.output_dim_params", ArrayAttr::get(&ctx, outParams));
  return fn;
}

void Importer::run(OnnxImportResult &out, bool text) {
  storage->model = loadModel(path, text);
  model = storage->model.get();
  if (!model->has_graph())
    fail("the model has no graph (is this an ONNX model?)");
  readOpsets();
  collectFunctions();

  module = ModuleOp::create(FileLineColLoc::get(&ctx, path, 0, 0));
  Builder b(&ctx);
  SmallVector<NamedAttribute> opsetAttrs;
  // The default domain is keyed "ai.onnx": MLIR's parser rejects an empty
  // attribute name, so "" would not survive a print/parse round trip.
  for (auto &[d, v] : opsets)
    opsetAttrs.push_back(b.getNamedAttr(d.empty() ? "ai.onnx" : d, b.getI64IntegerAttr(v)));
  std::string producer = model->producer_name();
  if (!model->producer_version().empty())
    producer += (producer.empty() ? "" : " ") + model->producer_version();
  module->getOperation()->setAttr("ingot.source", b.getStringAttr("onnx"));
  module->getOperation()->setAttr("ingot.onnx.ir_version",
                                  b.getI64IntegerAttr(model->ir_version()));
  module->getOperation()->setAttr("ingot.onnx.opsets", b.getDictionaryAttr(opsetAttrs));
  module->getOperation()->setAttr("ingot.onnx.producer", b.getStringAttr(producer));

  buildMain();

  std::string diag;
  {
    ScopedDiagnosticHandler keep(&ctx, [&](Diagnostic &d) {
      if (diag.empty())
        diag = d.str();
      return success();
    });
    if (failed(mlir::verify(*module)))
      fail("the imported module does not verify (an importer bug): " + diag);
  }

  out.weights = ::ingot::Checkpoint::fromMemory(std::move(weights), storage);
  out.module = std::move(module);
  out.warnings = std::move(warnings);
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

std::string Importer::uniqueSymbol(const std::string &name) {
  // Readable symbols: [A-Za-z0-9_.] kept, anything else '_'.
  std::string s;
  for (char c : name)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    s = "w_" + s;
  std::string cand = s;
  for (int i = 1; symbols.count(cand); ++i)
    cand = s + "_" + std::to_string(i);
  symbols.insert(cand);
  return cand;
}

std::string Importer::uniqueSource(const std::string &name) {
  std::string cand = name;
  for (int i = 1; sources.count(cand); ++i)
    cand = name + "#" + std::to_string(i);
  sources.insert(cand);
  return cand;
}

Value Importer::materialize(const TensorBytes &tb, const std::string &valueName,
                            Location loc) {
  auto type = RankedTensorType::get(tb.shape, mlirElemType(ctx, tb.dtype));
  bool isFloat = tb.dtype == ::ingot::DType::F32 || tb.dtype == ::ingot::DType::F64 ||
                 tb.dtype == ::ingot::DType::F16 || tb.dtype == ::ingot::DType::BF16;
  if (!isFloat || tb.numel <= opts.inlineLimit)
    return ConstantOp::create(builder, loc, type, denseFromBytes(type, tb));

  std::string sym = uniqueSymbol(valueName);
  std::string source = uniqueSource(valueName);
  WeightDeclOp::create(declBuilder, loc, sym, type,
                       declBuilder.getStrArrayAttr({source}),
                       declBuilder.getStrArrayAttr({}));
  ::ingot::TensorView v;
  v.name = source;
  v.dtype = tb.dtype;
  v.shape = tb.shape;
  v.data = tb.data;
  v.nbytes = tb.nbytes;
  weights.push_back(std::move(v));
  return WeightOp::create(builder, loc, type, FlatSymbolRefAttr::get(&ctx, sym));
}

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

void Importer::importNodes(
    const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes, Scope &scope) {
  for (int i = 0; i < nodes.size(); ++i)
    for (const std::string &o : nodes[i].output())
      if (!o.empty())
        scope.producers.try_emplace(o, nodeLabel(nodes[i], size_t(i), scope.prefix) +
                                           scope.context);
  for (int i = 0; i < nodes.size(); ++i)
    importNode(nodes[i], size_t(i), scope);
}

Value Importer::lookup(const std::string &name, Scope &scope,
                       const std::string &label, Location loc) {
  auto v = scope.values.find(name);
  if (v != scope.values.end())
    return v->second;
  auto init = scope.initializers.find(name);
  if (init != scope.initializers.end()) {
    TensorBytes tb = tensorBytes(*init->second, "initializer '" + name + "'",
                                 modelDir, *storage);
    Value val = materialize(tb, name, NameLoc::get(StringAttr::get(&ctx, name)));
    scope.values[name] = val;
    return val;
  }
  auto prod = scope.producers.find(name);
  if (prod != scope.producers.end())
    fail(label + ": input '" + name + "' is used before it is defined by " +
         prod->second + " (the graph's nodes are not in topological order)");
  fail(label + ": input '" + name + "' is not " +
       (scope.callAttrs ? "a function input" : "a graph input, an initializer") +
       " or the output of any node");
}

void Importer::define(const std::string &name, Value v, Scope &scope,
                      const std::string &label) {
  if (scope.omitted.count(name))
    fail(label + ": output '" + name + "' redefines an input of the function");
  if (scope.initializers.count(name) || !scope.values.try_emplace(name, v).second)
    fail(label + ": output '" + name + "' is already defined (by " +
         (scope.initializers.count(name) ? std::string("an initializer")
          : scope.values[name].getDefiningOp() == nullptr
              ? std::string(scope.callAttrs ? "a function input" : "a graph input")
              : std::string("another node")) +
         "); ONNX values are assigned once");
}

const onnx::AttributeProto *Importer::resolveAttr(const onnx::AttributeProto &a,
                                                  const Scope &scope,
                                                  const std::string &label) {
  if (a.ref_attr_name().empty())
    return &a;
  if (!scope.callAttrs)
    fail(label + ": attribute '" + a.name() + "' refers to '" + a.ref_attr_name() +
         "', which only a function body may do");
  auto it = scope.callAttrs->find(a.ref_attr_name());
  return it == scope.callAttrs->end() ? nullptr : it->second;
}

void Importer::importNode(const onnx::NodeProto &n, size_t index, Scope &scope) {
  std::string label = nodeLabel(n, index, scope.prefix) + scope.context;
  if (n.op_type().empty())
    fail(label + " has no op_type");
  std::string domain = isDefaultDomain(n.domain()) ? "" : n.domain();
  std::string fullName = n.name().empty() ? "" : scope.prefix + n.name();
  // Unnamed nodes are located by their first output's name.
  std::string locName = !fullName.empty()   ? fullName
                        : n.output_size() > 0 ? scope.prefix + n.output(0)
                                              : scope.prefix + n.op_type();
  Location loc = NameLoc::get(StringAttr::get(&ctx, locName));

  // A call of a model-local function is inlined (checked before opsets: a
  // function's domain need not be an operator set).
  auto fit = functions.find(functionKey(n.domain(), n.op_type(),
                                        unknownStringField(n, 8)));
  const onnx::FunctionProto *callee = fit == functions.end() ? nullptr : fit->second;

  if (!callee && !scope.callAttrs) {
    if (domain.empty() && !opsets.count(""))
      fail(label + " is in the default domain, but the model imports no "
                   "opset for it (opset_import)");
    if (!domain.empty() && !opsets.count(domain) && warnedDomains.insert(domain).second)
      warnings.push_back(path + ": " + label + " uses domain '" + domain +
                         "', which the model does not import (opset_import)");
  }

  if (!callee && domain.empty() && n.op_type() == "Constant") {
    importConstant(n, label, scope, loc);
    return;
  }

  SmallVector<Value> inputs;
  for (const std::string &in : n.input()) {
    if (in.empty() || scope.omitted.count(in))
      inputs.push_back(AbsentOp::create(builder, loc, NoneType::get(&ctx)));
    else
      inputs.push_back(lookup(in, scope, label, loc));
  }

  if (callee) {
    inlineCall(n, *callee, fit->first, label, inputs, scope);
    return;
  }

  // Attributes.
  SmallVector<NamedAttribute> attrs;
  llvm::StringSet<> attrNames;
  for (const onnx::AttributeProto &a : n.attribute()) {
    if (a.name().empty())
      fail(label + " has an attribute without a name");
    if (!attrNames.insert(a.name()).second)
      fail(label + " has attribute '" + a.name() + "' twice");
    const onnx::AttributeProto *eff = resolveAttr(a, scope, label);
    if (!eff)
      continue; // a reference the call did not bind: the attribute is absent
    attrs.push_back(NamedAttribute(StringAttr::get(&ctx, a.name()),
                                   convertAttribute(ctx, *eff, a.name(), label, modelDir, *storage)));
  }

  // Result types: declared, else a best guess (see Import.h).
  SmallVector<Type> resultTypes;
  bool guessed = false;
  for (int i = 0; i < n.output_size(); ++i) {
    const std::string &o = n.output(i);
    auto t = o.empty() ? scope.types.end() : scope.types.find(o);
    if (t != scope.types.end()) {
      resultTypes.push_back(convertValueType(ctx, *t->second, "value '" + o + "'", nullptr));
      continue;
    }
    bool certain = false;
    Type et = guessElemType(ctx, n.op_type(), domain, attrs, inputs, unsigned(i),
                            certain, label);
    guessed |= !certain;
    resultTypes.push_back(UnrankedTensorType::get(et));
  }

  auto op = NodeOp::create(
      builder, loc, resultTypes, StringAttr::get(&ctx, n.op_type()),
      domain.empty() ? StringAttr() : StringAttr::get(&ctx, domain),
      fullName.empty() ? StringAttr() : StringAttr::get(&ctx, fullName),
      attrs.empty() ? DictionaryAttr() : DictionaryAttr::get(&ctx, attrs), inputs);
  if (guessed)
    op->setAttr("ingot.onnx.guessed_types", UnitAttr::get(&ctx));
  for (int i = 0; i < n.output_size(); ++i)
    if (!n.output(i).empty())
      define(n.output(i), op->getResult(unsigned(i)), scope, label);
}

void Importer::importConstant(const onnx::NodeProto &n, const std::string &label,
                              Scope &scope, Location loc) {
  if (n.output_size() != 1 || n.output(0).empty())
    fail(label + " must have exactly one named output");
  if (n.input_size() != 0)
    fail(label + " must have no inputs");
  if (n.attribute_size() != 1)
    fail(label + " must have exactly one attribute (value, value_float, "
                 "value_floats, value_int or value_ints), has " +
         std::to_string(n.attribute_size()));
  const onnx::AttributeProto &a0 = n.attribute(0);
  const onnx::AttributeProto *a = resolveAttr(a0, scope, label);
  if (!a)
    fail(label + ": attribute '" + a0.name() + "' refers to '" + a0.ref_attr_name() +
         "', which the function call does not provide");
  const std::string &out = n.output(0);
  std::string what = "attribute '" + a0.name() + "' of " + label;
  TensorBytes tb;
  auto fromBuffer = [&](::ingot::DType dt, std::vector<int64_t> shape, const void *src,
                        size_t count) {
    tb.dtype = dt;
    tb.shape = std::move(shape);
    tb.numel = int64_t(count);
    tb.nbytes = count * ::ingot::dtypeSize(dt);
    storage->buffers.emplace_back(new uint8_t[tb.nbytes ? tb.nbytes : 1]);
    if (tb.nbytes)
      std::memcpy(storage->buffers.back().get(), src, tb.nbytes);
    tb.data = tb.nbytes ? storage->buffers.back().get() : nullptr;
  };
  const std::string &kind = a0.name();
  if (kind == "value") {
    if (!a->has_t())
      fail(what + " holds no tensor");
    tb = tensorBytes(a->t(), what, modelDir, *storage);
  } else if (kind == "value_float") {
    float f = a->f();
    fromBuffer(::ingot::DType::F32, {}, &f, 1);
  } else if (kind == "value_int") {
    int64_t i = a->i();
    fromBuffer(::ingot::DType::I64, {}, &i, 1);
  } else if (kind == "value_floats") {
    fromBuffer(::ingot::DType::F32, {int64_t(a->floats_size())}, a->floats().data(),
               size_t(a->floats_size()));
  } else if (kind == "value_ints") {
    fromBuffer(::ingot::DType::I64, {int64_t(a->ints_size())}, a->ints().data(),
               size_t(a->ints_size()));
  } else if (kind == "sparse_value" || kind == "value_string" || kind == "value_strings") {
    fail(label + ": attribute '" + kind + "' is not supported (sparse and string "
                 "tensors are not)");
  } else {
    fail(label + " has unknown attribute '" + kind + "'");
  }
  Value v = materialize(tb, scope.prefix + out, loc);
  define(out, v, scope, label);
}

void Importer::inlineCall(const onnx::NodeProto &n, const onnx::FunctionProto &f,
                          const std::string &key, const std::string &label,
                          ArrayRef<Value> inputs, Scope &scope) {
  if (llvm::is_contained(inlineStack, key))
    fail(label + ": model-local function '" + key + "' calls itself");
  if (inlineStack.size() >= kMaxInlineDepth)
    fail(label + ": model-local functions nest more than " +
         std::to_string(kMaxInlineDepth) + " calls deep");
  if (size_t(n.input_size()) > size_t(f.input_size()))
    fail(label + " passes " + std::to_string(n.input_size()) + " inputs to function '" +
         key + "', which takes " + std::to_string(f.input_size()));
  if (size_t(n.output_size()) > size_t(f.output_size()))
    fail(label + " expects " + std::to_string(n.output_size()) +
         " outputs from function '" + key + "', which has " +
         std::to_string(f.output_size()));

  Scope inner;
  std::string callName = n.name().empty() ? n.op_type() : n.name();
  inner.prefix = scope.prefix + callName + "/";
  inner.context = " in function '" + key + "' called by " + label;
  for (int i = 0; i < f.input_size(); ++i) {
    if (i < n.input_size() && !n.input(i).empty())
      inner.values[f.input(i)] = inputs[size_t(i)];
    else
      inner.omitted.insert(f.input(i));
  }
  // Bound attributes: the call's (resolved in the caller's scope), then the
  // function's defaults.
  std::map<std::string, const onnx::AttributeProto *> bound;
  for (const onnx::AttributeProto &a : n.attribute())
    if (const onnx::AttributeProto *eff = resolveAttr(a, scope, label))
      bound.emplace(a.name(), eff);
  for (const auto &d : funcDefaults[key])
    bound.emplace(d->name(), d.get());
  inner.callAttrs = &bound;

  inlineStack.push_back(key);
  importNodes(f.node(), inner);
  inlineStack.pop_back();

  for (int i = 0; i < n.output_size(); ++i) {
    const std::string &o = n.output(i);
    if (o.empty())
      continue;
    auto it = inner.values.find(f.output(i));
    if (it == inner.values.end())
      fail(label + ": function '" + key + "' never defines its output '" +
           f.output(i) + "'");
    Value v = it->second;
    // The caller's declared type is better than the guess made inside.
    auto t = scope.types.find(o);
    if (t != scope.types.end() && isa_and_nonnull<NodeOp>(v.getDefiningOp()))
      v.setType(convertValueType(ctx, *t->second, "value '" + o + "'", nullptr));
    define(o, v, scope, label);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

OnnxImportResult::OnnxImportResult() = default;
OnnxImportResult::~OnnxImportResult() = default;
OnnxImportResult::OnnxImportResult(OnnxImportResult &&) = default;
OnnxImportResult &OnnxImportResult::operator=(OnnxImportResult &&) = default;

bool mlir::ingot::isOnnxTextPath(llvm::StringRef path) {
  return path.ends_with(".onnx.txt") || path.ends_with(".textproto") ||
         path.ends_with(".pbtxt");
}

bool mlir::ingot::isOnnxPath(llvm::StringRef path) {
  return path.ends_with(".onnx") || isOnnxTextPath(path);
}

bool mlir::ingot::importOnnx(MLIRContext &ctx, llvm::StringRef path,
                             const OnnxImportOptions &opts, OnnxImportResult &out,
                             std::string &error) {
  out = OnnxImportResult();
  ctx.getOrLoadDialect<IngotDialect>();
  ctx.getOrLoadDialect<func::FuncDialect>();
  try {
    if (opts.inlineLimit < 0)
      fail("the inline limit must be >= 0");
    Importer imp(ctx, path.str(), opts);
    imp.run(out, isOnnxTextPath(path));
    return true;
  } catch (const ImportError &e) {
    error = path.str() + ": " + e.what();
  } catch (const std::bad_alloc &) {
    error = path.str() + ": out of memory while importing the model";
  } catch (const std::exception &e) {
    error = path.str() + ": " + e.what();
  } catch (...) {
    error = path.str() + ": unknown error while importing the model";
  }
  out = OnnxImportResult();
  return false;
}
