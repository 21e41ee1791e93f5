"""End-to-end: compile each fixture checkpoint with ingotc, run it with the
CPU runtime, and compare with the Hugging Face transformers references saved
by scripts/gen_fixtures.py (logits at every prompt position, and greedy
continuations token for token).

Run by ctest (see test/CMakeLists.txt) with INGOT_BIN pointing at build/bin.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import ATOL, BIN, FAMILIES, FIXTURES, RTOL, run


def compile_plan(family, tmp, mode="embed"):
    out = tmp / f"{family}-{mode}.plan"
    if not out.exists():
        run(BIN / "ingotc", FIXTURES / family, "-o", out, f"--weights={mode}",
            "--max-tokens", "64", "--max-seqs", "8")
    return out


def load_reference(family):
    ref = json.loads((FIXTURES / family / "reference.json").read_text())
    logits = load_file(str(FIXTURES / family / ref.get("logits", "reference_logits.safetensors")))
    return ref, logits


def plan_logits(plan, ids, mode, tmp):
    out = tmp / "logits.npy"
    run(BIN / "ingot", "logits", plan, "--ids", ",".join(map(str, ids)), "--mode", mode,
        "--out", out)
    return np.load(out)


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_every_position(family, tmp):
    """Token-by-token decode through the paged cache gives every position's
    logits; they match transformers' full-sequence forward."""
    if not (FIXTURES / family).exists():
        pytest.skip(f"fixture {family} not generated")
    ref, logits = load_reference(family)
    plan = compile_plan(family, tmp)
    for i, p in enumerate(ref["prompts"]):
        got = plan_logits(plan, p["ids"], "stepwise", tmp)
        want = logits[f"logits.{i}"]
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL,
                                   err_msg=f"{family} prompt {i}")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["prefill", "chunked:5"])
def test_prefill_last_logits(family, mode, tmp):
    """A whole-prompt prefill (or chunks of 5) gives the last position's logits."""
    if not (FIXTURES / family).exists():
        pytest.skip(f"fixture {family} not generated")
    ref, logits = load_reference(family)
    plan = compile_plan(family, tmp)
    for i, p in enumerate(ref["prompts"]):
        got = plan_logits(plan, p["ids"], mode, tmp)
        want = logits[f"logits.{i}"][-1:]
        np.testing.assert_allclose(got[-1:], want, atol=ATOL, rtol=RTOL,
                                   err_msg=f"{family} prompt {i} ({mode})")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["embed", "external"])
def test_greedy_continuation(family, mode, tmp):
    """Greedy tokens match transformers' generate() token for token."""
    if not (FIXTURES / family).exists():
        pytest.skip(f"fixture {family} not generated")
    ref, _ = load_reference(family)
    plan = compile_plan(family, tmp, mode)
    for g in ref["greedy"]:
        r = run(BIN / "ingot", "generate-ids", plan, "--ids",
                ",".join(map(str, g["prompt_ids"])), "--max-tokens", g["max_new_tokens"],
                "--ignore-eos")
        got = json.loads(r.stdout)
        assert got == g["output_ids"], f"{family}: {got} != {g['output_ids']}"


def test_sharded_checkpoint_matches_single_file(tmp):
    """The sharded copy of the llama fixture (index.json + shards) compiles to
    a plan that computes the same logits as the single-file checkpoint."""
    if not (FIXTURES / "llama-sharded").exists():
        pytest.skip("sharded fixture not generated")
    ref, logits = load_reference("llama")
    plan = tmp / "sharded.plan"
    run(BIN / "ingotc", FIXTURES / "llama-sharded", "-o", plan, "--max-tokens", "64",
        "--max-seqs", "8")
    ids = ref["prompts"][0]["ids"]
    got = plan_logits(plan, ids, "stepwise", tmp)
    np.testing.assert_allclose(got, logits["logits.0"], atol=ATOL, rtol=RTOL)
