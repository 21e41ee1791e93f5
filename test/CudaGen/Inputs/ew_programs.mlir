// Elementwise programs whose generated CUDA C++ test_cudagen_emu.cpp runs
// under the CUDA emulation (f32, bf16 and f16 storage) and
// test/cuda/cudagen-nvrtc.test compiles with NVRTC; keep in sync with the
// expected formulas in test_cudagen_emu.cpp.
// 0: gelu_erf(silu(a + row))     (row: a broadcast [width] input)
// 1: (a * b - 0.5) / sqrt(b*b + 1), and tanh(a) as a second output
// 2: max(min(a, 2), -2) * sigmoid(a) + gelu_tanh(a)
// 3: relu(a - s) * row + exp(-b)  (s: a one-element scalar input)
func.func @programs(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %row: tensor<?xf32>, %s: tensor<1xf32>)
    -> (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) {
  %0 = ingot.step "Elementwise"(%a, %row) {imms = array<f32: 0.0, 0.0, 0.0>, num_registers = 5 : i64,
      program = array<i64: 0, 0, 1, 2,  20, 2, 2, 3,  21, 3, 3, 4>, program_outputs = array<i64: 4>}
      : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %1:2 = ingot.step "Elementwise"(%a, %b) {imms = array<f32: 0.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0>,
      num_registers = 11 : i64,
      program = array<i64: 2, 0, 1, 2,  30, 0, 0, 3,  1, 2, 3, 4,  2, 1, 1, 5,  30, 0, 0, 6,  0, 5, 6, 7,  13, 7, 7, 8,  3, 4, 8, 9,  12, 0, 0, 10>,
      program_outputs = array<i64: 9, 10>}
      : (tensor<?x?xf32>, tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>)
  %2 = ingot.step "Elementwise"(%a) {imms = array<f32: 2.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0>, num_registers = 9 : i64,
      program = array<i64: 30, 0, 0, 1,  5, 0, 1, 2,  30, 0, 0, 3,  4, 2, 3, 4,  24, 0, 0, 5,  2, 4, 5, 6,  22, 0, 0, 7,  0, 6, 7, 8>,
      program_outputs = array<i64: 8>}
      : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = ingot.step "Elementwise"(%a, %s, %row, %b) {imms = array<f32: 0.0, 0.0, 0.0, 0.0, 0.0, 0.0>, num_registers = 10 : i64,
      program = array<i64: 1, 0, 1, 4,  23, 4, 4, 5,  2, 5, 2, 6,  10, 3, 3, 7,  11, 7, 7, 8,  0, 6, 8, 9>,
      program_outputs = array<i64: 9>}
      : (tensor<?x?xf32>, tensor<1xf32>, tensor<?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %0, %1#0, %1#1, %2, %3 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>
}
