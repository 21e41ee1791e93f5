#!/usr/bin/env python3
"""Serving figures of issue 3 on the CPU: continuous batching vs one request at a time, and time to
first token with a cached vs uncached 1,000-token prefix.

Runs build/bin/ingot_bench_engine (runtime/bench/bench_engine.cpp: the engine driven in-process, no
HTTP) on the random-weight serving model of make_serving_model.py (created if missing), compiled
with ingotc from the same build:
  batching     N requests with distinct random prompts, greedy, EOS ignored, fixed max tokens:
               one at a time (each finishes before the next is added) vs all added at once; generated
               tokens/s of each and the ratio; also checks every request's tokens are identical both
               ways (batch invariance)
  prefix-ttft  add() -> first token of a 1,000-token prefix + 16-token suffix, prefix never seen vs
               served before (prefix cache); medians of --repeat runs
Each measurement is repeated --rounds times in fresh processes; the median round is reported.
Output: Markdown rows (pasted into docs/performance.md) and, with --json, every raw result.
Usage: /work/venv-dev/bin/python scripts/bench/bench_batching.py --build /tmp/build [--threads 2]
"""

import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build directory with bin/ingotc and bin/ingot_bench_engine")
    ap.add_argument("--model", default="/tmp/ingot-bench/serving-24m", help="checkpoint (made if missing)")
    ap.add_argument("--plan", default=None, help="plan path (default: MODEL.plan, compiled if missing)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prefix-len", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE (a loaded machine)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    bin_dir = os.path.join(args.build, "bin")
    if not os.path.exists(os.path.join(args.model, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_serving_model.py"), args.model], check=True)
    plan = args.plan or args.model.rstrip("/") + ".plan"
    if not os.path.exists(plan):
        subprocess.run([os.path.join(bin_dir, "ingotc"), args.model, "-o", plan,
                        "--max-tokens", "512", "--max-seqs", "64"], check=True)
    env = dict(os.environ)
    if args.passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    drv = [os.path.join(bin_dir, "ingot_bench_engine"), plan, "--threads", str(args.threads)]

    batching, ttft = [], []
    for _ in range(args.rounds):
        batching.append(run_json(drv + ["--mode", "batching", "--requests", str(args.requests),
                                        "--prompt-len", str(args.prompt_len),
                                        "--max-tokens", str(args.max_tokens)], env))
        ttft.append(run_json(drv + ["--mode", "prefix-ttft", "--prefix-len", str(args.prefix_len),
                                    "--repeat", str(args.repeat)], env))
    b = sorted(batching, key=lambda r: r["ratio"])[len(batching) // 2]
    t = sorted(ttft, key=lambda r: r["speedup"])[len(ttft) // 2]
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, threads={args.threads or 'all'}"
          f"{', OMP_WAIT_POLICY=PASSIVE' if args.passive else ''}; model {args.model}")
    print()
    print("| serving figure (CPU) | one at a time / uncached | batched / cached | ratio |")
    print("|---|---|---|---|")
    print(f"| {args.requests} requests x {args.max_tokens} tokens, prompts of {args.prompt_len}: generated tok/s "
          f"| {b['one_at_a_time_tok_s']:.1f} | {b['batched_tok_s']:.1f} | {b['ratio']:.2f}x |")
    print(f"| time to first token, {args.prefix_len}-token prefix + 16 | "
          f"{1000 * t['uncached_ttft_s']:.1f} ms | {1000 * t['cached_ttft_s']:.1f} ms | {t['speedup']:.1f}x |")
    print()
    print(f"batched outputs identical to one-at-a-time outputs: {all(r['outputs_identical'] for r in batching)}; "
          f"ratios of the rounds: {[round(r['ratio'], 2) for r in batching]}; "
          f"TTFT speedups: {[round(r['speedup'], 1) for r in ttft]}; "
          f"cached tokens per cached request: {t['cached_tokens_per_request']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"batching": batching, "prefix_ttft": ttft, "args": vars(args)}, f, indent=1)
    if not all(r["outputs_identical"] for r in batching):
        sys.exit("batched outputs differ from one-at-a-time outputs")


if __name__ == "__main__":
    main()
