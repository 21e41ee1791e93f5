#!/usr/bin/env python3
"""Build test/fixtures/llama/onnx/model.contrib.onnx: the tiny llama fixture as an *optimized* ONNX
export, the way onnxruntime-genai's model builder (and onnxruntime's transformer optimizer) write
Llama, with com.microsoft fused ops, plus onnxruntime reference outputs (reference_contrib.npz).
Developers only, never CI. The graph is written with onnx.helper straight from
test/fixtures/llama/model.safetensors (no exporter, no randomness): the output is byte-for-byte
reproducible, and --verify checks that the files on disk are exactly what the script builds.

Usage: /work/venv-dev/bin/python scripts/gen_onnx_contrib_fixture.py            (writes both files)
       /work/venv-dev/bin/python scripts/gen_onnx_contrib_fixture.py --verify   (recheck, writes nothing)
Both take ~7 s on CPU and exit non-zero, naming the failed check, when a check fails.

Interface (dim names as the model builder writes them; B, S, P, T = P + S all dynamic):
  inputs   input_ids int64 [batch_size, sequence_length]
           attention_mask int64 [batch_size, total_sequence_length]   (1 = token, 0 = padding)
           past_key_values.<i>.key / .value float32 [batch_size, 2, past_sequence_length, 16]
  outputs  logits float32 [batch_size, sequence_length, 512]   (all positions)
           present.<i>.key / .value float32 [batch_size, 2, total_sequence_length, 16]
There is NO position_ids input: with the rotary embedding fused into GroupQueryAttention
(do_rotary = 1) the model builder drops it, positions come from seqlens_k (see below).
ModelProto: ir_version 10, opsets {"": 21, "com.microsoft": 1}; every node output has a value_info
with the builder's symbolic dims (presents and logits are graph outputs instead).

Ops and attributes (37 nodes; names follow the builder: /model/layers.<i>/attn/q_proj/MatMul, ...):
  Constant x2            /model/constants/TensorProto.INT64/1D/1 = [1], .../0D/1 = 1 (the builder's
                         shared constants are Constant nodes, not initializers)
  ReduceSum, Sub, Cast   seqlens_k = Cast<int32>(ReduceSum(attention_mask, axes=[1]) - 1): keepdims is
                         left at its default 1, so seqlens_k is [batch_size, 1] as the builder declares
                         it (GQA's spec says (batch_size); onnxruntime accepts both)
  Shape, Gather, Cast    total_sequence_length = Cast<int32>(Shape(attention_mask)[1]) (Gather axis 0
                         with a 0-D index: a scalar)
  Gather                 embedding, table model.embed_tokens.weight [512, 64] (HF name kept)
  SimplifiedLayerNormalization (DEFAULT domain, as onnxruntime registers it and the builder emits
                         it; onnx's own checker does not know it): layer 0's input_layernorm on the
                         embeddings, axis -1, epsilon 1e-5, stash_type 1
  com.microsoft SkipSimplifiedLayerNormalization x4, attribute epsilon 1e-5: residual add + RMSNorm.
                         Inputs (sublayer output, residual, gamma); outputs [output_0, "", "",
                         output_3]: output_0 = RMSNorm(x + skip) * gamma feeds the next projections,
                         output_3 = x + skip is the new residual. One per layer after attention
                         (post_attention_layernorm), one per layer > 0 before it (input_layernorm,
                         skip = previous layer's MLP output), and the final norm (output_0 only).
  MatMul x15             q/k/v/o, gate/up/down, lm_head; weights are [in, out] initializers (the torch
                         [out, in] weights transposed), no bias; named model.layers.<i>.attn.q_proj.
                         MatMul.weight, ..., lm_head.MatMul.weight like the builder's
  com.microsoft GroupQueryAttention x2: inputs (query [B,S,64], key [B,S,32], value [B,S,32],
                         past_key_values.<i>.key, .value, seqlens_k, total_sequence_length,
                         cos_cache, sin_cache); outputs (attn [B,S,64], present.<i>.key, .value).
                         Attributes num_heads 4, kv_num_heads 2, scale 0.25 (= 1/sqrt(16)),
                         local_window_size -1, softcap 0.0, do_rotary 1, rotary_interleaved 0 (the
                         builder writes all seven). cos_cache / sin_cache are shared initializers
                         [max_position_embeddings = 256, head_dim / 2 = 8]: cos/sin(p * inv_freq),
                         inv_freq = 1 / 10000^(2i/16) in fp32 (transformers' formula; the half-width
                         table, rotate-half layout since rotary_interleaved = 0).
  Sigmoid, Mul           SiLU as gate * Sigmoid(gate) (the builder's act_fn; not QuickGelu)
  Mul                    act * up
Histogram: MatMul 15, Mul 4, com.microsoft:SkipSimplifiedLayerNormalization 4, Cast 2, Constant 2,
Gather 2, Sigmoid 2, com.microsoft:GroupQueryAttention 2, ReduceSum 1, Shape 1,
SimplifiedLayerNormalization 1, Sub 1.

GroupQueryAttention semantics (onnxruntime 1.32 CPU kernel; checked here against transformers):
  * seqlens_k[b] is the index of row b's LAST token (its token count - 1, past included), not a
    count; total_sequence_length is the mask's width (P + S). The kernel reads only these numbers,
    never the mask itself: row b attends to key columns 0 .. seqlens_k[b] of its cache.
  * Prompt vs decode is decided from the shapes: S == total_sequence_length is a "first prompt"
    (any batch size; also a one-token prefill), S == 1 < total is token generation, and 1 < S <
    total is a "subsequent prompt" (chunked prefill with a cache; batch size 1 only).
  * Positions for the fused rotary: first prompt -> column index 0 .. S-1 for every row; otherwise
    past_b + s with past_b = seqlens_k[b] + 1 - S. So position_ids are implied by seqlens_k.
  * Causal mask: query s of row b sees columns 0 .. past_b + s. present has
    max(total_sequence_length, P) rows: rows 0 .. past_b - 1 copied from past, the new K/V (after
    rotary) at past_b .. past_b + S - 1 (after row b's own length, not after the past tensor's
    width), zeros after that. A first prompt writes all S rows, pads included.
  * Consequence: a batch must be RIGHT-padded (row b's tokens in columns 0 .. len_b - 1). With left
    padding the shorter row's real tokens get positions shifted by its padding and attend to the
    pad tokens: onnxruntime's logits there differ from transformers' by ~10 (the script measures
    and prints this). Decode after a right-padded prefill works with the mask extended by one 1
    column: seqlens_k = len_b, the new token lands at row len_b of present and gets position len_b.
    So this fixture's padded batch is right-padded, unlike reference.npz's left-padded one.

reference_contrib.npz (onnxruntime CPU, float32, 1 thread; same keys as reference.npz except
nocache.*, plus batch_decode.*; position_ids are NOT graph inputs, they are the positions the graph
uses, stored for tests that drive a runtime with explicit positions):
  prefill.input_ids / .attention_mask / .position_ids [1, 40], prefill.logits [1, 40, 512]
      (the fixture's longest prompt, empty cache: past tensors [1, 2, 0, 16])
  decode.<k>.input_ids / .attention_mask ([1, 41 + k]) / .position_ids / .logits, k = 0, 1, 2: the
      greedy token of the previous step, fed the previous step's present.* as past
  greedy.ids int64 [8]: prefill + 7 decode steps (equal to reference.npz's and reference.json's)
  batch.input_ids / .attention_mask / .position_ids [2, 27], batch.logits [2, 27, 512]: prompts 0
      (18 tokens) and 1 (27) RIGHT-padded with id 0, prefill from an empty cache; position_ids =
      column index (what GQA uses); compare only attention_mask == 1 positions
  batch_decode.input_ids [2, 1] (each row's greedy next token), .attention_mask [2, 28] (batch's
      mask + a column of ones), .position_ids [[18], [27]], .logits [2, 1, 512]: one decode step fed
      the batch's present.*
Checks before anything is written (max |onnxruntime - transformers| <= --atol, default 1e-4;
transformers = LlamaForCausalLM, eager attention, fp32, one forward without a cache over the
prompt and the fed tokens): every position of prefill and of the 7 decode steps; the greedy ids
against the fixture's reference.json; a one-token prefill + one decode step; a chunked prefill
(11 + 29 tokens, "subsequent prompt"); the right-padded batch at real positions and its decode
step; the interface above; two builds byte-identical. The left-padded batch is run and reported,
and is an error only if it matches (which would mean the kernel changed and this docstring is
stale).
"""

import argparse
import io
import json
import os
import sys

import numpy as np
import onnx
import torch
import transformers
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_onnx_fixtures as base  # noqa: E402  (shared ORT session, HF forward, checks)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, "test", "fixtures", "llama")
OUT_MODEL = "model.contrib.onnx"
OUT_REF = "reference_contrib.npz"
OPSET = 21          # what the model builder writes today
IR_VERSION = 10
MS = "com.microsoft"
# Symbolic dims, spelled as the model builder spells them.
B, S, T, P = "batch_size", "sequence_length", "total_sequence_length", "past_sequence_length"


# --------------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------------
class GraphBuilder:
    """Nodes in topological order plus a value_info entry (type, symbolic shape) for every node
    output, as the model builder writes them (they are what lets a consumer type the contrib ops'
    results without knowing their schemas)."""

    def __init__(self):
        self.nodes, self.inits, self.vinfo = [], [], []

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, name, inputs, outputs, out_types, domain="", **attrs):
        """outputs: names ("" = omitted optional output); out_types: (elem_type, shape) per
        non-empty output, or None to leave that one undeclared."""
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain or None, **attrs))
        for out, ty in zip([o for o in outputs if o], out_types):
            if ty is not None:
                self.vinfo.append(helper.make_tensor_value_info(out, ty[0], ty[1]))
        return [o for o in outputs if o]

    def constant(self, name, array):
        """A Constant node named and valued like the model builder's shared constants."""
        return self.node("Constant", name, [], [name],
                         [(helper.np_dtype_to_tensor_dtype(array.dtype), list(array.shape))],
                         value=numpy_helper.from_array(array, name))[0]


def rope_caches(cfg, head_dim):
    """cos/sin(p * inv_freq) for p < max_position_embeddings, [max_pos, head_dim / 2] fp32, with
    transformers' own formula (default rope: inv_freq = 1 / theta^(2i/d), computed in fp32)."""
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    t = torch.arange(cfg["max_position_embeddings"], dtype=torch.int64).float()
    freqs = torch.outer(t, inv_freq)
    return freqs.cos().numpy().astype(np.float32), freqs.sin().numpy().astype(np.float32)


def build_model(cfg, w):
    hidden, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    n, vocab = cfg["num_hidden_layers"], cfg["vocab_size"]
    inter, eps = cfg["intermediate_size"], cfg["rms_norm_eps"]
    f32, i64, i32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32
    g = GraphBuilder()

    def weight(hf_name, onnx_name, transpose):
        return g.init(onnx_name, w[hf_name].T if transpose else w[hf_name])

    def matmul(name, x, hf_name, onnx_name, out_dim, out=None):
        wt = weight(hf_name, onnx_name, transpose=True)  # torch Linear [out, in] -> MatMul [in, out]
        return g.node("MatMul", name, [x, wt], [out or f"{name}/output_0"], [(f32, [B, S, out_dim])])[0]

    # Shared constants (Constant nodes, as the builder makes them).
    c1d = g.constant("/model/constants/TensorProto.INT64/1D/1", np.array([1], np.int64))
    c0d = g.constant("/model/constants/TensorProto.INT64/0D/1", np.array(1, np.int64))

    # attention_mask -> GroupQueryAttention's seqlens_k / total_sequence_length.
    am = "/model/attn_mask_reformat/attn_mask_subgraph"
    rs = g.node("ReduceSum", f"{am}/ReduceSum", ["attention_mask", c1d], [f"{am}/ReduceSum/output_0"],
                [(i64, [B, 1])])[0]
    sub = g.node("Sub", f"{am}/Sub", [rs, c0d], [f"{am}/Sub/output_0"], [(i64, [B, 1])])[0]
    seqlens_k = g.node("Cast", f"{am}/Sub/Cast", [sub], [f"{am}/Sub/Cast/output_0"], [(i32, [B, 1])], to=i32)[0]
    shp = g.node("Shape", f"{am}/Shape", ["attention_mask"], [f"{am}/Shape/output_0"], [(i64, [2])])[0]
    tot = g.node("Gather", f"{am}/Gather", [shp, c0d], [f"{am}/Gather/output_0"], [(i64, [])], axis=0)[0]
    total_len = g.node("Cast", f"{am}/Gather/Cast", [tot], [f"{am}/Gather/Cast/output_0"], [(i32, [])], to=i32)[0]

    cos, sin = rope_caches(cfg, hd)
    cos_cache, sin_cache = g.init("cos_cache", cos), g.init("sin_cache", sin)

    table = g.init("model.embed_tokens.weight", w["model.embed_tokens.weight"])
    emb = g.node("Gather", "/model/embed_tokens/Gather", [table, "input_ids"],
                 ["/model/embed_tokens/Gather/output_0"], [(f32, [B, S, hidden])])[0]

    x, residual = emb, None  # x: the sublayer output still to be added to residual
    for i in range(n):
        L, hf = f"/model/layers.{i}", f"model.layers.{i}"
        gamma = weight(f"{hf}.input_layernorm.weight", f"{hf}.input_layernorm.weight", False)
        if residual is None:
            ln = g.node("SimplifiedLayerNormalization", f"{L}/input_layernorm/LayerNorm", [x, gamma],
                        [f"{L}/input_layernorm/output_0"], [(f32, [B, S, hidden])],
                        axis=-1, epsilon=eps, stash_type=1)[0]
            residual = x
        else:
            nm = f"{L}/input_layernorm/SkipLayerNorm"
            ln, residual = g.node("SkipSimplifiedLayerNormalization", nm, [x, residual, gamma],
                                  [f"{nm}/output_0", "", "", f"{nm}/output_3"],
                                  [(f32, [B, S, hidden]), (f32, [B, S, hidden])], domain=MS, epsilon=eps)

        def proj(mod, sub, x_in, out_dim):  # torch name {hf}.<mod>.<sub>_proj, builder name {hf}.<attn|mlp>...
            builder_mod = "attn" if mod == "self_attn" else mod
            return matmul(f"{L}/{builder_mod}/{sub}_proj/MatMul", x_in, f"{hf}.{mod}.{sub}_proj.weight",
                          f"{hf}.{builder_mod}.{sub}_proj.MatMul.weight", out_dim)

        q = proj("self_attn", "q", ln, heads * hd)
        k = proj("self_attn", "k", ln, kv * hd)
        v = proj("self_attn", "v", ln, kv * hd)
        nm = f"{L}/attn/GroupQueryAttention"
        attn = g.node("GroupQueryAttention", nm,
                      [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len,
                       cos_cache, sin_cache],
                      [f"{nm}/output_0", f"present.{i}.key", f"present.{i}.value"],
                      [(f32, [B, S, heads * hd]), None, None],  # presents are graph outputs
                      domain=MS, num_heads=heads, kv_num_heads=kv, scale=float(1.0 / np.sqrt(hd)),
                      local_window_size=-1, softcap=0.0, do_rotary=1, rotary_interleaved=0)[0]
        o = proj("self_attn", "o", attn, hidden)
        nm = f"{L}/post_attention_layernorm/SkipLayerNorm"
        gamma = weight(f"{hf}.post_attention_layernorm.weight", f"{hf}.post_attention_layernorm.weight", False)
        ln, residual = g.node("SkipSimplifiedLayerNormalization", nm, [o, residual, gamma],
                              [f"{nm}/output_0", "", "", f"{nm}/output_3"],
                              [(f32, [B, S, hidden]), (f32, [B, S, hidden])], domain=MS, epsilon=eps)
        gate = proj("mlp", "gate", ln, inter)
        up = proj("mlp", "up", ln, inter)
        tinter = [(f32, [B, S, inter])]
        sig = g.node("Sigmoid", f"{L}/mlp/act_fn/Sigmoid", [gate], [f"{L}/mlp/act_fn/Sigmoid/output_0"], tinter)[0]
        act = g.node("Mul", f"{L}/mlp/act_fn/Mul", [gate, sig], [f"{L}/mlp/act_fn/Mul/output_0"], tinter)[0]
        prod = g.node("Mul", f"{L}/mlp/Mul", [act, up], [f"{L}/mlp/Mul/output_0"], tinter)[0]
        x = proj("mlp", "down", prod, hidden)

    nm = f"/model/layers.{n}/final_norm_layernorm/SkipLayerNorm"
    gamma = g.init("model.norm.weight", w["model.norm.weight"])
    normed = g.node("SkipSimplifiedLayerNormalization", nm, [x, residual, gamma],
                    [f"{nm}/output_0"], [(f32, [B, S, hidden])], domain=MS, epsilon=eps)[0]
    matmul("/lm_head/MatMul", normed, "lm_head.weight", "lm_head.MatMul.weight", vocab, out="logits")

    kv_in = [helper.make_tensor_value_info(f"past_key_values.{i}.{t}", f32, [B, kv, P, hd])
             for i in range(n) for t in ("key", "value")]
    kv_out = [helper.make_tensor_value_info(f"present.{i}.{t}", f32, [B, kv, T, hd])
              for i in range(n) for t in ("key", "value")]
    graph = helper.make_graph(
        g.nodes, "llama_contrib",
        [helper.make_tensor_value_info("input_ids", i64, [B, S]),
         helper.make_tensor_value_info("attention_mask", i64, [B, T]), *kv_in],
        [helper.make_tensor_value_info("logits", f32, [B, S, vocab]), *kv_out],
        initializer=g.inits, value_info=[vi for vi in g.vinfo if vi.name != "logits"])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)],
                              ir_version=IR_VERSION, producer_name="ingot gen_onnx_contrib_fixture.py")
    check_structure(model)
    return model


def check_structure(model):
    """onnx's checker on a copy: it knows no com.microsoft schemas (those nodes pass unchecked) and
    rejects SimplifiedLayerNormalization in the default domain, where onnxruntime registers it;
    the copy moves that node to com.microsoft so the rest of the graph is still checked."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for nd in m.graph.node:
        if nd.op_type == "SimplifiedLayerNormalization" and nd.domain == "":
            nd.domain = MS
    onnx.checker.check_model(m, full_check=False)


def serialize(model):
    buf = io.BytesIO()
    onnx.save_model(model, buf)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Reference and checks
# --------------------------------------------------------------------------------------------
def session(model_bytes):
    so = base.ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return base.ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def run(sess, n, kv, hd, ids, mask, past=None):
    if past is None:
        z = np.zeros((ids.shape[0], kv, 0, hd), np.float32)
        past = {nm: z for nm in base.past_names(n)}
    outs = sess.run(None, {"input_ids": ids, "attention_mask": mask, **past})
    return outs[0], dict(zip(base.past_names(n), outs[1:]))


def check_interface(sess, n):
    ins = [(i.name, i.type) for i in sess.get_inputs()]
    want = [("input_ids", "tensor(int64)"), ("attention_mask", "tensor(int64)")] + \
        [(nm, "tensor(float)") for nm in base.past_names(n)]
    outs = [o.name for o in sess.get_outputs()]
    if ins != want or outs != ["logits", *base.present_names(n)]:
        raise base.CheckError(f"unexpected interface: inputs {ins}, outputs {outs}")


def pad_right(prompts, pad_id=0):
    """Right-padded batch: row r holds prompt r at columns 0..len-1 (see the docstring: the only
    layout GroupQueryAttention computes correctly)."""
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_id, np.int64)
    mask = np.zeros((len(prompts), width), np.int64)
    for r, p in enumerate(prompts):
        ids[r, :len(p)] = p
        mask[r, :len(p)] = 1
    return ids, mask


def reference(model_bytes, cfg, model_eager, fixture_ref, atol):
    """Run the graph and the checks; return (arrays, max error, notes) or raise CheckError."""
    n, kv = cfg["num_hidden_layers"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    sess = session(model_bytes)
    check_interface(sess, n)
    prompt = max(fixture_ref["prompts"], key=lambda p: len(p["ids"]))["ids"]
    want_greedy = next(g["output_ids"] for g in fixture_ref["greedy"] if g["prompt_ids"] == prompt)
    s = len(prompt)
    arrays, errs, notes = {}, [], []

    # Prefill from an empty cache (P = 0), then greedy decode steps fed the previous presents.
    ids = np.array([prompt], np.int64)
    mask = np.ones((1, s), np.int64)
    logits, past = run(sess, n, kv, hd, ids, mask)
    arrays.update({"prefill.input_ids": ids, "prefill.attention_mask": mask,
                   "prefill.position_ids": np.arange(s, dtype=np.int64)[None], "prefill.logits": logits})
    seq, step_logits, greedy = list(prompt), [logits], []
    for k in range(base.GREEDY):
        tok = int(np.argmax(logits[0, -1]))
        greedy.append(tok)
        if k == base.GREEDY - 1:
            break
        p = len(seq)
        seq.append(tok)
        x, mask = np.array([[tok]], np.int64), np.ones((1, p + 1), np.int64)
        logits, past = run(sess, n, kv, hd, x, mask, past)
        if past["past_key_values.0.key"].shape != (1, kv, p + 1, hd):
            raise base.CheckError(f"decode {k}: present.0.key has shape {past['past_key_values.0.key'].shape}, "
                                  f"want {(1, kv, p + 1, hd)}")
        if k < base.DECODE_STEPS:
            arrays.update({f"decode.{k}.input_ids": x, f"decode.{k}.attention_mask": mask,
                           f"decode.{k}.position_ids": np.array([[p]], np.int64), f"decode.{k}.logits": logits})
        step_logits.append(logits)
    arrays["greedy.ids"] = np.array(greedy, np.int64)
    full = base.hf_logits(model_eager, np.array([seq], np.int64))[0]
    got = np.concatenate([lg[0] for lg in step_logits], axis=0)
    errs.append(base.check_close("prefill", got[:s], full[:s], atol))
    errs.append(base.check_close("decode", got[s:], full[s:], atol))
    if greedy != want_greedy[:base.GREEDY]:
        raise base.CheckError(f"greedy ids {greedy} != fixture reference.json {want_greedy[:base.GREEDY]}")

    # One-token prefill (S = total = 1: still GQA's "first prompt") and one decode step (not stored).
    lg1, past1 = run(sess, n, kv, hd, np.array([prompt[:1]], np.int64), np.ones((1, 1), np.int64))
    lg2, _ = run(sess, n, kv, hd, np.array([prompt[1:2]], np.int64), np.ones((1, 2), np.int64), past1)
    errs.append(base.check_close("one-token prefill + decode", np.concatenate([lg1[0], lg2[0]]),
                                 base.hf_logits(model_eager, np.array([prompt[:2]], np.int64))[0], atol))

    # Chunked prefill (not stored): 11 tokens, then the other 29 with the cache (GQA's "subsequent
    # prompt": S > 1 and S != total, batch 1 only; positions past_len .. past_len + S - 1).
    lc1, pastc = run(sess, n, kv, hd, np.array([prompt[:11]], np.int64), np.ones((1, 11), np.int64))
    lc2, _ = run(sess, n, kv, hd, np.array([prompt[11:]], np.int64), np.ones((1, s), np.int64), pastc)
    errs.append(base.check_close("chunked prefill (11 + 29)", np.concatenate([lc1[0], lc2[0]]), full[:s], atol))

    # Padded batch of the fixture's prompts 0 and 1, prefill from an empty cache, then one decode step.
    short, long_ = fixture_ref["prompts"][0]["ids"], fixture_ref["prompts"][1]["ids"]
    bids, bmask = pad_right([short, long_])
    width = bids.shape[1]
    blogits, bpast = run(sess, n, kv, hd, bids, bmask)
    arrays.update({"batch.input_ids": bids, "batch.attention_mask": bmask,
                   "batch.position_ids": np.tile(np.arange(width, dtype=np.int64), (2, 1)),
                   "batch.logits": blogits})
    toks = []
    for r, p in enumerate((short, long_)):
        want = base.hf_logits(model_eager, np.array([p], np.int64))[0]
        errs.append(base.check_close(f"right-padded batch row {r}", blogits[r, :len(p)], want, atol))
        toks.append(int(np.argmax(blogits[r, len(p) - 1])))
    dids = np.array(toks, np.int64)[:, None]
    dmask = np.concatenate([bmask, np.ones((2, 1), np.int64)], axis=1)
    dlogits, _ = run(sess, n, kv, hd, dids, dmask, bpast)
    arrays.update({"batch_decode.input_ids": dids, "batch_decode.attention_mask": dmask,
                   "batch_decode.position_ids": np.array([[len(short)], [len(long_)]], np.int64),
                   "batch_decode.logits": dlogits})
    for r, p in enumerate((short, long_)):
        want = base.hf_logits(model_eager, np.array([p + [toks[r]]], np.int64))[0, -1]
        errs.append(base.check_close(f"right-padded batch decode row {r}", dlogits[r, 0], want, atol))

    # The same batch LEFT-padded (not stored): GQA ignores where the mask's zeros are, so the shorter
    # row's real tokens are wrong. Recorded as a note; an error if it ever starts to match.
    lids = np.zeros_like(bids)
    lmask = np.zeros_like(bmask)
    for r, p in enumerate((short, long_)):
        lids[r, width - len(p):] = p
        lmask[r, width - len(p):] = 1
    llogits, _ = run(sess, n, kv, hd, lids, lmask)
    lerr = float(np.max(np.abs(llogits[0, width - len(short):] -
                               base.hf_logits(model_eager, np.array([short], np.int64))[0])))
    if lerr <= atol:
        raise base.CheckError("the left-padded batch now matches transformers: GroupQueryAttention's "
                              "padding semantics changed, update this script's docstring and batch layout")
    notes.append(f"left-padded batch, shorter row: max |onnxruntime - transformers| = {lerr:.2f} "
                 "(GroupQueryAttention assumes right padding)")
    return arrays, max(errs), notes


def stored_gap(a, b):
    """Largest difference between two reference dicts (keys must agree; logits compared fully)."""
    if sorted(a) != sorted(b):
        raise base.CheckError(f"keys differ: {sorted(set(a) ^ set(b))}")
    gap = 0.0
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype:
            raise base.CheckError(f"{k}: {a[k].dtype}{a[k].shape} vs stored {b[k].dtype}{b[k].shape}")
        gap = max(gap, float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))))
    return gap


def save_npz(path, arrays):
    """np.savez with fixed zip timestamps and sorted keys, so the file is byte-for-byte reproducible
    (np.savez stamps the current time into each member). np.load reads it as usual."""
    import zipfile
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for k in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[k]), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{k}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def op_histogram(model):
    hist = {}
    for nd in model.graph.node:
        key = f"{nd.domain}:{nd.op_type}" if nd.domain else nd.op_type
        hist[key] = hist.get(key, 0) + 1
    return dict(sorted(hist.items(), key=lambda kv_: (-kv_[1], kv_[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", default=FIXTURE, help="HF fixture directory (llama)")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--verify", action="store_true", help="only recheck the files on disk")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    with open(os.path.join(args.fixture, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    with open(os.path.join(args.fixture, "reference.json"), encoding="utf-8") as f:
        fixture_ref = json.load(f)
    weights = load_file(os.path.join(args.fixture, "model.safetensors"))
    model = build_model(cfg, weights)
    model_bytes = serialize(model)
    if serialize(build_model(cfg, weights)) != model_bytes:
        sys.exit("FAIL: two builds of the graph differ")
    with base.quiet():
        model_eager = base.load_model(args.fixture, "eager")
    outdir = os.path.join(args.fixture, "onnx")
    mpath, rpath = os.path.join(outdir, OUT_MODEL), os.path.join(outdir, OUT_REF)
    try:
        arrays, err, notes = reference(model_bytes, cfg, model_eager, fixture_ref, args.atol)
        if args.verify:
            with open(mpath, "rb") as f:
                if f.read() != model_bytes:
                    raise base.CheckError(f"{mpath} differs from what this script builds")
            gap = stored_gap(arrays, dict(np.load(rpath)))
            if gap > 1e-5:
                raise base.CheckError(f"{rpath}: drift {gap:.2e} from onnxruntime now")
    except base.CheckError as e:
        sys.exit(f"FAIL: {e}")
    hist = op_histogram(model)
    print(f"ok: max |onnxruntime - transformers| = {err:.1e} (atol {args.atol:g}); "
          f"{len(model.graph.node)} nodes: " + ", ".join(f"{k} {v}" for k, v in hist.items()))
    for note in notes:
        print(f"note: {note}")
    if args.verify:
        print(f"ok: {OUT_MODEL} and {OUT_REF} on disk match")
        return
    os.makedirs(outdir, exist_ok=True)
    with open(mpath + ".tmp", "wb") as f:
        f.write(model_bytes)
    save_npz(rpath + ".tmp", arrays)
    os.replace(mpath + ".tmp", mpath)
    os.replace(rpath + ".tmp", rpath)
    print(f"wrote {os.path.relpath(mpath, REPO)} ({len(model_bytes) / 1e3:.0f} KB), "
          f"{os.path.relpath(rpath, REPO)} ({os.path.getsize(rpath) / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
