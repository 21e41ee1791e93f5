#!/usr/bin/env python3
"""Make the Llama-3.2-1B-shaped bf16 checkpoint of the device runs (docs/device-runs.md).

Shape of meta-llama/Llama-3.2-1B: hidden 2048, 16 layers, 32 heads of 64, 8 KV heads, intermediate
8192, vocab 128256, rope_theta 500000 with llama3 rope scaling (factor 32, low 1, high 4, original
8192), tied embeddings, bfloat16 -> 1.236e9 parameters, 2.47 GB of weights.

The same script runs twice: HERE (scripts/device/prepare.sh), so that ingotc can compile the plan
against the checkpoint (plans keep their weights outside: --weights=external), and THERE (on the
device machine, scripts/device/run.sh), because 2.5 GB cannot travel. Both runs must produce the same
files: the runtime refuses a weights file whose size differs from the one the plan was compiled
against, and the weights' values should be the same for the figures to be comparable. So the values
come from a torch.Generator seeded with 0 on the CPU, drawn in a fixed order with a fixed scheme
(not transformers' initialiser, which changes between versions): linear weights N(0, 1/fan_in)
(activations stay O(1) through the layers), embeddings N(0, 0.25) (logits spread widely, so greedy
choices are not near-ties that bf16 rounding could flip), norm scales 1 + N(0, 0.01). torch's global
seed is set to 0 too (torch.manual_seed(0)) for anything else that draws.
The model is built with transformers (LlamaForCausalLM.from_config) and written with save_pretrained
(safetensors); config.json is then rewritten in the hub's transformers-4 style so both transformers 4
and 5 and ingotc read it. The tokenizer is the llama3 fixture's (test/fixtures/llama3: a small
Llama-3-style BPE; its ids are a subset of the vocabulary, which is all the runs need).

--manifest FILE writes (or with --check, compares against) the file sizes and SHA-256 of the
safetensors files: prepare.sh writes device-bundle/llama-1b.manifest.json here, run.sh checks it there
and reports a mismatch (sizes must match for the plan to load; equal hashes mean equal weights).
Usage: python3 scripts/device/make_checkpoint.py [--out DIR] [--manifest FILE [--check]] [--layers N]
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# meta-llama/Llama-3.2-1B's config.json (transformers-4 field names).
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 8192,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 16,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 128256,
}
SEED = 0


def init_values(model, gen, torch):
    """Overwrites every parameter, in named_parameters order, from `gen` (fp32 draws, then cast)."""
    import math

    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # RMSNorm scales
                val = 1.0 + 0.1 * torch.randn(p.shape, generator=gen)
            elif "embed" in name:
                val = 0.5 * torch.randn(p.shape, generator=gen)
            else:
                val = torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1])
            p.copy_(val.to(p.dtype))


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 24)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def manifest_of(out):
    files = sorted(f for f in os.listdir(out) if f.endswith(".safetensors"))
    return {
        "config": {k: CONFIG[k] for k in ("hidden_size", "num_hidden_layers", "vocab_size")},
        "files": {f: {"bytes": os.path.getsize(os.path.join(out, f)), "sha256": file_digest(os.path.join(out, f))}
                  for f in files},
    }


TINY = {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 32, "vocab_size": 1024, "num_hidden_layers": 2, "bos_token_id": 0, "eos_token_id": 4}


def make(out, layers, tiny=False):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg_dict = dict(CONFIG)
    cfg_dict["num_hidden_layers"] = layers
    if tiny:
        cfg_dict.update(TINY)
    torch.manual_seed(SEED)
    cfg = LlamaConfig(**{k: v for k, v in cfg_dict.items() if k not in ("architectures", "torch_dtype", "model_type")})
    t0 = time.time()
    # Built on the meta device (no memory, no initialiser run), then given uninitialised CPU
    # storage that init_values fills: transformers' own initialiser would take most of the time.
    with torch.device("meta"):
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        except TypeError:  # transformers 4 spells it torch_dtype
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)
    model = model.to_empty(device="cpu")
    model.eval()
    t1 = time.time()
    gen = torch.Generator(device="cpu").manual_seed(SEED)
    init_values(model, gen, torch)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "embeddings not tied"
    t2 = time.time()
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".safetensors") or f == "model.safetensors.index.json":
            os.remove(os.path.join(out, f))
    model.save_pretrained(out, safe_serialization=True, max_shard_size="20GB")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg_dict, f, indent=2)
        f.write("\n")
    tok = os.path.join(REPO, "test", "fixtures", "llama3")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok, name), os.path.join(out, name))
    t3 = time.time()
    n = sum(p.numel() for p in model.parameters())
    print(f"make_checkpoint: {out}: {n / 1e9:.3f}e9 parameters, {cfg_dict['num_hidden_layers']} layers; transformers "
          f"{transformers.__version__}, torch {torch.__version__}; build {t1 - t0:.1f} s, values {t2 - t1:.1f} s, "
          f"save {t3 - t2:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/ingot-device/llama-1b")
    ap.add_argument("--manifest", help="write (or with --check compare) sizes and SHA-256 of the weights")
    ap.add_argument("--check", action="store_true", help="compare with --manifest instead of writing it")
    ap.add_argument("--layers", type=int, default=CONFIG["num_hidden_layers"],
                    help="fewer layers for a quick test (the device runs use 16)")
    ap.add_argument("--tiny", action="store_true",
                    help="a tiny model of the same family (hidden 128, 2 layers, vocab 1024) for CPU dry runs")
    ap.add_argument("--reuse", action="store_true",
                    help="keep an existing checkpoint whose files match --manifest instead of remaking it")
    args = ap.parse_args()

    if args.reuse and args.manifest and os.path.isdir(args.out):
        try:
            with open(args.manifest) as f:
                want = json.load(f)
            sizes = {f: os.path.getsize(os.path.join(args.out, f)) for f in want["files"]}
            if all(sizes[f] == want["files"][f]["bytes"] for f in want["files"]):
                print(f"make_checkpoint: reusing {args.out} (sizes match {args.manifest})")
                return 0
        except (OSError, KeyError, ValueError):
            pass
    make(args.out, args.layers, args.tiny)
    if not args.manifest:
        return 0
    got = manifest_of(args.out)
    if not args.check:
        os.makedirs(os.path.dirname(os.path.abspath(args.manifest)), exist_ok=True)
        with open(args.manifest, "w") as f:
            json.dump(got, f, indent=1)
        print(f"make_checkpoint: wrote {args.manifest}")
        return 0
    with open(args.manifest) as f:
        want = json.load(f)
    ok = True
    for name, w in want["files"].items():
        g = got["files"].get(name)
        if g is None:
            print(f"make_checkpoint: MISMATCH: {name} is in the manifest but was not written")
            ok = False
        elif g["bytes"] != w["bytes"]:
            print(f"make_checkpoint: MISMATCH: {name} has {g['bytes']} bytes, the plan was compiled against "
                  f"{w['bytes']} (the plan will refuse it)")
            ok = False
        elif g["sha256"] != w["sha256"]:
            print(f"make_checkpoint: note: {name} has the same size but other values than the one compiled "
                  f"against (torch's generator differs?); the plan loads it, the references use these values")
        else:
            print(f"make_checkpoint: {name}: same bytes as the one compiled against (sha256 {g['sha256'][:16]}...)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
