// ingot-nvrtc: compile CUDA C++ kernel files to CUBIN (per arch) and PTX with
// NVRTC, through the same content-hash cache ingotc uses, and report sizes,
// timings and cache hits per kernel.
//
//   ingot-nvrtc FILE.cu... --arch sm_80,sm_90,sm_90a [--ptx] [-o DIR] [--no-cache] [-I DIR]
//
// Exit status: 0 when every file compiled; 1 on any error (an unknown arch,
// an unreadable file, or a compile error, printed with NVRTC's log).
#include "Nvrtc.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;
using ingot::cuda::CompiledKernel;

int main(int argc, char **argv) {
  CLI::App app{"Compile CUDA C++ kernels to CUBIN/PTX with NVRTC"};
  std::vector<std::string> files, archs;
  bool ptx = false, noCache = false;
  std::string outDir;
  std::vector<std::string> includeDirs;
  app.add_option("-I", includeDirs, "directory whose .cuh/.h files kernels may #include by name")
      ->check(CLI::ExistingDirectory);
  app.add_option("files", files, "CUDA C++ source files")->required()->check(CLI::ExistingFile);
  app.add_option("--arch", archs, "target archs, comma-separated (sm_80,sm_90,sm_90a)")
      ->delimiter(',')->required();
  app.add_flag("--ptx", ptx, "also emit PTX for the highest plain compute arch");
  app.add_option("-o", outDir, "write <file>.<arch>.cubin / .ptx into this directory");
  app.add_flag("--no-cache", noCache, "neither read nor write the NVRTC cache");
  CLI11_PARSE(app, argc, argv);

  for (const auto &a : archs) {
    std::string err;
    if (!ingot::cuda::checkArch(a, err)) {
      std::cerr << "ingot-nvrtc: " << err << "\n";
      return 1;
    }
  }
  ingot::cuda::NvrtcOptions opts;
  opts.useCache = !noCache;
  // Headers go to NVRTC in memory (and into the cache key).
  for (const auto &dir : includeDirs)
    for (const auto &e : fs::directory_iterator(dir)) {
      auto ext = e.path().extension().string();
      if (ext != ".cuh" && ext != ".h")
        continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      opts.headers.push_back({e.path().filename().string(), ss.str()});
    }
  if (!outDir.empty()) {
    std::error_code ec;
    fs::create_directories(outDir, ec);
    if (ec) {
      std::cerr << "ingot-nvrtc: cannot create '" << outDir << "': " << ec.message() << "\n";
      return 1;
    }
  }
  std::printf("NVRTC %s, cache: %s\n", ingot::cuda::nvrtcVersionString().c_str(),
              noCache ? "off" : ingot::cuda::defaultCacheDir().c_str());
  int hits = 0, compiled = 0;
  double total = 0;
  for (const auto &file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      std::cerr << "ingot-nvrtc: cannot read '" << file << "'\n";
      return 1;
    }
    std::string name = fs::path(file).filename().string();
    std::vector<CompiledKernel> out;
    std::string err;
    if (!ingot::cuda::compileCuda(ss.str(), name, archs, ptx, out, err, opts)) {
      std::cerr << "ingot-nvrtc: " << file << ": " << err << "\n";
      return 1;
    }
    std::printf("%s\n", file.c_str());
    for (const auto &k : out) {
      std::printf("  %-11s %-5s %9zu bytes %9.2f ms  %s\n", k.arch.c_str(), k.format.c_str(),
                  k.data.size(), k.millis, k.fromCache ? "cache hit" : "compiled");
      (k.fromCache ? hits : compiled)++;
      total += k.millis;
      if (!outDir.empty()) {
        fs::path p = fs::path(outDir) / (fs::path(file).stem().string() + "." + k.arch + "." + k.format);
        std::ofstream o(p, std::ios::binary | std::ios::trunc);
        o.write(reinterpret_cast<const char *>(k.data.data()), (std::streamsize)k.data.size());
        if (!o) {
          std::cerr << "ingot-nvrtc: cannot write '" << p.string() << "'\n";
          return 1;
        }
      }
    }
  }
  std::printf("total: %d compiled, %d cache hits, %.2f ms\n", compiled, hits, total);
  return 0;
}
