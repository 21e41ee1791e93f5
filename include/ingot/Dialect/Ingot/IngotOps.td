//===- IngotOps.td - the ingot dialect ---------------------*- tablegen -*-===//
//
// Tensor-level ops of a decoder-only transformer. Shapes use `?` for the
// symbolic row count of a step: T (tokens) for most values, S (sequences)
// after `ingot.gather_last` / `ingot.logits`. Weights are references to plan
// weight entries (`ingot.weight_decl`), never inline data.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_OPS_TD
#define INGOT_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Dialect
//===----------------------------------------------------------------------===//

def Ingot_Dialect : Dialect {
  let name = "ingot";
  let cppNamespace = "::mlir::ingot";
  let summary = "Transformer inference ops for the Ingot compiler";
  let description = [{
    Ops on tensors for decoder-only transformers: embedding, linear, norms,
    rotary embedding, paged attention, activations, elementwise arithmetic,
    softmax, mixture of experts and the logits head; `ingot.fused` regions
    produced by fusion, and `ingot.step` ops that mirror the runtime's flat
    plan program.
  }];
  let useDefaultTypePrinterParser = 1;
  let hasCanonicalizer = 0;
}

class Ingot_Op<string mnemonic, list<Trait> traits = []>
    : Op<Ingot_Dialect, mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

def Ingot_BatchType : TypeDef<Ingot_Dialect, "Batch"> {
  let mnemonic = "batch";
  let summary = "The per-step batch metadata of the paged KV cache";
  let description = [{
    An opaque handle to what the runtime supplies for each step: query start
    offsets and lengths, context lengths, block tables and the slot mapping
    of new K/V rows. Example: `%batch: !ingot.batch`.
  }];
}

def Ingot_FloatTensor : TensorOf<[F32, BF16, F16]>;
def Ingot_IdTensor : TensorOf<[I32, I64]>;

//===----------------------------------------------------------------------===//
// Interfaces
//===----------------------------------------------------------------------===//

def Ingot_ShapeInferenceOpInterface : OpInterface<"ShapeInference"> {
  let cppNamespace = "::mlir::ingot";
  let description = [{
    Ops that compute their result types from their operand types. Used by
    the `ingot-shape-inference` pass, which refines unranked results.
  }];
  let methods = [
    InterfaceMethod<[{
      Computes the result types from the operand types and returns them, or
      emits an error and fails when the operands do not fit together.
      Operands may still be unranked, in which case the result is unranked.
    }], "::llvm::LogicalResult", "inferResultTypes",
    (ins "::llvm::SmallVectorImpl<::mlir::Type> &":$types)>,
  ];
}

// Ops with a verifier and shape inference. Not pure: attention writes the
// KV cache.
class Ingot_ComputeOpBase<string mnemonic, list<Trait> traits = []>
    : Ingot_Op<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<Ingot_ShapeInferenceOpInterface>])> {
  let hasVerifier = 1;
}
class Ingot_ComputeOp<string mnemonic, list<Trait> traits = []>
    : Ingot_ComputeOpBase<mnemonic, !listconcat(traits, [Pure])>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Ingot_WeightDeclOp : Ingot_Op<"weight_decl", [Symbol]> {
  let summary = "Declares a plan weight produced from checkpoint tensors";
  let description = [{
    A module-level declaration of one plan weight: the checkpoint tensors it
    is read from and the transforms applied on the way in, in order. The data
    itself is never in the IR; the plan records the same recipe and the
    runtime library executes it (at compile time when weights are embedded,
    at load time when they are external).

    Transforms: `"concat:AXIS"` or `"stack"` (first, over all sources),
    `"transpose"`, `"slice:AXIS:START:SIZE"`, `"cast:DTYPE"`.

    ```mlir
    ingot.weight_decl @layers.0.qkv : tensor<192x64xf32>
        {sources = ["q.weight", "k.weight", "v.weight"], transforms = ["concat:0"]}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type,
                       StrArrayAttr:$sources,
                       DefaultValuedAttr<StrArrayAttr, "{}">:$transforms);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
}

def Ingot_WeightOp : Ingot_Op<"weight",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "References a declared plan weight";
  let description = [{
    Yields the tensor of the `ingot.weight_decl` named by `name`; its type
    must equal the declaration's.

    ```mlir
    %w = ingot.weight @layers.0.q_proj : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Model ops
//===----------------------------------------------------------------------===//

def Ingot_EmbeddingOp : Ingot_ComputeOp<"embedding"> {
  let summary = "Gathers rows of an embedding table";
  let description = [{
    `result[t, :] = table[ids[t], :]`. Used for token embeddings and learned
    position embeddings (indexed by positions).

    ```mlir
    %x = ingot.embedding %table, %tokens : (tensor<512x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$table, Ingot_IdTensor:$ids);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$table `,` $ids attr-dict `:` functional-type(operands, results)";
}

def Ingot_LinearOp : Ingot_ComputeOp<"linear"> {
  let summary = "Matrix product with a [out, in] weight, optional bias and activation epilogue";
  let description = [{
    `result = act(x · weightᵀ + bias)`, with `weight` in the checkpoint's
    [out_features, in_features] layout. `activation` is set by fusion
    (`none`, `gelu`, `gelu_tanh`, `relu`, `silu`).

    ```mlir
    %y = ingot.linear %x, %w, %b {activation = "gelu"}
        : (tensor<?x64xf32>, tensor<256x64xf32>, tensor<256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$weight,
                       Optional<Ingot_FloatTensor>:$bias,
                       DefaultValuedStrAttr<StrAttr, "none">:$activation);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
}

def Ingot_RmsNormOp : Ingot_ComputeOp<"rms_norm"> {
  let summary = "Root-mean-square normalisation over the last axis";
  let description = [{
    `result = x / sqrt(mean(x², -1) + epsilon) · weight`, computed in fp32.
    With `group_size` = G > 0, each consecutive group of G elements of the
    last axis is normalised on its own and `weight` has G elements (Qwen3's
    per-head q/k norm: G = head_dim on [tokens, heads*head_dim]); 0 (the
    default) normalises the whole row.

    ```mlir
    %y = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    %q = ingot.rms_norm %x, %h {epsilon = 1.0e-06 : f64, group_size = 16 : i64}
        : (tensor<?x64xf32>, tensor<16xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$weight, F64Attr:$epsilon,
                       DefaultValuedAttr<I64Attr, "0">:$group_size);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Ingot_LayerNormOp : Ingot_ComputeOp<"layer_norm"> {
  let summary = "Layer normalisation over the last axis with scale and shift";
  let description = [{
    `result = (x - mean) / sqrt(var + epsilon) · weight + bias`.

    ```mlir
    %y = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64}
        : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$weight,
                       Ingot_FloatTensor:$bias, F64Attr:$epsilon);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)";
}

def Ingot_RopeOp : Ingot_ComputeOp<"rope"> {
  let summary = "Rotary position embedding applied per head";
  let description = [{
    Rotates the first `rotary_dim` dims of each `head_dim`-sized head of `x`
    by angles `position · inv_freq`, `inv_freq[i] = theta^(-2i/rotary_dim)`.
    `style` is `half` (pairs j, j + rotary_dim/2, as in Llama) or
    `interleaved` (pairs 2j, 2j+1, as in GPT-J). `scaling` is `none`,
    `linear` (frequencies divided by `factor`) or `llama3` (Llama 3.1's
    wavelength-dependent scaling using `factor`, `low_freq_factor`,
    `high_freq_factor`, `original_max_position`) or `table` (the
    `rotary_dim`/2 frequencies are given in `inv_freq`, exactly as a model
    computes them: used when an imported graph's frequencies follow none of
    the formulas).

    ```mlir
    %q2 = ingot.rope %q, %positions {head_dim = 16 : i64, rotary_dim = 16 : i64,
        theta = 10000.0 : f64, style = "half"} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_IdTensor:$positions,
                       I64Attr:$head_dim, I64Attr:$rotary_dim, F64Attr:$theta,
                       DefaultValuedStrAttr<StrAttr, "half">:$style,
                       DefaultValuedStrAttr<StrAttr, "none">:$scaling,
                       DefaultValuedAttr<F64Attr, "1.0">:$factor,
                       DefaultValuedAttr<F64Attr, "1.0">:$low_freq_factor,
                       DefaultValuedAttr<F64Attr, "4.0">:$high_freq_factor,
                       DefaultValuedAttr<I64Attr, "8192">:$original_max_position,
                       OptionalAttr<DenseF32ArrayAttr>:$inv_freq);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $positions attr-dict `:` functional-type(operands, results)";
}

def Ingot_AttentionOp : Ingot_ComputeOpBase<"attention",
    [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Causal attention over the paged KV cache for a mixed batch";
  let description = [{
    Appends this step's `k` and `v` rows to layer `layer` of the paged KV
    cache at the batch's slot mapping, then computes causal attention of
    every new query token over its own sequence's cached keys through the
    sequence's block table. Supports MHA, GQA and MQA (`num_heads` a multiple
    of `num_kv_heads`), a softmax `scale`, and a `sliding_window` (0: none;
    otherwise key j is visible from query position p iff p - window < j <= p).
    One op serves prefill chunks and decodes of any lengths in one step.

    ```mlir
    %o = ingot.attention %q, %k, %v, %batch {layer = 0 : i64, num_heads = 4 : i64,
        num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64}
        : (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, !ingot.batch) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$q, Ingot_FloatTensor:$k,
                       Ingot_FloatTensor:$v, Ingot_BatchType:$batch,
                       I64Attr:$layer, I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim, F64Attr:$scale,
                       DefaultValuedAttr<I64Attr, "0">:$sliding_window);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$q `,` $k `,` $v `,` $batch attr-dict `:` functional-type(operands, results)";
}

// Unary elementwise activations.
class Ingot_UnaryOp<string mnemonic, string sum, string desc, list<Trait> traits = []>
    : Ingot_ComputeOp<mnemonic, !listconcat(traits, [SameOperandsAndResultElementType])> {
  let summary = sum;
  let description = desc;
  let arguments = (ins Ingot_FloatTensor:$x);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Ingot_SiluOp : Ingot_UnaryOp<"silu", "SiLU activation x·sigmoid(x)", [{
    Elementwise `x / (1 + exp(-x))`.

    ```mlir
    %y = ingot.silu %x : (tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
  }]>;

def Ingot_ReluOp : Ingot_UnaryOp<"relu", "ReLU activation max(x, 0)", [{
    Elementwise `max(x, 0)`.

    ```mlir
    %y = ingot.relu %x : (tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
  }]>;

def Ingot_GeluOp : Ingot_ComputeOp<"gelu", [SameOperandsAndResultElementType]> {
  let summary = "GELU activation, exact (erf) or tanh-approximated";
  let description = [{
    `approximate = "none"`: `0.5·x·(1 + erf(x/√2))`; `"tanh"`:
    `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (GPT-2's gelu_new).

    ```mlir
    %y = ingot.gelu %x {approximate = "tanh"} : (tensor<?x256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x,
                       DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

// Binary elementwise arithmetic with trailing-dimension broadcast of rhs.
class Ingot_BinaryOp<string mnemonic, string sum, list<Trait> traits = []>
    : Ingot_ComputeOp<mnemonic, !listconcat(traits, [SameOperandsAndResultElementType])> {
  let summary = sum;
  let description = [{
    Elementwise on tensors of the same shape, or with `rhs` of rank 1 whose
    size equals `lhs`'s last dimension (broadcast over rows, e.g. a bias).

    ```mlir
    %y = ingot.}] # mnemonic # [{ %a, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$lhs, Ingot_FloatTensor:$rhs);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Ingot_AddOp : Ingot_BinaryOp<"add", "Elementwise addition", [Commutative]> {
  let hasCanonicalizer = 1;
}
def Ingot_SubOp : Ingot_BinaryOp<"sub", "Elementwise subtraction">;
def Ingot_MulOp : Ingot_BinaryOp<"mul", "Elementwise multiplication", [Commutative]> {
  let hasCanonicalizer = 1;
}
def Ingot_DivOp : Ingot_BinaryOp<"div", "Elementwise division">;

def Ingot_ScaleOp : Ingot_ComputeOp<"scale", [SameOperandsAndResultElementType]> {
  let summary = "Multiplies a tensor by a constant";
  let description = [{
    `result = x · factor`. Scaling by 1 folds away; two scales fold into one.

    ```mlir
    %y = ingot.scale %x {factor = 8.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, F64Attr:$factor);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Ingot_CastOp : Ingot_ComputeOp<"cast"> {
  let summary = "Converts between float element types";
  let description = [{
    Converts f32/bf16/f16 elementwise (round to nearest even). A cast to the
    same type folds away; a chain of casts through a wider type folds.

    ```mlir
    %y = ingot.cast %x : (tensor<?x64xbf16>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Ingot_SoftmaxOp : Ingot_ComputeOp<"softmax", [SameOperandsAndResultElementType]> {
  let summary = "Softmax over the last axis";
  let description = [{
    `result = exp(x - max) / sum(exp(x - max))` along the last axis.

    ```mlir
    %p = ingot.softmax %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Ingot_MoeOp : Ingot_ComputeOp<"moe"> {
  let summary = "Mixture of experts: top-k router and SiLU-gated expert MLPs";
  let description = [{
    Router probabilities `softmax(x · routerᵀ)` over `E` experts; each token
    goes to its `top_k` experts (probabilities renormalised when
    `normalize_topk`), and the result is the weighted sum of
    `down(silu(gate·x) · (up·x))`. Expert weights are stacked:
    `gate`, `up`: [E, I, H]; `down`: [E, H, I].

    ```mlir
    %y = ingot.moe %x, %r, %g, %u, %d {top_k = 2 : i64}
        : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>,
           tensor<4x64x128xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$router,
                       Ingot_FloatTensor:$gate, Ingot_FloatTensor:$up,
                       Ingot_FloatTensor:$down, I64Attr:$top_k,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize_topk);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $router `,` $gate `,` $up `,` $down attr-dict `:` functional-type(operands, results)";
}

// No SameOperandsAndResultElementType: the batch operand is not a tensor; the
// verifier checks the element type through shape inference instead.
def Ingot_GatherLastOp : Ingot_ComputeOp<"gather_last"> {
  let summary = "Selects each sequence's last token of the step";
  let description = [{
    From rows of all T tokens of the step, keeps the last new token of each
    of the S sequences. The result's leading `?` is S.

    ```mlir
    %h = ingot.gather_last %x, %batch : (tensor<?x64xf32>, !ingot.batch) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_BatchType:$batch);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x `,` $batch attr-dict `:` functional-type(operands, results)";
}

def Ingot_LogitsOp : Ingot_ComputeOp<"logits"> {
  let summary = "The language-model head: fp32 logits at each sequence's last token";
  let description = [{
    `result = gather_last(x) · weightᵀ` in fp32, with `weight` [vocab, hidden]
    (the tied embedding table or a separate head). The leading `?` is S.

    ```mlir
    %l = ingot.logits %x, %w, %batch : (tensor<?x64xf32>, tensor<512x64xf32>, !ingot.batch) -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$weight,
                       Ingot_BatchType:$batch);
  let results = (outs TensorOf<[F32]>:$result);
  let assemblyFormat = "$x `,` $weight `,` $batch attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Fusion and plan-level ops
//===----------------------------------------------------------------------===//

def Ingot_FusedOp : Ingot_Op<"fused", [IsolatedFromAbove, Pure]> {
  let summary = "A group of ops executed as one kernel";
  let description = [{
    Produced by `ingot-fuse`. The body's block arguments are the inputs; its
    `ingot.yield` gives the results. `kind` names the pattern
    (`add_rms_norm`, `add_layer_norm`, `silu_mul`, or `elementwise` for a
    generic chain), which decides the kernel.

    ```mlir
    %s, %n = ingot.fused "add_rms_norm" (%x, %r, %g) {epsilon = 1.0e-06 : f64}
        : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
    ^bb0(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>, %w: tensor<64xf32>):
      %0 = ingot.add %a, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
      %1 = ingot.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
      ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
    }
    ```
  }];
  let arguments = (ins StrAttr:$kind, Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body";
  let hasVerifier = 1;
}

def Ingot_YieldOp : Ingot_Op<"yield", [Terminator, HasParent<"FusedOp">, Pure]> {
  let summary = "Returns the results of an `ingot.fused` body";
  let description = [{
    ```mlir
    ingot.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

def Ingot_StepOp : Ingot_Op<"step"> {
  let summary = "One step of the runtime's flat plan program";
  let description = [{
    Produced by `ingot-lower-to-plan`: `kind` is a runtime OpKind
    (see docs/plan-format.md) and the other attributes are the step's
    attributes. Operands are tensors (activations, weights or program
    inputs); results are activations, placed in the arena by
    `ingot.arena_offsets` when memory planning has run.

    ```mlir
    %y = ingot.step "RmsNorm" (%x, %g) {epsilon = 1.0e-06 : f64}
        : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$kind, Variadic<AnyTensor>:$inputs);
  let results = (outs Variadic<AnyTensor>:$outputs);
  let assemblyFormat = "$kind `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Generic (ONNX) ops: the importer's output and the general path
//===----------------------------------------------------------------------===//

def Ingot_NodeOp : Ingot_Op<"node"> {
  let summary = "A generic operator with ONNX semantics";
  let description = [{
    One node of an imported ONNX graph: `op_type` and `domain` ("" for
    ai.onnx, "com.microsoft", ...) name the operator, `attrs` holds its ONNX
    attributes (ints as i64, floats as f32, strings, `array<i64>` for ints
    lists, `array<f32>` for float lists, dense elements for tensors), `name`
    the node name. Operands may be `none` (from `ingot.absent`) for omitted
    optional inputs. Result types are ranked with `?` where not known at
    compile time, or unranked.

    Raising patterns (`ingot-onnx-raise`) turn groups of nodes into the
    transformer ops; what remains runs as plan steps of kind Node on the
    runtime's N-d kernels (runtime/include/ingot/runtime/nd.h).

    ```mlir
    %y = ingot.node "Add"(%a, %b) {name = "add_1"}
        : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    %z = ingot.node "Softmax"(%y) {attrs = {axis = -1 : i64}}
        : (tensor<?x4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins StrAttr:$op_type,
                       DefaultValuedAttr<StrAttr, "\"\"">:$domain,
                       DefaultValuedAttr<StrAttr, "\"\"">:$name,
                       DefaultValuedAttr<DictionaryAttr, "{}">:$attrs,
                       Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyType>:$outputs);
  let assemblyFormat = "$op_type `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs)";
  let hasVerifier = 1;
}

def Ingot_ConstantOp : Ingot_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "result"]>]> {
  let summary = "A constant tensor";
  let description = [{
    A constant of any element type: small ONNX initializers and Constant
    nodes, and the results of constant folding. Large initializers are
    weights (`ingot.weight_decl`) instead, so the IR stays small.

    ```mlir
    %shape = ingot.constant dense<[0, 0, 4, 16]> : tensor<4xi64>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Ingot_AbsentOp : Ingot_Op<"absent", [Pure]> {
  let summary = "An omitted optional input of a generic node";
  let description = [{
    ```mlir
    %none = ingot.absent : none
    %y = ingot.node "Clip"(%x, %none, %max) : (tensor<4xf32>, none, tensor<f32>) -> tensor<4xf32>
    ```
  }];
  let results = (outs NoneType:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

#endif // INGOT_OPS_TD
