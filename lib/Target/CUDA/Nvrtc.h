// Nvrtc.h: compile CUDA C++ kernel sources to CUBIN (per arch) and PTX with
// NVRTC at compile time (ingotc / ingot-nvrtc), behind a content-hash cache.
//
// Invariants:
// - This header has no CUDA includes: callers (and the runtime, which must not
//   depend on CUDA) see only std types. Only Nvrtc.cpp includes nvrtc.h.
// - A CompiledKernel's (arch, format, data) maps 1:1 onto plan.fbs `Kernel`:
//   format "cubin" with arch "sm_XX[a|f]", or format "ptx" with arch
//   "compute_XX" (plain, never the arch-specific a/f variant, because only
//   plain PTX is forward-compatible with newer GPUs).
// - The cache never changes results: an entry is used only when its key
//   (XXH3-128 of source, name, arch, options, NVRTC version) and its payload
//   checksum both match; anything else is recompiled and rewritten.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ingot::cuda {

struct CompiledKernel {
  std::string arch;          // "sm_90a" for cubin, "compute_90" for ptx
  std::string format;        // "cubin" | "ptx"
  std::vector<uint8_t> data; // ELF image or NUL-free PTX text
  // Not part of the plan: how this result was obtained (for reports/tests).
  bool fromCache = false;
  double millis = 0;         // wall time of the compile or the cache read
};

struct NvrtcOptions {
  bool useCache = true;
  // Empty: $INGOT_CACHE_DIR, else $XDG_CACHE_HOME/ingot/nvrtc, else
  // ~/.cache/ingot/nvrtc (see defaultCacheDir()).
  std::string cacheDir;
  // Headers the source may #include by name (e.g. "common.cuh" -> its
  // text), handed to NVRTC in memory and part of the cache key, so a
  // changed header never hits a stale entry.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Compiles `source` (program name `name`, used in NVRTC's log and the line
// info) to one CUBIN per entry of `archs` ("sm_80", "sm_90", "sm_90a", ...)
// and, when `withPtx`, one PTX for the highest plain compute arch. Appends to
// `out`. On failure returns false and sets `error` to a message naming the
// kernel, the arch and NVRTC's full log; `out` then holds nothing new.
bool compileCuda(const std::string &source, const std::string &name,
                 const std::vector<std::string> &archs, bool withPtx,
                 std::vector<CompiledKernel> &out, std::string &error);
bool compileCuda(const std::string &source, const std::string &name,
                 const std::vector<std::string> &archs, bool withPtx,
                 std::vector<CompiledKernel> &out, std::string &error,
                 const NvrtcOptions &opts);

// "13.0": the linked NVRTC's version (part of every cache key).
std::string nvrtcVersionString();
// The "sm_XX" archs this NVRTC can target (from nvrtcGetSupportedArchs).
std::vector<std::string> supportedArchs();
// Checks "sm_<N>[a|f]" against supportedArchs(); false with a message if not.
bool checkArch(const std::string &arch, std::string &error);
// The cache directory compileCuda uses when NvrtcOptions::cacheDir is empty.
std::string defaultCacheDir();
// The NVRTC options used for every compile except -arch (part of the key).
std::vector<std::string> baseOptions();

} // namespace ingot::cuda
