#!/usr/bin/env python3
"""Export the benchmark Llama checkpoint to ONNX with a KV cache, for the onnxruntime baseline.

Graph interface (batch 1 is what the benchmark uses; batch stays dynamic):
  inputs   input_ids int64 [B, S], attention_mask int64 [B, P+S], position_ids int64 [B, S],
           past_key_values.<i>.key / .value float32 [B, kv_heads, P, head_dim]  (P may be 0)
  outputs  logits float32 [B, 1, vocab]  (last position only, like ingot's Logits step, so both
           sides do the same work in prefill), present.<i>.key / .value [B, kv_heads, P+S, head_dim]
Exported with torch.onnx.export of a wrapper that rebuilds a transformers DynamicCache from the flat
past tensors, so the graph is transformers' own Llama forward (sdpa attention, decomposed into
MatMul/Softmax with the causal mask; GQA by Expand). Default: the TorchScript exporter (dynamo=False),
which works with torch 2.15 + transformers 5.24 and needs no onnxscript; --dynamo uses torch.export.
It was traced with S > 1, so decode (S = 1) runs the masked path; verify() covers both.
Invariant checked before the file is kept: onnxruntime's logits equal transformers' (fp32 tolerance)
for a prefill from an empty cache and for decode steps fed with the previous step's present.*.
Usage: /work/venv-dev/bin/python scripts/bench/export_onnx.py [CKPT] [-o OUT.onnx]
       (defaults /tmp/ingot-bench/llama-100m and /tmp/ingot-bench/llama-100m.onnx; one file under 2 GB,
       the tied embedding stored twice: the Gather table and the folded transpose for the logits)
"""

import argparse
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoModelForCausalLM, DynamicCache


class KvWrapper(torch.nn.Module):
    """Flat tensors in and out: (ids, mask, positions, k0, v0, k1, v1, ...) -> (logits, k0', v0', ...)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.layers = model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def past_names(n):
    return [f"past_key_values.{i}.{kv}" for i in range(n) for kv in ("key", "value")]


def present_names(n):
    return [f"present.{i}.{kv}" for i in range(n) for kv in ("key", "value")]


def ort_session(path, threads=2):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def empty_past(cfg, batch=1):
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    z = np.zeros((batch, cfg.num_key_value_heads, 0, hd), np.float32)
    return {n: z for n in past_names(cfg.num_hidden_layers)}


def verify(model, onnx_path, prompt_len=37, steps=4, seed=0):
    """Prefill + `steps` decode steps through ORT (present fed back as past) vs transformers."""
    cfg = model.config
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, cfg.vocab_size, size=(1, prompt_len + steps), dtype=np.int64)
    with torch.no_grad():
        ref = model(torch.from_numpy(ids), use_cache=False).logits.numpy()[0]  # [S, V], full forward
    sess = ort_session(onnx_path)
    got_names = [o.name for o in sess.get_outputs()]
    if got_names != ["logits", *present_names(cfg.num_hidden_layers)]:
        sys.exit(f"unexpected onnx outputs {got_names[:3]}...")
    past = empty_past(cfg)
    worst = 0.0
    pos = 0
    for chunk in [prompt_len] + [1] * steps:
        x = ids[:, pos:pos + chunk]
        feeds = {"input_ids": x, "attention_mask": np.ones((1, pos + chunk), np.int64),
                 "position_ids": np.arange(pos, pos + chunk, dtype=np.int64)[None], **past}
        outs = sess.run(None, feeds)
        got = outs[0][0, -1]
        want = ref[pos + chunk - 1]
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        worst = max(worst, err)
        if int(np.argmax(got)) != int(np.argmax(want)):
            sys.exit(f"onnx argmax differs from transformers at position {pos + chunk - 1}")
        past = {p: o for p, o in zip(past_names(cfg.num_hidden_layers), outs[1:])}
        pos += chunk
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", nargs="?", default="/tmp/ingot-bench/llama-100m")
    ap.add_argument("-o", "--out", default=None)
    ap.add_argument("--opset", type=int, default=18)
    ap.add_argument("--dynamo", action="store_true",
                    help="use the torch.export-based exporter (needs onnxscript) instead of TorchScript tracing")
    args = ap.parse_args()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.ckpt)),
                                   os.path.basename(os.path.abspath(args.ckpt)) + ".onnx")

    model = AutoModelForCausalLM.from_pretrained(args.ckpt, dtype=torch.float32,
                                                 attn_implementation="sdpa").eval()
    cfg = model.config
    n = cfg.num_hidden_layers
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    # Trace with a non-trivial past (sizes 0/1 would be specialised); all of B, S, P stay dynamic.
    B, S, P = 2, 5, 7
    ids = torch.randint(3, cfg.vocab_size, (B, S))
    mask = torch.ones(B, P + S, dtype=torch.int64)
    pos = torch.arange(P, P + S).expand(B, S)
    past = [torch.randn(B, cfg.num_key_value_heads, P, hd) for _ in range(2 * n)]
    batch, seq, total = torch.export.Dim("batch"), torch.export.Dim("seq"), torch.export.Dim("total")
    past_len = torch.export.Dim("past")
    dyn = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: total},
           "position_ids": {0: batch, 1: seq},
           "past": [{0: batch, 2: past_len} for _ in range(2 * n)]}
    wrapper = KvWrapper(model).eval()
    names_in = ["input_ids", "attention_mask", "position_ids", *past_names(n)]
    names_out = ["logits", *present_names(n)]
    with torch.no_grad():
        if args.dynamo:
            prog = torch.onnx.export(wrapper, (ids, mask, pos, *past), dynamo=True, opset_version=args.opset,
                                     input_names=names_in, output_names=names_out, dynamic_shapes=dyn,
                                     optimize=True)
            prog.save(out, external_data=True)
        else:
            axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
                    "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}}
            for nm in past_names(n):
                axes[nm] = {0: "batch", 2: "past"}
            for nm in present_names(n):
                axes[nm] = {0: "batch", 2: "total"}
            torch.onnx.export(wrapper, (ids, mask, pos, *past), out, dynamo=False, opset_version=args.opset,
                              input_names=names_in, output_names=names_out, dynamic_axes=axes,
                              do_constant_folding=True, external_data=True)
    err = verify(model, out)
    print(f"wrote {out}; max relative |logits - transformers| over prefill + 4 decode steps: {err:.2e}")
    if err > 1e-3:
        sys.exit("onnx logits do not match transformers")


if __name__ == "__main__":
    main()
