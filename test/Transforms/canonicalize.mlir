// RUN: ingot-opt --split-input-file --canonicalize %s | FileCheck %s

// Tests that a scale by 1 folds away.
// CHECK-LABEL: func.func @scale_by_one
// CHECK-NOT: ingot.scale
// CHECK: return %arg0
func.func @scale_by_one(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %x {factor = 1.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a scale by 1 that refines the type (unranked to ranked) stays.
// CHECK-LABEL: func.func @scale_by_one_refines
// CHECK: ingot.scale %arg0 {factor = 1.000000e+00 : f64} : (tensor<*xf32>) -> tensor<?x64xf32>
func.func @scale_by_one_refines(%x: tensor<*xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %x {factor = 1.0 : f64} : (tensor<*xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a scale by another factor stays.
// CHECK-LABEL: func.func @scale_by_two
// CHECK: ingot.scale %arg0 {factor = 2.000000e+00 : f64}
func.func @scale_by_two(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %x {factor = 2.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a scale of a scale folds into one scale by the product.
// CHECK-LABEL: func.func @scale_of_scale
// CHECK: %[[S:.*]] = ingot.scale %arg0 {factor = 1.500000e+00 : f64}
// CHECK-NOT: ingot.scale
// CHECK: return %[[S]]
func.func @scale_of_scale(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %x {factor = 0.5 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.scale %0 {factor = 3.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that two scales whose product is 1 disappear.
// CHECK-LABEL: func.func @scales_cancel
// CHECK-NOT: ingot.scale
// CHECK: return %arg0
func.func @scales_cancel(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %x {factor = 0.25 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.scale %0 {factor = 4.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that a scale of another op is not merged.
// CHECK-LABEL: func.func @scale_of_relu
// CHECK: %[[R:.*]] = ingot.relu %arg0
// CHECK: ingot.scale %[[R]] {factor = 3.000000e+00 : f64}
func.func @scale_of_relu(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.scale %0 {factor = 3.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that a cast to the same type folds away.
// CHECK-LABEL: func.func @cast_same
// CHECK-NOT: ingot.cast
// CHECK: return %arg0
func.func @cast_same(%x: tensor<?x64xbf16>) -> tensor<?x64xbf16> {
  %0 = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xbf16>
  return %0 : tensor<?x64xbf16>
}

// -----

// Tests that a cast to another type stays.
// CHECK-LABEL: func.func @cast_other
// CHECK: ingot.cast %arg0 : (tensor<?x64xbf16>) -> tensor<?x64xf32>
func.func @cast_other(%x: tensor<?x64xbf16>) -> tensor<?x64xf32> {
  %0 = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a round trip bf16 -> f32 -> bf16 folds (exact).
// CHECK-LABEL: func.func @cast_round_trip_widening
// CHECK-NOT: ingot.cast
// CHECK: return %arg0
func.func @cast_round_trip_widening(%x: tensor<?x64xbf16>) -> tensor<?x64xbf16> {
  %0 = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %1 = ingot.cast %0 : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  return %1 : tensor<?x64xbf16>
}

// -----

// Tests that a round trip f32 -> bf16 -> f32 stays (it rounds).
// CHECK-LABEL: func.func @cast_round_trip_narrowing
// CHECK: %[[A:.*]] = ingot.cast %arg0 : (tensor<?x64xf32>) -> tensor<?x64xbf16>
// CHECK: ingot.cast %[[A]] : (tensor<?x64xbf16>) -> tensor<?x64xf32>
func.func @cast_round_trip_narrowing(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.cast %x : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %1 = ingot.cast %0 : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that a round trip bf16 -> f16 -> bf16 stays (f16 cannot hold every
// bf16 value).
// CHECK-LABEL: func.func @cast_round_trip_f16
// CHECK: %[[A:.*]] = ingot.cast %arg0 : (tensor<?x64xbf16>) -> tensor<?x64xf16>
// CHECK: ingot.cast %[[A]] : (tensor<?x64xf16>) -> tensor<?x64xbf16>
func.func @cast_round_trip_f16(%x: tensor<?x64xbf16>) -> tensor<?x64xbf16> {
  %0 = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xf16>
  %1 = ingot.cast %0 : (tensor<?x64xf16>) -> tensor<?x64xbf16>
  return %1 : tensor<?x64xbf16>
}

// -----

// Tests that x + x becomes a scale by 2.
// CHECK-LABEL: func.func @add_self
// CHECK-NOT: ingot.add
// CHECK: ingot.scale %arg0 {factor = 2.000000e+00 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
func.func @add_self(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.add %x, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that x + y stays an add.
// CHECK-LABEL: func.func @add_other
// CHECK: ingot.add %arg0, %arg1
// CHECK-NOT: ingot.scale
func.func @add_other(%x: tensor<?x64xf32>, %y: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.add %x, %y : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Tests that a single-use scale on the left of a product moves outside it.
// CHECK-LABEL: func.func @hoist_scale_lhs
// CHECK: %[[M:.*]] = ingot.mul %arg0, %arg1
// CHECK: %[[S:.*]] = ingot.scale %[[M]] {factor = 5.000000e-01 : f64}
// CHECK: return %[[S]]
func.func @hoist_scale_lhs(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %a {factor = 0.5 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.mul %0, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that a single-use scale on the right (a broadcast row) moves outside
// the product, keeping the operand order.
// CHECK-LABEL: func.func @hoist_scale_rhs
// CHECK: %[[M:.*]] = ingot.mul %arg0, %arg1 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
// CHECK: ingot.scale %[[M]] {factor = 4.000000e+00 : f64}
func.func @hoist_scale_rhs(%a: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %b {factor = 4.0 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %1 = ingot.mul %a, %0 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}

// -----

// Tests that scales on both sides of a product meet and fold into one.
// CHECK-LABEL: func.func @hoist_both
// CHECK: %[[M:.*]] = ingot.mul %arg0, %arg1
// CHECK: %[[S:.*]] = ingot.scale %[[M]] {factor = 6.000000e+00 : f64}
// CHECK-NOT: ingot.scale
// CHECK: return %[[S]]
func.func @hoist_both(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.scale %a {factor = 2.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.scale %b {factor = 3.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %2 = ingot.mul %0, %1 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %2 : tensor<?x64xf32>
}

// -----

// Tests that a scale with another use is not hoisted (it would be computed
// twice).
// CHECK-LABEL: func.func @no_hoist_shared_scale
// CHECK: %[[S:.*]] = ingot.scale %arg0 {factor = 5.000000e-01 : f64}
// CHECK: %[[M:.*]] = ingot.mul %[[S]], %arg1
// CHECK: return %[[M]], %[[S]]
func.func @no_hoist_shared_scale(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = ingot.scale %a {factor = 0.5 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %1 = ingot.mul %0, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %1, %0 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that silu(gate) is moved to the left of a product.
// CHECK-LABEL: func.func @silu_first
// CHECK: %[[G:.*]] = ingot.silu %arg0
// CHECK: ingot.mul %[[G]], %arg1
func.func @silu_first(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = ingot.silu %g : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = ingot.mul %u, %0 : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %1 : tensor<?x128xf32>
}

// -----

// Tests that a product of two silus keeps its order.
// CHECK-LABEL: func.func @silu_both
// CHECK: %[[A:.*]] = ingot.silu %arg0
// CHECK: %[[B:.*]] = ingot.silu %arg1
// CHECK: ingot.mul %[[A]], %[[B]]
func.func @silu_both(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = ingot.silu %g : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = ingot.silu %u : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %2 = ingot.mul %0, %1 : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %2 : tensor<?x128xf32>
}

// -----

// Tests that a broadcast silu row is not swapped to the left (only the rhs
// may broadcast).
// CHECK-LABEL: func.func @silu_broadcast
// CHECK: %[[G:.*]] = ingot.silu %arg1
// CHECK: ingot.mul %arg0, %[[G]] : (tensor<?x128xf32>, tensor<128xf32>)
func.func @silu_broadcast(%u: tensor<?x128xf32>, %g: tensor<128xf32>) -> tensor<?x128xf32> {
  %0 = ingot.silu %g : (tensor<128xf32>) -> tensor<128xf32>
  %1 = ingot.mul %u, %0 : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  return %1 : tensor<?x128xf32>
}
