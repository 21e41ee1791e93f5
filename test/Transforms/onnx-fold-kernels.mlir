// RUN: ingot-opt --split-input-file --ingot-onnx-fold --verify-diagnostics %s | FileCheck %s
// RUN: ingot-opt --split-input-file --ingot-onnx-fold=max-elements=3 --verify-diagnostics %s | FileCheck %s --check-prefix=LIMIT

// Constant folding by the runtime's own N-d kernels (Add, Mul, Transpose,
// Reshape, Unsqueeze, Concat, Gather, Cast). The expected values are worked
// out by hand from ONNX semantics, not produced by the kernels.

// CHECK-LABEL: func.func @fold_chain
// CHECK-SAME: -> (tensor<1x6xf32>, tensor<2x3xf16>, tensor<2xf32>)
// CHECK-NOT: ingot.node
// CHECK-DAG: ingot.constant dense<{{\[\[}}2.200000e+01, 2.800000e+01, 4.400000e+01, 5.000000e+01, 6.600000e+01, 7.200000e+01]]> : tensor<1x6xf32>
// CHECK-DAG: ingot.constant dense<{{\[\[}}1.000000e+01, 2.000000e+01, 3.000000e+01], [1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<2x3xf16>
// CHECK-DAG: ingot.constant dense<[7.000000e+00, -3.000000e+00]> : tensor<2xf32>
// CHECK-NOT: ingot.constant
// CHECK: return

// With at most 3 elements per folded result, the 2x3 results stay; the
// 3-element Unsqueeze and the 2-element Cast still fold.
// LIMIT-LABEL: func.func @fold_chain
// LIMIT: ingot.node "Add"
// LIMIT: ingot.node "Mul"
// LIMIT: ingot.node "Transpose"
// LIMIT: ingot.constant dense<{{\[\[}}1.000000e+01, 2.000000e+01, 3.000000e+01]]> : tensor<1x3xf32>
// LIMIT: ingot.node "Concat"
// LIMIT: ingot.constant dense<[7.000000e+00, -3.000000e+00]> : tensor<2xf32>
func.func @fold_chain() -> (tensor<*xf32>, tensor<*xf16>, tensor<*xf32>) {
  %a = ingot.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %b = ingot.constant dense<[10.0, 20.0, 30.0]> : tensor<3xf32>
  %two = ingot.constant dense<2.0> : tensor<f32>
  // [[11, 22, 33], [14, 25, 36]]
  %sum = ingot.node "Add"(%a, %b) {name = "add"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<*xf32>
  // [[22, 44, 66], [28, 50, 72]]
  %prod = ingot.node "Mul"(%sum, %two) {name = "mul"} : (tensor<*xf32>, tensor<f32>) -> tensor<*xf32>
  // [[22, 28], [44, 50], [66, 72]]
  %t = ingot.node "Transpose"(%prod) {name = "tr"} : (tensor<*xf32>) -> tensor<*xf32>
  %shape = ingot.constant dense<[1, -1]> : tensor<2xi64>
  %flat = ingot.node "Reshape"(%t, %shape) {name = "flat"} : (tensor<*xf32>, tensor<2xi64>) -> tensor<*xf32>
  %ax = ingot.constant dense<[0]> : tensor<1xi64>
  // [[10, 20, 30]]
  %row = ingot.node "Unsqueeze"(%b, %ax) {name = "unsq"} : (tensor<3xf32>, tensor<1xi64>) -> tensor<*xf32>
  // [[1, 2, 3], [4, 5, 6], [10, 20, 30]]
  %cat = ingot.node "Concat"(%a, %row) {name = "cat", attrs = {axis = 0 : i64}} : (tensor<2x3xf32>, tensor<*xf32>) -> tensor<*xf32>
  %idx = ingot.constant dense<[2, 0]> : tensor<2xi64>
  // [[10, 20, 30], [1, 2, 3]]
  %g = ingot.node "Gather"(%cat, %idx) {name = "gather", attrs = {axis = 0 : i64}} : (tensor<*xf32>, tensor<2xi64>) -> tensor<*xf32>
  %h = ingot.node "Cast"(%g) {name = "to_f16", attrs = {to = 10 : i64}} : (tensor<*xf32>) -> tensor<*xf16>
  %ints = ingot.constant dense<[7, -3]> : tensor<2xi64>
  %f = ingot.node "Cast"(%ints) {name = "to_f32", attrs = {to = 1 : i64}} : (tensor<2xi64>) -> tensor<*xf32>
  return %flat, %h, %f : tensor<*xf32>, tensor<*xf16>, tensor<*xf32>
}

// -----

// A kernel that rejects its constant inputs is an error naming the node.
func.func @bad_index() -> tensor<*xf32> {
  %a = ingot.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %idx = ingot.constant dense<[5]> : tensor<1xi64>
  // expected-error @+1 {{node 'bad' (Gather): constant folding failed:}}
  %g = ingot.node "Gather"(%a, %idx) {name = "bad", attrs = {axis = 0 : i64}} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<*xf32>
  return %g : tensor<*xf32>
}
