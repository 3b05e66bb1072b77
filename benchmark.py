"""Speed and memory of the paper's x4 architecture in each backend; writes results/speed.md.

    python benchmark.py                       # both backends, CPU or GPU as available
    python benchmark.py --backends torch --steps 5 --out results/speed.md

Reports training samples/s (SRResNet-MSE step, SRGAN step), inference output megapixels/s,
peak resident memory of each measurement's process, and the machine's fp32 matmul GFLOP/s as a
yardstick. Each measurement runs in its own subprocess so peak memory and thread pools are clean.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from srcore.fileio import atomic_write_text


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(backend: str, what: str, steps: int, warmup: int, size: int, device: str | None, xla: bool) -> dict:
    """Runs inside the child process: one measurement, returned as a dict."""
    import resource

    from srapp.backends import backend_module
    from srcore.config import preset_config

    rng = np.random.default_rng(0)
    if what in ("srresnet", "srgan"):
        cfg = preset_config("paper", what, backend=backend, device=device, vgg_weights="random",
                            out="/tmp/srgan-benchmark", xla=xla)
        trainer = backend_module(backend, "train").Trainer(cfg)
        b, p, s = cfg.batch_size, cfg.patch_size, cfg.scale
        lr = rng.random((b, p // s, p // s, 3), dtype=np.float32)
        hr = rng.random((b, p, p, 3), dtype=np.float32) * 2 - 1
        for i in range(warmup):
            trainer.train_batch(lr, hr, step=i)
        t0 = time.perf_counter()
        for i in range(warmup, warmup + steps):
            trainer.train_batch(lr, hr, step=i)
        dt = time.perf_counter() - t0
        value, unit = b * steps / dt, "samples/s"
    else:
        models = backend_module(backend, "models")
        gen = models.build_generator(scale=4)
        upscale = backend_module(backend, "inference").make_upscaler(gen, device=device)
        lr = rng.random((1, size, size, 3), dtype=np.float32)
        for _ in range(warmup):
            upscale(lr)
        t0 = time.perf_counter()
        for _ in range(steps):
            upscale(lr)
        dt = time.perf_counter() - t0
        value, unit = steps * (size * 4) ** 2 / 1e6 / dt, "output MP/s"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"backend": _label(backend, what, xla), "what": what, "value": value, "unit": unit, "peak_mb": peak_mb,
            "seconds_per_step": dt / steps}


def _label(backend: str, what: str, xla: bool) -> str:
    """Keras training is measured with and without XLA; the label says which."""
    return f"{backend} ({'XLA' if xla else 'no XLA'})" if backend == "keras" and what != "inference" else backend


def run_child(backend: str, what: str, args: argparse.Namespace, xla: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", backend, what, "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--size", str(args.size)] + (["--device", args.device] if args.device else [])
    cmd += [] if xla else ["--no-xla"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        last_line = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"backend": _label(backend, what, xla), "what": what, "error": last_line}
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_report(path: Path, rows: list[dict], gflops: float, args: argparse.Namespace) -> None:
    labels = {"srresnet": "train SRResNet-MSE step (batch 16, 96x96)", "srgan": "train SRGAN step (VGG54 + D)",
              "inference": f"inference {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}"}
    lines = ["# Speed", "",
             f"Machine: {platform.processor() or platform.machine()}, {_cpu_count()} CPU threads, "
             f"fp32 matmul {gflops:.0f} GFLOP/s (numpy 2048x2048). Device: {args.device or 'default'}.", "",
             f"Command: `python benchmark.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}); paper "
             "architecture (16 blocks, 64 channels, x4); each figure is the mean of "
             f"{args.steps} steps after {args.warmup} warm-up steps, in a fresh process (peak RSS of that process). "
             "The SRGAN step's VGG19 has random weights: the same cost as the ImageNet ones.",
             "", "| measurement | backend | speed | s/step | peak memory |", "|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {labels[r['what']]} | {r['backend']} | failed: {r['error']} | | |")
        else:
            lines.append(f"| {labels[r['what']]} | {r['backend']} | {r['value']:.2f} {r['unit']} | "
                         f"{r['seconds_per_step']:.3f} | {r['peak_mb']:.0f} MB |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", nargs="+", default=["torch", "keras"], choices=("torch", "keras"))
    p.add_argument("--what", nargs="+", default=["srresnet", "srgan", "inference"],
                   choices=("srresnet", "srgan", "inference"))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", type=int, default=128, help="LR side of the inference input")
    p.add_argument("--device")
    p.add_argument("--keras-xla", choices=("both", "on", "off"), default="both",
                   help="Keras training step with XLA, without, or both (default both)")
    p.add_argument("--no-xla", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="results/speed.md")
    p.add_argument("--child", nargs=2, metavar=("BACKEND", "WHAT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.warmup, args.size, args.device, not args.no_xla)))
        return 0
    from srcore.errors import run_cli
    from srcore.fileio import check_writable

    status = run_cli(lambda: check_writable(Path(args.out).parent, "--out"))  # before minutes of measuring
    if status:
        return status
    gflops = matmul_gflops()
    print(f"fp32 matmul: {gflops:.0f} GFLOP/s")
    rows = []
    for what in args.what:
        for backend in args.backends:
            xlas = [True] if backend != "keras" or what == "inference" else \
                {"both": [True, False], "on": [True], "off": [False]}[args.keras_xla]
            for xla in xlas:
                r = run_child(backend, what, args, xla)
                print(r, flush=True)
                rows.append(r)
    write_report(Path(args.out), rows, gflops, args)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
