// Nvrtc.cpp: NVRTC driver + content-hash cache behind compileCuda().
//
// Invariants:
// - One NVRTC program per (source, arch): CUBINs for each requested arch, and
//   PTX compiled for "compute_XX" (the highest requested arch with any a/f
//   suffix dropped, so that the driver can JIT it on newer GPUs).
// - Cache entries are files named <xxh3-128 hex>.<format> holding a header
//   (magic, payload size, payload XXH3-64) and the payload. They are written
//   to a unique temporary file and renamed into place, so concurrent compilers
//   never see half-written entries; an entry whose header or checksum does not
//   match is treated as a miss and overwritten.
// - Cache I/O errors never fail a compile: the cache is an optimisation.
#include "Nvrtc.h"

#include <nvrtc.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <unistd.h>

#ifndef INGOT_CUDA_INCLUDE_DIR
#define INGOT_CUDA_INCLUDE_DIR "/usr/local/cuda/include"
#endif

namespace fs = std::filesystem;

namespace ingot::cuda {
namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr char kMagic[8] = {'I', 'N', 'G', 'N', 'V', 'R', 'C', '1'};
struct EntryHeader {
  char magic[8];
  uint64_t size;
  uint64_t xxh3;
};

std::string hex128(XXH128_hash_t h) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)h.high64,
                (unsigned long long)h.low64);
  return buf;
}

// Key over everything that can change NVRTC's output. Fields are
// length-prefixed so that ("ab","c") and ("a","bc") differ.
std::string cacheKey(const std::string &source, const std::string &name,
                     const std::string &arch, const std::string &format,
                     const std::vector<std::string> &options,
                     const std::vector<std::pair<std::string, std::string>> &headers) {
  XXH3_state_t *st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](const std::string &s) {
    uint64_t n = s.size();
    XXH3_128bits_update(st, &n, sizeof n);
    XXH3_128bits_update(st, s.data(), s.size());
  };
  add("ingot-nvrtc-cache-v1");
  add(nvrtcVersionString());
  add(source);
  add(name);
  add(arch);
  add(format);
  for (const auto &o : options)
    add(o);
  for (const auto &[hname, htext] : headers) {
    add(hname);
    add(htext);
  }
  std::string key = hex128(XXH3_128bits_digest(st));
  XXH3_freeState(st);
  return key;
}

bool readEntry(const fs::path &path, std::vector<uint8_t> &data) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  EntryHeader h;
  if (!in.read(reinterpret_cast<char *>(&h), sizeof h) ||
      std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.size > (1ull << 32))
    return false;
  data.resize(h.size);
  if (!in.read(reinterpret_cast<char *>(data.data()), (std::streamsize)h.size) ||
      in.peek() != std::ifstream::traits_type::eof() ||
      XXH3_64bits(data.data(), data.size()) != h.xxh3) {
    data.clear();
    return false;
  }
  return true;
}

void writeEntry(const fs::path &path, const std::vector<uint8_t> &data) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  EntryHeader h;
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.size = data.size();
  h.xxh3 = XXH3_64bits(data.data(), data.size());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(&h), sizeof h);
    out.write(reinterpret_cast<const char *>(data.data()), (std::streamsize)data.size());
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, path, ec); // atomic on POSIX within one directory
  if (ec)
    fs::remove(tmp, ec);
}

std::string resultText(nvrtcResult r) { return nvrtcGetErrorString(r); }

// Compiles one program for one -arch; fills data with CUBIN or PTX.
bool compileOne(const std::string &source, const std::string &name,
                const std::string &arch, bool ptx,
                const std::vector<std::string> &options,
                const std::vector<std::pair<std::string, std::string>> &headers,
                std::vector<uint8_t> &data, std::string &error) {
  auto fail = [&](const std::string &what, const std::string &log) {
    error = "NVRTC: kernel '" + name + "' for " + arch + ": " + what;
    if (!log.empty())
      error += "\n" + log;
    return false;
  };
  nvrtcProgram prog;
  std::vector<const char *> hText, hNames;
  for (const auto &[hname, htext] : headers) {
    hNames.push_back(hname.c_str());
    hText.push_back(htext.c_str());
  }
  nvrtcResult r = nvrtcCreateProgram(&prog, source.c_str(), name.c_str(), int(headers.size()),
                                     hText.empty() ? nullptr : hText.data(),
                                     hNames.empty() ? nullptr : hNames.data());
  if (r != NVRTC_SUCCESS)
    return fail("nvrtcCreateProgram: " + resultText(r), "");
  std::vector<std::string> all = options;
  all.push_back("-arch=" + arch);
  std::vector<const char *> argv;
  for (const auto &o : all)
    argv.push_back(o.c_str());
  r = nvrtcCompileProgram(prog, (int)argv.size(), argv.data());
  std::string log;
  size_t logSize = 0;
  if (nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
    log.resize(logSize);
    nvrtcGetProgramLog(prog, log.data());
    log.resize(std::strlen(log.c_str()));
  }
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    return fail("compilation failed (" + resultText(r) + ")", log);
  }
  size_t size = 0;
  r = ptx ? nvrtcGetPTXSize(prog, &size) : nvrtcGetCUBINSize(prog, &size);
  if (r == NVRTC_SUCCESS) {
    data.resize(size);
    r = ptx ? nvrtcGetPTX(prog, reinterpret_cast<char *>(data.data()))
            : nvrtcGetCUBIN(prog, reinterpret_cast<char *>(data.data()));
  }
  nvrtcDestroyProgram(&prog);
  if (r != NVRTC_SUCCESS)
    return fail(std::string(ptx ? "nvrtcGetPTX" : "nvrtcGetCUBIN") + ": " +
                    resultText(r), log);
  if (ptx) // NVRTC counts the terminating NUL; the plan stores the text only.
    while (!data.empty() && data.back() == 0)
      data.pop_back();
  return true;
}

std::string envOr(const char *var) {
  const char *v = std::getenv(var);
  return v && *v ? v : "";
}

} // namespace

std::string nvrtcVersionString() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<std::string> supportedArchs() {
  int n = 0;
  std::vector<std::string> out;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0)
    return out;
  std::vector<int> archs(n);
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS)
    return out;
  for (int a : archs)
    out.push_back("sm_" + std::to_string(a));
  return out;
}

bool checkArch(const std::string &arch, std::string &error) {
  static const std::regex re("sm_([0-9]+)([af]?)");
  std::smatch m;
  auto archs = supportedArchs();
  if (std::regex_match(arch, m, re) &&
      std::find(archs.begin(), archs.end(), "sm_" + m[1].str()) != archs.end())
    return true;
  std::string list;
  for (const auto &a : archs)
    list += (list.empty() ? "" : " ") + a;
  error = "unknown or unsupported CUDA arch '" + arch + "' (NVRTC " +
          nvrtcVersionString() + " supports: " + list +
          ", optionally with an 'a' or 'f' suffix)";
  return false;
}

std::string defaultCacheDir() {
  if (auto d = envOr("INGOT_CACHE_DIR"); !d.empty())
    return d;
  if (auto d = envOr("XDG_CACHE_HOME"); !d.empty())
    return (fs::path(d) / "ingot" / "nvrtc").string();
  if (auto d = envOr("HOME"); !d.empty())
    return (fs::path(d) / ".cache" / "ingot" / "nvrtc").string();
  return "";
}

std::vector<std::string> baseOptions() {
  return {"--std=c++17", "-default-device", "-lineinfo",
          "--include-path=" INGOT_CUDA_INCLUDE_DIR,
          "--include-path=" INGOT_CUDA_INCLUDE_DIR "/cccl"};
}

bool compileCuda(const std::string &source, const std::string &name,
                 const std::vector<std::string> &archs, bool withPtx,
                 std::vector<CompiledKernel> &out, std::string &error) {
  return compileCuda(source, name, archs, withPtx, out, error, NvrtcOptions{});
}

bool compileCuda(const std::string &source, const std::string &name,
                 const std::vector<std::string> &archs, bool withPtx,
                 std::vector<CompiledKernel> &out, std::string &error,
                 const NvrtcOptions &opts) {
  if (archs.empty()) {
    error = "NVRTC: kernel '" + name + "': no target arch given";
    return false;
  }
  // Jobs: (target arch for -arch=, format). PTX: highest plain compute arch.
  std::vector<std::pair<std::string, std::string>> jobs;
  int ptxArch = -1;
  for (const auto &a : archs) {
    if (!checkArch(a, error)) {
      error = "NVRTC: kernel '" + name + "': " + error;
      return false;
    }
    jobs.push_back({a, "cubin"});
    ptxArch = std::max(ptxArch, std::atoi(a.c_str() + 3));
  }
  if (withPtx)
    jobs.push_back({"compute_" + std::to_string(ptxArch), "ptx"});

  const std::vector<std::string> options = baseOptions();
  std::string dir = opts.useCache
                        ? (opts.cacheDir.empty() ? defaultCacheDir() : opts.cacheDir)
                        : "";
  std::vector<CompiledKernel> results;
  for (const auto &[arch, format] : jobs) {
    CompiledKernel k;
    k.arch = arch;
    k.format = format;
    auto t0 = Clock::now();
    fs::path entry;
    if (!dir.empty()) {
      entry = fs::path(dir) /
              (cacheKey(source, name, arch, format, options, opts.headers) + "." + format);
      if (readEntry(entry, k.data)) {
        k.fromCache = true;
        k.millis = msSince(t0);
        results.push_back(std::move(k));
        continue;
      }
    }
    if (!compileOne(source, name, arch, format == "ptx", options, opts.headers, k.data, error))
      return false;
    k.millis = msSince(t0);
    if (!entry.empty())
      writeEntry(entry, k.data);
    results.push_back(std::move(k));
  }
  for (auto &k : results)
    out.push_back(std::move(k));
  return true;
}

} // namespace ingot::cuda
