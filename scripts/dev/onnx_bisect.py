#!/usr/bin/env python3
"""Finds the first node of an ONNX graph where Ingot's N-d kernel disagrees with onnxruntime.

Runs the model in onnxruntime with every intermediate value exposed, then replays each node alone
through `ingot_nd_run` on onnxruntime's own inputs and compares the outputs (rtol/atol 1e-4).
Feeds are read from a safetensors file named by graph input. A debugging aid for the general path.
Usage: onnx_bisect.py MODEL.onnx FEEDS.safetensors --tool build/bin/ingot_nd_run [--all]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

sys.path.insert(0, os.path.dirname(__file__))
from nd_node_tests import attr_json, read_st, to_numpy, write_st  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("feeds")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--all", action="store_true", help="report every mismatching node, not just the first")
    a = ap.parse_args()
    m = onnx.load(a.model)
    feeds = {k: v for k, (_, v) in read_st(a.feeds).items()}
    inits = {i.name for i in m.graph.initializer}
    names = [o for n in m.graph.node for o in n.output if o]
    mm = onnx.ModelProto()
    mm.CopyFrom(m)
    del mm.graph.output[:]
    for nm in names:
        mm.graph.output.append(helper.make_empty_tensor_value_info(nm))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(mm.SerializeToString(), so, providers=["CPUExecutionProvider"])
    vals = dict(zip(names, sess.run(names, feeds)))
    vals.update(feeds)
    for i in m.graph.initializer:
        vals[i.name] = onnx.numpy_helper.to_array(i)
    st = {np.dtype(k): v for k, v in [("float32", "F32"), ("float64", "F64"), ("int64", "I64"), ("int32", "I32"),
                                        ("bool", "BOOL"), ("uint8", "U8"), ("int8", "I8"), ("float16", "F16")]}
    with tempfile.TemporaryDirectory() as tmp:
        for k, n in enumerate(m.graph.node):
            tensors = {}
            for j, nm in enumerate(n.input):
                if nm:
                    v = np.asarray(vals[nm])
                    tensors[f"input_{j}"] = (st[v.dtype], v)
            attrs = attr_json(n, tensors)
            ip, op, apth = (os.path.join(tmp, x) for x in ("i.st", "o.st", "a.json"))
            write_st(ip, tensors)
            json.dump(attrs, open(apth, "w"))
            cmd = [a.tool, "--op", n.op_type, "--inputs", ip, "--outputs", op, "--attrs", apth,
                   "--num-inputs", str(len(n.input)), "--num-outputs", str(len(n.output))]
            if n.domain not in ("", "ai.onnx"):
                cmd += ["--domain", n.domain]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                print(f"#{k} {n.op_type} {n.name}: {r.stderr.strip()}")
                if not a.all:
                    return 1
                continue
            got = read_st(op)
            for j, nm in enumerate(n.output):
                if not nm:
                    continue
                g = got[f"output_{j}"][1]
                w = np.asarray(vals[nm])
                bad = g.shape != w.shape or not np.allclose(g.astype(np.float64), w.astype(np.float64),
                                                            rtol=1e-4, atol=1e-4, equal_nan=True)
                if bad:
                    diff = "shape" if g.shape != w.shape else np.abs(g.astype(np.float64) - w).max()
                    print(f"#{k} {n.op_type} {n.name} output {j}: mismatch ({diff}); shapes {g.shape} vs {w.shape}")
                    if not a.all:
                        return 1
    print("all nodes agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
