// Stand-in kernel families for ingotc's CUDA tests (ingotc
// --cuda-kernel-headers=this directory): every INGOT_DEFINE_* macro of
// docs/dev/cuda-abi.md defines an entry point of the contract's name whose
// body only touches its storage type, so the plan's generated module
// compiles with NVRTC before (or without) the real families. NOT kernels.
#pragma once
#include "common.cuh"

#define INGOT_STANDIN_KERNEL(NAME, T)                                          \
  extern "C" __global__ void NAME(T *p, long long n) {                         \
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;            \
    if (i < n)                                                                 \
      p[i] = p[i];                                                             \
  }

#define INGOT_DEFINE_EMBEDDING(T, TN) INGOT_STANDIN_KERNEL(ingot_embedding_##TN, T)
#define INGOT_DEFINE_GATHER_ROWS(T, TN) INGOT_STANDIN_KERNEL(ingot_gather_rows_##TN, T)
#define INGOT_DEFINE_CAST_TO_F32(T, TN) INGOT_STANDIN_KERNEL(ingot_cast_##TN##_to_f32, T)
#define INGOT_DEFINE_CAST_FROM_F32(T, TN) INGOT_STANDIN_KERNEL(ingot_cast_f32_to_##TN, T)
#define INGOT_DEFINE_RMS_NORM(T, TN) INGOT_STANDIN_KERNEL(ingot_rms_norm_##TN, T)
#define INGOT_DEFINE_ADD_RMS_NORM(T, TN) INGOT_STANDIN_KERNEL(ingot_add_rms_norm_##TN, T)
#define INGOT_DEFINE_LAYER_NORM(T, TN) INGOT_STANDIN_KERNEL(ingot_layer_norm_##TN, T)
#define INGOT_DEFINE_ADD_LAYER_NORM(T, TN) INGOT_STANDIN_KERNEL(ingot_add_layer_norm_##TN, T)
#define INGOT_DEFINE_SILU_MUL(T, TN) INGOT_STANDIN_KERNEL(ingot_silu_mul_##TN, T)
#define INGOT_DEFINE_GELU_MUL(T, TN) INGOT_STANDIN_KERNEL(ingot_gelu_mul_##TN, T)
#define INGOT_DEFINE_SOFTMAX(T, TN) INGOT_STANDIN_KERNEL(ingot_softmax_##TN, T)
#define INGOT_DEFINE_ROPE(T, TN, D) INGOT_STANDIN_KERNEL(ingot_rope_##TN##_d##D, T)
#define INGOT_DEFINE_ROPE_KV_APPEND(T, TN, D) INGOT_STANDIN_KERNEL(ingot_rope_kv_append_##TN##_d##D, T)
#define INGOT_DEFINE_ATTN_PREFILL(T, TN, D, G) INGOT_STANDIN_KERNEL(ingot_attn_prefill_##TN##_d##D##_g##G, T)
#define INGOT_DEFINE_ATTN_PREFILL_MMA(T, TN, D, G) INGOT_STANDIN_KERNEL(ingot_attn_prefill_mma_##TN##_d##D##_g##G, T)
#define INGOT_DEFINE_ATTN_DECODE(T, TN, D, G) INGOT_STANDIN_KERNEL(ingot_attn_decode_##TN##_d##D##_g##G, T)
#define INGOT_DEFINE_ATTN_DECODE_COMBINE(T, TN, D) INGOT_STANDIN_KERNEL(ingot_attn_decode_combine_##TN##_d##D, T)
#define INGOT_DEFINE_GEMM(T, TN) INGOT_STANDIN_KERNEL(ingot_gemm_##TN, T)
#define INGOT_DEFINE_MOE_ROUTE(T, TN) INGOT_STANDIN_KERNEL(ingot_moe_route_##TN, T)
#define INGOT_DEFINE_MOE_PERMUTE() INGOT_STANDIN_KERNEL(ingot_moe_permute, int)
#define INGOT_DEFINE_MOE_GEMM(T, TN) INGOT_STANDIN_KERNEL(ingot_moe_gemm_##TN, T)
#define INGOT_DEFINE_MOE_SILU_MUL(T, TN) INGOT_STANDIN_KERNEL(ingot_moe_silu_mul_##TN, T)
#define INGOT_DEFINE_MOE_COMBINE(T, TN) INGOT_STANDIN_KERNEL(ingot_moe_combine_##TN, T)
#define INGOT_DEFINE_SAMPLE() INGOT_STANDIN_KERNEL(ingot_sample_f32, float)
