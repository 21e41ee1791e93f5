//===- LowerToPlan.cpp - ingot ops to flat plan steps ---------------------===//
//
// Replaces every compute op and ingot.fused region of the function's block by
// an `ingot.step` whose kind, operand order and attribute names are those of
// the runtime (docs/plan-format.md, "Step semantics"; runtime/schema/plan.fbs
// OpKind). Float attributes are F64, integers I64, so the plan writer copies
// them without knowing the step. The `!ingot.batch` operand is dropped: the
// runtime supplies the batch metadata itself. `ingot.arena_offsets` and the
// location move onto the step. ingot.weight and func.return stay.
//
// Elementwise steps carry a register program: registers 0..n-1 are the
// step's inputs, each instruction writes a fresh register, `program` holds
// quadruples [ewop, a, b, dst] and `imms` one float per instruction.
// scale(x, f) is `Const f` then `Mul`; cast only changes the output dtype, so
// it passes its register through.
//
//===----------------------------------------------------------------------===//
#include "ingot/Dialect/Ingot/IngotDialect.h"
#include "ingot/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::ingot {
#define GEN_PASS_DEF_LOWERTOPLAN
#include "ingot/Transforms/Passes.h.inc"
} // namespace mlir::ingot

using namespace mlir;
using namespace mlir::ingot;

namespace {

// Twin: ingot.plan.EwOp in runtime/schema/plan.fbs.
enum class EwOp : int64_t {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Silu = 20,
  GeluErf = 21,
  GeluTanh = 22,
  Relu = 23,
  Const = 30,
};

// Registers are a ubyte in the plan.
constexpr int64_t kMaxRegisters = 256;

// Builds the register program of an Elementwise step.
class EwProgram {
public:
  explicit EwProgram(ArrayRef<Value> inputs) {
    for (Value v : inputs)
      reg[v] = numRegisters++;
  }

  // Encodes `op`; fails with an error at the op when it is not elementwise.
  LogicalResult add(Operation *op) {
    auto r = [&](Value v) { return reg.lookup(v); };
    auto def = [&](EwOp code, int64_t a, int64_t b, float imm = 0.0f) {
      int64_t dst = numRegisters++;
      program.append({int64_t(code), a, b, dst});
      imms.push_back(imm);
      return dst;
    };
    for (Value v : op->getOperands())
      if (!reg.count(v))
        return op->emitOpError()
               << "reads a value defined outside its elementwise program";
    std::optional<int64_t> out =
        llvm::TypeSwitch<Operation *, std::optional<int64_t>>(op)
            .Case([&](AddOp o) { return def(EwOp::Add, r(o.getLhs()), r(o.getRhs())); })
            .Case([&](SubOp o) { return def(EwOp::Sub, r(o.getLhs()), r(o.getRhs())); })
            .Case([&](MulOp o) { return def(EwOp::Mul, r(o.getLhs()), r(o.getRhs())); })
            .Case([&](DivOp o) { return def(EwOp::Div, r(o.getLhs()), r(o.getRhs())); })
            .Case([&](SiluOp o) { return def(EwOp::Silu, r(o.getX()), 0); })
            .Case([&](ReluOp o) { return def(EwOp::Relu, r(o.getX()), 0); })
            .Case([&](GeluOp o) {
              return def(o.getApproximate() == "tanh" ? EwOp::GeluTanh
                                                      : EwOp::GeluErf,
                         r(o.getX()), 0);
            })
            .Case([&](ScaleOp o) {
              int64_t c = def(EwOp::Const, 0, 0,
                              float(o.getFactor().convertToDouble()));
              return def(EwOp::Mul, r(o.getX()), c);
            })
            .Case([&](CastOp o) { return r(o.getX()); })
            .Default([](Operation *) { return std::nullopt; });
    if (!out)
      return op->emitOpError()
             << "cannot be encoded in an elementwise program (supported: add, "
                "sub, mul, div, scale, silu, relu, gelu, cast)";
    reg[op->getResult(0)] = *out;
    return success();
  }

  // Finishes with `outputs` as the program outputs. A program must compute
  // something, so an output that is an unchanged input (a lone cast) is
  // copied through `x * 1`, which is exact for every float.
  LogicalResult finish(Operation *at, ArrayRef<Value> outputs) {
    for (Value v : outputs) {
      int64_t r = reg.lookup(v);
      if (program.empty()) {
        program.append({int64_t(EwOp::Const), 0, 0, numRegisters});
        imms.push_back(1.0f);
        program.append({int64_t(EwOp::Mul), r, numRegisters, numRegisters + 1});
        imms.push_back(0.0f);
        r = numRegisters + 1;
        numRegisters += 2;
      }
      programOutputs.push_back(r);
    }
    if (numRegisters > kMaxRegisters)
      return at->emitOpError() << "needs " << numRegisters
                               << " registers; an elementwise step has at most "
                               << kMaxRegisters;
    return success();
  }

  void setAttrs(Operation *step, Builder &b) const {
    step->setAttr("program", b.getDenseI64ArrayAttr(program));
    step->setAttr("imms", b.getDenseF32ArrayAttr(imms));
    step->setAttr("num_registers", b.getI64IntegerAttr(numRegisters));
    step->setAttr("program_outputs", b.getDenseI64ArrayAttr(programOutputs));
  }

private:
  llvm::DenseMap<Value, int64_t> reg;
  int64_t numRegisters = 0;
  SmallVector<int64_t> program;
  SmallVector<float> imms;
  SmallVector<int64_t> programOutputs;
};

struct Lowering {
  IRRewriter &rewriter;

  NamedAttribute f64(StringRef name, APFloat v) {
    return rewriter.getNamedAttr(name,
                                 rewriter.getF64FloatAttr(v.convertToDouble()));
  }
  NamedAttribute i64(StringRef name, int64_t v) {
    return rewriter.getNamedAttr(name, rewriter.getI64IntegerAttr(v));
  }
  NamedAttribute str(StringRef name, StringRef v) {
    return rewriter.getNamedAttr(name, rewriter.getStringAttr(v));
  }

  // Replaces `op` by a step of `kind` with the same results.
  StepOp replace(Operation *op, StringRef kind, ValueRange inputs,
                 ArrayRef<NamedAttribute> attrs = {}) {
    rewriter.setInsertionPoint(op);
    auto step = StepOp::create(rewriter, op->getLoc(), op->getResultTypes(),
                               kind, inputs);
    for (NamedAttribute a : attrs)
      step->setAttr(a.getName(), a.getValue());
    if (Attribute offsets = op->getAttr("ingot.arena_offsets"))
      step->setAttr("ingot.arena_offsets", offsets);
    rewriter.replaceOp(op, step.getResults());
    return step;
  }

  LogicalResult lowerElementwise(Operation *op, ArrayRef<Value> inputs,
                                 ArrayRef<Operation *> body,
                                 ArrayRef<Value> outputs,
                                 ArrayRef<Value> stepInputs) {
    EwProgram prog(inputs);
    for (Operation *inner : body)
      if (failed(prog.add(inner)))
        return failure();
    if (failed(prog.finish(op, outputs)))
      return failure();
    StepOp step = replace(op, "Elementwise", stepInputs);
    prog.setAttrs(step, rewriter);
    return success();
  }

  LogicalResult lowerFused(FusedOp fused) {
    Block &body = fused.getBody().front();
    StringRef kind = fused.getKind();
    if (kind == "elementwise") {
      SmallVector<Operation *> ops;
      for (Operation &op : body.without_terminator())
        ops.push_back(&op);
      auto yield = cast<YieldOp>(body.getTerminator());
      SmallVector<Value> args(body.getArguments());
      SmallVector<Value> outs(yield.getValues());
      SmallVector<Value> stepInputs(fused.getInputs());
      return lowerElementwise(fused, args, ops, outs, stepInputs);
    }
    if (kind == "silu_mul") {
      if (!isSiluMulBody(fused))
        return bodyMismatch(fused);
      replace(fused, "SiluMul", fused.getInputs());
      return success();
    }
    if (kind == "add_rms_norm" || kind == "add_layer_norm") {
      std::optional<APFloat> eps = addNormEpsilon(fused);
      if (!eps)
        return bodyMismatch(fused);
      replace(fused, kind == "add_rms_norm" ? "AddRmsNorm" : "AddLayerNorm",
              fused.getInputs(), {f64("epsilon", *eps)});
      return success();
    }
    return fused.emitOpError() << "of kind '" << kind
                               << "' has no plan step";
  }

  // The named kinds are lowered from their operands alone, so the body must
  // be exactly what the kind promises; otherwise a hand-written or rewritten
  // region would be miscompiled silently.
  static LogicalResult bodyMismatch(FusedOp fused) {
    return fused.emitOpError()
           << "of kind '" << fused.getKind()
           << "' does not have the body its kind requires (see ingot-fuse)";
  }

  // silu(arg0) * arg1, in either operand order; yields the product.
  static bool isSiluMulBody(FusedOp fused) {
    Block &body = fused.getBody().front();
    if (body.getNumArguments() != 2 || fused.getNumResults() != 1 ||
        body.getOperations().size() != 3)
      return false;
    auto silu = dyn_cast<SiluOp>(&body.front());
    auto mul = dyn_cast_if_present<MulOp>(silu ? silu->getNextNode() : nullptr);
    auto yield = dyn_cast<YieldOp>(body.getTerminator());
    if (!silu || !mul || !yield || silu.getX() != body.getArgument(0) ||
        yield.getValues().size() != 1 || yield.getValues()[0] != mul.getResult())
      return false;
    Value gate = silu.getResult(), up = body.getArgument(1);
    return (mul.getLhs() == gate && mul.getRhs() == up) ||
           (mul.getLhs() == up && mul.getRhs() == gate);
  }

  // add(arg0, arg1) -> norm(sum, arg2[, arg3]); yields (sum, normed).
  // Returns the norm's epsilon when the body has that form.
  static std::optional<APFloat> addNormEpsilon(FusedOp fused) {
    bool rms = fused.getKind() == "add_rms_norm";
    Block &body = fused.getBody().front();
    unsigned numArgs = rms ? 3 : 4;
    if (body.getNumArguments() != numArgs || fused.getNumResults() != 2 ||
        body.getOperations().size() != 3)
      return std::nullopt;
    auto add = dyn_cast<AddOp>(&body.front());
    Operation *norm = add ? add->getNextNode() : nullptr;
    auto yield = dyn_cast<YieldOp>(body.getTerminator());
    if (!add || !norm || !yield || add.getLhs() != body.getArgument(0) ||
        add.getRhs() != body.getArgument(1) || yield.getValues().size() != 2 ||
        yield.getValues()[0] != add.getResult() ||
        yield.getValues()[1] != norm->getResult(0))
      return std::nullopt;
    // AddRmsNorm normalises whole rows: a grouped norm does not fit it.
    if (auto n = dyn_cast<RmsNormOp>(norm); n && rms && n.getGroupSize() == 0 &&
        n.getX() == add.getResult() && n.getWeight() == body.getArgument(2))
      return n.getEpsilon();
    if (auto n = dyn_cast<LayerNormOp>(norm); n && !rms &&
        n.getX() == add.getResult() && n.getWeight() == body.getArgument(2) &&
        n.getBias() == body.getArgument(3))
      return n.getEpsilon();
    return std::nullopt;
  }

  LogicalResult lower(Operation *op) {
    if (isa<WeightOp, ConstantOp, func::ReturnOp>(op))
      return success();
    if (auto fused = dyn_cast<FusedOp>(op))
      return lowerFused(fused);
    if (isa<AddOp, SubOp, MulOp, DivOp, ScaleOp, SiluOp, ReluOp, GeluOp,
            CastOp>(op)) {
      llvm::SetVector<Value> inputs(op->operand_begin(), op->operand_end());
      SmallVector<Value> outs(op->getResults());
      return lowerElementwise(op, inputs.getArrayRef(), {op}, outs,
                              inputs.getArrayRef());
    }
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case([&](EmbeddingOp o) {
          // The runtime reads ids first, then the table.
          replace(o, "Embedding", {o.getIds(), o.getTable()});
          return success();
        })
        .Case([&](LinearOp o) {
          SmallVector<Value> in{o.getX(), o.getWeight()};
          if (Value b = o.getBias())
            in.push_back(b);
          replace(o, "Linear", in, {str("activation", o.getActivation())});
          return success();
        })
        .Case([&](RmsNormOp o) {
          replace(o, "RmsNorm", {o.getX(), o.getWeight()},
                  {f64("epsilon", o.getEpsilon()),
                   i64("group_size", o.getGroupSize())});
          return success();
        })
        .Case([&](LayerNormOp o) {
          replace(o, "LayerNorm", {o.getX(), o.getWeight(), o.getBias()},
                  {f64("epsilon", o.getEpsilon())});
          return success();
        })
        .Case([&](RopeOp o) {
          DenseF32ArrayAttr inv = o.getInvFreqAttr();
          StepOp st = replace(o, "Rope", {o.getX(), o.getPositions()},
                  {i64("head_dim", o.getHeadDim()),
                   i64("rotary_dim", o.getRotaryDim()),
                   f64("theta", o.getTheta()), str("style", o.getStyle()),
                   str("scaling", o.getScaling()),
                   f64("factor", o.getFactor()),
                   f64("low_freq_factor", o.getLowFreqFactor()),
                   f64("high_freq_factor", o.getHighFreqFactor()),
                   i64("original_max_position", o.getOriginalMaxPosition())});
          if (inv)
            st->setAttr("inv_freq", inv);
          return success();
        })
        .Case([&](AttentionOp o) {
          replace(o, "Attention", {o.getQ(), o.getK(), o.getV()},
                  {i64("layer", o.getLayer()), i64("num_heads", o.getNumHeads()),
                   i64("num_kv_heads", o.getNumKvHeads()),
                   i64("head_dim", o.getHeadDim()), f64("scale", o.getScale()),
                   i64("sliding_window", o.getSlidingWindow())});
          return success();
        })
        .Case([&](SoftmaxOp o) {
          replace(o, "Softmax", {o.getX()});
          return success();
        })
        .Case([&](MoeOp o) {
          replace(o, "MoE",
                  {o.getX(), o.getRouter(), o.getGate(), o.getUp(), o.getDown()},
                  {i64("top_k", o.getTopK()),
                   i64("normalize_topk", o.getNormalizeTopk() ? 1 : 0)});
          return success();
        })
        .Case([&](GatherLastOp o) {
          replace(o, "GatherLast", {o.getX()});
          return success();
        })
        .Case([&](LogitsOp o) {
          replace(o, "Logits", {o.getX(), o.getWeight()});
          return success();
        })
        .Case([&](StepOp) { return success(); })
        .Default([](Operation *o) {
          return o->emitOpError() << "has no plan step (ingot-lower-to-plan "
                                     "handles ingot compute ops, ingot.fused, "
                                     "ingot.weight and func.return)";
        });
  }
};

struct LowerToPlanPass
    : public mlir::ingot::impl::LowerToPlanBase<LowerToPlanPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    IRRewriter rewriter(&getContext());
    Lowering lowering{rewriter};
    bool ok = true;
    for (Block &block : fn.getBody()) {
      SmallVector<Operation *> ops;
      for (Operation &op : block)
        ops.push_back(&op);
      for (Operation *op : ops)
        ok &= succeeded(lowering.lower(op));
    }
    if (!ok)
      signalPassFailure();
  }
};
} // namespace
