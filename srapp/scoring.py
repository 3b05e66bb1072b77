"""What test.py does: score a checkpoint (or bicubic) on the benchmarks with chosen metrics, or super-resolve images.

The backend that runs a checkpoint is imported by name when needed (srapp.loading).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

from srapp.loading import load_sr_model
from srcore.checkpoint import trained_backend
from srcore.errors import UserError
from srcore.evaluate import bicubic_sr_function, evaluate_benchmarks, make_sr_function
from srcore.fileio import check_writable
from srcore.metrics import metric_names
from srcore.results import merge_rows, print_table

DEFAULT_TILE = 128  # LR pixels per tile side for --input images: bounded memory for any image size
MIN_TILE = 8  # smaller tiles are almost all overlap (16 LR pixels each side): hundreds of times slower


def _tile(args: Any, default: int) -> int:
    tile = default if args.tile is None else args.tile
    if tile != 0 and tile < MIN_TILE:
        raise UserError(f"--tile must be 0 (untiled) or at least {MIN_TILE} LR pixels, got {args.tile}")
    return tile


def _display_path(p: str | Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def run_test(args: Any) -> list[dict[str, Any]]:
    if args.input:
        return super_resolve_files(args)
    tile = _tile(args, 0)
    metrics = metric_names(args.metrics)  # an unknown name: one error line before any model is loaded
    if not args.no_results:
        check_writable(args.results_dir, "--results-dir")
    if args.save_images:
        check_writable(args.save_images, "--save-images")
    command = "python test.py " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python test.py"
    date = time.strftime("%Y-%m-%d")
    if args.bicubic:
        scale = args.scale or 4
        sr_fn = bicubic_sr_function(scale)
        base = {"model": "bicubic", "backend": "-", "run_backend": "numpy", "iterations": "", "weights": ""}
    else:
        upscale, meta, run_backend = load_sr_model(args.weights, args.backend, args.device, args.scale)
        scale = meta["scale"]
        sr_fn = make_sr_function(upscale, scale, tile=tile)
        trained = trained_backend(meta)
        base = {"model": meta["model"], "backend": trained, "run_backend": run_backend,
                "iterations": meta.get("iteration", ""), "weights": _display_path(args.weights),
                "content_loss": (meta.get("config") or {}).get("content_loss", ""),
                "train_seconds": meta.get("train_seconds", ""), "device": meta.get("device", "")}
        converted = "" if meta["backend"] == run_backend else f", converted in memory from the {meta['backend']} format"
        print(f"{args.weights}: {meta['model']} x{scale} trained in {trained} "
              f"({meta.get('iteration')} iterations), running in {run_backend}{converted}")
    rows = evaluate_benchmarks(sr_fn, args.data, args.datasets, scale, save_dir=args.save_images, metrics=metrics)
    rows = [{**base, **r, "command": command, "date": date} for r in rows]
    print_table(rows)
    if not args.no_results:
        csv_path = merge_rows(args.results_dir, rows)
        print(f"rows merged into {csv_path}; table in {Path(args.results_dir) / 'README.md'}")
    return rows


def super_resolve_files(args: Any) -> list[dict[str, Any]]:
    from srcore.imageio import list_images, load_image, save_image

    if args.bicubic or not args.weights:
        raise UserError("--input needs --weights CKPT (the model that super-resolves the images)")
    if not args.output:
        raise UserError("--input needs --output (a .png file for one image, a folder for a folder)")
    tile = _tile(args, DEFAULT_TILE)
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise UserError(f"--input {src}: no such file or folder")
    check_writable(dst if src.is_dir() or dst.suffix == "" else dst.parent, "--output")
    upscale, meta, _ = load_sr_model(args.weights, args.backend, args.device, args.scale)
    scale = meta["scale"]
    sr_fn = make_sr_function(upscale, scale, tile=tile)
    if src.is_dir():
        jobs = [(p, dst / f"{p.stem}_x{scale}.png") for p in list_images(src)]
        if not jobs:
            raise UserError(f"--input {src}: no images (.png, .jpg, .bmp, .tif) in this folder")
    elif src.is_file():
        jobs = [(src, dst / f"{src.stem}_x{scale}.png" if dst.is_dir() else dst)]
    skipped = []
    for i, (inp, outp) in enumerate(jobs, 1):
        try:
            lr = load_image(inp)
        except UserError as e:  # one bad file in a folder: say so, finish the others
            if len(jobs) == 1:
                raise
            print(f"[{i}/{len(jobs)}] skipped: {e}", file=sys.stderr)
            skipped.append(inp.name)
            continue
        t0 = time.perf_counter()
        sr = sr_fn(lr)
        save_image(outp, sr)
        print(f"[{i}/{len(jobs)}] {inp} {lr.shape[1]}x{lr.shape[0]} -> {outp} {sr.shape[1]}x{sr.shape[0]} "
              f"({time.perf_counter() - t0:.1f} s)")
    if skipped:
        raise UserError(f"{len(jobs) - len(skipped)} of {len(jobs)} images super-resolved; could not read "
                        f"{', '.join(skipped)}")
    return []
