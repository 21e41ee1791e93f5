// RUN: ingot-opt --verify-diagnostics '--ingot-print-cuda=dtype=f64' %s -o /dev/null

// Tests that a storage dtype other than f32, bf16 and f16 is refused on each
// step, naming the dtypes that exist.
func.func @f64(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot generate CUDA: unknown storage dtype 'f64' (expected f32, bf16 or f16)}}
  %0 = ingot.step "Elementwise"(%a) {imms = array<f32: 0.0>, num_registers = 2 : i64, program = array<i64: 11, 0, 0, 1>, program_outputs = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
