// Image choice, graph buckets and KV sizing for the CUDA executor (cuda_plan.h).
#include "cuda_plan.h"
#include "ingot/runtime/error.h"

#include <cctype>
#include <cstdio>

namespace ingot {
namespace cuda {

bool parseArch(const std::string &arch, int *major, int *minor, bool *specific) {
  std::string digits;
  size_t i;
  if (arch.rfind("sm_", 0) == 0)
    i = 3;
  else if (arch.rfind("compute_", 0) == 0)
    i = 8;
  else
    return false;
  while (i < arch.size() && std::isdigit(static_cast<unsigned char>(arch[i])))
    digits += arch[i++];
  const std::string suffix = arch.substr(i);
  if (digits.size() < 2 || digits.size() > 3 || !(suffix.empty() || suffix == "a" || suffix == "f"))
    return false;
  *major = std::stoi(digits.substr(0, digits.size() - 1));
  *minor = digits.back() - '0';
  *specific = suffix == "a";
  return true;
}

ImageChoice chooseImage(const std::vector<ModuleImage> &images, int major, int minor,
                        const std::vector<std::string> &targets) {
  const std::string dev = "sm_" + std::to_string(major) + std::to_string(minor);
  long exact = -1, exactSpecific = -1, sameMajor = -1, ptx = -1;
  int sameMajorMinor = -1, ptxCc = -1;
  std::string have;
  for (size_t i = 0; i < images.size(); ++i) {
    const ModuleImage &im = images[i];
    if (im.format != "cubin" && im.format != "ptx")
      continue;
    have += (have.empty() ? "" : ", ") + im.format + " " + im.arch;
    int ma, mi;
    bool spec;
    if (!parseArch(im.arch, &ma, &mi, &spec))
      continue;
    if (im.format == "cubin") {
      if (ma == major && mi == minor) {
        if (spec && exactSpecific < 0)
          exactSpecific = long(i);
        else if (!spec && exact < 0)
          exact = long(i);
      } else if (ma == major && mi < minor && !spec && mi > sameMajorMinor) {
        sameMajor = long(i);
        sameMajorMinor = mi;
      }
    } else {
      const int cc = ma * 10 + mi;
      if (cc <= major * 10 + minor && cc > ptxCc) {
        ptx = long(i);
        ptxCc = cc;
      }
    }
  }
  ImageChoice c;
  if (exactSpecific >= 0) {
    c.index = size_t(exactSpecific);
    c.why = "cubin " + images[c.index].arch + " (exact match for " + dev + ")";
  } else if (exact >= 0) {
    c.index = size_t(exact);
    c.why = "cubin " + images[c.index].arch + " (exact match for " + dev + ")";
  } else if (sameMajor >= 0) {
    c.index = size_t(sameMajor);
    c.why = "cubin " + images[c.index].arch + " (runs on " + dev + ": same major, lower minor)";
  } else if (ptx >= 0) {
    c.index = size_t(ptx);
    c.why = "ptx " + images[c.index].arch + " (JIT-compiled by the driver for " + dev + ")";
  } else {
    std::string t;
    for (const std::string &s : targets)
      t += (t.empty() ? "" : ",") + s;
    throw Error("the plan has no CUDA image that runs on this " + dev + " device (plan targets: " +
                (t.empty() ? std::string("none recorded") : t) + "; images: " +
                (have.empty() ? std::string("none") : have) + "); recompile with ingotc --target " +
                dev);
  }
  return c;
}

std::vector<int> graphBuckets(int64_t maxSeqs) {
  std::vector<int> b;
  for (int64_t n = 1; n < maxSeqs && n <= (int64_t(1) << 20); n *= 2)
    b.push_back(int(n));
  if (maxSeqs >= 1)
    b.push_back(int(maxSeqs));
  return b;
}

int bucketFor(const std::vector<int> &buckets, int64_t n) {
  for (int b : buckets)
    if (b >= n)
      return b;
  return -1;
}

std::string formatBytes(size_t bytes) {
  char buf[64];
  if (bytes >= (size_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  else if (bytes >= (size_t(1) << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(size_t(1) << 20));
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  return buf;
}

int64_t kvBlocksThatFit(const KvBudget &b) {
  INGOT_CHECK(b.fraction > 0.0 && b.fraction <= 1.0,
              "--gpu-memory-fraction must be in (0, 1], got " + std::to_string(b.fraction));
  INGOT_CHECK(b.blockBytes > 0, "KV cache: a block has no bytes");
  const double usable = double(b.freeBytes) * b.fraction;
  const double fixed = double(b.weightBytes) + double(b.arenaBytes) + double(b.scratchBytes);
  const double left = usable - fixed;
  const int64_t blocks = left > 0 ? int64_t(left / double(b.blockBytes)) : 0;
  INGOT_CHECK(blocks >= b.minBlocks,
              "device memory too small: " + formatBytes(b.freeBytes) + " free x " +
                  std::to_string(b.fraction) + " = " + formatBytes(size_t(usable)) +
                  ", weights " + formatBytes(b.weightBytes) + ", activations " +
                  formatBytes(b.arenaBytes) + ", scratch " + formatBytes(b.scratchBytes) +
                  " leave room for " + std::to_string(blocks) + " KV blocks of " +
                  formatBytes(b.blockBytes) + ", " + std::to_string(b.minBlocks) +
                  " needed (raise --gpu-memory-fraction or lower max_tokens)");
  return blocks;
}

} // namespace cuda
} // namespace ingot
