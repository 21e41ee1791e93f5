"""Shared by the end-to-end tests: where the fixtures and binaries are, the
tolerances, a command runner that reports the tool's output on failure, and a
per-module scratch directory."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
BIN = Path(os.environ.get("INGOT_BIN", ROOT / "build" / "bin"))
FAMILIES = ["llama", "llama3", "qwen2", "qwen3", "mistral", "gpt2", "mixtral"]

# fp32 end to end; the references come from torch / onnxruntime in fp32 too.
# Differences are summation-order noise, well under 1e-3 on logits of order 1.
ATOL = 2e-4
RTOL = 2e-4


def run(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({r.returncode}):\n{r.stderr}\n{r.stdout}")
    return r


@pytest.fixture(scope="module")
def tmp():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)
