// RUN: ingot-opt --split-input-file %s | ingot-opt --split-input-file | FileCheck %s
// RUN: ingot-opt --split-input-file --mlir-print-op-generic %s | ingot-opt --split-input-file | FileCheck %s

// Tests that weight declarations (one source, concat, stack, transforms) and
// weight references round-trip.
// CHECK-LABEL: ingot.weight_decl @embed : tensor<512x64xbf16> {sources = ["model.embed_tokens.weight"]}
// CHECK: ingot.weight_decl @qkv : tensor<192x64xf32> {sources = ["q.weight", "k.weight", "v.weight"], transforms = ["concat:0"]}
// CHECK: ingot.weight_decl @experts : tensor<4x64x128xf16> {sources = ["e0", "e1", "e2", "e3"], transforms = ["stack", "slice:1:0:64", "cast:f16"]}
// CHECK-LABEL: func.func @weights
// CHECK: ingot.weight @embed : tensor<512x64xbf16>
// CHECK: ingot.weight @qkv : tensor<192x64xf32>
ingot.weight_decl @embed : tensor<512x64xbf16> {sources = ["model.embed_tokens.weight"]}
ingot.weight_decl @qkv : tensor<192x64xf32> {sources = ["q.weight", "k.weight", "v.weight"], transforms = ["concat:0"]}
ingot.weight_decl @experts : tensor<4x64x128xf16> {sources = ["e0", "e1", "e2", "e3"], transforms = ["stack", "slice:1:0:64", "cast:f16"]}
func.func @weights() -> (tensor<512x64xbf16>, tensor<192x64xf32>) {
  %0 = ingot.weight @embed : tensor<512x64xbf16>
  %1 = ingot.weight @qkv : tensor<192x64xf32>
  return %0, %1 : tensor<512x64xbf16>, tensor<192x64xf32>
}

// -----

// Tests that embedding round-trips with i32 and i64 ids, ranked and unranked.
// CHECK-LABEL: func.func @embedding
// CHECK: ingot.embedding %{{.*}}, %{{.*}} : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
// CHECK: ingot.embedding %{{.*}}, %{{.*}} : (tensor<512x64xbf16>, tensor<?xi64>) -> tensor<*xbf16>
// CHECK: ingot.embedding %{{.*}}, %{{.*}} : (tensor<*xf16>, tensor<*xi32>) -> tensor<*xf16>
func.func @embedding(%t: tensor<512x64xf32>, %ids: tensor<?xi32>, %tb: tensor<512x64xbf16>,
                     %ids64: tensor<?xi64>, %tu: tensor<*xf16>, %idsu: tensor<*xi32>) {
  %0 = ingot.embedding %t, %ids : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %1 = ingot.embedding %tb, %ids64 : (tensor<512x64xbf16>, tensor<?xi64>) -> tensor<*xbf16>
  %2 = ingot.embedding %tu, %idsu : (tensor<*xf16>, tensor<*xi32>) -> tensor<*xf16>
  return
}

// -----

// Tests that linear round-trips with and without bias, with an activation,
// in every float type and unranked.
// CHECK-LABEL: func.func @linear
// CHECK: ingot.linear %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
// CHECK: ingot.linear %{{.*}}, %{{.*}}, %{{.*}} {activation = "gelu"} : (tensor<?x64xbf16>, tensor<256x64xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
// CHECK: ingot.linear %{{.*}}, %{{.*}}, %{{.*}} {activation = "silu"} : (tensor<?x64xf16>, tensor<256x64xf16>, tensor<256xf16>) -> tensor<?x256xf16>
// CHECK: ingot.linear %{{.*}}, %{{.*}} {activation = "relu"} : (tensor<*xf32>, tensor<256x64xf32>) -> tensor<*xf32>
// CHECK: ingot.linear %{{.*}}, %{{.*}} {activation = "gelu_tanh"} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<256x64xf32>,
                  %xb: tensor<?x64xbf16>, %wb: tensor<256x64xbf16>, %bb: tensor<256xbf16>,
                  %xh: tensor<?x64xf16>, %wh: tensor<256x64xf16>, %bh: tensor<256xf16>,
                  %xu: tensor<*xf32>) {
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %1 = ingot.linear %xb, %wb, %bb {activation = "gelu"} : (tensor<?x64xbf16>, tensor<256x64xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
  %2 = ingot.linear %xh, %wh, %bh {activation = "silu"} : (tensor<?x64xf16>, tensor<256x64xf16>, tensor<256xf16>) -> tensor<?x256xf16>
  %3 = ingot.linear %xu, %w {activation = "relu"} : (tensor<*xf32>, tensor<256x64xf32>) -> tensor<*xf32>
  %4 = ingot.linear %x, %w {activation = "gelu_tanh"} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that rms_norm (whole-row and grouped) and layer_norm round-trip,
// ranked and unranked.
// CHECK-LABEL: func.func @norms
// CHECK: ingot.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
// CHECK: ingot.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
// CHECK: ingot.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<?x64xf16>, tensor<64xf16>, tensor<64xf16>) -> tensor<?x64xf16>
// CHECK: ingot.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64, group_size = 16 : i64} : (tensor<?x64xbf16>, tensor<16xbf16>) -> tensor<?x64xbf16>
func.func @norms(%x: tensor<?x64xbf16>, %g: tensor<64xbf16>, %xu: tensor<*xf32>, %gu: tensor<*xf32>,
                 %xh: tensor<?x64xf16>, %gh: tensor<64xf16>, %bh: tensor<64xf16>, %hg: tensor<16xbf16>) {
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  %1 = ingot.rms_norm %xu, %gu {epsilon = 1.0e-05 : f64} : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %2 = ingot.layer_norm %xh, %gh, %bh {epsilon = 1.0e-05 : f64} : (tensor<?x64xf16>, tensor<64xf16>, tensor<64xf16>) -> tensor<?x64xf16>
  %3 = ingot.rms_norm %x, %hg {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xbf16>, tensor<16xbf16>) -> tensor<?x64xbf16>
  return
}

// -----

// Tests that rope round-trips with default attributes elided and with every
// scaling attribute set to a non-default value.
// CHECK-LABEL: func.func @rope
// CHECK: ingot.rope %{{.*}}, %{{.*}} {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 1.000000e+04 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
// CHECK: ingot.rope %{{.*}}, %{{.*}} {factor = 8.000000e+00 : f64, head_dim = 16 : i64, high_freq_factor = 8.000000e+00 : f64, low_freq_factor = 2.000000e+00 : f64, original_max_position = 4096 : i64, rotary_dim = 8 : i64, scaling = "llama3", style = "interleaved", theta = 5.000000e+05 : f64} : (tensor<?x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
// CHECK: ingot.rope %{{.*}}, %{{.*}} {factor = 2.000000e+00 : f64, head_dim = 16 : i64, rotary_dim = 16 : i64, scaling = "linear", theta = 1.000000e+04 : f64} : (tensor<*xf16>, tensor<*xi32>) -> tensor<*xf16>
func.func @rope(%q: tensor<?x64xf32>, %p: tensor<?xi32>, %qb: tensor<?x64xbf16>, %p64: tensor<?xi64>,
                %qu: tensor<*xf16>, %pu: tensor<*xi32>) {
  %0 = ingot.rope %q, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, style = "half"} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %1 = ingot.rope %qb, %p64 {head_dim = 16 : i64, rotary_dim = 8 : i64, theta = 500000.0 : f64, style = "interleaved",
                             scaling = "llama3", factor = 8.0 : f64, low_freq_factor = 2.0 : f64,
                             high_freq_factor = 8.0 : f64, original_max_position = 4096 : i64}
      : (tensor<?x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %2 = ingot.rope %qu, %pu {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64, scaling = "linear", factor = 2.0 : f64} : (tensor<*xf16>, tensor<*xi32>) -> tensor<*xf16>
  return
}

// -----

// Tests that attention round-trips (GQA with a sliding window, and MHA
// unranked).
// CHECK-LABEL: func.func @attention
// CHECK: ingot.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 16 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64, sliding_window = 128 : i64} : (tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>, !ingot.batch) -> tensor<?x64xbf16>
// CHECK: ingot.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 16 : i64, layer = 3 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, scale = 2.500000e-01 : f64} : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, !ingot.batch) -> tensor<*xf32>
func.func @attention(%q: tensor<?x64xbf16>, %k: tensor<?x32xbf16>, %v: tensor<?x32xbf16>, %b: !ingot.batch,
                     %qu: tensor<*xf32>) {
  %0 = ingot.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64,
                                       head_dim = 16 : i64, scale = 0.25 : f64, sliding_window = 128 : i64}
      : (tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>, !ingot.batch) -> tensor<?x64xbf16>
  %1 = ingot.attention %qu, %qu, %qu, %b {layer = 3 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64,
                                          head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, !ingot.batch) -> tensor<*xf32>
  return
}

// -----

// Tests that the activations round-trip.
// CHECK-LABEL: func.func @activations
// CHECK: ingot.silu %{{.*}} : (tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK: ingot.relu %{{.*}} : (tensor<?x128xbf16>) -> tensor<?x128xbf16>
// CHECK: ingot.gelu %{{.*}} : (tensor<*xf16>) -> tensor<*xf16>
// CHECK: ingot.gelu %{{.*}} {approximate = "tanh"} : (tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK: ingot.softmax %{{.*}} : (tensor<?x128xf32>) -> tensor<?x128xf32>
func.func @activations(%x: tensor<?x128xf32>, %xb: tensor<?x128xbf16>, %xu: tensor<*xf16>) {
  %0 = ingot.silu %x : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = ingot.relu %xb : (tensor<?x128xbf16>) -> tensor<?x128xbf16>
  %2 = ingot.gelu %xu {approximate = "none"} : (tensor<*xf16>) -> tensor<*xf16>
  %3 = ingot.gelu %x {approximate = "tanh"} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %4 = ingot.softmax %x : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that the binary ops round-trip, same-shape, row-broadcast and unranked.
// CHECK-LABEL: func.func @binary
// CHECK: ingot.add %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.sub %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.mul %{{.*}}, %{{.*}} : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
// CHECK: ingot.div %{{.*}}, %{{.*}} : (tensor<*xf16>, tensor<*xf16>) -> tensor<*xf16>
func.func @binary(%a: tensor<?x64xf32>, %bias: tensor<64xf32>, %ab: tensor<?x64xbf16>, %au: tensor<*xf16>) {
  %0 = ingot.add %a, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.sub %a, %bias : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %2 = ingot.mul %ab, %ab : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %3 = ingot.div %au, %au : (tensor<*xf16>, tensor<*xf16>) -> tensor<*xf16>
  return
}

// -----

// Tests that scale and cast round-trip.
// CHECK-LABEL: func.func @scale_cast
// CHECK: ingot.scale %{{.*}} {factor = 8.000000e+00 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.cast %{{.*}} : (tensor<?x64xf32>) -> tensor<?x64xbf16>
// CHECK: ingot.cast %{{.*}} : (tensor<*xf16>) -> tensor<*xf32>
func.func @scale_cast(%x: tensor<?x64xf32>, %xu: tensor<*xf16>) {
  %0 = ingot.scale %x {factor = 8.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.cast %x : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %2 = ingot.cast %xu : (tensor<*xf16>) -> tensor<*xf32>
  return
}

// -----

// Tests that moe round-trips with and without normalize_topk.
// CHECK-LABEL: func.func @moe
// CHECK: ingot.moe %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {top_k = 2 : i64} : (tensor<?x64xbf16>, tensor<4x64xbf16>, tensor<4x128x64xbf16>, tensor<4x128x64xbf16>, tensor<4x64x128xbf16>) -> tensor<?x64xbf16>
// CHECK: ingot.moe %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {normalize_topk = false, top_k = 1 : i64} : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
func.func @moe(%x: tensor<?x64xbf16>, %r: tensor<4x64xbf16>, %g: tensor<4x128x64xbf16>, %u: tensor<4x128x64xbf16>,
               %d: tensor<4x64x128xbf16>, %xu: tensor<*xf32>) {
  %0 = ingot.moe %x, %r, %g, %u, %d {top_k = 2 : i64}
      : (tensor<?x64xbf16>, tensor<4x64xbf16>, tensor<4x128x64xbf16>, tensor<4x128x64xbf16>, tensor<4x64x128xbf16>) -> tensor<?x64xbf16>
  %1 = ingot.moe %xu, %xu, %xu, %xu, %xu {top_k = 1 : i64, normalize_topk = false}
      : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

// Tests that gather_last and logits round-trip.
// CHECK-LABEL: func.func @head
// CHECK: ingot.gather_last %{{.*}}, %{{.*}} : (tensor<?x64xf16>, !ingot.batch) -> tensor<?x64xf16>
// CHECK: ingot.logits %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x64xbf16>, tensor<512x64xbf16>, !ingot.batch) -> tensor<?x512xf32>
// CHECK: ingot.logits %{{.*}}, %{{.*}}, %{{.*}} : (tensor<*xf32>, tensor<*xf32>, !ingot.batch) -> tensor<*xf32>
func.func @head(%h: tensor<?x64xf16>, %b: !ingot.batch, %x: tensor<?x64xbf16>, %w: tensor<512x64xbf16>, %xu: tensor<*xf32>) {
  %0 = ingot.gather_last %h, %b : (tensor<?x64xf16>, !ingot.batch) -> tensor<?x64xf16>
  %1 = ingot.logits %x, %w, %b : (tensor<?x64xbf16>, tensor<512x64xbf16>, !ingot.batch) -> tensor<?x512xf32>
  %2 = ingot.logits %xu, %xu, %b : (tensor<*xf32>, tensor<*xf32>, !ingot.batch) -> tensor<*xf32>
  return
}

// -----

// Tests that a fused region with two results and its yield round-trip.
// CHECK-LABEL: func.func @fused
// CHECK: %[[R:.*]]:2 = ingot.fused "add_rms_norm"(%{{.*}}, %{{.*}}, %{{.*}}) {epsilon = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
// CHECK: ^bb0(%[[A:.*]]: tensor<?x64xf32>, %[[B:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<64xf32>):
// CHECK:   %[[S:.*]] = ingot.add %[[A]], %[[B]]
// CHECK:   %[[N:.*]] = ingot.rms_norm %[[S]], %[[W]]
// CHECK:   ingot.yield %[[S]], %[[N]] : tensor<?x64xf32>, tensor<?x64xf32>
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @fused(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g) {epsilon = 1.0e-06 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>, %w: tensor<64xf32>):
    %0 = ingot.add %a, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %s, %n : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that plan steps round-trip, including an Elementwise program and
// arena offsets.
// CHECK-LABEL: func.func @steps
// CHECK: ingot.step "RmsNorm"(%{{.*}}, %{{.*}}) {epsilon = 9.9999999999999995E-7 : f64, ingot.arena_offsets = array<i64: 0>} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.step "Elementwise"(%{{.*}}) {imms = array<f32: 2.000000e+00, 0.000000e+00>, num_registers = 3 : i64, program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x64xf32>) -> tensor<?x64xbf16>
func.func @steps(%x: tensor<?x64xf32>, %g: tensor<64xf32>) {
  %0 = ingot.step "RmsNorm" (%x, %g) {epsilon = 1.0e-06 : f64, ingot.arena_offsets = array<i64: 0>}
      : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %1 = ingot.step "Elementwise" (%0) {program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2>, imms = array<f32: 2.0, 0.0>,
                                      num_registers = 3 : i64, program_outputs = array<i64: 2>}
      : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  return
}
