"""Chat templates: Ingot's Jinja subset (runtime/src/chat_template*.cpp) against
the reference renderer, Python's jinja2 configured as transformers configures it
for apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loop controls, its tojson, raise_exception and strftime_now).
Every template under templates/ and every fixture's tokenizer_config.json
template is rendered for several conversations by `ingot chat-template` and by
jinja2, and the texts must be equal. Where transformers is installed, the
fixtures' token ids are also compared with tokenizer.apply_chat_template.

Run by ctest (test/CMakeLists.txt: serving_chat_template) with INGOT_BIN.
"""
import json
import os
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

jinja2 = pytest.importorskip("jinja2")
from jinja2.ext import loopcontrols  # noqa: E402
from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BIN = Path(os.environ.get("INGOT_BIN", ROOT / "build" / "bin"))
FAMILIES = ["llama", "llama3", "qwen2", "qwen3", "mistral", "gpt2", "mixtral"]


def reference_render(source, ctx):
    """transformers' _compile_jinja_template, without its generation tracker."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source).render(**ctx)


@pytest.fixture(scope="module")
def plan():
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "llama.plan"
        subprocess.run([str(BIN / "ingotc"), str(FIXTURES / "llama"), "-o", str(out),
                        "--max-tokens", "64", "--max-seqs", "8"], check=True, capture_output=True)
        yield out


def ingot_render(plan, ctx, template=None, ids=False):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(ctx, f)
        path = f.name
    try:
        cmd = [str(BIN / "ingot"), "chat-template", str(plan), "--messages", path]
        if template:
            cmd += ["--chat-template", str(template)]
        if ids:
            cmd.append("--ids")
        r = subprocess.run(cmd, capture_output=True)
        return r.returncode, r.stdout.decode("utf-8"), r.stderr.decode("utf-8")
    finally:
        os.unlink(path)


SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": ""}

CONVERSATIONS = {
    "single": [{"role": "user", "content": "Hello!"}],
    "system": [{"role": "system", "content": "  You are terse.\n"},
               {"role": "user", "content": "What is 2+2?"},
               {"role": "assistant", "content": "4"},
               {"role": "user", "content": "  And 3+3?  "}],
    "unicode": [{"role": "user", "content": "Grüße, 世界! \"quoted\" \\ back\nslash\ttab"},
                {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nÉtat: ok"},
                {"role": "user", "content": "<tool_response>x</tool_response>"}],
    "tools": [{"role": "system", "content": "sys"},
              {"role": "user", "content": "weather?"},
              {"role": "assistant", "content": "",
               "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                                "arguments": {"city": "Paris", "days": 2}}}]},
              {"role": "tool", "content": "sunny"},
              {"role": "tool", "content": "warm"},
              {"role": "user", "content": "thanks"}],
    "alternation_error": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
}

EXTRA = {
    "none": {},
    "tools_var": {"tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                              "parameters": {"type": "object", "properties": {
                                                                  "city": {"type": "string"}}}}}],
                  "builtin_tools": ["code_interpreter", "brave_search"], "tools_in_user_message": False},
    "thinking_off": {"enable_thinking": False},
}


def contexts():
    for cname, msgs in CONVERSATIONS.items():
        for ename, extra in EXTRA.items():
            for gen in (True, False):
                ctx = {"messages": msgs, "add_generation_prompt": gen, "tools": None, "documents": None}
                ctx.update(SPECIAL)
                ctx.update(extra)
                yield f"{cname}-{ename}-{'gen' if gen else 'nogen'}", ctx


def template_sources():
    for p in sorted(TEMPLATES.glob("*.jinja")):
        yield p.stem, p
    for fam in FAMILIES:
        cfg = FIXTURES / fam / "tokenizer_config.json"
        if cfg.exists() and "chat_template" in json.loads(cfg.read_text()):
            yield f"fixture-{fam}", cfg


@pytest.mark.parametrize("name,path", list(template_sources()))
def test_matches_jinja2(plan, name, path):
    """Same text as jinja2 for every conversation; where jinja2 raises (a
    template's raise_exception, an undefined attribute), ingot fails too, with
    the template's own message."""
    if path.suffix == ".json":
        source = json.loads(path.read_text())["chat_template"]
    else:
        source = path.read_text()
    checked = 0
    for cname, ctx in contexts():
        try:
            want = reference_render(source, ctx)
        except Exception as e:  # noqa: BLE001 - any jinja2 failure must be a failure here too
            rc, out, err = ingot_render(plan, ctx, path)
            assert rc != 0, f"{name}/{cname}: jinja2 raised {e!r} but ingot rendered:\n{out}"
            if isinstance(e, jinja2.exceptions.TemplateError) and not isinstance(e, jinja2.exceptions.UndefinedError):
                assert str(e) in err, f"{name}/{cname}: message {e!s} not in {err}"
            continue
        rc, out, err = ingot_render(plan, ctx, path)
        assert rc == 0, f"{name}/{cname}: ingot failed: {err}"
        assert out == want, f"{name}/{cname}:\n--- ingot\n{out!r}\n--- jinja2\n{want!r}"
        checked += 1
    assert checked > 0


def test_builtin_templates_match_jinja2(plan):
    """The built-in templates (--chat-template chatml|llama3|...) are valid Jinja
    that jinja2 renders the same way."""
    sources = {}
    for name in ["chatml", "llama3", "llama2", "mistral", "zephyr", "plain"]:
        ctx = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                            {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}],
               "add_generation_prompt": True, "tools": None, "documents": None, **SPECIAL}
        rc, out, err = ingot_render(plan, ctx, name)
        assert rc == 0, err
        sources[name] = out
    # Known shapes, written out independently of the renderer.
    assert sources["chatml"] == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
                                 "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n"
                                 "<|im_start|>assistant\n")
    assert sources["llama3"] == ("<s><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                                 "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
                                 "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
                                 "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
                                 "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert sources["llama2"] == "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"


def test_errors_name_the_position(plan):
    bad = TEMPLATES.parent / "bad_template.tmp.jinja"
    bad.write_text("line one\n{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}")
    try:
        rc, out, err = ingot_render(plan, {"messages": [{"role": "user", "content": "x"}]}, bad)
        assert rc == 1
        assert "line 2" in err and "nosuchfilter" in err, err
    finally:
        bad.unlink()


@pytest.mark.parametrize("family", FAMILIES)
def test_fixture_ids_match_transformers(plan, family, tmp_path):
    """Token ids of the rendered prompt (what the server feeds the engine)
    equal transformers' apply_chat_template(tokenize=True)."""
    transformers = pytest.importorskip("transformers")
    fixture = FIXTURES / family
    if not (fixture / "tokenizer_config.json").exists():
        pytest.skip("no tokenizer_config.json")
    tok = transformers.AutoTokenizer.from_pretrained(str(fixture))
    if not tok.chat_template:
        pytest.skip("no chat template")
    fam_plan = tmp_path / f"{family}.plan"
    subprocess.run([str(BIN / "ingotc"), str(fixture), "-o", str(fam_plan), "--max-tokens", "64",
                    "--max-seqs", "8"], check=True, capture_output=True)
    for cname in ["single", "system", "unicode"]:
        msgs = CONVERSATIONS[cname]
        try:
            want = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        except Exception:  # noqa: BLE001 - e.g. a template refusing the system role
            continue
        if hasattr(want, "keys"):
            want = want["input_ids"]
        rc, out, err = ingot_render(fam_plan, {"messages": msgs}, ids=True)
        assert rc == 0, err
        assert json.loads(out) == list(want), f"{family}/{cname}"
