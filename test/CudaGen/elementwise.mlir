// RUN: ingot-opt --split-input-file --ingot-print-cuda %s -o /dev/null | FileCheck %s

// Tests the CUDA C++ of an Elementwise step: a hashed kernel name, inputs and
// outputs as restrict pointers, a coalesced grid-stride loop, a row-broadcast
// input read at the column, the program as straight-line float code with the
// CPU kernels' formulas, and the float4 variant with one 16-byte load per
// input and one store per output.
// CHECK: // ingot_ew_{{[0-9a-f]+}}: 2 inputs, 1 outputs, 3 instructions
// CHECK: extern "C" __global__ void [[K:ingot_ew_[0-9a-f]+]](const float *__restrict__ in0, const float *__restrict__ in1, float *__restrict__ out0, long long rows, long long width) {
// CHECK: for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
// CHECK: const float r0 = in0[i];
// CHECK-NEXT: const float r1 = in1[col];
// CHECK-NEXT: const float r2 = r0 + r1;
// CHECK-NEXT: const float r3 = r2 / (1.0f + expf(-r2));
// CHECK-NEXT: const float r4 = 0.5f * r3 * (1.0f + erff(r3 * 0.707106781f));
// CHECK-NEXT: out0[i] = r4;
// CHECK: extern "C" __global__ void [[K]]_v4(
// CHECK: const float4 v0 = *reinterpret_cast<const float4 *>(in0 + q * 4);
// CHECK-NEXT: const float4 v1 = *reinterpret_cast<const float4 *>(in1 + col);
// CHECK: const float r2_w = r0_w + r1_w;
// CHECK: *reinterpret_cast<float4 *>(out0 + q * 4) = o0;
func.func @add_silu_gelu(%a: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.step "Elementwise"(%a, %b) {imms = array<f32: 0.0, 0.0, 0.0>, num_registers = 5 : i64, program = array<i64: 0, 0, 1, 2, 20, 2, 2, 3, 21, 3, 3, 4>, program_outputs = array<i64: 4>} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // The same program again: printed once (one kernel per distinct program).
  %1 = ingot.step "Elementwise"(%0, %b) {imms = array<f32: 0.0, 0.0, 0.0>, num_registers = 5 : i64, program = array<i64: 0, 0, 1, 2, 20, 2, 2, 3, 21, 3, 3, 4>, program_outputs = array<i64: 4>} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}
// CHECK-NOT: 2 inputs, 1 outputs, 3 instructions

// -----

// Tests constants (Const instructions as float literals) and two outputs.
// CHECK: 1 inputs, 2 outputs, 3 instructions
// CHECK: const float r1 = 0.5f;
// CHECK-NEXT: const float r2 = r0 * r1;
// CHECK-NEXT: const float r3 = fmaxf(r2, r0);
// CHECK-NEXT: out0[i] = r3;
// CHECK-NEXT: out1[i] = r2;
func.func @consts(%a: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0:2 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.5, 0.0, 0.0>, num_registers = 4 : i64, program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2, 4, 2, 0, 3>, program_outputs = array<i64: 3, 2>} : (tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return %0#0, %0#1 : tensor<?x8xf32>, tensor<?x8xf32>
}

