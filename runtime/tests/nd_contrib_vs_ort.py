#!/usr/bin/env python3
"""Compares Ingot's N-d kernels with onnxruntime on single-node models.

ONNX's node tests (scripts/dev/nd_node_tests.py) have nothing for the com.microsoft ops
(SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization, SkipLayerNormalization,
FastGelu, BiasGelu, QuickGelu, RotaryEmbedding), and they use mostly float32. Here each case
builds a one-node model with onnx.helper, runs it in onnxruntime (CPU, graph optimizations
off) and through `ingot_nd_run`, and compares every output the node names: exact for
integers/bools, rtol/atol by dtype for floats. A second group of cases runs ONNX-domain ops
(MatMul, Gemm, Gather, Pad, Slice, ...) at dtypes and shapes the node tests do not cover.

Usage: python runtime/tests/nd_contrib_vs_ort.py --tool build/bin/ingot_nd_run [-k substr] [-v]
Exit status 1 when any case fails. A case onnxruntime itself cannot run (a dtype its CPU
kernel lacks) is reported as skipped, not passed.
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
from onnx import TensorProto, helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "dev"))
from nd_node_tests import attr_json, read_st, write_st, ST  # noqa: E402

NP2ONNX = {np.dtype(k): v for k, v in {
    "float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "float64": TensorProto.DOUBLE,
    "int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32,
    "int64": TensorProto.INT64, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "bool": TensorProto.BOOL}.items()}
TOL = {np.dtype("float32"): (1e-4, 1e-5), np.dtype("float64"): (1e-9, 1e-12),
       np.dtype("float16"): (5e-3, 2e-3)}

rng = np.random.default_rng(1234)


def rnd(shape, dt="float32", lo=-2.0, hi=2.0):
    dt = np.dtype(dt)
    if dt.kind == "f":
        return rng.uniform(lo, hi, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dt)


class Case:
    def __init__(self, name, op, inputs, outputs, attrs=None, domain="", opset=17, int_const=()):
        self.name, self.op, self.inputs, self.outputs = name, op, inputs, outputs
        self.attrs, self.domain, self.opset = attrs or {}, domain, opset

    def model(self):
        in_names = [f"in{i}" if a is not None else "" for i, a in enumerate(self.inputs)]
        while in_names and in_names[-1] == "":
            in_names.pop()
        node = helper.make_node(self.op, in_names, self.outputs, domain=self.domain or None, **self.attrs)
        g_in = [helper.make_tensor_value_info(n, NP2ONNX[a.dtype], list(a.shape))
                for n, a in zip(in_names, self.inputs) if n]
        g_out = [onnx.ValueInfoProto(name=n) for n in self.outputs if n]  # types: inferred
        graph = helper.make_graph([node], self.name, g_in, g_out)
        ops = [helper.make_opsetid("", self.opset)]
        if self.domain:
            ops.append(helper.make_opsetid(self.domain, 1))
        return helper.make_model(graph, opset_imports=ops, ir_version=10), node, in_names


def run_ort(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_ingot(tool, case, node, tmp):
    tensors = {f"input_{i}": (ST[a.dtype], a) for i, a in enumerate(case.inputs) if a is not None}
    attrs = attr_json(node, tensors)
    ip, op, ap = (os.path.join(tmp, n) for n in ("in.st", "out.st", "attrs.json"))
    write_st(ip, tensors)
    with open(ap, "w") as f:
        json.dump(attrs, f)
    cmd = [tool, "--op", case.op, "--inputs", ip, "--outputs", op, "--attrs", ap,
           "--num-inputs", str(len(node.input)), "--num-outputs", str(len(case.outputs))]
    if case.domain:
        cmd += ["--domain", case.domain]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    got = read_st(op)
    return [got[f"output_{j}"][1] for j, n in enumerate(case.outputs) if n]


def compare(got, want):
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, onnxruntime {want.dtype}"
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, onnxruntime {list(want.shape)}"
    if want.dtype.kind == "f":
        rtol, atol = TOL[want.dtype]
        g, w = got.astype(np.float64), want.astype(np.float64)
        if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(g - w)
            i = np.unravel_index(np.argmax(err - rtol * np.abs(w)), w.shape)
            return f"max abs err {err.max():.3g}; at {list(i)}: {g[i]} vs {w[i]}"
        return None
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        return f"{len(bad)} elements differ, first at {bad[0].tolist()}"
    return None


def contrib_cases():
    ms = "com.microsoft"
    cs = []
    for shape, dt in (((2, 5, 16), "float32"), ((3, 8), "float32"), ((2, 3, 64), "float16")):
        x, g = rnd(shape, dt), rnd(shape[-1:], dt)
        cs.append(Case(f"simplified_ln_{'x'.join(map(str, shape))}_{dt}", "SimplifiedLayerNormalization",
                       [x, g], ["y", "inv"], {"axis": -1, "epsilon": 1e-6}))
    x, g = rnd((2, 3, 4, 6)), rnd((4, 6))
    cs.append(Case("simplified_ln_axis2", "SimplifiedLayerNormalization", [x, g], ["y"], {"axis": 2}))
    for bias in (False, True):
        for skip_shape in ((2, 5, 32), (1, 5, 32), (5, 32)):
            x, s, g, b = rnd((2, 5, 32)), rnd(skip_shape), rnd((32,)), rnd((32,))
            tag = f"bias{int(bias)}_skip{'x'.join(map(str, skip_shape))}"
            cs.append(Case(f"skip_simplified_ln_{tag}", "SkipSimplifiedLayerNormalization",
                           [x, s, g] + ([b] if bias else []), ["y", "", "", "sum"],
                           {"epsilon": 1e-6}, domain=ms))
            cs.append(Case(f"skip_ln_{tag}", "SkipLayerNormalization",
                           [x, s, g, rnd((32,))] + ([b] if bias else []), ["y", "", "", "sum"],
                           {"epsilon": 1e-5}, domain=ms))
    x, s, g = rnd((3, 7, 64), "float16"), rnd((3, 7, 64), "float16"), rnd((64,), "float16")
    cs.append(Case("skip_simplified_ln_f16", "SkipSimplifiedLayerNormalization", [x, s, g], ["y"],
                   {"epsilon": 1e-6}, domain=ms))
    cs.append(Case("skip_ln_nobeta_y_only", "SkipLayerNormalization",
                   [rnd((2, 4, 16)), rnd((2, 4, 16)), rnd((16,))], ["y"], domain=ms))
    for dt in ("float32", "float16"):
        x = rnd((2, 5, 24), dt, -4, 4)
        cs.append(Case(f"fast_gelu_{dt}", "FastGelu", [x], ["y"], domain=ms))
        cs.append(Case(f"fast_gelu_bias_{dt}", "FastGelu", [x, rnd((24,), dt)], ["y"], domain=ms))
    cs.append(Case("bias_gelu", "BiasGelu", [rnd((3, 4, 40), lo=-4, hi=4), rnd((40,))], ["y"], domain=ms))
    cs.append(Case("quick_gelu_default", "QuickGelu", [rnd((4, 33), lo=-6, hi=6)], ["y"], domain=ms))
    cs.append(Case("quick_gelu_alpha", "QuickGelu", [rnd((4, 33), lo=-6, hi=6)], ["y"], {"alpha": 1.3},
                   domain=ms))
    # RotaryEmbedding: caches [max_pos, rd/2].
    B, S, N, H, maxpos = 2, 5, 3, 8, 16
    for rd in (0, 4):
        half = (rd or H) // 2
        cos, sin = rnd((maxpos, half), lo=-1, hi=1), rnd((maxpos, half), lo=-1, hi=1)
        for inter in (0, 1):
            attrs = {"interleaved": inter}
            if rd:
                attrs.update(rotary_embedding_dim=rd, num_heads=N)
            tag = f"rd{rd}_inter{inter}"
            pos = rng.integers(0, maxpos, size=(B, S)).astype(np.int64)
            cs.append(Case(f"rotary_3d_{tag}", "RotaryEmbedding", [rnd((B, S, N * H)), pos, cos, sin],
                           ["y"], attrs, domain=ms))
            cs.append(Case(f"rotary_3d_scalarpos_{tag}", "RotaryEmbedding",
                           [rnd((B, S, N * H)), np.array([3], np.int64), cos, sin], ["y"], attrs, domain=ms))
            cs.append(Case(f"rotary_4d_{tag}", "RotaryEmbedding", [rnd((B, N, S, H)), pos, cos, sin],
                           ["y"], attrs, domain=ms))
    cos, sin = rnd((maxpos, 4), lo=-1, hi=1), rnd((maxpos, 4), lo=-1, hi=1)
    cs.append(Case("rotary_3d_numheads", "RotaryEmbedding",
                   [rnd((B, S, 2 * 8)), rng.integers(0, maxpos, (B, S)).astype(np.int64), cos, sin], ["y"],
                   {"num_heads": 2}, domain=ms))
    return cs


def onnx_cases():
    cs = []
    # MatMul: dtypes, broadcasting, 1-D operands, a size that runs multi-threaded.
    for dt in ("float32", "float16", "float64", "int32", "int64", "uint32", "uint64"):
        cs.append(Case(f"matmul_bcast_{dt}", "MatMul", [rnd((2, 1, 3, 4), dt), rnd((5, 4, 6), dt)], ["y"]))
    cs.append(Case("matmul_vec_left", "MatMul", [rnd((7,)), rnd((3, 7, 5))], ["y"]))
    cs.append(Case("matmul_vec_right", "MatMul", [rnd((2, 3, 7)), rnd((7,))], ["y"]))
    cs.append(Case("matmul_vec_vec", "MatMul", [rnd((9,)), rnd((9,))], ["y"]))
    cs.append(Case("matmul_big", "MatMul", [rnd((3, 64, 256)), rnd((256, 300))], ["y"]))
    cs.append(Case("matmul_big_batched_b", "MatMul", [rnd((8, 40, 64)), rnd((8, 64, 40))], ["y"]))
    cs.append(Case("matmul_zero_k", "MatMul", [rnd((3, 0)), rnd((0, 4))], ["y"]))
    for dt in ("float32", "float64", "float16"):
        cs.append(Case(f"gemm_all_{dt}", "Gemm", [rnd((6, 4), dt), rnd((5, 6), dt), rnd((5,), dt)], ["y"],
                       {"transA": 1, "transB": 1, "alpha": 0.7, "beta": -1.5}))
    cs.append(Case("gemm_c_col", "Gemm", [rnd((4, 6)), rnd((6, 5)), rnd((4, 1))], ["y"]))
    # Norms at other dtypes/axes.
    cs.append(Case("layernorm_f16", "LayerNormalization", [rnd((2, 3, 32), "float16"), rnd((32,), "float16"),
                                                            rnd((32,), "float16")], ["y", "mean", "inv"]))
    cs.append(Case("layernorm_f64_axis1", "LayerNormalization",
                   [rnd((2, 3, 4), "float64"), rnd((3, 4), "float64")], ["y"], {"axis": 1}))
    cs.append(Case("instancenorm_5d", "InstanceNormalization",
                   [rnd((2, 3, 5, 4, 2)), rnd((3,)), rnd((3,))], ["y"], {"epsilon": 1e-3}))
    cs.append(Case("batchnorm_f64", "BatchNormalization",
                   [rnd((2, 3, 5), "float64"), rnd((3,), "float64"), rnd((3,), "float64"), rnd((3,), "float64"),
                    rnd((3,), "float64", 0.5, 2)], ["y"], {"epsilon": 1e-3}))
    cs.append(Case("mvn_axes1", "MeanVarianceNormalization", [rnd((2, 3, 4, 5))], ["y"], {"axes": [1]}))
    # Index ops.
    for dt in ("int8", "bool", "float16", "uint64"):
        cs.append(Case(f"gather_axis1_{dt}", "Gather",
                       [rnd((3, 5, 2), dt), rng.integers(-5, 5, (2, 3)).astype(np.int32)], ["y"], {"axis": 1}))
    cs.append(Case("gather_big", "Gather", [rnd((1000, 300)), rng.integers(0, 1000, (4, 50))], ["y"]))
    cs.append(Case("gathernd_batch1_f16", "GatherND",
                   [rnd((2, 3, 4), "float16"), rng.integers(0, 3, (2, 2, 1)).astype(np.int64)], ["y"],
                   {"batch_dims": 1}))
    cs.append(Case("gather_elements_i16", "GatherElements",
                   [rnd((3, 4), "int16"), rng.integers(-3, 3, (5, 4)).astype(np.int64)], ["y"], {"axis": 0}))
    for red in ("add", "mul", "max", "min"):
        cs.append(Case(f"scatternd_{red}_int32", "ScatterND",
                       [rnd((4, 3), "int32"), np.array([[1], [3], [1]], np.int64), rnd((3, 3), "int32")], ["y"],
                       {"reduction": red}, opset=18))
        cs.append(Case(f"scatter_elements_{red}_f64", "ScatterElements",
                       [rnd((3, 4), "float64"), np.array([[0, 2], [2, 2]], np.int64), rnd((2, 2), "float64")],
                       ["y"], {"axis": 1, "reduction": red}, opset=18))
    # Layout ops.
    for mode in ("constant", "reflect", "edge", "wrap"):
        cs.append(Case(f"pad_{mode}_uint8_axes", "Pad",
                       [rnd((3, 4, 5), "uint8"), np.array([2, -1, 1, 3], np.int64), np.array(7, np.uint8),
                        np.array([0, 2], np.int64)], ["y"], {"mode": mode}, opset=19))
        cs.append(Case(f"pad_{mode}_int32_crop", "Pad",
                       [rnd((5, 6), "int32"), np.array([-1, 2, 2, -1], np.int64)], ["y"], {"mode": mode}, opset=19))
    cs.append(Case("pad_edge_f16_big", "Pad", [rnd((64, 130, 40), "float16"),
                                               np.array([0, 3, 1, 2, 5, 0], np.int64)], ["y"], {"mode": "edge"}))
    cs.append(Case("slice_neg_steps_bool", "Slice",
                   [rnd((6, 7, 3), "bool"), np.array([-1, 5, 0], np.int64),
                    np.array([-(2 ** 63), 0, 9], np.int64), np.array([0, 1, 2], np.int64),
                    np.array([-2, -3, 2], np.int64)], ["y"]))
    cs.append(Case("transpose_5d_int16", "Transpose", [rnd((2, 3, 1, 4, 5), "int16")], ["y"],
                   {"perm": [3, 0, 4, 2, 1]}))
    cs.append(Case("transpose_big", "Transpose", [rnd((64, 33, 128))], ["y"], {"perm": [2, 0, 1]}))
    cs.append(Case("tile_bool", "Tile", [rnd((2, 3), "bool"), np.array([3, 2], np.int64)], ["y"]))
    cs.append(Case("expand_f16", "Expand", [rnd((3, 1, 2), "float16"), np.array([2, 1, 4, 1], np.int64)], ["y"]))
    cs.append(Case("concat_int64_3", "Concat", [rnd((2, 1, 3), "int64"), rnd((2, 0, 3), "int64"),
                                                rnd((2, 4, 3), "int64")], ["y"], {"axis": -2}))
    cs.append(Case("split_uneven_18", "Split", [rnd((7, 2), "uint16")], ["a", "b", "c"],
                   {"axis": 0, "num_outputs": 3}, opset=18))
    cs.append(Case("trilu_f64_k", "Trilu", [rnd((2, 4, 6), "float64"), np.array(-1, np.int64)], ["y"],
                   {"upper": 0}))
    cs.append(Case("nonzero_f32", "NonZero", [rnd((3, 4)) * (rnd((3, 4)) > 0)], ["y"]))
    cs.append(Case("onehot_axis0", "OneHot", [rng.integers(-5, 5, (2, 3)).astype(np.int32),
                                              np.array(4.0, np.float32), np.array([-1, 5], np.float32)], ["y"],
                   {"axis": 0}))
    cs.append(Case("compress_axis1", "Compress", [rnd((3, 4), "int8"), np.array([1, 0, 1], bool)], ["y"],
                   {"axis": 1}))
    cs.append(Case("range_f64", "Range", [np.array(1.5), np.array(-3.0), np.array(-0.7)], ["y"]))
    cs.append(Case("range_int64", "Range", [np.array(-3, np.int64), np.array(10, np.int64),
                                            np.array(4, np.int64)], ["y"]))
    cs.append(Case("eyelike_int64_k", "EyeLike", [rnd((4, 3))], ["y"], {"k": -1, "dtype": TensorProto.INT64}))
    cs.append(Case("depth_to_space_crd_f16", "DepthToSpace", [rnd((1, 8, 2, 3), "float16")], ["y"],
                   {"blocksize": 2, "mode": "CRD"}))
    cs.append(Case("reshape_allowzero", "Reshape", [rnd((0, 3, 4)), np.array([3, 4, 0], np.int64)], ["y"],
                   {"allowzero": 1}))
    cs.append(Case("reverse_sequence_3d", "ReverseSequence", [rnd((4, 3, 2)), np.array([4, 1, 3], np.int64)],
                   ["y"], {"batch_axis": 1, "time_axis": 0}))
    # Older opsets' attribute forms (the kernels accept them where the op is otherwise unchanged).
    x = rnd((4, 5, 6))
    cs.append(Case("slice_opset9_attrs", "Slice", [x], ["y"], {"starts": [1, -4], "ends": [100, -1], "axes": [0, 2]},
                   opset=9))
    cs.append(Case("pad_opset10_attrs", "Pad", [x], ["y"], {"pads": [1, 0, 2, 0, 1, 1], "value": 2.5}, opset=10))
    cs.append(Case("pad_opset10_reflect", "Pad", [x], ["y"], {"pads": [0, 2, 1, 0, 1, 2], "mode": "reflect"},
                   opset=10))
    cs.append(Case("split_opset11_attr", "Split", [x], ["a", "b"], {"axis": 2, "split": [2, 4]}, opset=11))
    cs.append(Case("squeeze_opset11_attr", "Squeeze", [rnd((1, 3, 1, 2))], ["y"], {"axes": [0, -2]}, opset=11))
    cs.append(Case("squeeze_all_ones", "Squeeze", [rnd((1, 3, 1, 2))], ["y"]))
    cs.append(Case("unsqueeze_opset11_attr", "Unsqueeze", [rnd((3, 2))], ["y"], {"axes": [0, 3]}, opset=11))
    # (Opset 10's mask is not compared: onnxruntime writes all-false there, ONNX's reference all-true.)
    cs.append(Case("dropout_opset10_ratio", "Dropout", [x], ["y"], {"ratio": 0.3}, opset=10))
    cs.append(Case("dropout_mask", "Dropout", [x, np.array(0.4, np.float32)], ["y", "mask"]))
    cs.append(Case("scatter_opset10", "Scatter", [rnd((3, 3)), np.array([[1, 0, 2]], np.int64), rnd((1, 3))],
                   ["y"], {"axis": 0}, opset=10))
    return cs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--contrib-only", action="store_true", help="only the com.microsoft ops")
    a = ap.parse_args()
    cases = contrib_cases() + ([] if a.contrib_only else onnx_cases())
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            if a.k and a.k not in case.name:
                continue
            model, node, in_names = case.model()
            feeds = {n: x for n, x in zip(in_names, case.inputs) if n}
            try:
                want = run_ort(model, feeds)
            except Exception as e:  # onnxruntime lacks this kernel/dtype
                skipped += 1
                print(f"skip {case.name}: onnxruntime: {str(e).splitlines()[0][:160]}")
                continue
            try:
                got = run_ingot(a.tool, case, node, tmp)
                errs = [f"output {n}: {e}" for n, g, w in zip([o for o in case.outputs if o], got, want)
                        if (e := compare(g, w))]
            except Exception as e:
                errs = [str(e)]
            if errs:
                failed += 1
                print(f"FAIL {case.name}: " + "; ".join(errs))
            else:
                passed += 1
                if a.v:
                    print(f"ok   {case.name}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped (onnxruntime cannot run them)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
