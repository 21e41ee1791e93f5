// An imported ONNX graph whose large initializers are checkpoint weights
// (ingot.weight_decl), bound to test/fixtures/llama. Used by
// test/tools/ingotc-graph.test.
module attributes {ingot.source = "onnx"} {
  ingot.weight_decl @emb : tensor<512x64xf32> {sources = ["model.embed_tokens.weight"]}
  ingot.weight_decl @embT : tensor<64x512xf32> {sources = ["model.embed_tokens.weight"], transforms = ["transpose"]}
  func.func @main(%ids: tensor<?xi64> {ingot.name = "ids", ingot.dim_params = ["n"]}) -> tensor<*xf32> attributes {ingot.output_names = ["logits"]} {
    %e = ingot.weight @emb : tensor<512x64xf32>
    %t = ingot.weight @embT : tensor<64x512xf32>
    %e2 = ingot.weight @emb : tensor<512x64xf32>
    %x = ingot.node "Gather"(%e, %ids) {name = "embed"} : (tensor<512x64xf32>, tensor<?xi64>) -> tensor<*xf32>
    %y = ingot.node "MatMul"(%x, %t) {name = "head"} : (tensor<*xf32>, tensor<64x512xf32>) -> tensor<*xf32>
    return %y : tensor<*xf32>
  }
}
