#!/usr/bin/env python3
"""The device run of issue 5 (CUDA backend): checks and benchmarks in one call (docs/device-runs.md).

Runs THERE (the lent GPU machine), from scripts/device/run.sh, in the copy of the repository with
the carried device-bundle/ (made HERE by scripts/device/prepare.sh: the `ingot` binary, the kernel
bench tool, the kernel module, the plans, the 1B checkpoint's manifest). Stages, each under its own
time limit and try/except so one failure does not lose the rest:
  a  ceilings: device-to-device copy bandwidth (bytes read + written) and bf16 matmul TFLOP/s (torch)
  b  kernels: every kernel family in the module checked against torch on the same inputs (fp32
     references from the same bf16 values) and timed with CUDA events next to its torch peer:
     rms_norm, add_rms_norm, silu_mul, rope_kv_append, paged decode attention (context 1k/4k/16k,
     batch 1/32, GQA 32/8, D 64/128), causal prefill attention (1k-8k, D 64/128) vs SDPA with the
     flash backend forced, the CUDA-core GEMM fallback
  c  models: each fixture plan and the Llama-3.2-1B-shaped plan: logits of `ingot logits --device
     cuda` (prefill and stepwise) vs transformers on the same weights (fp32 reference; transformers
     bf16 as the yardstick of bf16 error), 32 greedy tokens; for the 1B: batch-1 decode tokens/s vs
     transformers (eager SDPA, then static cache + torch.compile when it works), roofline (weight
     bytes per token / copy bandwidth), 64-sequence throughput, plan load + graph capture time
  d  a short table printed LAST; full logs and results.json under --out
--cpu-dry-run (no GPU, e.g. here with /work/venv-dev): tiny shapes on the CPU; runs the torch
references, writes the kernel spec and runs the bench tool with --dry-run (parameter binding and
launch geometry), the transformers side of stage c on the fixtures; GPU-only parts say so and skip.
Usage: python3 scripts/device/check_and_bench.py [--bundle device-bundle] [--out DIR] [--budget S]
           [--stages abc] [--cpu-dry-run]
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

T0 = time.time()
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
LOG = None  # the full log (file), besides stdout
RESULTS = {"stages": {}, "kernels": [], "models": [], "llama1b": {}, "errors": []}


def log(msg):
    line = f"[{time.time() - T0:7.1f}s] {msg}"
    print(line, flush=True)
    if LOG:
        LOG.write(line + "\n")
        LOG.flush()


def left(args):
    return args.budget - (time.time() - T0)


def run_cmd(cmd, timeout, what, env=None):
    """Runs a command, logs it and its output; returns (rc, stdout, stderr); rc None on timeout."""
    log(f"$ {' '.join(cmd)}  (timeout {timeout:.0f} s)")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1, timeout), env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        log(f"{what}: TIMEOUT after {timeout:.0f} s\n{out[-3000:]}\n{err[-3000:]}")
        return None, out, err
    except OSError as e:
        log(f"{what}: cannot run: {e}")
        return -1, "", str(e)
    if LOG:
        LOG.write(p.stdout[-20000:] + ("\n" if p.stdout else "") + p.stderr[-20000:] + "\n")
    if p.returncode != 0:
        log(f"{what}: exit {p.returncode}: {p.stderr.strip()[-1500:]}")
    return p.returncode, p.stdout, p.stderr


def stage(name, args, fn, min_left=5):
    if name[0] not in args.stages:
        return
    if left(args) < min_left:
        RESULTS["stages"][name] = {"status": "skipped", "why": f"time budget spent ({left(args):.0f} s left)"}
        log(f"stage {name}: skipped, budget spent")
        return
    t = time.time()
    log(f"=== stage {name}")
    try:
        fn(args)
        RESULTS["stages"][name] = {"status": "done", "seconds": round(time.time() - t, 1)}
    except Exception as e:  # keep going: the other stages still run
        RESULTS["stages"][name] = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                                   "seconds": round(time.time() - t, 1)}
        RESULTS["errors"].append(f"stage {name}: {type(e).__name__}: {e}")
        log(f"stage {name} FAILED: {traceback.format_exc()}")


# ----------------------------------------------------------------------------------------------
# torch helpers

def torch_mod():
    import torch
    return torch


def dev(args):
    return "cpu" if args.cpu_dry_run else "cuda"


def sync(args):
    if not args.cpu_dry_run:
        torch_mod().cuda.synchronize()


def time_fn(args, fn, warmup=3, iters=20, repeats=5):
    """Median ms per call: CUDA events around `iters` calls, `repeats` times (host clock on the CPU)."""
    torch = torch_mod()
    for _ in range(warmup):
        fn()
    sync(args)
    ms = []
    for _ in range(repeats):
        if args.cpu_dry_run:
            t = time.perf_counter()
            for _ in range(iters):
                fn()
            ms.append((time.perf_counter() - t) * 1e3 / iters)
        else:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            for _ in range(iters):
                fn()
            b.record()
            b.synchronize()
            ms.append(a.elapsed_time(b) / iters)
    ms.sort()
    return ms[len(ms) // 2]


def rel_err(out, ref):
    """||out - ref|| / ||ref|| in float64, and max |out - ref|; NaN anywhere gives inf."""
    torch = torch_mod()
    o, r = out.double().flatten(), ref.double().flatten()
    if not torch.isfinite(o).all():
        return float("inf"), float("inf")
    d = o - r
    return (d.norm() / r.norm().clamp_min(1e-30)).item(), d.abs().max().item()


# ----------------------------------------------------------------------------------------------
# Stage a: ceilings

def stage_a(args):
    torch = torch_mod()
    d = dev(args)
    info = {"device": "cpu (dry run)" if args.cpu_dry_run else torch.cuda.get_device_name(0),
            "torch": torch.__version__}
    if not args.cpu_dry_run:
        p = torch.cuda.get_device_properties(0)
        info.update(sms=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
                    cc=f"{p.major}.{p.minor}", l2_mib=round(getattr(p, "L2_cache_size", 0) / 2**20, 1))
    RESULTS["device"] = info
    n = (1 << 30) if not args.cpu_dry_run else (1 << 22)  # bf16 elements: 2 GiB per buffer on the GPU
    x = torch.randn(n, device=d, dtype=torch.bfloat16)
    y = torch.empty_like(x)
    ms = time_fn(args, lambda: y.copy_(x), warmup=3, iters=10, repeats=5)
    bw = 2 * x.numel() * 2 / (ms * 1e-3)
    assert torch.equal(x, y), "the copy is wrong"
    RESULTS["copy_gbps"] = bw / 1e9
    del x, y
    m = 8192 if not args.cpu_dry_run else 256
    a = torch.randn(m, m, device=d, dtype=torch.bfloat16)
    b = torch.randn(m, m, device=d, dtype=torch.bfloat16)
    c = torch.empty(m, m, device=d, dtype=torch.bfloat16)
    ms = time_fn(args, lambda: torch.matmul(a, b, out=c), warmup=3, iters=10, repeats=5)
    RESULTS["matmul_tflops"] = 2 * m**3 / (ms * 1e-3) / 1e12
    del a, b, c
    log(f"ceilings: copy {RESULTS['copy_gbps']:.0f} GB/s, bf16 matmul {RESULTS['matmul_tflops']:.1f} TFLOP/s "
        f"({info['device']})")


# ----------------------------------------------------------------------------------------------
# Stage b: kernels

BLOCK = 16  # KV-cache block size of the plans (ingotc --block-size default)


def decode_split_tokens(block_size, G, D):
    """attention_abi.h ingot_attn_decode_split_tokens (kept in step with it): the largest multiple of
    block_size <= 512 whose shared memory (4 * (G*st + 2G + G*D) bytes) fits 48 KiB."""
    st = max(block_size, (512 // block_size) * block_size)
    while st > block_size and 4 * (G * st + 2 * G + G * D) > 48 * 1024:
        st -= block_size
    return st


def llama3_inv_freq(D, theta=500000.0, factor=32.0, low=1.0, high=4.0, orig=8192):
    """Llama-3 rope frequencies (transformers' _compute_llama3_parameters), fp32."""
    inv = [1.0 / theta ** (2 * i / D) for i in range(D // 2)]
    lo_wl, hi_wl = orig / low, orig / high
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(f)
        elif wl > lo_wl:
            out.append(f / factor)
        else:
            s = (orig / wl - low) / (high - low)
            out.append((1 - s) * f / factor + s * f)
    return out


class KernelCases:
    """Builds the cases (inputs, spec, torch reference, torch peer) of stage b."""

    def __init__(self, args, work, entries):
        self.args, self.work, self.entries = args, work, set(entries)
        self.cases = []   # spec entries
        self.meta = {}    # name -> {ref: fn -> tensor(s), peer: fn, bytes, flops, kind, compare: [(out, ref)]}
        self.skipped = []
        self.dry = args.cpu_dry_run

    def have(self, *kernels):
        missing = [k for k in kernels if k not in self.entries]
        return not missing, missing

    def add(self, name, kernels, inputs, buffers, launches, outputs, ref, peer=None, bytes_=0, flops=0,
            kind="", rotate=1, iters=20, extra=None):
        ok, missing = self.have(*kernels)
        if not ok:
            self.skipped.append({"name": name, "why": "not in the module: " + ", ".join(missing)})
            return
        from safetensors.torch import save_file
        path = os.path.join(self.work, name + ".in.safetensors")
        save_file({k: v.detach().contiguous().cpu() for k, v in inputs.items()}, path)
        self.cases.append({"name": name, "inputs": path, "buffers": buffers, "launches": launches,
                           "outputs": outputs, "warmup": 3, "iters": iters, "repeats": 5, "rotate": rotate,
                           "bytes": bytes_, "flops": flops})
        self.meta[name] = {"ref": ref, "peer": peer, "bytes": bytes_, "flops": flops, "kind": kind,
                           "inputs": inputs, "extra": extra or {}}

    def rot(self, bytes_per_copy):
        """Copies of the inputs so that the timed loop streams from memory, not from the 60 MB L2."""
        if self.dry:
            return 1
        return int(min(64, max(1, math.ceil(256e6 / max(1, bytes_per_copy)))))


def build_cases(args, work, entries):
    torch = torch_mod()
    import torch.nn.functional as F
    kc = KernelCases(args, work, entries)
    d = dev(args)
    bf = torch.bfloat16
    # Large random inputs are drawn on the GPU (gigabytes of KV cache: the CPU would take tens of
    # seconds) and kept on the host for the input files; small integer ones on the CPU.
    gd = torch.Generator(device=d).manual_seed(1234)
    g = torch.Generator(device="cpu").manual_seed(1234)

    def rnd(*shape, dtype=bf, scale=1.0):
        return (torch.randn(*shape, generator=gd, device=d) * scale).to(dtype).cpu()

    def bufspec(t, dtype):
        return {"dtype": dtype, "shape": list(t)}

    dry = args.cpu_dry_run
    # --- norms
    for rows, cols in ([(16384, 4096), (32, 2048)] if not dry else [(8, 64), (3, 40)]):
        x, gmm = rnd(rows, cols), (1 + 0.1 * torch.randn(cols, generator=g)).to(bf)  # gamma != 1
        eps = 1e-5

        def ref_rms(inp, eps=eps):
            xf = inp["x"].float()
            return {"out": xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * inp["gamma"].float()}

        def peer_rms(inp, eps=eps):
            xx, gg = inp["x"], inp["gamma"]
            return lambda: F.rms_norm(xx, (xx.shape[-1],), gg, eps)

        nbytes = 2 * rows * cols * 2 + cols * 2
        kc.add(f"rms_norm_bf16_{rows}x{cols}", ["ingot_rms_norm_bf16"], {"x": x, "gamma": gmm},
               {"out": bufspec((rows, cols), "bf16")},
               [{"kernel": "ingot_rms_norm_bf16",
                 "params": {"x": "x", "gamma": "gamma", "out": "out", "rows": rows, "cols": cols, "eps": eps}}],
               ["out"], ref_rms, peer_rms, nbytes, kind="mem", rotate=kc.rot(nbytes))
        r = rnd(rows, cols)

        def ref_add(inp, eps=eps):
            s = (inp["x"].float() + inp["residual"].float()).to(bf).float()  # the sum is stored in bf16
            return {"sum": s, "out": s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + eps) * inp["gamma"].float()}

        def peer_add(inp, eps=eps):
            xx, rr, gg = inp["x"], inp["residual"], inp["gamma"]

            def f():
                s = xx + rr
                return F.rms_norm(s, (s.shape[-1],), gg, eps)
            return f

        nbytes = 4 * rows * cols * 2 + cols * 2
        kc.add(f"add_rms_norm_bf16_{rows}x{cols}", ["ingot_add_rms_norm_bf16"], {"x": x, "residual": r, "gamma": gmm},
               {"out": bufspec((rows, cols), "bf16"), "sum": bufspec((rows, cols), "bf16")},
               [{"kernel": "ingot_add_rms_norm_bf16",
                 "params": {"x": "x", "residual": "residual", "gamma": "gamma", "out": "out", "sum": "sum",
                            "rows": rows, "cols": cols, "eps": eps}}],
               ["out", "sum"], ref_add, peer_add, nbytes, kind="mem", rotate=kc.rot(nbytes))
    # --- silu_mul
    for n in ([1 << 26, 8192] if not dry else [1000, 77]):
        gate, up = rnd(n), rnd(n)

        def ref_silu(inp):
            gg = inp["gate"].float()
            return {"out": gg / (1 + torch.exp(-gg)) * inp["up"].float()}

        def peer_silu(inp):
            gg, uu = inp["gate"], inp["up"]
            return lambda: F.silu(gg) * uu

        nbytes = 3 * n * 2
        kc.add(f"silu_mul_bf16_{n}", ["ingot_silu_mul_bf16"], {"gate": gate, "up": up},
               {"out": bufspec((n,), "bf16")},
               [{"kernel": "ingot_silu_mul_bf16", "params": {"gate": "gate", "up": "up", "out": "out", "n": n}}],
               ["out"], ref_silu, peer_silu, nbytes, kind="mem", rotate=kc.rot(nbytes))
    # --- rope_kv_append (neox / "half" rotation as Llama; llama3 frequencies)
    H, KVH = 32, 8
    for D in (64, 128):
        T = 8192 if not dry else 5
        nblocks = (T + BLOCK - 1) // BLOCK + 1
        q, k, v = rnd(T, H, D), rnd(T, KVH, D), rnd(T, KVH, D)
        kcache, vcache = rnd(nblocks, BLOCK, KVH, D), rnd(nblocks, BLOCK, KVH, D)
        pos = torch.randint(0, 100000 if not dry else 50, (T,), generator=g, dtype=torch.int32)
        slots = torch.randperm(nblocks * BLOCK, generator=g)[:T].to(torch.int64)
        inv = torch.tensor(llama3_inv_freq(D), dtype=torch.float32)

        def ref_rope(inp, D=D):
            invf = inp["inv_freq"].double()
            ang = (inp["positions"].double()[:, None] * invf[None, :]).float().double()  # fp32 angle, as the kernel
            cos, sin = ang.cos().float()[:, None, :], ang.sin().float()[:, None, :]

            def rot(t):
                t = t.float()
                a, b = t[..., : D // 2], t[..., D // 2:]
                return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)
            kc_, vc_ = inp["k_cache"].float().clone(), inp["v_cache"].float().clone()
            flat_k, flat_v = kc_.view(-1, KVH, D), vc_.view(-1, KVH, D)
            sl = inp["slot_mapping"].long()
            flat_k[sl] = rot(inp["k"]).to(bf).float()
            flat_v[sl] = inp["v"].float()
            return {"q": rot(inp["q"]), "k_cache": kc_, "v_cache": vc_}

        nbytes = (T * H * D * 2) * 2 + (T * KVH * D * 2) * 4
        name = f"rope_kv_append_bf16_d{D}_t{T}"
        kern = f"ingot_rope_kv_append_bf16_d{D}"
        kc.add(name, [kern],
               {"q": q, "k": k, "v": v, "k_cache": kcache, "v_cache": vcache, "positions": pos, "slot_mapping": slots,
                "inv_freq": inv}, {},
               [{"kernel": kern, "params": {"q": "q", "k": "k", "v": "v", "k_cache": "k_cache", "v_cache": "v_cache",
                                            "positions": "positions", "slot_mapping": "slot_mapping",
                                            "inv_freq": "inv_freq", "tokens": T, "num_heads": H, "num_kv_heads": KVH,
                                            "rotary_dim": D, "neox": 1, "block_size": BLOCK, "apply_rope": 1,
                                            "attn_scale": 1.0}}],
               ["q", "k_cache", "v_cache"], ref_rope, None, nbytes, kind="mem", rotate=1, iters=10)
    # --- paged decode attention (FlashDecoding + combine)
    G = H // KVH
    for D in (64, 128):
        for B, ctx in ([(1, 1024), (1, 4096), (1, 16384), (32, 1024), (32, 4096), (32, 16384)] if not dry
                       else [(1, 37), (3, 70)]):
            per_seq_blocks = (ctx + BLOCK - 1) // BLOCK
            nblocks = B * per_seq_blocks + 3
            kcache, vcache = rnd(nblocks, BLOCK, KVH, D), rnd(nblocks, BLOCK, KVH, D)
            q = rnd(B, H, D)
            perm = torch.randperm(nblocks, generator=g)[: B * per_seq_blocks].to(torch.int32)
            tables = perm.view(B, per_seq_blocks).contiguous()
            lens = torch.tensor([ctx - (i % 3) for i in range(B)], dtype=torch.int32)  # ragged by a token or two
            qs = torch.arange(B + 1, dtype=torch.int32)
            st = decode_split_tokens(BLOCK, G, D)
            splits = (ctx + st - 1) // st
            scale = 1.0 / math.sqrt(D)

            def ref_dec(inp, D=D, B=B):
                outs = []
                for s in range(B):
                    L = int(inp["context_lens"][s])
                    blocks = inp["block_tables"][s].long()
                    kk = inp["k_cache"][blocks].reshape(-1, KVH, D)[:L].float()   # [L, KVH, D]
                    vv = inp["v_cache"][blocks].reshape(-1, KVH, D)[:L].float()
                    qq = inp["q"][s].float().view(KVH, G, D)
                    att = torch.einsum("hgd,lhd->hgl", qq, kk) * (1.0 / math.sqrt(D))
                    outs.append(torch.einsum("hgl,lhd->hgd", att.softmax(-1), vv).reshape(H, D))
                return {"out": torch.stack(outs)}

            def peer_dec(inp, D=D, B=B, ctx=ctx):
                # SDPA over a contiguous cache (no paging: what the peer would read at best)
                kk = inp["k_cache"][inp["block_tables"].long()].reshape(B, -1, KVH, D)[:, :ctx].transpose(1, 2).contiguous()
                vv = inp["v_cache"][inp["block_tables"].long()].reshape(B, -1, KVH, D)[:, :ctx].transpose(1, 2).contiguous()
                qq = inp["q"].view(B, H, 1, D)
                return lambda: F.scaled_dot_product_attention(qq, kk, vv, enable_gqa=True)

            nbytes = int(lens.sum()) * KVH * D * 2 * 2 + 2 * B * H * D * 2
            name = f"attn_decode_bf16_d{D}_b{B}_ctx{ctx}"
            kd, kcomb = f"ingot_attn_decode_bf16_d{D}_g{G}", f"ingot_attn_decode_combine_bf16_d{D}"
            params = {"q": "q", "k_cache": "k_cache", "v_cache": "v_cache", "out": "out",
                      "block_tables": "block_tables", "query_start": "query_start", "context_lens": "context_lens",
                      "partial_out": "partial_out", "partial_lse": "partial_lse", "num_tokens": B, "num_seqs": B,
                      "num_heads": H, "num_kv_heads": KVH, "block_size": BLOCK, "max_blocks_per_seq": per_seq_blocks,
                      "max_query_len": 1, "split_tokens": st, "max_splits": splits, "sliding_window": 0,
                      "scale": scale, "softcap": 0.0}
            kc.add(name, [kd, kcomb],
                   {"q": q, "k_cache": kcache, "v_cache": vcache, "block_tables": tables, "query_start": qs,
                    "context_lens": lens},
                   {"out": bufspec((B, H, D), "bf16"),
                    "partial_out": bufspec((B, H, splits, D), "f32"),
                    "partial_lse": bufspec((B, H, splits, 2), "f32")},
                   [{"kernel": kd, "params": params}, {"kernel": kcomb, "params": params}],
                   ["out"], ref_dec, peer_dec, nbytes, kind="decode", rotate=kc.rot(nbytes),
                   extra={"split_tokens": st, "splits": splits})
    # --- causal prefill attention: the mma (tensor core) kernel at 1k-8k, the plain one at 1k
    for D in (64, 128):
        for S in ([1024, 2048, 4096, 8192] if not dry else [19, 40]):
            nb = (S + BLOCK - 1) // BLOCK
            q = rnd(S, H, D)
            kk, vv = rnd(nb * BLOCK, KVH, D), rnd(nb * BLOCK, KVH, D)
            kcache, vcache = kk.view(nb, BLOCK, KVH, D), vv.view(nb, BLOCK, KVH, D)
            tables = torch.arange(nb, dtype=torch.int32).view(1, nb)
            scale = 1.0 / math.sqrt(D)

            def ref_pre(inp, D=D, S=S):
                qq = inp["q"].float().transpose(0, 1)                                  # [H, S, D]
                k2 = inp["k_cache"].reshape(-1, KVH, D)[:S].float().transpose(0, 1)      # [KVH, S, D]
                v2 = inp["v_cache"].reshape(-1, KVH, D)[:S].float().transpose(0, 1)
                k2, v2 = k2.repeat_interleave(G, 0), v2.repeat_interleave(G, 0)
                o = F.scaled_dot_product_attention(qq[None], k2[None], v2[None], is_causal=True)[0]
                return {"out": o.transpose(0, 1)}

            def peer_pre(inp, D=D, S=S):
                qq = inp["q"].transpose(0, 1)[None].contiguous()
                k2 = inp["k_cache"].reshape(-1, KVH, D)[:S].transpose(0, 1)[None].repeat_interleave(G, 1).contiguous()
                v2 = inp["v_cache"].reshape(-1, KVH, D)[:S].transpose(0, 1)[None].repeat_interleave(G, 1).contiguous()
                if dry:
                    return lambda: F.scaled_dot_product_attention(qq, k2, v2, is_causal=True)
                from torch.nn.attention import SDPBackend, sdpa_kernel

                def f():
                    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                        return F.scaled_dot_product_attention(qq, k2, v2, is_causal=True)
                return f

            flops = 2 * S * S * H * D  # causal: half of 4*S^2*H*D
            for variant in (["mma", "plain"] if S == (1024 if not dry else 19) else ["mma"]):
                kern = f"ingot_attn_prefill_{'mma_' if variant == 'mma' else ''}bf16_d{D}_g{G}"
                params = {"q": "q", "k_cache": "k_cache", "v_cache": "v_cache", "out": "out",
                          "block_tables": "block_tables", "query_start": "query_start",
                          "context_lens": "context_lens", "num_tokens": S, "num_seqs": 1, "num_heads": H,
                          "num_kv_heads": KVH, "block_size": BLOCK, "max_blocks_per_seq": nb, "max_query_len": S,
                          "split_tokens": 0, "max_splits": 0, "sliding_window": 0, "scale": scale, "softcap": 0.0}
                kc.add(f"attn_prefill_{variant}_bf16_d{D}_s{S}", [kern],
                       {"q": q, "k_cache": kcache, "v_cache": vcache, "block_tables": tables,
                        "query_start": torch.tensor([0, S], dtype=torch.int32),
                        "context_lens": torch.tensor([S], dtype=torch.int32)},
                       {"out": bufspec((S, H, D), "bf16")},
                       [{"kernel": kern, "params": params}], ["out"], ref_pre, peer_pre, flops=flops,
                       kind="prefill", rotate=1, iters=10 if S <= 4096 else 5)
    # --- the CUDA-core GEMM fallback (cuBLASLt does the plans' GEMMs when it loads)
    for M, N, K in ([(1, 8192, 2048), (2048, 2048, 2048)] if not dry else [(3, 17, 40)]):
        a, w = rnd(M, K), rnd(N, K, scale=1 / math.sqrt(K))

        def ref_gemm(inp):
            return {"c": inp["a"].float() @ inp["w"].float().t()}

        def peer_gemm(inp):
            aa, ww = inp["a"], inp["w"]
            return lambda: aa @ ww.t()

        kc.add(f"gemm_bf16_{M}x{N}x{K}", ["ingot_gemm_bf16"], {"a": a, "w": w}, {"c": bufspec((M, N), "bf16")},
               [{"kernel": "ingot_gemm_bf16",
                 "params": {"a": "a", "w": "w", "bias": None, "c": "c", "m": M, "n": N, "k": K, "lda": K, "ldw": K,
                            "ldc": N, "c_f32": 0, "epilogue": 0}}],
               ["c"], ref_gemm, peer_gemm, bytes_=(M * K + N * K + M * N) * 2, flops=2 * M * N * K, kind="gemm",
               rotate=1, iters=10)
    return kc


def stage_b(args):
    torch = torch_mod()
    from safetensors.torch import load_file
    bundle = args.bundle
    man_path = os.path.join(bundle, "kernels", "bench_kernels.json")
    entries = []
    if os.path.exists(man_path):
        with open(man_path) as f:
            man = json.load(f)
        entries = man["entries"]
        for m in man.get("missing", []):
            log(f"kernels: {m['macro']} not in the module ({m['why']})")
    else:
        log(f"kernels: no {man_path} (prepare.sh made no kernel module): every case skipped")
    work = os.path.join(args.work, "kernels")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    kc = build_cases(args, work, entries)
    for s in kc.skipped:
        RESULTS["kernels"].append({"name": s["name"], "status": "skipped", "why": s["why"]})
    images = {}
    kdir = os.path.join(bundle, "kernels")
    if os.path.isdir(kdir):
        for fn in os.listdir(kdir):
            if fn.startswith("bench_kernels.") and (fn.endswith(".cubin") or fn.endswith(".ptx")):
                images[fn.split(".")[1]] = os.path.abspath(os.path.join(kdir, fn))
    spec = {"images": images or {"none": "none"}, "cases": kc.cases}
    spec_path = os.path.join(work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=1)
    log(f"kernels: {len(kc.cases)} cases, {len(kc.skipped)} skipped (kernel not built)")
    tool = os.path.join(bundle, "bin", "ingot_bench_cuda_kernels")
    tool_results = {}
    if not kc.cases:
        pass
    elif not os.path.exists(tool):
        log(f"kernels: {tool} missing (prepare.sh could not build it): cases not run")
        for c in kc.cases:
            RESULTS["kernels"].append({"name": c["name"], "status": "skipped", "why": "no bench tool"})
        return
    else:
        # A kernel fault leaves the CUDA context unusable and the tool stops: run it again (a fresh
        # process, a fresh context) on the cases it did not reach, up to 4 times.
        todo = list(kc.cases)
        for attempt in range(4):
            spec["cases"] = todo
            with open(spec_path, "w") as f:
                json.dump(spec, f, indent=1)
            cmd = [tool, "--spec", spec_path, "--out-dir", work] + (["--dry-run"] if args.cpu_dry_run else [])
            rc, out, err = run_cmd(cmd, min(240, max(10, left(args) - 150)), f"bench tool (run {attempt + 1})")
            for line in out.splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if "device" in j:
                    RESULTS["bench_tool_device"] = j
                    if "error" in j:
                        RESULTS["errors"].append("bench tool: " + j["error"])
                elif "name" in j:
                    tool_results[j["name"]] = j
                elif "error" in j:
                    RESULTS["errors"].append("bench tool: " + j["error"])
            todo = [c for c in todo if c["name"] not in tool_results]
            if rc is not None and rc not in (0, 1) and todo:  # died in a case without reporting it
                tool_results[todo[0]["name"]] = {"ok": False, "error": f"the bench tool died in this case "
                                                 f"(exit {rc}): {(err or '').strip()[-300:]}"}
                todo = todo[1:]
            if rc is None or not todo or "device" not in (RESULTS.get("bench_tool_device") or {}) \
                    or left(args) < 170:
                break
            log(f"kernels: the tool stopped with {len(todo)} cases left; running it again on those")
    d = dev(args)
    for c in kc.cases:
        name, meta = c["name"], kc.meta[c["name"]]
        r = {"name": name, "kind": meta["kind"]}
        RESULTS["kernels"].append(r)
        tr = tool_results.get(name)
        if tr is None:
            r.update(status="not run", why="no result from the bench tool (crash or timeout: see the log)")
            continue
        if not tr.get("ok"):
            r.update(status="FAIL", why=tr.get("error", "?"))
            continue
        r["launches"] = tr.get("launches")
        try:
            inp = {k: v.to(d) for k, v in meta["inputs"].items()}
            ref = meta["ref"](inp)
            if args.cpu_dry_run:
                outs = {k: v.to(torch.bfloat16) for k, v in ref.items()}  # self-compare: exercises this path
                r["note"] = "dry run: compared with the bf16-rounded reference itself"
            else:
                outs = load_file(tr["outputs"], device=d)
            errs = {}
            worst = 0.0
            for k, refv in ref.items():
                rel, mx = rel_err(outs[k], refv)
                errs[k] = {"rel": rel, "max_abs": mx}
                worst = max(worst, rel)
            r["errors"] = errs
            r["rel_err"] = worst
            tol = 2e-2 if meta["kind"] in ("prefill", "decode", "gemm") else 1e-2
            r["tol"] = tol
            r["status"] = "ok" if worst <= tol else "FAIL"
            if not args.cpu_dry_run:
                r["ms"] = tr["ms_median"]
                r["ms_min"] = tr["ms_min"]
                if meta["bytes"]:
                    r["gbps"] = meta["bytes"] / (tr["ms_median"] * 1e-3) / 1e9
                    if RESULTS.get("copy_gbps"):
                        r["of_copy_bw"] = r["gbps"] / RESULTS["copy_gbps"]
                if meta["flops"]:
                    r["tflops"] = meta["flops"] / (tr["ms_median"] * 1e-3) / 1e12
            if meta["peer"] is not None and left(args) > 60:
                fn = meta["peer"](inp)
                out_peer = fn()
                if meta["kind"] == "prefill":
                    rel_peer, _ = rel_err(out_peer[0].transpose(0, 1), ref["out"])
                    r["peer_rel_err"] = rel_peer
                pm = time_fn(args, fn, warmup=3, iters=10, repeats=5)
                r["peer_ms"] = pm
                if "ms" in r:
                    r["vs_peer"] = pm / r["ms"]  # > 1: ours is faster
            r.update({k: v for k, v in meta["extra"].items()})
        except Exception as e:
            r.update(status="FAIL", why=f"compare: {type(e).__name__}: {e}")
            log(f"kernels: {name}: {traceback.format_exc()}")
        log(f"kernel {name}: {r.get('status')} rel {r.get('rel_err', float('nan')):.2e}"
            + (f" {r['ms'] * 1e3:.1f} us" if "ms" in r else "")
            + (f" {r['gbps']:.0f} GB/s" if "gbps" in r else "")
            + (f" {r['tflops']:.0f} TFLOP/s" if "tflops" in r else "")
            + (f" x{r['vs_peer']:.2f} vs torch" if "vs_peer" in r else ""))
    if not args.cpu_dry_run:
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------
# Stage c: models

def load_hf(path, dtype, args, attn="sdpa"):
    torch = torch_mod()
    import transformers
    from transformers import AutoModelForCausalLM
    transformers.utils.logging.disable_progress_bar()
    try:
        m = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attn)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, attn_implementation=attn)
    m = m.to(dev(args)).eval()
    m.generation_config.eos_token_id = None  # greedy runs all steps, as the ingot side (--ignore-eos)
    m.generation_config.pad_token_id = 0
    return m


def hf_logits(model, ids, args):
    torch = torch_mod()
    with torch.no_grad():
        return model(torch.tensor([ids], device=dev(args))).logits[0].float()


def hf_greedy(model, ids, n, args):
    torch = torch_mod()
    with torch.no_grad():
        out = model.generate(torch.tensor([ids], device=dev(args)), max_new_tokens=n, do_sample=False,
                             num_beams=1, min_new_tokens=n)
    return out[0, len(ids):].tolist()


def prefix_agree(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def dev_flag(args):
    """The ingot commands' device option: --device cuda there; --ingot-device cpu/none lets the dry
    run drive CPU plans through the same code (none: an ingot without the option)."""
    return [] if args.ingot_device == "none" else ["--device", args.ingot_device]


def ingot_runs(args):
    return not args.cpu_dry_run or args.ingot_device != "cuda"


def ingot(args):
    return os.path.join(args.bundle, "bin", "ingot")


def ingot_logits(args, plan, wdir, ids, mode, tag):
    import numpy as np
    torch = torch_mod()
    out = os.path.join(args.work, f"{tag}.{mode.replace(':', '')}.npy")
    rc, so, se = run_cmd([ingot(args), "logits", plan, "--weights", wdir, *dev_flag(args), "--ids",
                          ",".join(map(str, ids)), "--mode", mode, "--out", out],
                         min(120, max(5, left(args) - 30)), f"ingot logits {tag} {mode}")
    if rc != 0:
        raise RuntimeError(f"ingot logits {mode} failed: {(se or so).strip()[-400:]}")
    return torch.from_numpy(np.load(out)).to(dev(args))


def ingot_greedy(args, plan, wdir, ids, n, tag):
    rc, so, se = run_cmd([ingot(args), "generate-ids", plan, "--weights", wdir, *dev_flag(args), "--ids",
                          ",".join(map(str, ids)), "--max-tokens", str(n), "--ignore-eos"],
                         min(120, max(5, left(args) - 30)), f"ingot generate-ids {tag}")
    if rc != 0:
        raise RuntimeError(f"ingot generate-ids failed: {(se or so).strip()[-400:]}")
    j = json.loads(so.strip().splitlines()[-1])
    toks = j if isinstance(j, list) else j.get("output_ids", j.get("tokens", j.get("ids")))
    return list(toks)[-n:]


def compare_model(args, name, plan, wdir, ids, gen_ids, r):
    """Logits and greedy tokens: ingot (bf16 plan) vs transformers fp32 (reference) and bf16 (yardstick)."""
    torch = torch_mod()
    m32 = load_hf(wdir, torch.float32, args, attn="eager")
    ref = hf_logits(m32, ids, args)
    g32 = hf_greedy(m32, gen_ids, 32, args)
    del m32
    m16 = load_hf(wdir, torch.bfloat16, args)
    l16 = hf_logits(m16, ids, args)
    g16 = hf_greedy(m16, gen_ids, 32, args)
    del m16
    hf_rel, hf_max = rel_err(l16, ref)
    r.update(hf_bf16_rel=hf_rel, hf_bf16_max=hf_max, hf_bf16_greedy_agree=prefix_agree(g16, g32),
             hf_bf16_top1=(l16.argmax(-1) == ref.argmax(-1)).float().mean().item())
    # bf16 error budget: twice transformers' own bf16 error (different but equally valid rounding
    # orders), at least 1e-2
    tol = max(2 * hf_rel, 1e-2)
    r["tol"] = tol
    if not ingot_runs(args):
        r["status"] = "hf-only (dry run: no GPU for ingot --device cuda)"
        return
    if not plan:
        r["status"] = "no plan"
        return
    ok = True
    # `ingot logits` writes one row per step: the last token's logits of each chunk (prefill: one
    # chunk; stepwise: every token, through the decode path; chunked:N in between)
    for mode, key, chunk in (("prefill", "prefill", len(ids)), ("chunked:7", "chunked", 7), ("stepwise", "stepwise", 1)):
        lg = ingot_logits(args, plan, wdir, ids, mode, name)
        rows = [min(b + chunk, len(ids)) - 1 for b in range(0, len(ids), chunk)]
        want = ref[rows]
        if tuple(lg.shape) != tuple(want.shape):
            raise RuntimeError(f"ingot logits --mode {mode} gave {tuple(lg.shape)}, expected {tuple(want.shape)}")
        rel, mx = rel_err(lg, want)
        r[f"{key}_rel"], r[f"{key}_max"] = rel, mx
        r[f"{key}_top1"] = (lg.argmax(-1) == want.argmax(-1)).float().mean().item()
        ok = ok and rel <= tol
    gi = ingot_greedy(args, plan, wdir, gen_ids, 32, name)
    r["greedy_agree_fp32"] = prefix_agree(gi, g32)
    r["greedy_agree_bf16"] = prefix_agree(gi, g16)
    r["greedy_ok"] = r["greedy_agree_fp32"] >= r["hf_bf16_greedy_agree"] or r["greedy_agree_bf16"] == 32
    r["status"] = "ok" if ok and r["greedy_ok"] else "FAIL"


def plan_for(args, name):
    p = os.path.join(args.bundle, "plans", name + ".plan")
    return p if os.path.exists(p) else None


def stage_c_fixtures(args):
    fx = os.path.join(REPO, "test", "fixtures")
    names = sorted(n for n in os.listdir(fx) if os.path.exists(os.path.join(fx, n, "config.json")))
    if args.only_models:
        names = [n for n in names if n in args.only_models.split(",")]
    for name in names:
        if left(args) < 200:
            RESULTS["models"].append({"name": name, "status": "skipped", "why": "time budget"})
            continue
        r = {"name": name}
        RESULTS["models"].append(r)
        try:
            with open(os.path.join(fx, name, "reference.json")) as f:
                refj = json.load(f)
            ids = refj["prompts"][-1]["ids"]
            compare_model(args, name, plan_for(args, name), os.path.join(fx, name), ids, ids, r)
        except Exception as e:
            r.update(status="FAIL", why=f"{type(e).__name__}: {e}")
            log(f"model {name}: {traceback.format_exc()}")
        log(f"model {name}: {json.dumps({k: v for k, v in r.items() if k != 'name'})}")


def checkpoint_ready(args):
    """Waits for the 1B checkpoint that was started in the background at the beginning."""
    p = args.ckpt_proc
    if p is None:
        return os.path.exists(os.path.join(args.ckpt, "model.safetensors"))
    try:
        rc = p.wait(timeout=max(1, left(args) - 120))
    except subprocess.TimeoutExpired:
        log("llama-1b: the checkpoint is still being written; giving up on stage c2")
        return False
    with open(os.path.join(args.out, "checkpoint.log")) as f:
        txt = f.read()
    log("checkpoint: " + txt.strip().replace("\n", " | ")[-1500:])
    RESULTS["llama1b"]["checkpoint"] = [l for l in txt.splitlines() if l.startswith("make_checkpoint")]
    if rc != 0:
        log(f"llama-1b: make_checkpoint exited {rc} (manifest mismatch: the plan will not load these files)")
    return os.path.exists(os.path.join(args.ckpt, "config.json"))


def hf_decode_speed(model, ids, n_new, args):
    """Decode tokens/s of transformers' generate: (n_new - 1) steps after the first token, from the
    difference between a run of n_new tokens and one of 1 token (the prefill)."""
    torch = torch_mod()
    x = torch.tensor([ids], device=dev(args))

    def run(n):
        sync(args)
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1)
        sync(args)
        return time.perf_counter() - t

    run(4)
    t1 = min(run(1) for _ in range(2))
    tn = min(run(n_new) for _ in range(2))
    return ((n_new - 1) / (tn - t1) if tn > t1 else None), t1


STATIC_CHILD = r'''
# transformers' recipe for fast generate (docs "LLM inference optimization"): static KV cache and
# torch.compile of the forward (reduce-overhead: CUDA graphs); the static cache alone if compiling fails.
import json, sys, time, torch, transformers
from transformers import AutoModelForCausalLM
transformers.utils.logging.disable_progress_bar()
path, n_new, ids = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
try:
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa")
except TypeError:
    m = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
m = m.cuda().eval()
m.generation_config.eos_token_id = None
m.generation_config.pad_token_id = 0
m.generation_config.cache_implementation = "static"
x = torch.tensor([ids], device="cuda")
def run(n):
    torch.cuda.synchronize(); t = time.perf_counter()
    with torch.no_grad():
        m.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1)
    torch.cuda.synchronize(); return time.perf_counter() - t
eager_forward, compiled, err = m.forward, True, ""
t0 = time.perf_counter()
try:
    m.forward = torch.compile(eager_forward, mode="reduce-overhead", fullgraph=True)
    run(n_new); run(n_new)
except Exception as e:
    compiled, err = False, f"{type(e).__name__}: {e}"[:300]
    m.forward = eager_forward
    run(n_new)
warm = time.perf_counter() - t0
t1 = min(run(1) for _ in range(2)); tn = min(run(n_new) for _ in range(2))
print(json.dumps({"tok_s": (n_new - 1) / (tn - t1) if tn > t1 else None, "prefill_s": t1, "warmup_s": warm, "compiled": compiled,
                  "compile_error": err}))
'''


def stage_c_llama(args):
    torch = torch_mod()
    r = RESULTS["llama1b"]
    if not checkpoint_ready(args):
        r["status"] = "no checkpoint"
        return
    plan = plan_for(args, "llama-1b")
    import random
    rng = random.Random(7)
    with open(os.path.join(args.ckpt, "config.json")) as f:
        cfg = json.load(f)
    vocab_hi = min(128000, cfg["vocab_size"])
    ids = [rng.randrange(vocab_hi) for _ in range(64)]
    compare_model(args, "llama-1b", plan, args.ckpt, ids, ids[:16], r)
    log(f"llama-1b check: {json.dumps(r)}")
    # roofline: every weight is read once per decode step (the tied embedding as the lm_head)
    from safetensors import safe_open
    nbytes = 0
    for fn in os.listdir(args.ckpt):
        if fn.endswith(".safetensors"):
            with safe_open(os.path.join(args.ckpt, fn), "pt") as f:
                for k in f.keys():
                    sl = f.get_slice(k)
                    n = 1
                    for dd in sl.get_shape():
                        n *= dd
                    nbytes += n * 2
    r["weight_bytes_per_token"] = nbytes
    if RESULTS.get("copy_gbps"):
        r["roofline_tok_s"] = RESULTS["copy_gbps"] * 1e9 / nbytes
    prompt = [rng.randrange(vocab_hi) for _ in range(128)]
    n_new = 256 if not args.cpu_dry_run else 8
    # ingot: batch-1 latency (load, prefill, decode) and 64-sequence throughput
    if plan and ingot_runs(args):
        rc, so, se = run_cmd([ingot(args), "bench", plan, "--weights", args.ckpt, *dev_flag(args), "--ids",
                              ",".join(map(str, prompt)), "--max-tokens", str(n_new + 1), "--warmup", "0",
                              "--repeat", "4"], min(120, max(5, left(args) - 60)), "ingot bench latency")
        if rc == 0:
            j = json.loads(so.strip().splitlines()[-1])
            # no untimed warm-up: run 0 carries whatever is done lazily (graph capture at the first
            # decode step, cuBLASLt heuristics); runs 1-3 give the speed
            first, runs = j["runs"][0], j["runs"][1:]
            dec = sorted(x["decode_steps"] / x["decode_s"] for x in runs if x["decode_s"] > 0)
            r["ingot_tok_s"] = dec[len(dec) // 2]
            r["ingot_prefill_s"] = sorted(x["prefill_s"] for x in runs)[len(runs) // 2]
            steady = sorted(x["prefill_s"] + x["decode_s"] for x in runs)[len(runs) // 2]
            r["ingot_first_run_extra_s"] = first["prefill_s"] + first["decode_s"] - steady
            r["ingot_open_s"], r["ingot_executor_s"] = j["open_s"], j["executor_s"]
            r["ingot_load_s"] = j["open_s"] + j["executor_s"] + max(0.0, r["ingot_first_run_extra_s"])
            if r.get("roofline_tok_s"):
                r["of_roofline"] = r["ingot_tok_s"] / r["roofline_tok_s"]
        rc, so, se = run_cmd([ingot(args), "bench", plan, "--weights", args.ckpt, *dev_flag(args),
                              "--num-prompts", "64", "--input-len", "128", "--output-len", str(n_new),
                              "--max-running", "64", "--vocab-size", str(vocab_hi), "--no-progress",
                              "--json", os.path.join(args.work, "bench64.json")],
                             min(150, max(5, left(args) - 60)), "ingot bench throughput")
        if rc == 0:
            with open(os.path.join(args.work, "bench64.json")) as f:
                j = json.load(f)
            r["ingot_64seq_out_tok_s"] = j["output_tokens_per_s"]
            r["ingot_64seq_total_tok_s"] = j["total_tokens_per_s"]
        # plan load + graph capture: `ingot run --stats` prints a load line
        rc, so, se = run_cmd([ingot(args), "run", plan, "--weights", args.ckpt, *dev_flag(args), "--prompt",
                              "Hello", "--max-tokens", "8", "--stats"], 60, "ingot run --stats")
        if rc == 0:
            r["ingot_run_stats"] = [l for l in se.splitlines() if l.strip()][-4:]
    # transformers: eager (SDPA, dynamic cache), then static cache + torch.compile in a child
    if left(args) > 60:
        m = load_hf(args.ckpt, torch.bfloat16 if not args.cpu_dry_run else torch.float32, args)
        tok_s, t1 = hf_decode_speed(m, prompt, n_new, args)
        r["hf_eager_tok_s"], r["hf_eager_prefill_s"] = tok_s, t1
        if not args.cpu_dry_run and left(args) > 90:
            xb = torch.tensor([prompt] * 64, device="cuda")
            sync(args)
            t = time.perf_counter()
            with torch.no_grad():
                m.generate(xb, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False, num_beams=1)
            sync(args)
            r["hf_64seq_out_tok_s"] = 64 * n_new / (time.perf_counter() - t)
        del m
        if not args.cpu_dry_run:
            torch.cuda.empty_cache()
    if not args.cpu_dry_run and left(args) > 100 and not args.no_compile:
        rc, so, se = run_cmd([sys.executable, "-c", STATIC_CHILD, args.ckpt, str(n_new), json.dumps(prompt)],
                             left(args) - 40, "transformers static cache + torch.compile")
        if rc == 0:
            j = json.loads(so.strip().splitlines()[-1])
            r["hf_static_tok_s"], r["hf_static_compiled"], r["hf_static_warmup_s"] = \
                j["tok_s"], j["compiled"], j["warmup_s"]
            if j.get("compile_error"):
                r["hf_static_compile_error"] = j["compile_error"]
        else:
            r["hf_static"] = "timeout" if rc is None else f"failed: {(se or '').strip()[-300:]}"
    best = max([r.get(k) or 0 for k in ("hf_eager_tok_s", "hf_static_tok_s")])
    if r.get("ingot_tok_s") and best:
        r["vs_hf_best"] = r["ingot_tok_s"] / best
    if r.get("ingot_64seq_out_tok_s") and r.get("hf_64seq_out_tok_s"):
        r["vs_hf_64seq"] = r["ingot_64seq_out_tok_s"] / r["hf_64seq_out_tok_s"]
    log(f"llama-1b: {json.dumps(r)}")


# ----------------------------------------------------------------------------------------------
# Stage d: the table

def fmt(v, spec="{:.2f}"):
    if v is None:
        return "-"
    try:
        return spec.format(v)
    except (ValueError, TypeError):
        return str(v)


def table():
    L = []
    dv = RESULTS.get("device", {})
    L.append(f"device: {dv.get('device', '?')}  copy {fmt(RESULTS.get('copy_gbps'), '{:.0f}')} GB/s  "
             f"bf16 matmul {fmt(RESULTS.get('matmul_tflops'), '{:.0f}')} TFLOP/s  "
             f"elapsed {time.time() - T0:.0f} s")
    L.append(f"{'kernel case':40s} {'status':7s} {'rel err':>8s} {'us':>9s} {'GB/s':>6s} {'%copy':>6s} "
             f"{'TFLOP/s':>7s} {'x torch':>7s}")
    for k in RESULTS["kernels"]:
        if k.get("status") == "skipped":
            continue
        L.append(f"{k['name'][:40]:40s} {str(k.get('status'))[:7]:7s} {fmt(k.get('rel_err'), '{:.1e}'):>8s} "
                 f"{fmt(k['ms'] * 1e3 if 'ms' in k else None, '{:.1f}'):>9s} {fmt(k.get('gbps'), '{:.0f}'):>6s} "
                 f"{fmt(k['of_copy_bw'] * 100 if 'of_copy_bw' in k else None, '{:.0f}'):>6s} "
                 f"{fmt(k.get('tflops'), '{:.0f}'):>7s} {fmt(k.get('vs_peer')):>7s}")
    why = {}
    for k in RESULTS["kernels"]:
        if k.get("status") == "skipped":
            w = k.get("why", "?")
            w = "kernel not in the module" if w.startswith("not in the module") else w
            why[w] = why.get(w, 0) + 1
    for w, n in why.items():
        L.append(f"kernel cases skipped: {n} ({w})")
    L.append(f"{'model':12s} {'status':8s} {'prefill rel':>11s} {'chunk rel':>9s} {'step rel':>9s} {'hf bf16':>8s} "
             f"{'top1':>5s} {'greedy':>7s}")
    for m in RESULTS["models"] + ([dict(RESULTS["llama1b"], name="llama-1b")] if RESULTS["llama1b"] else []):
        L.append(f"{m['name'][:12]:12s} {str(m.get('status', '-'))[:8]:8s} {fmt(m.get('prefill_rel'), '{:.1e}'):>11s} "
                 f"{fmt(m.get('chunked_rel'), '{:.1e}'):>9s} {fmt(m.get('stepwise_rel'), '{:.1e}'):>9s} "
                 f"{fmt(m.get('hf_bf16_rel'), '{:.1e}'):>8s} {fmt(m.get('stepwise_top1'), '{:.2f}'):>5s} "
                 f"{str(m.get('greedy_agree_fp32', '-')) + '/' + str(m.get('hf_bf16_greedy_agree', '-')):>7s}")
    L.append("  (rel: ||ingot - hf fp32|| / ||hf fp32|| of the logits; hf bf16: transformers-bf16's own; top1: "
             "stepwise argmax agreement; greedy: tokens of 32 that ingot / transformers-bf16 share with fp32)")
    r = RESULTS["llama1b"]
    if r:
        L.append(f"llama-1b decode tok/s: ingot {fmt(r.get('ingot_tok_s'), '{:.0f}')}  hf eager "
                 f"{fmt(r.get('hf_eager_tok_s'), '{:.0f}')}  hf static+compile {fmt(r.get('hf_static_tok_s'), '{:.0f}')}"
                 f"{'' if r.get('hf_static_compiled', True) else ' (compile failed: static cache only)'}"
                 f"  x best hf {fmt(r.get('vs_hf_best'))} (goal 1.5)  roofline {fmt(r.get('roofline_tok_s'), '{:.0f}')}"
                 f" ({fmt(r['of_roofline'] * 100 if 'of_roofline' in r else None, '{:.0f}')}%, goal 70)")
        L.append(f"llama-1b 64 seqs out tok/s: ingot {fmt(r.get('ingot_64seq_out_tok_s'), '{:.0f}')}  hf "
                 f"{fmt(r.get('hf_64seq_out_tok_s'), '{:.0f}')}  load {fmt(r.get('ingot_load_s'))} s (goal < 2)")
    for s, v in RESULTS["stages"].items():
        if v.get("status") != "done":
            L.append(f"stage {s}: {v.get('status')} {v.get('why', v.get('error', ''))[:150]}")
    for e in RESULTS["errors"][:5]:
        L.append(f"error: {e[:200]}")
    fails = [k for k in RESULTS["kernels"] if k.get("status") in ("FAIL", "not run")]
    fails += [m for m in RESULTS["models"] + [RESULTS["llama1b"]] if m.get("status") == "FAIL"]
    for f in fails[:8]:
        L.append(f"FAIL {f.get('name', 'llama-1b')}: {str(f.get('why', 'error above tolerance'))[:180]}")
    return "\n".join(L)


def finish(args):
    if RESULTS.get("finished"):
        return
    RESULTS["finished"] = True
    RESULTS["elapsed_s"] = time.time() - T0
    try:
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(RESULTS, f, indent=1, default=str)
    except OSError as e:
        print(f"cannot write results.json: {e}")
    t = table()
    if LOG:
        LOG.write("\n" + t + "\n")
        LOG.flush()
    print("\n" + t, flush=True)


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(REPO, "device-bundle"))
    ap.add_argument("--out", default=os.environ.get("OUT") or "/tmp/ingot-device-out")
    ap.add_argument("--work", default="/tmp/ingot-device-work", help="scratch (not brought back)")
    ap.add_argument("--ckpt", default="/tmp/ingot-device/llama-1b")
    ap.add_argument("--budget", type=float, default=420, help="seconds for everything; stages past it are skipped")
    ap.add_argument("--stages", default="abc", help="subset of a, b, c")
    ap.add_argument("--only-models", default="", help="fixture names, comma-separated (default: all)")
    ap.add_argument("--no-compile", action="store_true", help="skip transformers' static cache + torch.compile")
    ap.add_argument("--no-checkpoint", action="store_true", help="use --ckpt as it is (do not make it)")
    ap.add_argument("--cpu-dry-run", action="store_true", help="no GPU: tiny shapes on the CPU (see the docstring)")
    ap.add_argument("--ingot-device", default="cuda", choices=["cuda", "cpu", "none"],
                    help="the ingot commands' --device (dry runs: cpu or none drive CPU plans through stage c)")
    args = ap.parse_args()
    args.bundle = os.path.abspath(args.bundle)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    LOG = open(os.path.join(args.out, "check_and_bench.log"), "w")

    def on_term(sig, frame):  # the run tool's timeout: still leave the table and the JSON
        log(f"signal {sig}: finishing early")
        finish(args)
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # The 1B checkpoint is written in the background while stages a and b use the GPU.
    args.ckpt_proc = None
    if "c" in args.stages and not args.no_checkpoint:
        cmd = [sys.executable, os.path.join(HERE, "make_checkpoint.py"), "--out", args.ckpt]
        man = os.path.join(args.bundle, "llama-1b.manifest.json")
        if args.cpu_dry_run:
            cmd += ["--tiny"]
        elif os.path.exists(man):
            cmd += ["--manifest", man, "--check", "--reuse"]
        log(f"checkpoint in the background: {' '.join(cmd)}")
        args.ckpt_proc = subprocess.Popen(cmd, stdout=open(os.path.join(args.out, "checkpoint.log"), "w"),
                                          stderr=subprocess.STDOUT)
    try:
        import torch
        RESULTS["meta"] = {"torch": torch.__version__, "python": sys.version.split()[0],
                           "cuda": getattr(torch.version, "cuda", None), "dry_run": args.cpu_dry_run}
        try:
            import transformers
            RESULTS["meta"]["transformers"] = transformers.__version__
        except ImportError:
            pass
        if not args.cpu_dry_run and not torch.cuda.is_available():
            raise RuntimeError("torch sees no GPU (use --cpu-dry-run on a machine without one)")
        if args.cpu_dry_run:
            log("CPU DRY RUN: tiny shapes; GPU-only parts (ingot --device cuda, kernel launches, timings "
                "against the ceilings, torch.compile) are skipped and say so")
        stage("a ceilings", args, stage_a)
        stage("b kernels", args, stage_b, min_left=60)
        stage("c1 fixtures", args, stage_c_fixtures, min_left=120)
        stage("c2 llama-1b", args, stage_c_llama, min_left=60)
    except Exception as e:
        RESULTS["errors"].append(f"{type(e).__name__}: {e}")
        log(traceback.format_exc())
    finally:
        if args.ckpt_proc and args.ckpt_proc.poll() is None:
            args.ckpt_proc.kill()
        finish(args)
    bad = [k for k in RESULTS["kernels"] if k.get("status") in ("FAIL", "not run")]
    bad += [m for m in RESULTS["models"] if m.get("status") == "FAIL"]
    return 1 if bad or RESULTS["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
