"""End-to-end for the ONNX frontend: torch exports of the fixture families
(scripts/gen_onnx_fixtures.py, with onnxruntime's outputs saved next to them)
compiled by ingotc.

- Decoder exports that raising understands become paged decoder plans: their
  logits at every position match onnxruntime's on the same file, and their
  greedy tokens equal those of the plan compiled from the safetensors
  checkpoint (and onnxruntime's).
- Every export also compiles with raising switched off, to a graph plan (the
  general path: one call, KV cache as plain inputs/outputs), whose logits
  match onnxruntime's for a batched prefill.

Run by ctest (e2e_models) with INGOT_BIN pointing at build/bin.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from ingot_st import read_st, st_dtype, write_st  # noqa: E402

from conftest import ATOL, BIN, FAMILIES, FIXTURES, RTOL, run

# Families whose export raising turns into a decoder plan (docs/onnx.md says
# what stops the others).
RAISED = ["llama", "llama3", "qwen2", "qwen3", "mistral", "gpt2", "mixtral"]


def onnx_dir(family):
    d = FIXTURES / family / "onnx"
    if not (d / "model.onnx").exists():
        pytest.skip(f"ONNX export of {family} not generated")
    return d


def reference(family):
    return np.load(onnx_dir(family) / "reference.npz")


EXPORTS = ["model.onnx", "model.dynamo.onnx"]  # TorchScript and dynamo exporters


def compile_onnx(family, tmp, *extra, name="decoder", export="model.onnx"):
    out = tmp / f"{family}-{name}-{export}.plan"
    if not (onnx_dir(family) / export).exists():
        pytest.skip(f"{export} of {family} not generated")
    if not out.exists():
        r = run(BIN / "ingotc", onnx_dir(family) / export, "-o", out,
                "--tokenizer", FIXTURES / family, "--max-tokens", "64", "--max-seqs", "8", *extra)
        (tmp / f"{family}-{name}.log").write_text(r.stderr)
    return out


def inspect(plan):
    return run(BIN / "ingot", "inspect", plan).stdout


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("family", RAISED)
def test_raised_to_decoder(family, export, tmp):
    """The export becomes a paged decoder plan (no past/present tensors)."""
    plan = compile_onnx(family, tmp, export=export)
    text = inspect(plan)
    assert "kv cache" in text.lower(), text
    assert "graph inputs" not in text.lower(), text


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("family", RAISED)
@pytest.mark.parametrize("mode", ["stepwise", "prefill"])
def test_decoder_logits_match_onnxruntime(family, mode, export, tmp):
    """Logits of the raised plan equal onnxruntime's on the same ONNX file
    (the references were checked against both exporters' graphs)."""
    ref = reference(family)
    plan = compile_onnx(family, tmp, export=export)
    ids = ref["prefill.input_ids"][0].tolist()
    out = tmp / "logits.npy"
    run(BIN / "ingot", "logits", plan, "--ids", ",".join(map(str, ids)), "--mode", mode, "--out", out)
    got = np.load(out)
    want = ref["prefill.logits"][0]
    if mode == "prefill":
        want = want[-1:]
        got = got[-1:]
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=f"{family} {mode}")


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("family", RAISED)
def test_decoder_greedy_matches_checkpoint_plan(family, export, tmp):
    """Greedy tokens of the plan compiled from ONNX equal those of the plan
    compiled from the safetensors checkpoint, and onnxruntime's."""
    ref = reference(family)
    onnx_plan = compile_onnx(family, tmp, export=export)
    ckpt_plan = tmp / f"{family}-ckpt.plan"
    if not ckpt_plan.exists():
        run(BIN / "ingotc", FIXTURES / family, "-o", ckpt_plan, "--max-tokens", "64", "--max-seqs", "8")
    ids = ",".join(map(str, ref["prefill.input_ids"][0].tolist()))
    n = len(ref["greedy.ids"])
    outs = [json.loads(run(BIN / "ingot", "generate-ids", p, "--ids", ids, "--max-tokens", n,
                           "--ignore-eos").stdout) for p in (onnx_plan, ckpt_plan)]
    assert outs[0] == outs[1], f"{family}: onnx {outs[0]} vs checkpoint {outs[1]}"
    assert outs[0] == ref["greedy.ids"].tolist(), f"{family}: {outs[0]} vs onnxruntime {ref['greedy.ids'].tolist()}"


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_graph_path_matches_onnxruntime(family, export, tmp):
    """With raising off, the export runs as a graph plan: a left-padded batched
    prefill from an empty cache gives onnxruntime's logits."""
    ref = reference(family)
    plan = compile_onnx(family, tmp, "--no-raise", name="graph", export=export)
    text = inspect(plan)
    assert "graph" in text.lower(), text
    ids = ref["batch.input_ids"]
    feeds = {"input_ids": ids, "attention_mask": ref["batch.attention_mask"],
             "position_ids": ref["batch.position_ids"]}
    # Empty past for every layer, shaped as the graph declares it.
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("past_key_values."):
            name = line.split()[0]
            dims = line[line.index("[") + 1:line.index("]")].split(",")
            heads, hd = int(dims[1]), int(dims[3])
            feeds[name] = np.zeros((ids.shape[0], heads, 0, hd), np.float32)
    inp, out = tmp / f"{family}-{export}-in.st", tmp / f"{family}-{export}-out.st"
    write_st(inp, {k: (st_dtype(v), v) for k, v in feeds.items()})
    run(BIN / "ingot", "exec", plan, "--inputs", inp, "--outputs", out)
    got = read_st(out)["logits"][1]
    want = ref["batch.logits"]
    assert got.shape == want.shape, (got.shape, want.shape)
    # Left-padding positions attend to nothing; what a graph computes there
    # is undefined (the TorchScript and dynamo exports of one model already
    # differ there), so only real tokens are compared. (Ingot matches
    # onnxruntime on the same file at every position; the reference was run
    # on the TorchScript export.)
    real = ref["batch.attention_mask"].astype(bool)
    np.testing.assert_allclose(got[real], want[real], atol=ATOL, rtol=RTOL, err_msg=family)


def test_graph_path_without_cache_matches_onnxruntime(tmp):
    """A plain forward export (no KV cache at all) runs as a graph plan."""
    d = onnx_dir("llama")
    ref = reference("llama")
    plan = tmp / "nocache.plan"
    run(BIN / "ingotc", d / "model_nocache.onnx", "-o", plan)
    inp, out = tmp / "nc-in.st", tmp / "nc-out.st"
    write_st(inp, {"input_ids": ("I64", ref["nocache.input_ids"])})
    run(BIN / "ingot", "exec", plan, "--inputs", inp, "--outputs", out)
    got = read_st(out)
    name = next(iter(got))
    np.testing.assert_allclose(got[name][1], ref["nocache.logits"], atol=ATOL, rtol=RTOL)


def test_contrib_ops_export_raised(tmp):
    """An onnxruntime-genai-style graph of the llama fixture (com.microsoft
    SkipSimplifiedLayerNormalization and GroupQueryAttention with fused rotary,
    no position_ids input; scripts/gen_onnx_contrib_fixture.py) raises to the
    same paged decoder: onnxruntime's logits at every position, and greedy
    tokens equal to the checkpoint plan's."""
    d = onnx_dir("llama")
    if not (d / "model.contrib.onnx").exists():
        pytest.skip("contrib-op export not generated")
    ref = np.load(d / "reference_contrib.npz")
    plan = tmp / "contrib.plan"
    r = run(BIN / "ingotc", d / "model.contrib.onnx", "-o", plan, "--tokenizer", FIXTURES / "llama")
    assert "raised a decoder with 2 layers" in r.stderr, r.stderr
    ids = ref["prefill.input_ids"][0].tolist()
    out = tmp / "contrib-logits.npy"
    run(BIN / "ingot", "logits", plan, "--ids", ",".join(map(str, ids)), "--mode", "stepwise", "--out", out)
    np.testing.assert_allclose(np.load(out), ref["prefill.logits"][0], atol=ATOL, rtol=RTOL)
    got = json.loads(run(BIN / "ingot", "generate-ids", plan, "--ids", ",".join(map(str, ids)),
                         "--max-tokens", len(ref["greedy.ids"]), "--ignore-eos").stdout)
    assert got == ref["greedy.ids"].tolist()


def test_contrib_ops_export_graph_path(tmp):
    """The same com.microsoft graph with raising off runs on the CPU kernels
    (GroupQueryAttention included): onnxruntime's logits for a right-padded
    batch prefill (its GQA supports right padding only) on the real tokens."""
    d = onnx_dir("llama")
    if not (d / "model.contrib.onnx").exists():
        pytest.skip("contrib-op export not generated")
    ref = np.load(d / "reference_contrib.npz")
    plan = tmp / "contrib-graph.plan"
    run(BIN / "ingotc", d / "model.contrib.onnx", "-o", plan, "--no-raise")
    ids, mask = ref["batch.input_ids"], ref["batch.attention_mask"]
    feeds = {"input_ids": ids, "attention_mask": mask}
    for layer in range(2):
        for kv in ("key", "value"):
            feeds[f"past_key_values.{layer}.{kv}"] = np.zeros((ids.shape[0], 2, 0, 16), np.float32)
    inp, out = tmp / "contrib-in.st", tmp / "contrib-out.st"
    write_st(inp, {k: (st_dtype(v), v) for k, v in feeds.items()})
    run(BIN / "ingot", "exec", plan, "--inputs", inp, "--outputs", out)
    got = read_st(out)["logits"][1]
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], ref["batch.logits"][real], atol=ATOL, rtol=RTOL)
