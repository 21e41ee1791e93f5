// RUN: ingot-opt --split-input-file --ingot-plan-memory="max-tokens=16 max-seqs=4" --verify-diagnostics %s | FileCheck %s
// RUN: ingot-opt --split-input-file --ingot-plan-memory="max-tokens=16 max-seqs=4 report=true" --verify-diagnostics -o /dev/null %s | FileCheck %s --check-prefix=REPORT

// Invalid option values are tested in ingot-plan-memory-options.mlir (the
// options apply to a whole file).

// Expected plans are worked out by hand below each case: T = 16, buffers
// rounded up to 64 bytes, largest first at the lowest free offset.

// Tests that buffers whose live ranges do not overlap share bytes, that
// weights and arguments take no space, and that the function records the
// arena size and the worst case.
//   op index: 0 weight, 1 relu a [1,2] 4096, 2 silu b [2,3] 4096,
//   3 scale c [3,4] 4096, 4 linear d [4,5] 8192, 5 return.
//   d -> 0; a -> 0 (d not live); b -> 4096 (a at 0); c -> 8192 (d at 0..8192,
//   b at 4096..8192). Arena 12288, sum 20480.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: attributes {ingot.arena_bytes = 12288 : i64, ingot.max_seqs = 4 : i64, ingot.max_tokens = 16 : i64}
// CHECK: ingot.weight @w : tensor<128x64xf32>
// CHECK-NOT: arena_offsets
// CHECK: ingot.relu %arg0 {ingot.arena_offsets = array<i64: 0>}
// CHECK: ingot.silu %{{.*}} {ingot.arena_offsets = array<i64: 4096>}
// CHECK: ingot.scale %{{.*}} {factor = 2.000000e+00 : f64, ingot.arena_offsets = array<i64: 8192>}
// CHECK: ingot.linear %{{.*}}, %{{.*}} {ingot.arena_offsets = array<i64: 0>}
// REPORT-LABEL: ingot-plan-memory @chain: 4 buffers, max_tokens = 16, max_seqs = 4
// REPORT-NEXT: buffer  loc  bytes  live  offset
// REPORT-NEXT: ingot.relu    relu   4096  [1, 2]  0
// REPORT-NEXT: ingot.silu    silu   4096  [2, 3]  4096
// REPORT-NEXT: ingot.scale   scale  4096  [3, 4]  8192
// REPORT-NEXT: ingot.linear  proj   8192  [4, 5]  0
// REPORT-NEXT: peak arena: 12288 bytes; sum of buffers: 20480 bytes (arena is 60.0% of the sum)
ingot.weight_decl @w : tensor<128x64xf32> {sources = ["w"]}
func.func @chain(%x: tensor<?x64xf32>) -> tensor<?x128xf32> {
  %w = ingot.weight @w : tensor<128x64xf32>
  %a = ingot.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32> loc("relu")
  %b = ingot.silu %a : (tensor<?x64xf32>) -> tensor<?x64xf32> loc("silu")
  %c = ingot.scale %b {factor = 2.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32> loc("scale")
  %d = ingot.linear %c, %w : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32> loc("proj")
  return %d : tensor<?x128xf32>
}

// -----

// Tests element sizes and 64-byte rounding: f16 [T,5] = 160 -> 192 bytes,
// f32 [4,3] = 48 -> 64 bytes, bf16 [T,64] = 2048 bytes. A value returned by
// the function lives to the end; an unused value lives at its definition.
//   0 cast e [0,3] 2048 (returned), 1 relu f [1,1] 192 (unused),
//   2 scale g [2,3] 64 (returned), 3 return.
//   e -> 0; f -> 2048 (e live); g -> 2048 (e live, f dead). Arena 2240.
// CHECK-LABEL: func.func @sizes
// CHECK-SAME: ingot.arena_bytes = 2240 : i64
// CHECK: ingot.cast %arg0 {ingot.arena_offsets = array<i64: 0>}
// CHECK: ingot.relu %arg1 {ingot.arena_offsets = array<i64: 2048>}
// CHECK: ingot.scale %arg2 {factor = 3.000000e+00 : f64, ingot.arena_offsets = array<i64: 2048>}
// REPORT-LABEL: ingot-plan-memory @sizes: 3 buffers
// REPORT: ingot.cast   {{.*}} 2048  [0, 3]  0
// REPORT-NEXT: ingot.relu   {{.*}} 192  [1, 1]  2048
// REPORT-NEXT: ingot.scale  {{.*}} 64  [2, 3]  2048
// REPORT-NEXT: peak arena: 2240 bytes; sum of buffers: 2304 bytes (arena is 97.2% of the sum)
func.func @sizes(%x: tensor<?x64xf32>, %h: tensor<?x5xf16>, %s: tensor<4x3xf32>) -> (tensor<?x64xbf16>, tensor<4x3xf32>) {
  %e = ingot.cast %x : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %f = ingot.relu %h : (tensor<?x5xf16>) -> tensor<?x5xf16>
  %g = ingot.scale %s {factor = 3.0 : f64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %e, %g : tensor<?x64xbf16>, tensor<4x3xf32>
}

// -----

// Tests that a two-result fused op gets one offset per result, that an
// unused result still gets space at its definition, and that S rows
// (gather_last) are sized by max-tokens.
//   0 fused sum [0,2] 4096, normed [0,1] 4096; 1 gather_last h [1,1] 4096
//   (unused); 2 return. sum -> 0; normed -> 4096; h -> 8192.
// CHECK-LABEL: func.func @fused
// CHECK-SAME: ingot.arena_bytes = 12288 : i64
// CHECK: ingot.fused "add_rms_norm"{{.*}}ingot.arena_offsets = array<i64: 0, 4096>
// CHECK: ingot.gather_last {{.*}}ingot.arena_offsets = array<i64: 8192>
// REPORT-LABEL: ingot-plan-memory @fused: 3 buffers
// REPORT: ingot.fused "add_rms_norm"#0 {{.*}} 4096  [0, 2]  0
// REPORT-NEXT: ingot.fused "add_rms_norm"#1 {{.*}} 4096  [0, 1]  4096
// REPORT-NEXT: ingot.gather_last {{.*}} 4096  [1, 1]  8192
func.func @fused(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %g: tensor<64xf32>, %b: !ingot.batch) -> tensor<?x64xf32> {
  %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g) {epsilon = 1.0e-06 : f64}
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>, %w: tensor<64xf32>):
    %0 = ingot.add %a, %c : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  %h = ingot.gather_last %n, %b : (tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}

// -----

// Tests that a smaller buffer fills a hole between two larger ones.
//   0 linear X [0,5] 8192, 1 linear Y [1,2] 8192, 2 relu Z [2,5] 8192,
//   3 silu W [3,4] 4096, 4 mul V [4,6] 4096 (returned), 5 add U [5,6] 8192
//   (returned), 6 return.
//   Largest first: X -> 0; Y -> 8192; Z -> 16384; U -> 8192 (Y dead, X and Z
//   live); W -> 8192, the hole between X and Z (Y and U not live at 3..4);
//   V -> 24576 (X, U, Z live). Arena 28672, sum 40960.
// CHECK-LABEL: func.func @gap
// CHECK-SAME: ingot.arena_bytes = 28672 : i64
// CHECK: ingot.linear {{.*}}ingot.arena_offsets = array<i64: 0>
// CHECK: ingot.linear {{.*}}ingot.arena_offsets = array<i64: 8192>
// CHECK: ingot.relu {{.*}}ingot.arena_offsets = array<i64: 16384>
// CHECK: ingot.silu {{.*}}ingot.arena_offsets = array<i64: 8192>
// CHECK: ingot.mul {{.*}}ingot.arena_offsets = array<i64: 24576>
// CHECK: ingot.add {{.*}}ingot.arena_offsets = array<i64: 8192>
// REPORT-LABEL: ingot-plan-memory @gap: 6 buffers
// REPORT: peak arena: 28672 bytes; sum of buffers: 40960 bytes (arena is 70.0% of the sum)
func.func @gap(%x: tensor<?x64xf32>, %w: tensor<128x64xf32>) -> (tensor<?x128xf32>, tensor<?x64xf32>) {
  %X = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %Y = ingot.linear %x, %w : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %Z = ingot.relu %Y : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %W = ingot.silu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %V = ingot.mul %W, %W : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %U = ingot.add %X, %Z : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %U, %V : tensor<?x128xf32>, tensor<?x64xf32>
}

// -----

// Tests that an unranked result is refused with a hint to infer shapes.
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{'ingot.relu' op result #0 has type 'tensor<*xf32>', which memory planning cannot size (run ingot-shape-inference first)}}
  %0 = ingot.relu %x : (tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Tests that a dynamic dimension other than the rows is refused.
func.func @dynamic_width(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{'ingot.silu' op result #0 has type 'tensor<?x?xf32>' with a dynamic dimension other than the leading row count (run ingot-shape-inference first)}}
  %0 = ingot.silu %x : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
