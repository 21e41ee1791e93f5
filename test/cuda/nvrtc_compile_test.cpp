// nvrtc_compile_test: ctest `nvrtc_compile`. Compiles every kernel source
// (runtime/cuda/kernels/*.cuh when that directory exists, plus
// test/cuda/Inputs/row_reduce.cu) for sm_80, sm_90, sm_90a and PTX with
// ingot::cuda::compileCuda, and checks the results against what the CUDA ELF
// and PTX formats say independently of our code (ELF magic, EM_CUDA, the SM
// number in e_flags, the PTX .target line), then the cache's contract: hits
// return the same bytes as an uncached compile, corrupt or truncated entries
// are recompiled and rewritten, and errors carry the name, arch and NVRTC log.
#include "Nvrtc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using ingot::cuda::CompiledKernel;
using ingot::cuda::NvrtcOptions;

namespace {

const std::vector<std::string> kArchs = {"sm_80", "sm_90", "sm_90a"};

std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> kernelFiles() {
  std::vector<fs::path> files;
  fs::path dir = fs::path(INGOT_SOURCE_DIR) / "runtime/cuda/kernels";
  if (fs::is_directory(dir))
    for (const auto &e : fs::directory_iterator(dir))
      if (e.path().extension() == ".cuh")
        files.push_back(e.path());
  std::sort(files.begin(), files.end());
  files.push_back(fs::path(INGOT_SOURCE_DIR) / "test/cuda/Inputs/row_reduce.cu");
  return files;
}

// Every file a kernel may #include by name: *.cuh and *.h beside them.
std::vector<fs::path> kernelHeaders() {
  std::vector<fs::path> files;
  fs::path dir = fs::path(INGOT_SOURCE_DIR) / "runtime/cuda/kernels";
  if (fs::is_directory(dir))
    for (const auto &e : fs::directory_iterator(dir))
      if (e.path().extension() == ".cuh" || e.path().extension() == ".h")
        files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// A fresh, per-test cache directory under the build tree.
fs::path freshCacheDir(const std::string &tag) {
  fs::path d = fs::path(INGOT_TEST_TMP) / ("nvrtc-cache-" + tag);
  fs::remove_all(d);
  return d;
}

uint16_t le16(const std::vector<uint8_t> &d, size_t o) { return d[o] | d[o + 1] << 8; }
uint32_t le32(const std::vector<uint8_t> &d, size_t o) {
  return d[o] | d[o + 1] << 8 | d[o + 2] << 16 | (uint32_t)d[o + 3] << 24;
}
bool contains(const std::vector<uint8_t> &d, const std::string &s) {
  return std::search(d.begin(), d.end(), s.begin(), s.end()) != d.end();
}

// Checks a CUBIN for `arch` ("sm_90a") by the ELF header alone.
void expectCubin(const CompiledKernel &k, const std::string &arch) {
  ASSERT_EQ(k.format, "cubin");
  ASSERT_EQ(k.arch, arch);
  ASSERT_GT(k.data.size(), 64u);
  EXPECT_EQ(0, std::memcmp(k.data.data(), "\x7f" "ELF", 4));
  EXPECT_EQ(k.data[4], 2) << "64-bit ELF";
  EXPECT_EQ(le16(k.data, 18), 190) << "e_machine EM_CUDA";
  int sm = std::stoi(arch.substr(3));
  uint32_t flags = le32(k.data, 48);
  // ELF ABI version 8 (CUDA 12.8+) keeps the SM number in e_flags bits 8..15;
  // older ABIs in bits 0..7.
  int elfSm = k.data[8] >= 8 ? (flags >> 8) & 0xff : flags & 0xff;
  EXPECT_EQ(elfSm, sm) << arch << " e_flags " << std::hex << flags;
}

} // namespace

TEST(Nvrtc, CompilesEveryKernelForAllArchs) {
  for (const auto &file : kernelFiles()) {
    SCOPED_TRACE(file.string());
    std::vector<CompiledKernel> out;
    std::string err;
    NvrtcOptions opts;
    opts.useCache = false;
    // The kernel files include each other by name (common.cuh, *_abi.h).
    for (const auto &h : kernelHeaders())
      opts.headers.push_back({h.filename().string(), readFile(h)});
    // Family files define their entry points through INGOT_DEFINE_* macros;
    // INGOT_KERNELS_INSTANTIATE_ALL makes each instantiate a representative
    // set (docs/dev/cuda-abi.md).
    const std::string src = "#define INGOT_KERNELS_INSTANTIATE_ALL 1\n" + readFile(file);
    ASSERT_TRUE(ingot::cuda::compileCuda(src, file.filename().string(), kArchs,
                                         /*withPtx=*/true, out, err, opts))
        << err;
    ASSERT_EQ(out.size(), 4u);
    for (size_t i = 0; i < 3; ++i) {
      expectCubin(out[i], kArchs[i]);
      EXPECT_FALSE(out[i].fromCache);
    }
    EXPECT_EQ(out[3].format, "ptx");
    EXPECT_EQ(out[3].arch, "compute_90");
    std::string ptx(out[3].data.begin(), out[3].data.end());
    EXPECT_NE(ptx.find("\n.target sm_90\n"), std::string::npos) << ptx.substr(0, 400);
    EXPECT_EQ(ptx.find('\0'), std::string::npos);
  }
}

TEST(Nvrtc, Sm90aIsTheArchSpecificTarget) {
  std::string src = readFile(fs::path(INGOT_SOURCE_DIR) / "test/cuda/Inputs/row_reduce.cu");
  std::vector<CompiledKernel> out;
  std::string err;
  NvrtcOptions opts;
  opts.useCache = false;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", kArchs, false, out, err, opts)) << err;
  ASSERT_EQ(out.size(), 3u);
  for (const auto &k : out) {
    EXPECT_TRUE(contains(k.data, "row_sum_f32")) << k.arch;
    EXPECT_EQ(contains(k.data, "only_on_sm90a"), k.arch == "sm_90a") << k.arch;
  }
}

TEST(Nvrtc, CacheHitsReturnTheUncachedBytes) {
  std::string src = readFile(fs::path(INGOT_SOURCE_DIR) / "test/cuda/Inputs/row_reduce.cu");
  NvrtcOptions off;
  off.useCache = false;
  NvrtcOptions on;
  on.cacheDir = freshCacheDir("hits").string();
  std::vector<CompiledKernel> ref, first, second;
  std::string err;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", kArchs, true, ref, err, off)) << err;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", kArchs, true, first, err, on)) << err;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", kArchs, true, second, err, on)) << err;
  ASSERT_EQ(second.size(), ref.size());
  size_t entries = std::distance(fs::directory_iterator(on.cacheDir), fs::directory_iterator());
  EXPECT_EQ(entries, ref.size()) << "one entry per (arch, format), no temporaries left";
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_FALSE(first[i].fromCache);
    EXPECT_TRUE(second[i].fromCache);
    EXPECT_EQ(first[i].data, ref[i].data);
    EXPECT_EQ(second[i].data, ref[i].data);
    EXPECT_EQ(second[i].arch, ref[i].arch);
    EXPECT_EQ(second[i].format, ref[i].format);
  }
  // A changed source (one more space) or name is a different key: a miss.
  std::vector<CompiledKernel> changed;
  ASSERT_TRUE(ingot::cuda::compileCuda(src + " ", "row_reduce.cu", {"sm_80"}, false, changed, err, on));
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "other.cu", {"sm_80"}, false, changed, err, on));
  EXPECT_FALSE(changed[0].fromCache);
  EXPECT_FALSE(changed[1].fromCache);
}

TEST(Nvrtc, CorruptEntriesAreRecompiledAndRewritten) {
  std::string src = readFile(fs::path(INGOT_SOURCE_DIR) / "test/cuda/Inputs/row_reduce.cu");
  NvrtcOptions on;
  on.cacheDir = freshCacheDir("corrupt").string();
  std::vector<CompiledKernel> ref;
  std::string err;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", {"sm_80", "sm_90"}, false, ref, err, on));
  std::vector<fs::path> entries;
  for (const auto &e : fs::directory_iterator(on.cacheDir))
    entries.push_back(e.path());
  ASSERT_EQ(entries.size(), 2u);
  // One entry gets a flipped payload byte, the other is truncated.
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string bytes = readFile(entries[i]);
    if (i == 0)
      bytes[bytes.size() / 2] ^= 0x5a;
    else
      bytes.resize(bytes.size() / 3);
    std::ofstream(entries[i], std::ios::binary | std::ios::trunc) << bytes;
  }
  std::vector<CompiledKernel> again, third;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", {"sm_80", "sm_90"}, false, again, err, on));
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "row_reduce.cu", {"sm_80", "sm_90"}, false, third, err, on));
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(again[i].fromCache) << "corrupt entry must not be used";
    EXPECT_EQ(again[i].data, ref[i].data);
    EXPECT_TRUE(third[i].fromCache) << "entry must have been rewritten";
    EXPECT_EQ(third[i].data, ref[i].data);
  }
}

TEST(Nvrtc, ErrorsNameKernelArchAndLog) {
  std::vector<CompiledKernel> out;
  std::string err;
  NvrtcOptions off;
  off.useCache = false;
  EXPECT_FALSE(ingot::cuda::compileCuda("extern \"C\" __global__ void k(float *y) {\n  y[0] = undefined_thing;\n}\n",
                                        "bad.cu", {"sm_90"}, false, out, err, off));
  EXPECT_TRUE(out.empty());
  EXPECT_NE(err.find("'bad.cu'"), std::string::npos) << err;
  EXPECT_NE(err.find("sm_90"), std::string::npos) << err;
  EXPECT_NE(err.find("bad.cu(2): error"), std::string::npos) << err;
  EXPECT_NE(err.find("undefined_thing"), std::string::npos) << err;

  err.clear();
  EXPECT_FALSE(ingot::cuda::compileCuda("", "x.cu", {"sm_70"}, false, out, err, off));
  EXPECT_NE(err.find("sm_70"), std::string::npos) << err;
  EXPECT_FALSE(ingot::cuda::compileCuda("", "x.cu", {"gfx90a"}, false, out, err, off));
  EXPECT_FALSE(ingot::cuda::compileCuda("", "x.cu", {}, false, out, err, off));
  EXPECT_TRUE(out.empty());
}

// A changed #included header must not hit the entry compiled with the old one.
TEST(Nvrtc, HeaderChangeMissesTheCache) {
  fs::path dir = fs::path(testing::TempDir()) / "ingot-nvrtc-header-cache";
  fs::remove_all(dir);
  NvrtcOptions opts;
  opts.cacheDir = dir.string();
  const std::string src = "#include \"k.cuh\"\nextern \"C\" __global__ void f(float *x) { x[0] = K; }\n";
  std::vector<CompiledKernel> a, b, c;
  std::string err;
  opts.headers = {{"k.cuh", "#define K 1.0f\n"}};
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "h.cu", {"sm_80"}, false, a, err, opts)) << err;
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "h.cu", {"sm_80"}, false, b, err, opts)) << err;
  EXPECT_TRUE(b[0].fromCache);
  opts.headers = {{"k.cuh", "#define K 2.0f\n"}};
  ASSERT_TRUE(ingot::cuda::compileCuda(src, "h.cu", {"sm_80"}, false, c, err, opts)) << err;
  EXPECT_FALSE(c[0].fromCache);
  EXPECT_NE(a[0].data, c[0].data);
  fs::remove_all(dir);
}
