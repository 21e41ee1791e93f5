// RUN: ingot-opt --split-input-file --ingot-onnx-raise %s 2>&1 >/dev/null | FileCheck %s
// RUN: ingot-opt --split-input-file --ingot-onnx-raise %s 2>/dev/null | FileCheck %s --check-prefix=IR
// IR-NOT: func.func @forward

// Tests that a graph without a decoder's interface stays a graph, saying why.
// CHECK: remark: kept as a graph (no KV cache paging): input 'x' is not part of a decoder's interface
func.func @main(%x: tensor<?x4xf32> {ingot.name = "x"}) -> tensor<?x4xf32>
    attributes {ingot.output_names = ["y"]} {
  %y = ingot.node "Relu"(%x) {name = "relu"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Tests that a decoder-shaped graph with an op on the activations that no
// rule covers stays a graph, and the remark names the node and its inputs.
// CHECK: remark: kept as a graph (no KV cache paging): node 'sin' (Sin): inputs (tokens) are not understood
func.func @main(%ids: tensor<?x?xi64> {ingot.name = "input_ids"},
                %pos: tensor<?x?xi64> {ingot.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {ingot.name = "past_key_values.0.key"},
                %pv: tensor<?x2x?x4xf32> {ingot.name = "past_key_values.0.value"})
    -> tensor<?x?x8xf32> attributes {ingot.output_names = ["logits"]} {
  %table = ingot.constant dense<1.0> : tensor<16x8xf32>
  %e = ingot.node "Gather"(%table, %ids) {name = "embed"} : (tensor<16x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %s = ingot.node "Sin"(%e) {name = "sin"} : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %s : tensor<?x?x8xf32>
}

// -----

// Tests that outputs other than logits and present.* keep the graph.
// CHECK: remark: kept as a graph (no KV cache paging): output 'hidden' is not part of a decoder's interface
func.func @main(%ids: tensor<?x?xi64> {ingot.name = "input_ids"},
                %pos: tensor<?x?xi64> {ingot.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {ingot.name = "past_key_values.0.key"},
                %pv: tensor<?x2x?x4xf32> {ingot.name = "past_key_values.0.value"})
    -> tensor<?x?x8xf32> attributes {ingot.output_names = ["hidden"]} {
  %table = ingot.constant dense<1.0> : tensor<16x8xf32>
  %e = ingot.node "Gather"(%table, %ids) {name = "embed"} : (tensor<16x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  return %e : tensor<?x?x8xf32>
}
