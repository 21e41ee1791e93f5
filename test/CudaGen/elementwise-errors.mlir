// RUN: ingot-opt --split-input-file --verify-diagnostics --ingot-print-cuda %s -o /dev/null

// Tests that a malformed program (fewer immediates than instructions) is an
// error on the step, not garbage source.
func.func @bad(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: an Elementwise step without a well-formed program}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 3 : i64, program = array<i64: 11, 0, 0, 1, 12, 1, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that integer tensors are refused (storage is f32, bf16 or f16).
func.func @int(%a: tensor<?x8xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: input 0 has type tensor<?x8xi32>; Elementwise CUDA kernels read f32/bf16/f16 tensors}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 2 : i64, program = array<i64: 11, 0, 0, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xi32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that a program with more inputs than IngotEwParams::in holds (8) is
// refused, naming the limit.
func.func @nine_inputs(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: the step has 9 inputs; IngotEwParams holds at most 8 (INGOT_EW_MAX_INPUTS)}}
  %0 = ingot.step "Elementwise"(%a, %a, %a, %a, %a, %a, %a, %a, %a) {imms = array<f32: 0.0>, num_registers = 10 : i64, program = array<i64: 0, 0, 8, 9>, program_outputs = array<i64: 9>} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Eight inputs fit.
func.func @eight_inputs(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = ingot.step "Elementwise"(%a, %a, %a, %a, %a, %a, %a, %a) {imms = array<f32: 0.0>, num_registers = 9 : i64, program = array<i64: 0, 0, 7, 8>, program_outputs = array<i64: 8>} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that more outputs than IngotEwParams::out holds (4) are refused.
func.func @five_outputs(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: the step has 5 outputs; IngotEwParams holds at most 4 (INGOT_EW_MAX_OUTPUTS)}}
  %0:5 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 2 : i64, program = array<i64: 11, 0, 0, 1>, program_outputs = array<i64: 1, 1, 1, 1, 1>} : (tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %0#0 : tensor<?x8xf32>
}

// -----

// Tests that an input that neither matches the output nor broadcasts over
// its rows is refused.
func.func @shape(%a: tensor<?x8xf32>, %b: tensor<4x1xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: input 1 of type tensor<4x1xf32> neither matches output tensor<?x8xf32> nor broadcasts over its rows}}
  %0 = ingot.step "Elementwise"(%a, %b) {imms = array<f32: 0.0>, num_registers = 3 : i64, program = array<i64: 0, 0, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x8xf32>, tensor<4x1xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that reading a register before any instruction writes it is refused
// (the generated C++ would not compile).
func.func @unwritten(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: instruction 0 reads register 2 before it is written}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 3 : i64, program = array<i64: 0, 0, 2, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that an opcode without a CUDA form is refused, naming it.
func.func @opcode(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: instruction 0: elementwise op 99 has no CUDA form}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 2 : i64, program = array<i64: 99, 0, 0, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
