#!/usr/bin/env python3
"""Figures for docs/performance.md (ONNX frontend): per fixture export, the time to import and
to compile it to a plan (median of --repeat runs of ingotc), and how many kernels one decode step
launches: the graph plan (raising off: every remaining ONNX node is one step, past/present KV as
plain tensors) against the raised decoder plan without and with fusion. Steps are counted from
`ingot inspect --json`.

Usage: scripts/bench/onnx_figures.py [--bin build/bin] [--repeat 5] [--families llama,gpt2,...]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ["llama", "llama3", "qwen2", "qwen3", "mistral", "gpt2", "mixtral"]


def timed(cmd, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        ts.append(time.perf_counter() - t)
        if r.returncode:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
    return statistics.median(ts)


def steps(bin_dir, plan):
    j = json.loads(subprocess.run([bin_dir / "ingot", "inspect", "--json", plan], capture_output=True,
                                  text=True, check=True).stdout)
    return j["steps"]["count"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--families", default=",".join(FAMILIES))
    a = ap.parse_args()
    b = Path(a.bin)
    print(f"{'export':28} {'nodes':>6} {'import ms':>10} {'compile ms':>11} {'graph steps':>12} "
          f"{'decoder (no fusion)':>20} {'decoder':>8}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for fam in a.families.split(","):
            for exp in ("model.onnx", "model.dynamo.onnx"):
                m = ROOT / "test" / "fixtures" / fam / "onnx" / exp
                if not m.exists():
                    continue
                import onnx  # only to count nodes
                nodes = len(onnx.load(str(m), load_external_data=False).graph.node)
                tok = ["--tokenizer", str(ROOT / "test" / "fixtures" / fam)]
                t_imp = timed([b / "ingotc", m, "--stop-after=import", "-o", d / "x.mlir"], a.repeat)
                t_all = timed([b / "ingotc", m, "-o", d / "dec.plan", *tok], a.repeat)
                subprocess.run([b / "ingotc", m, "-o", d / "graph.plan", "--no-raise"], capture_output=True,
                               check=True)
                r = subprocess.run([b / "ingotc", m, "-o", d / "nofuse.plan", "--no-fuse", *tok],
                                   capture_output=True, text=True, check=True)
                raised = "raised a decoder" in r.stderr
                g = steps(b, d / "graph.plan")
                nf = steps(b, d / "nofuse.plan") if raised else "-"
                dec = steps(b, d / "dec.plan") if raised else "-"
                print(f"{fam + '/' + exp:28} {nodes:6} {t_imp * 1e3:10.1f} {t_all * 1e3:11.1f} {g:12} "
                      f"{nf:>20} {dec:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
