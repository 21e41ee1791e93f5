// Tests for the N-d elementwise and reduction kernels (runtime/src/nd/
// nd_elementwise*.cpp, nd_reduce*.cpp): error paths (incompatible shapes,
// wrong dtypes, missing inputs, bad attributes) and hand-checked values for
// the semantics that are easy to get wrong (integer Div/Mod, rounding,
// broadcasting, empty reductions, ties in TopK/ArgMax, legacy Softmax).
// Expected values are literals worked out by hand, not outputs of the code.
// The bulk of the checks is scripts/dev/nd_node_tests.py over ONNX's tests.
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace ingot;

namespace {

// A tensor that owns its bytes.
struct Owned {
  nd::Tensor t;
  std::vector<uint8_t> bytes;
};

template <class T>
std::shared_ptr<Owned> make(DType dt, std::vector<int64_t> shape, std::vector<T> v) {
  auto o = std::make_shared<Owned>();
  o->t.dtype = dt;
  o->t.shape = std::move(shape);
  EXPECT_EQ(size_t(o->t.numel()), v.size()) << "test tensor size";
  o->bytes.resize(std::max<size_t>(v.size() * sizeof(T), 1));
  if (!v.empty())
    std::memcpy(o->bytes.data(), v.data(), v.size() * sizeof(T));
  o->t.data = o->bytes.data();
  return o;
}
auto f32(std::vector<int64_t> s, std::vector<float> v) { return make(DType::F32, s, v); }
auto i32(std::vector<int64_t> s, std::vector<int32_t> v) { return make(DType::I32, s, v); }
auto i64(std::vector<int64_t> s, std::vector<int64_t> v) { return make(DType::I64, s, v); }
auto u8(std::vector<int64_t> s, std::vector<uint8_t> v) { return make(DType::U8, s, v); }
auto boolean(std::vector<int64_t> s, std::vector<uint8_t> v) { return make(DType::Bool, s, v); }

class Ctx : public nd::KernelContext {
public:
  Ctx(std::string op, std::vector<std::shared_ptr<Owned>> ins, int nOut = 1)
      : op_(std::move(op)), ins_(std::move(ins)), outs_(size_t(nOut)) {}
  const std::string &opType() const override { return op_; }
  const std::string &domain() const override { return dom_; }
  int numInputs() const override { return int(ins_.size()); }
  const nd::Tensor *input(int i) const override {
    return i >= 0 && i < int(ins_.size()) && ins_[size_t(i)] ? &ins_[size_t(i)]->t : nullptr;
  }
  int numOutputs() const override { return int(outs_.size()); }
  nd::Tensor &output(int i, DType dt, const std::vector<int64_t> &shape) override {
    Owned &o = outs_.at(size_t(i));
    o.t.dtype = dt;
    o.t.shape = shape;
    o.bytes.assign(std::max<size_t>(o.t.nbytes(), 1), 0xAB); // garbage until written
    o.t.data = o.bytes.data();
    return o.t;
  }
  const nd::Attrs &attrs() const override { return attrs_; }

  Ctx &attr(const std::string &name, int64_t v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::Int;
    a.i = v;
    attrs_.values[name] = a;
    return *this;
  }
  Ctx &attrF(const std::string &name, double v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::Float;
    a.f = v;
    attrs_.values[name] = a;
    return *this;
  }
  Ctx &attrS(const std::string &name, const std::string &v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::String;
    a.s = v;
    attrs_.values[name] = a;
    return *this;
  }
  Ctx &attrInts(const std::string &name, std::vector<int64_t> v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::Ints;
    a.ints = std::move(v);
    attrs_.values[name] = a;
    return *this;
  }
  Ctx &run() {
    nd::KernelFn fn = nd::findKernel("", op_);
    if (!fn)
      throw Error("no kernel for " + op_);
    fn(*this);
    return *this;
  }
  const nd::Tensor &out(int i = 0) const { return outs_.at(size_t(i)).t; }
  template <class T> std::vector<T> values(int i = 0) const {
    const nd::Tensor &t = out(i);
    std::vector<T> v(size_t(t.numel()));
    if (!v.empty())
      std::memcpy(v.data(), t.data, v.size() * sizeof(T));
    return v;
  }

private:
  std::string op_, dom_;
  std::vector<std::shared_ptr<Owned>> ins_;
  std::vector<Owned> outs_;
  nd::Attrs attrs_;
};

// Runs the op and returns the ingot::Error message ("" when none was thrown).
std::string errorOf(Ctx &c) {
  try {
    c.run();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(ctx, ...)                                             \
  do {                                                                         \
    Ctx &c_ = (ctx);                                                           \
    std::string m_ = errorOf(c_);                                              \
    EXPECT_FALSE(m_.empty()) << "no error thrown";                             \
    for (const char *part : {__VA_ARGS__})                                     \
      EXPECT_NE(m_.find(part), std::string::npos)                              \
          << "message '" << m_ << "' lacks '" << part << "'";                 \
  } while (0)

// ---- Error paths --------------------------------------------------------------

TEST(NdElementwise, IncompatibleBroadcastNamesOpAndShapes) {
  Ctx c("Add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({4}, {1, 2, 3, 4})});
  EXPECT_ERROR_HAS(c, "Add", "[2,3]", "[4]");
  Ctx w("Where", {boolean({2}, {1, 0}), f32({3}, {1, 2, 3}), f32({1}, {0})});
  EXPECT_ERROR_HAS(w, "Where", "[2]", "[3]");
  Ctx s("Sum", {f32({2}, {1, 2}), f32({2}, {1, 2}), f32({3}, {1, 2, 3})});
  EXPECT_ERROR_HAS(s, "Sum", "[3]");
}

TEST(NdElementwise, WrongDTypes) {
  Ctx mixed("Mul", {f32({2}, {1, 2}), i64({2}, {1, 2})});
  EXPECT_ERROR_HAS(mixed, "Mul", "f32", "i64");
  Ctx expInt("Exp", {i32({2}, {1, 2})});
  EXPECT_ERROR_HAS(expInt, "Exp", "unsupported dtype i32");
  Ctx andF("And", {f32({1}, {1}), f32({1}, {0})});
  EXPECT_ERROR_HAS(andF, "And", "f32");
  Ctx whereCond("Where", {f32({1}, {1}), f32({1}, {1}), f32({1}, {2})});
  EXPECT_ERROR_HAS(whereCond, "Where", "condition", "bool");
  Ctx softmaxInt("Softmax", {i32({2}, {1, 2})});
  EXPECT_ERROR_HAS(softmaxInt, "Softmax", "i32");
  Ctx shiftF("BitShift", {f32({1}, {1}), f32({1}, {1})});
  shiftF.attrS("direction", "LEFT");
  EXPECT_ERROR_HAS(shiftF, "BitShift", "f32");
}

TEST(NdElementwise, MissingInputs) {
  Ctx add("Add", {f32({1}, {1}), nullptr});
  EXPECT_ERROR_HAS(add, "Add", "input 1 is required");
  Ctx where("Where", {boolean({1}, {1}), f32({1}, {1})});
  EXPECT_ERROR_HAS(where, "Where", "input 2 is required");
  Ctx topk("TopK", {f32({3}, {1, 2, 3})}, 2);
  EXPECT_ERROR_HAS(topk, "TopK", "input 1 is required");
  Ctx sum("Sum", {});
  EXPECT_ERROR_HAS(sum, "Sum", "at least one input");
}

TEST(NdElementwise, BadAttributesAndValues) {
  Ctx castNoTo("Cast", {f32({1}, {1})});
  EXPECT_ERROR_HAS(castNoTo, "Cast", "'to'");
  Ctx castString("Cast", {f32({1}, {1})});
  castString.attr("to", 8); // STRING
  EXPECT_ERROR_HAS(castString, "Cast", "8");
  Ctx gelu("Gelu", {f32({1}, {1})});
  gelu.attrS("approximate", "erf");
  EXPECT_ERROR_HAS(gelu, "Gelu", "approximate");
  Ctx shift("BitShift", {u8({1}, {1}), u8({1}, {1})});
  shift.attrS("direction", "UP");
  EXPECT_ERROR_HAS(shift, "BitShift", "direction");
  Ctx prelu("PRelu", {f32({2}, {1, -1}), f32({2, 2}, {1, 2, 3, 4})});
  EXPECT_ERROR_HAS(prelu, "PRelu", "[2,2]", "[2]");
  Ctx clip("Clip", {f32({2}, {1, 2}), f32({2}, {0, 1})});
  EXPECT_ERROR_HAS(clip, "Clip", "min", "one element");
  Ctx axis("ReduceSum", {f32({2, 2}, {1, 2, 3, 4}), i64({1}, {2})});
  EXPECT_ERROR_HAS(axis, "ReduceSum", "axis 2", "rank 2");
  Ctx repeated("ReduceMax", {f32({2, 2}, {1, 2, 3, 4})});
  repeated.attrInts("axes", {1, -1});
  EXPECT_ERROR_HAS(repeated, "ReduceMax", "repeated");
  Ctx softmax("Softmax", {f32({2, 2}, {1, 2, 3, 4})});
  softmax.attr("axis", 3);
  EXPECT_ERROR_HAS(softmax, "Softmax", "axis 3");
  Ctx topk("TopK", {f32({3}, {1, 2, 3}), i64({1}, {4})}, 2);
  EXPECT_ERROR_HAS(topk, "TopK", "K = 4");
  Ctx argEmpty("ArgMax", {f32({2, 0}, {})});
  argEmpty.attr("axis", 1);
  EXPECT_ERROR_HAS(argEmpty, "ArgMax", "size 0");
}

// ---- Hand-checked values ---------------------------------------------------------

TEST(NdElementwise, BroadcastAdd) {
  Ctx c("Add", {f32({2, 1}, {1, 2}), f32({3}, {10, 20, 30})});
  c.run();
  EXPECT_EQ(c.out().shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(c.values<float>(), (std::vector<float>{11, 21, 31, 12, 22, 32}));
  // Scalars, and a zero-sized operand.
  Ctx s("Sub", {f32({}, {5}), f32({}, {7})});
  s.run();
  EXPECT_TRUE(s.out().shape.empty());
  EXPECT_EQ(s.values<float>(), (std::vector<float>{-2}));
  Ctx z("Mul", {f32({0, 3}, {}), f32({3}, {1, 2, 3})});
  z.run();
  EXPECT_EQ(z.out().shape, (std::vector<int64_t>{0, 3}));
}

TEST(NdElementwise, LegacyAxisBroadcast) {
  // Opset < 7: B aligned at A's dim `axis`, not at the end.
  Ctx c("Add", {f32({2, 3}, {1, 1, 1, 1, 1, 1}), f32({2}, {10, 20})});
  c.attr("broadcast", 1).attr("axis", 0).run();
  EXPECT_EQ(c.values<float>(), (std::vector<float>{11, 11, 11, 21, 21, 21}));
  Ctx mid("Mul", {f32({2, 3}, {1, 1, 1, 1, 1, 1}), f32({3}, {1, 2, 3})});
  mid.attr("broadcast", 1).attr("axis", 1).run();
  EXPECT_EQ(mid.values<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  Ctx bad("Mul", {f32({2, 3}, {1, 1, 1, 1, 1, 1}), f32({3}, {1, 2, 3})});
  bad.attr("broadcast", 1).attr("axis", 2);
  EXPECT_ERROR_HAS(bad, "Mul", "axis 2", "[3]", "[2,3]");
}

TEST(NdElementwise, IntegerDivModTruncateAndNeverTrap) {
  Ctx d("Div", {i32({5}, {7, -7, 7, std::numeric_limits<int32_t>::min(), 9}),
                i32({5}, {2, 2, -2, -1, 0})});
  d.run();
  EXPECT_EQ(d.values<int32_t>(),
            (std::vector<int32_t>{3, -3, -3, std::numeric_limits<int32_t>::min(), 0}));
  Ctx m("Mod", {i32({4}, {-7, 7, -7, 5}), i32({4}, {3, -3, -3, 0})});
  m.run(); // sign of the divisor
  EXPECT_EQ(m.values<int32_t>(), (std::vector<int32_t>{2, -2, -1, 0}));
  Ctx f("Mod", {i32({2}, {-7, 7}), i32({2}, {3, -3})});
  f.attr("fmod", 1).run(); // sign of the dividend
  EXPECT_EQ(f.values<int32_t>(), (std::vector<int32_t>{-1, 1}));
  Ctx ff("Mod", {f32({2}, {-7.5f, 7.5f}), f32({2}, {2, 2})});
  ff.attr("fmod", 1).run();
  EXPECT_EQ(ff.values<float>(), (std::vector<float>{-1.5f, 1.5f}));
  Ctx wrap("Add", {u8({2}, {250, 3}), u8({2}, {10, 4})});
  wrap.run();
  EXPECT_EQ(wrap.values<uint8_t>(), (std::vector<uint8_t>{4, 7}));
}

TEST(NdElementwise, PowMixedTypes) {
  Ctx a("Pow", {f32({3}, {2, 9, -2}), i64({3}, {10, 0, 3})});
  a.run();
  EXPECT_EQ(a.out().dtype, DType::F32);
  EXPECT_EQ(a.values<float>(), (std::vector<float>{1024, 1, -8}));
  Ctx b("Pow", {i64({3}, {3, 2, -2}), f32({3}, {2, 0.5f, 3})});
  b.run();
  EXPECT_EQ(b.out().dtype, DType::I64);
  EXPECT_EQ(b.values<int64_t>(), (std::vector<int64_t>{9, 1, -8})); // 2^0.5 truncated
  Ctx c("Pow", {i32({3}, {2, 1, -1}), i32({3}, {-1, -5, -3})});
  c.run();
  EXPECT_EQ(c.values<int32_t>(), (std::vector<int32_t>{0, 1, -1}));
}

TEST(NdElementwise, RoundHalfToEvenAndStableActivations) {
  Ctx r("Round", {f32({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f})});
  r.run();
  EXPECT_EQ(r.values<float>(), (std::vector<float>{0, 2, 2, -0.0f, -2, 2}));
  Ctx s("Sigmoid", {f32({3}, {-1000, 0, 1000})});
  s.run();
  EXPECT_EQ(s.values<float>(), (std::vector<float>{0, 0.5f, 1}));
  Ctx sp("Softplus", {f32({2}, {1000, -1000})});
  sp.run();
  EXPECT_EQ(sp.values<float>(), (std::vector<float>{1000, 0}));
  Ctx relu("Relu", {f32({3}, {-1, 2, std::nanf("")})});
  relu.run();
  auto v = relu.values<float>();
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 2);
  EXPECT_TRUE(std::isnan(v[2]));
  Ctx isinf("IsInf", {f32({3}, {INFINITY, -INFINITY, 1})});
  isinf.attr("detect_negative", 0).run();
  EXPECT_EQ(isinf.values<uint8_t>(), (std::vector<uint8_t>{1, 0, 0}));
}

TEST(NdElementwise, CastSemantics) {
  Ctx toInt("Cast", {f32({4}, {2.7f, -2.7f, std::nanf(""), 1e20f})});
  toInt.attr("to", 6).run(); // INT32: truncation; NaN -> 0; saturates
  EXPECT_EQ(toInt.out().dtype, DType::I32);
  EXPECT_EQ(toInt.values<int32_t>(),
            (std::vector<int32_t>{2, -2, 0, std::numeric_limits<int32_t>::max()}));
  Ctx toBool("Cast", {f32({3}, {0, -0.5f, std::nanf("")})});
  toBool.attr("to", 9).run();
  EXPECT_EQ(toBool.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  Ctx fromBool("Cast", {boolean({2}, {1, 0})});
  fromBool.attr("to", 11).run(); // DOUBLE
  EXPECT_EQ(fromBool.values<double>(), (std::vector<double>{1, 0}));
  // f16: 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (0x3C00);
  // 1 + 3 * 2^-11 ties up to 1 + 2^-9 (0x3C02); 70000 overflows to inf.
  Ctx toF16("Cast", {f32({3}, {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 70000})});
  toF16.attr("to", 10).run();
  EXPECT_EQ(toF16.values<uint16_t>(), (std::vector<uint16_t>{0x3C00, 0x3C02, 0x7C00}));
  Ctx wrap("Cast", {i32({2}, {300, -1})});
  wrap.attr("to", 2).run(); // UINT8 wraps like numpy
  EXPECT_EQ(wrap.values<uint8_t>(), (std::vector<uint8_t>{44, 255}));
  Ctx named("Cast", {f32({1}, {-3.9f})});
  named.attrS("to", "INT64").run(); // opset 1 names the type
  EXPECT_EQ(named.values<int64_t>(), (std::vector<int64_t>{-3}));
  Ctx like("CastLike", {f32({1}, {3.9f}), i64({1}, {0})});
  like.run();
  EXPECT_EQ(like.values<int64_t>(), (std::vector<int64_t>{3}));
}

TEST(NdElementwise, ClipWhereBitShiftVariadic) {
  Ctx clip("Clip", {f32({4}, {-5, 0, 5, std::nanf("")}), f32({}, {-1}), f32({}, {2})});
  clip.run();
  auto v = clip.values<float>();
  EXPECT_EQ(v[0], -1);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], 2);
  EXPECT_TRUE(std::isnan(v[3]));
  Ctx clip6("Clip", {f32({3}, {-5, 0, 5})}); // opset 6: attributes
  clip6.attrF("min", -1).attrF("max", 1).run();
  EXPECT_EQ(clip6.values<float>(), (std::vector<float>{-1, 0, 1}));
  Ctx where("Where", {boolean({2, 1}, {1, 0}), f32({3}, {1, 2, 3}), f32({}, {9})});
  where.run();
  EXPECT_EQ(where.values<float>(), (std::vector<float>{1, 2, 3, 9, 9, 9}));
  Ctx shl("BitShift", {u8({3}, {1, 255, 16}), u8({3}, {3, 1, 4})});
  shl.attrS("direction", "LEFT").run();
  EXPECT_EQ(shl.values<uint8_t>(), (std::vector<uint8_t>{8, 254, 0}));
  Ctx mx("Max", {f32({2}, {1, 5}), f32({2, 1}, {3, 0}), f32({}, {2})});
  mx.run();
  EXPECT_EQ(mx.values<float>(), (std::vector<float>{3, 5, 2, 5}));
  Ctx mean("Mean", {f32({2}, {1, 2}), f32({2}, {3, 6})});
  mean.run();
  EXPECT_EQ(mean.values<float>(), (std::vector<float>{2, 4}));
}

TEST(NdReduce, AxesKeepdimsAndEmptySets) {
  Ctx s("ReduceSum", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({1}, {1})});
  s.run();
  EXPECT_EQ(s.out().shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(s.values<float>(), (std::vector<float>{6, 15}));
  Ctx m("ReduceMean", {f32({2, 3}, {1, 2, 3, 4, 5, 6})}); // older opsets: axes attribute
  m.attrInts("axes", {0}).attr("keepdims", 0).run();
  EXPECT_EQ(m.out().shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(m.values<float>(), (std::vector<float>{2.5f, 3.5f, 4.5f}));
  Ctx all("ReduceMax", {i32({2, 2}, {3, -1, 7, 2})});
  all.attr("keepdims", 0).run();
  EXPECT_TRUE(all.out().shape.empty());
  EXPECT_EQ(all.values<int32_t>(), (std::vector<int32_t>{7}));
  Ctx noop("ReduceSumSquare", {f32({2}, {3, -2}), i64({0}, {})});
  noop.attr("noop_with_empty_axes", 1).run();
  EXPECT_EQ(noop.values<float>(), (std::vector<float>{9, 4}));
  Ctx emptyMax("ReduceMax", {f32({2, 0}, {}), i64({1}, {1})});
  emptyMax.run();
  EXPECT_EQ(emptyMax.values<float>(), (std::vector<float>{-INFINITY, -INFINITY}));
  Ctx emptyProd("ReduceProd", {f32({2, 0}, {}), i64({1}, {1})});
  emptyProd.attr("keepdims", 0).run();
  EXPECT_EQ(emptyProd.out().shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(emptyProd.values<float>(), (std::vector<float>{1, 1}));
  Ctx l2("ReduceL2", {f32({2, 2}, {3, 4, 6, 8}), i64({1}, {-1})});
  l2.attr("keepdims", 0).run();
  EXPECT_EQ(l2.values<float>(), (std::vector<float>{5, 10}));
  Ctx lse("ReduceLogSumExp", {f32({2}, {1000, 1000})});
  lse.attr("keepdims", 0).run(); // no overflow: 1000 + log 2
  EXPECT_NEAR(lse.values<float>()[0], 1000.6931f, 1e-3);
}

TEST(NdReduce, ArgMaxTopKTiesAndCumSum) {
  Ctx am("ArgMax", {f32({2, 3}, {1, 5, 5, 2, 2, 0})});
  am.attr("axis", 1).attr("keepdims", 0).run();
  EXPECT_EQ(am.values<int64_t>(), (std::vector<int64_t>{1, 0}));
  Ctx aml("ArgMax", {f32({2, 3}, {1, 5, 5, 2, 2, 0})});
  aml.attr("axis", 1).attr("select_last_index", 1).run();
  EXPECT_EQ(aml.out().shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(aml.values<int64_t>(), (std::vector<int64_t>{2, 1}));
  Ctx top("TopK", {f32({4}, {3, 1, 3, 2}), i64({1}, {2})}, 2);
  top.run();
  EXPECT_EQ(top.values<float>(0), (std::vector<float>{3, 3}));
  EXPECT_EQ(top.values<int64_t>(1), (std::vector<int64_t>{0, 2}));
  Ctx low("TopK", {f32({4}, {3, 1, 3, 2}), i64({1}, {3})}, 2);
  low.attr("largest", 0).run();
  EXPECT_EQ(low.values<float>(0), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(low.values<int64_t>(1), (std::vector<int64_t>{1, 3, 0}));
  Ctx cs("CumSum", {i32({3}, {1, 2, 3}), i32({}, {0})});
  cs.attr("exclusive", 1).attr("reverse", 1).run();
  EXPECT_EQ(cs.values<int32_t>(), (std::vector<int32_t>{5, 3, 0}));
}

TEST(NdReduce, SoftmaxAndLegacyCoercion) {
  Ctx s("Softmax", {f32({3}, {1, 2, 3})});
  s.run(); // e^-2, e^-1, 1 over their sum
  auto v = s.values<float>();
  EXPECT_NEAR(v[0], 0.09003057f, 1e-6);
  EXPECT_NEAR(v[1], 0.24472847f, 1e-6);
  EXPECT_NEAR(v[2], 0.66524096f, 1e-6);
  // Opset < 13: [2,2] at axis 0 is one row of 4 values; opset 13 axis 0 is per column.
  Ctx legacy("Softmax", {f32({2, 2}, {0, 0, 0, 0})});
  legacy.attr("axis", 0).attr("ingot.opset", 11).run();
  EXPECT_EQ(legacy.values<float>(), (std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f}));
  Ctx modern("Softmax", {f32({2, 2}, {0, 0, 0, 0})});
  modern.attr("axis", 0).run();
  EXPECT_EQ(modern.values<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}));
  Ctx hard("Hardmax", {f32({2, 3}, {1, 3, 3, 0, -1, 0})});
  hard.run(); // first maximum wins
  EXPECT_EQ(hard.values<float>(), (std::vector<float>{0, 1, 0, 1, 0, 0}));
  Ctx ls("LogSoftmax", {f32({2}, {1000, 1000})});
  ls.run();
  EXPECT_NEAR(ls.values<float>()[0], -0.6931472f, 1e-6);
}

} // namespace
