#!/usr/bin/env python3
"""Writes the binary ONNX inputs of the lit tests in test/ONNX (committed).

Run from anywhere with a Python that has onnx and numpy (e.g. the dev venv):
    python test/ONNX/Inputs/make_inputs.py
The values are simple closed forms (arange / constants) so that the tests'
CHECK lines state them independently of the importer.
"""
import os
import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def external_model():
    """MatMul + Add + Mul with external weights: W (40x30 f32, arange/8) at
    offset 0 of weights.bin, B (30 f32, all 0.5) at offset 4864 (aligned,
    after padding), and an inline-raw f16 scale (30 x 2.0) in the model."""
    d = os.path.join(HERE, "external")
    os.makedirs(d, exist_ok=True)
    w = (np.arange(40 * 30, dtype=np.float32) / 8).reshape(40, 30)
    b = np.full((30,), 0.5, dtype=np.float32)
    s = np.full((30,), 2.0, dtype=np.float16)
    blob = bytearray(w.tobytes())
    assert len(blob) == 4800
    blob += b"\0" * 64  # padding: B starts at 4864
    blob += b.tobytes()
    with open(os.path.join(d, "weights.bin"), "wb") as f:
        f.write(bytes(blob))

    def ext(name, arr, offset):
        t = TensorProto()
        t.name = name
        t.data_type = helper.np_dtype_to_tensor_dtype(arr.dtype)
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", str(offset)),
                     ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        return t

    scale = numpy_helper.from_array(s, "scale")  # raw_data
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"], name="mm"),
         helper.make_node("Add", ["xw", "B"], ["xwb"], name="add"),
         helper.make_node("Cast", ["scale"], ["scale32"], name="cast", to=TensorProto.FLOAT),
         helper.make_node("Mul", ["xwb", "scale32"], ["y"], name="mul")],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 30])],
        initializer=[ext("W", w, 0), ext("B", b, 4864), scale])
    model = helper.make_model(graph, producer_name="make_inputs.py", producer_version="1",
                              ir_version=10, opset_imports=[helper.make_opsetid("", 21)])
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    # The checker reads external data relative to the model's path.
    onnx.checker.check_model(path)
    return path


def typed_model():
    """Binary model with typed (non-raw) fields and a value_info type."""
    d = os.path.join(HERE, "typed")
    os.makedirs(d, exist_ok=True)
    inits = [
        helper.make_tensor("f", TensorProto.FLOAT, [3], [1.5, -2.0, 3.25]),
        helper.make_tensor("i8", TensorProto.INT8, [3], [-1, 2, -128]),
        helper.make_tensor("u16", TensorProto.UINT16, [2], [65535, 7]),
        helper.make_tensor("u32", TensorProto.UINT32, [2], [4000000000, 1]),
        helper.make_tensor("bools", TensorProto.BOOL, [3], [True, False, True]),
        helper.make_tensor("h", TensorProto.FLOAT16, [2], np.array([1.0, -0.5], np.float16)),
        helper.make_tensor("d", TensorProto.DOUBLE, [2], [0.25, 1e10]),
        helper.make_tensor("big", TensorProto.FLOAT, [2000], np.ones(2000, np.float32)),
    ]
    nodes = [helper.make_node("Identity", [n], [n + "_out"], name="id_" + n)
             for n in ["f", "i8", "u16", "u32", "bools", "h", "d", "big"]]
    nodes.append(helper.make_node("Add", ["x", "f"], ["sum"], name="add"))
    graph = helper.make_graph(
        nodes, "typed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        # Outputs without a type: the importer infers Identity's.
        [onnx.ValueInfoProto(name=n + "_out") for n in
         ["f", "i8", "u16", "u32", "bools", "h", "d", "big"]]
        + [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [3])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="make_inputs.py", ir_version=10,
                              opset_imports=[helper.make_opsetid("", 21)])
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def main():
    ext = external_model()
    typed_model()
    with open(ext, "rb") as f:
        data = f.read()
    # Cut inside the graph: a length-delimited field then runs past the end.
    with open(os.path.join(HERE, "truncated.onnx"), "wb") as f:
        f.write(data[: len(data) * 2 // 3])
    rng = random.Random(20261130)
    with open(os.path.join(HERE, "garbage.onnx"), "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(512)))
    with open(os.path.join(HERE, "empty.onnx"), "wb") as f:
        pass
    # A tiny file for the out-of-bounds external data tests in errors/.
    d = os.path.join(HERE, "..", "errors", "Inputs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "sixteen-bytes.bin"), "wb") as f:
        f.write(bytes(range(16)))


if __name__ == "__main__":
    main()
