// A small imported ONNX graph (what lib/ONNX produces): constants only, no
// checkpoint weights. Used by test/tools/ingotc-graph.test.
module attributes {ingot.source = "onnx", ingot.onnx.opsets = {"ai.onnx" = 17 : i64}} {
  func.func @main(%x: tensor<?x4xf32> {ingot.name = "x", ingot.dim_params = ["batch", ""]})
      -> (tensor<*xf32>, tensor<*xi64>)
      attributes {ingot.output_names = ["probs", "rows"],
                  ingot.output_dim_params = [["batch", ""], [""]]} {
    %w = ingot.constant dense<[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]> : tensor<4x3xf32>
    %b = ingot.constant dense<[0.1, 0.2, 0.3]> : tensor<3xf32>
    %none = ingot.absent : none
    %max = ingot.constant dense<6.0> : tensor<f32>
    %id = ingot.node "Identity"(%x) {name = "id"} : (tensor<?x4xf32>) -> tensor<*xf32>
    %mm = ingot.node "MatMul"(%id, %w) {name = "mm"} : (tensor<*xf32>, tensor<4x3xf32>) -> tensor<*xf32>
    %y = ingot.node "Add"(%mm, %b) {name = "bias"} : (tensor<*xf32>, tensor<3xf32>) -> tensor<*xf32>
    %c = ingot.node "Clip"(%y, %none, %max) {name = "clip"} : (tensor<*xf32>, none, tensor<f32>) -> tensor<*xf32>
    %p = ingot.node "Softmax"(%c) {name = "softmax", attrs = {axis = -1 : i64}} : (tensor<*xf32>) -> tensor<*xf32>
    %s = ingot.node "Shape"(%p) {name = "shape", attrs = {end = 1 : i64}} : (tensor<*xf32>) -> tensor<*xi64>
    return %p, %s : tensor<*xf32>, tensor<*xi64>
  }
}
