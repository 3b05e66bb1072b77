"""Any folder of training images: found recursively, checked once (and remembered), paired with the user's own LR
images, some held out for validation, and read as exact patches.

An image's LR is the project's MATLAB bicubic (srcore.imresize) of the whole HR image, modcropped to the scale,
exactly as prepare_bsd500.py makes it; a patch's LR is computed from the HR pixels it reads
(`imresize_window`), so a random patch of a 2K image costs a small resize, not the whole image's, and equals
the crop of the whole image's LR to the pixel.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srcore.color import modcrop
from srcore.errors import UserError
from srcore.fileio import atomic_write_text
from srcore.imageio import IMAGE_EXTENSIONS, ImageError, load_image
from srcore.imresize import imresize, imresize_window, input_span

# Each folder's index (each file's size, mtime and decoded size, or why it failed) is kept in a per-user cache, never
# in the user's folder: $SRGAN_CACHE_DIR, else $XDG_CACHE_HOME/srgan-repro, else ~/.cache/srgan-repro.
CACHE_ENV = "SRGAN_CACHE_DIR"
INDEX_VERSION = 1
VAL_CROP = 256  # validation uses the centre crop of at most this HR side of each image (validation time stays flat)
NAMES_SHOWN = 5  # skipped images named in the summary line


@dataclass(frozen=True)
class FolderImage:
    """One usable training image: its path relative to the folder, its HR file, its LR file (or None: bicubic), and
    its decoded HR size (before any modcrop)."""

    rel: str
    hr: str
    lr: str | None
    height: int
    width: int


def find_images(root: str | Path) -> list[Path]:
    """Image files under `root`, recursively (symlinks followed, hidden files and folders skipped), sorted by
    relative path: the order, and so the batches, do not depend on the file system's listing order."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"not a folder of images: {root}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath) / f for f in filenames
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _check(path: Path) -> tuple[int, int] | str:
    """(height, width) of a fully decodable image, or why it is not one (a truncated JPEG fails here, once)."""
    try:
        arr = load_image(path, mode="rgb")
    except ImageError as e:
        return e.reason
    return int(arr.shape[0]), int(arr.shape[1])


def cache_dir() -> Path:
    """The per-user cache folder of srgan-repro ($SRGAN_CACHE_DIR, else $XDG_CACHE_HOME/srgan-repro, else
    ~/.cache/srgan-repro); it may not exist yet."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "srgan-repro"


def index_path(root: str | Path) -> Path:
    """Where the index of folder `root` is kept: a file of the cache named by a hash of the folder's resolved path
    (the same folder reached by another path or a symlink shares it)."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:24]
    return cache_dir() / "folders" / f"{digest}.json"


def _read_index(path: Path, folder: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and data.get("version") == INDEX_VERSION and data.get("folder") == folder
    return data["files"] if ok and isinstance(data.get("files"), dict) else {}


def checked_sizes(root: Path, files: list[Path], threads: int) -> dict[str, tuple[int, int] | str]:
    """Each file's decoded size, or its error, by relative path. Remembered in the folder's index in the user's
    cache (`index_path`) by (bytes, mtime), so a million images are decoded once, and a changed or added file is
    checked again. Nothing is written into the folder; without a writable cache every start checks again."""
    folder = str(root.resolve())
    index = index_path(root)
    old = _read_index(index, folder)
    out: dict[str, tuple[int, int] | str] = {}
    stamps: dict[str, list[int]] = {}
    todo = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        st = p.stat()
        stamps[rel] = [st.st_size, st.st_mtime_ns]
        row = old.get(rel)
        if isinstance(row, dict) and row.get("stamp") == stamps[rel] and "size" in row:
            out[rel] = tuple(row["size"]) if isinstance(row["size"], list) else str(row["size"])  # type: ignore
        else:
            todo.append((rel, p))
    if todo:
        if len(todo) > 100:
            print(f"{root}: checking {len(todo)} new or changed images (once; remembered in {index})",
                  file=sys.stderr)
        with ThreadPoolExecutor(max(1, threads)) as pool:  # Pillow decodes without the GIL
            for (rel, _), size in zip(todo, pool.map(lambda t: _check(t[1]), todo)):
                out[rel] = size
        rows = {rel: {"stamp": stamps[rel], "size": list(v) if isinstance(v, tuple) else v} for rel, v in out.items()}
        try:
            atomic_write_text(index, json.dumps({"version": INDEX_VERSION, "folder": folder, "files": rows}) + "\n")
        except (OSError, UserError):  # not writable, or full (DiskFull): checked again next time; nothing else needs it
            pass
    return out


def _lr_files(lr_root: Path, scale: int) -> dict[tuple[str, str], Path]:
    """LR files by (relative folder, stem); DIV2K's `0001x4.png` is also found as `0001`."""
    by_key: dict[tuple[str, str], Path] = {}
    for p in find_images(lr_root):
        rel = p.relative_to(lr_root)
        folder = rel.parent.as_posix()
        by_key.setdefault((folder, p.stem), p)
        if p.stem.endswith(f"x{scale}"):
            by_key.setdefault((folder, p.stem[: -len(f"x{scale}")]), p)
    return by_key


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    return shown + (f", ... ({len(items) - NAMES_SHOWN} more)" if len(items) > NAMES_SHOWN else "")


@functools.lru_cache(maxsize=8)  # the sampler and the validation set of a phase ask for the same folder
def scan_folder(root: str, scale: int, min_side: int, lr_root: str | None = None,
                threads: int = 4) -> tuple[FolderImage, ...]:
    """The usable images of folder `root` for training at `scale`: readable, with an HR side (modcropped) of at
    least `min_side`. The others are named in one summary line. With `lr_root`, each HR image's LR image is found by
    relative path and stem and must be exactly 1/scale of its size (a one-line error names the pair)."""
    top = Path(root)
    files = find_images(top)
    if not files:
        raise UserError(f"--train-dir {root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found in it or below it")
    sizes = checked_sizes(top, files, threads)
    lr_by_key = _lr_files(Path(lr_root), scale) if lr_root is not None else {}
    lr_sizes = checked_sizes(Path(lr_root), list(lr_by_key.values()), threads) if lr_root is not None else {}
    usable, small, bad = [], [], []
    for p in files:
        rel = p.relative_to(top).as_posix()
        size = sizes[rel]
        if isinstance(size, str):
            bad.append(f"{rel} ({size})")
            continue
        h, w = size[0] // scale * scale, size[1] // scale * scale
        if min(h, w) < min_side:  # skipped before pairing: a too small image needs no LR image
            small.append(rel)
            continue
        lr = None
        if lr_root is not None:
            lr = lr_by_key.get((Path(rel).parent.as_posix(), p.stem))
            if lr is None:
                raise UserError(f"--train-lr-dir {lr_root}: no LR image for {rel} (expected {Path(rel).with_suffix('')}"
                                f".* or {Path(rel).with_suffix('')}x{scale}.*)")
            lr_size = lr_sizes[lr.relative_to(lr_root).as_posix()]
            if isinstance(lr_size, str):
                raise UserError(f"--train-lr-dir: cannot read {lr} (the LR image of {rel}): {lr_size}")
            if tuple(lr_size) != (h // scale, w // scale):
                raise UserError(f"--train-lr-dir: {lr} is {lr_size[1]}x{lr_size[0]}, but its HR image {rel} "
                                f"({size[1]}x{size[0]}) needs {w // scale}x{h // scale} at x{scale}")
        usable.append(FolderImage(rel, str(p), None if lr is None else str(lr), size[0], size[1]))
    if small or bad:
        parts = ([f"{len(small)} smaller than {min_side}px ({_names(small)})"] if small else []) + \
                ([f"{len(bad)} unreadable ({_names(bad)})"] if bad else [])
        print(f"{root}: skipped {' and '.join(parts)}; training on {len(usable)} of {len(files)} images",
              file=sys.stderr)
    if not usable:
        raise UserError(f"--train-dir {root}: none of its {len(files)} images is usable for {min_side}px patches")
    return tuple(usable)


def holdout_names(names: list[str], count: int) -> list[str]:
    """The `count` names (at most a quarter of them, so a small folder still trains) with the smallest sha256: a
    fixed choice, spread over the folder's subfolders, that does not depend on the listing order."""
    n = min(count, len(names) // 4)
    return sorted(names, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[:n]


def read_pair(image: FolderImage, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole (HR modcropped, LR) uint8 RGB pair of an image."""
    hr = modcrop(load_image(image.hr, mode="rgb"), scale)
    lr = load_image(image.lr, mode="rgb") if image.lr is not None else imresize(hr, 1.0 / scale)
    return hr, lr


def centre_crop_pair(hr: np.ndarray, lr: np.ndarray, scale: int, side: int = VAL_CROP) -> tuple[np.ndarray,
                                                                                             np.ndarray]:
    """The aligned centre crops (HR side at most `side`) of an (HR, LR) pair: a validation image."""
    p = min(side // scale, lr.shape[0]), min(side // scale, lr.shape[1])
    y, x = (lr.shape[0] - p[0]) // 2, (lr.shape[1] - p[1]) // 2
    return (hr[y * scale:(y + p[0]) * scale, x * scale:(x + p[1]) * scale], lr[y:y + p[0], x:x + p[1]])


def read_patch(spec: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One training sample (input, HR) as uint8 patches before augmentation, from spec (hr file, LR file or None,
    scale, interpolating, height, width, top, left, patch side on the sampling grid).

    Not interpolating: the grid is the LR image: LR[top:top+p, left:left+p] and its HR patch. Interpolating (SRCNN,
    VDSR): the grid is the HR image; the input is the crop of the whole LR image bicubic-upscaled back to HR size.
    Either way equal to the crop of the whole image's arrays (srcore.imresize.imresize_window).
    """
    hr_path, lr_path, s, interpolating, h, w, y, x, p = spec
    hr = load_image(hr_path, mode="rgb")[:h, :w]
    if not interpolating:
        if lr_path is not None:
            inp = load_image(lr_path, mode="rgb")[y:y + p, x:x + p]
        else:
            inp = imresize_window(hr, 1.0 / s, (y, y + p), (x, x + p))
        return inp, hr[y * s:(y + p) * s, x * s:(x + p) * s]
    # The upscaled window reads LR rows [a, b) and columns [c, d): make only those, then upscale them.
    (a, b), (c, d) = input_span(h // s, s, y, y + p), input_span(w // s, s, x, x + p)
    if lr_path is not None:
        lr = load_image(lr_path, mode="rgb")[a:b, c:d]
    else:
        lr = imresize_window(hr, 1.0 / s, (a, b), (c, d))
    inp = imresize_window(lr, s, (y, y + p), (x, x + p), in_shape=(h // s, w // s), origin=(a, c))
    return inp, hr[y:y + p, x:x + p]

