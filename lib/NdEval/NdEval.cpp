//===- NdEval.cpp - run the runtime's N-d kernels at compile time ---------===//
//
// See include/ingot/NdEval/NdEval.h. Built with exceptions in its own
// plain library (IngotNdEval): the runtime kernels report bad input by
// throwing ingot::Error, and every entry point here catches and converts, so
// the MLIR code that calls it (built without exceptions) never sees one.
//
// Compile-time evaluation owns every buffer: inputs are copied out of the
// dense attributes (an attribute's storage may be packed or a splat) and
// outputs are allocated by the context when the kernel asks for them, after
// checking the size limit, so folding never materialises a huge constant.
//
//===----------------------------------------------------------------------===//
#include "ingot/NdEval/NdEval.h"

#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstring>

using namespace mlir;
namespace nd = ::ingot::nd;
using ::ingot::DType;

bool mlir::ingot::toRuntimeDType(Type t, DType &out) {
  if (t.isF32())
    out = DType::F32;
  else if (t.isF16())
    out = DType::F16;
  else if (t.isBF16())
    out = DType::BF16;
  else if (t.isF64())
    out = DType::F64;
  else if (auto i = dyn_cast<IntegerType>(t)) {
    unsigned w = i.getWidth();
    bool u = i.isUnsigned();
    if (w == 1)
      out = DType::Bool;
    else if (w == 8)
      out = u ? DType::U8 : DType::I8;
    else if (w == 16)
      out = u ? DType::U16 : DType::I16;
    else if (w == 32)
      out = u ? DType::U32 : DType::I32;
    else if (w == 64)
      out = u ? DType::U64 : DType::I64;
    else
      return false;
  } else
    return false;
  return true;
}

Type mlir::ingot::fromRuntimeDType(MLIRContext *ctx, DType d) {
  Builder b(ctx);
  auto u = [&](unsigned w) {
    return IntegerType::get(ctx, w, IntegerType::Unsigned);
  };
  switch (d) {
  case DType::F32: return b.getF32Type();
  case DType::F16: return b.getF16Type();
  case DType::BF16: return b.getBF16Type();
  case DType::F64: return b.getF64Type();
  case DType::I8: return b.getIntegerType(8);
  case DType::I16: return b.getIntegerType(16);
  case DType::I32: return b.getIntegerType(32);
  case DType::I64: return b.getIntegerType(64);
  case DType::U8: return u(8);
  case DType::U16: return u(16);
  case DType::U32: return u(32);
  case DType::U64: return u(64);
  case DType::Bool: return b.getI1Type();
  }
  return {};
}

bool mlir::ingot::hasNdKernel(llvm::StringRef domain, llvm::StringRef opType) {
  try {
    return nd::findKernel(std::string_view(domain.data(), domain.size()),
                          std::string_view(opType.data(), opType.size())) !=
           nullptr;
  } catch (...) {
    return false;
  }
}

bool mlir::ingot::denseBytes(DenseElementsAttr attr, std::vector<uint8_t> &out,
                             std::string &error) {
  ShapedType type = attr.getType();
  DType dt;
  if (!toRuntimeDType(type.getElementType(), dt)) {
    llvm::raw_string_ostream os(error);
    os << "constant of element type " << type.getElementType()
       << " has no runtime dtype";
    return false;
  }
  size_t n = size_t(attr.getNumElements());
  size_t es = ::ingot::dtypeSize(dt);
  out.assign(n * es, 0);
  if (dt == DType::Bool) {
    // MLIR packs i1 elements as bits; the runtime uses one byte each.
    size_t i = 0;
    for (bool v : attr.getValues<bool>())
      out[i++] = v ? 1 : 0;
    return true;
  }
  ArrayRef<char> raw = attr.getRawData();
  if (attr.isSplat()) {
    if (raw.size() < es) {
      error = "malformed splat constant";
      return false;
    }
    for (size_t i = 0; i < n; ++i)
      std::memcpy(out.data() + i * es, raw.data(), es);
    return true;
  }
  if (raw.size() != out.size()) {
    error = "constant storage has " + std::to_string(raw.size()) +
            " bytes, expected " + std::to_string(out.size());
    return false;
  }
  if (!raw.empty())
    std::memcpy(out.data(), raw.data(), raw.size());
  return true;
}

namespace {

bool convertAttr(Attribute a, nd::AttrValue &v, std::string &error) {
  using K = nd::AttrValue;
  if (auto i = dyn_cast<IntegerAttr>(a)) {
    v.kind = K::Int;
    const APInt &ap = i.getValue();
    auto it = dyn_cast<IntegerType>(i.getType());
    bool zext = ap.getBitWidth() == 1 || (it && it.isUnsigned());
    v.i = zext ? int64_t(ap.getZExtValue()) : ap.getSExtValue();
    return true;
  }
  if (auto f = dyn_cast<FloatAttr>(a)) {
    v.kind = K::Float;
    v.f = f.getValueAsDouble();
    return true;
  }
  if (auto s = dyn_cast<StringAttr>(a)) {
    v.kind = K::String;
    v.s = s.getValue().str();
    return true;
  }
  if (auto arr = dyn_cast<DenseI64ArrayAttr>(a)) {
    v.kind = K::Ints;
    v.ints.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
    return true;
  }
  if (auto arr = dyn_cast<DenseI32ArrayAttr>(a)) {
    v.kind = K::Ints;
    v.ints.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
    return true;
  }
  if (auto arr = dyn_cast<DenseF32ArrayAttr>(a)) {
    v.kind = K::Floats;
    v.floats.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
    return true;
  }
  if (auto arr = dyn_cast<DenseF64ArrayAttr>(a)) {
    v.kind = K::Floats;
    v.floats.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
    return true;
  }
  if (auto arr = dyn_cast<ArrayAttr>(a)) {
    v.kind = K::Strings;
    for (Attribute e : arr) {
      auto s = dyn_cast<StringAttr>(e);
      if (!s) {
        error = "is an array of non-strings";
        return false;
      }
      v.strings.push_back(s.getValue().str());
    }
    return true;
  }
  if (auto d = dyn_cast<DenseElementsAttr>(a)) {
    v.kind = K::TensorValue;
    if (!mlir::ingot::toRuntimeDType(d.getType().getElementType(), v.tdtype)) {
      error = "is a tensor of an unsupported element type";
      return false;
    }
    v.ints.assign(d.getType().getShape().begin(), d.getType().getShape().end());
    std::string err;
    if (!mlir::ingot::denseBytes(d, v.tdata, err)) {
      error = "is a tensor that cannot be read: " + err;
      return false;
    }
    return true;
  }
  error = "has a kind the kernels cannot take";
  return false;
}

// Thrown by the context when an output would exceed the folding limit; not
// an error, the node just stays.
struct TooLarge {};

class ConstContext final : public nd::KernelContext {
public:
  ConstContext(std::string opType, std::string domain, const nd::Attrs &attrs,
               unsigned numOutputs, int64_t maxElements)
      : opType_(std::move(opType)), domain_(std::move(domain)), attrs_(attrs),
        maxElements_(maxElements), outs_(numOutputs), outData_(numOutputs),
        produced_(numOutputs, false) {}

  // Inputs: the tensors must not move after this (pointers are handed out).
  std::vector<nd::Tensor> ins;
  std::vector<bool> present;
  std::vector<std::vector<uint8_t>> inData;

  const std::string &opType() const override { return opType_; }
  const std::string &domain() const override { return domain_; }
  int numInputs() const override { return int(ins.size()); }
  const nd::Tensor *input(int i) const override {
    if (i < 0 || i >= int(ins.size()) || !present[size_t(i)])
      return nullptr;
    return &ins[size_t(i)];
  }
  int numOutputs() const override { return int(outs_.size()); }
  nd::Tensor &output(int i, DType dtype,
                     const std::vector<int64_t> &shape) override {
    INGOT_CHECK(i >= 0 && i < numOutputs(),
                opType_ + ": output " + std::to_string(i) + " does not exist");
    INGOT_CHECK(!produced_[size_t(i)],
                opType_ + ": output " + std::to_string(i) + " requested twice");
    int64_t n = 1;
    for (int64_t d : shape) {
      INGOT_CHECK(d >= 0, opType_ + ": negative output dimension");
      if (d != 0 && n > maxElements_ / d)
        throw TooLarge{};
      n *= d;
    }
    if (n > maxElements_)
      throw TooLarge{};
    outData_[size_t(i)].assign(size_t(n) * ::ingot::dtypeSize(dtype), 0);
    nd::Tensor &t = outs_[size_t(i)];
    t.dtype = dtype;
    t.shape = shape;
    t.data = outData_[size_t(i)].data();
    produced_[size_t(i)] = true;
    return t;
  }
  const nd::Attrs &attrs() const override { return attrs_; }

  bool produced(unsigned i) const { return produced_[i]; }
  const nd::Tensor &out(unsigned i) const { return outs_[i]; }

private:
  std::string opType_, domain_;
  const nd::Attrs &attrs_;
  int64_t maxElements_;
  std::vector<nd::Tensor> outs_;
  std::vector<std::vector<uint8_t>> outData_;
  std::vector<bool> produced_;
};

DenseElementsAttr toAttr(MLIRContext *ctx, const nd::Tensor &t) {
  Type e = mlir::ingot::fromRuntimeDType(ctx, t.dtype);
  auto type = RankedTensorType::get(
      llvm::SmallVector<int64_t>(t.shape.begin(), t.shape.end()), e);
  size_t n = size_t(t.numel());
  if (t.dtype == DType::Bool) {
    llvm::SmallVector<bool> bits(n);
    for (size_t i = 0; i < n; ++i)
      bits[i] = t.as<uint8_t>()[i] != 0;
    return DenseElementsAttr::get(type, ArrayRef<bool>(bits));
  }
  ArrayRef<char> raw(static_cast<const char *>(t.data), t.nbytes());
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

} // namespace

bool mlir::ingot::toNdAttrs(DictionaryAttr attrs, nd::Attrs &out,
                            std::string &error) {
  if (!attrs)
    return true;
  for (NamedAttribute na : attrs) {
    nd::AttrValue v;
    std::string err;
    if (!convertAttr(na.getValue(), v, err)) {
      error = "attribute '" + na.getName().getValue().str() + "' " + err;
      return false;
    }
    out.values.emplace(na.getName().getValue().str(), std::move(v));
  }
  return true;
}

mlir::ingot::EvalStatus mlir::ingot::evaluateNode(
    MLIRContext *mctx, llvm::StringRef opType, llvm::StringRef domain, DictionaryAttr attrs,
    llvm::ArrayRef<DenseElementsAttr> inputs, unsigned numOutputs,
    int64_t maxElements, llvm::SmallVectorImpl<DenseElementsAttr> &results,
    std::string &error) {
  try {
    nd::KernelFn fn = nd::findKernel(std::string_view(domain.data(), domain.size()),
                                     std::string_view(opType.data(), opType.size()));
    if (!fn)
      return EvalStatus::NoKernel;
    nd::Attrs ndAttrs;
    if (!toNdAttrs(attrs, ndAttrs, error))
      return EvalStatus::Failed;
    ConstContext ctx(opType.str(), domain.str(), ndAttrs, numOutputs,
                     maxElements);
    ctx.ins.resize(inputs.size());
    ctx.present.assign(inputs.size(), false);
    ctx.inData.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i])
        continue;
      nd::Tensor &t = ctx.ins[i];
      if (!toRuntimeDType(inputs[i].getType().getElementType(), t.dtype)) {
        error = "input " + std::to_string(i) + " has an unsupported element type";
        return EvalStatus::Failed;
      }
      auto shape = inputs[i].getType().getShape();
      t.shape.assign(shape.begin(), shape.end());
      if (!denseBytes(inputs[i], ctx.inData[i], error))
        return EvalStatus::Failed;
      t.data = ctx.inData[i].data();
      ctx.present[i] = true;
    }
    fn(ctx);
    results.clear();
    for (unsigned i = 0; i < numOutputs; ++i) {
      if (!ctx.produced(i)) {
        error = opType.str() + ": the kernel did not produce output " +
                std::to_string(i);
        return EvalStatus::Failed;
      }
      results.push_back(toAttr(mctx, ctx.out(i)));
    }
    return EvalStatus::Ok;
  } catch (const TooLarge &) {
    return EvalStatus::TooLarge;
  } catch (const ::ingot::Error &e) {
    error = e.what();
  } catch (const std::exception &e) {
    error = std::string("internal error: ") + e.what();
  } catch (...) {
    error = "unknown error";
  }
  return EvalStatus::Failed;
}
