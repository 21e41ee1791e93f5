#!/usr/bin/env python3
"""Print readable summaries of an ONNX graph, for writing the raising patterns (developers only).

What it prints (see docs/dev/onnx-export-patterns.md for the catalogue made with it):
  default        graph inputs/outputs, opsets, op-type histogram, initializer summary
  --list A:B     nodes A..B-1 in graph order (negative numbers count from the end: --list=-5:)
  --grep TEXT    nodes whose name, output names or dynamo module scope contain TEXT
                 (e.g. "layers.0/self_attn" for TorchScript exports, "layers.0.self_attn" for dynamo)
  --around X     the nodes within --depth hops upstream and downstream of X (a node name, an output
                 tensor name, a graph input, or "#<index>")
  --between A B  the nodes on some path from A to B (A, B as for --around), e.g. from the graph input
                 attention_mask to the first Softmax: the mask construction
  --find OP      indices/names of the nodes of one op type (comma-separated op types allowed)
One line per node:  #index OpType name  inputs -> outputs  {attributes}
  inputs  'W[64,64]'    an initializer (name dropped when long), its shape
          '=[1e-05]'    a small constant (initializer or Constant node), its value
          'x:f[B,S,64]' a computed value with its element type and shape
Shapes come from the graph's value_info when present (dynamo exports), else from onnxruntime's
symbolic shape inference (dims named after the graph's input dims: batch, seq, past, total), else
from onnx's shape inference. Names are abbreviated: '/model/model/layers.0/self_attn/q_proj/MatMul'
-> 'L0/self_attn/q_proj/MatMul' (gpt2's 'h.0' -> 'L0' too), '_output_0' dropped.
--no-shape-math hides nodes whose outputs are all integer tensors of rank <= 1 (shape arithmetic:
Shape/Gather/Unsqueeze/Concat/... on dims), which make up much of a TorchScript export.

Usage: /work/venv-dev/bin/python scripts/dev/onnx_summary.py MODEL.onnx [--list 0:40] [--grep TEXT]
           [--around X --depth 3] [--between A B] [--find Softmax] [--no-shape-math] [--max 400]
"""

import argparse
import ast
import collections
import re
import signal
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ELEM = {1: "f", 2: "u8", 3: "i8", 5: "i16", 6: "i32", 7: "i64", 9: "b", 10: "f16", 11: "f64", 16: "bf16"}
INT_TYPES = {2, 3, 4, 5, 6, 7, 9, 12, 13}
SMALL = 8  # constants with at most this many elements are printed by value


def abbrev(name):
    s = re.sub(r"^/model(/model|/transformer)?/", "", name)
    s = re.sub(r"^(model\.)?(model\.|transformer\.)", "", s)
    s = re.sub(r"\b(layers|h)\.(\d+)", r"L\2", s)
    s = s.replace("_output_0", "")
    return s


def fmt_value(arr):
    flat = arr.reshape(-1)
    vals = []
    for v in flat[:SMALL]:
        if arr.dtype == np.bool_:
            vals.append("T" if v else "F")
        elif np.issubdtype(arr.dtype, np.integer):
            iv = int(v)
            vals.append({np.iinfo(np.int64).max: "INT64_MAX", np.iinfo(np.int64).min: "INT64_MIN"}.get(iv, str(iv)))
        else:
            vals.append(f"{float(v):.6g}")
    body = ",".join(vals) + (",..." if flat.size > SMALL else "")
    return f"[{body}]" if arr.ndim else body


class Graph:
    def __init__(self, path, infer=True):
        self.model = onnx.load(path)
        g = self.model.graph
        self.nodes = list(g.node)
        self.inits = {t.name: t for t in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.inits]
        self.consts = {}  # tensor name -> numpy array (small initializers and Constant outputs)
        for t in g.initializer:
            if int(np.prod(t.dims)) <= SMALL:
                self.consts[t.name] = numpy_helper.to_array(t)
        for n in self.nodes:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
                    elif a.name in ("value_float", "value_int"):
                        self.consts[n.output[0]] = np.array(a.f if a.name == "value_float" else a.i)
                    elif a.name in ("value_floats", "value_ints"):
                        self.consts[n.output[0]] = np.array(list(a.floats) or list(a.ints))
        self.producer = {o: i for i, n in enumerate(self.nodes) for o in n.output}
        self.users = collections.defaultdict(list)
        for i, n in enumerate(self.nodes):
            for x in n.input:
                self.users[x].append(i)
        self.types = {}
        self._collect_types(self.model)
        if infer and len(self.types) < len(self.producer) // 2:
            self._infer()

    def _collect_types(self, model):
        g = model.graph
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            tt = vi.type.tensor_type
            if not tt.HasField("shape"):
                self.types.setdefault(vi.name, (tt.elem_type, None))
                continue
            dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in tt.shape.dim]
            self.types[vi.name] = (tt.elem_type, dims)
        for t in g.initializer:
            self.types[t.name] = (t.data_type, [str(d) for d in t.dims])

    def _infer(self):
        try:
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
            inferred = SymbolicShapeInference.infer_shapes(self.model, auto_merge=True, guess_output_rank=False)
        except Exception:  # noqa: BLE001 - fall back to onnx's own inference
            inferred = None
        if inferred is None:
            try:
                inferred = onnx.shape_inference.infer_shapes(self.model, data_prop=True)
            except Exception:  # noqa: BLE001
                return
        self._collect_types(inferred)

    def resolve(self, ref):
        """A node index from '#i', a node name (exact, else a unique substring), a tensor name."""
        if ref.startswith("#"):
            return ("node", int(ref[1:]))
        if ref in self.producer:
            return ("node", self.producer[ref])
        for i, n in enumerate(self.nodes):
            if n.name == ref:
                return ("node", i)
        if ref in self.inputs or ref in self.inits:
            return ("tensor", ref)
        for i, n in enumerate(self.nodes):  # the abbreviated names this script prints
            if abbrev(n.name) == ref or any(abbrev(o) == ref for o in n.output):
                return ("node", i)
        hits = [i for i, n in enumerate(self.nodes) if ref in n.name]
        if len(hits) == 1:
            return ("node", hits[0])
        sys.exit(f"{ref!r}: {'ambiguous: ' + str(len(hits)) + ' nodes' if hits else 'no such node or tensor'}")

    def tensor_str(self, name):
        if name == "":
            return "-"
        if name in self.consts:
            return "=" + fmt_value(self.consts[name])
        et, dims = self.types.get(name, (0, None))
        shape = "" if dims is None else "[" + ",".join(dims) + "]"
        if name in self.inits:
            anonymous = name.startswith("onnx::") or re.fullmatch(r"val_\d+", name)
            return f"W{shape}" if anonymous else f"{abbrev(name)}:W{shape}"
        return f"{abbrev(name)}:{ELEM.get(et, '?')}{shape}"

    def attr_str(self, n):
        parts = []
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, onnx.TensorProto):
                v = fmt_value(numpy_helper.to_array(v))
            elif isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, float):
                v = f"{v:.6g}"
            elif isinstance(v, list):
                v = "[" + ",".join(x.decode() if isinstance(x, bytes) else f"{x:.6g}" if isinstance(x, float)
                                   else str(x) for x in v) + "]"
            parts.append(f"{a.name}={v}")
        return ("  {" + ", ".join(parts) + "}") if parts else ""

    def scope(self, n):
        """Dynamo exports: the module path and torch op, e.g. 'model.model.layers.0.mlp.up_proj/linear_5'."""
        for p in n.metadata_props:
            if p.key == "pkg.torch.onnx.name_scopes":
                try:
                    parts = [s for s in ast.literal_eval(p.value) if s]
                except (ValueError, SyntaxError):
                    return p.value
                return "/".join(parts[-2:])
        return ""

    def node_str(self, i):
        n = self.nodes[i]
        ins = ", ".join(self.tensor_str(x) for x in n.input)
        outs = ", ".join(self.tensor_str(x) for x in n.output)
        name = abbrev(n.name)
        sc = self.scope(n)
        if sc:
            name = f"{name} <{abbrev(sc)}>"
        dom = f"{n.domain}::" if n.domain else ""
        return f"#{i:<4} {dom}{n.op_type:<12} {name}  ({ins}) -> {outs}{self.attr_str(n)}"

    def is_shape_math(self, i):
        outs = self.nodes[i].output
        for o in outs:
            if o in self.consts:
                continue
            et, dims = self.types.get(o, (0, None))
            if et not in INT_TYPES or dims is None or len(dims) > 1:
                return False
        return True

    def ancestors(self, start, depth=None):
        seen, frontier, d = set(), [start], 0
        while frontier and (depth is None or d < depth):
            nxt = []
            for i in frontier:
                for x in self.nodes[i].input:
                    j = self.producer.get(x)
                    if j is not None and j not in seen:
                        seen.add(j)
                        nxt.append(j)
            frontier, d = nxt, d + 1
        return seen

    def descendants(self, start_outputs, depth=None):
        seen, frontier, d = set(), list(start_outputs), 0
        while frontier and (depth is None or d < depth):
            nxt = []
            for x in frontier:
                for j in self.users.get(x, []):
                    if j not in seen:
                        seen.add(j)
                        nxt.extend(self.nodes[j].output)
            frontier, d = nxt, d + 1
        return seen


def print_overview(g):
    m = g.model
    print(f"producer {m.producer_name} {m.producer_version}, ir {m.ir_version}, opsets "
          + ", ".join(f"{o.domain or 'ai.onnx'}={o.version}" for o in m.opset_import))
    print("inputs:")
    for x in g.inputs:
        print("  " + g.tensor_str(x))
    print("outputs:")
    for o in m.graph.output:
        print("  " + g.tensor_str(o.name))
    hist = collections.Counter((f"{n.domain}::" if n.domain else "") + n.op_type for n in g.nodes)
    print(f"nodes: {len(g.nodes)}; op types ({len(hist)}):")
    print("  " + ", ".join(f"{k} {v}" for k, v in hist.most_common()))
    big = [t for t in m.graph.initializer if int(np.prod(t.dims)) > SMALL]
    total = sum(int(np.prod(t.dims)) for t in m.graph.initializer)
    print(f"initializers: {len(m.graph.initializer)} ({total} elements); larger than {SMALL} elements:")
    for t in big:
        print(f"  {t.name} {list(t.dims)} {ELEM.get(t.data_type, t.data_type)}")


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--list", help="A:B node index range")
    ap.add_argument("--grep")
    ap.add_argument("--around")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--between", nargs=2, metavar=("FROM", "TO"))
    ap.add_argument("--find")
    ap.add_argument("--no-shape-math", action="store_true")
    ap.add_argument("--no-infer", action="store_true", help="skip shape inference")
    ap.add_argument("--max", type=int, default=400, help="print at most this many nodes")
    args = ap.parse_args()
    g = Graph(args.model, infer=not args.no_infer)

    sel = None
    if args.list:
        a, _, b = args.list.partition(":")
        sel = range(len(g.nodes))[slice(int(a) if a else None, int(b) if b else None)]
    elif args.grep:
        sel = [i for i, n in enumerate(g.nodes)
               if args.grep in n.name or args.grep in abbrev(n.name) or any(args.grep in o for o in n.output)
               or args.grep in g.scope(n) or args.grep in abbrev(g.scope(n))]
    elif args.around:
        kind, x = g.resolve(args.around)
        if kind == "node":
            sel = g.ancestors(x, args.depth) | {x} | g.descendants(g.nodes[x].output, args.depth)
        else:
            sel = g.descendants([x], args.depth)
    elif args.between:
        ka, a = g.resolve(args.between[0])
        kb, b = g.resolve(args.between[1])
        if kb != "node":
            sys.exit("TO must be a node")
        down = g.descendants(g.nodes[a].output if ka == "node" else [a])
        sel = (down & g.ancestors(b)) | {b} | ({a} if ka == "node" else set())
    elif args.find:
        ops = set(args.find.split(","))
        for i, n in enumerate(g.nodes):
            if n.op_type in ops:
                print(f"#{i:<4} {n.op_type:<12} {abbrev(n.name)}  {g.scope(n)}")
        return
    else:
        print_overview(g)
        return
    shown = 0
    for i in sorted(sel):
        if args.no_shape_math and g.is_shape_math(i):
            continue
        if shown == args.max:
            print(f"... (more than {args.max} nodes; raise --max)")
            break
        print(g.node_str(i))
        shown += 1


if __name__ == "__main__":
    main()
