// The kernel ABI shared by the kernels (runtime/cuda/kernels/*.cuh), the
// compiler's generated CUDA module and the runtime's CUDA executor
// (docs/dev/cuda-abi.md). Plain C++ with no includes: it compiles on the
// host, under NVRTC and under the emulation.
//
// Every entry point takes ONE parameter struct by value (defined in the
// family's <family>_abi.h); each family also provides
// `inline KernelLaunch ingot_<family>_launch(...)` giving the geometry that
// the executor, the emulation tests and the fake driver all use.
#pragma once

struct KernelLaunch {
  unsigned grid[3];
  unsigned block[3];
  unsigned shmem; // dynamic shared memory, bytes
};

inline KernelLaunch ingot_make_launch(unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                      unsigned shmem = 0) {
  KernelLaunch l;
  l.grid[0] = gx;
  l.grid[1] = gy;
  l.grid[2] = gz;
  l.block[0] = bx;
  l.block[1] = 1;
  l.block[2] = 1;
  l.shmem = shmem;
  return l;
}
