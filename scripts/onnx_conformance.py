#!/usr/bin/env python3
"""ONNX backend node tests through the whole Ingot path: ingotc + `ingot exec`.

For every test directory under --data (ONNX's node tests: model.onnx and
test_data_set_*/{input,output}_*.pb), the model is compiled with
`ingotc model.onnx -o PLAN`, each data set's inputs are written to a safetensors file under
the graph's input names, `ingot exec PLAN --inputs ... --outputs ...` runs it, and every
output is compared with ONNX's expected one: rtol 1e-3 / atol 1e-7 for floating point (as
ONNX's own runner), exact for integers and bools, NaN == NaN; dtype and shape must match.

Tests are classified by their graph: "single" (one node, of op X), "expanded" (an
`_expanded` test: the op's function body), or "multi" (any other multi-node graph); and
by the opset of the default domain ("old" when below 13). A test is *claimed* when every
op in its graph is listed in --claimed (test/ONNX/claimed_ops.txt) and the test is not
excluded there. Tests whose graph inputs or outputs have a type the ONNX frontend does not
support (strings, sequences, optionals, float8, ...; docs/onnx.md "Import") are reported as
"unsupported type" and never claimed.

Exit status: 1 iff a claimed test fails (old-opset tests count like the others but are
listed separately), 77 when the test data is missing, 2 on usage errors. Unclaimed tests
are run and reported, never failed (--only-claimed skips them).

claimed_ops.txt: one op per line (`Op` for the default domain, `domain::Op` otherwise);
`#` starts a comment; a line `!PATTERN` excludes the test directories matching the
fnmatch PATTERN from the claims (say why in a comment).

Usage:
  python scripts/onnx_conformance.py --bin build/bin [-j 8] [--report out.json]
                                     [--ops Add,Mul] [-k substr] [--only-claimed] [-v]
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingot_st import NP_OF_ST, read_st, write_st  # noqa: E402
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/libonnx-testdata/data/node"
CLAIMED = os.path.join(ROOT, "test", "ONNX", "claimed_ops.txt")
MIN_OPSET = 13

# ONNX element type -> safetensors dtype (the types the frontend supports).
TP = onnx.TensorProto
ST_OF_ONNX = {TP.FLOAT: "F32", TP.DOUBLE: "F64", TP.FLOAT16: "F16", TP.BFLOAT16: "BF16",
              TP.INT8: "I8", TP.INT16: "I16", TP.INT32: "I32", TP.INT64: "I64",
              TP.UINT8: "U8", TP.UINT16: "U16", TP.UINT32: "U32", TP.UINT64: "U64",
              TP.BOOL: "BOOL"}
# safetensors dtype -> numpy dtype of the raw elements (BF16 as its bits).
PASS, FAIL, UNSUPPORTED, SKIPPED = "pass", "fail", "unsupported type", "skipped"


class Unsupported(Exception):
    """A test input/output whose type the frontend does not support."""


# --- claimed ops -----------------------------------------------------------------------

def op_key(domain, op_type):
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def usage_error(msg):
    print(f"onnx_conformance: {msg}", file=sys.stderr)
    raise SystemExit(2)


def read_claimed(path):
    ops, excluded = set(), []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("!"):
                excluded.append(line[1:].strip())
            elif " " in line or "\t" in line:
                usage_error(f"{path}:{lineno}: one op per line, got {line!r}")
            else:
                ops.add(line)
    return ops, excluded


# --- tensors and safetensors -------------------------------------------------------------

def value_type_problem(vi):
    """Why the frontend cannot feed/return this graph input/output, or None."""
    t = vi.type
    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        return f"'{vi.name}' is a {kind or 'value of unknown type'}"
    et = t.tensor_type.elem_type
    if et not in ST_OF_ONNX:
        return f"'{vi.name}' has element type {TP.DataType.Name(et)}"
    return None


def tensor_to_st(t, declared=None):
    """TensorProto -> (safetensors dtype, numpy array of raw elements). `declared` is the
    graph's element type for it: older test data stores bfloat16 tensors as their uint16
    bits, which are taken as BF16 when the graph says bfloat16."""
    if declared == TP.BFLOAT16 and t.data_type == TP.UINT16:
        return "BF16", np.require(numpy_helper.to_array(t), requirements="C")
    if t.data_type not in ST_OF_ONNX:
        raise Unsupported(f"tensor '{t.name}' has element type {TP.DataType.Name(t.data_type)}")
    dt = ST_OF_ONNX[t.data_type]
    # np.require keeps 0-d arrays 0-d (np.ascontiguousarray would make them [1]).
    a = np.require(numpy_helper.to_array(t), requirements="C")
    if dt == "BF16":
        a = a.view(np.uint16)
    return dt, np.require(a.astype(NP_OF_ST[dt], copy=False), requirements="C")


def as_f64(dt, a):
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return a.astype(np.float64)


def compare(name, got, want):
    """None when `got` matches `want` (both (st dtype, array)), else what differs."""
    gdt, g = got
    wdt, w = want
    if gdt != wdt:
        return f"output '{name}': dtype {gdt}, expected {wdt}"
    if tuple(g.shape) != tuple(w.shape):
        return f"output '{name}': shape {list(g.shape)}, expected {list(w.shape)}"
    if wdt in ("F32", "F64", "F16", "BF16"):
        gf, wf = as_f64(gdt, g), as_f64(wdt, w)
        ok = np.isclose(gf, wf, rtol=1e-3, atol=1e-7, equal_nan=True)
        if not ok.all():
            bad = np.argwhere(~ok)
            i = tuple(bad[0])
            return (f"output '{name}': {len(bad)}/{g.size} elements differ (rtol 1e-3, atol 1e-7),"
                    f" first at {list(i)}: {gf[i]!r} vs expected {wf[i]!r}")
    elif not np.array_equal(g, w):
        bad = np.argwhere(g != w)
        i = tuple(bad[0])
        return (f"output '{name}': {len(bad)}/{g.size} elements differ, first at {list(i)}:"
                f" {g[i]!r} vs expected {w[i]!r}")
    return None


# --- one test ----------------------------------------------------------------------------

def classify(test_dir):
    name = os.path.basename(test_dir)
    m = onnx.load(os.path.join(test_dir, "model.onnx"))
    ops = sorted({op_key(n.domain, n.op_type) for n in m.graph.node})
    opsets = {o.domain or "": o.version for o in m.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    if len(m.graph.node) == 1:
        kind = "single"
    elif "_expanded" in name:
        kind = "expanded"
    else:
        kind = "multi"
    init = {i.name for i in m.graph.initializer}
    inputs = [vi for vi in m.graph.input if vi.name not in init]
    problems = [p for p in map(value_type_problem, list(inputs) + list(m.graph.output)) if p]
    return {"name": name, "kind": kind, "ops": ops, "opset": opset,
            "old_opset": opset is not None and opset < MIN_OPSET,
            "inputs": [vi.name for vi in inputs], "outputs": [vi.name for vi in m.graph.output],
            "input_types": [vi.type.tensor_type.elem_type for vi in inputs],
            "output_types": [vi.type.tensor_type.elem_type for vi in m.graph.output],
            "type_problem": "; ".join(problems) or None}


def tail(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])


def run_test(info, args, test_dir):
    """Compiles and runs one test; returns (status, message)."""
    if info["type_problem"]:
        return UNSUPPORTED, info["type_problem"]
    with tempfile.TemporaryDirectory(prefix="ingot-onnx-") as tmp:
        plan = os.path.join(tmp, "model.plan")
        try:
            r = subprocess.run([args.ingotc, os.path.join(test_dir, "model.onnx"), "-o", plan],
                               capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return FAIL, f"ingotc: timed out after {args.timeout} s"
        if r.returncode != 0:
            return FAIL, f"ingotc (exit {r.returncode}): {tail(r.stderr or r.stdout)}"
        sets = sorted(d for d in os.listdir(test_dir) if d.startswith("test_data_set_"))
        if not sets:
            return FAIL, "driver: no test_data_set_* directory"
        for s in sets:
            sd = os.path.join(test_dir, s)
            feed = {}
            for i, name in enumerate(info["inputs"]):
                p = os.path.join(sd, f"input_{i}.pb")
                if os.path.exists(p):  # absent: an omitted optional input
                    feed[name] = tensor_to_st(onnx.load_tensor(p), info["input_types"][i])
            ip, op = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
            if os.path.exists(op):
                os.remove(op)
            write_st(ip, feed)
            cmd = [args.ingot, "exec", plan, "--inputs", ip, "--outputs", op, "--threads",
                   str(args.threads)]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                return FAIL, f"{s}: ingot exec timed out after {args.timeout} s"
            if r.returncode != 0:
                return FAIL, f"{s}: ingot exec (exit {r.returncode}): {tail(r.stderr or r.stdout)}"
            got = read_st(op)
            for k, name in enumerate(info["outputs"]):
                want = tensor_to_st(onnx.load_tensor(os.path.join(sd, f"output_{k}.pb")),
                                    info["output_types"][k])
                if name not in got:
                    return FAIL, f"{s}: output '{name}' is not in ingot's outputs {sorted(got)}"
                err = compare(name, got[name], want)
                if err:
                    return FAIL, f"{s}: {err}"
    return PASS, None


def guarded(info, args, test_dir):
    t0 = time.monotonic()
    try:
        status, msg = run_test(info, args, test_dir)
    except Unsupported as e:
        status, msg = UNSUPPORTED, str(e)
    except Exception as e:  # a test we cannot even feed or read back
        status, msg = FAIL, f"driver: {type(e).__name__}: {e}"
    return status, msg, time.monotonic() - t0


# --- summary -----------------------------------------------------------------------------

def summarize(results, claimed_ops):
    """Per-op counts for single-op tests, and totals by kind and claim."""
    by_op = {}
    for r in results:
        if r["kind"] != "single" or r["status"] == SKIPPED:
            continue
        e = by_op.setdefault(r["ops"][0], {"claimed": r["ops"][0] in claimed_ops, "pass": 0,
                                           "total": 0, "old_pass": 0, "old_total": 0,
                                           "unsupported": 0})
        if r["status"] == UNSUPPORTED:
            e["unsupported"] += 1
            continue
        pre = "old_" if r["old_opset"] else ""
        e[pre + "total"] += 1
        e[pre + "pass"] += r["status"] == PASS
    totals = {}
    for r in results:
        if r["status"] in (SKIPPED,):
            continue
        key = ("claimed" if r["claimed"] else "unclaimed") + ("_old" if r["old_opset"] else "")
        e = totals.setdefault(key, {"pass": 0, "fail": 0, "unsupported": 0})
        e[{PASS: "pass", FAIL: "fail", UNSUPPORTED: "unsupported"}[r["status"]]] += 1
    return by_op, totals


def print_summary(results, by_op, totals, claimed_ops, verbose, filtered):
    print("\nper op (single-op tests; opset >= 13, then older opsets):")
    w = max([len(o) for o in by_op] + [10])
    for op in sorted(by_op):
        e = by_op[op]
        line = f"  {'*' if e['claimed'] else ' '} {op:<{w}} {e['pass']:>3}/{e['total']:<3}"
        if e["old_total"]:
            line += f"  old {e['old_pass']}/{e['old_total']}"
        if e["unsupported"]:
            line += f"  ({e['unsupported']} unsupported type)"
        print(line)
    print("  (* = claimed)")
    seen = {op for r in results for op in r["ops"]}
    unused = sorted(claimed_ops - seen)
    if unused and not filtered:  # a typo in the claims file, or an op with no node test
        print(f"claimed ops with no selected test: {', '.join(unused)}")

    def fmt(key):
        e = totals.get(key, {"pass": 0, "fail": 0, "unsupported": 0})
        n = e["pass"] + e["fail"]
        s = f"{e['pass']}/{n} passed"
        return s + (f", {e['unsupported']} unsupported type" if e["unsupported"] else "")

    print("\ntotals:")
    print(f"  claimed, opset >= {MIN_OPSET}:   {fmt('claimed')}")
    print(f"  claimed, opset <  {MIN_OPSET}:   {fmt('claimed_old')}")
    print(f"  unclaimed, opset >= {MIN_OPSET}: {fmt('unclaimed')}")
    print(f"  unclaimed, opset <  {MIN_OPSET}: {fmt('unclaimed_old')}")
    for kind in ("single", "expanded", "multi"):
        rs = [r for r in results if r["kind"] == kind and r["status"] in (PASS, FAIL)]
        if rs:
            print(f"  {kind}: {sum(r['status'] == PASS for r in rs)}/{len(rs)} passed")

    excl = [r for r in results if r.get("excluded") and r["status"] in (PASS, FAIL)]
    if excl:
        print(f"  excluded in the claims file: {sum(r['status'] == PASS for r in excl)}/{len(excl)}"
              " passed")

    failed = [r for r in results if r["claimed"] and r["status"] == FAIL]
    for title, group in (("claimed tests that FAIL", [r for r in failed if not r["old_opset"]]),
                         (f"claimed tests that FAIL (opset < {MIN_OPSET})",
                          [r for r in failed if r["old_opset"]])):
        if group:
            print(f"\n{title} ({len(group)}):")
            for r in group:
                print(f"  {r['name']}: {r['message']}")
    if verbose:
        other = [r for r in results if not r["claimed"] and r["status"] == FAIL]
        if other:
            print(f"\nunclaimed tests that fail ({len(other)}):")
            for r in other:
                print(f"  {r['name']}: {r['message']}")
    return failed


# --- main --------------------------------------------------------------------------------

def find_tool(args, name):
    if args.bin:
        p = os.path.join(args.bin, name)
    else:
        p = shutil.which(name) or os.path.join(ROOT, "build", "bin", name)
    if not os.access(p, os.X_OK):
        usage_error(f"{name} not found at {p} (pass --bin DIR)")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("INGOT_BIN"),
                    help="directory with ingotc and ingot (default: $INGOT_BIN, PATH, build/bin)")
    ap.add_argument("--data", default=DATA, help=f"node test directories (default {DATA})")
    ap.add_argument("--claimed", default=CLAIMED, help="claimed ops file")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=1, help="--threads for each `ingot exec`")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per ingotc/ingot call")
    ap.add_argument("--ops", default="", help="only tests whose graph uses one of these ops")
    ap.add_argument("-k", default="", help="only test directories whose name contains this")
    ap.add_argument("--only-claimed", action="store_true", help="skip unclaimed tests")
    ap.add_argument("--report", help="write a JSON report here")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every result and the unclaimed failures")
    args = ap.parse_args()

    if not os.path.isdir(args.data):
        print(f"onnx_conformance: no ONNX node tests at {args.data} "
              "(Debian package libonnx-testdata); skipping", file=sys.stderr)
        return 77
    args.ingotc = find_tool(args, "ingotc")
    args.ingot = find_tool(args, "ingot")
    claimed_ops, excluded = read_claimed(args.claimed)
    only_ops = set(filter(None, args.ops.split(",")))

    tests = []
    for name in sorted(os.listdir(args.data)):
        d = os.path.join(args.data, name)
        if args.k and args.k not in name or not os.path.isfile(os.path.join(d, "model.onnx")):
            continue
        try:
            info = classify(d)
        except Exception as e:
            info = {"name": name, "kind": "unreadable", "ops": [], "opset": None,
                    "old_opset": False, "inputs": [], "outputs": [], "input_types": [],
                    "output_types": [],
                    "type_problem": f"cannot read model.onnx: {e}"}
        if only_ops and not only_ops & set(info["ops"]):
            continue
        info["excluded"] = any(fnmatch.fnmatch(name, p) for p in excluded)
        info["claimed"] = (bool(info["ops"]) and set(info["ops"]) <= claimed_ops
                           and not info["excluded"] and not info["type_problem"])
        tests.append((info, d))
    if not tests:
        print("onnx_conformance: no test selected", file=sys.stderr)
        return 2

    results = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {}
        for info, d in tests:
            if args.only_claimed and not info["claimed"]:
                results.append(dict(info, status=SKIPPED, message=None, seconds=0.0))
                continue
            futures[pool.submit(guarded, info, args, d)] = info
        for fut in concurrent.futures.as_completed(futures):
            info = futures[fut]
            status, msg, secs = fut.result()
            results.append(dict(info, status=status, message=msg, seconds=round(secs, 3)))
            if args.verbose or (status == FAIL and info["claimed"]):
                tag = {PASS: "ok  ", FAIL: "FAIL", UNSUPPORTED: "n/a "}[status]
                claim = "" if info["claimed"] else " (unclaimed)"
                print(f"{tag} {info['name']}{claim}" + (f": {msg}" if msg else ""), flush=True)
    results.sort(key=lambda r: r["name"])
    by_op, totals = summarize(results, claimed_ops)
    failed = print_summary(results, by_op, totals, claimed_ops, args.verbose,
                           bool(args.k or only_ops))
    elapsed = time.monotonic() - t0
    print(f"\n{len(results)} tests in {elapsed:.1f} s; "
          f"{'FAILED: ' + str(len(failed)) + ' claimed tests fail' if failed else 'all claimed tests pass'}")
    if args.report:
        for r in results:
            for k in ("inputs", "outputs", "input_types", "output_types"):
                r.pop(k, None)
        report = {"data": args.data, "claimed_file": args.claimed,
                  "claimed_ops": sorted(claimed_ops), "excluded_patterns": excluded,
                  "min_opset": MIN_OPSET, "seconds": round(elapsed, 1), "totals": totals,
                  "by_op": by_op, "tests": results}
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
