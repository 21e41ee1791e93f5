//===- PlanMemory.cpp - one arena for every activation --------------------===//
//
// Every tensor result of a top-level op is an activation buffer, except the
// results of ingot.weight (bound to plan weights) and the block arguments
// (program inputs). A buffer lives from the index of its defining op to the
// index of its last use, both inclusive, so an op's outputs never share bytes
// with its inputs; values returned by func.return live to the end because
// the return op is last. Sizes are worst case: the leading `?` dim (T or S,
// and S <= T) counts as max-tokens, every buffer is rounded up to 64 bytes.
//
// Offsets are assigned greedily by size: largest buffer first, each at the
// lowest offset that does not overlap a buffer already placed whose live
// range overlaps. All sizes are multiples of 64, so all offsets are too.
//
// Results: `ingot.arena_offsets` on each op owning a buffer (one entry per
// result, -1 for a result not in the arena) and `ingot.arena_bytes`,
// `ingot.max_tokens`, `ingot.max_seqs` on the function.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

namespace mlir::ingot {
#define GEN_PASS_DEF_PLANMEMORY
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;

namespace {

constexpr int64_t kAlignment = 64;

struct Buffer {
  Value value;
  Operation *op;
  unsigned resultIndex;
  int64_t bytes;    // rounded up to kAlignment
  int64_t first;    // index of the defining op
  int64_t last;     // index of the last use (inclusive)
  int64_t offset = -1;

  bool overlaps(const Buffer &o) const {
    return first <= o.last && o.first <= last;
  }
};

// Worst-case bytes of `v`, or failure (reported at `op`) when its type does
// not say: the planner needs ranked tensors whose only dynamic dim is the
// leading row count.
FailureOr<int64_t> worstCaseBytes(Operation *op, Value v, int64_t maxTokens) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type) {
    op->emitOpError() << "result #" << cast<OpResult>(v).getResultNumber()
                      << " has type " << v.getType()
                      << ", which memory planning cannot size (run "
                         "ingot-shape-inference first)";
    return failure();
  }
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(d) && i != 0) {
      op->emitOpError() << "result #" << cast<OpResult>(v).getResultNumber()
                        << " has type " << type
                        << " with a dynamic dimension other than the leading "
                           "row count (run ingot-shape-inference first)";
      return failure();
    }
  Type elt = type.getElementType();
  if (!elt.isIntOrFloat() || elt.getIntOrFloatBitWidth() % 8) {
    op->emitOpError() << "result #" << cast<OpResult>(v).getResultNumber()
                      << " has element type " << elt
                      << ", which has no byte size";
    return failure();
  }
  int64_t bytes = elt.getIntOrFloatBitWidth() / 8;
  for (int64_t d : type.getShape())
    bytes *= ShapedType::isDynamic(d) ? maxTokens : d;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// Lowest offset at which `b` fits between the already placed buffers that are
// live at the same time.
int64_t lowestFreeOffset(const Buffer &b, ArrayRef<const Buffer *> placed) {
  SmallVector<const Buffer *> live;
  for (const Buffer *p : placed)
    if (p->overlaps(b))
      live.push_back(p);
  llvm::sort(live, [](const Buffer *x, const Buffer *y) {
    return x->offset < y->offset;
  });
  int64_t offset = 0;
  for (const Buffer *p : live) {
    if (offset + b.bytes <= p->offset)
      break;
    offset = std::max(offset, p->offset + p->bytes);
  }
  return offset;
}

std::string locString(Location loc) {
  if (auto fl = dyn_cast<FileLineColLoc>(loc))
    return (llvm::sys::path::filename(fl.getFilename().getValue()) + ":" +
            Twine(fl.getLine()) + ":" + Twine(fl.getColumn()))
        .str();
  if (auto nl = dyn_cast<NameLoc>(loc))
    return nl.getName().str();
  // A fused op shows where its first op came from and how many more it holds.
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    ArrayRef<Location> locs = fused.getLocations();
    if (locs.empty())
      return "";
    std::string s = locString(locs.front());
    if (locs.size() > 1)
      s += " (+" + std::to_string(locs.size() - 1) + ")";
    return s;
  }
  return "";
}

void emitReport(func::FuncOp fn, ArrayRef<Buffer> buffers, int64_t arenaBytes,
                 int64_t maxTokens, int64_t maxSeqs) {
  llvm::raw_ostream &os = llvm::outs();
  int64_t sum = 0;
  for (const Buffer &b : buffers)
    sum += b.bytes;
  os << "ingot-plan-memory @" << fn.getSymName() << ": " << buffers.size()
     << " buffers, max_tokens = " << maxTokens << ", max_seqs = " << maxSeqs
     << "\n";
  os << llvm::format("  %-28s %-24s %12s %12s %12s\n", "buffer", "loc", "bytes",
                     "live", "offset");
  for (const Buffer &b : buffers) {
    std::string name = b.op->getName().getStringRef().str();
    if (auto step = dyn_cast<StepOp>(b.op))
      name += " \"" + step.getKind().str() + "\"";
    else if (auto fused = dyn_cast<FusedOp>(b.op))
      name += " \"" + fused.getKind().str() + "\"";
    if (b.op->getNumResults() > 1)
      name += "#" + std::to_string(b.resultIndex);
    std::string live =
        "[" + std::to_string(b.first) + ", " + std::to_string(b.last) + "]";
    os << llvm::format("  %-28s %-24s %12lld %12s %12lld\n", name.c_str(),
                       locString(b.op->getLoc()).c_str(), (long long)b.bytes,
                       live.c_str(), (long long)b.offset);
  }
  os << "  peak arena: " << arenaBytes << " bytes; sum of buffers: " << sum
     << " bytes";
  if (sum > 0)
    os << llvm::format(" (arena is %.1f%% of the sum)",
                       100.0 * double(arenaBytes) / double(sum));
  os << "\n";
}

struct PlanMemoryPass
    : public mlir::ingot::impl::PlanMemoryBase<PlanMemoryPass> {
  using PlanMemoryBase::PlanMemoryBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    if (maxTokens < 1 || maxSeqs < 1 || maxSeqs > maxTokens) {
      fn.emitOpError() << "memory planning needs 1 <= max-seqs <= max-tokens, "
                          "got max-tokens = "
                       << int64_t(maxTokens) << ", max-seqs = " << int64_t(maxSeqs);
      return signalPassFailure();
    }
    if (!fn.getBody().hasOneBlock()) {
      fn.emitOpError() << "memory planning expects a single-block function";
      return signalPassFailure();
    }
    Block &block = fn.getBody().front();

    llvm::DenseMap<Operation *, int64_t> index;
    for (Operation &op : block)
      index[&op] = int64_t(index.size());

    std::vector<Buffer> buffers;
    bool failed = false;
    for (Operation &op : block) {
      if (isa<WeightOp, ConstantOp>(op))
        continue;
      for (OpResult r : op.getResults()) {
        if (!isa<TensorType>(r.getType()))
          continue;
        FailureOr<int64_t> bytes = worstCaseBytes(&op, r, maxTokens);
        if (mlir::failed(bytes)) {
          failed = true;
          continue;
        }
        Buffer b{r, &op, r.getResultNumber(), *bytes, index[&op], index[&op]};
        for (Operation *user : r.getUsers())
          if (Operation *u = block.findAncestorOpInBlock(*user))
            b.last = std::max(b.last, index[u]);
        buffers.push_back(b);
      }
    }
    if (failed)
      return signalPassFailure();

    // Largest first; ties by definition order so the plan is deterministic.
    SmallVector<Buffer *> order;
    for (Buffer &b : buffers)
      order.push_back(&b);
    llvm::stable_sort(order, [](const Buffer *a, const Buffer *b) {
      return a->bytes > b->bytes;
    });
    SmallVector<const Buffer *> placed;
    int64_t arenaBytes = 0;
    for (Buffer *b : order) {
      b->offset = lowestFreeOffset(*b, placed);
      arenaBytes = std::max(arenaBytes, b->offset + b->bytes);
      placed.push_back(b);
    }

    // One entry per result; -1 for results outside the arena.
    llvm::MapVector<Operation *, SmallVector<int64_t>> offsets;
    for (const Buffer &b : buffers) {
      auto &v = offsets[b.op];
      if (v.empty())
        v.assign(b.op->getNumResults(), -1);
      v[b.resultIndex] = b.offset;
    }
    Builder builder(&getContext());
    for (auto &[op, v] : offsets)
      op->setAttr("ingot.arena_offsets", builder.getDenseI64ArrayAttr(v));
    fn->setAttr("ingot.arena_bytes", builder.getI64IntegerAttr(arenaBytes));
    fn->setAttr("ingot.max_tokens", builder.getI64IntegerAttr(maxTokens));
    fn->setAttr("ingot.max_seqs", builder.getI64IntegerAttr(maxSeqs));

    if (printReport)
      emitReport(fn, buffers, arenaBytes, maxTokens, maxSeqs);
  }
};
} // namespace
