"""Training data sources, each behind one interface: a `Sampler` of training batches.

The training loop receives a sampler and never builds one, so a new source of training data (a folder of
images streamed from disk, ...) is one registered entry of DATA_SOURCES, a factory `(cfg) -> Sampler`:

    @DATA_SOURCES.register("folder")
    def folder_sampler(cfg: TrainConfig) -> Sampler: ...

Whatever the source, the batch of step t is a pure function of (seed, t): resume needs no sampler state,
and both backends see the same batches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from srcore.config import TrainConfig
from srcore.data import PatchSampler, interpolated_pairs, load_folder_pairs, load_pairs, split_stems
from srcore.errors import UserError
from srcore.fileio import atomic_write_text
from srcore.imagefolder import FolderImage, centre_crop_pair, holdout_names, read_pair, read_patch, scan_folder
from srcore.imresize import imresize
from srcore.registry import Registry
from srcore.streaming import StreamingSampler, default_workers


class Sampler(Protocol):
    """Training batches: `batch(step, shard)` -> (lr, hr), float32 NHWC, lr in [0, 1] (the network input), hr in
    [-1, 1]; a pure function of (seed, step). `shard` (i, n): the i-th of n equal slices of the step's batch.
    `close()` releases what the sampler holds (files, worker threads) once the phase ends."""

    def batch(self, step: int, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]: ...
    def close(self) -> None: ...


SamplerFactory = Callable[[], Sampler]  # makes the phase's sampler when the loop is about to need it

DATA_SOURCES: Registry[Callable[[TrainConfig], Sampler]] = Registry("training data source")


@DATA_SOURCES.register("prepared")
def prepared_sampler(cfg: TrainConfig) -> Sampler:
    """Patches of the prepared BSDS500 training split (prepare_bsd500.py), all images held in memory, without the
    images held out for validation (`held_out`).

    An interpolating network (ArchSpec.interpolating) trains on the LR images bicubic-upscaled once to the HR size,
    cropped like the HR ones (scale 1), over every scale of `cfg.train_scales`.
    """
    out = held_out(cfg, split_stems(cfg.data, "train", cfg.scale))
    if cfg.interpolating:
        (hr, inputs), scale = interpolated_pairs(cfg.data, "train", cfg.train_scales, exclude=out), 1
    else:
        (hr, inputs), scale = load_pairs(cfg.data, "train", cfg.scale, exclude=out), cfg.scale
    return PatchSampler(hr, inputs, scale, cfg.patch_size, cfg.batch_size, cfg.seed)


# --data-workers -1: a folder whose decoded arrays fit in this is held in memory (in each training process). A
# quarter of a CPU training process's own ~1.1 GB: a larger folder is streamed, so a training process's peak memory
# stays within 1.25x whatever the folder's size (benchmark.py --data), and the whole BSDS500 (200 MB) stays in memory.
IN_MEMORY_BYTES = 256 << 20


def folder_images(cfg: TrainConfig) -> tuple[FolderImage, ...]:
    """The usable images of --train-dir (held-out ones included)."""
    assert cfg.train_dir is not None
    return scan_folder(str(Path(cfg.train_dir)), cfg.scale, cfg.patch_size,
                       None if cfg.train_lr_dir is None else str(Path(cfg.train_lr_dir)), threads=default_workers())


@DATA_SOURCES.register("folder")
def folder_sampler(cfg: TrainConfig) -> Sampler:
    """Random aligned patches of the images of `cfg.train_dir` (any sizes, any count), LR by MATLAB bicubic of the
    whole image or from `cfg.train_lr_dir`: held in memory for a small folder, else streamed by worker processes
    (srcore.streaming); the same batches either way."""
    if cfg.train_lr_dir is not None and cfg.multiscale:
        raise UserError("--train-lr-dir holds LR images of one scale; --multiscale makes its x2/x3/x4 inputs by "
                        "bicubic: leave --train-lr-dir out")
    images = folder_images(cfg)
    out = set(held_out(cfg, [im.rel for im in images]))
    train = [im for im in images if im.rel not in out]
    # (image, scale) items: an interpolating network's multi-scale model trains on every scale of every image.
    items = [(im, s) for s in cfg.train_scales for im in train
             if min(im.height // s * s, im.width // s * s) >= cfg.patch_size]
    if not items:
        raise UserError(f"--train-dir {cfg.train_dir}: no training images left after holding out {len(out)} for "
                        "validation")
    interp = cfg.interpolating
    grid = [((im.height // s * s, im.width // s * s) if interp else (im.height // s, im.width // s)) for im, s in items]
    patch = cfg.lr_patch_size
    workers = cfg.data_workers
    if workers < 0:
        decoded = sum(im.height * im.width * 3 * (2 if interp else 1 + 1 / s ** 2) for im, s in items)
        workers = 0 if decoded <= IN_MEMORY_BYTES else default_workers(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if workers == 0:
        hrs, inputs = [], []
        for im, s in items:
            hr, lr = read_pair(im, s)
            hrs.append(hr)
            inputs.append(imresize(lr, s) if interp else lr)
        return PatchSampler(hrs, inputs, 1 if interp else cfg.scale, cfg.patch_size, cfg.batch_size, cfg.seed)
    print(f"--train-dir {cfg.train_dir}: {len(items)} images streamed by {workers} data worker "
          f"process{'es' if workers > 1 else ''}")

    def spec(i: int, y: int, x: int) -> tuple:
        im, s = items[i]
        return (im.hr, im.lr, s, interp, im.height // s * s, im.width // s * s, y, x, patch)

    return StreamingSampler(grid, spec, lambda i: items[i][0].hr, read_patch, patch, cfg.batch_size, cfg.seed,
                            workers)


def data_source(cfg: TrainConfig) -> str:
    """The data source a phase trains from: "folder" with --train-dir, else the prepared BSDS500 split."""
    return "folder" if cfg.train_dir else "prepared"


def make_sampler(cfg: TrainConfig, source: str | None = None) -> Sampler:
    """The training sampler of phase `cfg` from data source `source` (a name in DATA_SOURCES; default:
    `data_source(cfg)`)."""
    return DATA_SOURCES.get(source or data_source(cfg))(cfg)


# ---- validation: the images that choose `best`, never a benchmark's by default

VALIDATION_FILE = "validation.json"  # in the phase folder: which images validated, so a resume uses the same


def held_out(cfg: TrainConfig, names: list[str]) -> list[str]:
    """The training images (names: relative paths, or a prepared split's stems) held out for validation: those the
    phase folder's VALIDATION_FILE recorded, else `holdout_names`; none with --val-dir or --val-holdout 0."""
    if cfg.val_dir or not cfg.val_holdout:
        return []
    record = Path(cfg.out) / VALIDATION_FILE
    if record.is_file():
        try:
            recorded = json.loads(record.read_text())["held_out"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{record} is damaged ({e}); it records the images this run validates on") from None
        missing = sorted(set(recorded) - set(names))
        if missing:
            raise UserError(f"{record}: the held-out validation images {_few(missing)} are no longer in the "
                            "training images")
        return list(recorded)
    return holdout_names(names, cfg.val_holdout)


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def validation_set(cfg: TrainConfig, held: int | None = None) -> str:
    """Which images validate phase `cfg` (and so choose its `best` checkpoint), in words; `held`: how many images
    were held out, when known (--val-holdout at most, a quarter of a small folder)."""
    if cfg.val_dir:
        return f"--val-dir {cfg.val_dir}"
    if cfg.val_holdout:
        where = cfg.train_dir or str(Path(cfg.data) / "bsd500" / "train")
        n = cfg.val_holdout if held is None else held
        return f"{n} image{'s' if n != 1 else ''} held out of {where}"
    return f"the prepared val split {Path(cfg.data) / 'bsd500' / 'val'} (BSD100)"


def validation_pairs(cfg: TrainConfig, record: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The (HR, LR) validation images of phase `cfg`, at most `cfg.val_images` of them (0: all): centre crops of
    at most srcore.imagefolder.VAL_CROP px of the images held out of the training source, or of --val-dir's; the
    whole prepared val split for a run made before --val-holdout existed. `record`: write VALIDATION_FILE."""
    s, names = cfg.scale, []
    if cfg.val_dir:
        root = Path(cfg.val_dir)
        if (root / "hr").is_dir() and (root / f"lr_x{s}").is_dir():  # a prepared split, e.g. data/bsd500/val
            hrs, lrs = load_folder_pairs(root / "hr", root / f"lr_x{s}", s, f"--val-dir {root}", cfg.val_images)
        else:
            images = scan_folder(str(root), s, s, threads=default_workers())
            images = images[: cfg.val_images or None]
            hrs, lrs = map(list, zip(*(centre_crop_pair(*read_pair(im, s), s) for im in images)))
            names = [im.rel for im in images]
    elif cfg.val_holdout:
        if cfg.train_dir:
            images = folder_images(cfg)
            names = held_out(cfg, [im.rel for im in images])
            chosen = {im.rel: im for im in images}
            pairs = [centre_crop_pair(*read_pair(chosen[n], s), s) for n in names]
        else:
            names = held_out(cfg, split_stems(cfg.data, "train", s))
            pairs = [centre_crop_pair(h, lr, s) for h, lr in zip(*load_pairs(cfg.data, "train", s, only=names))]
        if not pairs:
            raise UserError(f"no images to hold out for validation ({validation_set(cfg)}): give --val-dir DIR")
        hrs, lrs = [list(x) for x in zip(*pairs[: cfg.val_images or None])]
    else:
        hrs, lrs = load_pairs(cfg.data, "val", s, limit=cfg.val_images)
    if record:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(cfg.out) / VALIDATION_FILE, json.dumps(
            {"validation": validation_set(cfg, len(names)), "held_out": names if not cfg.val_dir else [],
             "images": names[: cfg.val_images or None] if names else len(hrs)}, indent=2) + "\n")
    return hrs, lrs


def recorded_validation_set(phase_dir: str | Path) -> str:
    """The validation set that `validation_pairs(record=True)` recorded in phase folder `phase_dir`, in words."""
    return str(json.loads((Path(phase_dir) / VALIDATION_FILE).read_text())["validation"])
