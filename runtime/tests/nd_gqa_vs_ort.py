#!/usr/bin/env python3
"""Compares Ingot's com.microsoft GroupQueryAttention kernel with onnxruntime's CPU kernel.

Each case is a one-node model run in onnxruntime (CPU, graph optimizations off) and through
`ingot_nd_run` (the harness of nd_contrib_vs_ort.py); output, present_key and present_value are
compared (f32: rtol 1e-4, atol 1e-5; f16: rtol 5e-3, atol 2e-3). The cases cover prefill from an
empty past, decode with a past, batches whose rows have different seqlens_k (right-padded
prompts, ragged decode), static (shared) cache buffers longer than the total length, a later
prompt chunk on top of a past, MQA/GQA/MHA head groupings, rotary (half/interleaved, partial
rotary dim, position_ids), local windows, softcap, scale, head_sink, smooth_softmax,
attention_bias, causal=0, packed QKV, head sizes that are not powers of two, and float16.

Head sizes are multiples of 8 (of 16 with rotary) because onnxruntime's CPU kernel requires it;
Ingot's kernel does not (runtime/tests/test_nd_attention.cpp covers other sizes).

Usage: python runtime/tests/nd_gqa_vs_ort.py --tool build/bin/ingot_nd_run [-k substr] [-v]
Exit status 1 when any case fails or onnxruntime cannot run a case (every case here is one it
runs, so a skip means the test setup is wrong).
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nd_contrib_vs_ort import Case, compare, run_ingot, run_ort  # noqa: E402

MS = "com.microsoft"
rng = np.random.default_rng(4321)
# Input positions of the op (onnxruntime 1.32 schema).
SLOTS = ["query", "key", "value", "past_key", "past_value", "seqlens_k", "total_sequence_length",
         "cos_cache", "sin_cache", "position_ids", "attention_bias", "head_sink"]


def gqa_case(name, B, S, Hq, Hkv, D, seqlens, total, P=None, dt="float32", packed=False, rotary=None,
             interleaved=0, pos_ids=False, bias_shape=None, sink=False, outputs=3, do_rotary=1, **attrs):
    """P=None: no past inputs; rotary: rotary_dim/2 (the cos/sin cache width) or None;
    do_rotary=0 with rotary: caches given but not used."""
    f = {}
    q, k, v = (rng.standard_normal((B, S, h * D)).astype(dt) for h in (Hq, Hkv, Hkv))
    if packed:
        f["query"] = np.concatenate([q, k, v], axis=2)
    else:
        f.update(query=q, key=k, value=v)
    if P is not None:
        f["past_key"] = rng.standard_normal((B, Hkv, P, D)).astype(dt)
        f["past_value"] = rng.standard_normal((B, Hkv, P, D)).astype(dt)
    f["seqlens_k"] = np.array(seqlens, np.int32)
    f["total_sequence_length"] = np.array(total, np.int32)
    a = dict(num_heads=Hq, kv_num_heads=Hkv, **attrs)
    if rotary:
        max_pos = max(total, P or 0) + 8
        ang = rng.uniform(0, 2 * np.pi, (max_pos, rotary))
        f["cos_cache"], f["sin_cache"] = np.cos(ang).astype(dt), np.sin(ang).astype(dt)
        a.update(do_rotary=do_rotary, rotary_interleaved=interleaved)
        if pos_ids:
            f["position_ids"] = rng.integers(0, max_pos - S, (B, S)).astype(np.int64)
    if bias_shape:
        f["attention_bias"] = rng.standard_normal(bias_shape).astype(dt)
    if sink:
        f["head_sink"] = rng.standard_normal((Hq,)).astype(dt)
    inputs = [f.get(n) for n in SLOTS]
    while inputs[-1] is None:
        inputs.pop()
    outs = ["output", "present_key", "present_value"][:outputs]
    return Case(name, "GroupQueryAttention", inputs, outs, a, domain=MS)


def cases():
    cs = []
    G = gqa_case
    # Prefill from an empty past: no past inputs, and zero-length past tensors.
    cs.append(G("prefill_nopast", 1, 7, 4, 2, 16, [6], 7))
    cs.append(G("prefill_p0", 2, 5, 4, 2, 16, [4, 4], 5, P=0))
    # Decode with a past (dynamic cache: total = P + 1).
    cs.append(G("decode_p6", 1, 1, 4, 2, 16, [6], 7, P=6))
    cs.append(G("decode_b2_ragged", 2, 1, 4, 2, 16, [8, 3], 9, P=8))
    cs.append(G("decode_b3_ragged", 3, 1, 6, 3, 8, [4, 0, 2], 5, P=4))
    # Right-padded prompts: rows with fewer valid tokens than S.
    cs.append(G("prefill_b2_rightpad", 2, 6, 4, 2, 16, [5, 2], 6, P=0))
    cs.append(G("prefill_b3_rightpad_window", 3, 6, 4, 2, 16, [5, 2, 0], 6, local_window_size=2))
    # Static (shared) buffers: past/present of max length 16 > total.
    cs.append(G("decode_static_buffer", 2, 1, 4, 2, 16, [6, 3], 7, P=16))
    cs.append(G("prefill_static_buffer", 2, 5, 4, 2, 16, [4, 2], 5, P=16))
    # A later prompt chunk on top of a past (onnxruntime allows batch 1 only).
    cs.append(G("chunk_after_past", 1, 3, 4, 2, 16, [7], 8, P=5))
    cs.append(G("chunk_after_past_static", 1, 3, 4, 2, 16, [7], 8, P=12))
    # Head groupings: MQA, GQA 4:2 and 8:2, MHA.
    for Hq, Hkv in ((4, 1), (4, 2), (8, 2), (3, 3)):
        cs.append(G(f"prefill_h{Hq}_kv{Hkv}", 2, 5, Hq, Hkv, 8, [4, 3], 5, P=0))
        cs.append(G(f"decode_h{Hq}_kv{Hkv}", 2, 1, Hq, Hkv, 8, [5, 2], 6, P=5))
    # Head sizes that are not powers of two.
    cs.append(G("prefill_d24", 2, 6, 4, 2, 24, [5, 4], 6, P=0))
    cs.append(G("decode_d40", 2, 1, 2, 1, 40, [3, 1], 4, P=3))
    # Rotary: half / interleaved, partial rotary dim, decode, ragged batch, head size 48.
    for inter in (0, 1):
        cs.append(G(f"rotary_prefill_i{inter}", 1, 6, 4, 2, 16, [5], 6, P=0, rotary=8, interleaved=inter))
        cs.append(G(f"rotary_decode_b2_i{inter}", 2, 1, 4, 2, 16, [6, 2], 7, P=6, rotary=8,
                    interleaved=inter))
        cs.append(G(f"rotary_partial_i{inter}", 2, 5, 4, 1, 32, [4, 2], 5, P=0, rotary=8, interleaved=inter))
    cs.append(G("rotary_d48_rightpad", 2, 6, 4, 2, 48, [5, 3], 6, P=0, rotary=24))
    cs.append(G("rotary_chunk_after_past", 1, 3, 4, 2, 16, [6], 7, P=4, rotary=8))
    cs.append(G("rotary_static_buffer", 2, 1, 4, 2, 16, [9, 4], 10, P=16, rotary=8))
    cs.append(G("rotary_posids_decode", 2, 1, 4, 2, 16, [6, 2], 7, P=6, rotary=8, pos_ids=True))
    cs.append(G("rotary_posids_prefill", 2, 5, 4, 2, 16, [4, 4], 5, P=0, rotary=8, pos_ids=True))
    cs.append(G("caches_without_do_rotary", 2, 5, 4, 2, 16, [4, 2], 5, P=0, rotary=8, pos_ids=True,
                do_rotary=0))
    # Local windows.
    cs.append(G("window3_prefill", 1, 9, 4, 2, 16, [8], 9, P=0, local_window_size=3))
    cs.append(G("window4_decode_b2", 2, 1, 4, 2, 16, [9, 3], 10, P=9, local_window_size=4))
    cs.append(G("window1_prefill", 1, 5, 2, 1, 8, [4], 5, local_window_size=1))
    cs.append(G("window0_prefill", 1, 4, 2, 1, 8, [3], 4, local_window_size=0))
    cs.append(G("window2_rotary_static", 2, 1, 4, 2, 16, [7, 5], 8, P=12, rotary=8, local_window_size=2))
    # Score transforms.
    cs.append(G("scale_softcap", 2, 6, 4, 2, 16, [5, 3], 6, P=0, scale=0.3, softcap=2.0))
    cs.append(G("softcap_decode", 2, 1, 4, 2, 16, [4, 2], 5, P=4, softcap=0.7))
    cs.append(G("head_sink_prefill", 2, 5, 4, 2, 8, [4, 2], 5, P=0, sink=True))
    cs.append(G("head_sink_window_decode", 2, 1, 4, 2, 8, [6, 1], 7, P=6, sink=True, local_window_size=3))
    cs.append(G("smooth_softmax", 2, 5, 4, 2, 8, [4, 3], 5, P=0, smooth_softmax=1))
    for bs in ((2, 4, 5, 5), (1, 4, 5, 5), (2, 1, 5, 5), (1, 1, 5, 5)):
        cs.append(G("bias_" + "x".join(map(str, bs)), 2, 5, 4, 2, 8, [4, 2], 5, P=0, bias_shape=bs))
    cs.append(G("bias_softcap_decode", 2, 1, 4, 2, 8, [6, 3], 7, P=6, bias_shape=(2, 4, 1, 7), softcap=1.1))
    cs.append(G("noncausal_prefill", 2, 5, 4, 2, 8, [4, 2], 5, P=0, causal=0))
    cs.append(G("noncausal_decode", 2, 1, 4, 2, 8, [4, 2], 5, P=4, causal=0))
    # Packed QKV.
    cs.append(G("packed_prefill", 2, 5, 4, 2, 16, [4, 3], 5, P=0, packed=True))
    cs.append(G("packed_rotary_decode", 2, 1, 4, 2, 16, [5, 2], 6, P=5, packed=True, rotary=8))
    cs.append(G("packed_rotary_prefill_i1", 1, 6, 4, 1, 16, [5], 6, packed=True, rotary=8, interleaved=1))
    # Only the attention output requested.
    # (Only prefill: without present outputs onnxruntime 1.32 attends to the new tokens alone and
    # reads past the end of them when there is a past; Ingot always attends to past + new.)
    cs.append(G("output_only_prefill", 2, 5, 4, 2, 16, [4, 2], 5, outputs=1))
    # Big enough for the multi-threaded path.
    cs.append(G("big_rotary_rightpad", 2, 64, 8, 2, 32, [63, 40], 64, P=0, rotary=16, local_window_size=20))
    cs.append(G("big_decode_static", 4, 1, 8, 2, 32, [200, 17, 0, 99], 201, P=256, rotary=16))
    # float16.
    cs.append(G("f16_prefill", 2, 6, 4, 2, 16, [5, 3], 6, P=0, dt="float16"))
    cs.append(G("f16_rotary_decode", 2, 1, 4, 2, 16, [6, 2], 7, P=6, dt="float16", rotary=8))
    cs.append(G("f16_window_static", 1, 1, 4, 1, 32, [9], 10, P=16, dt="float16", local_window_size=4))
    return cs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if a.k and a.k not in case.name:
                continue
            model, node, in_names = case.model()
            feeds = {n: x for n, x in zip(in_names, case.inputs) if n}
            try:
                want = run_ort(model, feeds)
            except Exception as e:
                failed += 1
                print(f"FAIL {case.name}: onnxruntime refused it: {str(e).splitlines()[0][:200]}")
                continue
            try:
                got = run_ingot(a.tool, case, node, tmp)
                errs = [f"output {n}: {e}" for n, g, w in zip(case.outputs, got, want) if (e := compare(g, w))]
            except Exception as e:
                errs = [str(e)]
            if errs:
                failed += 1
                print(f"FAIL {case.name}: " + "; ".join(errs))
            else:
                passed += 1
                if a.v:
                    print(f"ok   {case.name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
