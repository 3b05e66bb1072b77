"""Framework-free evaluation: from an upscaler function to rows of metric values (srcore.metrics.METRICS).

A backend supplies `upscale(lr) -> sr`: float32 NHWC batches, LR in [0, 1], SR in [0, 1]. This
module does everything else the same way for every model: grayscale handling, tiling of large
inputs, rounding to uint8, the metric conventions, and the benchmark loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from srcore.arch import ARCHS, meta_arch
from srcore.color import rgb_to_gray, to_uint8
from srcore.data import (
    BenchImage,
    available_benchmarks,
    is_photo_folder,
    load_benchmark,
    load_photo_folder,
    lr_to_input,
)
from srcore.errors import UserError
from srcore.imresize import imresize
from srcore.metrics import DEFAULT_METRICS, mean_scores, metric_names, score

Upscaler = Callable[[np.ndarray], np.ndarray]
SRFunction = Callable[[np.ndarray], np.ndarray]  # uint8 LR image -> uint8 SR image

def _tile_starts(length: int, tile: int) -> list[int]:
    return list(range(0, length, tile)) if length > tile else [0]


def upscale_array(upscale: Upscaler, lr: np.ndarray, scale: int, tile: int = 0, overlap: int = 16) -> np.ndarray:
    """SR of one uint8 HxWx3 image, tiled when `tile` > 0 so memory stays bounded.

    Each tile is run with `overlap` LR pixels of real context on every side and only its core
    is kept, so tiled output equals untiled output except within the network's receptive field
    of a seam, where the difference is far below one grey level (tested).
    """
    h, w = lr.shape[:2]
    if tile <= 0 or (h <= tile and w <= tile):
        return to_uint8(upscale(lr_to_input(lr)[None])[0])
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    for y in _tile_starts(h, tile):
        for x in _tile_starts(w, tile):
            y0, x0 = max(y - overlap, 0), max(x - overlap, 0)
            y1, x1 = min(y + tile + overlap, h), min(x + tile + overlap, w)
            sr = upscale(lr_to_input(lr[y0:y1, x0:x1])[None])[0]
            cy, cx = (y - y0) * scale, (x - x0) * scale
            th, tw = (min(y + tile, h) - y) * scale, (min(x + tile, w) - x) * scale
            out[y * scale:y * scale + th, x * scale:x * scale + tw] = to_uint8(sr[cy:cy + th, cx:cx + tw])
    return out


def make_sr_function(upscale: Upscaler, scale: int, tile: int = 0, overlap: int = 16) -> SRFunction:
    """uint8 image (HxWx3, or HxW greyscale) -> uint8 SR image of the same kind."""

    def sr(lr: np.ndarray) -> np.ndarray:
        if lr.ndim == 2:
            rgb = upscale_array(upscale, np.repeat(lr[:, :, None], 3, axis=2), scale, tile, overlap)
            return rgb_to_gray(rgb)
        return upscale_array(upscale, lr, scale, tile, overlap)

    return sr


def bicubic_sr_function(scale: int) -> SRFunction:
    """The bicubic baseline: MATLAB-compatible imresize of the LR image."""
    return lambda lr: imresize(lr, scale)


def bicubic_input(network: Upscaler, scale: int) -> Upscaler:
    """The upscaler of a network on the bicubic-upscaled image (ArchSpec.interpolating): the LR batch is upscaled by the
    bicubic baseline itself (MATLAB-compatible imresize of the uint8 image), then the network restores it."""

    def upscale(lr: np.ndarray) -> np.ndarray:
        lr8 = np.clip(np.rint(np.asarray(lr) * 255.0), 0, 255).astype(np.uint8)
        return network(lr_to_input(np.stack([imresize(im, scale) for im in lr8])))

    return upscale


def for_arch(network: Upscaler, arch: str, scale: int) -> Upscaler:
    """The upscaler of a generator of `arch` run by `network`: with the bicubic input step for an interpolating
    architecture (srcore.arch.ArchSpec.interpolating)."""
    return bicubic_input(network, scale) if ARCHS.get(arch).interpolating else network


def for_checkpoint(network: Upscaler, meta: dict[str, Any]) -> Upscaler:
    """The upscaler of a checkpoint's generator run by `network` (for_arch with the metadata's architecture)."""
    return for_arch(network, meta_arch(meta)[0].name, int(meta["scale"]))


def validate(upscale: Upscaler, hr: Sequence[np.ndarray], lr: Sequence[np.ndarray], scale: int,
             batch_size: int = 8, keep: int = 0,
             metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[dict[str, float], list[np.ndarray]]:
    """({metric: mean}, the first `keep` SR images) over same-size val crops, batched for speed.

    Y channel, border `scale` removed, as the benchmarks.
    """
    names = metric_names(metrics)
    scores, kept = [], []
    for i in range(0, len(lr), batch_size):
        lr_b = np.stack(lr[i:i + batch_size])
        sr_b = to_uint8(upscale(lr_to_input(lr_b)))
        for s, h in zip(sr_b, hr[i:i + batch_size]):
            scores.append(score(names, s, h, crop_border=scale))
            if len(kept) < keep:
                kept.append(s)
    return mean_scores(names, scores), kept


def score_images(sr_fn: SRFunction, images: Sequence[BenchImage], scale: int, desc: str = "",
                 save_dir: str | Path | None = None, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, Any]:
    """{metric: mean over `images`, ..., "images": how many}."""
    from srcore.imageio import save_image

    names = metric_names(metrics)
    scores = []
    for im in tqdm(images, desc=desc, leave=False, disable=not desc):
        sr = sr_fn(im.lr)
        if sr.shape != im.hr.shape:
            raise UserError(f"{desc} {im.name}: SR shape {sr.shape} != HR shape {im.hr.shape}")
        scores.append(score(names, sr, im.hr, crop_border=scale))
        if save_dir is not None:
            save_image(Path(save_dir) / f"{im.name}.png", sr)
    return {**mean_scores(names, scores), "images": len(images)}


def evaluate_benchmarks(sr_fn: SRFunction, data_dir: str | Path, datasets: Sequence[str] | None, scale: int,
                        save_dir: str | Path | None = None,
                        metrics: Sequence[str] = DEFAULT_METRICS) -> list[dict[str, Any]]:
    """One row per dataset: {dataset, scale, <each metric>, images}. A dataset is a prepared benchmark's name or a
    folder of HR photos (srcore.data.load_photo_folder)."""
    metrics = metric_names(metrics)  # an unknown name fails before any image is scored
    names = list(datasets) if datasets else available_benchmarks(data_dir, scale)
    if not names:
        raise UserError(f"no prepared benchmark sets at x{scale} in {Path(data_dir) / 'benchmarks'}; "
                        f"run prepare_bsd500.py (with --benchmarks for Set5/Set14, --scales for x{scale})")
    rows = []
    for name in names:
        folder = is_photo_folder(data_dir, name, scale)
        images = load_photo_folder(name, scale) if folder else load_benchmark(data_dir, name, scale)
        out = None if save_dir is None else Path(save_dir) / (Path(name).name if folder else name)
        scores = score_images(sr_fn, images, scale, desc=name, save_dir=out, metrics=metrics)
        rows.append({"dataset": name, "scale": scale, **scores})
    return rows
