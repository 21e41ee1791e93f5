// RUN: ingot-opt --split-input-file --ingot-onnx-raise=patterns-only %s | FileCheck %s

// Tests that the exported RMSNorm chain (Pow, ReduceMean, Add eps, Sqrt,
// Div(1, .), Mul, no-op Casts, Mul by gamma) becomes one
// SimplifiedLayerNormalization node and the chain disappears.
// CHECK-LABEL: func.func @main
// CHECK: %[[G:.*]] = ingot.constant dense<2.000000e+00> : tensor<8xf32>
// CHECK: %[[N:.*]] = ingot.node "SimplifiedLayerNormalization"(%arg0, %[[G]]) {attrs = {axis = -1 : i64, epsilon = 9.99999997E-7 : f32}, domain = "com.microsoft", name = "mul_w"}
// CHECK-NOT: "Pow"
// CHECK-NOT: "ReduceMean"
// CHECK: return %[[N]]
func.func @main(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %two = ingot.constant dense<2.0> : tensor<f32>
  %axes = ingot.constant dense<[-1]> : tensor<1xi64>
  %eps = ingot.constant dense<1.0e-6> : tensor<f32>
  %one = ingot.constant dense<1.0> : tensor<f32>
  %g = ingot.constant dense<2.0> : tensor<8xf32>
  %c = ingot.node "Cast"(%x) {attrs = {to = 1 : i64}} : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %p = ingot.node "Pow"(%c, %two) : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %m = ingot.node "ReduceMean"(%p, %axes) {attrs = {keepdims = 1 : i64}} : (tensor<?x?x8xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %a = ingot.node "Add"(%m, %eps) : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %s = ingot.node "Sqrt"(%a) : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %r = ingot.node "Div"(%one, %s) : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %n = ingot.node "Mul"(%c, %r) : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %y = ingot.node "Mul"(%g, %n) {name = "mul_w"} : (tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// Tests that the Reciprocal form with the operands the other way round is
// recognised too, and that a piece of a chain that is used elsewhere (the
// returned Sqrt) survives the rewrite of its chain.
// CHECK-LABEL: func.func @main
// CHECK: ingot.node "SimplifiedLayerNormalization"(%arg0
// CHECK: %[[S:.*]] = ingot.node "Sqrt"
// CHECK: ingot.node "SimplifiedLayerNormalization"(%arg1
// CHECK-NOT: "Div"
// CHECK: return %{{.*}}, %[[S]]
func.func @main(%x: tensor<?x8xf32>, %z: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x1xf32>) {
  %two = ingot.constant dense<2.0> : tensor<f32>
  %axes = ingot.constant dense<[-1]> : tensor<1xi64>
  %eps = ingot.constant dense<1.0e-5> : tensor<f32>
  %g = ingot.constant dense<1.5> : tensor<8xf32>
  %p = ingot.node "Pow"(%x, %two) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %m = ingot.node "ReduceMean"(%p, %axes) : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %a = ingot.node "Add"(%eps, %m) : (tensor<f32>, tensor<?x1xf32>) -> tensor<?x1xf32>
  %s = ingot.node "Sqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r = ingot.node "Reciprocal"(%s) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = ingot.node "Mul"(%r, %x) : (tensor<?x1xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = ingot.node "Mul"(%n, %g) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // A second chain whose Sqrt is also returned: not rewritten.
  %p2 = ingot.node "Pow"(%z, %two) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %m2 = ingot.node "ReduceMean"(%p2, %axes) : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %a2 = ingot.node "Add"(%m2, %eps) : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %s2 = ingot.node "Sqrt"(%a2) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n2 = ingot.node "Div"(%z, %s2) : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf32>
  %y2 = ingot.node "Mul"(%n2, %g) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %sum = ingot.node "Add"(%y, %y2) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %sum, %s2 : tensor<?x8xf32>, tensor<?x1xf32>
}

// -----

// Tests that an RMSNorm over another axis or with a different exponent is
// not mistaken for one.
// CHECK-LABEL: func.func @main
// CHECK-NOT: SimplifiedLayerNormalization
// CHECK: ingot.node "ReduceMean"
func.func @main(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %three = ingot.constant dense<3.0> : tensor<f32>
  %axes = ingot.constant dense<[-1]> : tensor<1xi64>
  %eps = ingot.constant dense<1.0e-5> : tensor<f32>
  %g = ingot.constant dense<1.5> : tensor<8xf32>
  %p = ingot.node "Pow"(%x, %three) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %m = ingot.node "ReduceMean"(%p, %axes) : (tensor<?x8xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %a = ingot.node "Add"(%m, %eps) : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %s = ingot.node "Sqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = ingot.node "Div"(%x, %s) : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf32>
  %y = ingot.node "Mul"(%n, %g) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests SiLU (x * Sigmoid(x), either order) -> QuickGelu alpha 1, and that
// Sigmoid of another value times x is left alone.
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = ingot.node "QuickGelu"(%arg0) {attrs = {alpha = 1.000000e+00 : f32}, domain = "com.microsoft"}
// CHECK: %[[S:.*]] = ingot.node "Sigmoid"(%arg1)
// CHECK: ingot.node "Mul"(%[[S]], %arg0)
func.func @main(%x: tensor<?x8xf32>, %z: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %s = ingot.node "Sigmoid"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = ingot.node "Mul"(%s, %x) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %s2 = ingot.node "Sigmoid"(%z) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %y2 = ingot.node "Mul"(%s2, %x) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y, %y2 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Tests the erf GELU in torch's export order and the tanh GELU.
// CHECK-LABEL: func.func @main
// CHECK: ingot.node "Gelu"(%arg0) {attrs = {approximate = "none"}}
// CHECK: ingot.node "Gelu"(%arg0) {attrs = {approximate = "tanh"}}
// CHECK-NOT: "Erf"
// CHECK-NOT: "Tanh"
func.func @main(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %sqrt2 = ingot.constant dense<1.41421354> : tensor<f32>
  %one = ingot.constant dense<1.0> : tensor<f32>
  %half = ingot.constant dense<0.5> : tensor<f32>
  %d = ingot.node "Div"(%x, %sqrt2) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %e = ingot.node "Erf"(%d) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %a = ingot.node "Add"(%e, %one) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %m = ingot.node "Mul"(%x, %a) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = ingot.node "Mul"(%m, %half) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %three = ingot.constant dense<3.0> : tensor<f32>
  %k = ingot.constant dense<0.044715> : tensor<f32>
  %c = ingot.constant dense<0.797884583> : tensor<f32>
  %h = ingot.node "Mul"(%x, %half) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %p = ingot.node "Pow"(%x, %three) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %kp = ingot.node "Mul"(%k, %p) : (tensor<f32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %s = ingot.node "Add"(%x, %kp) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %cs = ingot.node "Mul"(%s, %c) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %t = ingot.node "Tanh"(%cs) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %a2 = ingot.node "Add"(%t, %one) : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %y2 = ingot.node "Mul"(%h, %a2) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y, %y2 : tensor<?x8xf32>, tensor<?x8xf32>
}
