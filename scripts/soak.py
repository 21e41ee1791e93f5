#!/usr/bin/env python3
"""Bounded soak test of `ingot serve` (loopback only).

Starts the server on a free 127.0.0.1 port (a compiled fixture plan by default),
then for --duration seconds keeps --concurrency clients busy with a mix of
requests: completions and chat, whole and streamed, n > 1, stop strings,
clients that hang up mid-stream, and malformed requests. It samples the
server's resident memory (VmRSS) every second and reports:
  errors        responses other than the expected ones (200; 400 for the
                malformed requests; 429 when the queue is full), broken streams
  leaked blocks KV blocks still held by requests once the load has stopped
                (ingot_kv_blocks_used after the server went idle; prefix-cached
                blocks are free and reported apart)
  RSS growth    resident memory at the end minus after the warm-up period
Exit status 1 when there were errors, leaked blocks, or RSS grew by more than
--max-rss-growth-mb; 0 otherwise.

Usage: /work/venv-dev/bin/python scripts/soak.py [--bin build/bin] [--duration 120] [--concurrency 32]
       [--plan PLAN | --family llama] [--json out.json]
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "serving"))


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"), help="directory with ingot and ingotc")
    ap.add_argument("--plan", help="plan to serve (default: compile --family)")
    ap.add_argument("--family", default="llama", help="fixture to compile when no --plan")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of load (bounded: at most 3600)")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before the RSS baseline is taken")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--max-rss-growth-mb", type=float, default=64.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the report here too")
    ap.add_argument("serve_args", nargs="*", help="extra `ingot serve` arguments (after --)")
    a = ap.parse_args()
    a.duration = min(a.duration, 3600.0)
    os.environ["INGOT_BIN"] = a.bin

    import requests  # noqa: E402 - after INGOT_BIN is set for server_util
    import server_util  # noqa: E402

    tmp = tempfile.TemporaryDirectory()
    plan = a.plan or server_util.compile_plan(a.family, Path(tmp.name) / f"{a.family}.plan",
                                              "--max-tokens", "256", "--max-seqs", "32")
    server = server_util.Server(plan, "--max-queued", "64", *a.serve_args)
    url = server.url
    models = requests.get(url + "/v1/models", timeout=10).json()["data"][0]
    model, max_len = models["id"], models["max_model_len"]
    vocab = models.get("vocab_size", 256)
    print(f"soak: serving {plan} at {url} for {a.duration:.0f} s with {a.concurrency} clients", flush=True)

    stop_at = time.time() + a.duration
    lock = threading.Lock()
    counts = {"requests": 0, "ok": 0, "rejected_429": 0, "expected_400": 0, "cancelled": 0, "errors": 0}
    error_samples = []
    rss = []

    def record(key, err=None):
        with lock:
            counts["requests"] += 1
            counts[key] += 1
            if err and len(error_samples) < 20:
                error_samples.append(err)

    def check(r, expect=(200,)):
        if r.status_code == 429:
            record("rejected_429")
            return False
        if r.status_code not in expect:
            record("errors", f"HTTP {r.status_code}: {r.text[:200]}")
            return False
        return True

    def prompt_ids(rng):
        n = rng.randint(1, min(64, max_len // 4))
        return [rng.randrange(vocab) for _ in range(n)]

    def client(k):
        rng = random.Random(a.seed * 1000 + k)
        s = requests.Session()
        while time.time() < stop_at:
            kind = rng.random()
            max_tokens = rng.randint(1, 48)
            try:
                if kind < 0.30:  # whole completion, sometimes n > 1 and a stop string
                    body = {"model": model, "prompt": prompt_ids(rng), "max_tokens": max_tokens,
                            "temperature": rng.choice([0, 0.7, 1.0]), "n": rng.choice([1, 1, 2]),
                            "stop": rng.choice([None, ["e"], ["\n"]]), "seed": rng.randrange(1 << 30)}
                    r = s.post(url + "/v1/completions", json=body, timeout=120)
                    if check(r):
                        j = r.json()
                        ok = len(j["choices"]) == body["n"] and all(c["finish_reason"] in ("stop", "length")
                                                                    for c in j["choices"])
                        record("ok" if ok else "errors", None if ok else f"bad response {r.text[:200]}")
                elif kind < 0.60:  # streamed completion or chat, read to the end
                    chat = rng.random() < 0.5
                    body = {"model": model, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                            "stream_options": {"include_usage": True}, "ignore_eos": True}
                    if chat:
                        body["messages"] = [{"role": "user", "content": "word " * rng.randint(1, 20)}]
                    else:
                        body["prompt"] = prompt_ids(rng)
                    path = "/v1/chat/completions" if chat else "/v1/completions"
                    r = s.post(url + path, json=body, stream=True, timeout=120)
                    if check(r):
                        events = [ln[6:] for ln in r.iter_lines(decode_unicode=True) if ln.startswith("data: ")]
                        ok = bool(events) and events[-1] == "[DONE]" and \
                            json.loads(events[-2])["usage"]["completion_tokens"] == max_tokens
                        record("ok" if ok else "errors", None if ok else f"broken stream {events[-3:]}")
                elif kind < 0.80:  # hang up mid-stream
                    ids = prompt_ids(rng)
                    body = {"model": model, "prompt": ids, "max_tokens": min(200, max_len - len(ids)),
                            "stream": True, "ignore_eos": True}
                    with requests.Session() as s2:
                        r = s2.post(url + "/v1/completions", json=body, stream=True, timeout=120)
                        if check(r):
                            want = rng.randint(0, 5)
                            for i, _ in enumerate(r.iter_lines()):
                                if i >= want:
                                    break
                            r.close()
                            record("cancelled")
                else:  # malformed
                    body = rng.choice([{"prompt": "x", "temperature": "hot"}, {"max_tokens": 3},
                                       {"messages": [{"role": "nobody", "content": "x"}]},
                                       {"prompt": [vocab + 5]}, {"prompt": "x", "n": 0}])
                    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
                    r = s.post(url + path, json=body, timeout=30)
                    if check(r, expect=(400,)):
                        record("expected_400")
            except Exception as e:  # noqa: BLE001 - any client-side failure is an error of the soak
                record("errors", f"{type(e).__name__}: {e}")

    t0 = time.time()
    baseline = None

    def sampler():
        nonlocal baseline
        while time.time() < stop_at:
            m = rss_mb(server.proc.pid)
            rss.append((time.time() - t0, m))
            if baseline is None and time.time() - t0 >= a.warmup:
                baseline = m
            time.sleep(1.0)

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    with cf.ThreadPoolExecutor(a.concurrency) as ex:
        list(ex.map(client, range(a.concurrency)))
    st.join()
    metrics = server.wait_idle(timeout=30)
    end_rss = rss_mb(server.proc.pid)
    rc = server.terminate()
    if baseline is None:
        baseline = rss[0][1] if rss else end_rss
    leaked = int(metrics["ingot_kv_blocks_used"])
    report = {
        "duration_s": time.time() - t0,
        "concurrency": a.concurrency,
        **counts,
        "error_samples": error_samples,
        "kv_blocks_total": metrics["ingot_kv_blocks_total"],
        "kv_blocks_leaked": leaked,
        "kv_blocks_cached": metrics["ingot_kv_blocks_cached"],
        "requests_left_running": metrics["ingot_requests_running"] + metrics["ingot_requests_waiting"],
        "rss_baseline_mb": round(baseline, 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_peak_mb": round(max([m for _, m in rss] + [end_rss]), 1),
        "rss_growth_mb": round(end_rss - baseline, 1),
        # Every 10th sample, to tell a plateau (allocator arenas warming up)
        # from steady growth (a leak).
        "rss_samples_mb": [[round(t), round(m, 1)] for t, m in rss[::10]],
        "server_exit_code": rc,
    }
    print(json.dumps(report, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    bad = (counts["errors"] > 0 or leaked > 0 or report["requests_left_running"] > 0 or rc != 0
           or report["rss_growth_mb"] > a.max_rss_growth_mb)
    print("soak: FAIL" if bad else "soak: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
