#!/usr/bin/env python3
"""CPU benchmark of issue 2: Ingot vs onnxruntime on one ~100M-parameter Llama, batch 1, same run.

Measures, on this machine and in one invocation:
  compile  ingotc wall time for --weights=embed and --weights=external (median of --compile-repeats)
  load     plan open + executor creation inside `ingot bench` (in-process clocks), and the "load:"
           line of `ingot run --stats` (adds the tokenizer), with and without the weights checksum
  speed    prefill tokens/s for each --prompt-lens and decode tokens/s for --decode steps after it,
           for `ingot bench` (plan with embedded weights) and for onnxruntime (CPU EP, graph
           optimisations ORT_ENABLE_ALL, present.* fed back as past_key_values.*); same prompt ids,
           same thread count, same warm-up, greedy argmax on both sides; each engine runs in its own
           child process; rounds alternate between the engines so background load hits both alike;
           medians over all timed runs. Twice: default settings (libgomp and ORT threads spin-wait)
           and without spinning (OMP_WAIT_POLICY=PASSIVE / session.intra_op.allow_spinning=0)
  memory   peak RSS (wait4 ru_maxrss of the child) of `ingot run`, of the `ingot bench` and ORT
           children, next to the plan's weight bytes
  checks   ingot's prefill logits vs onnxruntime's, and how many greedy tokens agree
OpenBLAS: an OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the environment (this sandbox sets
OPENBLAS_CORETYPE=Haswell, i.e. AVX2 kernels) would override OpenBLAS's own CPU detection while
onnxruntime's MLAS detects the CPU itself; by default (--blas-env auto) the ingot children run
without them so both libraries pick their own kernels; --blas-env inherit keeps them. The original
values are recorded.
Results: a JSON file (--json) and a Markdown summary on stdout (pasted into docs/performance.md).
Prerequisites: make_bench_model.py, export_onnx.py, and built ingotc + ingot (--build).
Shared machine: --quiet-wait S waits up to S seconds before each speed child until no other task is
runnable, and the tables show the best run next to the median.
Usage: /work/venv-dev/bin/python scripts/bench/bench_cpu.py [--build /tmp/build-bench] [--threads 2]
           [--quiet-wait 60]
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


# ----------------------------------------------------------------------------------------------
# Child processes with their own peak RSS
# ----------------------------------------------------------------------------------------------
def run_child(cmd, env=None, check=True):
    """Runs cmd; returns (wall seconds, stdout, stderr, peak RSS bytes of that child alone)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    so, se = out.read().decode(), err.read().decode()
    if check and p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)[:300]}\n{se[-3000:]}")
    return wall, so, se, ru.ru_maxrss * 1024  # Linux reports KiB


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def loadavg():
    return list(os.getloadavg())


def running_tasks():
    """Runnable tasks right now (4th field of /proc/loadavg counts the reader too)."""
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[0])


def wait_quiet(limit_s):
    """Waits up to limit_s until no other task is runnable in 3 polls 0.5 s apart; returns the
    seconds waited (None: never quiet). Other users' bursts then hit fewer of the timed runs."""
    if limit_s <= 0:
        return 0.0
    t0 = time.monotonic()
    calm = 0
    while time.monotonic() - t0 < limit_s:
        calm = calm + 1 if running_tasks() <= 1 else 0
        if calm >= 3:
            return time.monotonic() - t0
        time.sleep(0.5)
    return None


# ----------------------------------------------------------------------------------------------
# onnxruntime worker (runs in a child process: no torch, own RSS)
# ----------------------------------------------------------------------------------------------
def ort_worker(args):
    import onnxruntime as ort

    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if args.ort_no_spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    session_s = time.perf_counter() - t0
    ins = {i.name: i for i in sess.get_inputs()}
    past_names = [n for n in ins if n.startswith("past_key_values.")]
    outs = [o.name for o in sess.get_outputs()]
    assert outs[0] == "logits" and len(outs) == 1 + len(past_names)
    kv_heads, head_dim = ins[past_names[0]].shape[1], ins[past_names[0]].shape[3]
    prompt = np.array([int(x) for x in args.ids.split(",")], np.int64)[None]
    L = prompt.shape[1]

    def generate(steps):
        past = {n: np.zeros((1, kv_heads, 0, head_dim), np.float32) for n in past_names}
        t = time.perf_counter()
        feeds = {"input_ids": prompt, "attention_mask": np.ones((1, L), np.int64),
                 "position_ids": np.arange(L, dtype=np.int64)[None], **past}
        res = sess.run(None, feeds)
        tok = int(np.argmax(res[0][0, -1]))
        first_logits = res[0][0, -1]
        prefill = time.perf_counter() - t
        toks = [tok]
        t = time.perf_counter()
        pos = L
        for _ in range(steps):
            feeds = {"input_ids": np.array([[tok]], np.int64),
                     "attention_mask": np.ones((1, pos + 1), np.int64),
                     "position_ids": np.array([[pos]], np.int64)}
            feeds.update(zip(past_names, res[1:]))
            res = sess.run(None, feeds)
            tok = int(np.argmax(res[0][0, -1]))
            toks.append(tok)
            pos += 1
        return prefill, time.perf_counter() - t, toks, first_logits

    runs = []
    for i in range(args.warmup + args.repeat):
        p, d, toks, first = generate(args.decode)
        if i >= args.warmup:
            runs.append({"prefill_s": p, "decode_s": d, "decode_steps": args.decode})
    if args.logits_out:
        np.save(args.logits_out, first)
    print(json.dumps({"session_s": session_s, "prompt_tokens": L, "runs": runs, "tokens": toks}))


# ----------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------
def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        rev = "?"
    import onnxruntime
    return {"cpu": model, "cores": os.cpu_count(), "mem_bytes": mem, "kernel": platform.release(),
            "onnxruntime": onnxruntime.__version__, "git": rev,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def prompt_ids(n, vocab, bos, seed=1234):
    rng = np.random.default_rng(seed + n)
    return [bos] + [int(x) for x in rng.integers(3, vocab, size=n - 1)]


BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def child_env(a, **extra):
    env = dict(os.environ)
    if a.blas_env == "auto":
        for k in BLAS_VARS:
            env.pop(k, None)
    env.update(extra)
    return env


def ingot_bench(a, plan, ids, env=None, extra=()):
    cmd = [a.ingot, "bench", plan, "--ids", ",".join(map(str, ids)), "--threads", str(a.threads),
           "--max-tokens", str(a.decode + 1), "--warmup", str(a.warmup), "--repeat", str(a.repeat), *extra]
    wall, so, _, rss = run_child(cmd, env=env or child_env(a))
    j = json.loads(so.strip().splitlines()[-1])
    j["peak_rss"] = rss
    return j


def ort_bench(a, ids, no_spin=False, logits_out=None, decode=None, warmup=None, repeat=None):
    pick = lambda x, d: d if x is None else x  # noqa: E731
    cmd = [sys.executable, os.path.abspath(__file__), "--ort-worker", "--onnx", a.onnx, "--ids",
           ",".join(map(str, ids)), "--threads", str(a.threads), "--decode", str(pick(decode, a.decode)),
           "--warmup", str(pick(warmup, a.warmup)), "--repeat", str(pick(repeat, a.repeat))]
    if no_spin:
        cmd.append("--ort-no-spin")
    if logits_out:
        cmd += ["--logits-out", logits_out]
    wall, so, _, rss = run_child(cmd)
    j = json.loads(so.strip().splitlines()[-1])
    j["peak_rss"] = rss
    return j


def speeds(runs):
    pre = [r["prefill_s"] for r in runs]
    dec = [r["decode_steps"] / r["decode_s"] for r in runs if r["decode_s"] > 0]
    return {"prefill_s": med(pre), "decode_tok_s": med(dec), "samples": len(runs),
            "prefill_s_best": min(pre), "decode_tok_s_best": max(dec),
            "prefill_s_all": pre, "decode_tok_s_all": dec}


def parse_stats(stderr):
    m = re.search(r"load:\s+([0-9.]+) s", stderr)
    return float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="/tmp/ingot-bench/llama-100m")
    ap.add_argument("--onnx", default="/tmp/ingot-bench/llama-100m.onnx")
    ap.add_argument("--build", default="/tmp/build-bench", help="build dir with bin/ingotc and bin/ingot")
    ap.add_argument("--work", default="/tmp/ingot-bench", help="where plans are written")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-lens", default="128,512")
    ap.add_argument("--decode", type=int, default=128, help="decode steps after the prefill")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per child process")
    ap.add_argument("--rounds", type=int, default=3, help="child processes per engine (alternating)")
    ap.add_argument("--compile-repeats", type=int, default=3)
    ap.add_argument("--load-repeats", type=int, default=5)
    ap.add_argument("--no-spin-study", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=0,
                    help="before each speed child, wait up to this many seconds for no other runnable task")
    ap.add_argument("--blas-env", choices=("auto", "inherit"), default="auto",
                    help="auto: run ingot without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (OpenBLAS detects the CPU)")
    ap.add_argument("--json", default="/tmp/ingot-bench/bench_cpu.json")
    # worker mode (internal)
    ap.add_argument("--ort-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ort-no-spin", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ids", help=argparse.SUPPRESS)
    ap.add_argument("--logits-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_worker:
        return ort_worker(a)

    a.ingotc = os.path.join(a.build, "bin", "ingotc")
    a.ingot = os.path.join(a.build, "bin", "ingot")
    for f in (a.ingotc, a.ingot, a.onnx, os.path.join(a.ckpt, "config.json")):
        if not os.path.exists(f):
            sys.exit(f"missing {f}: see the prerequisites in --help")
    with open(os.path.join(a.ckpt, "config.json")) as f:
        cfg = json.load(f)
    R = {"machine": machine_info(), "threads": a.threads, "settings": vars(a).copy(),
         "loadavg": {"start": loadavg()},
         "env": {k: os.environ.get(k) for k in BLAS_VARS + ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                            "OMP_NUM_THREADS")}}
    print(f"# machine: {R['machine']}", file=sys.stderr)

    # --- compile ------------------------------------------------------------------------------
    plans = {"embed": os.path.join(a.work, "llama-100m.plan"),
             "external": os.path.join(a.work, "llama-100m-ext.plan")}
    R["compile"] = {}
    for mode, plan in plans.items():
        walls = []
        for _ in range(a.compile_repeats):
            w, _, _, rss = run_child([a.ingotc, a.ckpt, "-o", plan, f"--weights={mode}"])
            walls.append(w)
        R["compile"][mode] = {"wall_s": med(walls), "all": walls, "peak_rss": rss,
                              "plan_bytes": os.path.getsize(plan)}
        print(f"# compile {mode}: {med(walls):.2f} s", file=sys.stderr)
    _, so, _, _ = run_child([a.ingot, "inspect", plans["embed"], "--json"])
    info = json.loads(so)
    R["weights"] = {"bytes": info["weights"]["bytes"], "parameters": info["weights"]["parameters"],
                    "safetensors_bytes": sum(os.path.getsize(os.path.join(a.ckpt, f))
                                             for f in os.listdir(a.ckpt) if f.endswith(".safetensors"))}
    vocab, bos = info["model"]["vocab_size"], info["model"]["bos_token_id"]

    # --- load -------------------------------------------------------------------------------
    R["load"] = {}
    for mode, plan in plans.items():
        for verify in (True, False):
            key = f"{mode}{'' if verify else '-noverify'}"
            extra = [] if verify else ["--no-verify-weights"]
            stats, walls, rsss = [], [], []
            for _ in range(a.load_repeats):
                w, _, se, rss = run_child([a.ingot, "run", plan, "--prompt", "x", "--max-tokens", "1",
                                           "--stats", "--threads", str(a.threads), *extra],
                                          env=child_env(a))
                stats.append(parse_stats(se))
                walls.append(w)
                rsss.append(rss)
            R["load"][key] = {"stats_load_s": med(stats), "process_wall_s": med(walls),
                              "peak_rss": med(rsss), "all": stats}
            print(f"# load {key}: {med(stats) * 1000:.0f} ms (process {med(walls) * 1000:.0f} ms)",
                  file=sys.stderr)

    # --- speed ------------------------------------------------------------------------------
    # Engines x settings; every round runs each once per prompt length, so slow drifts in the
    # background load are shared. "spin" settings: libgomp spins at barriers by default, and so
    # do ORT's intra-op threads; the passive variants sleep instead.
    engines = [("ingot", None), ("ort", False)]
    if not a.no_spin_study:
        engines += [("ingot", "PASSIVE"), ("ort", True)]
    name = lambda e, v: (f"ingot OMP_WAIT_POLICY={v}" if v else "ingot") if e == "ingot" else \
        ("ort allow_spinning=0" if v else "ort")  # noqa: E731
    R["speed"] = {}
    lens = [int(x) for x in a.prompt_lens.split(",")]
    acc = {L: {name(e, v): {"runs": [], "load": [], "rss": [], "tokens": None} for e, v in engines}
           for L in lens}
    la, waited = [], []
    for r in range(a.rounds):
        for L in lens:
            ids = prompt_ids(L, vocab, bos)
            for e, v in engines:
                waited.append(wait_quiet(a.quiet_wait))
                la.append(loadavg()[0])
                if e == "ingot":
                    env = child_env(a, OMP_WAIT_POLICY=v) if v else None
                    j = ingot_bench(a, plans["embed"], ids, env=env)
                    load = j["open_s"] + j["executor_s"]
                else:
                    j = ort_bench(a, ids, no_spin=v)
                    load = j["session_s"]
                d = acc[L][name(e, v)]
                d["runs"] += j["runs"]
                d["load"].append(load)
                d["rss"].append(j["peak_rss"])
                d["tokens"] = j["tokens"]
                sp = speeds(j["runs"])
                print(f"# round {r} L={L} {name(e, v)}: prefill {L / sp['prefill_s']:.0f} tok/s, "
                      f"decode {sp['decode_tok_s']:.1f} tok/s (load avg {la[-1]:.2f})", file=sys.stderr)
    for L in lens:
        R["speed"][L] = {}
        for k, d in acc[L].items():
            sp = speeds(d["runs"])
            R["speed"][L][k] = {**sp, "prefill_tok_s": L / sp["prefill_s"],
                                "prefill_tok_s_best": L / sp["prefill_s_best"], "load_s": med(d["load"]),
                                "peak_rss": max(d["rss"]), "tokens": d["tokens"]}
        ti, to = R["speed"][L]["ingot"]["tokens"], R["speed"][L]["ort"]["tokens"]
        agree = 0
        for x, y in zip(ti, to):
            if x != y:
                break
            agree += 1
        R["speed"][L]["greedy_agree"] = [agree, len(to), len(set(to))]
    R["loadavg"]["during_speed_1m"] = la
    R["quiet_wait_s"] = waited

    # --- logits check (first prompt length) ---------------------------------------------------
    ids = prompt_ids(lens[0], vocab, bos)
    with tempfile.TemporaryDirectory() as td:
        run_child([a.ingot, "logits", plans["embed"], "--ids", ",".join(map(str, ids)), "--mode", "prefill",
                   "--out", os.path.join(td, "ingot.npy"), "--threads", str(a.threads)], env=child_env(a))
        ort_bench(a, ids, logits_out=os.path.join(td, "ort.npy"), decode=0, warmup=0, repeat=1)
        li = np.load(os.path.join(td, "ingot.npy"))[-1]
        lo = np.load(os.path.join(td, "ort.npy"))
        R["logits_check"] = {"prompt_tokens": lens[0], "max_abs_diff": float(np.max(np.abs(li - lo))),
                             "max_abs_logit": float(np.max(np.abs(lo))),
                             "argmax_equal": bool(np.argmax(li) == np.argmax(lo))}

    R["loadavg"]["end"] = loadavg()
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(R, f, indent=1)
    print(markdown(R, a))


def markdown(R, a):
    M = R["machine"]
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    st, en = R["loadavg"]["start"], R["loadavg"]["end"]
    lad = R["loadavg"]["during_speed_1m"]
    o = [f"Machine: {M['cpu']}, {M['cores']} cores, {M['mem_bytes'] / 2**30:.0f} GiB; kernel {M['kernel']}; "
         f"onnxruntime {M['onnxruntime']}; ingot git {M['git']}; {M['date']}.",
         f"Load average (1/5/15 min) at start {st[0]:.2f}/{st[1]:.2f}/{st[2]:.2f}, at end "
         f"{en[0]:.2f}/{en[1]:.2f}/{en[2]:.2f}; 1-min load during the speed runs {min(lad):.2f} to {max(lad):.2f} "
         f"(median {med(lad):.2f})."
         + (f" Before each speed child the script waited up to {a.quiet_wait:.0f} s for no other runnable task: "
            f"{sum(w is not None for w in R['quiet_wait_s'])} of {len(R['quiet_wait_s'])} started quiet."
            if a.quiet_wait > 0 else ""),
         f"Threads: {a.threads} (ingot --threads, ORT intra_op_num_threads); warm-up {a.warmup} run, then "
         f"{a.rounds} child processes x {a.repeat} timed runs per engine and setting, alternating; medians, and the best run (least disturbed by other load).",
         f"Environment: {', '.join(f'{k}={v}' for k, v in R['env'].items() if v is not None) or 'none of note'}; "
         f"ingot children {'without OPENBLAS_* (OpenBLAS detects the CPU)' if a.blas_env == 'auto' else 'inherit it'}.\n"]
    pairs = [("default settings (both spin-wait)", "ingot", "ort")]
    L0 = next(iter(R["speed"]))
    if "ort allow_spinning=0" in R["speed"][L0]:
        pairs.append(("no spin-waiting (OMP_WAIT_POLICY=PASSIVE / allow_spinning=0)",
                      "ingot OMP_WAIT_POLICY=PASSIVE", "ort allow_spinning=0"))
    s0 = R["speed"][L0]
    Lm = list(R["speed"])[-1]
    for title, i, r in pairs:
        o.append(f"{title}:\n")
        o.append("| batch 1, fp32 | ingot | onnxruntime | ingot / ORT | best: ingot | ORT | ratio |")
        o.append("|---|---:|---:|---:|---:|---:|---:|")
        for L, s in R["speed"].items():
            for what, key, fmt in ((f"prefill {L} tokens, tok/s", "prefill_tok_s", ".0f"),
                                   (f"decode {a.decode} tokens after {L}, tok/s", "decode_tok_s", ".1f")):
                x, y = s[i][key], s[r][key]
                xb, yb = s[i][key + "_best"], s[r][key + "_best"]
                o.append(f"| {what} | {x:{fmt}} | {y:{fmt}} | {x / y:.2f} | {xb:{fmt}} | {yb:{fmt}} | {xb / yb:.2f} |")
        o.append(f"| load: ingot plan open + executor, ORT session | {s0[i]['load_s'] * 1000:.0f} ms | "
                 f"{s0[r]['load_s'] * 1000:.0f} ms | {s0[i]['load_s'] / s0[r]['load_s']:.2f} | | | |")
        sm = R["speed"][Lm]
        o.append(f"| peak RSS, prompt {Lm} + {a.decode} decode (ORT process incl. Python) | "
                 f"{mib(sm[i]['peak_rss'])} | {mib(sm[r]['peak_rss'])} | {sm[i]['peak_rss'] / sm[r]['peak_rss']:.2f} | | | |")
        o.append("")
    o.append("")
    W = R["weights"]
    o.append(f"Weights: {W['parameters'] / 1e6:.1f}M parameters, {W['bytes']} bytes ({mib(W['bytes'])}) as fp32 "
             f"(safetensors {mib(W['safetensors_bytes'])}).\n")
    o.append("| compile / load (median) | time | peak RSS | RSS / weight bytes |")
    o.append("|---|---:|---:|---:|")
    for mode, c in R["compile"].items():
        o.append(f"| ingotc --weights={mode} (plan {mib(c['plan_bytes'])}) | {c['wall_s']:.2f} s | "
                 f"{mib(c['peak_rss'])} | {c['peak_rss'] / W['bytes']:.2f} |")
    for key, l in R["load"].items():
        o.append(f"| `ingot run --stats` \"load\", {key} plan (process wall {l['process_wall_s'] * 1000:.0f} ms) | "
                 f"{l['stats_load_s'] * 1000:.0f} ms | {mib(l['peak_rss'])} | {l['peak_rss'] / W['bytes']:.2f} |")
    for L, s in R["speed"].items():
        o.append(f"| `ingot bench` process, prompt {L} + {a.decode} decode | | {mib(s['ingot']['peak_rss'])} | "
                 f"{s['ingot']['peak_rss'] / W['bytes']:.2f} |")
    o.append("")
    lc = R["logits_check"]
    o.append(f"Check: prefill logits of {lc['prompt_tokens']} tokens, max |ingot - ORT| = {lc['max_abs_diff']:.2e} "
             f"(max |logit| {lc['max_abs_logit']:.1f}), argmax equal: {lc['argmax_equal']}; greedy tokens "
             + ", ".join(f"prompt {L}: first {s['greedy_agree'][0]}/{s['greedy_agree'][1]} agree "
                         f"({s['greedy_agree'][2]} distinct)" for L, s in R["speed"].items()) + ".")
    return "\n".join(o)


if __name__ == "__main__":
    main()
