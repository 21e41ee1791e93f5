"""Shared text corpora for the tokenizer reference tests.

TRAINING_LINES feeds the `tokenizers` trainers (together with the license
texts in /usr/share/common-licenses); TEST_STRINGS are the strings whose
encodings are recorded in expected.json. Both cover the areas where a
re-implementation usually diverges: Unicode categories, combining marks,
emoji ZWJ sequences, CJK, whitespace runs, tabs/newlines, digits,
contractions (any case), special tokens embedded in text, and odd spaces
(NBSP, U+180E, ideographic space).
"""

import glob
import os

TRAINING_LINES = [
    "Hello world! How are you doing today? I'm fine, thanks.",
    "Don't stop believing; we'll see what they've done. She'd say it's OK.",
    "DON'T SHOUT. IT'S LOUD. WE'LL SEE. THEY'VE GONE. I'M HERE. YOU'RE THERE.",
    "Ünïcödé naïve café résumé coöperate façade jalapeño Ångström Straße",
    "Привет, мир! Как дела? Ελληνικά γράμματα. עברית ועוד. العربية جميلة",
    "你好，世界！今天天气很好。日本語のテキストです。한국어 문장입니다.",
    "Emoji: 😀😃😄 👋🌍 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷🇩🇪 ✨🔥💯",
    "Numbers: 12345 3.14159 1,000,000 2024-01-01 0xFF 1e-9 42nd 7th",
    "Code: def f(x):\n    return x ** 2  # square\n\tif (a && b) { c++; }",
    "Whitespace   runs\t\ttabs\n\nnewlines\r\n and   trailing   ",
    "https://example.com/path?query=1&other=two#frag <tag attr=\"v\"> [link](url)",
    "e\u0301 cafe\u0301 n\u0303 a\u0308 o\u0302 combining marks are fun",
    "Mixed日本語and English文字 together123with456digits",
]

TEST_STRINGS = [
    "",
    "Hello world",
    " Hello world",
    "Hello  world   !",
    "hello",
    "   ",
    " ",
    "\n",
    "\n\n\n",
    "Tabs\tand\nnewlines\r\n\n\nend",
    "trailing spaces   ",
    "  leading and trailing  ",
    "I'm you're he'll they've we'd she's it's",
    "I'M YOU'RE HE'LL THEY'VE WE'D SHE'S IT'S 'S 'T",
    "'ſ long s and \u212a kelvin",
    "Numbers 12345 3.14159 1,000,000 2024-01-01 9999999999",
    "Ünïcödé naïve café résumé Straße",
    "e\u0301 cafe\u0301 n\u0303 a\u0308\u0301 decomposed",
    "café vs cafe\u0301",
    "你好，世界！日本語のテキスト 한국어",
    "Emoji 👋🌍 😀😃 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷",
    "Привет, мир! Ελληνικά עברית العربية",
    "odd\u00a0spaces\u2003em\u3000ideo\u180emongol \u200bzw\u2028ls\u2029ps\x85nel",
    "control\x00chars\x01\x1f\x7f here",
    "\t\t\tindent\n    code = 1\n",
    "def f(x):\n    return x ** 2  # comment\n",
    "https://example.com/a?b=c&d=e!!! ... --- ***",
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    "<|endoftext|>Hello<|endoftext|> world <|endoftext|>",
    "<|endoftext",
    "<s>Hi</s>",
    "<s> Hi </s> <s>",
    "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "a <mask> b<mask>c  <mask>  d",
    "say hello, hellothere, hello_x, (hello) hello",
    "[RSTRIP]   after and before   [RSTRIP]",
    "<tool_call>{\"a\": 1}</tool_call>",
    "▁ literal metaspace ▁▁ and ▁x",
    "<0x41> looks like a byte token",
    "supercalifragilistic word and supercalifragilisticexpialidocious",
    "Mixed日本語and English文字 together123with456digits",
    "a" * 300,
    "ab " * 150,
    " " * 40 + "x" + " " * 40,
    "1234567890" * 30,
    "\u00e9" * 50 + "\u4e2d" * 50 + "😀" * 30,
    "x\r\ny\rz\n\r w",
    "!!!???...,,,;;;:::",
]


def license_text():
    """Offline English text from the Debian license files."""
    out = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                out.append(f.read())
    return out


def long_license_string(n=2500):
    text = "\n".join(license_text())
    start = text.find("Preamble")
    if start < 0:
        start = 0
    return text[start:start + n]


def training_texts():
    # Repeat the Unicode lines so their pairs pass min_frequency and
    # produce merges for non-ASCII text as well.
    return license_text() + TRAINING_LINES * 20


def test_strings():
    return TEST_STRINGS + [long_license_string()]
