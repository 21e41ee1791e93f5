// RUN: ingot-opt --split-input-file --allow-unregistered-dialect --ingot-lower-to-plan --verify-diagnostics %s | FileCheck %s

// Tests that embedding becomes an Embedding step reading (ids, table), the
// order the runtime expects, and that weights and the return stay.
// CHECK-LABEL: func.func @embedding
// CHECK: %[[T:.*]] = ingot.weight @embed
// CHECK: %[[E:.*]] = ingot.step "Embedding"(%arg0, %[[T]]) {ingot.arena_offsets = array<i64: 128>} : (tensor<?xi32>, tensor<512x64xbf16>) -> tensor<?x64xbf16>
// CHECK: return %[[E]]
ingot.weight_decl @embed : tensor<512x64xbf16> {sources = ["embed"]}
func.func @embedding(%ids: tensor<?xi32>) -> tensor<?x64xbf16> {
  %t = ingot.weight @embed : tensor<512x64xbf16>
  %0 = ingot.embedding %t, %ids {ingot.arena_offsets = array<i64: 128>} : (tensor<512x64xbf16>, tensor<?xi32>) -> tensor<?x64xbf16>
  return %0 : tensor<?x64xbf16>
}

// -----

// Tests that linear keeps its optional bias and always names its activation.
// CHECK-LABEL: func.func @linear
// CHECK: ingot.step "Linear"(%arg0, %arg1) {activation = "none"} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
// CHECK: ingot.step "Linear"(%arg0, %arg1, %arg2) {activation = "gelu_tanh"} : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<?x32xf32>
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %1 = ingot.linear %x, %w, %b {activation = "gelu_tanh"} : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  return %0, %1 : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that the norms carry epsilon as f64 and rms_norm its group_size
// (0, the whole row, by default) as i64.
// CHECK-LABEL: func.func @norms
// CHECK: ingot.step "RmsNorm"(%arg0, %arg1) {epsilon = 9.9999999999999995E-7 : f64, group_size = 0 : i64}
// CHECK: ingot.step "LayerNorm"(%arg0, %arg1, %arg2) {epsilon = 1.000000e-05 : f64}
// CHECK: ingot.step "RmsNorm"(%arg0, %arg3) {epsilon = 9.9999999999999995E-7 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<16xf32>) -> tensor<?x64xf32>
func.func @norms(%x: tensor<?x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>, %h: tensor<16xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %1 = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %2 = ingot.rms_norm %x, %h {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<16xf32>) -> tensor<?x64xf32>
  return %0, %1, %2 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that rope spells out every attribute, defaults included, with
// integers as i64 and floats as f64.
// CHECK-LABEL: func.func @rope
// CHECK: ingot.step "Rope"(%arg0, %arg1) {factor = 1.000000e+00 : f64, head_dim = 16 : i64, high_freq_factor = 4.000000e+00 : f64, low_freq_factor = 1.000000e+00 : f64, original_max_position = 8192 : i64, rotary_dim = 8 : i64, scaling = "none", style = "half", theta = 1.000000e+04 : f64}
// CHECK: ingot.step "Rope"(%arg0, %arg1) {factor = 3.200000e+01 : f64, head_dim = 16 : i64, high_freq_factor = 8.000000e+00 : f64, low_freq_factor = 2.000000e+00 : f64, original_max_position = 4096 : i64, rotary_dim = 16 : i64, scaling = "llama3", style = "interleaved", theta = 5.000000e+05 : f64}
func.func @rope(%q: tensor<?x64xf32>, %p: tensor<?xi32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = ingot.rope %q, %p {head_dim = 16 : i64, rotary_dim = 8 : i64, theta = 10000.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %1 = ingot.rope %q, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 500000.0 : f64, style = "interleaved",
                          scaling = "llama3", factor = 32.0 : f64, low_freq_factor = 2.0 : f64,
                          high_freq_factor = 8.0 : f64, original_max_position = 4096 : i64}
      : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that attention drops the batch operand and carries every attribute
// (sliding_window too when it is the default 0).
// CHECK-LABEL: func.func @attention
// CHECK: ingot.step "Attention"(%arg0, %arg1, %arg2) {head_dim = 16 : i64, layer = 2 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64, sliding_window = 0 : i64} : (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x64xf32>
func.func @attention(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %b: !ingot.batch) -> tensor<?x64xf32> {
  %0 = ingot.attention %q, %k, %v, %b {layer = 2 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, !ingot.batch) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests softmax, moe (normalize_topk as 0/1), gather_last and logits (batch
// dropped).
// CHECK-LABEL: func.func @rest
// CHECK: %[[S:.*]] = ingot.step "Softmax"(%arg0) : (tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.step "MoE"(%[[S]], %arg1, %arg2, %arg2, %arg3) {normalize_topk = 1 : i64, top_k = 2 : i64}
// CHECK: %[[M:.*]] = ingot.step "MoE"(%{{.*}}, %arg1, %arg2, %arg2, %arg3) {normalize_topk = 0 : i64, top_k = 1 : i64}
// CHECK: %[[G:.*]] = ingot.step "GatherLast"(%[[M]]) : (tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.step "Logits"(%[[G]], %arg4) : (tensor<?x64xf32>, tensor<512x64xf32>) -> tensor<?x512xf32>
func.func @rest(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>,
                %w: tensor<512x64xf32>, %b: !ingot.batch) -> tensor<?x512xf32> {
  %0 = ingot.softmax %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.moe %0, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  %2 = ingot.moe %1, %r, %g, %g, %d {top_k = 1 : i64, normalize_topk = false} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  %3 = ingot.gather_last %2, %b : (tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  %4 = ingot.logits %3, %w, %b : (tensor<?x64xf32>, tensor<512x64xf32>, !ingot.batch) -> tensor<?x512xf32>
  return %4 : tensor<?x512xf32>
}

// -----

// Tests that add_rms_norm and add_layer_norm regions become AddRmsNorm and
// AddLayerNorm with (sum, normed) results and the body's epsilon, and that
// silu_mul becomes SiluMul; arena offsets follow.
// CHECK-LABEL: func.func @fused
// CHECK: %[[A:.*]]:2 = ingot.step "AddRmsNorm"(%arg0, %arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64, ingot.arena_offsets = array<i64: 0, 4096>} : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>)
// CHECK: %[[L:.*]]:2 = ingot.step "AddLayerNorm"(%[[A]]#0, %[[A]]#1, %arg2, %arg3) {epsilon = 1.000000e-05 : f64}
// CHECK: %[[M:.*]] = ingot.step "SiluMul"(%[[L]]#0, %[[L]]#1) : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK-NOT: ingot.fused
// CHECK: return %[[M]]
func.func @fused(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>, %beta: tensor<64xf32>) -> tensor<?x64xf32> {
  %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g) {ingot.arena_offsets = array<i64: 0, 4096>}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>, %w: tensor<64xf32>):
    %0 = ingot.add %a, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  %s2, %n2 = ingot.fused "add_layer_norm" (%s, %n, %g, %beta)
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>, %w: tensor<64xf32>, %bb: tensor<64xf32>):
    %0 = ingot.add %a, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.layer_norm %0, %w, %bb {epsilon = 1.0e-05 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  %m = ingot.fused "silu_mul" (%s2, %n2) : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>):
    %0 = ingot.silu %a : (tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.mul %0, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ingot.yield %1 : tensor<?x64xf32>
  }
  return %m : tensor<?x64xf32>
}

// -----

// Tests the register program of an elementwise region. Inputs x, b, y are
// r0, r1, r2; then
//   scale x 0.125 -> Const(30) r3 = 0.125 ; Mul(2) r4 = r0 * r3
//   add           -> Add(0)    r5 = r4 + r1
//   div y y       -> Div(3)    r6 = r2 / r2
//   sub           -> Sub(1)    r7 = r5 - r6
//   gelu tanh     -> GeluTanh(22) r8 = f(r7)
//   cast          -> (no instruction) r8
// so 9 registers and output r8.
// CHECK-LABEL: func.func @elementwise
// CHECK: ingot.step "Elementwise"(%arg0, %arg1, %arg2)
// CHECK-SAME: imms = array<f32: 1.250000e-01, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00>
// CHECK-SAME: ingot.arena_offsets = array<i64: 64>
// CHECK-SAME: num_registers = 9 : i64
// CHECK-SAME: program = array<i64: 30, 0, 0, 3, 2, 0, 3, 4, 0, 4, 1, 5, 3, 2, 2, 6, 1, 5, 6, 7, 22, 7, 0, 8>
// CHECK-SAME: program_outputs = array<i64: 8>
// CHECK-SAME: : (tensor<?x64xf32>, tensor<64xf32>, tensor<?x64xf32>) -> tensor<?x64xbf16>
func.func @elementwise(%x: tensor<?x64xf32>, %b: tensor<64xf32>, %y: tensor<?x64xf32>) -> tensor<?x64xbf16> {
  %0 = ingot.fused "elementwise"(%x, %b, %y) {ingot.arena_offsets = array<i64: 64>} : (tensor<?x64xf32>, tensor<64xf32>, tensor<?x64xf32>) -> tensor<?x64xbf16> {
  ^bb0(%a0: tensor<?x64xf32>, %a1: tensor<64xf32>, %a2: tensor<?x64xf32>):
    %1 = ingot.scale %a0 {factor = 1.250000e-01 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
    %2 = ingot.add %1, %a1 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    %3 = ingot.div %a2, %a2 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %4 = ingot.sub %2, %3 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %5 = ingot.gelu %4 {approximate = "tanh"} : (tensor<?x64xf32>) -> tensor<?x64xf32>
    %6 = ingot.cast %5 : (tensor<?x64xf32>) -> tensor<?x64xbf16>
    ingot.yield %6 : tensor<?x64xbf16>
  }
  return %0 : tensor<?x64xbf16>
}

// -----

// Tests that single unfused elementwise ops become one-instruction programs:
// a repeated operand is one input, gelu/silu/relu use their own opcodes.
// CHECK-LABEL: func.func @single
// CHECK: %[[A:.*]] = ingot.step "Elementwise"(%arg0) {imms = array<f32: 0.000000e+00>, num_registers = 2 : i64, program = array<i64: 2, 0, 0, 1>, program_outputs = array<i64: 1>}
// CHECK: %[[B:.*]] = ingot.step "Elementwise"(%[[A]], %arg1) {imms = array<f32: 0.000000e+00>, num_registers = 3 : i64, program = array<i64: 1, 0, 1, 2>, program_outputs = array<i64: 2>}
// CHECK: %[[C:.*]] = ingot.step "Elementwise"(%[[B]]) {imms = array<f32: 0.000000e+00>, num_registers = 2 : i64, program = array<i64: 21, 0, 0, 1>, program_outputs = array<i64: 1>}
// CHECK: %[[D:.*]] = ingot.step "Elementwise"(%[[C]]) {imms = array<f32: 0.000000e+00>, num_registers = 2 : i64, program = array<i64: 20, 0, 0, 1>, program_outputs = array<i64: 1>}
// CHECK: %[[E:.*]] = ingot.step "Elementwise"(%[[D]]) {imms = array<f32: 0.000000e+00>, num_registers = 2 : i64, program = array<i64: 23, 0, 0, 1>, program_outputs = array<i64: 1>}
// CHECK: %[[F:.*]] = ingot.step "Elementwise"(%[[E]]) {imms = array<f32: -3.000000e+00, 0.000000e+00>, num_registers = 3 : i64, program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2>, program_outputs = array<i64: 2>}
// CHECK: %[[G:.*]] = ingot.step "Elementwise"(%[[F]], %arg1) {imms = array<f32: 0.000000e+00>, num_registers = 3 : i64, program = array<i64: 0, 0, 1, 2>, program_outputs = array<i64: 2>}
// CHECK: return %[[G]]
func.func @single(%x: tensor<?x64xf32>, %bias: tensor<64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.mul %x, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.sub %0, %bias : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %2 = ingot.gelu %1 : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %3 = ingot.silu %2 : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %4 = ingot.relu %3 : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %5 = ingot.scale %4 {factor = -3.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %6 = ingot.add %5, %bias : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %6 : tensor<?x64xf32>
}

// -----

// Tests that a lone cast still computes something: a copy through x * 1.0
// (Const r1 = 1, Mul r2 = r0 * r1), with the output in the cast's type.
// CHECK-LABEL: func.func @lone_cast
// CHECK: ingot.step "Elementwise"(%arg0) {imms = array<f32: 1.000000e+00, 0.000000e+00>, num_registers = 3 : i64, program = array<i64: 30, 0, 0, 1, 2, 0, 1, 2>, program_outputs = array<i64: 2>} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
func.func @lone_cast(%x: tensor<?x64xbf16>) -> tensor<?x64xf32> {
  %0 = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that an op that is not elementwise inside an elementwise region is
// reported at that op.
func.func @bad_region(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.fused "elementwise"(%x) : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>):
    %1 = ingot.relu %a : (tensor<?x64xf32>) -> tensor<?x64xf32>
    // expected-error @+1 {{'ingot.softmax' op cannot be encoded in an elementwise program}}
    %2 = ingot.softmax %1 : (tensor<?x64xf32>) -> tensor<?x64xf32>
    ingot.yield %2 : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a silu_mul region whose body is something else is refused
// rather than lowered to SiluMul.
func.func @bad_silu_mul(%g: tensor<?x64xf32>, %u: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'ingot.fused' op of kind 'silu_mul' does not have the body its kind requires}}
  %0 = ingot.fused "silu_mul"(%g, %u) : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>):
    %1 = ingot.relu %a : (tensor<?x64xf32>) -> tensor<?x64xf32>
    %2 = ingot.mul %1, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ingot.yield %2 : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that an add_rms_norm region yielding (normed, sum) instead of
// (sum, normed) is refused.
func.func @bad_add_rms_norm(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'ingot.fused' op of kind 'add_rms_norm' does not have the body its kind requires}}
  %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g)
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>, %w: tensor<64xf32>):
    %0 = ingot.add %a, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ingot.yield %1, %0 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %s : tensor<?x64xf32>
}

// -----

// Tests that an add_rms_norm region around a grouped norm is refused (the
// AddRmsNorm step normalises whole rows).
func.func @grouped_add_rms_norm(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<16xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'ingot.fused' op of kind 'add_rms_norm' does not have the body its kind requires}}
  %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g)
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<16xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>, %w: tensor<16xf32>):
    %0 = ingot.add %a, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<16xf32>) -> tensor<?x64xf32>
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %n : tensor<?x64xf32>
}

// -----

// Tests that an op the runtime has no step for is reported by name.
func.func @unknown(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'test.mystery' op has no plan step}}
  %0 = "test.mystery"(%x) : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a rope with a frequency table carries it to the step.
// CHECK-LABEL: func.func @rope_table
// CHECK: ingot.step "Rope"(%arg0, %arg1) {{{.*}}inv_freq = array<f32: 1.000000e+00, 5.000000e-01>{{.*}}scaling = "table"
func.func @rope_table(%q: tensor<?x64xf32>, %p: tensor<?xi32>) -> tensor<?x64xf32> {
  %0 = ingot.rope %q, %p {head_dim = 16 : i64, rotary_dim = 4 : i64, theta = 1.0 : f64, scaling = "table", inv_freq = array<f32: 1.0, 0.5>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
