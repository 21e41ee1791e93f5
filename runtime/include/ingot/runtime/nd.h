// Generic N-d operators with ONNX semantics: the kernels behind plan steps of
// kind Node (runtime/schema/plan.fbs) and the CPU backend's "general path"
// for graphs that the compiler did not raise to the transformer ops.
//
// Contract (see docs/onnx.md, "The general path"):
// - A kernel is a function `void(KernelContext &)`. It reads its inputs and
//   attributes, computes each output's dtype and shape, asks the context for
//   the output buffer (`output(i, dtype, shape)`) and fills it.
// - Shapes are row-major, contiguous, rank 0..8. A scalar has rank 0 and one
//   element. Zero-sized dims are legal and must work.
// - Semantics are ONNX's for opsets 13..23 (older opsets' attribute forms are
//   accepted where the op is otherwise unchanged, e.g. axes as an attribute).
//   Numpy-style multidirectional broadcasting for the elementwise ops.
// - Bad input (wrong rank, incompatible shapes, an index out of range, an
//   unsupported dtype) throws ingot::Error whose message names the op and what
//   is wrong; the caller prefixes the node name. Never a crash or garbage.
// - Kernels are deterministic and do not depend on the thread count.
// - Omitted optional inputs are nullptr (`input(i)` returns nullptr, also for
//   i >= numInputs()).
#pragma once
#include "ingot/runtime/dtype.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::nd {

constexpr int kMaxRank = 8;

// A non-owning view of a contiguous row-major tensor.
struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  void *data = nullptr;

  int rank() const { return int(shape.size()); }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtypeSize(dtype); }
  template <class T> T *as() { return static_cast<T *>(data); }
  template <class T> const T *as() const { return static_cast<const T *>(data); }
};

// One attribute value. `kind` says which field is meant.
struct AttrValue {
  enum Kind { Int, Float, String, Ints, Floats, Strings, TensorValue } kind = Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  // TensorValue: dtype, shape (in `ints`) and element bytes.
  DType tdtype = DType::F32;
  std::vector<uint8_t> tdata;
};

class Attrs {
public:
  std::map<std::string, AttrValue, std::less<>> values;

  bool has(std::string_view name) const;
  // Typed getters: the default when absent; throw ingot::Error when present
  // with another kind.
  int64_t getInt(std::string_view name, int64_t def) const;
  double getFloat(std::string_view name, double def) const;
  std::string getString(std::string_view name, const std::string &def) const;
  std::vector<int64_t> getInts(std::string_view name,
                               const std::vector<int64_t> &def = {}) const;
  std::vector<double> getFloats(std::string_view name,
                                const std::vector<double> &def = {}) const;
  const AttrValue *find(std::string_view name) const;
  // Required attribute: throws naming the attribute when absent.
  const AttrValue &get(std::string_view name) const;
};

class KernelContext {
public:
  virtual ~KernelContext() = default;
  virtual const std::string &opType() const = 0;
  virtual const std::string &domain() const = 0;     // "" or "com.microsoft"
  virtual int numInputs() const = 0;
  virtual const Tensor *input(int i) const = 0;      // nullptr: omitted
  virtual int numOutputs() const = 0;                // outputs the graph uses
  // Allocates (graph plans) or checks against the planned slot (decoder
  // plans) output `i` and returns it. Call once per output, i < numOutputs().
  virtual Tensor &output(int i, DType dtype, const std::vector<int64_t> &shape) = 0;
  virtual const Attrs &attrs() const = 0;
  virtual int numThreads() const { return 1; }

  // Convenience: the input, throwing "Op: input i is required" when omitted.
  const Tensor &in(int i) const;
};

using KernelFn = void (*)(KernelContext &);

// The kernel for (domain, opType), or nullptr when there is none.
KernelFn findKernel(std::string_view domain, std::string_view opType);

struct KernelInfo {
  std::string domain, opType;
};
// Every registered kernel, sorted by domain then op type.
std::vector<KernelInfo> registeredKernels();

// Registration: the library is static, so kernels are registered explicitly.
// Each kernel source file runtime/src/nd/nd_<group>.cpp defines
// `void register<Group>Kernels(Registry &)` (declared in
// runtime/src/nd/nd_internal.h) and runtime/src/nd/nd_registry.cpp calls them
// all once, on first use of findKernel.
class Registry {
public:
  void add(const char *domain, const char *opType, KernelFn fn);
  KernelFn find(std::string_view domain, std::string_view opType) const;
  std::vector<KernelInfo> all() const;
private:
  std::map<std::pair<std::string, std::string>, KernelFn, std::less<>> map_;
};

// Shared helpers for kernels (runtime/src/nd/nd_util.cpp).
// Multidirectional (numpy) broadcast of shapes; throws naming `op` when they
// are incompatible.
std::vector<int64_t> broadcastShapes(std::string_view op,
                                     const std::vector<std::vector<int64_t>> &shapes);
// Normalizes an axis in [-rank, rank) to [0, rank); throws naming `op`.
int normalizeAxis(std::string_view op, int64_t axis, int rank);
// Reads an integer tensor (I32/I64/...) as int64 values.
std::vector<int64_t> readInts(std::string_view op, const Tensor &t);
int64_t product(const std::vector<int64_t> &shape);

} // namespace ingot::nd
