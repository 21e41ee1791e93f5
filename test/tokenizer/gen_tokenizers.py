#!/usr/bin/env python3
"""Trains small tokenizers offline with the Hugging Face `tokenizers` library
and records reference encodings/decodings for the C++ tokenizer tests.

Output: runtime/tests/data/tokenizers/<name>/{tokenizer.json,expected.json}.
The expected values come only from `tokenizers` (the independent reference);
the C++ test requires exact equality. Re-run with the dev venv:

    /work/venv-dev/bin/python test/tokenizer/gen_tokenizers.py

Configurations (each shaped like a real model's tokenizer.json):
  gpt2         byte-level BPE, GPT-2 regex via ByteLevel(use_regex), merges as
               "a b" strings, added tokens with lstrip/rstrip/single_word.
  roberta      ByteLevel(add_prefix_space) + RobertaProcessing.
  llama3       Split(Llama-3 regex) + ByteLevel(use_regex=false),
               ignore_merges=true, TemplateProcessing BOS.
  qwen2        NFC + Split(Qwen2 regex) + ByteLevel, normalized added token.
  splits       gpt2 model with a Sequence of Split behaviours and Digits.
  llama2       SentencePiece-style BPE, byte_fallback, Prepend/Replace
               normalizer, Llama-2 decoder, "<s> $A" template.
  sp_metaspace same model, Metaspace(prepend_scheme=first, split=false).
  sp_unk       no byte fallback: unk + fuse_unk, Metaspace(always, split)
               pre-tokenizer and Metaspace decoder.
"""

import json
import os
import random
import sys

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, processors, trainers)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "runtime", "tests", "data", "tokenizers")

GPT2_RE = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"
           r"|\s+(?!\S)|\s+")
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+"
             r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
            r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def train(tok, vocab_size, special, **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=special, show_progress=False,
                                  **kw)
    tok.train_from_iterator(corpus.training_texts(), trainer)
    return tok


def bytelevel_alphabet():
    return pre_tokenizers.ByteLevel.alphabet()


def merges_as_strings(data):
    data["model"]["merges"] = [m if isinstance(m, str) else " ".join(m)
                               for m in data["model"]["merges"]]
    return data


def make_gpt2():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    train(tok, 900, ["<|endoftext|>"], initial_alphabet=bytelevel_alphabet())
    tok.add_special_tokens([
        AddedToken("<mask>", lstrip=True, special=True, normalized=False),
        AddedToken("[RSTRIP]", rstrip=True, special=True, normalized=False),
    ])
    tok.add_tokens([AddedToken("hello", single_word=True, special=False,
                               normalized=False)])
    return merges_as_strings(json.loads(tok.to_str()))


def make_roberta():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    train(tok, 600, ["<s>", "<pad>", "</s>", "<unk>"],
          initial_alphabet=bytelevel_alphabet())
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True,
                                       normalized=False)])
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")),
        ("<s>", tok.token_to_id("<s>")), trim_offsets=True,
        add_prefix_space=True)
    return json.loads(tok.to_str())


def make_llama3():
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated",
                             invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"]
    train(tok, 1000, specials, initial_alphabet=bytelevel_alphabet())
    data = json.loads(tok.to_str())
    # Whole-word tokens without merges: only ignore_merges can produce them.
    vocab = data["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    for extra in ["supercalifragilistic", "Ġsupercalifragilistic", "ĠHello",
                  "Ġworld", "Ġthere", "ĠĠĠ", "ing", "Ġthe"]:
        if extra not in vocab:
            vocab[extra] = nxt
            nxt += 1
    data["model"]["ignore_merges"] = True
    bos = tok.token_to_id("<|begin_of_text|>")
    data["post_processor"] = json.loads(processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)]),
    ]).__getstate__())
    # Added tokens keep ids after the (extended) model vocab in real Llama-3;
    # here they sit at the front as trained, which is also valid.
    return data


def make_qwen2():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated",
                             invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    train(tok, 800, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
          initial_alphabet=bytelevel_alphabet())
    tok.add_tokens([
        AddedToken("<tool_call>", special=False, normalized=False),
        AddedToken("</tool_call>", special=False, normalized=False),
        # Normalized added token: matched after NFC, so both spellings hit.
        AddedToken("cafe\u0301", special=False, normalized=True),
    ])
    return json.loads(tok.to_str())


def make_splits(gpt2_data):
    data = json.loads(json.dumps(gpt2_data))
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"[.,!?]"), behavior="merged_with_previous"),
        pre_tokenizers.Split("'", behavior="merged_with_next"),
        pre_tokenizers.Split("-", behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[aeiou]+"), behavior="isolated",
                             invert=True),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
    ])
    data["pre_tokenizer"] = json.loads(pre.__getstate__())
    data["post_processor"] = None
    return data


def make_sp_base():
    """Trains a SentencePiece-shaped BPE (Metaspace words, small alphabet so
    rare characters go through byte fallback) and returns its JSON."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581",
                                                 prepend_scheme="always",
                                                 split=True)
    train(tok, 700, ["<unk>", "<s>", "</s>"], limit_alphabet=90)
    data = json.loads(tok.to_str())
    # Llama-2 layout: <unk>, <s>, </s>, <0x00>..<0xFF>, then the pieces.
    old = data["model"]["vocab"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = 3 + b
    for t, _ in sorted(old.items(), key=lambda kv: kv[1]):
        if t not in vocab:
            vocab[t] = len(vocab)
    data["model"]["vocab"] = vocab
    for at in data["added_tokens"]:
        at["id"] = vocab[at["content"]]
    return data


LLAMA2_DECODER = decoders.Sequence([
    decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
    decoders.Strip(" ", 1, 0)])


def sp_template(bos=1, eos=None):
    single = "<s> $A" if eos is None else "<s> $A </s>"
    pair = "<s> $A <s>:1 $B:1"
    specials = [("<s>", bos)] + ([("</s>", eos)] if eos is not None else [])
    return json.loads(processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=specials).__getstate__())


def make_llama2(base):
    data = json.loads(json.dumps(base))
    data["normalizer"] = json.loads(normalizers.Sequence([
        normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")
    ]).__getstate__())
    data["pre_tokenizer"] = None
    data["decoder"] = json.loads(LLAMA2_DECODER.__getstate__())
    data["post_processor"] = sp_template()
    return merges_as_strings(data)


def make_sp_metaspace(base):
    data = json.loads(json.dumps(base))
    data["normalizer"] = None
    data["pre_tokenizer"] = json.loads(pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="first",
        split=False).__getstate__())
    data["decoder"] = json.loads(LLAMA2_DECODER.__getstate__())
    data["post_processor"] = sp_template()
    return data


def make_sp_unk(base):
    data = json.loads(json.dumps(base))
    vocab = {}
    for t, _ in sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if not (len(t) == 6 and t.startswith("<0x")):
            vocab[t] = len(vocab)
    data["model"]["vocab"] = vocab
    data["model"]["byte_fallback"] = False
    for at in data["added_tokens"]:
        at["id"] = vocab[at["content"]]
    data["normalizer"] = None
    data["pre_tokenizer"] = json.loads(pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="always",
        split=True).__getstate__())
    data["decoder"] = json.loads(decoders.Metaspace(
        replacement="\u2581", prepend_scheme="always",
        split=True).__getstate__())
    data["post_processor"] = sp_template(eos=2)
    return data


def random_decode_cases(tok, rng, n=40):
    """Random id sequences (byte tokens split mid-character, specials, any
    id) so the decoder chain is checked beyond what encode produces."""
    size = tok.get_vocab_size(with_added_tokens=True)
    vocab = tok.get_vocab(with_added_tokens=True)
    byte_ids = [i for t, i in vocab.items() if t.startswith("<0x")]
    added_ids = list(tok.get_added_tokens_decoder().keys())
    cases = []
    for _ in range(n):
        length = rng.randint(1, 12)
        ids = []
        for _ in range(length):
            r = rng.random()
            if r < 0.3 and byte_ids:
                ids.append(rng.choice(byte_ids))
            elif r < 0.4 and added_ids:
                ids.append(rng.choice(added_ids))
            else:
                ids.append(rng.randrange(size))
        cases.append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    return cases


def write(name, data, rng):
    text = json.dumps(data, ensure_ascii=False, indent=None,
                      separators=(",", ":"))
    tok = Tokenizer.from_str(text)  # the reference loads our exact file
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    cases = []
    for s in corpus.test_strings():
        with_special = tok.encode(s, add_special_tokens=True).ids
        without = tok.encode(s, add_special_tokens=False).ids
        cases.append({
            "text": s,
            "ids": with_special,
            "ids_no_special": without,
            "decoded": tok.decode(with_special, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(with_special,
                                               skip_special_tokens=True),
        })
    vocab = tok.get_vocab(with_added_tokens=True)
    specials = sorted(i for i, t in tok.get_added_tokens_decoder().items()
                      if t.special)
    expected = {
        "generator": "tokenizers " + __import__("tokenizers").__version__,
        "vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
        "vocab": vocab,
        # id_to_token differs from the vocab for normalized added tokens
        # (it shows their normalized form).
        "id_to_token": [tok.id_to_token(i)
                        for i in range(max(vocab.values()) + 1)],
        "special_ids": specials,
        "cases": cases,
        "decode_cases": random_decode_cases(tok, rng),
    }
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=None,
                  separators=(",", ":"))
        f.write("\n")
    print("%-13s vocab %4d  tokenizer.json %6d B  expected.json %6d B" % (
        name, len(vocab), len(text.encode()),
        os.path.getsize(os.path.join(d, "expected.json"))))


def main():
    rng = random.Random(1234)
    gpt2 = make_gpt2()
    write("gpt2", gpt2, rng)
    write("roberta", make_roberta(), rng)
    write("llama3", make_llama3(), rng)
    write("qwen2", make_qwen2(), rng)
    write("splits", make_splits(gpt2), rng)
    base = make_sp_base()
    write("llama2", make_llama2(base), rng)
    write("sp_metaspace", make_sp_metaspace(base), rng)
    write("sp_unk", make_sp_unk(base), rng)


if __name__ == "__main__":
    main()
