// RUN: ingot-opt --split-input-file --ingot-onnx-fold --verify-diagnostics %s | FileCheck %s

// Tests the exported multi-head reshape: Shape -> Gather -> Unsqueeze ->
// Concat on symbolic dims becomes a constant shape with 0 (copy) for the
// input's own dims, a product of dims becomes -1 (infer), all the shape
// arithmetic is erased and the types follow.
// CHECK-LABEL: func.func @reshape_heads
// CHECK-SAME: -> (tensor<?x4x?x16xf32>, tensor<?x64xf32>)
// CHECK-NOT: "Shape"
// CHECK-NOT: "Gather"
// CHECK: %[[S:.*]] = ingot.constant dense<[0, 0, 4, 16]> : tensor<4xi64>
// CHECK: ingot.node "Reshape"(%arg0, %[[S]]) {name = "reshape"} : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x4x16xf32>
// CHECK: ingot.node "Transpose"{{.*}} -> tensor<?x4x?x16xf32>
// CHECK: %[[F:.*]] = ingot.constant dense<[-1, 64]> : tensor<2xi64>
// CHECK: ingot.node "Reshape"(%arg0, %[[F]]) {name = "flat"} {{.*}} -> tensor<?x64xf32>
// CHECK-NOT: ingot.node
// CHECK: return
func.func @reshape_heads(%x: tensor<?x?x64xf32> {ingot.name = "x", ingot.dim_params = ["batch", "seq", ""]})
    -> (tensor<*xf32>, tensor<*xf32>) {
  %s = ingot.node "Shape"(%x) {name = "shape"} : (tensor<?x?x64xf32>) -> tensor<*xi64>
  %i0 = ingot.constant dense<0> : tensor<i64>
  %i1 = ingot.constant dense<1> : tensor<i64>
  %b = ingot.node "Gather"(%s, %i0) {name = "g0", attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  %t = ingot.node "Gather"(%s, %i1) {name = "g1"} : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  %ax = ingot.constant dense<0> : tensor<1xi64>
  %b1 = ingot.node "Unsqueeze"(%b, %ax) {name = "u0"} : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %t1 = ingot.node "Unsqueeze"(%t, %ax) {name = "u1"} : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %h = ingot.constant dense<[4, 16]> : tensor<2xi64>
  %shape = ingot.node "Concat"(%b1, %t1, %h) {name = "cat", attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<*xi64>, tensor<2xi64>) -> tensor<*xi64>
  %y = ingot.node "Reshape"(%x, %shape) {name = "reshape"} : (tensor<?x?x64xf32>, tensor<*xi64>) -> tensor<*xf32>
  %z = ingot.node "Transpose"(%y) {name = "tr", attrs = {perm = array<i64: 0, 2, 1, 3>}} : (tensor<*xf32>) -> tensor<*xf32>
  %bt = ingot.node "Mul"(%b1, %t1) {name = "bt"} : (tensor<*xi64>, tensor<*xi64>) -> tensor<*xi64>
  %c64 = ingot.constant dense<[64]> : tensor<1xi64>
  %s2 = ingot.node "Concat"(%bt, %c64) {name = "cat2", attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %flat = ingot.node "Reshape"(%x, %s2) {name = "flat"} : (tensor<?x?x64xf32>, tensor<*xi64>) -> tensor<*xf32>
  return %z, %flat : tensor<*xf32>, tensor<*xf32>
}

// -----

// Tests that shape arithmetic on static dims folds to constants without any
// kernel: Shape (with start/end), Size, Slice, Cast, Div, Sub, Equal, Where,
// Squeeze, Range and ConstantOfShape of known contents.
// CHECK-LABEL: func.func @static_shapes
// CHECK-SAME: -> (tensor<2xi64>, tensor<i64>, tensor<1xi32>, tensor<2xi64>, tensor<i64>, tensor<3xi64>, tensor<2xi64>)
// CHECK-NOT: ingot.node
// CHECK-DAG: ingot.constant dense<[3, 5]> : tensor<2xi64>
// CHECK-DAG: ingot.constant dense<30> : tensor<i64>
// CHECK-DAG: ingot.constant dense<5> : tensor<1xi32>
// CHECK-DAG: ingot.constant dense<[1, 5]> : tensor<2xi64>
// CHECK-DAG: ingot.constant dense<1> : tensor<i64>
// CHECK-DAG: ingot.constant dense<[0, 3, 6]> : tensor<3xi64>
// CHECK-DAG: ingot.constant dense<7> : tensor<2xi64>
func.func @static_shapes(%x: tensor<2x3x5xf32>) -> (tensor<*xi64>, tensor<*xi64>, tensor<*xi32>, tensor<*xi64>, tensor<*xi64>, tensor<*xi64>, tensor<*xi64>) {
  %s = ingot.node "Shape"(%x) {attrs = {start = 1 : i64}} : (tensor<2x3x5xf32>) -> tensor<*xi64>
  %n = ingot.node "Size"(%x) : (tensor<2x3x5xf32>) -> tensor<*xi64>
  %full = ingot.node "Shape"(%x) : (tensor<2x3x5xf32>) -> tensor<*xi64>
  %st = ingot.constant dense<-1> : tensor<1xi64>
  %en = ingot.constant dense<9223372036854775807> : tensor<1xi64>
  %last = ingot.node "Slice"(%full, %st, %en) : (tensor<*xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xi64>
  %last32 = ingot.node "Cast"(%last) {attrs = {to = 6 : i64}} : (tensor<*xi64>) -> tensor<*xi32>
  %two = ingot.constant dense<2> : tensor<i64>
  // [2, 3, 5] / 2 = [1, 1, 2]; last - 1 = [1]; squeezed: 1.
  %half = ingot.node "Div"(%full, %two) : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  %hs = ingot.node "Slice"(%half, %st, %en) : (tensor<*xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xi64>
  %one = ingot.constant dense<1> : tensor<i64>
  %minus = ingot.node "Sub"(%hs, %one) : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  // Shape[1:2] = [3]; [3, 5] == [3] -> [1, 0]; Where(eq, [1, 2], [3, 5]) -> [1, 5].
  %b1 = ingot.constant dense<[1]> : tensor<1xi64>
  %b2 = ingot.constant dense<[2]> : tensor<1xi64>
  %s01 = ingot.node "Slice"(%full, %b1, %b2) : (tensor<*xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xi64>
  %eq = ingot.node "Equal"(%s, %s01) : (tensor<*xi64>, tensor<*xi64>) -> tensor<*xi1>
  %ones = ingot.constant dense<[1, 2]> : tensor<2xi64>
  %w = ingot.node "Where"(%eq, %ones, %s) : (tensor<*xi1>, tensor<2xi64>, tensor<*xi64>) -> tensor<*xi64>
  %sq = ingot.node "Squeeze"(%minus) : (tensor<*xi64>) -> tensor<*xi64>
  %zero = ingot.constant dense<0> : tensor<i64>
  %lim = ingot.constant dense<9> : tensor<i64>
  %delta = ingot.constant dense<3> : tensor<i64>
  %r = ingot.node "Range"(%zero, %lim, %delta) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<*xi64>
  %two1 = ingot.constant dense<[2]> : tensor<1xi64>
  %c = ingot.node "ConstantOfShape"(%two1) {attrs = {value = dense<7> : tensor<1xi64>}} : (tensor<1xi64>) -> tensor<*xi64>
  return %s, %n, %last32, %w, %sq, %r, %c : tensor<*xi64>, tensor<*xi64>, tensor<*xi32>, tensor<*xi64>, tensor<*xi64>, tensor<*xi64>, tensor<*xi64>
}

// -----

// Tests the removal of no-ops: Identity, inference Dropout (unused mask),
// Cast and CastLike to the input's own type; a Dropout whose mask is used,
// a training Dropout and a real Cast stay. A Constant node becomes
// ingot.constant.
// CHECK-LABEL: func.func @noops
// CHECK-NOT: "Identity"
// CHECK: %[[D:[0-9]+]]:2 = ingot.node "Dropout"(%arg0) {name = "keep_mask"}
// CHECK: ingot.node "Dropout"(%arg0, %{{.*}}, %{{.*}}) {name = "training"}
// CHECK: ingot.node "Cast"(%arg0) {attrs = {to = 10 : i64}, name = "to_f16"} : (tensor<2x3xf32>) -> tensor<2x3xf16>
// CHECK: ingot.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: return %arg0, %arg0, %arg0, %arg0, %[[D]]#1
func.func @noops(%x: tensor<2x3xf32>, %y: tensor<4xf32>) -> (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xi1>, tensor<*xf32>, tensor<*xf16>, tensor<*xf32>) {
  %0 = ingot.node "Identity"(%x) {name = "id"} : (tensor<2x3xf32>) -> tensor<*xf32>
  %1 = ingot.node "Dropout"(%0) {name = "drop", attrs = {seed = 1 : i64}} : (tensor<*xf32>) -> tensor<*xf32>
  %2 = ingot.node "Cast"(%x) {name = "same", attrs = {to = 1 : i64}} : (tensor<2x3xf32>) -> tensor<*xf32>
  %3 = ingot.node "CastLike"(%x, %y) {name = "like"} : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  %4, %mask = ingot.node "Dropout"(%x) {name = "keep_mask"} : (tensor<2x3xf32>) -> (tensor<*xf32>, tensor<*xi1>)
  %ratio = ingot.constant dense<5.000000e-01> : tensor<f32>
  %train = ingot.constant dense<true> : tensor<i1>
  %5 = ingot.node "Dropout"(%x, %ratio, %train) {name = "training"} : (tensor<2x3xf32>, tensor<f32>, tensor<i1>) -> tensor<*xf32>
  %6 = ingot.node "Cast"(%x) {name = "to_f16", attrs = {to = 10 : i64}} : (tensor<2x3xf32>) -> tensor<*xf16>
  %7 = ingot.node "Constant"() {name = "k", attrs = {value_floats = array<f32: 1.0, 2.0>}} : () -> tensor<*xf32>
  return %0, %1, %2, %3, %mask, %5, %6, %7 : tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xi1>, tensor<*xf32>, tensor<*xf16>, tensor<*xf32>
}

// -----

// Tests result type refinement through a transformer-like block: MatMul,
// Gemm, broadcasting Add, Softmax, LayerNormalization (with its statistics),
// ReduceMean with constant axes, Where, Unsqueeze/Squeeze/Concat/Slice/
// Gather with constant parameters, Cast, Flatten, Split, Expand with a shape
// of symbolic dims. Dims shared through dim_params stay the same symbol.
// CHECK-LABEL: func.func @refine
// CHECK: "MatMul"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "Gemm"{{.*}} -> tensor<3x5xf32>
// CHECK: "Add"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "Softmax"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "LayerNormalization"{{.*}} -> (tensor<?x?x128xf32>, tensor<?x?x1xf32>, tensor<?x?x1xf32>)
// CHECK: "ReduceMean"{{.*}} -> tensor<?x1x128xf32>
// CHECK: "ReduceSum"{{.*}} -> tensor<?x?xf32>
// CHECK: "Greater"{{.*}} -> tensor<?x?x128xi1>
// CHECK: "Where"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "Unsqueeze"{{.*}} -> tensor<?x1x?x128xf32>
// CHECK: "Squeeze"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "Concat"{{.*}} -> tensor<?x?x256xf32>
// CHECK: "Slice"{{.*}} -> tensor<?x?x64xf32>
// CHECK: "Gather"{{.*}} -> tensor<?x2x128xf32>
// CHECK: "Cast"{{.*}} -> tensor<?x2x128xbf16>
// CHECK: "Flatten"{{.*}} -> tensor<?x256xbf16>
// CHECK: "Split"{{.*}} -> (tensor<?x?x32xf32>, tensor<?x?x32xf32>)
// CHECK: %[[E:.*]] = ingot.node "Expand"{{.*}} -> tensor<?x?x128xf32>
// CHECK: "Add"(%[[E]], %{{.*}}) {{.*}} -> tensor<?x?x128xf32>
// CHECK: "NoSuchOp"{{.*}} -> tensor<*xf32>
func.func @refine(%x: tensor<?x?x64xf32> {ingot.dim_params = ["batch", "seq", ""]},
                  %mask: tensor<?x?x1xf32> {ingot.dim_params = ["batch", "seq", ""]},
                  %w: tensor<64x128xf32>, %bias: tensor<128xf32>,
                  %a: tensor<3x4xf32>, %bt: tensor<5x4xf32>, %c: tensor<5xf32>)
    -> (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xbf16>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) {
  %0 = ingot.node "MatMul"(%x, %w) : (tensor<?x?x64xf32>, tensor<64x128xf32>) -> tensor<*xf32>
  %g = ingot.node "Gemm"(%a, %bt, %c) {attrs = {transB = 1 : i64}} : (tensor<3x4xf32>, tensor<5x4xf32>, tensor<5xf32>) -> tensor<*xf32>
  %1 = ingot.node "Add"(%0, %bias) : (tensor<*xf32>, tensor<128xf32>) -> tensor<*xf32>
  %2 = ingot.node "Softmax"(%1) {attrs = {axis = -1 : i64}} : (tensor<*xf32>) -> tensor<*xf32>
  %3, %mean, %inv = ingot.node "LayerNormalization"(%2, %bias, %bias) : (tensor<*xf32>, tensor<128xf32>, tensor<128xf32>) -> (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>)
  %ax1 = ingot.constant dense<1> : tensor<1xi64>
  %4 = ingot.node "ReduceMean"(%3, %ax1) : (tensor<*xf32>, tensor<1xi64>) -> tensor<*xf32>
  %5 = ingot.node "ReduceSum"(%3) {attrs = {axes = array<i64: -1>, keepdims = 0 : i64}} : (tensor<*xf32>) -> tensor<*xf32>
  %zero = ingot.constant dense<0.0> : tensor<f32>
  %pos = ingot.node "Greater"(%3, %zero) : (tensor<*xf32>, tensor<f32>) -> tensor<*xi1>
  %6 = ingot.node "Where"(%pos, %3, %mask) : (tensor<*xi1>, tensor<*xf32>, tensor<?x?x1xf32>) -> tensor<*xf32>
  %7 = ingot.node "Unsqueeze"(%6, %ax1) : (tensor<*xf32>, tensor<1xi64>) -> tensor<*xf32>
  %8 = ingot.node "Squeeze"(%7, %ax1) : (tensor<*xf32>, tensor<1xi64>) -> tensor<*xf32>
  %9 = ingot.node "Concat"(%8, %6) {attrs = {axis = 2 : i64}} : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %s0 = ingot.constant dense<[0]> : tensor<1xi64>
  %s64 = ingot.constant dense<[64]> : tensor<1xi64>
  %s2 = ingot.constant dense<[2]> : tensor<1xi64>
  %10 = ingot.node "Slice"(%9, %s0, %s64, %s2) : (tensor<*xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xf32>
  %idx = ingot.constant dense<[0, 3]> : tensor<2xi64>
  %11 = ingot.node "Gather"(%8, %idx) {attrs = {axis = 1 : i64}} : (tensor<*xf32>, tensor<2xi64>) -> tensor<*xf32>
  %12 = ingot.node "Cast"(%11) {attrs = {to = 16 : i64}} : (tensor<*xf32>) -> tensor<*xbf16>
  %13 = ingot.node "Flatten"(%12) : (tensor<*xbf16>) -> tensor<*xbf16>
  %14, %15 = ingot.node "Split"(%x) {attrs = {axis = 2 : i64}} : (tensor<?x?x64xf32>) -> (tensor<*xf32>, tensor<*xf32>)
  %sh = ingot.node "Shape"(%x) {attrs = {end = 2 : i64}} : (tensor<?x?x64xf32>) -> tensor<*xi64>
  %c128 = ingot.constant dense<[128]> : tensor<1xi64>
  %esh = ingot.node "Concat"(%sh, %c128) {attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %16 = ingot.node "Expand"(%mask, %esh) : (tensor<?x?x1xf32>, tensor<*xi64>) -> tensor<*xf32>
  %17 = ingot.node "Add"(%16, %3) : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %18 = ingot.node "NoSuchOp"(%17) : (tensor<*xf32>) -> tensor<*xf32>
  return %g, %4, %5, %10, %13, %14, %15, %18, %mean, %inv : tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xbf16>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>, tensor<*xf32>
}

// -----

// Tests the exported Expand pattern Where(Equal(shape, -1), 1, shape): a
// dim is never -1, so the Expand is to the input's own shape and goes away
// with the shape arithmetic; rows / 2 is not exact, so that dim is inferred.
// An Expand to a longer shape of constants and the input's dims gets a
// constant shape with 1 for those dims.
// CHECK-LABEL: func.func @expand_pattern
// CHECK-NOT: "Where"
// CHECK-NOT: "Expand"(%arg0
// CHECK: %[[S:.*]] = ingot.constant dense<[-1, 8]> : tensor<2xi64>
// CHECK: ingot.node "Reshape"(%arg0, %[[S]]) {{.*}} -> tensor<?x8xf32>
// CHECK: %[[E:.*]] = ingot.constant dense<[3, 1, 4]> : tensor<3xi64>
// CHECK: ingot.node "Expand"(%arg0, %[[E]]) {{.*}} -> tensor<3x?x4xf32>
func.func @expand_pattern(%x: tensor<?x4xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
  %shape = ingot.node "Shape"(%x) : (tensor<?x4xf32>) -> tensor<*xi64>
  %minus1 = ingot.constant dense<-1> : tensor<i64>
  %eq = ingot.node "Equal"(%shape, %minus1) : (tensor<*xi64>, tensor<i64>) -> tensor<*xi1>
  %ones = ingot.constant dense<1> : tensor<2xi64>
  %fixed = ingot.node "Where"(%eq, %ones, %shape) : (tensor<*xi1>, tensor<2xi64>, tensor<*xi64>) -> tensor<*xi64>
  %e = ingot.node "Expand"(%x, %fixed) : (tensor<?x4xf32>, tensor<*xi64>) -> tensor<*xf32>
  %two = ingot.constant dense<2> : tensor<i64>
  // Halve the rows, double the columns: [?, 8] with ? = rows/2 (exact).
  %r = ingot.node "Div"(%shape, %two) : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  %c = ingot.node "Mul"(%shape, %two) : (tensor<*xi64>, tensor<i64>) -> tensor<*xi64>
  %i0 = ingot.constant dense<[0]> : tensor<1xi64>
  %i1 = ingot.constant dense<[1]> : tensor<1xi64>
  %rows = ingot.node "Gather"(%r, %i0) : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %cols = ingot.node "Gather"(%c, %i1) : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %ns = ingot.node "Concat"(%rows, %cols) {attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<*xi64>) -> tensor<*xi64>
  %y = ingot.node "Reshape"(%e, %ns) : (tensor<*xf32>, tensor<*xi64>) -> tensor<*xf32>
  %three = ingot.constant dense<[3]> : tensor<1xi64>
  %big = ingot.node "Concat"(%three, %fixed) {attrs = {axis = 0 : i64}} : (tensor<1xi64>, tensor<*xi64>) -> tensor<*xi64>
  %e3 = ingot.node "Expand"(%x, %big) : (tensor<?x4xf32>, tensor<*xi64>) -> tensor<*xf32>
  return %y, %e3 : tensor<*xf32>, tensor<*xf32>
}

// -----

// Tests that a declared type that contradicts the inferred one is an error
// naming the node.
func.func @conflict(%a: tensor<2x8xf32>, %b: tensor<8x4xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{node 'mm' (MatMul): result 0: inferred type 'tensor<2x4xf32>' conflicts with the declared type 'tensor<3x4xf32>'}}
  %0 = ingot.node "MatMul"(%a, %b) {name = "mm"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  %1 = ingot.node "Relu"(%0) : (tensor<3x4xf32>) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}

// -----

func.func @rank_conflict(%a: tensor<?x8xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{node 'r' (Relu): result 0: inferred type 'tensor<?x8xf32>' conflicts with the declared type 'tensor<?x?x8xf32>'}}
  %0 = ingot.node "Relu"(%a) {name = "r"} : (tensor<?x8xf32>) -> tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}

// -----

func.func @elem_conflict(%a: tensor<4xf32>) -> tensor<*xi32> {
  // expected-error @+1 {{node 's' (Shape): result 0: inferred type 'tensor<1xi64>' conflicts with the declared type 'tensor<*xi32>'}}
  %0 = ingot.node "Shape"(%a) {name = "s"} : (tensor<4xf32>) -> tensor<*xi32>
  return %0 : tensor<*xi32>
}

// -----

func.func @no_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{node 'add' (Add): shapes [2, 3] and [4] do not broadcast}}
  %0 = ingot.node "Add"(%a, %b) {name = "add"} : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

// Tests that ops without a kernel or rule, ops of other domains and
// nondeterministic ops are left alone even on constant inputs, and that
// unused nodes and constants are erased.
// CHECK-LABEL: func.func @left_alone
// CHECK: %[[C:.*]] = ingot.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: ingot.node "NoSuchOp"(%[[C]])
// CHECK: ingot.node "Thing"(%[[C]]) {domain = "com.example"}
// CHECK: ingot.node "RandomNormalLike"(%[[C]])
// CHECK-NOT: "Relu"
// CHECK-NOT: dense<2.0
func.func @left_alone() -> (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) {
  %c = ingot.constant dense<1.0> : tensor<4xf32>
  %unused = ingot.constant dense<2.0> : tensor<4xf32>
  %dead = ingot.node "Relu"(%unused) : (tensor<4xf32>) -> tensor<*xf32>
  %0 = ingot.node "NoSuchOp"(%c) : (tensor<4xf32>) -> tensor<*xf32>
  %1 = ingot.node "Thing"(%c) {domain = "com.example"} : (tensor<4xf32>) -> tensor<*xf32>
  %2 = ingot.node "RandomNormalLike"(%c) : (tensor<4xf32>) -> tensor<*xf32>
  return %0, %1, %2 : tensor<*xf32>, tensor<*xf32>, tensor<*xf32>
}

// -----

// Tests a Reshape with allowzero = 1: the input's own dim becomes a copy
// marker and the attribute is switched to 0 (the shape has no literal 0);
// the inferred dim is exact (b*t*8 / (b*4) = 2t). A Reshape to the input's
// own shape is removed. Slicing a dynamic axis from 1 to "the end" keeps
// the symbol (t - 1), so a later Reshape can still copy it.
// CHECK-LABEL: func.func @reshape_allowzero
// CHECK: %[[S:.*]] = ingot.constant dense<[0, -1, 4]> : tensor<3xi64>
// CHECK: ingot.node "Reshape"(%arg0, %[[S]]) {attrs = {allowzero = 0 : i64}} : (tensor<?x?x8xf32>, tensor<3xi64>) -> tensor<?x?x4xf32>
// CHECK: %[[SL:.*]] = ingot.node "Slice"{{.*}} -> tensor<?x?x8xf32>
// CHECK: %[[S2:.*]] = ingot.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
// CHECK: ingot.node "Reshape"(%[[SL]], %[[S2]])
// CHECK-SAME: -> tensor<?x?x2x4xf32>
// CHECK: return %{{.*}}, %arg0, %{{.*}}
func.func @reshape_allowzero(%x: tensor<?x?x8xf32>) -> (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) {
  %s = ingot.node "Shape"(%x) : (tensor<?x?x8xf32>) -> tensor<*xi64>
  %i0 = ingot.constant dense<[0]> : tensor<1xi64>
  %b = ingot.node "Gather"(%s, %i0) : (tensor<*xi64>, tensor<1xi64>) -> tensor<*xi64>
  %rest = ingot.constant dense<[-1, 4]> : tensor<2xi64>
  %shape = ingot.node "Concat"(%b, %rest) {attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<2xi64>) -> tensor<*xi64>
  %y = ingot.node "Reshape"(%x, %shape) {attrs = {allowzero = 1 : i64}} : (tensor<?x?x8xf32>, tensor<*xi64>) -> tensor<*xf32>
  %same = ingot.node "Reshape"(%x, %s) {attrs = {allowzero = 1 : i64}} : (tensor<?x?x8xf32>, tensor<*xi64>) -> tensor<*xf32>
  %one = ingot.constant dense<[1]> : tensor<1xi64>
  %end = ingot.constant dense<[2147483647]> : tensor<1xi64>
  %sl = ingot.node "Slice"(%x, %one, %end, %one) : (tensor<?x?x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xf32>
  %ss = ingot.node "Shape"(%sl) {attrs = {end = 2 : i64}} : (tensor<*xf32>) -> tensor<*xi64>
  %c24 = ingot.constant dense<[2, 4]> : tensor<2xi64>
  %s4 = ingot.node "Concat"(%ss, %c24) {attrs = {axis = 0 : i64}} : (tensor<*xi64>, tensor<2xi64>) -> tensor<*xi64>
  %z = ingot.node "Reshape"(%sl, %s4) : (tensor<*xf32>, tensor<*xi64>) -> tensor<*xf32>
  return %y, %same, %z : tensor<*xf32>, tensor<*xf32>, tensor<*xf32>
}
