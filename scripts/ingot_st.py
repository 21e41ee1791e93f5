"""Safetensors files as the Ingot tools exchange them (`ingot exec`, `ingot_nd_run`), for the
Python test scripts: every dtype the runtime has, bf16 carried as its uint16 bit patterns, 0-d
arrays kept 0-d. Written here rather than with the safetensors package because that package
has no bool/bf16-as-bits handling that matches the runtime's and the tests must not depend
on torch.

write_st(path, {name: (dtype, array)}) with dtype a safetensors name ("F32", "BF16", ...);
read_st(path) -> {name: (dtype, array)}; st_dtype(array) -> the name for a numpy array.
"""
import json
import struct

import numpy as np

NP_OF_ST = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": np.uint16,
            "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
            "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
            "BOOL": np.bool_}
_ST_OF_NP = {np.dtype(v): k for k, v in NP_OF_ST.items() if k != "BF16"}


def st_dtype(a):
    """The safetensors dtype name of a numpy array (bf16 must be named explicitly)."""
    return _ST_OF_NP[np.asarray(a).dtype]


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dt, a) in tensors.items():
        b = np.require(a, requirements="C").tobytes()
        header[name] = {"dtype": dt, "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        dt = info["dtype"]
        if dt not in NP_OF_ST:
            raise ValueError(f"tensor '{name}' has dtype {dt}")
        out[name] = (dt, np.frombuffer(data[s:e], dtype=NP_OF_ST[dt]).reshape(info["shape"]))
    return out
