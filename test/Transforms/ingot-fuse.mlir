// RUN: ingot-opt --split-input-file --ingot-fuse %s | FileCheck %s
// RUN: ingot-opt --split-input-file --ingot-fuse=elementwise=false %s | FileCheck %s --check-prefix=NOEW

// Tests that a residual add feeding rms_norm becomes one add_rms_norm region
// yielding (sum, normed), and that later readers of the sum use result #0.
// CHECK-LABEL: func.func @add_rms_norm
// CHECK: %[[F:.*]]:2 = ingot.fused "add_rms_norm"(%arg0, %arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64}
// CHECK-SAME: -> (tensor<?x64xf32>, tensor<?x64xf32>)
// CHECK: ^bb0(%[[X:.*]]: tensor<?x64xf32>, %[[R:.*]]: tensor<?x64xf32>, %[[G:.*]]: tensor<64xf32>):
// CHECK:   %[[S:.*]] = ingot.add %[[X]], %[[R]]
// CHECK:   %[[N:.*]] = ingot.rms_norm %[[S]], %[[G]] {epsilon = 9.9999999999999995E-7 : f64}
// CHECK:   ingot.yield %[[S]], %[[N]]
// CHECK: %[[L:.*]] = ingot.linear %[[F]]#1, %arg3
// CHECK: ingot.add %[[L]], %[[F]]#0
func.func @add_rms_norm(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>, %w: tensor<64x64xf32>) -> tensor<?x64xf32> {
  %s = ingot.add %x, %r : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %y = ingot.linear %n, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %o = ingot.add %y, %s : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// Tests that the sum is yielded even when only the norm reads it.
// CHECK-LABEL: func.func @add_rms_norm_sum_unused
// CHECK: %[[F:.*]]:2 = ingot.fused "add_rms_norm"
// CHECK: ingot.yield
// CHECK: return %[[F]]#1
func.func @add_rms_norm_sum_unused(%x: tensor<?x64xbf16>, %r: tensor<?x64xbf16>, %g: tensor<64xbf16>) -> tensor<?x64xbf16> {
  %s = ingot.add %x, %r : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-05 : f64} : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  return %n : tensor<?x64xbf16>
}

// -----

// Tests that a residual add feeding layer_norm becomes add_layer_norm with
// (x, residual, gamma, beta) inputs.
// CHECK-LABEL: func.func @add_layer_norm
// CHECK: %[[F:.*]]:2 = ingot.fused "add_layer_norm"(%arg0, %arg1, %arg2, %arg3) {epsilon = 1.000000e-05 : f64}
// CHECK:   ingot.add
// CHECK:   ingot.layer_norm
// CHECK:   ingot.yield
// CHECK: return %[[F]]#0, %[[F]]#1
func.func @add_layer_norm(%x: tensor<?x64xf16>, %r: tensor<?x64xf16>, %g: tensor<64xf16>, %b: tensor<64xf16>) -> (tensor<?x64xf16>, tensor<?x64xf16>) {
  %s = ingot.add %x, %r : (tensor<?x64xf16>, tensor<?x64xf16>) -> tensor<?x64xf16>
  %n = ingot.layer_norm %s, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<?x64xf16>, tensor<64xf16>, tensor<64xf16>) -> tensor<?x64xf16>
  return %s, %n : tensor<?x64xf16>, tensor<?x64xf16>
}

// -----

// Tests that a bias add (row broadcast) before a norm is not a residual add.
// CHECK-LABEL: func.func @bias_add_norm
// CHECK-NOT: ingot.fused
// CHECK: ingot.add %arg0, %arg1 : (tensor<?x64xf32>, tensor<64xf32>)
// CHECK: ingot.rms_norm
func.func @bias_add_norm(%x: tensor<?x64xf32>, %b: tensor<64xf32>, %g: tensor<64xf32>) -> tensor<?x64xf32> {
  %s = ingot.add %x, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %n : tensor<?x64xf32>
}

// -----

// Tests that a grouped (per-head) rms_norm after an add is not fused: the
// AddRmsNorm kernel normalises whole rows.
// CHECK-LABEL: func.func @add_grouped_norm
// CHECK-NOT: "add_rms_norm"
// CHECK: ingot.rms_norm %{{.*}}, %arg2 {epsilon = 9.9999999999999995E-7 : f64, group_size = 16 : i64}
func.func @add_grouped_norm(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<16xf32>) -> tensor<?x64xf32> {
  %s = ingot.add %x, %r : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-06 : f64, group_size = 16 : i64} : (tensor<?x64xf32>, tensor<16xf32>) -> tensor<?x64xf32>
  return %n : tensor<?x64xf32>
}

// -----

// Tests that when the sum is read between the add and the norm, the region
// is placed before that reader.
// CHECK-LABEL: func.func @sum_read_early
// CHECK: %[[F:.*]]:2 = ingot.fused "add_rms_norm"
// CHECK: ingot.yield
// CHECK: ingot.linear %[[F]]#0, %arg3
// CHECK: return
func.func @sum_read_early(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>, %w: tensor<64x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %s = ingot.add %x, %r : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %y = ingot.linear %s, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %y, %n : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that no region is made when the sum is read before the norm weight
// exists (no place keeps the IR valid).
// CHECK-LABEL: func.func @no_valid_place
// CHECK-NOT: ingot.fused
// CHECK: ingot.add
// CHECK: ingot.linear
// CHECK: ingot.weight @g
// CHECK: ingot.rms_norm
ingot.weight_decl @g : tensor<64xf32> {sources = ["g"]}
func.func @no_valid_place(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %w: tensor<64x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %s = ingot.add %x, %r : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %y = ingot.linear %s, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %g = ingot.weight @g : tensor<64xf32>
  %n = ingot.rms_norm %s, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %y, %n : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that silu(gate) * up becomes silu_mul with (gate, up) inputs, and
// that the gate projection keeps no activation epilogue.
// CHECK-LABEL: func.func @silu_mul
// CHECK: %[[G:.*]] = ingot.linear %arg0, %arg1 : (
// CHECK: %[[U:.*]] = ingot.linear %arg0, %arg2 : (
// CHECK: %[[F:.*]] = ingot.fused "silu_mul"(%[[G]], %[[U]]) : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK: ^bb0(%[[A:.*]]: tensor<?x128xf32>, %[[B:.*]]: tensor<?x128xf32>):
// CHECK:   %[[S:.*]] = ingot.silu %[[A]]
// CHECK:   %[[M:.*]] = ingot.mul %[[S]], %[[B]]
// CHECK:   ingot.yield %[[M]]
// CHECK: return %[[F]]
func.func @silu_mul(%x: tensor<?x64xf32>, %wg: tensor<128x64xf32>, %wu: tensor<128x64xf32>) -> tensor<?x128xf32> {
  %g = ingot.linear %x, %wg : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %u = ingot.linear %x, %wu : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %s = ingot.silu %g : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %m = ingot.mul %s, %u : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %m : tensor<?x128xf32>
}

// -----

// Tests that up * silu(gate) (silu on the right) also becomes silu_mul with
// the gate first.
// CHECK-LABEL: func.func @mul_silu
// CHECK: ingot.fused "silu_mul"(%arg0, %arg1)
// CHECK:   ingot.silu
// CHECK:   ingot.mul
func.func @mul_silu(%g: tensor<?x128xbf16>, %u: tensor<?x128xbf16>) -> tensor<?x128xbf16> {
  %s = ingot.silu %g : (tensor<?x128xbf16>) -> tensor<?x128xbf16>
  %m = ingot.mul %u, %s : (tensor<?x128xbf16>, tensor<?x128xbf16>) -> tensor<?x128xbf16>
  return %m : tensor<?x128xbf16>
}

// -----

// Tests that a silu with another reader is not folded into silu_mul (but the
// two ops still form no chain since the silu has two uses).
// CHECK-LABEL: func.func @silu_two_uses
// CHECK-NOT: ingot.fused
// CHECK: ingot.silu
// CHECK: ingot.mul
func.func @silu_two_uses(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>) {
  %s = ingot.silu %g : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %m = ingot.mul %s, %u : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %m, %s : tensor<?x128xf32>, tensor<?x128xf32>
}

// -----

// Tests that silu times a broadcast row is an elementwise chain, not
// silu_mul (whose kernel needs equal shapes).
// CHECK-LABEL: func.func @silu_mul_broadcast
// CHECK-NOT: "silu_mul"
// CHECK: ingot.fused "elementwise"(%arg0, %arg1)
// NOEW-LABEL: func.func @silu_mul_broadcast
// NOEW-NOT: ingot.fused
func.func @silu_mul_broadcast(%g: tensor<?x128xf32>, %u: tensor<128xf32>) -> tensor<?x128xf32> {
  %s = ingot.silu %g : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %m = ingot.mul %s, %u : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  return %m : tensor<?x128xf32>
}

// -----

// Tests that an activation after a single-use linear becomes the linear's
// epilogue, for each activation.
// CHECK-LABEL: func.func @epilogues
// CHECK: %[[A:.*]] = ingot.linear %arg0, %arg1, %arg2 {activation = "gelu"}
// CHECK: %[[B:.*]] = ingot.linear %arg0, %arg1 {activation = "gelu_tanh"}
// CHECK: %[[C:.*]] = ingot.linear %arg0, %arg1 {activation = "relu"}
// CHECK: %[[D:.*]] = ingot.linear %arg0, %arg1 {activation = "silu"}
// CHECK-NOT: ingot.gelu
// CHECK-NOT: ingot.relu
// CHECK-NOT: ingot.silu
// CHECK: return %[[A]], %[[B]], %[[C]], %[[D]]
func.func @epilogues(%x: tensor<?x64xf32>, %w: tensor<256x64xf32>, %b: tensor<256xf32>)
    -> (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  %0 = ingot.linear %x, %w, %b : (tensor<?x64xf32>, tensor<256x64xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %1 = ingot.gelu %0 : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %2 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %3 = ingot.gelu %2 {approximate = "tanh"} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %4 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %5 = ingot.relu %4 : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %6 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %7 = ingot.silu %6 : (tensor<?x256xf32>) -> tensor<?x256xf32>
  return %1, %3, %5, %7 : tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}

// -----

// Tests that a linear read elsewhere, or already with an activation, keeps
// the activation as its own op.
// CHECK-LABEL: func.func @no_epilogue
// CHECK: %[[A:.*]] = ingot.linear %arg0, %arg1 : (
// CHECK: ingot.relu %[[A]]
// CHECK: %[[B:.*]] = ingot.linear %arg0, %arg1 {activation = "silu"}
// CHECK: ingot.relu %[[B]]
func.func @no_epilogue(%x: tensor<?x64xf32>, %w: tensor<256x64xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  %0 = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %1 = ingot.relu %0 : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %2 = ingot.linear %x, %w {activation = "silu"} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %3 = ingot.relu %2 : (tensor<?x256xf32>) -> tensor<?x256xf32>
  return %0, %1, %3 : tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}

// -----

// Tests that a single-use elementwise tree becomes one region whose inputs
// are the values from outside, each once, and whose result is the root.
// CHECK-LABEL: func.func @chain
// CHECK: %[[F:.*]] = ingot.fused "elementwise"(%arg0, %arg1, %arg2) : (tensor<?x64xf32>, tensor<64xf32>, tensor<?x64xf32>) -> tensor<?x64xbf16>
// CHECK: ^bb0(%[[X:.*]]: tensor<?x64xf32>, %[[B:.*]]: tensor<64xf32>, %[[Y:.*]]: tensor<?x64xf32>):
// CHECK:   %[[S:.*]] = ingot.scale %[[X]] {factor = 1.250000e-01 : f64}
// CHECK:   %[[A:.*]] = ingot.add %[[S]], %[[B]]
// CHECK:   %[[D:.*]] = ingot.div %[[Y]], %[[Y]]
// CHECK:   %[[M:.*]] = ingot.sub %[[A]], %[[D]]
// CHECK:   %[[G:.*]] = ingot.gelu %[[M]] {approximate = "tanh"}
// CHECK:   %[[C:.*]] = ingot.cast %[[G]]
// CHECK:   ingot.yield %[[C]] : tensor<?x64xbf16>
// CHECK: return %[[F]]
// NOEW-LABEL: func.func @chain
// NOEW-NOT: ingot.fused
func.func @chain(%x: tensor<?x64xf32>, %b: tensor<64xf32>, %y: tensor<?x64xf32>) -> tensor<?x64xbf16> {
  %0 = ingot.scale %x {factor = 0.125 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.add %0, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %2 = ingot.div %y, %y : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %3 = ingot.sub %1, %2 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %4 = ingot.gelu %3 {approximate = "tanh"} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %5 = ingot.cast %4 : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  return %5 : tensor<?x64xbf16>
}

// -----

// Tests that a value with two readers ends a chain: each side is its own
// region, and a lone op stays unfused.
// CHECK-LABEL: func.func @split_chain
// CHECK: %[[A:.*]] = ingot.fused "elementwise"(%arg0, %arg1)
// CHECK:   ingot.mul
// CHECK:   ingot.relu
// CHECK:   ingot.yield
// CHECK: %[[B:.*]] = ingot.fused "elementwise"(%[[A]])
// CHECK:   ingot.scale
// CHECK:   ingot.silu
// CHECK:   ingot.yield
// CHECK: %[[C:.*]] = ingot.sub %[[A]], %arg1
// CHECK: return %[[B]], %[[C]]
func.func @split_chain(%x: tensor<?x64xf32>, %y: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = ingot.mul %x, %y : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.relu %0 : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %2 = ingot.scale %1 {factor = 2.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %3 = ingot.silu %2 : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %4 = ingot.sub %1, %y : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %3, %4 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that non-elementwise ops (softmax) are not pulled into chains.
// CHECK-LABEL: func.func @softmax_breaks_chain
// CHECK-NOT: ingot.fused
// CHECK: ingot.scale
// CHECK: ingot.softmax
// CHECK: ingot.relu
func.func @softmax_breaks_chain(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = ingot.scale %x {factor = 2.0 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = ingot.softmax %0 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %2 = ingot.relu %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}
