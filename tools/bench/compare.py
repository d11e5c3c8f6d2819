#!/usr/bin/env python3
"""xent against PyTorch eager and torch.compile, side by side in one process on the same tensors.

Measures as DESIGN.md ("Performance: how it is measured") and `xent bench` do: the copy bandwidth of a 1 GiB
device-to-device copy first (read + write counted), then per vocabulary size V one bf16 forward+backward step at
N rows, as the mean of --iterations back-to-back steps after 3 warm-up ones, timed with CUDA events on the current
stream. Every variant's fraction is its useful bandwidth on the fused step's bytes, 4·N·V (the logits read once and
the gradient written once), over the copy bandwidth, so the columns compare times; xent forward-then-backward is also
reported on its own 6·N·V bytes (two reads and one write), as `xent bench --mode fwd-bwd` does.

Each variant's loss and gradient are checked once per shape against an fp32 reference computed with PyTorch.
Needs PyTorch with CUDA and libxent.so; matplotlib is optional (the plot falls back to tools/bench/png_plot.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from pathlib import Path
from typing import Callable

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.append(str(REPOSITORY / "runtime" / "python"))  # after $PYTHONPATH, which wins

from xent import _capi as capi  # noqa: E402
import png_plot  # noqa: E402

VOCABS = [16032, 18992, 32000, 37984, 50257, 128256, 151936, 256000]
WARMUPS = 3
COPY_BYTES = 1 << 30
VARIANTS = {"eager": "torch eager", "compile": "torch.compile", "xent_fused": "xent fused",
            "xent_fwd_bwd": "xent fwd+bwd", "xent_torch": "xent.torch"}
HOST_SHAPE = (8, 16032)  # rows, V: small enough that every variant's time per step is its host time
HOST_CALLS = 300


class Failure(Exception):
    """A one-line reason to stop, printed without a traceback."""


def vocab_list(text: str) -> list[int]:
    """--vocabs: "16032,50257" -> [16032, 50257]."""
    return [int(v) for v in text.split(",")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time bf16 softmax cross-entropy forward+backward on the GPU: PyTorch eager, torch.compile, "
        "xent fused and xent forward-then-backward, in one process on the same tensors, each as a fraction of the "
        "device's copy bandwidth on the fused step's 4*N*V useful bytes.")
    parser.add_argument("--tokens", type=int, default=16384, help="N, the rows (tokens) per step (default 16384)")
    parser.add_argument("--vocabs", type=vocab_list, default=VOCABS,
                        help=f"comma-separated vocabulary sizes V to time (default {','.join(map(str, VOCABS))})")
    parser.add_argument("--iterations", type=int, default=20,
                        help=f"timed back-to-back steps per variant and shape, after {WARMUPS} warm-up ones "
                        "(default 20)")
    parser.add_argument("--library", help="path of libxent.so (default: $XENT_LIBRARY, then the repository's "
                        "build/runtime/libxent.so and gpu-carry/libxent.so, then the system loader)")
    parser.add_argument("--json", help="also write the device, versions, copy bandwidth and every number here")
    parser.add_argument("--png", help="also draw %% of copy bandwidth against V (log scale) per variant here")
    args = parser.parse_args(argv)
    if args.tokens < 1 or args.iterations < 1 or any(v < 1 for v in args.vocabs):
        parser.error("--tokens, --iterations and every --vocabs value must be positive")
    return args


def time_ms(torch, step: Callable[[], object], iterations: int) -> float:
    """Mean milliseconds of `iterations` back-to-back steps after the warm-ups, by CUDA events on the current
    stream: the host only enqueues, so launch overhead hides behind the GPU as it does in training."""
    for _ in range(WARMUPS):
        step()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iterations):
        step()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iterations


def copy_bandwidth(torch) -> float:
    """Bytes read plus bytes written per second by a 1 GiB device-to-device copy: the ceiling for memory-bound work,
    measured in the same run so that fractions do not depend on the card's nominal figure."""
    src = torch.empty(COPY_BYTES, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(torch, lambda: dst.copy_(src), 10)
    return 2 * COPY_BYTES / (ms * 1e-3)


def reference_loss(torch, logits, labels) -> float:
    """The mean loss in fp32, computed in row chunks so that the fp32 copy of the logits never has to fit whole."""
    n, v = logits.shape
    chunk = max(1, (1 << 26) // v)
    total = 0.0
    for start in range(0, n, chunk):
        x = logits[start:start + chunk].detach().float()
        total += torch.nn.functional.cross_entropy(x, labels[start:start + chunk], reduction="sum").item()
    return total / n


def gradient_error(torch, grad, logits, labels) -> float:
    """Max |grad - (softmax(logits) - onehot(labels)) / N| with the reference in fp32, chunked as reference_loss."""
    n, v = logits.shape
    chunk = max(1, (1 << 26) // v)
    worst = 0.0
    for start in range(0, n, chunk):
        ref = torch.softmax(logits[start:start + chunk].detach().float(), dim=1)
        ref[torch.arange(ref.shape[0], device=ref.device), labels[start:start + chunk]] -= 1.0
        ref /= n
        worst = max(worst, (grad[start:start + chunk].float() - ref).abs().max().item())
    return worst


def torch_step(torch, loss_fn, logits, labels) -> Callable[[], tuple]:
    """Loss and gradient as training code gets them: the loss on the bf16 logits, then autograd (autograd.grad
    returns a fresh gradient each step, as backward() after zero_grad(set_to_none=True) does)."""
    def step():
        loss = loss_fn(logits, labels)
        return loss, torch.autograd.grad(loss, logits)[0]
    return step


def make_eager(torch, logits, labels):
    return torch_step(torch, torch.nn.functional.cross_entropy, logits, labels)


def make_compile(torch, logits, labels):
    """A fresh static-shape compilation per shape: dynamo's caches are reset so that earlier shapes neither count
    against its recompile limit nor turn V into a dynamic dimension (which would time a different kernel)."""
    torch._dynamo.reset()

    def loss_fn(x, y):
        return torch.nn.functional.cross_entropy(x, y)

    return torch_step(torch, torch.compile(loss_fn, dynamic=False), logits, labels)


def make_xent(torch, logits, labels, fused: bool):
    """xent through the C API: one op, a gradient buffer, the workspace and the upstream 1.0 preallocated from
    torch, so that a step is only the enqueue of xent's kernels on torch's current stream."""
    n, v = logits.shape
    options = capi.Options(dtype=capi.DType.BF16, label_dtype=capi.DType.I64, vocab=v, vocab_offset=0,
                           vocab_shard=-1, rank=0, world=1, reduction=capi.Reduction.MEAN)
    op = capi.Op(options)
    grad = torch.empty_like(logits, requires_grad=False)
    workspace = torch.empty(capi.workspace_bytes(n, 1), dtype=torch.uint8, device=logits.device)
    upstream = torch.ones((), dtype=torch.float32, device=logits.device)
    args = capi.Args(
        d0=1, d1=n,
        logits=capi.Rows(logits.data_ptr(), n * v, v, capi.DType.BF16),
        labels=capi.Rows(labels.data_ptr(), n, 1, capi.DType.I64),
        mask=capi.Rows(0, 0, 0, capi.DType.I32),
        weights=0,
        grad=capi.Rows(grad.data_ptr(), n * v, v, capi.DType.BF16),
        grad_output=capi.Rows(upstream.data_ptr(), 0, 0, capi.DType.F32),
        grad_scale=1.0, ignore_index=-100, num_label_tokens=-1.0,
        workspace=workspace.data_ptr(), workspace_bytes=workspace.numel())
    offset = op.outputs(args).loss - workspace.data_ptr()
    loss = workspace[offset:offset + 4].view(torch.float32)[0]
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    lib = capi.load_library()
    calls = [lib.xent_fused] if fused else [lib.xent_forward, lib.xent_backward]
    pointer = ctypes.byref(args)

    def step():
        for call in calls:
            capi.check(call(op, pointer, stream))
        return loss, grad
    step.keep_alive = (args, upstream, workspace)  # args holds raw addresses of these tensors: keep them alive
    return step


def make_xent_torch(torch, logits, labels):
    """xent's PyTorch face (runtime/python/xent/torch.py) through autograd, as training code calls it: the C API's
    kernels plus the Python layer's per-call work (argument checks, op cache lookup, workspace from the allocator)."""
    from xent import torch as xent_torch
    return torch_step(torch, xent_torch.cross_entropy, logits, labels)


MAKERS = {"eager": make_eager, "compile": make_compile,
          "xent_fused": lambda t, x, y: make_xent(t, x, y, fused=True),
          "xent_fwd_bwd": lambda t, x, y: make_xent(t, x, y, fused=False),
          "xent_torch": make_xent_torch}


def host_overhead(torch) -> dict:
    """Microseconds per step on a tiny problem, where the GPU finishes each step before the host has issued the next:
    the time is what the host spends per call (Python, autograd, argument checks, launches)."""
    import time
    rows, vocab = HOST_SHAPE
    logits = torch.randn(rows, vocab, dtype=torch.bfloat16, device="cuda").requires_grad_()
    labels = torch.randint(0, vocab, (rows,), dtype=torch.int64, device="cuda")
    result = {}
    for key, make in MAKERS.items():
        if key == "compile":
            continue  # its host path is the eager one's plus guards; compilation would dominate a short run
        step = make(torch, logits, labels)
        for _ in range(WARMUPS):
            step()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(HOST_CALLS):
            step()
        torch.cuda.synchronize()
        result[key] = (time.perf_counter() - start) / HOST_CALLS * 1e6
    return result


def run_variant(torch, make, logits, labels, ref_loss: float, iterations: int) -> dict:
    """Times one variant and checks its first step; a variant that fails (out of memory above all) is recorded as
    skipped with its reason, so the other variants and shapes still run."""
    try:
        step = make(torch, logits, labels)
        loss, grad = step()
        loss_value = float(loss.float().item())
        result = {"loss": loss_value, "loss_rel_diff": abs(loss_value - ref_loss) / abs(ref_loss),
                  "grad_max_abs_diff": gradient_error(torch, grad, logits, labels)}
        del loss, grad
        result["ms"] = time_ms(torch, step, iterations)
        return result
    except torch.cuda.OutOfMemoryError:
        return {"skipped": "out of memory"}
    except Exception as e:  # noqa: BLE001 - reported in the table and the JSON, and the exit status
        first_line = (str(e).strip().splitlines() or [""])[0]
        return {"skipped": f"{type(e).__name__}: {first_line}", "error": True}


def bench_shape(torch, tokens: int, vocab: int, copy_bw: float, iterations: int) -> dict:
    """Every variant on one [tokens, vocab] bf16 problem with random logits (normal, sd 3, as `xent bench`) and
    uniform labels; memory is returned to the device afterwards so the next, larger shape has all of it."""
    fused_bytes, own_bytes = 4 * tokens * vocab, 6 * tokens * vocab
    row = {"vocab": vocab, "floor_ms": fused_bytes / copy_bw * 1e3, "variants": {}}
    try:
        logits = (torch.randn(tokens, vocab, dtype=torch.bfloat16, device="cuda").mul_(3)).requires_grad_()
        labels = torch.randint(0, vocab, (tokens,), dtype=torch.int64, device="cuda")
        row["reference_loss"] = ref_loss = reference_loss(torch, logits, labels)
    except torch.cuda.OutOfMemoryError:
        row["variants"] = {key: {"skipped": "out of memory (inputs)"} for key in VARIANTS}
        torch.cuda.empty_cache()
        return row
    for key, make in MAKERS.items():
        result = run_variant(torch, make, logits, labels, ref_loss, iterations)
        if "ms" in result:
            result["fraction_of_copy"] = fused_bytes / (result["ms"] * 1e-3) / copy_bw
            if key == "xent_fwd_bwd":
                result["fraction_of_copy_own_bytes"] = own_bytes / (result["ms"] * 1e-3) / copy_bw
        else:
            print(f"  V={vocab} {VARIANTS[key]}: skipped ({result['skipped']})", flush=True)
        row["variants"][key] = result
        torch.cuda.empty_cache()
    del logits, labels
    torch.cuda.empty_cache()
    return row


def timing_cell(result: dict) -> str:
    if "ms" not in result:
        return "OOM" if result["skipped"].startswith("out of memory") else "failed"
    return f"{result['ms']:.3f} ({100 * result['fraction_of_copy']:.0f}%)"


def print_timing_header() -> None:
    names = [f"{name + ' ms':>15}" + (f" {'(own 6NV)':>9}" if key == "xent_fwd_bwd" else "")
             for key, name in VARIANTS.items()]
    print(f"{'V':>7} | " + " | ".join(names) + f" | {'floor ms':>8}")


def print_timing_row(row: dict) -> None:
    cells = []
    for key in VARIANTS:
        cell = f"{timing_cell(row['variants'][key]):>15}"
        if key == "xent_fwd_bwd":
            own = row["variants"][key].get("fraction_of_copy_own_bytes")
            cell += f" {f'({100 * own:.0f}%)' if own is not None else '':>9}"
        cells.append(cell)
    print(f"{row['vocab']:>7} | " + " | ".join(cells) + f" | {row['floor_ms']:>8.3f}", flush=True)


def print_correctness(rows: list[dict]) -> None:
    """Loss relative difference and max |gradient difference| of each variant against the fp32 reference."""
    print("\ncorrectness against an fp32 PyTorch reference: loss relative difference / max |gradient difference|")
    print(f"{'V':>7} | " + " | ".join(f"{name:>19}" for name in VARIANTS.values()))
    for row in rows:
        cells = []
        for key in VARIANTS:
            r = row["variants"][key]
            cells.append(f"{r['loss_rel_diff']:.1e} / {r['grad_max_abs_diff']:.1e}" if "ms" in r else "-")
        print(f"{row['vocab']:>7} | " + " | ".join(f"{cell:>19}" for cell in cells))


def draw(path: str, rows: list[dict]) -> None:
    """% of copy bandwidth (on 4·N·V bytes) against V on a log scale, one line per variant; with matplotlib when it
    is installed, else with the standard-library rasterizer."""
    xs = [row["vocab"] for row in rows]
    series = {name: [100 * row["variants"][key]["fraction_of_copy"] if "ms" in row["variants"][key] else None
                     for row in rows] for key, name in VARIANTS.items()}
    x_label, y_label = "V (log scale)", "% of copy bandwidth on 4 N V bytes"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        png_plot.plot(path, xs, series, x_label, y_label)
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for (name, values), colour in zip(series.items(), png_plot.COLOURS):
        points = [(x, v) for x, v in zip(xs, values) if v is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name,
                color=[c / 255 for c in colour])
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(True, alpha=0.4)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        raise Failure(f"PyTorch is not installed ({e})") from None
    if not torch.cuda.is_available():
        raise Failure("no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False)")
    try:
        capi.load_library(args.library)
    except capi.LibraryNotFoundError as e:
        raise Failure(str(e)) from None
    torch.manual_seed(0)
    copy_bw = copy_bandwidth(torch)
    device = torch.cuda.get_device_name()
    print(f"device: {device}, torch {torch.__version__} (CUDA {torch.version.cuda}), xent {capi.version()}")
    print(f"copy bandwidth {copy_bw / 1e9:.0f} GB/s (1 GiB device-to-device copy, read + write)")
    print(f"bf16 forward+backward, N = {args.tokens}, mean of {args.iterations} steps after {WARMUPS} warm-ups; "
          "% = 4*N*V bytes over the time, of copy bandwidth; (own 6NV) = xent fwd+bwd on its own 6*N*V bytes")
    print_timing_header()
    rows = []
    for vocab in args.vocabs:
        rows.append(bench_shape(torch, args.tokens, vocab, copy_bw, args.iterations))
        print_timing_row(rows[-1])
    print_correctness(rows)
    host = host_overhead(torch)
    print(f"\nhost time per step, N = {HOST_SHAPE[0]}, V = {HOST_SHAPE[1]} (mean of {HOST_CALLS} steps; the GPU is "
          "idle most of it): " + ", ".join(f"{VARIANTS[key]} {us:.1f} us" for key, us in host.items()))
    if args.json:
        doc = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
               "xent": capi.version(), "copy_gb_per_s": copy_bw / 1e9, "dtype": "bf16", "tokens": args.tokens,
               "iterations": args.iterations, "warmups": WARMUPS,
               "host_us_per_step": host, "host_shape": list(HOST_SHAPE),
               "useful_bytes": "fraction_of_copy on 4*N*V; xent_fwd_bwd.fraction_of_copy_own_bytes on 6*N*V",
               "results": rows}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    if args.png:
        draw(args.png, rows)
    failed = [f"V={row['vocab']} {key}" for row in rows for key, r in row["variants"].items() if r.get("error")]
    if failed:
        print(f"compare.py: {len(failed)} variant(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print(f"compare.py: {e}", file=sys.stderr)
        sys.exit(2)
