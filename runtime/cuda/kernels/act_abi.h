// Parameters and launch geometry of the gated activations (act.cuh):
//   ingot_silu_mul_<TN>: out = silu(gate) * up = gate / (1 + exp(-gate)) * up
//                        (ingot::cpu::siluMul, the SiluMul step)
//   ingot_gelu_mul_<TN>: out = gelu(gate) * up (GeGLU), gelu as the CPU's
//                        Activation::Gelu (erf) or, with tanh_approx = 1,
//                        Activation::GeluTanh (runtime/src/cpu_kernels.cpp)
// over n elements of storage type T, fp32 math (docs/dev/cuda-abi.md).
#pragma once
#include "abi.h"

struct IngotActMulParams {
  const void *gate; // [n] T
  const void *up;   // [n] T
  void *out;        // [n] T (may alias gate or up)
  long long n;
  int tanh_approx;  // gelu_mul: 0 erf, 1 tanh approximation; silu_mul: unused
};

// Grid-stride: 256 threads, one 16-byte vector (16 / elem_bytes elements)
// per thread, at most 65535 blocks (larger n loops).
inline KernelLaunch ingot_act_launch(const IngotActMulParams &p, int elem_bytes) {
  const long long per = 16 / (elem_bytes > 0 ? elem_bytes : 4);
  long long blocks = ((p.n + per - 1) / per + 255) / 256;
  if (blocks < 1)
    blocks = 1;
  if (blocks > 65535)
    blocks = 65535;
  return ingot_make_launch(unsigned(blocks), 1, 1, 256);
}
