// RUN: ingot-opt --ingot-compile="max-tokens=32 max-seqs=4" %s | FileCheck %s
// RUN: ingot-opt --ingot-compile="max-tokens=32 max-seqs=4 fuse=false" %s | FileCheck %s --check-prefix=NOFUSE
// RUN: ingot-opt --ingot-compile="max-tokens=32 max-seqs=4 memory-report=true" -o /dev/null %s | FileCheck %s --check-prefix=REPORT

// Tests that the whole pipeline turns a one-layer Llama-shaped function with
// unranked results (as a front end builds it) into plan steps: shapes are
// inferred, the residual adds fuse with the following norms, the MLP's
// silu(gate) * up becomes SiluMul, every step has arena offsets and the
// function records the arena.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[TOK:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?xi32>, %{{.*}}: !ingot.batch) -> tensor<?x256xf32>
// CHECK-SAME: ingot.arena_bytes = {{[1-9][0-9]*}} : i64, ingot.max_seqs = 4 : i64, ingot.max_tokens = 32 : i64
// CHECK: %[[EMB:.*]] = ingot.weight @embed : tensor<256x64xf32>
// CHECK: %[[X:.*]] = ingot.step "Embedding"(%[[TOK]], %[[EMB]]) {ingot.arena_offsets = array<i64: {{[0-9]+}}>} : (tensor<?xi32>, tensor<256x64xf32>) -> tensor<?x64xf32>
// CHECK: %[[N1:.*]] = ingot.weight @norm1 : tensor<64xf32>
// CHECK: %[[H:.*]] = ingot.step "RmsNorm"(%[[X]], %[[N1]]) {epsilon = 1.000000e-05 : f64, group_size = 0 : i64, ingot.arena_offsets
// CHECK: %[[Q:.*]] = ingot.step "Linear"(%[[H]], %{{.*}}) {activation = "none", ingot.arena_offsets = {{.*}}} : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
// CHECK: %[[K:.*]] = ingot.step "Linear"(%[[H]], %{{.*}}) {{.*}} -> tensor<?x32xf32>
// CHECK: %[[V:.*]] = ingot.step "Linear"(%[[H]], %{{.*}}) {{.*}} -> tensor<?x32xf32>
// CHECK: %[[QR:.*]] = ingot.step "Rope"(%[[Q]], %[[POS]]) {{{.*}}head_dim = 16 : i64{{.*}}theta = 1.000000e+04 : f64}
// CHECK: %[[KR:.*]] = ingot.step "Rope"(%[[K]], %[[POS]])
// CHECK: %[[ATT:.*]] = ingot.step "Attention"(%[[QR]], %[[KR]], %[[V]]) {head_dim = 16 : i64, {{.*}}layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64, sliding_window = 0 : i64}
// CHECK: %[[O:.*]] = ingot.step "Linear"(%[[ATT]], %{{.*}})
// CHECK: %[[R1:.*]]:2 = ingot.step "AddRmsNorm"(%[[X]], %[[O]], %{{.*}}) {epsilon = 1.000000e-05 : f64, ingot.arena_offsets = array<i64: {{[0-9]+}}, {{[0-9]+}}>}
// CHECK: %[[G:.*]] = ingot.step "Linear"(%[[R1]]#1, %{{.*}}) {activation = "none", {{.*}} -> tensor<?x128xf32>
// CHECK: %[[U:.*]] = ingot.step "Linear"(%[[R1]]#1, %{{.*}}) {activation = "none", {{.*}} -> tensor<?x128xf32>
// CHECK: %[[M:.*]] = ingot.step "SiluMul"(%[[G]], %[[U]])
// CHECK: %[[D:.*]] = ingot.step "Linear"(%[[M]], %{{.*}})
// CHECK: %[[R2:.*]]:2 = ingot.step "AddRmsNorm"(%[[R1]]#0, %[[D]], %{{.*}})
// CHECK: %[[L:.*]] = ingot.step "Logits"(%[[R2]]#1, %[[EMB]]) {ingot.arena_offsets = {{.*}}} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
// CHECK-NOT: ingot.fused
// CHECK: return %[[L]] : tensor<?x256xf32>

// The pipeline's memory report. The peak is the most bytes live at once: at
// the SiluMul step the residual sum [32,64], gate and up [32,128] and the
// product [32,128] are live: 8192 + 3 * 16384 = 57344 bytes.
// REPORT: ingot-plan-memory @forward: 18 buffers, max_tokens = 32, max_seqs = 4
// REPORT: ingot.fused "silu_mul"
// REPORT: peak arena: 57344 bytes; sum of buffers: 184320 bytes

// Without fusion the same function lowers op by op: the adds and the
// silu * up become Elementwise steps.
// NOFUSE-LABEL: func.func @forward
// NOFUSE-NOT: AddRmsNorm
// NOFUSE-NOT: SiluMul
// NOFUSE: ingot.step "Elementwise"({{.*}}) {{{.*}}program = array<i64: 0, 0, 1, 2>
// NOFUSE: ingot.step "RmsNorm"
// NOFUSE: ingot.step "Elementwise"({{.*}}) {{{.*}}program = array<i64: 20, 0, 0, 1>
// NOFUSE: ingot.step "Elementwise"({{.*}}) {{{.*}}program = array<i64: 2, 0, 1, 2>
// NOFUSE: ingot.step "Logits"

ingot.weight_decl @embed : tensor<256x64xf32> {sources = ["model.embed_tokens.weight"]}
ingot.weight_decl @norm1 : tensor<64xf32> {sources = ["model.layers.0.input_layernorm.weight"]}
ingot.weight_decl @wq : tensor<64x64xf32> {sources = ["model.layers.0.self_attn.q_proj.weight"]}
ingot.weight_decl @wk : tensor<32x64xf32> {sources = ["model.layers.0.self_attn.k_proj.weight"]}
ingot.weight_decl @wv : tensor<32x64xf32> {sources = ["model.layers.0.self_attn.v_proj.weight"]}
ingot.weight_decl @wo : tensor<64x64xf32> {sources = ["model.layers.0.self_attn.o_proj.weight"]}
ingot.weight_decl @norm2 : tensor<64xf32> {sources = ["model.layers.0.post_attention_layernorm.weight"]}
ingot.weight_decl @wg : tensor<128x64xf32> {sources = ["model.layers.0.mlp.gate_proj.weight"]}
ingot.weight_decl @wu : tensor<128x64xf32> {sources = ["model.layers.0.mlp.up_proj.weight"]}
ingot.weight_decl @wd : tensor<64x128xf32> {sources = ["model.layers.0.mlp.down_proj.weight"]}
ingot.weight_decl @normf : tensor<64xf32> {sources = ["model.norm.weight"]}

func.func @forward(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %batch: !ingot.batch) -> tensor<*xf32> {
  %embed = ingot.weight @embed : tensor<256x64xf32>
  %x = ingot.embedding %embed, %tokens : (tensor<256x64xf32>, tensor<?xi32>) -> tensor<*xf32>
  %n1 = ingot.weight @norm1 : tensor<64xf32>
  %h = ingot.rms_norm %x, %n1 {epsilon = 1.0e-05 : f64} : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  %wq = ingot.weight @wq : tensor<64x64xf32>
  %q = ingot.linear %h, %wq : (tensor<*xf32>, tensor<64x64xf32>) -> tensor<*xf32>
  %wk = ingot.weight @wk : tensor<32x64xf32>
  %k = ingot.linear %h, %wk : (tensor<*xf32>, tensor<32x64xf32>) -> tensor<*xf32>
  %wv = ingot.weight @wv : tensor<32x64xf32>
  %v = ingot.linear %h, %wv : (tensor<*xf32>, tensor<32x64xf32>) -> tensor<*xf32>
  %qr = ingot.rope %q, %positions {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<*xf32>, tensor<?xi32>) -> tensor<*xf32>
  %kr = ingot.rope %k, %positions {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<*xf32>, tensor<?xi32>) -> tensor<*xf32>
  %att = ingot.attention %qr, %kr, %v, %batch {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, !ingot.batch) -> tensor<*xf32>
  %wo = ingot.weight @wo : tensor<64x64xf32>
  %o = ingot.linear %att, %wo : (tensor<*xf32>, tensor<64x64xf32>) -> tensor<*xf32>
  %r1 = ingot.add %x, %o : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %n2 = ingot.weight @norm2 : tensor<64xf32>
  %h2 = ingot.rms_norm %r1, %n2 {epsilon = 1.0e-05 : f64} : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  %wg = ingot.weight @wg : tensor<128x64xf32>
  %g = ingot.linear %h2, %wg : (tensor<*xf32>, tensor<128x64xf32>) -> tensor<*xf32>
  %wu = ingot.weight @wu : tensor<128x64xf32>
  %u = ingot.linear %h2, %wu : (tensor<*xf32>, tensor<128x64xf32>) -> tensor<*xf32>
  %sg = ingot.silu %g : (tensor<*xf32>) -> tensor<*xf32>
  %m = ingot.mul %u, %sg : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %wd = ingot.weight @wd : tensor<64x128xf32>
  %d = ingot.linear %m, %wd : (tensor<*xf32>, tensor<64x128xf32>) -> tensor<*xf32>
  %r2 = ingot.add %r1, %d : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %nf = ingot.weight @normf : tensor<64xf32>
  %hf = ingot.rms_norm %r2, %nf {epsilon = 1.0e-05 : f64} : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  %logits = ingot.logits %hf, %embed, %batch : (tensor<*xf32>, tensor<256x64xf32>, !ingot.batch) -> tensor<*xf32>
  return %logits : tensor<*xf32>
}
