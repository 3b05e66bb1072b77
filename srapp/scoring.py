"""What test.py does: score a checkpoint (or bicubic) on the benchmarks with chosen metrics, or super-resolve images.

The backend that runs a checkpoint is imported by name when needed (srapp.loading).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from srapp.loading import load_sr_model
from srcore import lpips
from srcore.checkpoint import trained_backend
from srcore.data import is_photo_folder
from srcore.errors import UserError
from srcore.evaluate import bicubic_sr_function, evaluate_benchmarks, make_sr_function
from srcore.fileio import check_writable
from srcore.imageio import IMAGE_EXTENSIONS
from srcore.metrics import METRICS, SCORE_METRICS, metric_names
from srcore.precision import INPUT_PRECISION
from srcore.results import merge_rows, print_table

DEFAULT_TILE = 128  # LR pixels per tile side for --input images: bounded memory for any image size
BICUBIC_ROW = {"model": "bicubic", "backend": "-", "run_backend": "numpy", "iterations": "", "weights": ""}
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


def row_precision(meta: dict[str, Any], scored_in: str) -> str:
    """A results row's precision column: the training precision (runs before --precision: fp32, or --amp), and
    the scoring one when it is not fp32."""
    config = meta.get("config") or {}
    trained = config.get("precision", "amp" if config.get("amp") else "fp32")
    return trained if scored_in == "fp32" else f"{trained}; scored in {scored_in}"


def default_metrics(lpips_weights: str | None = None) -> tuple[str, ...]:
    """What test.py scores without --metrics: srcore.metrics.SCORE_METRICS, and LPIPS where its weights are here
    (`--lpips-weights`, or torch.hub's cache: no download unless LPIPS is asked for)."""
    return (*SCORE_METRICS, "lpips") if lpips.find_weights(lpips_weights) is not None else SCORE_METRICS


def with_lpips_weights(metrics: tuple[str, ...], path: str | None, asked: bool) -> tuple[str, ...]:
    """`metrics`, ready to score: LPIPS' weights loaded if it is among them (downloaded if it was asked for and they
    are missing); without them one line on stderr names both ways and LPIPS is left out (never a silent zero)."""
    if "lpips" not in metrics:
        if not asked:  # the default set, without LPIPS because its weights are not here: say so, once
            print(f"LPIPS not scored: torchvision's AlexNet weights are not at {lpips.alexnet_cache_path()}; "
                  f"{lpips.how_to_supply()}", file=sys.stderr)
        return metrics
    found = lpips.ensure_weights(path, download=asked)  # None: it has printed why
    if found is None:
        return tuple(m for m in metrics if m != "lpips")
    lpips.use_weights(lpips.load_weights(str(found)))
    return metrics


def input_metrics(names: list[str] | None) -> tuple[str, ...]:
    """The metrics --input prints per output image: only those asked for, and only no-reference ones (there is no
    HR image to compare with); each scores the whole output (no border removed)."""
    chosen = metric_names(names or ())
    need_hr = [m for m in chosen if METRICS[m].reference]
    if need_hr:
        no_ref = [m for m in METRICS if not METRICS[m].reference]
        raise UserError(f"--metrics {' '.join(need_hr)}: needs the HR image, which --input images do not have; "
                        f"with --input only no-reference metrics ({', '.join(no_ref)}) can be printed")
    return chosen


def run_test(args: Any) -> list[dict[str, Any]]:
    if args.input:
        return super_resolve_files(args)
    tile = _tile(args, 0)
    # an unknown name: one error line before any model is loaded
    lpips_path = getattr(args, "lpips_weights", None)
    metrics = metric_names(args.metrics or default_metrics(lpips_path))
    metrics = with_lpips_weights(metrics, lpips_path, asked=bool(args.metrics))
    if not args.no_results:
        check_writable(args.results_dir, "--results-dir")
    if args.save_images:
        check_writable(args.save_images, "--save-images")
    command = "python test.py " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python test.py"
    date = time.strftime("%Y-%m-%d")
    if args.bicubic:
        scale = args.scale or 4
        sr_fn = bicubic_sr_function(scale)
        base, upscale = dict(BICUBIC_ROW), None
    else:
        scored_in = getattr(args, "precision", None) or "fp32"  # published rows stay exact: fp32 unless asked
        upscale, meta, run_backend = load_sr_model(args.weights, args.backend, args.device, args.scale, scored_in)
        scale = meta["scale"]
        sr_fn = make_sr_function(upscale, scale, tile=tile)
        trained = trained_backend(meta)
        base = {"model": meta["model"], "backend": trained, "run_backend": run_backend,
                "iterations": meta.get("iteration", ""), "weights": _display_path(args.weights),
                "content_loss": (meta.get("config") or {}).get("content_loss", ""),
                "train_seconds": meta.get("train_seconds", ""), "device": meta.get("device", ""),
                "precision": row_precision(meta, scored_in)}
        converted = "" if meta["backend"] == run_backend else f", converted in memory from the {meta['backend']} format"
        print(f"{args.weights}: {meta['model']} x{scale} trained in {trained} "
              f"({meta.get('iteration')} iterations), running in {run_backend}{converted}")
    photos = [d for d in args.datasets or [] if is_photo_folder(args.data, d, scale)]
    names = [d for d in args.datasets or [] if d not in photos]
    rows: list[dict[str, Any]] = []
    if names or not args.datasets:  # no --datasets: every prepared benchmark
        rows = evaluate_benchmarks(sr_fn, args.data, names or None, scale, save_dir=args.save_images, metrics=metrics)
    rows = [{**base, **r, "command": command, "date": date} for r in rows]
    shown = rows + _photo_rows(args, photos, scale, upscale, sr_fn, metrics, base)
    print_table(shown)
    if not args.no_results and rows:  # results/ holds the benchmarks' rows only
        csv_path = merge_rows(args.results_dir, rows)
        print(f"rows merged into {csv_path}; table in {Path(args.results_dir) / 'README.md'}")
    return shown


def _photo_rows(args: Any, photos: list[str], scale: int, upscale: Any, sr_fn: Any, metrics: tuple[str, ...],
                base: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of folders of one's own HR photos (--datasets DIR): tiled like --input, so any size fits, with bicubic
    scored beside the model; printed, never merged into results/."""
    if not photos:
        return []
    photo_fn = sr_fn if args.bicubic else make_sr_function(upscale, scale, tile=_tile(args, DEFAULT_TILE))
    rows = [{**base, **r} for r in
            evaluate_benchmarks(photo_fn, args.data, photos, scale, save_dir=args.save_images, metrics=metrics)]
    if not args.bicubic:
        rows += [{**BICUBIC_ROW, **r} for r in
                 evaluate_benchmarks(bicubic_sr_function(scale), args.data, photos, scale, metrics=metrics)]
    return rows


DEFAULT_MAX_MEGAPIXELS = 256  # output pixels per --input image (768 MB as uint8 RGB); --max-megapixels raises it


def plan_outputs(src: Path, dst: Path, scale: int, to_folder: bool, force: bool) -> list[tuple[Path, Path]]:
    """(input, output) of every image of --input: a file, or a folder's images into the --output folder as
    NAME_x<scale>.png (NAME_<ext>_x<scale>.png where two inputs share a name). One-line UserError for an output
    that exists (unless `force`) and for one that is an input, which is never replaced, not even with --force."""
    from srcore.imageio import list_images, save_format

    if src.is_dir():
        inputs = list_images(src)
        if not inputs:
            raise UserError(f"--input {src}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    else:
        inputs = [src]
    stems = [p.stem for p in inputs]
    names = [f"{p.stem}{'_' + p.suffix[1:].lower() if stems.count(p.stem) > 1 else ''}_x{scale}.png" for p in inputs]
    jobs = [(p, dst / n if to_folder else dst) for p, n in zip(inputs, names)]
    if not to_folder:
        save_format(dst)  # an extension it can write, before any work
    own = {p.resolve() for p in inputs}
    for _, outp in jobs:
        if outp.resolve() in own:
            raise UserError(f"--output {outp} is an input image; it is never replaced: choose another name")
    existing = [str(o) for _, o in jobs if o.exists()]
    if existing and not force:
        raise UserError(f"--output: {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''} exist(s); pass "
                        "--force to replace, or choose another --output")
    return jobs


def check_output(inp: Path, outp: Path, shape: tuple[int, ...], scale: int, max_pixels: int, alpha: bool) -> None:
    """UserError (naming the input) if its output would exceed `max_pixels`, or has transparency that the
    output's format cannot hold: checked before any memory is spent on it."""
    from srcore.imageio import save_format

    h, w = shape[:2]
    pixels = h * w * scale * scale
    if pixels > max_pixels:
        raise UserError(f"{inp}: {w}x{h} would become {w * scale}x{h * scale} ({pixels / 1e6:.0f} megapixels, about "
                        f"{pixels * 3 / 2**30:.1f} GB), over the limit of {max_pixels / 1e6:.0f}; --max-megapixels "
                        f"{-(-pixels // 1_000_000)} raises it")
    save_format(outp, alpha=alpha)


def with_alpha(sr: np.ndarray, alpha: np.ndarray, scale: int) -> np.ndarray:
    """The SR image with the input's alpha channel upscaled beside it (MATLAB-compatible bicubic, clipped)."""
    from srcore.imresize import imresize

    rgb = sr if sr.ndim == 3 else np.repeat(sr[:, :, None], 3, axis=2)
    up = np.clip(np.rint(imresize(alpha, scale)), 0, 255).astype(np.uint8)
    return np.dstack([rgb, up[: rgb.shape[0], : rgb.shape[1]]])


def super_resolve_files(args: Any) -> list[dict[str, Any]]:
    from srcore.imageio import load_image, read_alpha, save_image

    if args.bicubic or not args.weights:
        raise UserError("--input needs --weights CKPT (the model that super-resolves the images)")
    if not args.output:
        raise UserError("--input needs --output (a .png file for one image, a folder for a folder)")
    tile = _tile(args, DEFAULT_TILE)
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise UserError(f"--input {src}: no such file or folder")
    to_folder = src.is_dir() or dst.is_dir() or str(args.output).endswith(("/", "\\"))
    check_writable(dst if to_folder else dst.parent, "--output")
    metrics = input_metrics(args.metrics)
    precision = getattr(args, "precision", None) or INPUT_PRECISION
    upscale, meta, _ = load_sr_model(args.weights, args.backend, args.device, args.scale, precision)
    scale = meta["scale"]
    sr_fn = make_sr_function(upscale, scale, tile=tile)
    jobs = plan_outputs(src, dst, scale, to_folder, force=bool(getattr(args, "force", False)))
    megapixels = DEFAULT_MAX_MEGAPIXELS if getattr(args, "max_megapixels", None) is None else args.max_megapixels
    if megapixels < 1:
        raise UserError(f"--max-megapixels must be >= 1, got {megapixels}")
    max_pixels = megapixels * 1_000_000
    skipped = []
    for i, (inp, outp) in enumerate(jobs, 1):
        try:
            lr = load_image(inp)
            alpha = read_alpha(inp)
            check_output(inp, outp, lr.shape, scale, max_pixels, alpha is not None)
        except UserError as e:  # one bad file in a folder: say so, finish the others
            if len(jobs) == 1:
                raise
            print(f"[{i}/{len(jobs)}] skipped: {e}", file=sys.stderr)
            skipped.append(inp.name)
            continue
        t0 = time.perf_counter()
        sr = sr_fn(lr)
        save_image(outp, sr if alpha is None else with_alpha(sr, alpha, scale))
        seconds = time.perf_counter() - t0  # the super-resolution's time, not the metrics'
        scores = "".join(f" {METRICS[m].title} {METRICS[m].format(METRICS[m](sr, None, 0))}" for m in metrics)
        print(f"[{i}/{len(jobs)}] {inp} {lr.shape[1]}x{lr.shape[0]} -> {outp} {sr.shape[1]}x{sr.shape[0]} "
              f"({seconds:.1f} s){scores}")
    if skipped:
        raise UserError(f"{len(jobs) - len(skipped)} of {len(jobs)} images super-resolved; could not read "
                        f"{', '.join(skipped)}")
    return []
