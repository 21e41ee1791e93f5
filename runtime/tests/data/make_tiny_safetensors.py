#!/usr/bin/env python3
"""Writes tiny.safetensors, a fixture for runtime/tests/test_safetensors.cpp.

The file is produced by the reference `safetensors` Python package (not by
Ingot) so the C++ reader is tested against an independent writer. The values
are spelled out here and repeated literally in the C++ test; keep them in sync.
Run with the dev venv:  /work/venv-dev/bin/python make_tiny_safetensors.py
"""
import os

import torch
from safetensors.torch import save_file

tensors = {
    # F32 [2, 3]: -1.0, -0.5, 0.0, 0.5, 1.0, 1.5
    "a.f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
    # F16 [4]: exactly representable halves, incl. the largest finite one
    "b.f16": torch.tensor([1.0, -2.0, 0.5, 65504.0], dtype=torch.float16),
    # BF16 [2, 2]
    "c.bf16": torch.tensor([[1.0, -3.0], [0.15625, 256.0]], dtype=torch.bfloat16),
    # I64 [3]
    "d.i64": torch.tensor([1, -2, 1 << 40], dtype=torch.int64),
    # I32 [2]
    "e.i32": torch.tensor([7, -8], dtype=torch.int32),
    # U8 [5]
    "f.u8": torch.tensor([0, 1, 127, 200, 255], dtype=torch.uint8),
    # F32 scalar (shape [])
    "scalar": torch.tensor(3.25, dtype=torch.float32),
    # F32 [0, 4]: empty tensor, zero bytes
    "empty": torch.zeros((0, 4), dtype=torch.float32),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.safetensors")
save_file(tensors, out, metadata={"format": "pt", "note": "ingot test fixture"})
print("wrote", out, os.path.getsize(out), "bytes")
