//===- IngotCanonicalize.cpp - folders and canonicalization patterns -----===//
//
// Run by MLIR's `canonicalize` pass (the pipeline runs it after shape
// inference). Folds: scale by 1, scale of scale, cast to the same type,
// a round trip through a wider float type. Patterns: x + x -> scale(x, 2);
// a scale is hoisted out of a product so scales meet and fold; silu(gate)
// is put first in a product so fusion sees one canonical form.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::ingot;

OpFoldResult ScaleOp::fold(FoldAdaptor) {
  if (getFactor().convertToDouble() == 1.0 && getX().getType() == getType())
    return getX();
  if (auto inner = getX().getDefiningOp<ScaleOp>()) {
    double f = getFactor().convertToDouble() * inner.getFactor().convertToDouble();
    getXMutable().assign(inner.getX());
    setFactorAttr(FloatAttr::get(Float64Type::get(getContext()), f));
    return getResult();
  }
  return {};
}

static unsigned floatWidth(Type t) {
  return getElementTypeOrSelf(t).getIntOrFloatBitWidth();
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getX().getType() == getType())
    return getX();
  // cast(cast(x : A -> B) -> A) == x when B is at least as wide as A and
  // B is f32 (bf16 and f16 both convert exactly to f32, not to each other).
  if (auto inner = getX().getDefiningOp<CastOp>()) {
    Value src = inner.getX();
    if (src.getType() == getType() &&
        getElementTypeOrSelf(inner.getType()).isF32() &&
        floatWidth(inner.getType()) >= floatWidth(src.getType()))
      return src;
  }
  return {};
}

namespace {
// x + x -> scale(x, 2)
struct AddSelfToScale : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rewriter) const override {
    if (op.getLhs() != op.getRhs())
      return failure();
    rewriter.replaceOpWithNewOp<ScaleOp>(op, op.getType(), op.getLhs(),
                                         rewriter.getF64FloatAttr(2.0));
    return success();
  }
};

// mul(scale(a, f), b) -> scale(mul(a, b), f), and symmetrically, when the
// scale has no other use: scales move outwards where they can fold.
struct HoistScaleOutOfMul : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    for (int side = 0; side < 2; ++side) {
      Value s = side ? op.getRhs() : op.getLhs();
      Value other = side ? op.getLhs() : op.getRhs();
      auto scale = s.getDefiningOp<ScaleOp>();
      if (!scale || !scale->hasOneUse())
        continue;
      Value lhs = side ? other : scale.getX();
      Value rhs = side ? scale.getX() : other;
      auto mul = MulOp::create(rewriter, op.getLoc(), op.getType(), lhs, rhs);
      rewriter.replaceOpWithNewOp<ScaleOp>(op, op.getType(), mul.getResult(),
                                           scale.getFactorAttr());
      return success();
    }
    return failure();
  }
};

// mul(up, silu(gate)) -> mul(silu(gate), up)
struct SiluFirstInMul : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    if (!op.getRhs().getDefiningOp<SiluOp>() || op.getLhs().getDefiningOp<SiluOp>())
      return failure();
    if (op.getLhs().getType() != op.getRhs().getType())
      return failure();
    rewriter.modifyOpInPlace(op, [&] {
      Value l = op.getLhs(), r = op.getRhs();
      op.getLhsMutable().assign(r);
      op.getRhsMutable().assign(l);
    });
    return success();
  }
};
} // namespace

void AddOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<AddSelfToScale>(context);
}

void MulOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<HoistScaleOutOfMul, SiluFirstInMul>(context);
}
