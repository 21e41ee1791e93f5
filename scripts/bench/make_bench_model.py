#!/usr/bin/env python3
"""Create the ~100M-parameter random-weight Llama checkpoint used by the CPU benchmark (issue 2).

Shape (TinyLlama / Llama-2 family, scaled): hidden 768, 12 layers, 12 heads of 64, 4 KV heads (GQA),
intermediate 2048, vocab 32000, tied embeddings -> 100.1M parameters, 400 MB of fp32 weights.
Weights are random from a fixed seed (N(0, 1/fan_in) for linears so activations stay O(1) through
the layers, embeddings N(0, 0.25), norm scales 1 + N(0, 0.01)); speed does not depend on the values.
Written with save_pretrained (fp32 safetensors) plus a tokenizer: the sentencepiece-style BPE of
scripts/gen_fixtures.py trained on the Jargon File with vocabulary 32000 (= the embedding table; the
script asserts it is not larger).
Invariant: the output is a plain HF checkpoint directory that AutoModelForCausalLM and ingotc load.
Usage: /work/venv-dev/bin/python scripts/bench/make_bench_model.py [OUT_DIR]
       (default /tmp/ingot-bench/llama-100m; never inside the repository)
"""

import argparse
import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gen_fixtures  # noqa: E402  (tokenizer trainer and tokenizer_config writer of the fixtures)

SEED = 20240612
VOCAB = 32000
CONFIG = dict(
    architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
    hidden_act="silu", hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
    num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048,
    rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None, tie_word_embeddings=True,
    vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, initializer_range=0.02, use_cache=True,
)


def init_weights(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # RMSNorm scales
                val = 1.0 + 0.1 * torch.randn(p.shape, generator=gen)
            elif "embed" in name:
                val = 0.5 * torch.randn(p.shape, generator=gen)
            else:
                val = torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1])
            p.copy_(val)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/ingot-bench/llama-100m")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    gen_fixtures.VOCAB = VOCAB  # the trainer reads the module-level target size
    tok = gen_fixtures.build_sentencepiece_tokenizer(gen_fixtures.load_corpus())
    tok_vocab = tok.get_vocab_size(with_added_tokens=True)
    assert tok_vocab <= VOCAB, tok_vocab
    tok.save(os.path.join(args.out, "tokenizer.json"))
    specials = {t.content: i for i, t in tok.get_added_tokens_decoder().items()}
    spec = {"special": {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}, "chat": gen_fixtures.LLAMA2_CHAT}
    tcfg = gen_fixtures.tokenizer_config(spec, specials)
    tcfg["model_max_length"] = CONFIG["max_position_embeddings"]
    gen_fixtures.write_json(os.path.join(args.out, "tokenizer_config.json"), tcfg)

    torch.manual_seed(SEED)
    cfg = LlamaConfig(**CONFIG)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.save_pretrained(args.out, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    info = {"parameters": params, "weight_bytes_fp32": 4 * params, "tokenizer_vocab": tok_vocab,
            "seed": SEED, "torch": torch.__version__}
    print(json.dumps(info))


if __name__ == "__main__":
    main()
