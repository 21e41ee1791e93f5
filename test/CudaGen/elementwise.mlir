// RUN: ingot-opt --split-input-file --ingot-print-cuda %s -o /dev/null | FileCheck %s
// RUN: ingot-opt --split-input-file '--ingot-print-cuda=dtype=bf16' %s -o /dev/null | FileCheck %s --check-prefix=BF16
// RUN: ingot-opt --split-input-file '--ingot-print-cuda=dtype=f16' %s -o /dev/null | FileCheck %s --check-prefix=F16
// RUN: ingot-opt --split-input-file '--ingot-print-cuda=sequential-names dtype=bf16' %s -o /dev/null | FileCheck %s --check-prefix=SEQ

// Tests the CUDA C++ of an Elementwise step: a hashed kernel name with the
// dtype suffix, the headers it needs, the program as a straight-line fp32
// device function with the CPU kernels' formulas, and two entry points with
// the one-struct ABI (IngotEwParams), each registered for the emulation: a
// coalesced grid-stride loop (row-broadcast input read at the column) and a
// 16-byte variant with one ingot_ld16 per input and one ingot_st16 per output.
// CHECK: // [[K:ingot_ew_[0-9a-f]+]]_f32: 2 inputs (full, row), 1 outputs, 3 instructions; storage f32 (float), math fp32
// CHECK-NEXT: #include "common.cuh"
// CHECK-NEXT: #include "elementwise_abi.h"
// CHECK: static __device__ __forceinline__ void [[K]]_f32_program(const float *x, float *y) {
// CHECK-NEXT: const float r0 = x[0];
// CHECK-NEXT: const float r1 = x[1];
// CHECK-NEXT: const float r2 = r0 + r1;
// CHECK-NEXT: const float r3 = r2 / (1.0f + expf(-r2));
// CHECK-NEXT: const float r4 = 0.5f * r3 * (1.0f + erff(r3 * 0.70710678118654752440f));
// CHECK-NEXT: y[0] = r4;
// CHECK-NEXT: }
// CHECK: extern "C" __global__ void [[K]]_f32(IngotEwParams p) {
// CHECK-NEXT: const float *in0 = static_cast<const float *>(p.in[0]);
// CHECK-NEXT: const float *in1 = static_cast<const float *>(p.in[1]);
// CHECK-NEXT: float *out0 = static_cast<float *>(p.out[0]);
// CHECK-NEXT: const long long stride = (long long)gridDim.x * blockDim.x;
// CHECK-NEXT: const long long n = p.rows * p.width;
// CHECK-NEXT: for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
// CHECK-NEXT: const long long col = i % p.width;
// CHECK-NEXT: float x[2], y[1];
// CHECK-NEXT: x[0] = ingot_ld(in0 + i);
// CHECK-NEXT: x[1] = ingot_ld(in1 + col);
// CHECK-NEXT: [[K]]_f32_program(x, y);
// CHECK-NEXT: ingot_st(out0 + i, y[0]);
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: INGOT_REGISTER_KERNEL([[K]]_f32)
// CHECK: extern "C" __global__ void [[K]]_f32_v(IngotEwParams p) {
// CHECK-NEXT: constexpr int VN = ingot_vec<float>::n;
// CHECK: const long long nv = p.rows * p.width / VN;
// CHECK: const long long i = q * VN;
// CHECK-NEXT: const long long col = i % p.width;
// CHECK-NEXT: float v0[VN];
// CHECK-NEXT: ingot_ld16(in0 + i, v0);
// CHECK-NEXT: float v1[VN];
// CHECK-NEXT: ingot_ld16(in1 + col, v1);
// CHECK-NEXT: float w0[VN];
// CHECK: for (int l = 0; l < VN; ++l) {
// CHECK: [[K]]_f32_program(x, y);
// CHECK-NEXT: w0[l] = y[0];
// CHECK: ingot_st16(out0 + i, w0);
// CHECK: INGOT_REGISTER_KERNEL([[K]]_f32_v)
// The same program in bf16 / f16 storage: same hash, other suffix and type.
// BF16: // [[B:ingot_ew_[0-9a-f]+]]_bf16: 2 inputs (full, row), 1 outputs, 3 instructions; storage bf16 (__nv_bfloat16)
// BF16: const float r4 = 0.5f * r3 * (1.0f + erff(r3 * 0.70710678118654752440f));
// BF16: extern "C" __global__ void [[B]]_bf16(IngotEwParams p) {
// BF16-NEXT: const __nv_bfloat16 *in0 = static_cast<const __nv_bfloat16 *>(p.in[0]);
// BF16: __nv_bfloat16 *out0 = static_cast<__nv_bfloat16 *>(p.out[0]);
// BF16: x[0] = ingot_ld(in0 + i);
// BF16: ingot_st(out0 + i, y[0]);
// BF16: INGOT_REGISTER_KERNEL([[B]]_bf16)
// BF16: extern "C" __global__ void [[B]]_bf16_v(IngotEwParams p) {
// BF16-NEXT: constexpr int VN = ingot_vec<__nv_bfloat16>::n;
// BF16: ingot_st16(out0 + i, w0);
// BF16: INGOT_REGISTER_KERNEL([[B]]_bf16_v)
// F16: // [[H:ingot_ew_[0-9a-f]+]]_f16: 2 inputs (full, row), 1 outputs, 3 instructions; storage f16 (__half)
// F16: extern "C" __global__ void [[H]]_f16(IngotEwParams p) {
// F16-NEXT: const __half *in0 = static_cast<const __half *>(p.in[0]);
// F16: extern "C" __global__ void [[H]]_f16_v(IngotEwParams p) {
// F16-NEXT: constexpr int VN = ingot_vec<__half>::n;
// SEQ: // ingot_ew_0_bf16: 2 inputs
// SEQ: extern "C" __global__ void ingot_ew_0_bf16(IngotEwParams p) {
// SEQ: extern "C" __global__ void ingot_ew_0_bf16_v(IngotEwParams p) {
func.func @add_silu_gelu(%a: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.step "Elementwise"(%a, %b) {imms = array<f32: 0.0, 0.0, 0.0>, num_registers = 5 : i64, program = array<i64: 0, 0, 1, 2, 20, 2, 2, 3, 21, 3, 3, 4>, program_outputs = array<i64: 4>} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // The same program again: printed once (one kernel per distinct program),
  // also with sequential names.
  %1 = ingot.step "Elementwise"(%0, %b) {imms = array<f32: 0.0, 0.0, 0.0>, num_registers = 5 : i64, program = array<i64: 0, 0, 1, 2, 20, 2, 2, 3, 21, 3, 3, 4>, program_outputs = array<i64: 4>} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}
// CHECK-NOT: 2 inputs (full, row), 1 outputs, 3 instructions
// BF16-NOT: 2 inputs (full, row), 1 outputs, 3 instructions
// SEQ-NOT: ingot_ew_1_bf16

// -----

// Tests constants (Const instructions as float literals, infinities by
// bits) and two outputs; no row input, so no column.
// CHECK: 1 inputs (full), 2 outputs, 4 instructions
// CHECK: const float r1 = 0.5f;
// CHECK-NEXT: const float r2 = r0 * r1;
// CHECK-NEXT: const float r3 = fmaxf(r2, r0);
// CHECK-NEXT: const float r4 = __int_as_float(0xff800000);
// CHECK-NEXT: y[0] = r3;
// CHECK-NEXT: y[1] = r2;
// CHECK-NOT: col
// CHECK: ingot_st(out0 + i, y[0]);
// CHECK-NEXT: ingot_st(out1 + i, y[1]);
// CHECK: w1[l] = y[1];
// CHECK: ingot_st16(out0 + i, w0);
// CHECK-NEXT: ingot_st16(out1 + i, w1);
func.func @consts(%a: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0:2 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.5, 0.0, 0.0, 0xFF800000>, num_registers = 5 : i64, program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2, 4, 2, 0, 3, 30, 0, 0, 4>, program_outputs = array<i64: 3, 2>} : (tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return %0#0, %0#1 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Tests a scalar input (rank 0): loaded once per thread before the loop and
// given to every lane of the 16-byte variant; steps typed bf16 are accepted
// (the storage type is the dtype option, not the tensor type).
// CHECK: 2 inputs (full, scalar), 1 outputs, 1 instructions
// CHECK: const float s1 = ingot_ld(in1);
// CHECK: x[1] = s1;
// CHECK: _v(IngotEwParams p) {
// CHECK: const float s1 = ingot_ld(in1);
// CHECK: x[1] = s1;
func.func @scalar(%a: tensor<?x8xbf16>, %s: tensor<bf16>) -> tensor<?x8xbf16> {
  %0 = ingot.step "Elementwise"(%a, %s) {imms = array<f32: 0.0>, num_registers = 3 : i64, program = array<i64: 2, 0, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x8xbf16>, tensor<bf16>) -> tensor<?x8xbf16>
  return %0 : tensor<?x8xbf16>
}

// -----

// Tests a register written twice (the plan format allows it): declared
// mutable, then reassigned.
// CHECK: 1 inputs (full), 1 outputs, 2 instructions
// CHECK: const float r0 = x[0];
// CHECK-NEXT: float r1 = expf(r0);
// CHECK-NEXT: r1 = tanhf(r1);
// CHECK-NEXT: y[0] = r1;
func.func @rewrite(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0, 0.0>, num_registers = 2 : i64, program = array<i64: 11, 0, 0, 1, 12, 1, 1, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
