// Pure decisions of the CUDA executor, separated so they are unit-tested
// without a device: which module image of the plan to load for a device
// (docs/dev/cuda-abi.md, "Image choice at load"), the CUDA-graph batch-size
// buckets, and how many KV blocks fit in device memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ingot {
namespace cuda {

struct ModuleImage {
  std::string arch;   // "sm_80", "sm_90a", "compute_90"
  std::string format; // "cubin", "ptx", "cuda-source"
};

struct ImageChoice {
  size_t index = 0;   // into the image list
  std::string why;    // "cubin sm_90a (exact match)", "ptx compute_80 (driver JIT)"
};

// Parses "sm_90a" / "compute_80" into (9, 0, arch-specific) etc.; false when
// the string is not of that form.
bool parseArch(const std::string &arch, int *major, int *minor, bool *specific);

// Chooses among `images` for a device of compute capability major.minor:
// an exact cubin (the arch-specific "a" cubin first), else the cubin of the
// same major with the highest minor <= the device's (arch-specific cubins
// only run on their exact arch), else the PTX with the highest compute
// capability <= the device's. Throws ingot::Error naming the device's arch,
// what the plan has and its `targets` when nothing fits.
ImageChoice chooseImage(const std::vector<ModuleImage> &images, int major, int minor,
                        const std::vector<std::string> &targets);

// Batch-size buckets for captured decode graphs: 1, 2, 4, ... while below
// `maxSeqs`, then `maxSeqs` itself (so every batch size has a bucket).
std::vector<int> graphBuckets(int64_t maxSeqs);
// The smallest bucket >= n, or -1 when n exceeds them all.
int bucketFor(const std::vector<int> &buckets, int64_t n);

// KV blocks that fit in `freeBytes` * `fraction` after the weights, the
// activation arena and the scratch the executor also needs. Throws
// ingot::Error (with the figures) when not even `minBlocks` fit.
struct KvBudget {
  size_t freeBytes = 0;
  double fraction = 0.9;
  size_t weightBytes = 0;
  size_t arenaBytes = 0;
  size_t scratchBytes = 0;
  size_t blockBytes = 0; // one block, every layer, K and V
  int64_t minBlocks = 1;
};
int64_t kvBlocksThatFit(const KvBudget &b);

std::string formatBytes(size_t bytes); // "1.50 GiB", "12.0 MiB", "512 B"

} // namespace cuda
} // namespace ingot
