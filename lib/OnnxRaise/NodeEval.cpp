//===- NodeEval.cpp - evaluate ingot.node values on the runtime kernels ---===//
//
// Walks the defining ops of the requested value (memoised), materialises
// ingot.constant / ingot.weight / bound arguments as host tensors, and runs
// each ingot.node through ingot::nd::findKernel. Compiled with exceptions:
// kernels report bad input by throwing ingot::Error, which becomes `error`.
//
//===----------------------------------------------------------------------===//
#include "ingot/OnnxRaise/NodeEval.h"
#include "ingot/NdEval/NdEval.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstring>

using namespace mlir;
using namespace mlir::ingot;

int64_t EvalTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<double> EvalTensor::asDoubles() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  auto dt = ::ingot::DType(dtype);
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t *p = bytes.data() + i * ::ingot::dtypeSize(dt);
    auto rd = [&](auto x) {
      std::memcpy(&x, p, sizeof(x));
      return double(x);
    };
    switch (dt) {
    case ::ingot::DType::F32: out[i] = rd(float()); break;
    case ::ingot::DType::F64: out[i] = rd(double()); break;
    case ::ingot::DType::I64: out[i] = rd(int64_t()); break;
    case ::ingot::DType::I32: out[i] = rd(int32_t()); break;
    case ::ingot::DType::I16: out[i] = rd(int16_t()); break;
    case ::ingot::DType::I8: out[i] = rd(int8_t()); break;
    case ::ingot::DType::U8: case ::ingot::DType::Bool: out[i] = rd(uint8_t()); break;
    case ::ingot::DType::U16: out[i] = rd(uint16_t()); break;
    case ::ingot::DType::U32: out[i] = rd(uint32_t()); break;
    case ::ingot::DType::U64: out[i] = rd(uint64_t()); break;
    case ::ingot::DType::F16: { uint16_t h; std::memcpy(&h, p, 2); out[i] = ::ingot::f16ToFloat(h); break; }
    case ::ingot::DType::BF16: { uint16_t h; std::memcpy(&h, p, 2); out[i] = ::ingot::bf16ToFloat(h); break; }
    }
  }
  return out;
}

namespace {

// Dense constant -> host tensor in the runtime's layout (NdEval's helpers).
bool fromAttr(ElementsAttr attr, EvalTensor &out, std::string &error) {
  auto type = cast<ShapedType>(attr.getType());
  ::ingot::DType dt;
  if (!toRuntimeDType(type.getElementType(), dt)) {
    error = "constant of unsupported element type";
    return false;
  }
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense) {
    error = "constant is not a dense elements attribute";
    return false;
  }
  out.dtype = uint8_t(dt);
  out.shape.assign(type.getShape().begin(), type.getShape().end());
  return denseBytes(dense, out.bytes, error);
}

struct Ctx : ::ingot::nd::KernelContext {
  std::string op, dom;
  std::vector<::ingot::nd::Tensor> ins;
  std::vector<bool> present;
  std::vector<EvalTensor> *outs = nullptr;
  std::vector<::ingot::nd::Tensor> outViews;
  ::ingot::nd::Attrs at;
  const std::string &opType() const override { return op; }
  const std::string &domain() const override { return dom; }
  int numInputs() const override { return int(ins.size()); }
  const ::ingot::nd::Tensor *input(int i) const override {
    return i >= 0 && i < int(ins.size()) && present[size_t(i)] ? &ins[size_t(i)] : nullptr;
  }
  int numOutputs() const override { return int(outViews.size()); }
  ::ingot::nd::Tensor &output(int i, ::ingot::DType dt,
                              const std::vector<int64_t> &shape) override {
    INGOT_CHECK(i >= 0 && i < int(outViews.size()), op + ": bad output index");
    EvalTensor &e = (*outs)[size_t(i)];
    e.dtype = uint8_t(dt);
    e.shape = shape;
    e.bytes.assign(std::max<size_t>(size_t(e.numel()) * ::ingot::dtypeSize(dt), 1), 0);
    auto &v = outViews[size_t(i)];
    v.dtype = dt;
    v.shape = shape;
    v.data = e.bytes.data();
    return v;
  }
  const ::ingot::nd::Attrs &attrs() const override { return at; }
};

struct Evaluator {
  EvalContext &ctx;
  llvm::DenseMap<Value, EvalTensor> memo;
  int64_t ops = 0;

  bool eval(Value v, EvalTensor *&out, std::string &error) {
    if (auto it = ctx.bindings.find(v); it != ctx.bindings.end()) {
      out = &it->second;
      return true;
    }
    if (auto it = memo.find(v); it != memo.end()) {
      out = &it->second;
      return true;
    }
    if (ctx.resolve) {
      EvalTensor t;
      if (ctx.resolve(v, t)) {
        out = &(memo[v] = std::move(t));
        return true;
      }
    }
    Operation *def = v.getDefiningOp();
    if (!def) {
      error = "a function argument without a binding";
      return false;
    }
    if (++ops > ctx.maxOps) {
      error = "the subgraph is too large to evaluate";
      return false;
    }
    if (auto c = dyn_cast<ConstantOp>(def)) {
      EvalTensor t;
      if (!fromAttr(c.getValue(), t, error))
        return false;
      out = &(memo[v] = std::move(t));
      return true;
    }
    if (auto w = dyn_cast<WeightOp>(def)) {
      if (!ctx.weights) {
        error = "weight @" + w.getName().str() + " has no data here";
        return false;
      }
      auto decl = SymbolTable::lookupNearestSymbolFrom<WeightDeclOp>(def, w.getNameAttr());
      if (!decl || decl.getSources().size() != 1 || !decl.getTransforms().empty()) {
        error = "weight @" + w.getName().str() + " is not a plain checkpoint tensor";
        return false;
      }
      const ::ingot::TensorView *tv =
          ctx.weights->find(cast<StringAttr>(decl.getSources()[0]).getValue().str());
      if (!tv) {
        error = "weight @" + w.getName().str() + " is not in the checkpoint";
        return false;
      }
      EvalTensor t;
      t.dtype = uint8_t(tv->dtype);
      t.shape = tv->shape;
      t.bytes.assign(tv->data, tv->data + tv->nbytes);
      out = &(memo[v] = std::move(t));
      return true;
    }
    auto node = dyn_cast<NodeOp>(def);
    if (!node) {
      error = "cannot evaluate '" + def->getName().getStringRef().str() + "'";
      return false;
    }
    std::string where = "node '" + node.getName().str() + "' (" + node.getOpType().str() + ")";
    auto kernel = ::ingot::nd::findKernel(node.getDomain().str(), node.getOpType().str());
    if (!kernel) {
      error = where + ": no kernel";
      return false;
    }
    Ctx k;
    k.op = node.getOpType().str();
    k.dom = node.getDomain().str();
    for (Value in : node.getInputs()) {
      ::ingot::nd::Tensor t;
      if (isa<NoneType>(in.getType())) {
        k.ins.push_back(t);
        k.present.push_back(false);
        continue;
      }
      EvalTensor *e;
      if (!eval(in, e, error))
        return false;
      t.dtype = ::ingot::DType(e->dtype);
      t.shape = e->shape;
      t.data = e->bytes.data();
      k.ins.push_back(t);
      k.present.push_back(true);
    }
    if (!toNdAttrs(node.getAttrs(), k.at, error)) {
      error = where + ": " + error;
      return false;
    }
    std::vector<EvalTensor> results(node.getNumResults());
    k.outs = &results;
    k.outViews.resize(node.getNumResults());
    try {
      kernel(k);
    } catch (const std::exception &e) {
      error = where + ": " + e.what();
      return false;
    }
    for (unsigned i = 0; i < node.getNumResults(); ++i)
      memo[node.getResult(i)] = std::move(results[i]);
    out = &memo[v];
    return true;
  }
};

} // namespace

namespace mlir::ingot {
struct NodeEvaluator::Impl {
  EvalContext ctx;
  Evaluator ev;
  explicit Impl(EvalContext c) : ctx(std::move(c)), ev{ctx, {}, 0} {}
};

} // namespace mlir::ingot
namespace mlir::ingot {
NodeEvaluator::NodeEvaluator(EvalContext ctx) : impl_(std::make_unique<Impl>(std::move(ctx))) {}
NodeEvaluator::~NodeEvaluator() = default;
EvalContext &NodeEvaluator::context() { return impl_->ctx; }

bool NodeEvaluator::evaluate(Value v, EvalTensor &out, std::string &error) {
  EvalTensor *r;
  if (!impl_->ev.eval(v, r, error))
    return false;
  out = *r;
  return true;
}

} // namespace mlir::ingot

bool mlir::ingot::evaluateValue(Value v, EvalContext &ctx, EvalTensor &out,
                                std::string &error) {
  Evaluator e{ctx, {}, 0};
  EvalTensor *r;
  if (!e.eval(v, r, error))
    return false;
  out = *r;
  return true;
}
