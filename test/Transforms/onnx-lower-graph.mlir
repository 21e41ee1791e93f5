// RUN: ingot-opt --split-input-file --ingot-onnx-lower-graph --verify-diagnostics %s | FileCheck %s

// Tests that nodes become Node steps carrying op_type, domain, name and the
// attribute dictionary as is; omitted inputs are dropped from the operands
// and listed in ingot.absent_inputs; constants and weights stay; graph
// outputs that are not step results of their own get an Identity step.
// CHECK-LABEL: func.func @main
// CHECK-NOT: ingot.node
// CHECK-NOT: ingot.absent
// CHECK: %[[W:.*]] = ingot.weight @w
// CHECK: %[[C:.*]] = ingot.constant dense<6.000000e+00> : tensor<f32>
// CHECK: %[[M:.*]] = ingot.step "Node"(%arg0, %[[W]]) {domain = "", ingot.attrs = {}, name = "mm", op_type = "MatMul"} : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
// CHECK: %[[CL:.*]] = ingot.step "Node"(%[[M]], %[[C]]) {domain = "", ingot.absent_inputs = array<i64: 1>, ingot.attrs = {}, name = "clip", op_type = "Clip"}
// CHECK: %[[S:.*]] = ingot.step "Node"(%[[CL]]) {domain = "", ingot.attrs = {axis = -1 : i64}, name = "sm", op_type = "Softmax"}
// CHECK: %[[R:.*]] = ingot.step "Node"(%[[S]]) {domain = "com.microsoft", ingot.attrs = {alpha = 1.702000e+00 : f32}, name = "qg", op_type = "QuickGelu"}
// CHECK: %[[I1:.*]] = ingot.step "Node"(%[[R]]) {domain = "", ingot.attrs = {}, name = "again:identity", op_type = "Identity"}
// CHECK: %[[I2:.*]] = ingot.step "Node"(%arg0) {domain = "", ingot.attrs = {}, name = "passthrough:identity", op_type = "Identity"}
// CHECK: return %[[R]], %[[I1]], %[[I2]]
module attributes {ingot.source = "onnx"} {
  ingot.weight_decl @w : tensor<4x3xf32> {sources = ["w"]}
  func.func @main(%x: tensor<?x4xf32> {ingot.name = "x"}) -> (tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x4xf32>)
      attributes {ingot.output_names = ["probs", "again", "passthrough"]} {
    %w = ingot.weight @w : tensor<4x3xf32>
    %none = ingot.absent : none
    %max = ingot.constant dense<6.0> : tensor<f32>
    %0 = ingot.node "MatMul"(%x, %w) {name = "mm"} : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
    %1 = ingot.node "Clip"(%0, %none, %max) {name = "clip"} : (tensor<?x3xf32>, none, tensor<f32>) -> tensor<?x3xf32>
    %2 = ingot.node "Softmax"(%1) {name = "sm", attrs = {axis = -1 : i64}} : (tensor<?x3xf32>) -> tensor<?x3xf32>
    %3 = ingot.node "QuickGelu"(%2) {name = "qg", domain = "com.microsoft", attrs = {alpha = 1.702 : f32}} : (tensor<?x3xf32>) -> tensor<?x3xf32>
    return %3, %3, %x : tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x4xf32>
  }
}

// -----

// Tests that a module that is not an ONNX graph is left alone.
// CHECK-LABEL: func.func @forward
// CHECK: ingot.node "Relu"
module {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = ingot.node "Relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

// Tests that ops other than generic nodes are refused in a graph.
module attributes {ingot.source = "onnx"} {
  func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    // expected-error @+1 {{'ingot.relu' op cannot be part of a graph plan}}
    %0 = ingot.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// expected-error @+1 {{an ONNX graph module needs a func.func @main}}
module attributes {ingot.source = "onnx"} {
  func.func @other(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
