// Shared by the N-d kernel gtests (test_nd_shape.cpp, test_nd_attention.cpp):
// an owning tensor and a KernelContext that owns its outputs, which start as
// garbage (0xAB) so a kernel that forgets to write an element is caught.
#pragma once
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace ingot::ndtest {

struct Buf {
  nd::Tensor t;
  std::vector<uint8_t> bytes;
  template <class T>
  static Buf make(DType dt, std::vector<int64_t> shape, const std::vector<T> &v) {
    Buf b;
    b.t.dtype = dt;
    b.t.shape = std::move(shape);
    EXPECT_EQ(size_t(b.t.numel()), v.size());
    EXPECT_EQ(dtypeSize(dt), sizeof(T));
    b.bytes.resize(std::max<size_t>(v.size() * sizeof(T), 1));
    if (!v.empty())
      std::memcpy(b.bytes.data(), v.data(), v.size() * sizeof(T));
    b.t.data = b.bytes.data();
    return b;
  }
};

struct Ctx : nd::KernelContext {
  std::string op, dom;
  std::vector<const nd::Tensor *> ins;
  std::vector<Buf> outs;
  nd::Attrs at;

  Ctx(std::string o, std::vector<const nd::Tensor *> in, int nOut = 1, std::string domain = "")
      : op(std::move(o)), dom(std::move(domain)), ins(std::move(in)), outs(size_t(nOut)) {}
  const std::string &opType() const override { return op; }
  const std::string &domain() const override { return dom; }
  int numInputs() const override { return int(ins.size()); }
  const nd::Tensor *input(int i) const override {
    return i >= 0 && i < int(ins.size()) ? ins[size_t(i)] : nullptr;
  }
  int numOutputs() const override { return int(outs.size()); }
  nd::Tensor &output(int i, DType dt, const std::vector<int64_t> &shape) override {
    Buf &b = outs.at(size_t(i));
    b.t.dtype = dt;
    b.t.shape = shape;
    b.bytes.assign(std::max<size_t>(b.t.nbytes(), 1), 0xAB); // garbage: kernels must fill
    b.t.data = b.bytes.data();
    return b.t;
  }
  const nd::Attrs &attrs() const override { return at; }

  void setInt(const std::string &n, int64_t v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::Int;
    a.i = v;
    at.values[n] = a;
  }
  void setInts(const std::string &n, std::vector<int64_t> v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::Ints;
    a.ints = std::move(v);
    at.values[n] = a;
  }
  void setString(const std::string &n, const std::string &v) {
    nd::AttrValue a;
    a.kind = nd::AttrValue::String;
    a.s = v;
    at.values[n] = a;
  }
  // Runs the kernel of (dom, op); fails the test when there is none.
  void run() {
    nd::KernelFn fn = nd::findKernel(dom, op);
    ASSERT_NE(fn, nullptr) << op;
    fn(*this);
  }
  template <class T = float> std::vector<T> out(int i = 0) const {
    const nd::Tensor &t = outs.at(size_t(i)).t;
    std::vector<T> v(size_t(t.numel()));
    std::memcpy(v.data(), t.data, v.size() * sizeof(T));
    return v;
  }
};

// Runs `c` expecting an ingot::Error whose message contains every needle.
inline void expectError(Ctx &c, std::initializer_list<const char *> needles) {
  nd::KernelFn fn = nd::findKernel(c.dom, c.op);
  ASSERT_NE(fn, nullptr) << c.op;
  try {
    fn(c);
    FAIL() << c.op << ": expected an error";
  } catch (const Error &e) {
    for (const char *n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

} // namespace ingot::ndtest
