//===- RaisePatterns.cpp - decomposed ONNX subgraphs -> one node ----------===//
//
// Exporters decompose norms and activations into chains of primitive ops.
// These patterns recognise the chains and replace each with the single node
// that names the computation, in ONNX's own vocabulary, so that:
//   - the general path runs one kernel instead of a chain, and
//   - the decoder conversion (DecoderRaise.cpp) only has to know a few names.
// Forms (x may be seen through no-op Casts; constants must match exactly):
//   RMSNorm  Mul(g, Mul(x, Div(1, Sqrt(Add(ReduceMean(Pow(x, 2), [-1]), eps)))))
//            also Mul(x, Reciprocal(Sqrt(..))) and Div(x, Sqrt(..)), either
//            operand order   -> com.microsoft SimplifiedLayerNormalization(x, g)
//   SiLU     Mul(x, Sigmoid(x))            -> com.microsoft QuickGelu(x), alpha 1
//   GELU     Mul(Mul(x, 0.5), Add(Erf(Div(x, sqrt 2)), 1)) and reassociations
//            -> Gelu(x) (opset 20), approximate "none"
//   GELU     0.5*x*(1+Tanh(sqrt(2/pi)*(x+0.044715*x^3))) -> Gelu approximate "tanh"
// Each pattern checks every intermediate value has no other use (otherwise
// the chain's pieces are still needed and nothing is gained).
//
//===----------------------------------------------------------------------===//
#include "RaiseUtil.h"
#include "ingot/OnnxRaise/OnnxRaise.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::raise;

namespace {

bool singleUse(Value v) { return v && v.hasOneUse(); }

// Returns the operands of a commutative binary node as (a, b) and (b, a).
std::array<std::pair<Value, Value>, 2> both(NodeOp n) {
  Value a = n.getInputs()[0], b = n.getInputs()[1];
  return {std::make_pair(a, b), std::make_pair(b, a)};
}

NodeOp makeNode(PatternRewriter &rw, Operation *root, llvm::StringRef op,
                llvm::StringRef domain, ValueRange inputs, DictionaryAttr attrs) {
  auto old = cast<NodeOp>(root);
  auto n = rw.create<NodeOp>(root->getLoc(), root->getResultTypes(), rw.getStringAttr(op),
                             rw.getStringAttr(domain), old.getNameAttr(), attrs, inputs);
  return n;
}

// mean(x^2) + eps under a Sqrt: returns x and eps.
bool matchMeanSquarePlusEps(Value sqrtIn, Value &x, double &eps) {
  auto add = nodeOf(sqrtIn, "Add");
  if (!add || add.getInputs().size() != 2 || !singleUse(add.getResult(0)))
    return false;
  for (auto [m, e] : both(add)) {
    auto rm = nodeOf(m, "ReduceMean");
    auto epsv = constScalar(e);
    if (!rm || !epsv || !singleUse(rm.getResult(0)))
      continue;
    auto axes = intsOf(rm, "axes", 1);
    if (!axes || axes->size() != 1 || (*axes)[0] != -1 || intAttr(rm, "keepdims", 1) != 1)
      continue;
    auto pw = nodeOf(rm.getInputs()[0], "Pow");
    if (pw && isConstScalar(pw.getInputs()[1], 2.0)) {
      x = skipNoopCasts(pw.getInputs()[0]);
    } else if (auto mul = nodeOf(rm.getInputs()[0], "Mul");
               mul && skipNoopCasts(mul.getInputs()[0]) == skipNoopCasts(mul.getInputs()[1])) {
      x = skipNoopCasts(mul.getInputs()[0]);
    } else {
      continue;
    }
    eps = *epsv;
    return true;
  }
  return false;
}

// x * rsqrt(mean(x^2) + eps) in its exported forms; returns x and eps.
bool matchNormalized(Value v, Value &x, double &eps) {
  v = skipNoopCasts(v);
  auto n = nodeOf(v);
  if (!n || !singleUse(v))
    return false;
  if (n.getOpType() == "Div") {
    auto sq = nodeOf(n.getInputs()[1], "Sqrt");
    Value xx;
    if (sq && matchMeanSquarePlusEps(sq.getInputs()[0], xx, eps) &&
        skipNoopCasts(n.getInputs()[0]) == xx) {
      x = xx;
      return true;
    }
    return false;
  }
  if (n.getOpType() != "Mul")
    return false;
  for (auto [a, inv] : both(n)) {
    Value sqrtv;
    if (auto d = nodeOf(inv, "Div"); d && isConstScalar(d.getInputs()[0], 1.0))
      sqrtv = d.getInputs()[1];
    else if (auto r = nodeOf(inv, "Reciprocal"))
      sqrtv = r.getInputs()[0];
    auto sq = nodeOf(sqrtv, "Sqrt");
    Value xx;
    if (sq && singleUse(inv) && matchMeanSquarePlusEps(sq.getInputs()[0], xx, eps) &&
        skipNoopCasts(a) == xx) {
      x = xx;
      return true;
    }
  }
  return false;
}

struct RmsNormPattern : RewritePattern {
  RmsNormPattern(MLIRContext *ctx) : RewritePattern(NodeOp::getOperationName(), 2, ctx) {}
  LogicalResult matchAndRewrite(Operation *op, PatternRewriter &rw) const override {
    auto n = cast<NodeOp>(op);
    if (n.getOpType() != "Mul" || n.getInputs().size() != 2)
      return failure();
    for (auto [g, normed] : both(n)) {
      auto gt = dyn_cast<RankedTensorType>(g.getType());
      if (!isParam(g) || !gt || gt.getRank() != 1)
        continue;
      Value x;
      double eps;
      if (!matchNormalized(normed, x, eps))
        continue;
      auto attrs = rw.getDictionaryAttr({rw.getNamedAttr("axis", rw.getI64IntegerAttr(-1)),
                                         rw.getNamedAttr("epsilon", rw.getF32FloatAttr(float(eps)))});
      auto rep = makeNode(rw, op, "SimplifiedLayerNormalization", "com.microsoft",
                          ValueRange{x, g}, attrs);
      rw.replaceOp(op, rep.getResults());
      return success();
    }
    return failure();
  }
};

struct SiluPattern : RewritePattern {
  SiluPattern(MLIRContext *ctx) : RewritePattern(NodeOp::getOperationName(), 1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op, PatternRewriter &rw) const override {
    auto n = cast<NodeOp>(op);
    if (n.getOpType() != "Mul" || n.getInputs().size() != 2)
      return failure();
    for (auto [x, s] : both(n)) {
      auto sig = nodeOf(s, "Sigmoid");
      if (!sig || !singleUse(s) || sig.getInputs()[0] != x)
        continue;
      auto attrs = rw.getDictionaryAttr({rw.getNamedAttr("alpha", rw.getF32FloatAttr(1.0f))});
      rw.replaceOp(op, makeNode(rw, op, "QuickGelu", "com.microsoft", ValueRange{x}, attrs)
                           .getResults());
      return success();
    }
    return failure();
  }
};

// 1 + erf(x / sqrt2) or 1 + erf(x * (1/sqrt2)); returns x.
bool matchOnePlusErf(Value v, Value &x) {
  auto add = nodeOf(v, "Add");
  if (!add || !singleUse(v))
    return false;
  for (auto [e, one] : both(add)) {
    auto erf = nodeOf(e, "Erf");
    if (!erf || !isConstScalar(one, 1.0) || !singleUse(e))
      continue;
    auto in = nodeOf(erf.getInputs()[0]);
    if (!in || !singleUse(erf.getInputs()[0]))
      continue;
    if (in.getOpType() == "Div" && isConstScalar(in.getInputs()[1], std::sqrt(2.0), 1e-5)) {
      x = in.getInputs()[0];
      return true;
    }
    if (in.getOpType() == "Mul")
      for (auto [a, c] : both(in))
        if (isConstScalar(c, 1.0 / std::sqrt(2.0), 1e-6)) {
          x = a;
          return true;
        }
  }
  return false;
}

// 1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)); returns x.
bool matchOnePlusTanh(Value v, Value &x) {
  auto add = nodeOf(v, "Add");
  if (!add || !singleUse(v))
    return false;
  for (auto [t, one] : both(add)) {
    auto th = nodeOf(t, "Tanh");
    if (!th || !isConstScalar(one, 1.0) || !singleUse(t))
      continue;
    auto mul = nodeOf(th.getInputs()[0], "Mul");
    if (!mul)
      continue;
    for (auto [inner, c] : both(mul)) {
      if (!isConstScalar(c, std::sqrt(2.0 / M_PI), 1e-5))
        continue;
      auto sum = nodeOf(inner, "Add");
      if (!sum)
        continue;
      for (auto [xx, cube] : both(sum)) {
        auto cm = nodeOf(cube, "Mul");
        if (!cm)
          continue;
        for (auto [p, k] : both(cm)) {
          if (!isConstScalar(k, 0.044715, 1e-6))
            continue;
          auto pw = nodeOf(p, "Pow");
          if (pw && pw.getInputs()[0] == xx && isConstScalar(pw.getInputs()[1], 3.0)) {
            x = xx;
            return true;
          }
        }
      }
    }
  }
  return false;
}

struct GeluPattern : RewritePattern {
  GeluPattern(MLIRContext *ctx) : RewritePattern(NodeOp::getOperationName(), 1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op, PatternRewriter &rw) const override {
    auto n = cast<NodeOp>(op);
    if (n.getOpType() != "Mul" || n.getInputs().size() != 2)
      return failure();
    // Shapes: (x*0.5) * (1+f(x)), x * ((1+f(x))*0.5), (x * (1+f(x))) * 0.5.
    auto tryForm = [&](Value x, Value onePlus, const char *approx) -> bool {
      Value xx;
      bool ok = std::string(approx) == "none" ? matchOnePlusErf(onePlus, xx)
                                              : matchOnePlusTanh(onePlus, xx);
      if (!ok || xx != x)
        return false;
      auto attrs = rw.getDictionaryAttr(
          {rw.getNamedAttr("approximate", rw.getStringAttr(approx))});
      rw.replaceOp(op, makeNode(rw, op, "Gelu", "", ValueRange{x}, attrs).getResults());
      return true;
    };
    for (const char *approx : {"none", "tanh"}) {
      for (auto [a, b] : both(n)) {
        // (x*0.5) * (1+f(x))
        if (auto half = nodeOf(a, "Mul"); half && singleUse(a))
          for (auto [x, c] : both(half))
            if (isConstScalar(c, 0.5) && tryForm(x, b, approx))
              return success();
        // (x * (1+f(x))) * 0.5
        if (isConstScalar(b, 0.5))
          if (auto inner = nodeOf(a, "Mul"); inner && singleUse(a))
            for (auto [x, onePlus] : both(inner))
              if (tryForm(x, onePlus, approx))
                return success();
      }
    }
    return failure();
  }
};

} // namespace

void mlir::ingot::populateOnnxRaisePatterns(RewritePatternSet &patterns) {
  patterns.add<RmsNormPattern, SiluPattern, GeluPattern>(patterns.getContext());
}
