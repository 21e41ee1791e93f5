//===- Fuse.cpp - group ops into kernels ----------------------------------===//
//
// Rewrites the function's single block so that work the runtime does in one
// kernel is one op. In this order, each phase seeing the result of the last:
//   1. add + rms_norm (whole-row, not grouped) / layer_norm -> ingot.fused
//      "add_rms_norm" / "add_layer_norm" yielding (sum, normed): the sum is the
//      residual stream, which the next block always reads, so it is always a
//      result.
//   2. mul(silu(g), u), either order, silu single-use -> "silu_mul". Runs
//      before 3 so that a gate projection keeps its silu for this kernel.
//   3. act(linear) with a single-use, activation-free linear -> the linear's
//      `activation` epilogue; the activation op disappears.
//   4. maximal trees of elementwise ops joined through single-use values
//      (two ops or more) -> "elementwise". Such a tree has exactly one value
//      used outside it (its root), so the region has one result.
// Invariants: every fused region is isolated from above (its block arguments
// are exactly its inputs, in order) and ends in ingot.yield; the named kinds
// keep the operand order the runtime's step expects (docs/plan-format.md),
// which ingot-lower-to-plan relies on. Ops in nested regions are not touched.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::ingot {
#define GEN_PASS_DEF_FUSE
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;

namespace {

bool isElementwise(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, ScaleOp, SiluOp, ReluOp, GeluOp,
             CastOp>(op);
}

// Where the fused op can replace `group`: every input must be defined before
// it and every use of an output outside the group must come after it. Tries
// the group's last op, then just before the earliest outside use.
Operation *findInsertionPoint(ArrayRef<Operation *> group, ArrayRef<Value> inputs,
                              ArrayRef<Value> outputs) {
  Block *block = group.front()->getBlock();
  llvm::SmallPtrSet<Operation *, 8> members(group.begin(), group.end());
  Operation *last = group.front();
  for (Operation *op : group)
    if (last->isBeforeInBlock(op))
      last = op;
  Operation *firstOutsideUse = nullptr;
  for (Value v : outputs)
    for (Operation *user : v.getUsers()) {
      Operation *u = block->findAncestorOpInBlock(*user);
      if (!u || members.contains(u))
        continue;
      if (!firstOutsideUse || u->isBeforeInBlock(firstOutsideUse))
        firstOutsideUse = u;
    }
  auto inputsDefinedBefore = [&](Operation *point) {
    for (Value v : inputs) {
      Operation *def = v.getDefiningOp();
      if (!def || def->getBlock() != block)
        continue;
      if (def == point || point->isBeforeInBlock(def))
        return false;
    }
    return true;
  };
  if (!firstOutsideUse || last->isBeforeInBlock(firstOutsideUse))
    return last;
  if (inputsDefinedBefore(firstOutsideUse))
    return firstOutsideUse;
  return nullptr;
}

// Replaces `group` (ops of one block, in block order) by an ingot.fused op of
// `kind` whose body clones the group with `inputs` as block arguments and
// yields `outputs`. Returns null (and changes nothing) when no insertion point
// keeps the IR valid.
FusedOp fuseGroup(IRRewriter &rewriter, StringRef kind,
                  ArrayRef<Operation *> group, ArrayRef<Value> inputs,
                  ArrayRef<Value> outputs,
                  ArrayRef<NamedAttribute> extraAttrs = {}) {
  Operation *point = findInsertionPoint(group, inputs, outputs);
  if (!point)
    return nullptr;
  SmallVector<Location> locs;
  for (Operation *op : group)
    locs.push_back(op->getLoc());
  Location loc = rewriter.getFusedLoc(locs);

  rewriter.setInsertionPoint(point);
  SmallVector<Type> resultTypes;
  for (Value v : outputs)
    resultTypes.push_back(v.getType());
  auto fused = FusedOp::create(rewriter, loc, resultTypes, kind, inputs);
  for (NamedAttribute a : extraAttrs)
    fused->setAttr(a.getName(), a.getValue());

  SmallVector<Type> argTypes;
  SmallVector<Location> argLocs;
  for (Value v : inputs) {
    argTypes.push_back(v.getType());
    argLocs.push_back(v.getLoc());
  }
  Block *body = rewriter.createBlock(&fused.getBody(), {}, argTypes, argLocs);
  IRMapping map;
  for (auto [in, arg] : llvm::zip(inputs, body->getArguments()))
    map.map(in, arg);
  rewriter.setInsertionPointToEnd(body);
  for (Operation *op : group)
    rewriter.clone(*op, map);
  SmallVector<Value> yielded;
  for (Value v : outputs)
    yielded.push_back(map.lookup(v));
  YieldOp::create(rewriter, loc, yielded);

  for (auto [v, r] : llvm::zip(outputs, fused.getResults()))
    rewriter.replaceAllUsesWith(v, r);
  for (Operation *op : llvm::reverse(group))
    rewriter.eraseOp(op);
  return fused;
}

// add(x, r) feeding a norm: both operands and the result of the same type
// (a broadcast bias add is not a residual add).
AddOp residualAdd(Value normInput) {
  auto add = normInput.getDefiningOp<AddOp>();
  if (!add || add.getLhs().getType() != add.getRhs().getType() ||
      add.getLhs().getType() != add.getType())
    return nullptr;
  return add;
}

void fuseAddNorms(Block &block, IRRewriter &rewriter) {
  SmallVector<Operation *> norms;
  for (Operation &op : block)
    if (isa<RmsNormOp, LayerNormOp>(op))
      norms.push_back(&op);
  for (Operation *op : norms) {
    if (auto norm = dyn_cast<RmsNormOp>(op)) {
      // AddRmsNorm normalises whole rows; a grouped (per-head) norm stays.
      AddOp add = residualAdd(norm.getX());
      if (!add || add->getBlock() != &block ||
          norm.getType() != add.getType() || norm.getGroupSize() != 0)
        continue;
      fuseGroup(rewriter, "add_rms_norm", {add, norm},
                {add.getLhs(), add.getRhs(), norm.getWeight()},
                {add.getResult(), norm.getResult()},
                {rewriter.getNamedAttr("epsilon", norm.getEpsilonAttr())});
    } else {
      auto ln = cast<LayerNormOp>(op);
      AddOp add = residualAdd(ln.getX());
      if (!add || add->getBlock() != &block || ln.getType() != add.getType())
        continue;
      fuseGroup(rewriter, "add_layer_norm", {add, ln},
                {add.getLhs(), add.getRhs(), ln.getWeight(), ln.getBias()},
                {add.getResult(), ln.getResult()},
                {rewriter.getNamedAttr("epsilon", ln.getEpsilonAttr())});
    }
  }
}

void fuseSiluMul(Block &block, IRRewriter &rewriter) {
  SmallVector<MulOp> muls(block.getOps<MulOp>());
  for (MulOp mul : muls) {
    for (int side = 0; side < 2; ++side) {
      Value gated = side ? mul.getRhs() : mul.getLhs();
      Value up = side ? mul.getLhs() : mul.getRhs();
      auto silu = gated.getDefiningOp<SiluOp>();
      if (!silu || !silu->hasOneUse() || silu->getBlock() != &block)
        continue;
      // The kernel reads gate and up with the output's shape: no broadcast.
      if (silu.getX().getType() != mul.getType() ||
          up.getType() != mul.getType())
        continue;
      if (fuseGroup(rewriter, "silu_mul", {silu, mul}, {silu.getX(), up},
                    {mul.getResult()}))
        break;
    }
  }
}

// The linear epilogue's name for an activation op, or "" if it has none.
StringRef epilogueName(Operation *op) {
  if (isa<SiluOp>(op))
    return "silu";
  if (isa<ReluOp>(op))
    return "relu";
  if (auto gelu = dyn_cast<GeluOp>(op))
    return gelu.getApproximate() == "tanh" ? "gelu_tanh" : "gelu";
  return "";
}

void fuseLinearEpilogues(Block &block, IRRewriter &rewriter) {
  SmallVector<Operation *> acts;
  for (Operation &op : block)
    if (isa<SiluOp, ReluOp, GeluOp>(op))
      acts.push_back(&op);
  for (Operation *act : acts) {
    auto linear = act->getOperand(0).getDefiningOp<LinearOp>();
    if (!linear || linear.getActivation() != "none" || !linear->hasOneUse() ||
        linear.getType() != act->getResult(0).getType())
      continue;
    rewriter.modifyOpInPlace(linear, [&] {
      linear.setActivation(epilogueName(act));
      linear->setLoc(rewriter.getFusedLoc({linear->getLoc(), act->getLoc()}));
    });
    rewriter.replaceOp(act, linear.getResult());
  }
}

void fuseElementwiseChains(Block &block, IRRewriter &rewriter) {
  // Union producer and consumer across every single-use edge.
  llvm::EquivalenceClasses<Operation *> groups;
  SmallVector<Operation *> ops;
  for (Operation &op : block) {
    if (!isElementwise(&op))
      continue;
    ops.push_back(&op);
    groups.insert(&op);
    for (Value v : op.getOperands()) {
      Operation *producer = v.getDefiningOp();
      if (producer && producer->getBlock() == &block &&
          isElementwise(producer) && producer->hasOneUse())
        groups.unionSets(producer, &op);
    }
  }
  // Collect members in block order, keyed by their leader.
  llvm::MapVector<Operation *, SmallVector<Operation *>> members;
  for (Operation *op : ops)
    members[groups.getLeaderValue(op)].push_back(op);

  for (auto &entry : members) {
    ArrayRef<Operation *> group = entry.second;
    if (group.size() < 2)
      continue;
    llvm::SmallPtrSet<Operation *, 8> inGroup(group.begin(), group.end());
    llvm::SetVector<Value> inputs;
    for (Operation *op : group)
      for (Value v : op->getOperands())
        if (!inGroup.contains(v.getDefiningOp()))
          inputs.insert(v);
    // The root is the only member with uses outside the tree; it is last.
    Operation *root = group.back();
    fuseGroup(rewriter, "elementwise", group, inputs.getArrayRef(),
              {root->getResult(0)});
  }
}

struct FusePass : public mlir::ingot::impl::FuseBase<FusePass> {
  using FuseBase::FuseBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    IRRewriter rewriter(&getContext());
    for (Block &block : fn.getBody()) {
      fuseAddNorms(block, rewriter);
      fuseSiluMul(block, rewriter);
      fuseLinearEpilogues(block, rewriter);
      if (enableElementwise)
        fuseElementwiseChains(block, rewriter);
    }
  }
};
} // namespace
