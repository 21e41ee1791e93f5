//===- Passes.td - ingot passes ----------------------------*- tablegen -*-===//
// One pass per file in lib/Transforms/. The pipeline order lives in C++
// (lib/Pipeline/Pipeline.cpp) and is shared by ingotc and ingot-opt.
//===----------------------------------------------------------------------===//
#ifndef INGOT_TRANSFORMS_PASSES_TD
#define INGOT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def ShapeInference : Pass<"ingot-shape-inference", "mlir::func::FuncOp"> {
  let summary = "Infer ranked result types with a symbolic token count";
  let description = [{
    Front ends create ops with unranked results; this pass walks each
    function in order and asks every `ShapeInference` op for its result
    types, so shapes become ranked with `?` for the step's rows (T tokens or
    S sequences). Inconsistent operand shapes are reported at the op. The
    function's result types are updated to match what it returns.
  }];
}

def Fuse : Pass<"ingot-fuse", "mlir::func::FuncOp"> {
  let summary = "Fuse elementwise chains and row reductions into kernel regions";
  let description = [{
    Groups ops into `ingot.fused` regions that run as one kernel:
    residual add + rms_norm / layer_norm (`add_rms_norm`, `add_layer_norm`),
    `silu(gate) * up` (`silu_mul`), an activation after a linear into the
    linear's epilogue (`activation` attribute), and maximal single-use chains
    of elementwise ops (`elementwise`).
  }];
  let options = [
    Option<"enableElementwise", "elementwise", "bool", "true",
           "Fuse generic elementwise chains">,
  ];
}

def PlanMemory : Pass<"ingot-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Assign arena offsets to activations for the worst-case batch";
  let description = [{
    Computes each activation's live range over the function's (single-block)
    program and packs them into one arena with a best-fit offset assignment,
    sizing `?` dims by the worst case (`max-tokens`; S <= T always). Annotates
    each op with `ingot.arena_offsets` (one per result, bytes) and the
    function with `ingot.arena_bytes`, `ingot.max_tokens`, `ingot.max_seqs`.
    `report=true` prints the plan (every buffer, its range and offset, peak
    vs. sum of sizes).
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", "512", "Worst-case tokens per step">,
    Option<"maxSeqs", "max-seqs", "int64_t", "64", "Worst-case sequences per step">,
    Option<"printReport", "report", "bool", "false", "Print the memory plan">,
  ];
}

def LowerToPlan : Pass<"ingot-lower-to-plan", "mlir::func::FuncOp"> {
  let summary = "Lower ingot ops and fused regions to flat plan steps";
  let description = [{
    Replaces every compute op and `ingot.fused` region with an `ingot.step`
    whose `kind` is a runtime OpKind (docs/plan-format.md), flattening
    attributes, encoding generic elementwise regions as a register program,
    and dropping the `!ingot.batch` operand (the runtime supplies it).
  }];
}

def OnnxFold : Pass<"ingot-onnx-fold", "mlir::func::FuncOp"> {
  let summary = "Fold, simplify and type an imported ONNX graph";
  let description = [{
    On functions of generic nodes (`ingot.node`, `ingot.constant`,
    `ingot.weight`, `ingot.absent`), in one forward walk:
    removes Identity, inference Dropout and Cast/CastLike to the same type;
    derives symbolic shapes (dims that are constants, graph-input dims or
    sums/products of them) and the contents of small integer tensors
    (Shape, Size, Gather, Slice, Concat, Unsqueeze, Squeeze, Cast, integer
    Add/Sub/Mul/Div, Equal, Where, Reshape), replacing nodes whose results
    become known constants by `ingot.constant`; refines result types (ranked,
    `?` where dynamic), reporting a conflict with a declared type at the
    node; evaluates nodes whose inputs are all constants with the runtime's
    own N-d kernel (when one exists and the outputs have at most
    `max-elements` elements); gives a Reshape whose shape resolves to
    constants and its input's own dims a constant shape (0 = copy, -1 =
    infer); erases what is left unused. See docs/onnx.md.
  }];
  let dependentDialects = ["mlir::ingot::IngotDialect"];
  let options = [
    Option<"maxElements", "max-elements", "int64_t", "1048576",
           "Largest output (elements) constant folding may create">,
  ];
}

def OnnxLowerGraph : Pass<"ingot-onnx-lower-graph", "mlir::ModuleOp"> {
  let summary = "Lower the generic nodes of a graph module to Node plan steps";
  let description = [{
    In a module with `ingot.source = "onnx"` and a func.func @main (other
    modules are left alone), replaces every `ingot.node` by
    `ingot.step "Node"` carrying `op_type`, `domain`, `name`, the node's
    attribute dictionary as `ingot.attrs`, and `ingot.absent_inputs` (the
    positions of omitted optional inputs, which are not operands; the plan
    emitter writes input id -1 there). A returned value that is not a step
    result, or is returned twice, is copied by an Identity step so every
    graph output is a tensor of its own.
  }];
}

#endif
