"""Helpers shared by the serving tests and scripts/soak.py: compile a fixture
plan, start `ingot serve` on a free loopback port, read /metrics."""
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
BIN = Path(os.environ.get("INGOT_BIN", ROOT / "build" / "bin"))


def compile_plan(family, out, *extra):
    out = Path(out)
    if not out.exists():
        r = subprocess.run([str(BIN / "ingotc"), str(FIXTURES / family), "-o", str(out), *map(str, extra)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"ingotc failed:\n{r.stderr}")
    return out


class Server:
    """`ingot serve PLAN --port 0 ARGS...`; the bound port is read from stderr."""

    def __init__(self, plan, *args, timeout=60):
        self.proc = subprocess.Popen([str(BIN / "ingot"), "serve", str(plan), "--port", "0", *map(str, args)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # One thread reads stderr from the start: select() on the pipe would
        # miss lines already pulled into the text wrapper's buffer (the
        # server prints its device line and its "listening" line together).
        self.lines = []
        self._listening = threading.Event()
        self.port = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + timeout
        while not self._listening.wait(0.1):
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"ingot serve exited {self.proc.returncode}:\n{''.join(self.lines)}")
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("ingot serve did not start:\n" + "".join(self.lines))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if self.port is None:
                m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
                if m:
                    self.port = int(m.group(2))
                    self._listening.set()

    def metrics(self):
        text = requests.get(self.url + "/metrics", timeout=10).text
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def wait_idle(self, timeout=10):
        """Waits until nothing runs or waits; returns the metrics."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if (m["ingot_requests_running"] == 0 and m["ingot_requests_waiting"] == 0
                    and m["ingot_http_requests_inflight"] == 0 and m["ingot_kv_blocks_used"] == 0):
                return m
            if time.time() > deadline:
                return m
            time.sleep(0.05)

    def terminate(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.terminate()
