// Kernel groups of the N-d operator library (see include/ingot/runtime/nd.h).
#pragma once
#include "ingot/runtime/nd.h"

namespace ingot::nd {

// nd_elementwise.cpp: unary math, activations, binary arithmetic with
// broadcasting, comparisons, logic, Where, Cast/CastLike, Clip, Sum/Mean/Max/Min.
void registerElementwiseKernels(Registry &r);
// nd_reduce.cpp: Reduce*, ArgMax/ArgMin, CumSum, Softmax/LogSoftmax/Hardmax, TopK.
void registerReduceKernels(Registry &r);
// nd_shape.cpp: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
// Concat, Split, Slice, Gather, GatherElements, GatherND, Expand, Tile, Range,
// ConstantOfShape, Constant, Identity, Dropout, Trilu, Pad, EyeLike, ...
void registerShapeKernels(Registry &r);
// nd_nn.cpp: MatMul, Gemm, LayerNormalization, ... and com.microsoft ops
// (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization,
// SkipLayerNormalization, RotaryEmbedding, FastGelu, GroupQueryAttention, ...).
void registerNnKernels(Registry &r);

} // namespace ingot::nd
