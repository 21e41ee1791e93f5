// RUN: ingot-opt --split-input-file --verify-diagnostics %s

// Tests that a weight declaration needs a static type.
// expected-error @+1 {{weight 'w' must have a static tensor type}}
ingot.weight_decl @w : tensor<?x64xf32> {sources = ["w"]}

// -----

// Tests that a weight declaration needs a plan element type (no signed
// integers: ONNX's signed ints are signless).
// expected-error @+1 {{weight element type must be f32, bf16, f16, f64, or a signless/unsigned integer}}
ingot.weight_decl @w : tensor<4x64xsi32> {sources = ["w"]}

// -----

// Tests that a weight declaration needs a source.
// expected-error @+1 {{weight 'w' needs at least one source tensor}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = []}

// -----

// Tests that a malformed number in a transform is reported.
// expected-error @+1 {{'x' is not an integer in transform 'slice:x:0:2'}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["w"], transforms = ["slice:x:0:2"]}

// -----

// Tests that a cast transform needs a float target.
// expected-error @+1 {{cast target must be f32, f16 or bf16, got 'i8'}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["w"], transforms = ["cast:i8"]}

// -----

// Tests that an unknown transform is reported.
// expected-error @+1 {{unknown weight transform 'flip'}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["w"], transforms = ["flip"]}

// -----

// Tests that concat must come first.
// expected-error @+1 {{'concat:0' must be the first transform}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["a", "b"], transforms = ["transpose", "concat:0"]}

// -----

// Tests that several sources need a concat or stack.
// expected-error @+1 {{weight 'w' has 2 sources but no concat or stack transform}}
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["a", "b"]}

// -----

// Tests that a weight reference must name a weight declaration.
func.func @undeclared() {
  // expected-error @+1 {{refers to 'nope', which is not an ingot.weight_decl}}
  %0 = ingot.weight @nope : tensor<4x64xf32>
  return
}

// -----

// Tests that a weight reference has the declared type.
ingot.weight_decl @w : tensor<4x64xf32> {sources = ["w"]}
func.func @wrong_type() {
  // expected-error @+1 {{type 'tensor<4x32xf32>' differs from weight 'w' declared as 'tensor<4x64xf32>'}}
  %0 = ingot.weight @w : tensor<4x32xf32>
  return
}

// -----

// Tests that an embedding table is rank 2.
func.func @embedding_table(%t: tensor<512xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{expects an embedding table of rank 2, got 'tensor<512xf32>'}}
  %0 = ingot.embedding %t, %ids : (tensor<512xf32>, tensor<?xi32>) -> tensor<*xf32>
  return
}

// -----

// Tests that embedding ids are rank 1.
func.func @embedding_ids(%t: tensor<512x64xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects ids of rank 1}}
  %0 = ingot.embedding %t, %ids : (tensor<512x64xf32>, tensor<?x2xi32>) -> tensor<*xf32>
  return
}

// -----

// Tests that an embedding's declared result must match the table width.
func.func @embedding_result(%t: tensor<512x64xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{result type 'tensor<?x32xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = ingot.embedding %t, %ids : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that an embedding's result element type follows the table.
func.func @embedding_result_elt(%t: tensor<512x64xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{result element type 'bf16' does not match the expected 'f32'}}
  %0 = ingot.embedding %t, %ids : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<?x64xbf16>
  return
}

// -----

// Tests that a linear weight is rank 2.
func.func @linear_weight_rank(%x: tensor<?x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{expects a weight of rank 2}}
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<*xf32>
  return
}

// -----

// Tests that a linear input and weight share an element type.
func.func @linear_elt(%x: tensor<?x64xf32>, %w: tensor<32x64xbf16>) {
  // expected-error @+1 {{expects input and weight to have the same element type, got 'f32' and 'bf16'}}
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xbf16>) -> tensor<*xf32>
  return
}

// -----

// Tests that a linear input is not a scalar.
func.func @linear_scalar(%x: tensor<f32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{expects an input of rank >= 1}}
  %0 = ingot.linear %x, %w : (tensor<f32>, tensor<32x64xf32>) -> tensor<*xf32>
  return
}

// -----

// Tests that linear features must match the weight's input size.
func.func @linear_features(%x: tensor<?x48xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{input has 48 features but the weight [out, in] expects 64}}
  %0 = ingot.linear %x, %w : (tensor<?x48xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that a linear bias is rank 1.
func.func @linear_bias_rank(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<1x32xf32>) {
  // expected-error @+1 {{expects a bias of rank 1}}
  %0 = ingot.linear %x, %w, %b : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<1x32xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that a linear bias has the input's element type.
func.func @linear_bias_elt(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf16>) {
  // expected-error @+1 {{expects input and bias to have the same element type}}
  %0 = ingot.linear %x, %w, %b : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32xf16>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that a linear bias has one element per output.
func.func @linear_bias_size(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{bias has 16 elements but the weight has 32 outputs}}
  %0 = ingot.linear %x, %w, %b : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<16xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that the linear activation is one the runtime knows.
func.func @linear_activation(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{unknown activation 'tanh' (expected none, gelu, gelu_tanh, relu or silu)}}
  %0 = ingot.linear %x, %w {activation = "tanh"} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that a linear result has the weight's output count.
func.func @linear_result(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{result type 'tensor<?x64xf32>' does not match the expected 'tensor<?x32xf32>'}}
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a norm weight has the hidden size.
func.func @rms_norm_weight(%x: tensor<?x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{the norm weight has 32 elements but the hidden size is 64}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<32xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a norm weight is rank 1.
func.func @rms_norm_weight_rank(%x: tensor<?x64xf32>, %g: tensor<1x64xf32>) {
  // expected-error @+1 {{expects the norm weight of rank 1}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that group_size is not negative.
func.func @rms_norm_group_negative(%x: tensor<?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{group_size must be >= 0 (0 means the whole row), got -2}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64, group_size = -2 : i64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a grouped norm weight spans one group.
func.func @rms_norm_group_weight(%x: tensor<?x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{the norm weight has 32 elements but group_size is 16}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<32xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a grouped norm's weight is rank 1.
func.func @rms_norm_group_weight_rank(%x: tensor<?x64xf32>, %g: tensor<1x16xf32>) {
  // expected-error @+1 {{expects the norm weight of rank 1}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<1x16xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that rows split into whole groups.
func.func @rms_norm_group_split(%x: tensor<?x72xf32>, %g: tensor<16xf32>) {
  // expected-error @+1 {{the last dimension 72 is not a multiple of group_size 16}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x72xf32>, tensor<16xf32>) -> tensor<?x72xf32>
  return
}

// -----

// Tests that rms_norm epsilon is not negative.
func.func @rms_norm_epsilon(%x: tensor<?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be >= 0}}
  %0 = ingot.rms_norm %x, %g {epsilon = -1.0 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that rms_norm preserves the input shape.
func.func @rms_norm_result(%x: tensor<?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{result type 'tensor<?x64x1xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64x1xf32>
  return
}

// -----

// Tests that a layer_norm bias has the hidden size.
func.func @layer_norm_bias(%x: tensor<?x64xf32>, %g: tensor<64xf32>, %b: tensor<63xf32>) {
  // expected-error @+1 {{the norm bias has 63 elements but the hidden size is 64}}
  %0 = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<63xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that layer_norm epsilon is not negative.
func.func @layer_norm_epsilon(%x: tensor<?x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be >= 0}}
  %0 = ingot.layer_norm %x, %g, %b {epsilon = -1.0e-05 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that rope input is rank 2.
func.func @rope_rank(%x: tensor<?x4x16xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{expects an input [tokens, heads*head_dim] of rank 2}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<?x4x16xf32>, tensor<?xi32>) -> tensor<?x4x16xf32>
  return
}

// -----

// Tests that rope positions are rank 1.
func.func @rope_positions(%x: tensor<?x64xf32>, %p: tensor<?x1xi32>) {
  // expected-error @+1 {{expects positions of rank 1}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<?x64xf32>, tensor<?x1xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that rope head_dim is even.
func.func @rope_head_dim(%x: tensor<?x60xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{head_dim must be positive and even, got 15}}
  %0 = ingot.rope %x, %p {head_dim = 15 : i64, rotary_dim = 14 : i64, theta = 10000.0 : f64} : (tensor<?x60xf32>, tensor<?xi32>) -> tensor<?x60xf32>
  return
}

// -----

// Tests that rope rotary_dim fits in the head.
func.func @rope_rotary_dim(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{rotary_dim must be even and in (0, head_dim=16], got 32}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 32 : i64, theta = 10000.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the rope input width is whole heads.
func.func @rope_width(%x: tensor<?x72xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{input width 72 is not a multiple of head_dim 16}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<?x72xf32>, tensor<?xi32>) -> tensor<?x72xf32>
  return
}

// -----

// Tests that rope theta is positive.
func.func @rope_theta(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{theta must be positive}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 0.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the rope style is known.
func.func @rope_style(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{style must be 'half' or 'interleaved', got 'neox'}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, style = "neox"} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the rope scaling is known.
func.func @rope_scaling(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{scaling must be 'none', 'linear', 'llama3' or 'table', got 'yarn'}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, scaling = "yarn"} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the rope scaling factor is positive.
func.func @rope_factor(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{scaling factor must be positive}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, scaling = "linear", factor = 0.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that llama3 scaling orders its frequency factors.
func.func @rope_llama3(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{llama3 scaling needs high_freq_factor > low_freq_factor}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, scaling = "llama3",
                          factor = 8.0 : f64, low_freq_factor = 4.0 : f64, high_freq_factor = 1.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that llama3 scaling needs the original context length.
func.func @rope_llama3_position(%x: tensor<?x64xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{llama3 scaling needs a positive original_max_position}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, scaling = "llama3",
                          factor = 8.0 : f64, original_max_position = 0 : i64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that attention keys are rank 2.
func.func @attention_rank(%q: tensor<?x64xf32>, %k: tensor<?x2x16xf32>, %v: tensor<?x32xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{expects keys of rank 2}}
  %0 = ingot.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x2x16xf32>, tensor<?x32xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that attention q, k, v share an element type.
func.func @attention_elt(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xbf16>, %b: !ingot.batch) {
  // expected-error @+1 {{expects queries and values to have the same element type}}
  %0 = ingot.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xbf16>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that attention head counts are positive.
func.func @attention_heads(%q: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{num_heads, num_kv_heads and head_dim must be positive}}
  %0 = ingot.attention %q, %q, %q, %b {layer = 0 : i64, num_heads = 0 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that query heads are a multiple of KV heads.
func.func @attention_gqa(%q: tensor<?x64xf32>, %k: tensor<?x48xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{num_heads (4) must be a multiple of num_kv_heads (3)}}
  %0 = ingot.attention %q, %k, %k, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x48xf32>, tensor<?x48xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that attention key width is num_kv_heads x head_dim.
func.func @attention_width(%q: tensor<?x64xf32>, %k: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{keys have width 64 but 2 heads x head_dim 16 = 32}}
  %0 = ingot.attention %q, %k, %k, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the attention scale is positive.
func.func @attention_scale(%q: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{scale must be positive}}
  %0 = ingot.attention %q, %q, %q, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = -0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a sliding window is not negative.
func.func @attention_window(%q: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{sliding_window must be >= 0 (0 means none)}}
  %0 = ingot.attention %q, %q, %q, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f64, sliding_window = -1 : i64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the attention layer is not negative.
func.func @attention_layer(%q: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{layer must be >= 0}}
  %0 = ingot.attention %q, %q, %q, %b {layer = -1 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that an activation keeps its input shape.
func.func @silu_result(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{result type 'tensor<?x32xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = ingot.silu %x : (tensor<?x64xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that relu keeps its input shape.
func.func @relu_result(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{result type 'tensor<8x64xf32>' does not match the expected 'tensor<4x64xf32>'}}
  %0 = ingot.relu %x : (tensor<4x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Tests that gelu approximation is none or tanh.
func.func @gelu_approximate(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{approximate must be 'none' or 'tanh', got 'sigmoid'}}
  %0 = ingot.gelu %x {approximate = "sigmoid"} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that softmax input is not a scalar.
func.func @softmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{expects an input of rank >= 1}}
  %0 = ingot.softmax %x : (tensor<f32>) -> tensor<f32>
  return
}

// -----

// Tests that scale keeps its input shape.
func.func @scale_result(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{result type 'tensor<?xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = ingot.scale %x {factor = 2.0 : f64} : (tensor<?x64xf32>) -> tensor<?xf32>
  return
}

// -----

// Tests that a row broadcast needs the last dim's size.
func.func @add_broadcast(%a: tensor<?x64xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{cannot broadcast 'tensor<32xf32>' over the rows of 'tensor<?x64xf32>': sizes 32 and 64 differ}}
  %0 = ingot.add %a, %b : (tensor<?x64xf32>, tensor<32xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that only a rank-1 rhs broadcasts.
func.func @sub_ranks(%a: tensor<?x64xf32>, %b: tensor<2x?x64xf32>) {
  // expected-error @+1 {{have different ranks (only a rank-1 rhs broadcasts)}}
  %0 = ingot.sub %a, %b : (tensor<?x64xf32>, tensor<2x?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that same-rank operands must agree in every dim.
func.func @mul_dims(%a: tensor<?x64xf32>, %b: tensor<?x32xf32>) {
  // expected-error @+1 {{operand shapes differ in dimension 1: 'tensor<?x64xf32>' vs 'tensor<?x32xf32>'}}
  %0 = ingot.mul %a, %b : (tensor<?x64xf32>, tensor<?x32xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that binary operands share an element type.
func.func @div_elt(%a: tensor<?x64xf32>, %b: tensor<?x64xbf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = ingot.div %a, %b : (tensor<?x64xf32>, tensor<?x64xbf16>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a binary result has the operands' shape.
func.func @add_result(%a: tensor<?x64xf32>) {
  // expected-error @+1 {{result type 'tensor<?x32xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = ingot.add %a, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that cast keeps the input shape.
func.func @cast_shape(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{result type 'tensor<?x32xbf16>' does not match the expected 'tensor<?x64xbf16>'}}
  %0 = ingot.cast %x : (tensor<?x64xf32>) -> tensor<?x32xbf16>
  return
}

// -----

// Tests that a moe router is rank 2.
func.func @moe_router_rank(%x: tensor<?x64xf32>, %r: tensor<4xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) {
  // expected-error @+1 {{expects a router [experts, hidden] of rank 2}}
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that the moe router hidden size matches the input.
func.func @moe_hidden(%x: tensor<?x32xf32>, %r: tensor<4x64xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) {
  // expected-error @+1 {{router expects hidden size 64 but the input has 32}}
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x32xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that every expert weight has the router's expert count.
func.func @moe_experts(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>, %g: tensor<8x128x64xf32>, %d: tensor<4x64x128xf32>) {
  // expected-error @+1 {{router has 4 experts but expert weights disagree}}
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that gate, up and down agree on the intermediate size.
func.func @moe_shapes(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x96xf32>) {
  // expected-error @+1 {{expert weight shapes are inconsistent}}
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x96xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that top_k is at most the expert count.
func.func @moe_top_k(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) {
  // expected-error @+1 {{top_k must be in [1, 4], got 5}}
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 5 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that top_k is positive when the expert count is unknown.
func.func @moe_top_k_unranked(%x: tensor<*xf32>) {
  // expected-error @+1 {{top_k must be positive}}
  %0 = ingot.moe %x, %x, %x, %x, %x {top_k = 0 : i64} : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

// Tests that a negative top_k is refused when the expert count is unknown.
func.func @moe_top_k_negative(%x: tensor<*xf32>) {
  // expected-error @+1 {{top_k must be positive}}
  %0 = ingot.moe %x, %x, %x, %x, %x {top_k = -1 : i64} : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

// Tests that gather_last takes [tokens, hidden].
func.func @gather_last_rank(%x: tensor<?x4x16xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{expects an input [tokens, hidden], got 'tensor<?x4x16xf32>'}}
  %0 = ingot.gather_last %x, %b : (tensor<?x4x16xf32>, !ingot.batch) -> tensor<?x4x16xf32>
  return
}

// -----

// Tests that gather_last keeps the element type.
func.func @gather_last_elt(%x: tensor<?x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{result element type 'bf16' does not match the expected 'f32'}}
  %0 = ingot.gather_last %x, %b : (tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xbf16>
  return
}

// -----

// Tests that the logits head weight is rank 2.
func.func @logits_rank(%x: tensor<?x64xf32>, %w: tensor<512xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{expects a head weight [vocab, hidden] of rank 2}}
  %0 = ingot.logits %x, %w, %b : (tensor<?x64xf32>, tensor<512xf32>, !ingot.batch) -> tensor<*xf32>
  return
}

// -----

// Tests that logits input and head share an element type.
func.func @logits_elt(%x: tensor<?x64xf32>, %w: tensor<512x64xbf16>, %b: !ingot.batch) {
  // expected-error @+1 {{expects input and head weight to have the same element type}}
  %0 = ingot.logits %x, %w, %b : (tensor<?x64xf32>, tensor<512x64xbf16>, !ingot.batch) -> tensor<?x512xf32>
  return
}

// -----

// Tests that the logits head matches the hidden size.
func.func @logits_hidden(%x: tensor<?x32xf32>, %w: tensor<512x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{input has hidden size 32 but the head weight expects 64}}
  %0 = ingot.logits %x, %w, %b : (tensor<?x32xf32>, tensor<512x64xf32>, !ingot.batch) -> tensor<?x512xf32>
  return
}

// -----

// Tests that logits have the vocabulary width.
func.func @logits_result(%x: tensor<?x64xf32>, %w: tensor<512x64xf32>, %b: !ingot.batch) {
  // expected-error @+1 {{result type 'tensor<?x64xf32>' does not match the expected 'tensor<?x512xf32>'}}
  %0 = ingot.logits %x, %w, %b : (tensor<?x64xf32>, tensor<512x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a fused body has one argument per input.
func.func @fused_args(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{body has 2 arguments but the op has 1 inputs}}
  %0 = ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>):
    ingot.yield %a : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that fused body arguments have the input types.
func.func @fused_arg_type(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{body argument type 'tensor<?x64xbf16>' differs from input type 'tensor<?x64xf32>'}}
  %0 = ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xbf16>):
    %c = ingot.cast %a : (tensor<?x64xbf16>) -> tensor<?x64xf32>
    ingot.yield %c : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a fused body ends in ingot.yield.
func.func @fused_no_yield(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{body must end with ingot.yield}}
  ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> () {
  ^bb0(%a: tensor<?x64xf32>):
    %c = ingot.silu %a : (tensor<?x64xf32>) -> tensor<?x64xf32>
  }
  return
}

// -----

// Tests that a fused body yields one value per result.
func.func @fused_yield_count(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{yields 2 values but has 1 results}}
  %0 = ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>):
    ingot.yield %a, %a : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that yielded types are the result types.
func.func @fused_yield_type(%x: tensor<?x64xf32>) -> tensor<?x64xbf16> {
  // expected-error @+1 {{yielded type 'tensor<?x64xf32>' differs from result type 'tensor<?x64xbf16>'}}
  %0 = ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> tensor<?x64xbf16> {
  ^bb0(%a: tensor<?x64xf32>):
    ingot.yield %a : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xbf16>
}

// -----

// Tests that the fusion kind is known.
func.func @fused_kind(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{unknown fusion kind 'gemm_chain'}}
  %0 = ingot.fused "gemm_chain" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>):
    ingot.yield %a : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a fused region cannot read values from outside.
func.func @fused_isolated(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %0 = ingot.fused "elementwise" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>):
    // expected-error @+1 {{using value defined outside the region}}
    %s = ingot.add %a, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ingot.yield %s : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that ingot.yield only appears in a fused body.
func.func @yield_parent(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{expects parent op 'ingot.fused'}}
  ingot.yield %x : tensor<?x64xf32>
}

// -----

// Tests that a plan step names a runtime OpKind.
func.func @step_kind(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{unknown plan step kind 'Conv2d'}}
  %0 = ingot.step "Conv2d" (%x) : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a rope frequency table comes exactly with scaling "table".
func.func @rope_table_without_scaling(%x: tensor<?x64xf32>, %p: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{inv_freq is given exactly when scaling is 'table'}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 4 : i64, theta = 1.0 : f64, inv_freq = array<f32: 1.0, 0.5>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that the rope frequency table has rotary_dim/2 entries.
func.func @rope_table_size(%x: tensor<?x64xf32>, %p: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{inv_freq needs rotary_dim/2 = 2 values, has 3}}
  %0 = ingot.rope %x, %p {head_dim = 16 : i64, rotary_dim = 4 : i64, theta = 1.0 : f64, scaling = "table", inv_freq = array<f32: 1.0, 0.5, 0.25>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
