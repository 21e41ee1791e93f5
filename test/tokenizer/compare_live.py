#!/usr/bin/env python3
"""Live fuzz comparison of Ingot's tokenizer against Hugging Face `tokenizers`.

For each tokenizer.json, generates a random corpus (Unicode categories,
combining marks, emoji, CJK, odd whitespace, contractions in any case,
digit runs, the tokenizer's own added tokens and fragments of them), encodes
it with `tokenizers` and with the `ingot_tokenize` test CLI, and also decodes
random id sequences with both (plain, skip_special, and through
StreamDecoder). Prints every mismatch and exits non-zero if there is any.

    /work/venv-dev/bin/python test/tokenizer/compare_live.py \
        --bin /tmp/build-tok/bin/ingot_tokenize [TOKENIZER_JSON ...]

With no tokenizer.json given, all of runtime/tests/data/tokenizers/*/ are
checked.
"""

import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Code point pools that exercise different regex classes and normalizers.
POOLS = [
    [chr(c) for c in range(0x20, 0x7F)],                     # ASCII
    list(" \t\n\r\x0b\x0c"),                                 # ASCII spaces
    ["\u00a0", "\u1680", "\u2000", "\u2003", "\u200a", "\u2028", "\u2029",
     "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\x85", "\ufeff"],
    [chr(c) for c in range(0xA0, 0x180)],                    # Latin-1/ext
    [chr(c) for c in range(0x300, 0x370)],                   # combining
    [chr(c) for c in range(0x391, 0x3CA)] + [chr(c) for c in range(0x410, 0x450)],
    [chr(c) for c in range(0x5D0, 0x5EB)] + [chr(c) for c in range(0x627, 0x64B)],
    [chr(c) for c in range(0x4E00, 0x4E80)] + [chr(c) for c in range(0x3041, 0x3097)],
    [chr(c) for c in range(0xAC00, 0xAC40)],                 # Hangul
    [chr(c) for c in range(0x1F600, 0x1F650)] + ["\u200d", "\ufe0f", "\U0001F3FB"],
    [chr(c) for c in range(0x660, 0x66A)] + [chr(c) for c in range(0x2160, 0x2170)]
    + ["\u00b2", "\u00bd", "\u0f33", "\u2460"],               # other numerics
    ["\u017f", "\u212a", "\u0130", "\u03a3", "\u1e9e", "\ufb01", "\u2126"],
    ["\x00", "\x01", "\x1f", "\x7f", "\ufffd", "\U0010FFFD", "\ue000"],
    ["\u2581", "\u0120", "\u010a"],                          # model markers
]

FRAGMENTS = ["'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'LL", "'d", "'D",
             " 's", "''", "123", "4567", "3.14", "1,000", "  ", "   ", "\n\n",
             "\r\n", " \n ", "\t\t", "<0x41>", "<0x", "hello", "Hello",
             "supercalifragilistic", " the", "The", "café", "cafe\u0301",
             "<s>", "</s>", "<|", "|>", "<mask>", "[RSTRIP]", "http://x.y/z?a=1"]


def random_text(rng, specials):
    parts = []
    for _ in range(rng.randint(0, 12)):
        r = rng.random()
        if r < 0.35:
            pool = rng.choice(POOLS)
            parts.append("".join(rng.choice(pool)
                                 for _ in range(rng.randint(1, 8))))
        elif r < 0.55:
            parts.append(rng.choice(FRAGMENTS))
        elif r < 0.7 and specials:
            s = rng.choice(specials)
            if rng.random() < 0.2:  # a fragment of an added token
                a = rng.randrange(len(s))
                s = s[a:rng.randint(a + 1, len(s))]
            parts.append(s)
        elif r < 0.85:
            words = rng.choice(corpus.TEST_STRINGS + corpus.TRAINING_LINES)
            if words:
                a = rng.randrange(len(words))
                parts.append(words[a:a + rng.randint(1, 40)])
        else:
            parts.append(rng.choice([" ", "  ", "\n", " \t", "   \n  "]))
    return "".join(parts)


def run_cli(binary, tok_path, requests):
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    proc = subprocess.run([binary, tok_path], input=payload.encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit("ingot_tokenize failed (%d): %s" %
                         (proc.returncode, proc.stderr.decode(errors="replace")))
    # split("\n"), not splitlines(): U+2028 and \x85 are not line ends here.
    lines = proc.stdout.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(requests):
        raise SystemExit("ingot_tokenize answered %d lines for %d requests" %
                         (len(lines), len(requests)))
    return [json.loads(l) for l in lines]


def check(tok_path, binary, n, seed, max_show):
    ref = Tokenizer.from_file(tok_path)
    rng = random.Random(seed)
    added = [t.content for t in ref.get_added_tokens_decoder().values()]
    texts = corpus.test_strings() + [random_text(rng, added) for _ in range(n)]
    size = max(ref.get_vocab(with_added_tokens=True).values()) + 1
    id_seqs = [[rng.randrange(size) for _ in range(rng.randint(1, 16))]
               for _ in range(n // 4)]

    requests, expected, labels = [], [], []
    for t in texts:
        for add in (True, False):
            requests.append({"encode": t, "add_special": add})
            expected.append(ref.encode(t, add_special_tokens=add).ids)
            labels.append(("encode add_special=%s" % add, t))
        ids = expected[-2]
        for skip in (False, True):
            requests.append({"decode": ids, "skip_special": skip})
            expected.append(ref.decode(ids, skip_special_tokens=skip))
            labels.append(("decode(encode) skip=%s" % skip, ids))
            requests.append({"stream": ids, "skip_special": skip})
            expected.append(expected[-1])
            labels.append(("stream(encode) skip=%s" % skip, ids))
    for ids in id_seqs:
        for skip in (False, True):
            requests.append({"decode": ids, "skip_special": skip})
            expected.append(ref.decode(ids, skip_special_tokens=skip))
            labels.append(("decode(random) skip=%s" % skip, ids))

    got = run_cli(binary, tok_path, requests)
    bad = 0
    for g, e, (what, arg) in zip(got, expected, labels):
        if g != e:
            bad += 1
            if bad <= max_show:
                print("  MISMATCH %s on %s\n    ours: %s\n    ref:  %s" %
                      (what, ascii(arg), ascii(g), ascii(e)))
    name = os.path.basename(os.path.dirname(tok_path)) or tok_path
    print("%-14s %6d checks, %d mismatches" % (name, len(requests), bad))
    return bad


def load(name):
    with open(os.path.join(ROOT, "runtime", "tests", "data", "tokenizers",
                           name, "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


def added(content, special=True, lstrip=False, rstrip=False,
          single_word=False, normalized=False):
    return {"id": 0, "content": content, "single_word": single_word,
            "lstrip": lstrip, "rstrip": rstrip, "normalized": normalized,
            "special": special}


def variants():
    """Component combinations beyond the committed files, derived from them
    by editing the JSON (the reference loads the same edited JSON)."""
    out = []
    for scheme in ("never", "first", "always"):
        for split in (True, False):
            d = load("sp_metaspace")
            d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                                  "prepend_scheme": scheme, "split": split}
            d["decoder"] = {"type": "Metaspace", "replacement": "\u2581",
                            "prepend_scheme": scheme, "split": split}
            out.append(("metaspace_%s_%s" % (scheme, split), d))
    d = load("sp_metaspace")  # legacy field instead of prepend_scheme
    d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "add_prefix_space": True}
    out.append(("metaspace_legacy", d))

    d = load("gpt2")
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"},
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": "\\d+"}, "content": "#"}]}
    d["added_tokens"].append(added("Hello World", special=False,
                                   normalized=True))
    d["added_tokens"].append(added("\n\n", special=False))
    d["added_tokens"].append(added("  ", special=True, lstrip=True,
                                   rstrip=True))
    out.append(("gpt2_norm_added", d))

    d = load("gpt2")
    d["normalizer"] = {"type": "NFD"}
    d["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Digits", "individual_digits": False},
        {"type": "Split", "pattern": {"Regex": "x*"}, "behavior":
         "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "(?=[A-Z])"}, "behavior":
         "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True,
         "trim_offsets": True}]}
    d["decoder"] = None
    d["post_processor"] = None
    out.append(("gpt2_empty_matches_nodecoder", d))

    d = load("gpt2")  # file ids that disagree with the reference's own
    for content, fid in (("<extra>", 5000), ("<extra2>", 4000), ("the", 7)):
        t = added(content)
        t["id"] = fid
        d["added_tokens"].append(t)
    out.append(("gpt2_added_ids", d))

    d = load("llama2")
    d["added_tokens"].append(added("hello", special=False, normalized=True))
    d["added_tokens"].append(added("<tag>", special=True, single_word=True,
                                   rstrip=True))
    d["added_tokens"].append(added("!", special=True, lstrip=True))
    out.append(("llama2_added_flags", d))

    d = load("llama2")  # byte fallback with holes -> unk and bytes mix
    for b in ("<0xE4>", "<0xF0>", "<0x9F>", "<0x41>"):
        del d["model"]["vocab"][b]
    d["model"]["fuse_unk"] = True
    out.append(("llama2_byte_holes", d))
    d = json.loads(json.dumps(d))
    d["model"]["fuse_unk"] = False
    out.append(("llama2_byte_holes_nofuse", d))
    d = load("llama2")
    d["model"]["unk_token"] = None
    d["model"]["byte_fallback"] = False
    out.append(("llama2_no_unk", d))

    d = load("qwen2")  # overlapping added tokens, one also in the vocab
    d["added_tokens"].append(added("<|im", special=False))
    d["added_tokens"].append(added("<|im_start|>assistant", special=True))
    d["added_tokens"].append(added("the", special=False, normalized=True,
                                   single_word=True))
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFC"},
        {"type": "Replace", "pattern": {"String": "."}, "content": "(.)"},
        {"type": "Prepend", "prepend": "^"}]}
    out.append(("qwen2_overlapping_added", d))

    d = load("llama3")
    d["model"]["ignore_merges"] = False
    out.append(("llama3_no_ignore_merges", d))
    d = load("qwen2")
    d["pre_tokenizer"]["pretokenizers"][0]["invert"] = True
    d["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Contiguous"
    out.append(("qwen2_invert_contiguous", d))
    for behavior in ("Removed", "MergedWithPrevious", "MergedWithNext"):
        d = load("qwen2")
        d["pre_tokenizer"]["pretokenizers"][0]["behavior"] = behavior
        out.append(("qwen2_%s" % behavior, d))
    return out


def train_suffix_model(tmp):
    """BPE with continuing_subword_prefix / end_of_word_suffix and the
    BPEDecoder, trained here (the committed files do not use them)."""
    from tokenizers import decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token="[UNK]",
                               continuing_subword_prefix="##",
                               end_of_word_suffix="</w>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"],
                                  continuing_subword_prefix="##",
                                  end_of_word_suffix="</w>",
                                  show_progress=False)
    tok.train_from_iterator(corpus.training_texts(), trainer)
    return json.loads(tok.to_str())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tokenizers", nargs="*", help="tokenizer.json files")
    ap.add_argument("--bin", default=os.environ.get(
        "INGOT_TOKENIZE", "/tmp/build-tok/bin/ingot_tokenize"))
    ap.add_argument("-n", type=int, default=2000, help="random texts per file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=10, help="mismatches to print")
    ap.add_argument("--variants", action="store_true",
                    help="also check edited variants of the committed files")
    args = ap.parse_args()
    paths = args.tokenizers or sorted(glob.glob(os.path.join(
        ROOT, "runtime", "tests", "data", "tokenizers", "*", "tokenizer.json")))
    if not os.path.exists(args.bin):
        raise SystemExit("no ingot_tokenize at %s (build target ingot_tokenize "
                         "or pass --bin)" % args.bin)
    total = sum(check(p, args.bin, args.n, args.seed, args.show) for p in paths)
    if args.variants:
        with tempfile.TemporaryDirectory() as tmp:
            vs = variants() + [("bpe_suffix_prefix", train_suffix_model(tmp))]
            for name, data in vs:
                os.makedirs(os.path.join(tmp, name))
                path = os.path.join(tmp, name, "tokenizer.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(data, f, ensure_ascii=False)
                total += check(path, args.bin, args.n, args.seed, args.show)
    print("total mismatches: %d" % total)
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
