// RUN: ingot-opt --split-input-file --ingot-shape-inference --verify-diagnostics %s | FileCheck %s

// Tests that unranked results become ranked with `?` rows along a chain, and
// that the function signature follows what it returns.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: -> tensor<?x32xbf16>
// CHECK: ingot.embedding {{.*}} -> tensor<?x64xbf16>
// CHECK: ingot.rms_norm {{.*}} -> tensor<?x64xbf16>
// CHECK: ingot.linear {{.*}} -> tensor<?x32xbf16>
// CHECK: ingot.silu {{.*}} -> tensor<?x32xbf16>
// CHECK: return {{.*}} : tensor<?x32xbf16>
func.func @chain(%ids: tensor<?xi32>, %t: tensor<512x64xbf16>, %g: tensor<64xbf16>, %w: tensor<32x64xbf16>) -> tensor<*xbf16> {
  %0 = ingot.embedding %t, %ids : (tensor<512x64xbf16>, tensor<?xi32>) -> tensor<*xbf16>
  %1 = ingot.rms_norm %0, %g {epsilon = 1.0e-06 : f64} : (tensor<*xbf16>, tensor<64xbf16>) -> tensor<*xbf16>
  %2 = ingot.linear %1, %w : (tensor<*xbf16>, tensor<32x64xbf16>) -> tensor<*xbf16>
  %3 = ingot.silu %2 : (tensor<*xbf16>) -> tensor<*xbf16>
  return %3 : tensor<*xbf16>
}

// -----

// Tests that attention, rope, a row-broadcast add and a cast are inferred.
// CHECK-LABEL: func.func @attention
// CHECK: ingot.rope {{.*}} -> tensor<?x64xf32>
// CHECK: ingot.attention {{.*}} -> tensor<?x64xf32>
// CHECK: ingot.add {{.*}} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.cast {{.*}} : (tensor<?x64xf32>) -> tensor<?x64xf16>
func.func @attention(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %p: tensor<?xi32>, %b: !ingot.batch,
                     %bias: tensor<64xf32>) -> tensor<*xf16> {
  %0 = ingot.rope %q, %p {head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<*xf32>
  %1 = ingot.attention %0, %k, %k, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
      : (tensor<*xf32>, tensor<?x32xf32>, tensor<?x32xf32>, !ingot.batch) -> tensor<*xf32>
  %2 = ingot.add %1, %bias : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  %3 = ingot.cast %2 : (tensor<*xf32>) -> tensor<*xf16>
  return %3 : tensor<*xf16>
}

// -----

// Tests that gather_last and logits give S rows and fp32 logits.
// CHECK-LABEL: func.func @head
// CHECK: ingot.gather_last {{.*}} -> tensor<?x64xbf16>
// CHECK: ingot.logits {{.*}} -> tensor<?x512xf32>
func.func @head(%h: tensor<?x64xbf16>, %w: tensor<512x64xbf16>, %b: !ingot.batch) -> tensor<*xf32> {
  %0 = ingot.gather_last %h, %b : (tensor<?x64xbf16>, !ingot.batch) -> tensor<*xbf16>
  %1 = ingot.logits %0, %w, %b : (tensor<*xbf16>, tensor<512x64xbf16>, !ingot.batch) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}

// -----

// Tests that a static row count propagates and that a declared ranked result
// is kept when the operands are unranked.
// CHECK-LABEL: func.func @keep_ranked
// CHECK: ingot.mul {{.*}} : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
// CHECK: ingot.relu {{.*}} : (tensor<*xf32>) -> tensor<?x64xf32>
func.func @keep_ranked(%x: tensor<8x64xf32>, %u: tensor<*xf32>) -> (tensor<*xf32>, tensor<?x64xf32>) {
  %0 = ingot.mul %x, %x : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<*xf32>
  %1 = ingot.relu %u : (tensor<*xf32>) -> tensor<?x64xf32>
  return %0, %1 : tensor<*xf32>, tensor<?x64xf32>
}

// -----

// Tests that moe and softmax keep their input's shape.
// CHECK-LABEL: func.func @moe
// CHECK: ingot.moe {{.*}} -> tensor<?x64xf32>
// CHECK: ingot.softmax {{.*}} -> tensor<?x64xf32>
func.func @moe(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>, %g: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) -> tensor<*xf32> {
  %0 = ingot.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<*xf32>
  %1 = ingot.softmax %0 : (tensor<*xf32>) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}

// -----

// Tests that a mismatch hidden by unranked types is reported once shapes are
// known.
func.func @mismatch(%ids: tensor<?xi32>, %t: tensor<512x64xf32>, %w: tensor<32x48xf32>) -> tensor<*xf32> {
  %0 = ingot.embedding %t, %ids : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<*xf32>
  // expected-error @+1 {{'ingot.linear' op input has 64 features but the weight [out, in] expects 48}}
  %1 = ingot.linear %0, %w : (tensor<*xf32>, tensor<32x48xf32>) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}
