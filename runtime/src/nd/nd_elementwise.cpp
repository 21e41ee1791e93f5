// N-d kernels: see nd_internal.h for this group's ops.
#include "nd_internal.h"
#include "ingot/runtime/error.h"

namespace ingot::nd {

void registerElementwiseKernels(Registry &r) {}

} // namespace ingot::nd
