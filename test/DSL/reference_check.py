#!/usr/bin/env python3
"""Checks the DSL models against Hugging Face's own logits.

Instantiates models/<family>.ingot for each fixture checkpoint with ingot-dsl,
then evaluates the printed `ingot` module with a small numpy interpreter
written here from the op definitions (docs/plan-format.md), independent of
the runtime's kernels, and compares every position's logits with the
fixture's reference_logits.safetensors (made by transformers, eager fp32).
A wrong weight, transpose, norm, rope scaling or attention setting in a model
file shows up as a logits mismatch.

Usage: reference_check.py INGOT_DSL_BINARY [FAMILY ...]
Needs numpy and safetensors (the dev venv); also runs under pytest with
INGOT_BIN set to the build's bin directory.
"""
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
FAMILIES = {"llama": "llama", "llama-sharded": "llama", "llama3": "llama",
            "mistral": "llama", "qwen2": "llama", "qwen3": "qwen3",
            "gpt2": "gpt2", "mixtral": "mixtral"}


# --- checkpoint -------------------------------------------------------------
class Checkpoint:
    def __init__(self, d):
        idx = os.path.join(d, "model.safetensors.index.json")
        files = (sorted(set(json.load(open(idx))["weight_map"].values()))
                 if os.path.exists(idx) else ["model.safetensors"])
        self.where = {}
        for f in files:
            with safe_open(os.path.join(d, f), "pt") as h:
                for k in h.keys():
                    self.where[k] = os.path.join(d, f)

    def get(self, name):
        # bf16 is read through torch (numpy has no bf16), then to float32.
        with safe_open(self.where[name], "pt") as h:
            return h.get_tensor(name).float().numpy()


def materialize(ckpt, sources, transforms):
    ts = list(transforms)
    if ts and ts[0] == "stack":
        t = np.stack([ckpt.get(s) for s in sources])
        ts = ts[1:]
    elif ts and ts[0].startswith("concat:"):
        t = np.concatenate([ckpt.get(s) for s in sources], axis=int(ts[0][7:]))
        ts = ts[1:]
    else:
        assert len(sources) == 1
        t = ckpt.get(sources[0])
    for tr in ts:
        if tr == "transpose":
            t = t.T
        elif tr.startswith("slice:"):
            _, ax, st, sz = tr.split(":")
            t = np.take(t, range(int(st), int(st) + int(sz)), axis=int(ax))
        elif tr.startswith("cast:"):
            assert tr == "cast:f32"
        else:
            raise ValueError(tr)
    return np.ascontiguousarray(t, dtype=np.float32)


# --- module text ------------------------------------------------------------
def parse_attrs(text):
    attrs = {}
    if not text:
        return attrs
    for part in re.findall(r'(\w+) = ("[^"]*"|[^,]+)', text):
        k, v = part
        v = v.strip()
        if v.startswith('"'):
            attrs[k] = v[1:-1]
        elif v in ("true", "false"):
            attrs[k] = v == "true"
        else:
            num = v.split(":")[0].strip()
            attrs[k] = float(num) if ("." in num or "e" in num.lower()) else int(num)
    return attrs


def parse_module(text):
    decls, ops = {}, []
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r'ingot\.weight_decl @([\w.]+) : tensor<[^>]*> \{(.*)\}$', line)
        if m:
            body = m.group(2)
            srcs = re.findall(r'"([^"]+)"', re.search(r'sources = \[([^\]]*)\]', body).group(1))
            tm = re.search(r'transforms = \[([^\]]*)\]', body)
            decls[m.group(1)] = (srcs, re.findall(r'"([^"]+)"', tm.group(1)) if tm else [])
            continue
        m = re.match(r'(%\w+) = ingot\.weight @([\w.]+) :', line)
        if m:
            ops.append(("weight", m.group(1), [m.group(2)], {}))
            continue
        m = re.match(r'(%\w+) = ingot\.(\w+) ([^{:]*?)\s*(\{[^}]*\})? : ', line)
        if m:
            operands = [o.strip() for o in m.group(3).split(",")]
            ops.append((m.group(2), m.group(1), operands, parse_attrs((m.group(4) or "")[1:-1])))
            continue
        m = re.match(r'return (%\w+)', line)
        if m:
            ops.append(("return", None, [m.group(1)], {}))
    return decls, ops


# --- ops --------------------------------------------------------------------
def rms_norm(x, w, eps, group=0):
    if group:
        shp = x.shape
        x = x.reshape(shp[0], -1, group)
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w
        return y.reshape(shp)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def inv_freq(a):
    rd, theta = a["rotary_dim"], a["theta"]
    inv = 1.0 / theta ** (np.arange(0, rd, 2, dtype=np.float64) / rd)
    sc = a.get("scaling", "none")
    f = a.get("factor", 1.0)
    if sc == "linear":
        inv = inv / f
    elif sc == "llama3":
        lo, hi = a.get("low_freq_factor", 1.0), a.get("high_freq_factor", 4.0)
        old = a.get("original_max_position", 8192)
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        out = np.where(wl > lo_wl, inv / f, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / f + smooth * out
        mid = ~(wl < hi_wl) & ~(wl > lo_wl)
        inv = np.where(mid, smoothed, out)
    return inv


def rope(x, pos, a):
    hd, rd = a["head_dim"], a["rotary_dim"]
    ang = pos[:, None].astype(np.float64) * inv_freq(a)[None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    y = x.reshape(x.shape[0], -1, hd).astype(np.float64).copy()
    half = rd // 2
    if a.get("style", "half") == "half":
        x1, x2 = y[..., :half].copy(), y[..., half:rd].copy()
        y[..., :half] = x1 * cos[:, None] - x2 * sin[:, None]
        y[..., half:rd] = x2 * cos[:, None] + x1 * sin[:, None]
    else:
        x1, x2 = y[..., 0:rd:2].copy(), y[..., 1:rd:2].copy()
        y[..., 0:rd:2] = x1 * cos[:, None] - x2 * sin[:, None]
        y[..., 1:rd:2] = x2 * cos[:, None] + x1 * sin[:, None]
    return y.reshape(x.shape).astype(np.float32)


def attention(q, k, v, a):
    T = q.shape[0]
    nh, nkv, hd = a["num_heads"], a["num_kv_heads"], a["head_dim"]
    q = q.reshape(T, nh, hd)
    k = np.repeat(k.reshape(T, nkv, hd), nh // nkv, axis=1)
    v = np.repeat(v.reshape(T, nkv, hd), nh // nkv, axis=1)
    s = np.einsum("qhd,khd->hqk", q, k) * a["scale"]
    qi, ki = np.arange(T)[:, None], np.arange(T)[None, :]
    mask = ki <= qi
    if a.get("sliding_window", 0):
        mask &= ki > qi - a["sliding_window"]
    s = np.where(mask[None], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, v).reshape(T, nh * hd)


def silu(x):
    return x / (1 + np.exp(-x))


def gelu(x, approx):
    if approx == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def moe(x, router, gate, up, down, a):
    logits = x @ router.T
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        top = np.argsort(-p[t], kind="stable")[: a["top_k"]]
        w = p[t, top]
        if a.get("normalize_topk", True):
            w = w / w.sum()
        for e, we in zip(top, w):
            h = silu(gate[e] @ x[t]) * (up[e] @ x[t])
            out[t] += we * (down[e] @ h)
    return out


def run(decls, ops, ckpt, ids):
    tokens = np.array(ids, dtype=np.int64)
    env = {"%arg0": tokens, "%arg1": np.arange(len(ids)), "%arg2": None}
    for kind, res, xs, a in ops:
        v = [env.get(o) for o in xs]
        if kind == "weight":
            out = materialize(ckpt, *decls[xs[0]])
        elif kind == "embedding":
            out = v[0][v[1]]
        elif kind == "linear":
            out = v[0] @ v[1].T + (v[2] if len(v) > 2 else 0)
        elif kind == "rms_norm":
            out = rms_norm(v[0], v[1], a["epsilon"], a.get("group_size", 0))
        elif kind == "layer_norm":
            mu = v[0].mean(-1, keepdims=True)
            var = ((v[0] - mu) ** 2).mean(-1, keepdims=True)
            out = (v[0] - mu) / np.sqrt(var + a["epsilon"]) * v[1] + v[2]
        elif kind == "rope":
            out = rope(v[0], v[1], a)
        elif kind == "attention":
            out = attention(v[0], v[1], v[2], a)
        elif kind == "silu":
            out = silu(v[0])
        elif kind == "relu":
            out = np.maximum(v[0], 0)
        elif kind == "gelu":
            out = gelu(v[0], a.get("approximate", "none"))
        elif kind in ("add", "sub", "mul", "div"):
            out = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                   "div": np.divide}[kind](v[0], v[1])
        elif kind == "scale":
            out = v[0] * a["factor"]
        elif kind == "softmax":
            e = np.exp(v[0] - v[0].max(-1, keepdims=True))
            out = e / e.sum(-1, keepdims=True)
        elif kind == "moe":
            out = moe(*v[:5], a)
        elif kind == "logits":
            out = v[0] @ v[1].T  # every position, to compare with the reference
        elif kind == "return":
            return v[0]
        else:
            raise ValueError("unknown op " + kind)
        env[res] = out.astype(np.float32) if out.dtype != np.float32 else out
    raise ValueError("no return")


def check(ingot_dsl, fixture):
    family = FAMILIES[fixture]
    d = os.path.join(FIXTURES, fixture)
    text = subprocess.run([ingot_dsl, os.path.join(ROOT, "models", family + ".ingot"), d],
                          check=True, capture_output=True, text=True).stdout
    decls, ops = parse_module(text)
    ckpt = Checkpoint(d)
    ref = json.load(open(os.path.join(d, "reference.json")))
    refs = load_file(os.path.join(d, ref["logits"]))
    worst = 0.0
    for i, prompt in enumerate(ref["prompts"]):
        got = run(decls, ops, ckpt, prompt["ids"])
        want = refs["logits.%d" % i]
        err = np.abs(got - want).max() / (np.abs(want).max() + 1e-6)
        worst = max(worst, err)
        # Greedy argmax must agree wherever the reference is decisive.
        top2 = np.sort(want, -1)[:, -2:]
        decisive = (top2[:, 1] - top2[:, 0]) > 1e-3
        assert (got.argmax(-1) == want.argmax(-1))[decisive].all(), \
            "%s prompt %d: argmax differs" % (fixture, i)
    assert worst < 2e-3, "%s: max relative logits error %.2e" % (fixture, worst)
    return worst


def test_models():
    ingot_dsl = os.path.join(os.environ["INGOT_BIN"], "ingot-dsl")
    for f in FAMILIES:
        if os.path.isdir(os.path.join(FIXTURES, f)):
            check(ingot_dsl, f)


if __name__ == "__main__":
    fixtures = sys.argv[2:] or [f for f in FAMILIES if os.path.isdir(os.path.join(FIXTURES, f))]
    failed = False
    for f in fixtures:
        try:
            print("%-14s ok (max relative error %.2e)" % (f, check(sys.argv[1], f)))
        except AssertionError as e:
            failed = True
            print("%-14s FAILED: %s" % (f, e))
    sys.exit(1 if failed else 0)
