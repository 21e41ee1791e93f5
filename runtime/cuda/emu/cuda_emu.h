// CPU emulation of the CUDA execution model (docs/cuda.md, "Emulation";
// DESIGN-NOTES note 7): lets the host C++ compiler build kernels written in
// the portable CUDA C++ subset of runtime/cuda/kernels/*.cuh, so CI runs the
// very kernel text that NVRTC compiles for the GPU.
//
// Execution model: each block runs its CUDA threads as fibers (ucontext) on
// one OS thread; a fiber switches only at __syncthreads, a warp shuffle or
// __syncwarp, so between those points a thread runs alone. Blocks are spread
// over a few OS threads (block b on worker b % W) and never migrate, which
// is what makes `thread_local` a valid per-block `__shared__`. Blocks are
// independent (no atomics), so results do not depend on W or timing.
//
// Invariants / checks (each throws ingot::Error from launch):
//  - every thread of a block must reach the same __syncthreads (same source
//    line); a thread that exits or waits elsewhere is reported as a deadlock
//    naming the lines where threads wait;
//  - shuffles take the full mask of the warp's existing lanes and all those
//    lanes must meet at the same shuffle;
//  - INGOT_SHARED_ARRAY / dynamic shared memory must fit the per-block limit
//    (48 KiB by default, like CUDA without opt-in); the arena is filled with
//    NaN bytes at each block start so reads before writes show.
// Raw `__shared__` declarations also work (thread_local: shared by a block's
// fibers) but are neither size-checked nor poisoned: kernels should use
// INGOT_SHARED_ARRAY.
#pragma once
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
#include <math.h>
#include <tuple>
#include <type_traits>
#include <utility>

#define INGOT_CUDA_EMU 1

namespace ingot {
namespace cudaemu {

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

// 16-bit float storage types with the conversions of cuda_bf16.h /
// cuda_fp16.h: float -> bf16/f16 rounds to nearest even, NaN stays NaN.
struct alignas(2) bf16 {
  unsigned short bits;
};
struct alignas(2) f16 {
  unsigned short bits;
};
inline float bf16ToFloat(bf16 h) {
  uint32_t u = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bf16 floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return bf16{static_cast<unsigned short>((u >> 16) | 0x40u)}; // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<unsigned short>(u >> 16)};
}
inline float f16ToFloat(f16 h) { return ::ingot::f16ToFloat(h.bits); }
inline f16 floatToF16(float f) { return f16{::ingot::floatToF16(f)}; }

// The order in which a block's ready fibers are resumed. Running a suite in
// both orders exposes a missing barrier (a read of a value another thread
// has not written yet reads NaN in one of them).
enum class FiberOrder { Forward, Reverse };

struct LaunchOptions {
  FiberOrder order = FiberOrder::Forward;
  size_t sharedLimitBytes = 48 * 1024; // static + dynamic, per block
  int workers = 0;                     // OS threads for blocks; 0: hardware
  size_t stackBytes = 128 * 1024;      // per CUDA thread, lazily committed
};

namespace detail {
const uint3 &threadIdxRef();
const uint3 &blockIdxRef();
const dim3 &blockDimRef();
const dim3 &gridDimRef();
void syncthreads(const char *file, int line);
// Deposits `value` for this lane, waits for the warp, returns the value of
// lane `srcLane` (or all-ones bits when srcLane names no lane).
uint64_t shuffle(const char *file, int line, unsigned mask, uint64_t value, int srcLane);
void *sharedArray(const void *tag, size_t bytes, const char *name, const char *file, int line);
void *dynamicShared();
int laneId();
void launchBody(const LaunchOptions &o, dim3 grid, dim3 block, size_t dynamicSharedBytes,
                const std::function<void()> &body);

template <class T> uint64_t toBits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "shuffles move values of at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T> T fromBits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
// CUDA's sub-warp segments: lanes [seg*width, (seg+1)*width).
inline int segBase(int lane, int width) { return lane / width * width; }

template <class T>
T shflSync(const char *f, int l, unsigned mask, T v, int src, int width = 32) {
  const int lane = laneId();
  return fromBits<T>(shuffle(f, l, mask, toBits(v), segBase(lane, width) + src % width));
}
template <class T>
T shflXorSync(const char *f, int l, unsigned mask, T v, int laneMask, int width = 32) {
  const int lane = laneId();
  int src = lane ^ laneMask;
  if (src >= segBase(lane, width) + width) // later segments: own value
    src = lane;
  return fromBits<T>(shuffle(f, l, mask, toBits(v), src));
}
template <class T>
T shflDownSync(const char *f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = laneId();
  const int src = (lane % width) + int(delta) >= width ? lane : lane + int(delta);
  return fromBits<T>(shuffle(f, l, mask, toBits(v), src));
}
template <class T>
T shflUpSync(const char *f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = laneId();
  const int src = (lane % width) - int(delta) < 0 ? lane : lane - int(delta);
  return fromBits<T>(shuffle(f, l, mask, toBits(v), src));
}
} // namespace detail

// Launches `kernel<<<grid, block, dynamicSharedBytes>>>(args...)` and
// returns when every block finished; rethrows the first error (lowest
// block) as ingot::Error.
template <class... P, class... A>
void launchWith(const LaunchOptions &o, dim3 grid, dim3 block, size_t dynamicSharedBytes,
                void (*kernel)(P...), A &&...args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  const std::function<void()> body = [&] { std::apply(kernel, params); };
  detail::launchBody(o, grid, block, dynamicSharedBytes, body);
}
template <class... P, class... A>
void launch(dim3 grid, dim3 block, size_t dynamicSharedBytes, void (*kernel)(P...),
            A &&...args) {
  launchWith(LaunchOptions{}, grid, block, dynamicSharedBytes, kernel,
             std::forward<A>(args)...);
}

// ---- Kernel registry (the fake driver's "modules"). Entry points that
// follow the one-struct ABI (docs/dev/cuda-abi.md) register by name when a
// translation unit defines INGOT_EMU_REGISTER_KERNELS before including the
// kernel sources; the fake driver then launches them from cuLaunchKernel's
// `void **kernelParams` like the real driver. ----
struct RegisteredKernel {
  // Runs the kernel to completion; args[0] points at the parameter struct.
  void (*run)(const LaunchOptions &o, dim3 grid, dim3 block, size_t shmem, void **args);
  size_t paramBytes; // sizeof the parameter struct (graph capture copies it)
};
// Registers `name` (first registration wins; returns true). Thread-safe.
bool registerKernel(const char *name, const RegisteredKernel &k);
// nullptr when no kernel of that name is registered.
const RegisteredKernel *findKernel(const char *name);
// Names of all registered kernels, sorted.
std::vector<std::string> registeredKernels();

namespace detail {
template <class P> struct KernelThunk;
template <class P> struct KernelThunk<void (*)(P)> {
  template <void (*K)(P)>
  static void run(const LaunchOptions &o, dim3 grid, dim3 block, size_t shmem, void **args) {
    P p;
    std::memcpy(static_cast<void *>(&p), args[0], sizeof(P));
    launchWith(o, grid, block, shmem, K, p);
  }
};
} // namespace detail

} // namespace cudaemu
} // namespace ingot

// ---- The CUDA C++ subset, at global scope like CUDA's own headers. ----
using ingot::cudaemu::dim3;
using ingot::cudaemu::float2;
using ingot::cudaemu::float4;
using ingot::cudaemu::uint3;
using ingot::cudaemu::uint2;
using ingot::cudaemu::uint4;
using __nv_bfloat16 = ingot::cudaemu::bf16;
using __half = ingot::cudaemu::f16;
inline float __bfloat162float(__nv_bfloat16 h) { return ingot::cudaemu::bf16ToFloat(h); }
inline __nv_bfloat16 __float2bfloat16(float f) { return ingot::cudaemu::floatToBf16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return ingot::cudaemu::floatToBf16(f); }
inline float __half2float(__half h) { return ingot::cudaemu::f16ToFloat(h); }
inline __half __float2half(float f) { return ingot::cudaemu::floatToF16(f); }
inline __half __float2half_rn(float f) { return ingot::cudaemu::floatToF16(f); }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ thread_local
#define warpSize 32

#define threadIdx (::ingot::cudaemu::detail::threadIdxRef())
#define blockIdx (::ingot::cudaemu::detail::blockIdxRef())
#define blockDim (::ingot::cudaemu::detail::blockDimRef())
#define gridDim (::ingot::cudaemu::detail::gridDimRef())

#define __syncthreads() ::ingot::cudaemu::detail::syncthreads(__FILE__, __LINE__)
#define __syncwarp(mask)                                                                   \
  ((void)::ingot::cudaemu::detail::shuffle(__FILE__, __LINE__, (mask), 0,                  \
                                           ::ingot::cudaemu::detail::laneId()))
#define __shfl_sync(...) ::ingot::cudaemu::detail::shflSync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...)                                                               \
  ::ingot::cudaemu::detail::shflXorSync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...)                                                              \
  ::ingot::cudaemu::detail::shflDownSync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::ingot::cudaemu::detail::shflUpSync(__FILE__, __LINE__, __VA_ARGS__)

// Block-shared arrays through the checked, poisoned per-block arena. One
// allocation per declaration site (keyed by a static tag), as in CUDA.
#define INGOT_SHARED_ARRAY(T, name, n)                                                     \
  static const char ingot_shared_tag_##name = 0;                                           \
  T *const name = static_cast<T *>(::ingot::cudaemu::detail::sharedArray(                  \
      &ingot_shared_tag_##name, sizeof(T) * size_t(n), #name, __FILE__, __LINE__))
#define INGOT_DYNAMIC_SHARED(T, name)                                                      \
  T *const name = static_cast<T *>(::ingot::cudaemu::detail::dynamicShared())

inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
template <class T> inline T __ldg(const T *p) { return *p; }

// Registration hook used by the INGOT_DEFINE_* macros of the kernel sources
// (common.cuh defines it empty for NVRTC and for TUs that do not register).
#if defined(INGOT_EMU_REGISTER_KERNELS)
#define INGOT_REGISTER_KERNEL(fn)                                                          \
  static const bool ingot_registered_##fn = ::ingot::cudaemu::registerKernel(              \
      #fn, ::ingot::cudaemu::RegisteredKernel{                                             \
               &::ingot::cudaemu::detail::KernelThunk<decltype(&fn)>::run<&fn>,            \
               sizeof(*::ingot::cudaemu::detail::paramOf(&fn))});
namespace ingot {
namespace cudaemu {
namespace detail {
template <class P> P *paramOf(void (*)(P)) { return nullptr; }
} // namespace detail
} // namespace cudaemu
} // namespace ingot
#endif
