// The scheduler behind cuda_emu.h: CUDA threads as ucontext fibers inside a
// block, blocks on a few OS threads. See the header for the model and the
// misuse it reports.
//
// Why ucontext: it is in glibc (no extra dependency) and is correct with
// exceptions kept inside each fiber; it costs a sigprocmask system call per
// switch, acceptable for unit-test shapes. Exceptions never cross a context
// switch: fiberMain catches everything and the scheduler rethrows.
// A failed block's fibers are abandoned mid-kernel (their stacks are unmapped
// without unwinding), so kernels must not own resources: plain device code.
#include "cuda_emu.h"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

namespace ingot {
namespace cudaemu {
namespace detail {
namespace {

enum class FState { Ready, Barrier, Shuffle, Done };

struct Fiber {
  ucontext_t ctx;
  uint3 tid{};
  int linear = 0, warp = 0, lane = 0;
  FState state = FState::Ready;
  const char *file = nullptr; // where it waits
  int line = 0;
};

struct Warp {
  int size = 0;
  int arrived = 0;
  const char *file = nullptr;
  int line = 0;
  uint64_t vals[32];
  int src[32];
  uint64_t results[32];
};

std::string where(const char *file, int line) {
  std::string f = file ? file : "?";
  const size_t s = f.rfind('/');
  if (s != std::string::npos)
    f = f.substr(s + 1);
  return f + ":" + std::to_string(line);
}
std::string str(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

// One OS thread's block executor: stacks, arena and fibers are reused for
// every block this worker runs in a launch.
struct Block {
  LaunchOptions opt;
  dim3 grid, dim;
  uint3 bid{};
  size_t dynBytes = 0;
  const std::function<void()> *body = nullptr;

  int nthreads = 0;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  char *stacks = nullptr;
  size_t stackStride = 0, mapBytes = 0;
  std::unique_ptr<float4[]> arena; // 16-byte aligned
  size_t arenaBytes = 0, arenaUsed = 0;
  std::map<const void *, size_t> statics;

  int barrierArrived = 0;
  const char *barrierFile = nullptr;
  int barrierLine = 0;
  ucontext_t sched;
  Fiber *cur = nullptr;
  std::exception_ptr error;

  std::string name() const { return "block " + str(bid); }
  [[noreturn]] void fail(const std::string &msg) const {
    throw Error("cuda emulation: " + name() + ", thread " + str(cur->tid) + ": " + msg);
  }
  void yield() { swapcontext(&cur->ctx, &sched); }

  ~Block() {
    if (stacks)
      munmap(stacks, mapBytes);
  }
};

thread_local Block *tlBlock = nullptr;

Block &block() {
  if (!tlBlock || !tlBlock->cur)
    throw Error("cuda emulation: device intrinsic called outside a kernel launch");
  return *tlBlock;
}

void fiberMain() {
  Block &b = *tlBlock;
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error)
      b.error = std::current_exception();
  }
  b.cur->state = FState::Done;
  // Returning resumes uc_link, the scheduler.
}

void setup(Block &b) {
  b.nthreads = int(b.dim.x * b.dim.y * b.dim.z);
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  b.stackStride = (b.opt.stackBytes + page - 1) / page * page + page; // + guard page
  b.mapBytes = b.stackStride * size_t(b.nthreads);
  void *m = mmap(nullptr, b.mapBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    throw Error("cuda emulation: cannot map fiber stacks (" + std::to_string(b.mapBytes) +
                " bytes)");
  b.stacks = static_cast<char *>(m);
  for (int t = 0; t < b.nthreads; ++t)
    mprotect(b.stacks + size_t(t) * b.stackStride, page, PROT_NONE); // stacks grow down
  b.fibers.resize(size_t(b.nthreads));
  const int nwarps = (b.nthreads + 31) / 32;
  b.warps.resize(size_t(nwarps));
  for (int w = 0; w < nwarps; ++w)
    b.warps[size_t(w)].size = std::min(32, b.nthreads - 32 * w);
  b.arenaBytes = b.opt.sharedLimitBytes;
  b.arena.reset(new float4[(b.arenaBytes + 15) / 16 + 1]);
}

void runBlock(Block &b, uint3 bid) {
  b.bid = bid;
  b.barrierArrived = 0;
  b.error = nullptr;
  b.statics.clear();
  b.arenaUsed = (b.dynBytes + 15) / 16 * 16; // dynamic region first
  std::memset(b.arena.get(), 0xff, b.arenaBytes); // NaN poison
  for (auto &w : b.warps)
    w.arrived = 0;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (int t = 0; t < b.nthreads; ++t) {
    Fiber &f = b.fibers[size_t(t)];
    f.linear = t;
    f.tid = uint3{unsigned(t) % b.dim.x, unsigned(t) / b.dim.x % b.dim.y,
                  unsigned(t) / (b.dim.x * b.dim.y)};
    f.warp = t / 32;
    f.lane = t % 32;
    f.state = FState::Ready;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = b.stacks + size_t(t) * b.stackStride + page;
    f.ctx.uc_stack.ss_size = b.stackStride - page;
    f.ctx.uc_link = &b.sched;
    makecontext(&f.ctx, fiberMain, 0);
  }
  tlBlock = &b;
  for (;;) {
    bool ran = false, live = false;
    for (int k = 0; k < b.nthreads; ++k) {
      const int t = b.opt.order == FiberOrder::Forward ? k : b.nthreads - 1 - k;
      Fiber &f = b.fibers[size_t(t)];
      if (f.state != FState::Ready)
        continue;
      b.cur = &f;
      swapcontext(&b.sched, &f.ctx);
      b.cur = nullptr;
      ran = true;
      if (b.error) {
        tlBlock = nullptr;
        std::rethrow_exception(b.error);
      }
    }
    for (const Fiber &f : b.fibers)
      live = live || f.state != FState::Done;
    if (!live)
      break;
    if (!ran) {
      // Nobody can move: group the stuck threads by where they wait.
      std::map<std::string, std::pair<int, uint3>> groups;
      for (const Fiber &f : b.fibers) {
        std::string k = f.state == FState::Done      ? "exited"
                        : f.state == FState::Barrier ? "at __syncthreads " + where(f.file, f.line)
                                                     : "at a warp shuffle " + where(f.file, f.line);
        auto it = groups.emplace(k, std::make_pair(0, f.tid)).first;
        ++it->second.first;
      }
      std::string msg = "cuda emulation: deadlock in block " + str(bid) + " (" +
                        std::to_string(b.nthreads) + " threads):";
      for (auto &g : groups)
        msg += " " + std::to_string(g.second.first) + " " + g.first + " (first thread " +
               str(g.second.second) + ");";
      tlBlock = nullptr;
      throw Error(msg);
    }
  }
  tlBlock = nullptr;
}

void checkDims(dim3 grid, dim3 block, size_t dyn, const LaunchOptions &o) {
  const std::string cfg = "cuda emulation: launch grid " + str(uint3{grid.x, grid.y, grid.z}) +
                          " block " + str(uint3{block.x, block.y, block.z}) + ": ";
  if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
    throw Error(cfg + "zero dimension");
  if (uint64_t(block.x) * block.y * block.z > 1024 || block.z > 64)
    throw Error(cfg + "more than 1024 threads per block (or blockDim.z > 64)");
  if (grid.y > 65535 || grid.z > 65535)
    throw Error(cfg + "gridDim.y/z above 65535");
  if (dyn > o.sharedLimitBytes)
    throw Error(cfg + "shared memory overflow: " + std::to_string(dyn) +
                " dynamic bytes exceed the per-block limit of " +
                std::to_string(o.sharedLimitBytes));
}

} // namespace

const uint3 &threadIdxRef() { return block().cur->tid; }
const uint3 &blockIdxRef() { return block().bid; }
const dim3 &blockDimRef() { return block().dim; }
const dim3 &gridDimRef() { return block().grid; }
int laneId() { return block().cur->lane; }

void syncthreads(const char *file, int line) {
  Block &b = block();
  if (b.barrierArrived == 0) {
    b.barrierFile = file;
    b.barrierLine = line;
  } else if (line != b.barrierLine || std::strcmp(file, b.barrierFile) != 0) {
    b.fail("divergent __syncthreads: this thread is at " + where(file, line) +
           " while others wait at " + where(b.barrierFile, b.barrierLine));
  }
  if (++b.barrierArrived == b.nthreads) {
    b.barrierArrived = 0;
    for (Fiber &f : b.fibers)
      if (f.state == FState::Barrier)
        f.state = FState::Ready;
    return;
  }
  b.cur->state = FState::Barrier;
  b.cur->file = file;
  b.cur->line = line;
  b.yield();
}

uint64_t shuffle(const char *file, int line, unsigned mask, uint64_t value, int srcLane) {
  Block &b = block();
  Fiber &me = *b.cur;
  Warp &w = b.warps[size_t(me.warp)];
  const unsigned full = w.size == 32 ? 0xffffffffu : (1u << w.size) - 1u;
  if (mask != full)
    b.fail("warp shuffle/__syncwarp at " + where(file, line) + " with mask 0x" +
           [&] {
             char s[16];
             snprintf(s, sizeof s, "%08x", mask);
             return std::string(s);
           }() +
           ": only the full mask of the warp's " + std::to_string(w.size) +
           " existing lanes is emulated");
  if (w.arrived == 0) {
    w.file = file;
    w.line = line;
  } else if (line != w.line || std::strcmp(file, w.file) != 0) {
    b.fail("divergent warp shuffle: lane " + std::to_string(me.lane) + " at " +
           where(file, line) + " while its warp waits at " + where(w.file, w.line));
  }
  w.vals[me.lane] = value;
  w.src[me.lane] = srcLane;
  if (++w.arrived == w.size) {
    for (int l = 0; l < w.size; ++l) {
      const int s = w.src[l];
      w.results[l] = s >= 0 && s < w.size ? w.vals[s] : ~uint64_t(0);
    }
    w.arrived = 0;
    for (int l = 0; l < w.size; ++l) {
      Fiber &f = b.fibers[size_t(me.warp * 32 + l)];
      if (f.state == FState::Shuffle)
        f.state = FState::Ready;
    }
    return w.results[me.lane];
  }
  me.state = FState::Shuffle;
  me.file = file;
  me.line = line;
  b.yield();
  return w.results[me.lane];
}

void *sharedArray(const void *tag, size_t bytes, const char *name, const char *file, int line) {
  Block &b = block();
  auto it = b.statics.find(tag);
  if (it != b.statics.end())
    return reinterpret_cast<char *>(b.arena.get()) + it->second;
  const size_t off = (b.arenaUsed + 15) / 16 * 16;
  if (off + bytes > b.arenaBytes)
    b.fail("shared memory overflow: " + std::string(name) + " at " + where(file, line) +
           " needs " + std::to_string(bytes) + " bytes with " + std::to_string(off) +
           " already used (dynamic " + std::to_string(b.dynBytes) + "), limit " +
           std::to_string(b.arenaBytes));
  b.arenaUsed = off + bytes;
  b.statics.emplace(tag, off);
  return reinterpret_cast<char *>(b.arena.get()) + off;
}

void *dynamicShared() { return block().arena.get(); }

void launchBody(const LaunchOptions &o, dim3 grid, dim3 dim, size_t dyn,
                const std::function<void()> &body) {
  checkDims(grid, dim, dyn, o);
  if (tlBlock)
    throw Error("cuda emulation: kernel launch from inside a kernel is not supported");
  const uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t nw = std::min<uint64_t>(nblocks, o.workers > 0 ? unsigned(o.workers) : hw);
  std::vector<std::exception_ptr> errors(nw);
  std::vector<uint64_t> errBlock(nw, UINT64_MAX);
  auto work = [&](uint64_t w) {
    try {
      Block b;
      b.opt = o;
      b.grid = grid;
      b.dim = dim;
      b.dynBytes = dyn;
      b.body = &body;
      setup(b);
      for (uint64_t i = w; i < nblocks; i += nw) {
        const uint3 bid{unsigned(i % grid.x), unsigned(i / grid.x % grid.y),
                        unsigned(i / (uint64_t(grid.x) * grid.y))};
        try {
          runBlock(b, bid);
        } catch (...) {
          errors[w] = std::current_exception();
          errBlock[w] = i;
          return;
        }
      }
    } catch (...) {
      errors[w] = std::current_exception();
      errBlock[w] = 0;
    }
  };
  if (nw == 1) {
    work(0);
  } else {
    std::vector<std::thread> ts;
    for (uint64_t w = 0; w < nw; ++w)
      ts.emplace_back(work, w);
    for (auto &t : ts)
      t.join();
  }
  // Report the error of the lowest failing block, whatever the timing.
  size_t first = nw;
  for (size_t w = 0; w < nw; ++w)
    if (errors[w] && (first == nw || errBlock[w] < errBlock[first]))
      first = w;
  if (first != nw)
    std::rethrow_exception(errors[first]);
}

} // namespace detail

namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, RegisteredKernel> kernels;
};
Registry &registry() {
  static Registry r;
  return r;
}
} // namespace

bool registerKernel(const char *name, const RegisteredKernel &k) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.kernels.emplace(name, k);
  return true;
}

const RegisteredKernel *findKernel(const char *name) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.kernels.find(name);
  return it == r.kernels.end() ? nullptr : &it->second;
}

std::vector<std::string> registeredKernels() {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto &kv : r.kernels)
    names.push_back(kv.first);
  return names;
}

} // namespace cudaemu
} // namespace ingot
