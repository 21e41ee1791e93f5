#!/usr/bin/env python3
"""Export the tiny HF fixtures (test/fixtures/<family>/) to ONNX with a KV cache, plus onnxruntime
reference outputs, for the ONNX frontend's raising tests (developers only, never CI).

For each family (llama, llama3, qwen2, qwen3, mistral, gpt2, mixtral) this writes
test/fixtures/<family>/onnx/:
  model.onnx         TorchScript exporter (torch.onnx.export(dynamo=False)), opset 18, one file
  model.dynamo.onnx  torch.export-based exporter (dynamo=True, needs onnxscript), opset 18, one
                     file; only when that exporter works for the family and passes the same checks
  reference.npz      onnxruntime outputs of model.onnx (see below)
and for llama also onnx/model_nocache.onnx (plain forward: input_ids [B, S] -> logits [B, S, V],
no mask/position/cache inputs, for the general "graph plan" path) with its own reference arrays
(`nocache.*`) in llama's reference.npz.

Graph interface (same style as scripts/bench/export_onnx.py; B, S, P all dynamic):
  inputs   input_ids int64 [B, S], attention_mask int64 [B, P+S] (1 = attend, 0 = padding),
           position_ids int64 [B, S],
           past_key_values.<i>.key / .value float32 [B, kv_heads, P, head_dim]  (P may be 0)
  outputs  logits float32 [B, S, vocab]  (ALL positions, unlike the bench export),
           present.<i>.key / .value float32 [B, kv_heads, P+S, head_dim]
The graph is transformers' own forward (sdpa attention, so the exporters decompose
scaled_dot_product_attention; mixtral with experts_implementation="batched_mm", the only MoE
implementation that exports without data-dependent control flow), driven by a wrapper that
rebuilds a DynamicCache from the flat past tensors. The cache is built WITHOUT the config, so every
layer keeps its full history (mistral's sliding window is then a mask, and present has P+S rows
as for the other families). qwen3's fixture weights are bfloat16 on disk: the model is loaded as
float32 (exactly the bf16 values) and exported in float32, like every other family.

reference.npz (all from onnxruntime running model.onnx, CPU, float32; prompt = the fixture's
longest prompt from reference.json, > mistral's window of 16):
  prefill.input_ids / .attention_mask / .position_ids   int64 [1, S]
  prefill.logits                                       float32 [1, S, V]  (empty cache, P = 0)
  decode.<k>.input_ids / .attention_mask / .position_ids / .logits  for k = 0, 1, 2: one token each
      (the greedy token of the previous step), fed the previous step's present.* as past
  greedy.ids                                           int64 [8]: greedy continuation (prefill + 7 decodes)
  batch.input_ids / .attention_mask / .position_ids / .logits: a left-padded batch of 2 prompts
      (the fixture's prompts 0 and 1) prefilled from an empty cache; rows at padding positions are
      whatever the graph computes there (tests should compare only attention_mask == 1 positions)
  nocache.input_ids / nocache.logits                   (llama only) for model_nocache.onnx
Checks before a file is kept (the script exits non-zero if any fails, naming family and exporter):
  * onnxruntime's logits equal transformers' (eager attention, full forward without a cache of
    prompt + decode tokens, float32) at every position of the prefill and of each decode step,
    max |diff| <= --atol (default 1e-4); the same for the padded batch at non-padding positions
    and for a one-token prefill plus one decode step (not stored);
  * the 8 greedy ids equal the first 8 of the fixture's reference.json greedy continuation, which
    transformers' generate() produced (an independent check of the cache path);
  * the graph's inputs/outputs are exactly the interface above.
The output is deterministic (fixed example inputs, no randomness in export; checked by running twice
and comparing bytes).

Usage: /work/venv-dev/bin/python -m pip install onnxscript    (once, for the dynamo exporter)
       /work/venv-dev/bin/python scripts/gen_onnx_fixtures.py [--fixtures test/fixtures]
            [--only llama,gpt2] [--no-dynamo] [--atol 1e-4]
       /work/venv-dev/bin/python scripts/gen_onnx_fixtures.py --verify   (recheck files on disk)
Summaries of the exported graphs: scripts/dev/onnx_summary.py (docs/dev/onnx-export-patterns.md).
"""

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import traceback
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from transformers import AutoModelForCausalLM, DynamicCache

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = ["llama", "llama3", "qwen2", "qwen3", "mistral", "gpt2", "mixtral"]
OPSET = 18
DECODE_STEPS = 3
GREEDY = 8
# Trace example: a non-trivial past and batch (sizes 0/1 would be specialised by the tracer).
EX_B, EX_S, EX_P = 2, 5, 7


# --------------------------------------------------------------------------------------------
# Model and wrapper
# --------------------------------------------------------------------------------------------
def load_model(path, attn):
    kw = {}
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        if json.load(f).get("model_type") == "mixtral":
            kw["experts_implementation"] = "batched_mm"
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn,
                                                **kw).eval()


def dims(cfg):
    n = cfg.num_hidden_layers
    kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return n, kv, hd


class KvWrapper(torch.nn.Module):
    """Flat tensors in and out: (ids, mask, positions, k0, v0, k1, v1, ...) -> (logits, k0', v0', ...)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.layers = model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        cache = DynamicCache()  # no config: full (non-sliding) layers, present keeps all P+S rows
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         cache=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


class NoCacheWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        # An explicit all-ones mask: with no mask and no cache transformers would look for packed
        # sequences in the positions (aten::diff, which the TorchScript exporter cannot export).
        return self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), use_cache=False).logits


def past_names(n):
    return [f"past_key_values.{i}.{kv}" for i in range(n) for kv in ("key", "value")]


def present_names(n):
    return [f"present.{i}.{kv}" for i in range(n) for kv in ("key", "value")]


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------
def example_inputs(cfg):
    n, kv, hd = dims(cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, cfg.vocab_size, (EX_B, EX_S), generator=g)
    mask = torch.ones(EX_B, EX_P + EX_S, dtype=torch.int64)
    pos = torch.arange(EX_P, EX_P + EX_S).expand(EX_B, EX_S).contiguous()
    past = [torch.randn(EX_B, kv, EX_P, hd, generator=g) for _ in range(2 * n)]
    return ids, mask, pos, past


@contextlib.contextmanager
def quiet():
    """The exporters print pages of warnings/progress; keep them for the error report only."""
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        warnings.simplefilter("ignore")
        yield buf


# Per-node metadata the dynamo exporter writes that holds source paths and line numbers (so the file
# would depend on where the script runs) or repeats the other keys; name_scopes (module path) and
# namespace stay as orientation for readers.
DROP_METADATA = ("pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node", "pkg.torch.onnx.class_hierarchy")


def strip_metadata(path):
    m = onnx.load(path)
    for node in m.graph.node:
        keep = [(p.key, p.value) for p in node.metadata_props if p.key not in DROP_METADATA]
        del node.metadata_props[:]
        for k, v in keep:
            node.metadata_props.add(key=k, value=v)
    onnx.save(m, path)


def export_kv(model, out, dynamo):
    cfg = model.config
    n = cfg.num_hidden_layers
    ids, mask, pos, past = example_inputs(cfg)
    names_in = ["input_ids", "attention_mask", "position_ids", *past_names(n)]
    names_out = ["logits", *present_names(n)]
    wrapper = KvWrapper(model).eval()
    with torch.no_grad(), quiet():
        if dynamo:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
            # total = past + seq >= 4 for the example; torch.export insists on that bound (ONNX keeps
            # no guard: a one-token prefill, total 1, is among the checks).
            total, past_len = torch.export.Dim("total", min=4), torch.export.Dim("past")
            dyn = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: total},
                   "position_ids": {0: batch, 1: seq},
                   "past": tuple({0: batch, 2: past_len} for _ in range(2 * n))}
            prog = torch.onnx.export(wrapper, (ids, mask, pos, *past), dynamo=True, opset_version=OPSET,
                                     input_names=names_in, output_names=names_out, dynamic_shapes=dyn,
                                     optimize=True, verbose=False)
            prog.save(out, external_data=False)
            strip_metadata(out)
        else:
            axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
                    "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
            for nm in past_names(n):
                axes[nm] = {0: "batch", 2: "past"}
            for nm in present_names(n):
                axes[nm] = {0: "batch", 2: "total"}
            torch.onnx.export(wrapper, (ids, mask, pos, *past), out, dynamo=False, opset_version=OPSET,
                              input_names=names_in, output_names=names_out, dynamic_axes=axes,
                              do_constant_folding=True, external_data=False)


def export_nocache(model, out, dynamo):
    ids = example_inputs(model.config)[0]
    wrapper = NoCacheWrapper(model).eval()
    with torch.no_grad(), quiet():
        if dynamo:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
            prog = torch.onnx.export(wrapper, (ids,), dynamo=True, opset_version=OPSET,
                                     input_names=["input_ids"], output_names=["logits"],
                                     dynamic_shapes={"input_ids": {0: batch, 1: seq}}, optimize=True)
            prog.save(out, external_data=False)
            strip_metadata(out)
        else:
            torch.onnx.export(wrapper, (ids,), out, dynamo=False, opset_version=OPSET,
                              input_names=["input_ids"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                            "logits": {0: "batch", 1: "seq"}},
                              do_constant_folding=True, external_data=False)


# --------------------------------------------------------------------------------------------
# Reference and checks
# --------------------------------------------------------------------------------------------
class CheckError(Exception):
    pass


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # deterministic reductions
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def hf_logits(model_eager, ids, mask=None):
    """transformers, eager attention, full forward without a cache (independent of the cache path)."""
    with torch.no_grad():
        t = torch.from_numpy(np.asarray(ids, np.int64))
        m = None if mask is None else torch.from_numpy(np.asarray(mask, np.int64))
        return model_eager(input_ids=t, attention_mask=m, use_cache=False).logits.float().numpy()


def check_close(what, got, want, atol):
    err = float(np.max(np.abs(got - want)))
    if not np.isfinite(err) or err > atol:
        raise CheckError(f"{what}: max |onnxruntime - transformers| = {err:.3e} > atol {atol:g}")
    return err


def run_kv(sess, n, kv, hd, ids, mask, pos, past=None):
    b = ids.shape[0]
    if past is None:
        z = np.zeros((b, kv, 0, hd), np.float32)
        past = {nm: z for nm in past_names(n)}
    outs = sess.run(None, {"input_ids": ids, "attention_mask": mask, "position_ids": pos, **past})
    return outs[0], dict(zip(past_names(n), outs[1:]))


def check_interface(sess, n):
    ins = [(i.name, i.type) for i in sess.get_inputs()]
    want_in = [("input_ids", "tensor(int64)"), ("attention_mask", "tensor(int64)"),
               ("position_ids", "tensor(int64)")] + [(nm, "tensor(float)") for nm in past_names(n)]
    outs = [o.name for o in sess.get_outputs()]
    if ins != want_in or outs != ["logits", *present_names(n)]:
        raise CheckError(f"unexpected interface: inputs {ins[:4]}..., outputs {outs[:3]}...")


def reference_kv(path, model_eager, fixture_ref, atol):
    """Run the checks on `path`; return (arrays, report) or raise CheckError."""
    cfg = model_eager.config
    n, kv, hd = dims(cfg)
    sess = ort_session(path)
    check_interface(sess, n)
    prompt = max(fixture_ref["prompts"], key=lambda p: len(p["ids"]))
    want_greedy = next(g["output_ids"] for g in fixture_ref["greedy"] if g["prompt_ids"] == prompt["ids"])
    ids = np.array([prompt["ids"]], np.int64)
    s = ids.shape[1]
    arrays, errs = {}, []

    # Prefill + decode steps, greedy, each step fed the previous present.
    seq = list(prompt["ids"])
    mask = np.ones((1, s), np.int64)
    pos = np.arange(s, dtype=np.int64)[None]
    logits, past = run_kv(sess, n, kv, hd, ids, mask, pos)
    arrays.update({"prefill.input_ids": ids, "prefill.attention_mask": mask, "prefill.position_ids": pos,
                   "prefill.logits": logits})
    step_logits = [logits]
    greedy = []
    for k in range(GREEDY):
        tok = int(np.argmax(logits[0, -1]))
        greedy.append(tok)
        if k == GREEDY - 1:
            break
        p = len(seq)
        seq.append(tok)
        x = np.array([[tok]], np.int64)
        mask = np.ones((1, p + 1), np.int64)
        pos = np.array([[p]], np.int64)
        logits, past = run_kv(sess, n, kv, hd, x, mask, pos, past)
        if past["past_key_values.0.key"].shape != (1, kv, p + 1, hd):
            raise CheckError(f"present.0.key has shape {past['past_key_values.0.key'].shape}, "
                             f"want {(1, kv, p + 1, hd)}")
        if k < DECODE_STEPS:
            arrays.update({f"decode.{k}.input_ids": x, f"decode.{k}.attention_mask": mask,
                           f"decode.{k}.position_ids": pos, f"decode.{k}.logits": logits})
        step_logits.append(logits)
    arrays["greedy.ids"] = np.array(greedy, np.int64)

    # transformers: one full forward over prompt + the fed tokens, compared at every position.
    full = hf_logits(model_eager, np.array([seq], np.int64))[0]
    got = np.concatenate([lg[0] for lg in step_logits], axis=0)
    errs.append(check_close("prefill", got[:s], full[:s], atol))
    errs.append(check_close("decode", got[s:], full[s:], atol))
    if greedy != want_greedy[:GREEDY]:
        raise CheckError(f"greedy ids {greedy} != fixture reference.json {want_greedy[:GREEDY]}")

    # A one-token prefill (total length 1, below the trace's sizes) and one decode step after it.
    one = np.array([prompt["ids"][:1]], np.int64)
    lg1, past1 = run_kv(sess, n, kv, hd, one, np.ones((1, 1), np.int64), np.zeros((1, 1), np.int64))
    nxt = np.array([prompt["ids"][1:2]], np.int64)
    lg2, _ = run_kv(sess, n, kv, hd, nxt, np.ones((1, 2), np.int64), np.ones((1, 1), np.int64), past1)
    errs.append(check_close("one-token prefill + decode", np.concatenate([lg1[0], lg2[0]]),
                            hf_logits(model_eager, np.array([prompt["ids"][:2]], np.int64))[0], atol))

    # Left-padded batch of two prompts, prefill from an empty cache.
    short, long_ = fixture_ref["prompts"][0]["ids"], fixture_ref["prompts"][1]["ids"]
    width = max(len(short), len(long_))
    pad_id = 0
    bids = np.full((2, width), pad_id, np.int64)
    bmask = np.zeros((2, width), np.int64)
    for r, p in enumerate((short, long_)):
        bids[r, width - len(p):] = p
        bmask[r, width - len(p):] = 1
    bpos = np.clip(np.cumsum(bmask, axis=1) - 1, 0, None).astype(np.int64)
    blogits, _ = run_kv(sess, n, kv, hd, bids, bmask, bpos)
    arrays.update({"batch.input_ids": bids, "batch.attention_mask": bmask, "batch.position_ids": bpos,
                   "batch.logits": blogits})
    for r, p in enumerate((short, long_)):
        want = hf_logits(model_eager, np.array([p], np.int64))[0]
        errs.append(check_close(f"padded batch row {r}", blogits[r, width - len(p):], want, atol))
    return arrays, max(errs)


def reference_nocache(path, model_eager, fixture_ref, atol):
    sess = ort_session(path)
    if [i.name for i in sess.get_inputs()] != ["input_ids"] or [o.name for o in sess.get_outputs()] != ["logits"]:
        raise CheckError("model_nocache.onnx: unexpected interface")
    ids = np.array([fixture_ref["prompts"][0]["ids"], fixture_ref["prompts"][0]["ids"][::-1]], np.int64)
    got = sess.run(None, {"input_ids": ids})[0]
    err = check_close("nocache forward", got, hf_logits(model_eager, ids), atol)
    return {"nocache.input_ids": ids, "nocache.logits": got}, err


def short_error(e):
    """One line for an exporter exception: the dynamo exporter's own summary line when it has one
    (its first line is only "Failed to export ... step 1/3"), else the first line; no colours."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln]
    summary = [ln for ln in lines if ln.startswith("<class ")]
    text = summary[-1] if summary else (lines[0] if lines else "")
    return f"{type(e).__name__}: {text[:400]}"


def logits_gap(a, b):
    """Largest difference between two reference dicts' logits (padded batch: real positions only)."""
    gap = 0.0
    for k in a:
        if k.endswith("logits") and k in b:
            keep = (a["batch.attention_mask"] == 1)[..., None] if k == "batch.logits" else True
            gap = max(gap, float(np.max(np.abs(np.where(keep, a[k] - b[k], 0.0)))))
    return gap


# --------------------------------------------------------------------------------------------
# One family
# --------------------------------------------------------------------------------------------
def make_family(name, root, use_dynamo, atol):
    """Returns a dict exporter -> status line; raises CheckError when the TorchScript export fails."""
    fdir = os.path.join(root, name)
    with open(os.path.join(fdir, "reference.json"), encoding="utf-8") as f:
        fixture_ref = json.load(f)
    model = load_model(fdir, "sdpa")
    model_eager = load_model(fdir, "eager")
    outdir = os.path.join(fdir, "onnx")
    tmp = tempfile.mkdtemp(prefix=f"onnx-{name}-")
    status = {}
    try:
        # TorchScript: required.
        path = os.path.join(tmp, "model.onnx")
        try:
            export_kv(model, path, dynamo=False)
        except Exception as e:  # noqa: BLE001 - report any exporter failure with its message
            raise CheckError(f"TorchScript export failed: {short_error(e)}")
        arrays, err = reference_kv(path, model_eager, fixture_ref, atol)
        status["torchscript"] = f"ok, max err {err:.1e}, {os.path.getsize(path) / 1e6:.2f} MB"
        if name == "llama":
            npath = os.path.join(tmp, "model_nocache.onnx")
            export_nocache(model, npath, dynamo=False)
            narr, nerr = reference_nocache(npath, model_eager, fixture_ref, atol)
            arrays.update(narr)
            status["nocache"] = f"ok, max err {nerr:.1e}"
        np.savez(os.path.join(tmp, "reference.npz"), **arrays)

        # torch.export-based exporter: optional, kept only if it passes the same checks.
        if use_dynamo:
            dpath = os.path.join(tmp, "model.dynamo.onnx")
            try:
                export_kv(model, dpath, dynamo=True)
                darr, derr = reference_kv(dpath, model_eager, fixture_ref, atol)
                gap = logits_gap(darr, arrays)
                status["dynamo"] = (f"ok, max err {derr:.1e} (vs TorchScript graph {gap:.1e}), "
                                    f"{os.path.getsize(dpath) / 1e6:.2f} MB")
            except Exception as e:  # noqa: BLE001
                status["dynamo"] = f"FAILED: {short_error(e)}"
                if os.path.exists(dpath):
                    os.remove(dpath)
                for extra in os.listdir(tmp):  # the dynamo exporter may leave report files
                    if extra not in ("model.onnx", "model_nocache.onnx", "reference.npz"):
                        os.remove(os.path.join(tmp, extra))
        if os.path.exists(outdir):
            shutil.rmtree(outdir)
        shutil.copytree(tmp, outdir)
        os.chmod(outdir, 0o755)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return status


def verify(root, names, atol):
    ok = True
    for name in names:
        fdir = os.path.join(root, name)
        with open(os.path.join(fdir, "reference.json"), encoding="utf-8") as f:
            fixture_ref = json.load(f)
        model_eager = load_model(fdir, "eager")
        stored = dict(np.load(os.path.join(fdir, "onnx", "reference.npz")))
        for fname in ("model.onnx", "model.dynamo.onnx"):
            path = os.path.join(fdir, "onnx", fname)
            if not os.path.exists(path):
                continue
            try:
                arrays, err = reference_kv(path, model_eager, fixture_ref, atol)
                drift = logits_gap(arrays, stored)
                if fname == "model.onnx" and drift > 1e-5:
                    raise CheckError(f"logits drift {drift:.2e} from the stored reference.npz")
                print(f"ok {name}/{fname}: max err {err:.1e}, vs reference.npz {drift:.1e}")
            except CheckError as e:
                print(f"FAIL {name}/{fname}: {e}")
                ok = False
        path = os.path.join(fdir, "onnx", "model_nocache.onnx")
        if name == "llama":
            try:
                arrays, err = reference_nocache(path, model_eager, fixture_ref, atol)
                drift = logits_gap(arrays, stored)
                if drift > 1e-5:
                    raise CheckError(f"logits drift {drift:.2e} from the stored reference.npz")
                print(f"ok {name}/model_nocache.onnx: max err {err:.1e}, vs reference.npz {drift:.1e}")
            except (CheckError, OSError, ort.capi.onnxruntime_pybind11_state.Fail) as e:
                print(f"FAIL {name}/model_nocache.onnx: {e}")
                ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.join(REPO, "test", "fixtures"))
    ap.add_argument("--only", default="", help="comma-separated families")
    ap.add_argument("--no-dynamo", action="store_true", help="skip the torch.export-based exporter")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--verify", action="store_true", help="only recheck what is on disk")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # deterministic float reductions in the reference forward
    names = [n for n in args.only.split(",") if n] or FAMILIES
    bad = [n for n in names if n not in FAMILIES]
    if bad:
        sys.exit(f"unknown families {bad}; known: {FAMILIES}")
    if args.verify:
        sys.exit(0 if verify(args.fixtures, names, args.atol) else 1)
    use_dynamo = not args.no_dynamo
    if use_dynamo:
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            print("onnxscript not installed: skipping the dynamo exporter", file=sys.stderr)
            use_dynamo = False
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        try:
            for exporter, line in make_family(name, args.fixtures, use_dynamo, args.atol).items():
                print(f"   {exporter}: {line}", flush=True)
        except CheckError as e:
            print(f"   FAIL: {e}", flush=True)
            failed.append(name)
        except Exception:  # noqa: BLE001 - keep going, report at the end
            traceback.print_exc()
            failed.append(name)
    if failed:
        sys.exit(f"failed: {failed}")


if __name__ == "__main__":
    main()
