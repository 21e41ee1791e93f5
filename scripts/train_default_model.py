#!/usr/bin/env python3
"""Train Ingot's bundled default model (models/default/) on the CPU.

A small LlamaForCausalLM (hidden 256, 4 layers, 4 heads / 2 KV heads, tied embeddings, context 256)
with a 4096-token byte-level BPE tokenizer, trained from scratch on the King James Version of the
Bible (public domain; Debian package bible-kjv-text, read through the `bible` program of
bible-kjv). The point is a model that is tiny enough to ship in the repository yet writes
English-looking text, so `ingot` has something real to run out of the box.

Invariants:
  * CPU only, torch.set_num_threads(--threads, default 2); the run is bounded by wall time (--minutes), and the
    learning-rate schedule follows max(step/steps, elapsed/budget) so a slow, shared machine still
    ends with a decayed learning rate.
  * A checkpoint is written every --save-every seconds (and at the end) by saving into a temporary
    folder and renaming it, so an interrupted run always leaves a complete, loadable models/default/.
  * Weights are saved in bfloat16; config.json is written in the hub (transformers 4) layout that
    published Llama checkpoints use, and the script checks that transformers reloads it unchanged.
Usage:
  apt-get install -y bible-kjv            # brings bible-kjv-text
  /work/venv-dev/bin/python scripts/train_default_model.py --smoke         # 20 steps into /tmp
  /work/venv-dev/bin/python scripts/train_default_model.py --minutes 25    # the real run
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

import torch
import transformers
import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 1611
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
          "{% endif %}")
ARCH = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-5,
            tie_word_embeddings=True)
VOCAB = 4096
CTX = 256


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def load_kjv():
    """One string per chapter: verses joined by spaces, verse references removed."""
    if shutil.which("bible") is None:
        sys.exit("the `bible` program is missing: apt-get install -y bible-kjv")
    out = subprocess.run(["bible", "-f", "Genesis 1:1-Revelation 22:21"], check=True,
                         capture_output=True, text=True).stdout
    chapters, current, key = [], [], None
    for line in out.splitlines():
        m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        k = (m.group(1), m.group(2))
        if k != key and current:
            chapters.append(" ".join(current))
            current = []
        key = k
        current.append(m.group(4).strip())
    if current:
        chapters.append(" ".join(current))
    if len(chapters) != 1189:
        sys.exit(f"expected 1189 chapters of the KJV, got {len(chapters)}")
    return chapters


def build_tokenizer(chapters):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(chapters, trainer=trainer)
    bos = tok.token_to_id("<|endoftext|>")
    # Every training chapter follows <|endoftext|>, so prompts start the same way.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|endoftext|> $A:0", pair="<|endoftext|> $A:0 $B:1",
                                      special_tokens=[("<|endoftext|>", bos)]),
    ])
    return tok


def encode_stream(tok, chapters):
    """Token stream <eot> ch1 <eot> ch2 ... (the tokenizer's template supplies each leading <eot>)."""
    ids = []
    for enc in tok.encode_batch(chapters):
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------
def hub_config(vocab, bos, eos):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": bos, "eos_token_id": eos, "head_dim":
            ARCH["hidden_size"] // ARCH["num_attention_heads"], "hidden_act": "silu",
        "initializer_range": 0.02, "mlp_bias": False, "pretraining_tp": 1, "rope_scaling": None,
        "torch_dtype": "bfloat16", "transformers_version": transformers.__version__, "use_cache": True,
        "vocab_size": vocab,
    }
    cfg.update(ARCH)
    return dict(sorted(cfg.items()))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def readme_text(stats):
    s = stats
    return f"""# Ingot default model

A small Llama-architecture language model bundled with Ingot so the runtime has something real
to run without downloading anything. It writes King-James-style English; it knows nothing else.

## Text and licence
Trained on the King James Version of the Bible (1611 translation), which is in the public domain
(Debian package `bible-kjv-text`; its copyright file: "The copyright for the King James Version
text of the Bible is expired"). The text was read with `bible -f "Genesis 1:1-Revelation 22:21"`
(package `bible-kjv`), verse references removed, verses of a chapter joined into one paragraph,
chapters separated by `<|endoftext|>`. The last {s['val_chapters']} chapters (end of Revelation) were
held out for validation. The weights produced here are released under the same terms as Ingot.

## Architecture
`LlamaForCausalLM` (transformers), config.json in the hub (transformers 4) layout:
- hidden {ARCH['hidden_size']}, {ARCH['num_hidden_layers']} layers, {ARCH['num_attention_heads']} heads of {ARCH['hidden_size'] // ARCH['num_attention_heads']}, {ARCH['num_key_value_heads']} KV heads (GQA)
- SwiGLU MLP, intermediate {ARCH['intermediate_size']}; RMSNorm eps {ARCH['rms_norm_eps']}
- RoPE theta {ARCH['rope_theta']:g}, context {ARCH['max_position_embeddings']}, tied input/output embeddings
- vocabulary {s['vocab']}; {s['params']:,} parameters, stored as bfloat16 in `model.safetensors`

Tokenizer: byte-level BPE (GPT-2 pre-tokenizer regex) trained with `tokenizers` on the same text,
{VOCAB} entries including the specials `<|endoftext|>` (id {s['bos']}: bos and end of text),
`<|im_start|>`, `<|im_end|>` (ChatML chat template in tokenizer_config.json; the model was never
trained on chat, so the template is only a format). The tokenizer's post-processor puts
`<|endoftext|>` before every encoded text, as every training chapter begins with it.
`training_log.json` lists the losses at each checkpoint.

## Training
From scratch on the CPU (torch {torch.__version__}, transformers {transformers.__version__},
tokenizers {tokenizers.__version__}, {s['threads']} thread(s)), seed {SEED}: AdamW (betas 0.9/0.95, weight decay 0.1),
peak learning rate {s['lr']}, {s['warmup']} warm-up steps then cosine decay to 10%, batches of
{s['batch']} random windows of {CTX + 1} tokens, gradient clipping 1.0.
Training tokens in the corpus: {s['train_tokens']:,}; validation tokens: {s['val_tokens']:,}.

| | |
| --- | --- |
| steps | {s['step']} ({s['tokens_seen']:,} tokens seen, {s['epochs']:.2f} epochs) |
| wall time | {s['minutes']:.1f} minutes |
| final training loss (mean of last 50 steps) | {s['train_loss']:.3f} nats/token |
| validation loss | {s['val_loss']:.3f} nats/token (perplexity {math.exp(s['val_loss']):.1f}) |
| status | {s['status']} |

Sample (transformers `generate`, prompt "And the LORD said", do_sample, temperature 0.8,
top_k 40, seed 0):

> {s['sample'].replace(chr(10), ' ')}

## Regenerate
```
apt-get install -y bible-kjv
/work/venv-dev/bin/python scripts/train_default_model.py --smoke      # quick check, writes to /tmp
/work/venv-dev/bin/python scripts/train_default_model.py --minutes 25 --threads {s['threads']}
```
The run is bounded by wall time, so the number of steps (and the exact weights) depend on the
machine; everything else (tokenizer, data order for a given step, initialisation) is seeded.
"""


def save_checkpoint(model, tok_files, outdir, cfg, stats):
    """Write a complete model folder to outdir.tmp, then swap it in (never a half-written folder)."""
    tmp = outdir.rstrip("/") + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    sd = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
    m = LlamaForCausalLM(model.config).to(torch.bfloat16)
    m.load_state_dict(sd)
    m.generation_config.bos_token_id = cfg["bos_token_id"]
    m.generation_config.eos_token_id = [cfg["eos_token_id"], stats["im_end"]]
    m.save_pretrained(tmp, safe_serialization=True)
    write_json(os.path.join(tmp, "config.json"), cfg)
    for name, data in tok_files.items():
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
            f.write(data)
    write_json(os.path.join(tmp, "training_log.json"), stats["log"])
    with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme_text(stats))
    old = outdir.rstrip("/") + ".old"
    if os.path.exists(outdir):
        os.rename(outdir, old)
    os.rename(tmp, outdir)
    if os.path.exists(old):
        shutil.rmtree(old)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, data, batches, batch, gen):
    model.eval()
    losses = []
    for _ in range(batches):
        x = sample_batch(data, batch, gen)
        losses.append(float(model(input_ids=x, labels=x).loss))
    model.train()
    return sum(losses) / len(losses)


def sample_batch(data, batch, gen):
    starts = torch.randint(0, len(data) - CTX - 1, (batch,), generator=gen)
    return torch.stack([data[s:s + CTX + 1] for s in starts.tolist()])


@torch.no_grad()
def sample_text(model, tok, prompt, n=60, seed=0):
    model.eval()
    torch.manual_seed(seed)
    ids = torch.tensor([tok.encode(prompt).ids])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=True,
                         temperature=0.8, top_k=40, pad_token_id=0)
    model.train()
    return tok.decode(out[0].tolist(), skip_special_tokens=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "models", "default"))
    ap.add_argument("--minutes", type=float, default=25.0, help="training wall-time budget")
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads; on a machine shared with builds 1 can be several times faster, "
                         "because a descheduled OpenMP thread stalls every kernel of the other")
    ap.add_argument("--smoke", action="store_true", help="20 steps into /tmp/ingot-default-smoke")
    args = ap.parse_args()
    if args.smoke:
        args.out, args.max_steps, args.minutes, args.warmup = "/tmp/ingot-default-smoke", 20, 5.0, 5

    torch.set_num_threads(args.threads)
    random.seed(SEED)
    torch.manual_seed(SEED)
    t_start = time.time()

    chapters = load_kjv()
    tok = build_tokenizer(chapters)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    bos = tok.token_to_id("<|endoftext|>")
    im_end = tok.token_to_id("<|im_end|>")
    val_chapters = 12
    train = encode_stream(tok, chapters[:-val_chapters])
    val = encode_stream(tok, chapters[-val_chapters:])
    print(f"tokenizer: {vocab} tokens; train {len(train):,} tokens, val {len(val):,} tokens "
          f"({time.time() - t_start:.1f}s)", flush=True)

    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": None, "pad_token": "<|endoftext|>",
        "model_max_length": CTX, "clean_up_tokenization_spaces": False, "chat_template": CHATML,
        "added_tokens_decoder": {str(tok.token_to_id(t)): {
            "content": t, "special": True, "lstrip": False, "rstrip": False, "normalized": False,
            "single_word": False} for t in SPECIALS},
    }
    tok_files = {"tokenizer.json": tok.to_str(pretty=True),
                 "tokenizer_config.json": json.dumps(tok_config, indent=2, ensure_ascii=False) + "\n"}
    cfg = hub_config(vocab, bos, bos)

    model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, bos_token_id=bos, eos_token_id=bos,
                                         attn_implementation="sdpa", **ARCH))
    model.train()
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params:,} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(SEED)
    eval_gen_seed = SEED + 1

    budget = args.minutes * 60.0
    stats = dict(threads=args.threads, vocab=vocab, bos=bos, im_end=im_end, params=params, lr=args.lr, warmup=args.warmup,
                 batch=args.batch, train_tokens=len(train), val_tokens=len(val), val_chapters=val_chapters,
                 step=0, tokens_seen=0, epochs=0.0, minutes=0.0, train_loss=float("nan"),
                 val_loss=float("nan"), status="training", sample="", log=[])
    recent = []
    t_train = time.time()
    last_save = t_train
    step = 0

    def checkpoint(status):
        stats.update(step=step, tokens_seen=step * args.batch * CTX,
                     epochs=step * args.batch * CTX / len(train), minutes=(time.time() - t_train) / 60.0,
                     train_loss=sum(recent[-50:]) / max(1, len(recent[-50:])),
                     val_loss=evaluate(model, val, 8, args.batch, torch.Generator().manual_seed(eval_gen_seed)),
                     status=status, sample=sample_text(model, tok, "And the LORD said"))
        stats["log"].append({"step": step, "minutes": round(stats["minutes"], 2),
                             "train_loss": round(stats["train_loss"], 4), "val_loss": round(stats["val_loss"], 4)})
        save_checkpoint(model, tok_files, args.out, cfg, stats)
        print(f"checkpoint step {step}: train {stats['train_loss']:.3f} val {stats['val_loss']:.3f} "
              f"-> {args.out}\n  sample: {stats['sample']!r}", flush=True)

    while step < args.max_steps:
        elapsed = time.time() - t_train
        if elapsed >= budget:
            break
        progress = max(step / args.max_steps, elapsed / budget)
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = sample_batch(train, args.batch, gen)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        recent.append(loss.item())
        if step % 10 == 0:
            tps = step * args.batch * CTX / (time.time() - t_train)
            print(f"step {step} loss {sum(recent[-10:]) / 10:.3f} lr {lr:.2e} {tps:.0f} tok/s "
                  f"{(time.time() - t_train) / 60:.1f} min", flush=True)
        if time.time() - last_save >= args.save_every:
            checkpoint("interrupted run: intermediate checkpoint")
            last_save = time.time()

    checkpoint("complete")

    # The folder must load back through the public API with the hub-style config, and match.
    m2 = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    t2 = AutoTokenizer.from_pretrained(args.out)
    ids = t2("And the LORD said", return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == tok.encode("And the LORD said").ids
    ref = LlamaForCausalLM(model.config).eval()
    ref.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
    with torch.no_grad():
        d = float((m2(ids).logits - ref(ids).logits).abs().max())
    assert d < 1e-4, f"reloaded model differs by {d}"
    print(f"reload check ok (max |dlogits| {d:.1e}); total {(time.time() - t_start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
