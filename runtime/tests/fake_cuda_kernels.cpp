// The kernels the CUDA executor's tests run through the fake driver
// (fake_cuda_driver.h), registered by name in the emulation's registry: the
// very INGOT_DEFINE_* text ingotc's generated module instantiates, for f32
// and bf16, head dims 16 and 32, GQA groups 1, 2 and 4, plus a hand-written
// stand-in for a generated Elementwise kernel (the residual add of the
// Llama test plan, `ingot_ew_test_add_<TN>[_v]`, and the dense plan's
// `ingot_ew_test_fma_<TN>`, IngotEwParams), the MoE kernels and the sampler
// (ingot_sample_f32).
//
// Entry points are defined weak here: another test TU that registers the
// same kernels (e.g. a family's own tests) links without a duplicate
// symbol, and the registry keeps the first registration (same text).
#define INGOT_EMU_REGISTER_KERNELS 1
#include "cuda/emu/cuda_emu.h"
#undef __global__
#define __global__ __attribute__((weak))

#include "cuda/kernels/act.cuh"
#include "cuda/kernels/attention.cuh"
#include "cuda/kernels/elementwise_abi.h"
#include "cuda/kernels/embedding.cuh"
#include "cuda/kernels/gemm.cuh"
#include "cuda/kernels/moe.cuh"
#include "cuda/kernels/norm.cuh"
#include "cuda/kernels/rope.cuh"
#include "cuda/kernels/sampling.cuh"
#include "cuda/kernels/softmax.cuh"

#define INGOT_EXEC_TEST_ATTN(T, TN, D)                                                     \
  INGOT_DEFINE_ROPE(T, TN, D)                                                              \
  INGOT_DEFINE_ROPE_KV_APPEND(T, TN, D)                                                    \
  INGOT_DEFINE_ATTN_PREFILL(T, TN, D, 1)                                                   \
  INGOT_DEFINE_ATTN_PREFILL(T, TN, D, 2)                                                   \
  INGOT_DEFINE_ATTN_PREFILL(T, TN, D, 4)                                                   \
  INGOT_DEFINE_ATTN_DECODE(T, TN, D, 1)                                                    \
  INGOT_DEFINE_ATTN_DECODE(T, TN, D, 2)                                                    \
  INGOT_DEFINE_ATTN_DECODE(T, TN, D, 4)                                                    \
  INGOT_DEFINE_ATTN_DECODE_COMBINE(T, TN, D)

// out0 = in0 + in1, elementwise over rows x width (both inputs full rows).
template <class T> __device__ void ingot_ew_test_add_impl(const IngotEwParams &p) {
  const long long n = p.rows * p.width;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x)
    ingot_st(static_cast<T *>(p.out[0]) + i,
             ingot_ld(static_cast<const T *>(p.in[0]) + i) + ingot_ld(static_cast<const T *>(p.in[1]) + i));
}
// The 16-byte variant: each thread handles one vector of 16 / sizeof(T).
template <class T> __device__ void ingot_ew_test_add_v_impl(const IngotEwParams &p) {
  constexpr int V = ingot_vec<T>::n;
  const long long nv = p.rows * p.width / V;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < nv;
       i += (long long)blockDim.x * gridDim.x) {
    float a[V], b[V];
    ingot_ld16(static_cast<const T *>(p.in[0]) + i * V, a);
    ingot_ld16(static_cast<const T *>(p.in[1]) + i * V, b);
    for (int k = 0; k < V; ++k)
      a[k] += b[k];
    ingot_st16(static_cast<T *>(p.out[0]) + i * V, a);
  }
}
// out0 = in0 * in1[col] + in2[0] (a row input and a scalar input), the
// dense test plan's Elementwise step.
template <class T> __device__ void ingot_ew_test_fma_impl(const IngotEwParams &p) {
  const long long n = p.rows * p.width;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x)
    ingot_st(static_cast<T *>(p.out[0]) + i,
             ingot_ld(static_cast<const T *>(p.in[0]) + i) * ingot_ld(static_cast<const T *>(p.in[1]) + i % p.width) +
                 ingot_ld(static_cast<const T *>(p.in[2])));
}
#define INGOT_EXEC_TEST_EW(T, TN)                                                          \
  extern "C" __global__ void ingot_ew_test_add_##TN(IngotEwParams p) { ingot_ew_test_add_impl<T>(p); } \
  INGOT_REGISTER_KERNEL(ingot_ew_test_add_##TN)                                            \
  extern "C" __global__ void ingot_ew_test_add_##TN##_v(IngotEwParams p) {                 \
    ingot_ew_test_add_v_impl<T>(p);                                                        \
  }                                                                                        \
  INGOT_REGISTER_KERNEL(ingot_ew_test_add_##TN##_v)                                        \
  extern "C" __global__ void ingot_ew_test_fma_##TN(IngotEwParams p) { ingot_ew_test_fma_impl<T>(p); } \
  INGOT_REGISTER_KERNEL(ingot_ew_test_fma_##TN)

#define INGOT_EXEC_TEST_KERNELS(T, TN)                                                     \
  INGOT_DEFINE_EMBEDDING(T, TN)                                                            \
  INGOT_DEFINE_GATHER_ROWS(T, TN)                                                          \
  INGOT_DEFINE_RMS_NORM(T, TN)                                                             \
  INGOT_DEFINE_ADD_RMS_NORM(T, TN)                                                         \
  INGOT_DEFINE_LAYER_NORM(T, TN)                                                           \
  INGOT_DEFINE_ADD_LAYER_NORM(T, TN)                                                       \
  INGOT_DEFINE_SILU_MUL(T, TN)                                                             \
  INGOT_DEFINE_SOFTMAX(T, TN)                                                              \
  INGOT_DEFINE_GEMM(T, TN)                                                                 \
  INGOT_DEFINE_MOE(T, TN)                                                                  \
  INGOT_EXEC_TEST_ATTN(T, TN, 16)                                                          \
  INGOT_EXEC_TEST_ATTN(T, TN, 32)                                                          \
  INGOT_EXEC_TEST_EW(T, TN)

INGOT_DEFINE_MOE_PERMUTE()
INGOT_DEFINE_SAMPLE()
INGOT_EXEC_TEST_KERNELS(float, f32)
INGOT_EXEC_TEST_KERNELS(__nv_bfloat16, bf16)

// Referenced by the executor tests so the linker keeps this TU's
// registrations (static initialisers of an object file in the test binary).
namespace ingot {
namespace cudatest {
int fakeCudaKernelsLinked = 1;
}
} // namespace ingot
