//===- Types.cpp - ONNX types and attributes -> MLIR ----------------------===//
//
// See Types.h. Element types: FLOAT f32, DOUBLE f64, FLOAT16 f16, BFLOAT16
// bf16, INT8..INT64 signless iN, UINT8..UINT64 uiN, BOOL i1 (docs/onnx.md).
//
//===----------------------------------------------------------------------===//
#include "Types.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

#include <cstring>

using namespace mlir;
using ::ingot::DType;

namespace ingot::onnximport {

Type mlirElemType(MLIRContext &ctx, DType dt) {
  switch (dt) {
  case DType::F32: return Float32Type::get(&ctx);
  case DType::F64: return Float64Type::get(&ctx);
  case DType::F16: return Float16Type::get(&ctx);
  case DType::BF16: return BFloat16Type::get(&ctx);
  case DType::I8: return IntegerType::get(&ctx, 8);
  case DType::I16: return IntegerType::get(&ctx, 16);
  case DType::I32: return IntegerType::get(&ctx, 32);
  case DType::I64: return IntegerType::get(&ctx, 64);
  case DType::U8: return IntegerType::get(&ctx, 8, IntegerType::Unsigned);
  case DType::U16: return IntegerType::get(&ctx, 16, IntegerType::Unsigned);
  case DType::U32: return IntegerType::get(&ctx, 32, IntegerType::Unsigned);
  case DType::U64: return IntegerType::get(&ctx, 64, IntegerType::Unsigned);
  case DType::Bool: return IntegerType::get(&ctx, 1);
  }
  fail("internal error: unknown dtype");
}

static Type elemTypeOrFail(MLIRContext &ctx, int32_t onnxType, const std::string &what) {
  DType dt;
  if (onnxType == onnx::TensorProto::UNDEFINED)
    fail(what + " has no element type");
  if (!onnxElemType(onnxType, dt))
    fail(what + " has element type " + onnxTypeName(onnxType) +
         ", which Ingot does not support (supported: FLOAT, DOUBLE, FLOAT16, "
         "BFLOAT16, INT8/16/32/64, UINT8/16/32/64, BOOL)");
  return mlirElemType(ctx, dt);
}

TensorType convertValueType(MLIRContext &ctx, const onnx::TypeProto &t,
                            const std::string &what,
                            llvm::SmallVectorImpl<std::string> *dimParams) {
  switch (t.value_case()) {
  case onnx::TypeProto::kTensorType:
    break;
  case onnx::TypeProto::kSequenceType:
    fail(what + " is a sequence; only tensors are supported");
  case onnx::TypeProto::kMapType:
    fail(what + " is a map; only tensors are supported");
  case onnx::TypeProto::kOptionalType:
    fail(what + " is an optional; only tensors are supported");
  case onnx::TypeProto::kSparseTensorType:
    fail(what + " is a sparse tensor; only dense tensors are supported");
  default:
    fail(what + " has no type (or one newer than this build's ONNX schema)");
  }
  const onnx::TypeProto::Tensor &tt = t.tensor_type();
  Type et = elemTypeOrFail(ctx, tt.elem_type(), what);
  if (!tt.has_shape())
    return UnrankedTensorType::get(et);
  SmallVector<int64_t> shape;
  for (const onnx::TensorShapeProto::Dimension &d : tt.shape().dim()) {
    bool known = d.has_dim_value() && d.dim_value() >= 0;
    shape.push_back(known ? d.dim_value() : ShapedType::kDynamic);
    if (dimParams)
      dimParams->push_back(d.has_dim_param() ? d.dim_param() : "");
  }
  return RankedTensorType::get(shape, et);
}

DenseElementsAttr denseFromBytes(RankedTensorType type, const TensorBytes &tb) {
  if (tb.dtype == DType::Bool) {
    // MLIR packs i1 as bits; ONNX stores a byte per element.
    SmallVector<bool> vals(size_t(tb.numel));
    for (int64_t i = 0; i < tb.numel; ++i)
      vals[size_t(i)] = tb.data[i] != 0;
    return DenseElementsAttr::get(type, ArrayRef<bool>(vals));
  }
  size_t esize = ::ingot::dtypeSize(tb.dtype);
  const char *p = reinterpret_cast<const char *>(tb.data);
  bool splat = tb.numel > 1;
  for (int64_t i = 1; splat && i < tb.numel; ++i)
    splat = std::memcmp(p, p + size_t(i) * esize, esize) == 0;
  // A single element's bytes are read as a splat.
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(p, splat ? esize : tb.nbytes));
}

Attribute convertAttribute(MLIRContext &ctx, const onnx::AttributeProto &a,
                           const std::string &name, const std::string &label,
                           const std::string &modelDir, Storage &st) {
  using A = onnx::AttributeProto;
  Builder b(&ctx);
  A::AttributeType kind = a.type();
  if (kind == A::UNDEFINED) {
    // Old exporters leave `type` unset: infer it from the field in use.
    if (a.has_g() || a.graphs_size())
      kind = A::GRAPH;
    else if (a.has_t())
      kind = A::TENSOR;
    else if (a.floats_size())
      kind = A::FLOATS;
    else if (a.ints_size())
      kind = A::INTS;
    else if (a.strings_size())
      kind = A::STRINGS;
    else if (a.has_s())
      kind = A::STRING;
    else if (a.has_i())
      kind = A::INT;
    else if (a.has_f())
      kind = A::FLOAT;
    else
      fail(label + ": attribute '" + name + "' has no type and no value");
  }
  switch (kind) {
  case A::FLOAT:
    return b.getF32FloatAttr(a.f());
  case A::INT:
    return b.getI64IntegerAttr(a.i());
  case A::STRING:
    return b.getStringAttr(a.s());
  case A::INTS:
    return b.getDenseI64ArrayAttr(ArrayRef<int64_t>(a.ints().data(), size_t(a.ints_size())));
  case A::FLOATS:
    return b.getDenseF32ArrayAttr(ArrayRef<float>(a.floats().data(), size_t(a.floats_size())));
  case A::STRINGS: {
    SmallVector<Attribute> s;
    for (const std::string &x : a.strings())
      s.push_back(b.getStringAttr(x));
    return b.getArrayAttr(s);
  }
  case A::TENSOR: {
    std::string what = "attribute '" + name + "' of " + label;
    TensorBytes tb = tensorBytes(a.t(), what, modelDir, st);
    auto type = RankedTensorType::get(tb.shape, mlirElemType(ctx, tb.dtype));
    return denseFromBytes(type, tb);
  }
  case A::GRAPH:
  case A::GRAPHS:
    fail(label + " has graph attribute '" + name +
         "' (control flow such as If, Loop or Scan), which Ingot does not support");
  default:
    fail(label + ": attribute '" + name + "' is of kind " +
         A::AttributeType_Name(kind) +
         ", which Ingot does not support (supported: FLOAT, INT, STRING, TENSOR, "
         "FLOATS, INTS, STRINGS)");
  }
}

//===----------------------------------------------------------------------===//
// Element-type guesses
//===----------------------------------------------------------------------===//

static Attribute findAttr(ArrayRef<NamedAttribute> attrs, StringRef name) {
  for (const NamedAttribute &a : attrs)
    if (a.getName() == name)
      return a.getValue();
  return nullptr;
}

static Type typeFromOnnxAttr(MLIRContext &ctx, Attribute a, const std::string &what) {
  auto i = dyn_cast_or_null<IntegerAttr>(a);
  if (!i)
    return nullptr;
  return elemTypeOrFail(ctx, int32_t(i.getInt()), what);
}

Type guessElemType(MLIRContext &ctx, StringRef op, StringRef domain,
                   ArrayRef<NamedAttribute> attrs, ValueRange inputs,
                   unsigned result, bool &certain, const std::string &label) {
  Builder b(&ctx);
  auto inputElem = [&](unsigned i) -> Type {
    if (i < inputs.size())
      if (auto t = dyn_cast<TensorType>(inputs[i].getType()))
        return t.getElementType();
    return nullptr;
  };
  certain = true;
  if (domain.empty()) {
    if (op == "Cast")
      if (Type t = typeFromOnnxAttr(ctx, findAttr(attrs, "to"),
                                    label + ": attribute 'to'"))
        return t;
    // CastLike: the target's type; Where: the values'; DequantizeLinear
    // (opset 19+): the scale's.
    if (op == "CastLike" || op == "Where" || op == "DequantizeLinear")
      if (Type t = inputElem(1))
        return t;
    if (op == "Shape" || op == "Size" || op == "NonZero" || op == "ArgMax" ||
        op == "ArgMin" || op == "NonMaxSuppression" ||
        (op == "TopK" && result == 1) || (op == "Unique" && result > 0))
      return b.getI64Type();
    if (op == "Equal" || op == "Less" || op == "LessOrEqual" || op == "Greater" ||
        op == "GreaterOrEqual" || op == "Not" || op == "And" || op == "Or" ||
        op == "Xor" || op == "IsNaN" || op == "IsInf" ||
        (op == "Dropout" && result == 1))
      return b.getI1Type();
    if (op == "MatMulInteger" || op == "ConvInteger")
      return b.getI32Type();
    if (op == "ConstantOfShape") {
      if (auto v = dyn_cast_or_null<DenseElementsAttr>(findAttr(attrs, "value")))
        return v.getElementType();
      return b.getF32Type();
    }
    if (op == "QuantizeLinear")
      return inputs.size() > 2 && inputElem(2) ? inputElem(2)
                                               : IntegerType::get(&ctx, 8, IntegerType::Unsigned);
    if (Type t = typeFromOnnxAttr(ctx, findAttr(attrs, "dtype"),
                                  label + ": attribute 'dtype'"))
      return t; // EyeLike, RandomNormal, RandomUniform(Like), Multinomial
    if (op == "RandomNormal" || op == "RandomUniform")
      return b.getF32Type();
    if (op == "Multinomial")
      return b.getI32Type();
  }
  // Ops whose (first) result has the first input's element type.
  static const llvm::StringSet<> preserving = {
      "Abs", "Add", "AveragePool", "BatchNormalization", "Ceil", "Celu", "Clip",
      "Concat", "Conv", "ConvTranspose", "Cos", "CumSum", "DepthToSpace", "Div",
      "Dropout", "Einsum", "Elu", "Erf", "Exp", "Expand", "EyeLike", "Flatten",
      "Floor", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm",
      "GlobalAveragePool", "GlobalMaxPool", "GroupNormalization", "HardSigmoid",
      "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization",
      "LeakyRelu", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min",
      "Mish", "Mod", "Mul", "Neg", "Pad", "Pow", "PRelu", "Range", "Reciprocal",
      "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
      "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
      "Resize", "RMSNormalization", "Round", "ScatterElements", "ScatterND",
      "Selu", "Sigmoid", "Sign", "Sin", "Slice", "Softmax", "Softplus",
      "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum",
      "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose", "Trilu",
      "Unsqueeze", "Unique", "Upsample",
      // com.microsoft
      "SimplifiedLayerNormalization", "SkipLayerNormalization",
      "SkipSimplifiedLayerNormalization", "FastGelu", "BiasGelu",
      "RotaryEmbedding", "GroupQueryAttention", "MultiHeadAttention", "Attention"};
  bool allResults = op == "Split";
  certain = preserving.contains(op) && (result == 0 || allResults);
  for (unsigned i = 0; i < inputs.size(); ++i)
    if (Type t = inputElem(i))
      return t;
  certain = false;
  return b.getF32Type();
}

} // namespace ingot::onnximport
