#!/usr/bin/env python3
"""Create the random-weight Llama checkpoint used by the serving benchmarks (issue 3).

Why another model: the test fixtures stop at max_position 256, and the prefix-cache figure needs a
1,000-token prefix; the ~100M benchmark model of issue 2 works too but makes every run slow on a
small CPU. Shape: hidden 512, 8 layers, 8 heads of 64, 4 KV heads (GQA), intermediate 1408,
max_position 2048, vocabulary 512 with the tokenizer of test/fixtures/llama (copied, not trained)
-> 24M parameters, 97 MB of fp32 weights: larger than the L2/L3 caches, so decode streams the weights
from memory as a real model does, which is what batching amortises.
Weights: N(0, 1/fan_in) for linears (activations stay O(1) through the layers), embeddings
N(0, 0.25), norm scales 1 + N(0, 0.01), from a fixed seed; speed does not depend on the values.
Invariant: the output is a plain HF checkpoint directory that AutoModelForCausalLM and ingotc load.
Usage: /work/venv-dev/bin/python scripts/bench/make_serving_model.py [OUT_DIR]
       (default /tmp/ingot-bench/serving-24m; never inside the repository)
"""

import argparse
import json
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bench_model import init_weights  # noqa: E402  (same random init as the CPU benchmark model)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(REPO, "test", "fixtures", "llama")
SEED = 20260303
CONFIG = dict(
    architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
    hidden_act="silu", hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
    num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
    rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None, tie_word_embeddings=False,
    vocab_size=512, bos_token_id=1, eos_token_id=2, initializer_range=0.02, use_cache=True,
)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/ingot-bench/serving-24m")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(FIXTURE, name), os.path.join(args.out, name))
    with open(os.path.join(FIXTURE, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    tok_vocab = max(list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]) + 1
    assert tok_vocab <= CONFIG["vocab_size"], tok_vocab

    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**CONFIG), dtype=torch.float32).eval()
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.save_pretrained(args.out, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": args.out, "parameters": params, "weight_bytes_fp32": 4 * params,
                      "tokenizer_vocab": tok_vocab, "seed": SEED, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
