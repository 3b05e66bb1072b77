"""Prepared data on disk, and the patch sampler both backends train from (srcore.sampling: the data sources).

The sampler is plain numpy and a pure function of (seed, rank, step): the same seed gives the
same batches in PyTorch and in Keras, resume needs no sampler state, and every distributed rank
gets its own reproducible stream.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srcore.color import modcrop
from srcore.errors import UserError
from srcore.imageio import list_images, load_image
from srcore.imresize import imresize

PREPARED_DIR = "bsd500"  # the prepared training data inside --data: <split>/hr, <split>/lr_x<scale>


def split_dirs(data_dir: str | Path, split: str, scale: int, prepared: str = PREPARED_DIR) -> tuple[Path, Path]:
    """HR and LR folders of a prepared training split ("train" or "val") in folder `prepared` of `data_dir`."""
    root = Path(data_dir) / prepared / split
    return root / "hr", root / f"lr_x{scale}"


def benchmark_dirs(data_dir: str | Path, name: str, scale: int) -> tuple[Path, Path]:
    root = Path(data_dir) / "benchmarks" / name
    return root / "hr", root / f"lr_x{scale}"


def _paired_files(hr_dir: Path, lr_dir: Path, what: str) -> list[tuple[Path, Path]]:
    if not hr_dir.is_dir() or not lr_dir.is_dir():
        raise UserError(f"{what}: expected prepared folders {hr_dir} and {lr_dir}; run prepare_bsd500.py first "
                        "(or give --datasets a folder of your own HR photos)")
    lr_by_stem = {p.stem: p for p in list_images(lr_dir)}
    hr_by_stem = {p.stem: p for p in list_images(hr_dir)}
    unpaired = sorted(set(lr_by_stem) ^ set(hr_by_stem))
    if unpaired and lr_by_stem and hr_by_stem:  # scored on the rest, a set would look complete in the table
        lonely = [f"{n} (no {'LR' if n in hr_by_stem else 'HR'} image)" for n in unpaired[:3]]
        raise UserError(f"{what}: {len(unpaired)} image(s) without their pair in {hr_dir} and {lr_dir}: "
                        f"{', '.join(lonely)}{' ...' if len(unpaired) > 3 else ''}; prepare the set again "
                        "(prepare_bsd500.py --force)")
    pairs = [(p, lr_by_stem[p.stem]) for p in hr_by_stem.values() if p.stem in lr_by_stem]
    if not pairs:
        raise UserError(f"{what}: no HR/LR image pairs in {hr_dir} and {lr_dir}; run prepare_bsd500.py first")
    return pairs


def load_pairs(data_dir: str | Path, split: str, scale: int, limit: int = 0, exclude: Collection[str] = (),
               only: Collection[str] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """HR and LR uint8 RGB images of a prepared split, HR cropped to match its LR exactly; without the images named
    (by stem) in `exclude`, or only those in `only` (validation images held out of the training split)."""
    hr_dir, lr_dir = split_dirs(data_dir, split, scale)
    return load_folder_pairs(hr_dir, lr_dir, scale, f"{split} split at x{scale}", limit, exclude, only)


def split_stems(data_dir: str | Path, split: str, scale: int) -> list[str]:
    """The names (stems) of a prepared split's image pairs, sorted."""
    return [hr.stem for hr, _ in _paired_files(*split_dirs(data_dir, split, scale), what=f"{split} split at x{scale}")]


def load_folder_pairs(hr_dir: Path, lr_dir: Path, scale: int, what: str, limit: int = 0,
                      exclude: Collection[str] = (), only: Collection[str] | None = None) -> tuple[list[np.ndarray],
                                                                                                  list[np.ndarray]]:
    """`load_pairs` of any hr/ and lr_x<scale>/ folder pair (a prepared split anywhere: --val-dir)."""
    pairs = _paired_files(hr_dir, lr_dir, what=what)
    pairs = [p for p in pairs if p[0].stem not in exclude and (only is None or p[0].stem in only)]
    if limit:
        pairs = pairs[:limit]
    hrs, lrs = [], []
    for hr_path, lr_path in pairs:
        lr = load_image(lr_path, mode="rgb")
        hr = load_image(hr_path, mode="rgb")
        if hr.shape[0] // scale != lr.shape[0] or hr.shape[1] // scale != lr.shape[1]:
            raise UserError(f"{what}: {hr_path.name} is {hr.shape[1]}x{hr.shape[0]} but its LR image {lr_path} is "
                            f"{lr.shape[1]}x{lr.shape[0]}; expected the HR size / {scale} (floored)")
        hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
        hrs.append(hr)
        lrs.append(lr)
    return hrs, lrs


def interpolated_pairs(data_dir: str | Path, split: str, scales: tuple[int, ...],
                       exclude: Collection[str] = ()) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """HR images and their LR images bicubic-upscaled back to the HR size (once, by srcore.imresize on the
    uint8 image: the bicubic baseline's own output), for every scale in `scales`: the training pairs of an
    interpolating network (srcore.arch.ArchSpec.interpolating), sampled with PatchSampler(..., scale=1)."""
    from srcore.imresize import imresize

    hrs, ups = [], []
    for scale in scales:
        hr, lr = load_pairs(data_dir, split, scale, exclude=exclude)
        hrs += hr
        ups += [imresize(im, scale) for im in lr]
    return hrs, ups


@dataclass
class BenchImage:
    name: str
    hr: np.ndarray  # uint8, modcropped to the scale; HxW for grayscale images, HxWx3 otherwise
    lr: np.ndarray


def available_benchmarks(data_dir: str | Path, scale: int) -> list[str]:
    """Prepared benchmark sets that have LR images at `scale`, in a stable order."""
    root = Path(data_dir) / "benchmarks"
    if not root.is_dir():
        return []
    names = [d.name for d in root.iterdir() if (d / "hr").is_dir() and (d / f"lr_x{scale}").is_dir()]
    order = {"Set5": 0, "Set14": 1, "BSD100": 2}
    return sorted(names, key=lambda n: (order.get(n, 3), n))


def load_benchmark(data_dir: str | Path, name: str, scale: int) -> list[BenchImage]:
    pairs = _paired_files(*benchmark_dirs(data_dir, name, scale), what=f"benchmark {name} at x{scale}")
    out = []
    for hr_path, lr_path in pairs:
        hr = modcrop(load_image(hr_path), scale)
        lr = load_image(lr_path)
        out.append(BenchImage(hr_path.stem, hr, lr))
    return out


def is_photo_folder(data_dir: str | Path, name: str, scale: int) -> bool:
    """Whether dataset `name` is a folder of one's own HR photos rather than a prepared benchmark's name (a
    prepared benchmark of that name wins)."""
    return name not in available_benchmarks(data_dir, scale) and Path(name).is_dir()


def load_photo_folder(folder: str | Path, scale: int) -> list[BenchImage]:
    """A folder of one's own HR photos, scored like a benchmark: each modcropped to the scale, its LR made by
    MATLAB's bicubic (srcore.imresize), as prepare_bsd500.py makes the benchmarks' LR images."""
    files = list_images(folder)
    if not files:
        raise UserError(f"--datasets {folder}: no images in this folder (expected HR photos: .png, .jpg, ...)")
    out = []
    for f in files:
        hr = modcrop(load_image(f), scale)
        if min(hr.shape[:2]) < 8 * scale:
            raise UserError(f"{f}: {hr.shape[1]}x{hr.shape[0]} is too small to score at x{scale} (expected at least "
                            f"{8 * scale} pixels a side)")
        out.append(BenchImage(f.stem, hr, imresize(hr, 1.0 / scale)))
    return out


def lr_to_input(lr: np.ndarray) -> np.ndarray:
    """uint8 LR image(s) -> float32 network input in [0, 1]."""
    return lr.astype(np.float32) / 255.0


def hr_to_target(hr: np.ndarray) -> np.ndarray:
    """uint8 HR image(s) -> float32 target in [-1, 1], the generator's tanh range."""
    return hr.astype(np.float32) / 127.5 - 1.0


class PatchSampler:
    """Aligned random LR/HR patch batches with flips and 90-degree rotations.

    `batch(step)` draws from `np.random.default_rng([seed, rank, step])`, so it depends on
    nothing but its arguments. `batch_size` is per rank.
    """

    def __init__(self, hr: list[np.ndarray], lr: list[np.ndarray], scale: int, patch_size: int,
                 batch_size: int, seed: int = 0, rank: int = 0, augment: bool = True) -> None:
        if patch_size % scale:
            raise UserError(f"patch size {patch_size} is not a multiple of the scale {scale}")
        self.lr_patch = patch_size // scale
        small = [i for i, im in enumerate(lr) if min(im.shape[:2]) < self.lr_patch]
        if small:
            raise UserError(f"{len(small)} training images are smaller than the {patch_size}px patch size")
        if not lr:
            raise UserError("no training images")
        self.hr, self.lr = hr, lr
        self.sizes = [im.shape[:2] for im in lr]
        self.scale, self.patch_size, self.batch_size = scale, patch_size, batch_size
        self.seed, self.rank, self.augment = seed, rank, augment

    def batch(self, step: int, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
        """(lr, hr): float32 NHWC, lr in [0, 1] of side patch/scale, hr in [-1, 1] of side patch.

        `shard` (i, n): only the i-th of n equal slices of the batch, the same samples as that slice of
        the whole batch: the batch of a step does not depend on how many workers share it.
        """
        p, s = self.lr_patch, self.scale
        plan = patch_plan(self.seed, self.rank, step, self.batch_size, self.sizes, p,
                          self.augment, shard)
        lr_b = np.empty((len(plan), p, p, 3), np.uint8)
        hr_b = np.empty((len(plan), p * s, p * s, 3), np.uint8)
        for j, (i, y, x, t) in enumerate(plan):
            lr_b[j] = augment(self.lr[i][y:y + p, x:x + p], t)
            hr_b[j] = augment(self.hr[i][y * s:(y + p) * s, x * s:(x + p) * s], t)
        return lr_to_input(lr_b), hr_to_target(hr_b)

    def close(self) -> None:
        pass  # holds nothing but the images in memory (srcore.sampling.Sampler)


def patch_plan(seed: int, rank: int, step: int, batch_size: int, sizes: Sequence[tuple[int, int]], patch: int,
               augment: bool = True, shard: tuple[int, int] = (0, 1)) -> list[tuple[int, int, int, int]]:
    """What the samples of step `step` are, for images of (height, width) `sizes` on the sampling grid (the LR
    image, or the HR-sized input of an interpolating network): (image, top, left, transform) per sample of shard
    `shard` (i, n), the i-th of n equal slices of the batch. Drawn from `np.random.default_rng([seed, rank, step])`,
    so every sampler (in memory, streamed by worker processes) makes the same batch from the same images."""
    part, parts = shard
    if batch_size % parts:
        raise UserError(f"the batch of {batch_size} does not split evenly over {parts} workers")
    rng = np.random.default_rng([seed, rank, step])
    n = batch_size
    idx = rng.integers(0, len(sizes), size=n)
    uy, ux = rng.random(n), rng.random(n)
    tf = rng.integers(0, 8, size=n) if augment else np.zeros(n, dtype=np.int64)
    plan = []
    for k in range(part * n // parts, (part + 1) * n // parts):
        h, w = sizes[idx[k]]
        plan.append((int(idx[k]), int(uy[k] * (h - patch + 1)), int(ux[k] * (w - patch + 1)), int(tf[k])))
    return plan


def augment(img: np.ndarray, t: int) -> np.ndarray:
    """One of the 8 dihedral transforms: bit 0 = horizontal flip, bits 1-2 = quarter turns."""
    if t & 1:
        img = img[:, ::-1]
    return np.rot90(img, t >> 1)
