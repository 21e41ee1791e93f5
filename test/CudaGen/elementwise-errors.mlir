// RUN: ingot-opt --split-input-file --verify-diagnostics --ingot-print-cuda %s -o /dev/null

// Tests that a malformed program (fewer immediates than instructions) is an
// error on the step, not garbage source.
func.func @bad(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: an Elementwise step without a well-formed program}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 3 : i64, program = array<i64: 11, 0, 0, 1, 12, 1, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that bf16 steps are refused for now (f32 only).
func.func @bf16(%a: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  // expected-error @+1 {{cannot generate CUDA: Elementwise CUDA kernels take f32 tensors}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 2 : i64, program = array<i64: 11, 0, 0, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xbf16>) -> tensor<?x8xbf16>
  return %0 : tensor<?x8xbf16>
}
