#!/usr/bin/env python3
"""Runs ONNX's backend node tests against Ingot's N-d kernels, one kernel at a time.

For every test directory under --data whose graph is a single node (optionally filtered by
--ops / -k), the node's inputs (from test_data_set_*/input_*.pb) and attributes are handed to
`ingot_nd_run`, and its outputs are compared with ONNX's expected output_*.pb: rtol 1e-3 and
atol 1e-7 for floating point (as ONNX's own runner), exact for integers and bools, NaN == NaN.
This checks the kernels without the compiler; scripts/onnx_conformance.py checks the whole
path (ingotc + ingot exec).

Usage: python scripts/dev/nd_node_tests.py --tool build/bin/ingot_nd_run [--ops Add,Mul] [-k substr] [-v]
Exit status 1 when any selected test fails.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ingot_st import read_st, write_st  # noqa: E402
import onnx
from onnx import helper, numpy_helper

DATA = "/usr/share/libonnx-testdata/data/node"

# numpy dtype -> safetensors dtype
ST = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("float64"): "F64",
      np.dtype("int8"): "I8", np.dtype("int16"): "I16", np.dtype("int32"): "I32",
      np.dtype("int64"): "I64", np.dtype("uint8"): "U8", np.dtype("uint16"): "U16",
      np.dtype("uint32"): "U32", np.dtype("uint64"): "U64", np.dtype("bool"): "BOOL"}
NP = {v: k for k, v in ST.items()}


def to_numpy(t):
    """TensorProto -> (st dtype, numpy array of the raw element bytes' type)."""
    if t.data_type == onnx.TensorProto.BFLOAT16:
        a = numpy_helper.to_array(t)
        return "BF16", np.require(a, requirements="C").view(np.uint16)
    a = numpy_helper.to_array(t)
    if a.dtype not in ST:
        raise ValueError(f"unsupported element type {a.dtype}")
    return ST[a.dtype], a


def attr_json(node, tensors):
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if a.type == onnx.AttributeProto.INT:
            out[a.name] = {"kind": "int", "value": int(v)}
        elif a.type == onnx.AttributeProto.FLOAT:
            out[a.name] = {"kind": "float", "value": float(v)}
        elif a.type == onnx.AttributeProto.STRING:
            out[a.name] = {"kind": "string", "value": v.decode()}
        elif a.type == onnx.AttributeProto.INTS:
            out[a.name] = {"kind": "ints", "value": [int(x) for x in v]}
        elif a.type == onnx.AttributeProto.FLOATS:
            out[a.name] = {"kind": "floats", "value": [float(x) for x in v]}
        elif a.type == onnx.AttributeProto.STRINGS:
            out[a.name] = {"kind": "strings", "value": [x.decode() for x in v]}
        elif a.type == onnx.AttributeProto.TENSOR:
            key = "attr:" + a.name
            tensors[key] = to_numpy(v)
            out[a.name] = {"kind": "tensor", "value": key}
        else:
            raise ValueError(f"attribute {a.name} of type {a.type} is not supported")
    return out


def compare(name, got, want):
    gdt, g = got
    wdt, w = want
    if gdt != wdt:
        return f"{name}: dtype {gdt}, expected {wdt}"
    if tuple(g.shape) != tuple(w.shape):
        return f"{name}: shape {list(g.shape)}, expected {list(w.shape)}"
    if wdt == "BF16":
        g = (g.astype(np.uint32) << 16).view(np.float32)
        w = (w.astype(np.uint32) << 16).view(np.float32)
    if g.dtype.kind == "f" or wdt == "BF16":
        try:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3, atol=1e-7,
                                       equal_nan=True)
        except AssertionError as e:
            return f"{name}: {str(e).strip().splitlines()[-3:]}"
    elif not np.array_equal(g, w):
        bad = np.argwhere(g != w)
        return f"{name}: {len(bad)} elements differ, first at {bad[0].tolist()}: {g[tuple(bad[0])]} vs {w[tuple(bad[0])]}"
    return None


def run_test(tool, d, tmp):
    m = onnx.load(os.path.join(d, "model.onnx"))
    node = m.graph.node[0]
    inputs = [i.name for i in m.graph.input]
    outputs = [o.name for o in m.graph.output]
    sets = sorted(x for x in os.listdir(d) if x.startswith("test_data_set_"))
    for s in sets:
        sd = os.path.join(d, s)
        feed = {}
        for i, name in enumerate(inputs):
            p = os.path.join(sd, f"input_{i}.pb")
            if os.path.exists(p):
                feed[name] = to_numpy(onnx.load_tensor(p))
        tensors = {}
        for j, name in enumerate(node.input):
            if name:
                if name not in feed:
                    return f"{s}: node input {name} has no data (initializer?)"
                tensors[f"input_{j}"] = feed[name]
        attrs = attr_json(node, tensors)
        ip, op, ap = (os.path.join(tmp, n) for n in ("in.st", "out.st", "attrs.json"))
        write_st(ip, tensors)
        with open(ap, "w") as f:
            json.dump(attrs, f)
        cmd = [tool, "--op", node.op_type, "--inputs", ip, "--outputs", op, "--attrs", ap,
               "--num-inputs", str(len(node.input)), "--num-outputs", str(len(node.output))]
        if node.domain not in ("", "ai.onnx"):
            cmd += ["--domain", node.domain]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return f"{s}: {r.stderr.strip()}"
        got = read_st(op)
        for k, name in enumerate(outputs):
            want = to_numpy(onnx.load_tensor(os.path.join(sd, f"output_{k}.pb")))
            j = list(node.output).index(name)
            err = compare(name, got[f"output_{j}"], want)
            if err:
                return f"{s}: {err}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--ops", default="", help="comma-separated op types (default: all single-node tests)")
    ap.add_argument("-k", default="", help="only test directories containing this")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    ops = set(filter(None, a.ops.split(",")))
    results, skipped = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for t in sorted(os.listdir(a.data)):
            if a.k and a.k not in t:
                continue
            d = os.path.join(a.data, t)
            m = onnx.load(os.path.join(d, "model.onnx"))
            if len(m.graph.node) != 1:
                continue
            op = m.graph.node[0].op_type
            if ops and op not in ops:
                continue
            # Sequence/optional/map values are outside the runtime's tensor model: such tests
            # are listed as skipped, not counted as kernel failures.
            if any(not v.type.HasField("tensor_type") for v in list(m.graph.input) + list(m.graph.output)):
                skipped.append(t)
                if a.v:
                    print(f"skip {t}: non-tensor (sequence/optional) graph value")
                continue
            try:
                err = run_test(a.tool, d, tmp)
            except Exception as e:  # a test we cannot even feed
                err = f"driver: {e}"
            results.setdefault(op, []).append((t, err))
            if a.v or err:
                print(f"{'FAIL' if err else 'ok  '} {t}" + (f": {err}" if err else ""))
    total = sum(len(v) for v in results.values())
    passed = sum(1 for v in results.values() for _, e in v if e is None)
    full = [op for op, v in results.items() if all(e is None for _, e in v)]
    print(f"{passed}/{total} tests passed; ops passing all their tests: {len(full)}/{len(results)}"
          + (f"; {len(skipped)} skipped (non-tensor values)" if skipped else ""))
    for op in sorted(results):
        v = results[op]
        n = sum(1 for _, e in v if e is None)
        if a.v or n != len(v):
            print(f"  {op}: {n}/{len(v)}")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
