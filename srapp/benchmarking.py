"""What benchmark.py does: speed and memory of each backend's training step and inference, into speed.md.

Each measurement runs in its own process (benchmark.py --child BACKEND WHAT) so peak memory and thread pools
are clean.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from srapp import children
from srapp.databench import kept_section
from srcore.checkpoint import cpu_description
from srcore.fileio import atomic_write_text, check_writable
from srcore.precision import cpu_bf16_flags


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(backend: str, what: str, steps: int, warmup: int, size: int, device: str | None, xla: bool,
            workers: int = 1, precision: str = "fp32") -> dict:
    """Runs inside the child process (each worker's, under torchrun): one measurement, returned as a dict.

    `workers` > 1: torch runs under torchrun (this is one of the processes; the batch is the global one, each
    worker steps on its slice); keras runs MirroredStrategy over that many replicas (the CPU split into logical
    devices, or the local GPUs)."""
    import resource

    from srapp.backends import backend_module
    from srcore.config import preset_config
    from srcore.malloc import keep_freed_memory

    keep_freed_memory()  # as trains.py does

    rng = np.random.default_rng(0)
    if what in ("srresnet", "srgan"):
        several = {"distribute": "mirrored", "cpu_devices": workers} if backend == "keras" and workers > 1 else {}
        cfg = preset_config("paper", what, backend=backend, device=device, vgg_weights="random",
                            out="/tmp/srgan-benchmark", xla=xla, precision=precision, **several)
        trainer = backend_module(backend, "train").Trainer(cfg)
        b, p, s = cfg.batch_size, cfg.patch_size, cfg.scale
        lr = rng.random((b, p // s, p // s, 3), dtype=np.float32)
        hr = rng.random((b, p, p, 3), dtype=np.float32) * 2 - 1
        part, parts = trainer.shard  # this worker's slice (torchrun); the whole batch otherwise
        lr, hr = lr[part * b // parts:(part + 1) * b // parts], hr[part * b // parts:(part + 1) * b // parts]
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
        upscale = backend_module(backend, "inference").make_upscaler(gen, device=device, precision=precision)
        lr = rng.random((1, size, size, 3), dtype=np.float32)
        for _ in range(warmup):
            upscale(lr)
        t0 = time.perf_counter()
        for _ in range(steps):
            upscale(lr)
        dt = time.perf_counter() - t0
        value, unit = steps * (size * 4) ** 2 / 1e6 / dt, "output MP/s"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if what != "inference" and backend == "keras":  # MirroredStrategy takes every local GPU: say how many it took
        workers = trainer.workers.replicas
    return {"backend": _label(backend, what, xla, workers), "what": what, "value": value, "unit": unit,
            "peak_mb": peak_mb, "seconds_per_step": dt / steps, "precision": precision}


def _label(backend: str, what: str, xla: bool, workers: int = 1) -> str:
    """Keras training is measured with and without XLA, and each backend's with 1 or more workers."""
    if what == "inference":
        return backend
    label = f"{backend} ({'XLA' if xla else 'no XLA'})" if backend == "keras" else backend
    if workers > 1:
        label += f", {workers} workers (torchrun)" if backend == "torch" else f", {workers} replicas (mirrored)"
    return label


def _ratio(row: dict, rows: list[dict]) -> str:
    """A row's speed over the fp32 row of the same measurement and backend ("" for fp32 rows or without one)."""
    if row.get("precision", "fp32") == "fp32" or "error" in row:
        return ""
    base = [r for r in rows if r["what"] == row["what"] and r["backend"] == row["backend"]
            and r.get("precision", "fp32") == "fp32" and "error" not in r]
    return f"{row['value'] / base[0]['value']:.2f}x" if base else ""


def run_child(backend: str, what: str, args: argparse.Namespace, xla: bool, workers: int = 1,
              precision: str = "fp32") -> dict:
    options = ["--child", backend, what, "--steps", str(args.steps), "--warmup", str(args.warmup), "--size",
               str(args.size), "--child-workers", str(workers), "--precision", precision]
    options += (["--device", args.device] if args.device else []) + ([] if xla else ["--no-xla"])
    # torch on several workers: one process each under torchrun; rank 0 prints the measurement
    cmd = children.command("benchmark", *options, workers=workers if backend == "torch" else 1)
    out = subprocess.run(cmd, capture_output=True, text=True, env=children.environment())
    if out.returncode != 0:
        last_line = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"backend": _label(backend, what, xla, workers), "what": what, "error": last_line,
                "precision": precision}
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_report(path: Path, rows: list[dict], gflops: float, args: argparse.Namespace) -> None:
    labels = {"srresnet": "train SRResNet-MSE step (batch 16, 96x96)", "srgan": "train SRGAN step (VGG54 + D)",
              "inference": f"inference {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}"}
    lines = ["# Speed", "",
             f"Machine: {cpu_description()}, "
             f"fp32 matmul {gflops:.0f} GFLOP/s (numpy 2048x2048). Device: {args.device or 'default'}. "
             f"bfloat16 hardware (/proc/cpuinfo): {', '.join(cpu_bf16_flags()) or 'none'}.", "",
             f"Command: `python benchmark.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}); paper "
             "architecture (16 blocks, 64 channels, x4); each figure is the mean of "
             f"{args.steps} steps after {args.warmup} warm-up steps, in a fresh process (peak RSS of that process). "
             "The SRGAN step's VGG19 has random weights: the same cost as the ImageNet ones. "
             "With several workers the batch is still 16 in all (each worker or replica steps on its slice) and "
             "samples/s counts the whole batch; torchrun's peak memory is the first worker's (each holds a copy).",
             " precision: --precision of the step (bf16: torch autocast, Keras mixed_bfloat16; srcore.precision);"
             " vs fp32: speed over the fp32 row of the same measurement, from the same run.",
             "", "| measurement | backend | precision | speed | vs fp32 | s/step | peak memory |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r.get("precision", "fp32")
        if "error" in r:
            lines.append(f"| {labels[r['what']]} | {r['backend']} | {p} | failed: {r['error']} | | | |")
        else:
            lines.append(f"| {labels[r['what']]} | {r['backend']} | {p} | {r['value']:.2f} {r['unit']} | "
                         f"{_ratio(r, rows)} | {r['seconds_per_step']:.3f} | {r['peak_mb']:.0f} MB |")
    lines += kept_section(path)  # the data rows (srapp.databench), measured by their own runs
    atomic_write_text(path, "\n".join(lines) + "\n")


def run_benchmark(args: Any) -> None:
    """A child's one measurement (printed as JSON), or every measurement into the report `args.out`."""
    if args.child:
        row = measure(*args.child, args.steps, args.warmup, args.size, args.device, not args.no_xla,
                      args.child_workers, args.precision)
        if os.environ.get("RANK", "0") == "0":  # under torchrun: one line, from the first worker
            print(json.dumps(row))
        return
    check_writable(Path(args.out).parent, "--out")  # before minutes of measuring
    gflops = matmul_gflops()
    print(f"fp32 matmul: {gflops:.0f} GFLOP/s")
    rows = []
    for what in args.what:
        for backend in args.backends:
            xlas = [True] if backend != "keras" or what == "inference" else \
                {"both": [True, False], "on": [True], "off": [False]}[args.keras_xla]
            for workers in args.workers if what != "inference" else [1]:
                # XLA cannot compile a step over several replicas (keras_srgan.distributed.distributed_step)
                for xla in (xlas if workers == 1 or backend != "keras" else [False]):
                    for precision in args.precisions:  # adjacent rows: the ratio compares like with like
                        r = run_child(backend, what, args, xla, workers, precision)
                        print(r, flush=True)
                        rows.append(r)
    write_report(Path(args.out), rows, gflops, args)
    print(f"wrote {args.out}")

