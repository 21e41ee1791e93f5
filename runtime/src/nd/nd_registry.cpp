// The kernel registry of the N-d operator library.
#include "nd_internal.h"
#include "ingot/runtime/error.h"

#include <algorithm>

namespace ingot::nd {

void Registry::add(const char *domain, const char *opType, KernelFn fn) {
  auto key = std::make_pair(std::string(domain), std::string(opType));
  INGOT_CHECK(!map_.count(key), std::string("nd kernel registered twice: ") +
                                    domain + "::" + opType);
  map_[key] = fn;
}

KernelFn Registry::find(std::string_view domain, std::string_view opType) const {
  std::string d(domain);
  if (d == "ai.onnx")
    d.clear();
  auto it = map_.find(std::make_pair(d, std::string(opType)));
  return it == map_.end() ? nullptr : it->second;
}

std::vector<KernelInfo> Registry::all() const {
  std::vector<KernelInfo> out;
  for (auto &[k, fn] : map_)
    out.push_back({k.first, k.second});
  return out;
}

static const Registry &registry() {
  static const Registry r = [] {
    Registry reg;
    registerElementwiseKernels(reg);
    registerReduceKernels(reg);
    registerShapeKernels(reg);
    registerNnKernels(reg);
    return reg;
  }();
  return r;
}

KernelFn findKernel(std::string_view domain, std::string_view opType) {
  return registry().find(domain, opType);
}

std::vector<KernelInfo> registeredKernels() { return registry().all(); }

} // namespace ingot::nd
