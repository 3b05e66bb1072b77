"""The build: `prepare` decides whether `out` is up to date, fetches and extracts the source if it must
rebuild, writes the HR and LR images of every source image on worker threads, and writes the manifest last,
all under a lock on `out`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from srcore.arch import SCALES
from srcore.color import modcrop
from srcore.data import PREPARED_DIR
from srcore.errors import UserError
from srcore.fileio import atomic_write_bytes, locked
from srcore.imageio import ImageError, encode_png, list_images, read_image
from srcore.imresize import imresize
from srcore.prepare.fetch import BSR_URL, check_tarball, download_bsr, extract_tarball
from srcore.prepare.manifest import (
    MANIFEST_FORMAT,
    PREPARE_VERSION,
    _bad_checksums,
    _is_complete,
    _key_diff,
    _managed_from,
    _missing_outputs,
    _write_manifest,
    read_manifest,
)
from srcore.prepare.messages import _say, _warn
from srcore.prepare.sources import (
    _EXPECTED,
    BSD100,
    SPLITS,
    _assign_names,
    _previous_source,
    _resolve_benchmarks,
    _resolve_source,
    _Source,
    find_split_root,
)

ALLOWED_SCALES = SCALES  # every scale the models support
TRAIN_GROUP = f"{PREPARED_DIR}/train"
VAL_GROUP = f"{PREPARED_DIR}/val"
_LOCKED = ".prepare"  # srcore.fileio.locked: the lock file is .prepare.lock


# ----------------------------------------------------------------------------------------------------------------
# Output of one source image


@dataclass(frozen=True)
class _Task:
    src: str  # source image file
    group: str  # output folder relative to `out`, e.g. "bsd500/train" or "benchmarks/Set5"
    name: str  # output file stem
    crop: bool  # True: RGB center crop (training); False: full image, gray kept (benchmark)


@dataclass
class _Result:
    task: _Task
    ok: bool
    reason: str = ""  # why it was skipped
    note: str = ""  # how it was converted, if it was
    files: dict[str, list[Any]] | None = None  # relative output path -> [sha256, bytes]


_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}


def _conversion_note(src_mode: str, arr: np.ndarray) -> str:
    """Human-readable description of how a file's mode was changed ('' when it was not)."""
    out_mode = "L" if arr.ndim == 2 else "RGB"
    if src_mode == out_mode:
        return ""
    how = []
    if src_mode in _ALPHA_MODES:
        how.append("alpha dropped")
    if src_mode.startswith("I"):
        how.append("16-bit scaled by 1/257")
    if src_mode.startswith("P"):
        how.append("palette expanded")
    if out_mode == "RGB" and (src_mode in ("1", "L", "LA", "La", "F") or src_mode.startswith("I")):
        how.append("gray replicated to RGB")
    detail = f" ({', '.join(how)})" if how else ""
    return f"mode {src_mode} converted to {out_mode}{detail}"


def center_crop_box(height: int, width: int, crop: int) -> tuple[int, int]:
    """(top, left) of the deterministic center crop used for the training crops."""
    return (height - crop) // 2, (width - crop) // 2


def write_output(path: Path, data: bytes) -> None:
    """One prepared image: atomic but not fsynced; the manifest, written last and durably, covers the rest."""
    atomic_write_bytes(path, data, durable=False)


def _process(task: _Task, out: str, crop_size: int, scales: tuple[int, ...]) -> _Result:
    """Load one source image and write its HR (crop or full) and LR images; never raises for bad input."""
    try:
        arr, src_mode = read_image(task.src, mode="rgb" if task.crop else "auto")
    except ImageError as exc:
        return _Result(task, False, reason=f"unreadable ({exc.reason})")
    h, w = arr.shape[:2]
    if task.crop and crop_size == 0:  # --crop-size 0: the whole image (RGB), for random crops when training
        if min(h, w) < 4 * max(scales):
            return _Result(task, False, reason=f"{w}x{h} is too small for x{max(scales)}")
        hr = arr
    elif task.crop:
        if h < crop_size or w < crop_size:
            return _Result(task, False, reason=f"{w}x{h} is smaller than the {crop_size}x{crop_size} crop")
        top, left = center_crop_box(h, w, crop_size)
        hr = arr[top : top + crop_size, left : left + crop_size]
    else:
        if min(h, w) < max(scales):
            return _Result(task, False, reason=f"{w}x{h} is too small for x{max(scales)}")
        hr = arr
    outputs = {f"{task.group}/hr/{task.name}.png": hr}
    for s in scales:
        outputs[f"{task.group}/lr_x{s}/{task.name}.png"] = imresize(modcrop(hr, s), 1.0 / s)
    files: dict[str, list[Any]] = {}
    for rel, img in outputs.items():
        data = encode_png(img)
        path = Path(out) / rel
        try:
            write_output(path, data)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        files[rel] = [hashlib.sha256(data).hexdigest(), len(data)]
    return _Result(task, True, note=_conversion_note(src_mode, arr), files=files)


# ----------------------------------------------------------------------------------------------------------------
# Options and helpers of the build


@dataclass(frozen=True)
class _BuildOptions:
    """Checked build options: what the outputs look like (scales, crop size) and how many threads write them."""

    scales: tuple[int, ...]  # sorted, distinct, from ALLOWED_SCALES
    crop_size: int
    workers: int  # worker threads, >= 1


def _check_options(scales: Sequence[int], crop_size: int, workers: int | None) -> _BuildOptions:
    try:
        scale_t = tuple(sorted({int(s) for s in scales}))
    except (TypeError, ValueError):
        raise UserError(f"scales must be integers from {ALLOWED_SCALES}, got {scales!r}") from None
    if not scale_t or any(s not in ALLOWED_SCALES for s in scale_t):
        raise UserError(f"scales must be chosen from {ALLOWED_SCALES}, got {tuple(scales)}")
    if int(crop_size) != crop_size or (crop_size != 0 and crop_size < 4 * max(scale_t)):
        raise UserError(f"crop size must be an integer >= {4 * max(scale_t)} for x{max(scale_t)}, or 0 (whole "
                        f"images), got {crop_size}")
    n = (os.cpu_count() or 1) if workers is None else int(workers)
    if n < 1:
        raise UserError(f"workers must be >= 1, got {workers}")
    return _BuildOptions(scales=scale_t, crop_size=int(crop_size), workers=n)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Serialise concurrent preparations of the same folder (e.g. two trainings started together), on any
    operating system (srcore.fileio.locked)."""
    with locked(out / _LOCKED):
        yield


def _imresize_probe() -> str:
    """Hash of imresize/modcrop on a fixed image: a changed resampler makes old LR images stale."""
    img = np.random.default_rng(0).integers(0, 256, size=(29, 23, 3), dtype=np.uint8)
    h = hashlib.sha256()
    for s in ALLOWED_SCALES:
        h.update(imresize(modcrop(img, s), 1.0 / s).tobytes())
    return h.hexdigest()[:16]


def _clear_managed(out: Path, rel: str) -> None:
    """Remove one managed output folder (bsd500 or benchmarks/<set>) and nothing else."""
    path = out / rel
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; refusing to clear it (remove it or use another --out)")
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# ----------------------------------------------------------------------------------------------------------------
# The public entry point


def prepare(
    source: str | Path | None = None,
    out: str | Path = "data",
    scales: Sequence[int] = (4,),
    benchmarks: Sequence[str | Path] = (),
    crop_size: int = 256,
    workers: int | None = None,
    quiet: bool = False,
    verify: bool = False,
    force: bool = False,
    url: str | None = None,
) -> dict:
    """Build (or confirm up to date) the prepared data in `out`; returns the manifest.

    source: BSR_bsds500.tgz, any level of an extracted BSR tree, or a folder with train/ val/ test/ image folders.
        None: accept an existing complete build whatever its source; to rebuild, reuse the previous build's
        folder or tarball if it still exists, else ``<out>/downloads/``, else download the official tarball
        (from `url`, default BSR_URL).
    scales: any of 2, 3, 4. benchmarks: folders of full-size images, each becoming benchmarks/<folder name>.
    workers: threads (default os.cpu_count()). verify: re-hash the outputs in the up-to-date check.
    force: rebuild even if up to date. Raises UserError for bad options or when no usable image exists.

    Output under `out` (default ``data/``)::

        bsd500/train/{hr,lr_xS}/<id>.png   center crops of BSDS500 train + test (400 images)
        bsd500/val/{hr,lr_xS}/<id>.png     center crops of BSDS500 val (100 images)
        benchmarks/BSD100/{hr,lr_xS}/      the 100 full-size val images (hr NOT modcropped)
        benchmarks/<Set>/{hr,lr_xS}/       each --benchmarks folder, full-size; gray images stay gray
        manifest.json                      written last; its presence with "complete": true marks a finished build

    Rules, chosen once and recorded in the manifest:

    * Crop: the deterministic center crop, top = (H - crop) // 2, left = (W - crop) // 2; images smaller than the
      crop in either side are skipped with a warning. Training crops are always RGB (gray replicated, alpha
      dropped).
    * LR for every folder and scale: ``lr_xS = imresize(modcrop(hr, S), 1/S)`` (MATLAB bicubic). With the default
      256 crop and S = 3 the HR crop is cut top-left to 255 before downscaling (85x85 LR); the sampler pairs lr_xS
      with modcrop(hr, S), so nothing else is needed.
    * Mode conversions and unreadable files: see srcore.imageio. Bad files are skipped with a warning naming them;
      a summary line counts written / converted / skipped images. Only a source with no usable image is an error.

    Rebuild logic: a finished build writes manifest.json last (atomically) with the options, the source, counts
    and the sha256 of every output. Running again with the same options only checks the manifest and that the
    outputs exist (``verify=True`` re-hashes them). Any other options, a missing or partial manifest, or a missing
    output rebuild: a partial manifest ("complete": false) naming the folders about to be written goes first, then
    the managed folders (``bsd500/`` and ``benchmarks/<set>/`` of this and the previous build, nothing else) are
    cleared. "Options" include the source and benchmark folders (path + names, sizes and mtimes of their images)
    and a hash of imresize's output on a fixed image, so a changed input or resampler also rebuilds. A tarball is
    extracted to a temporary folder inside `out` that is removed afterwards.
    """
    start = time.monotonic()
    opts = _check_options(scales, crop_size, workers)
    out = Path(out).expanduser()
    # Check the inputs before creating anything, so a typo leaves no empty output folder behind.
    bench = _resolve_benchmarks(benchmarks, out)
    src = _resolve_source(source, out) if source is not None else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    with _lock(out):
        key = {
            "version": PREPARE_VERSION,
            "crop": "center",
            "crop_size": opts.crop_size,
            "scales": list(opts.scales),
            "benchmarks": bench,
            "imresize_probe": _imresize_probe(),
            "source": src.identity if src else None,
        }
        old = read_manifest(out)
        if not force and _is_complete(old):
            assert old is not None
            diff = _key_diff(old.get("key", {}), key, ignore_source=src is None)
            missing = [] if diff else _missing_outputs(out, old)
            bad = _bad_checksums(out, old) if verify and not diff and not missing else []
            if not diff and not missing and not bad:
                checked = "checksums verified" if verify else "use --verify to check checksums"
                _say(f"{out} is up to date ({len(old['files'])} files; {checked}) "
                     f"[{time.monotonic() - start:.2f} s]", quiet)
                return old
            if diff:
                _say(f"options changed ({', '.join(diff)}): rebuilding {out}", quiet)
            elif missing:
                _say(f"{len(missing)} output files are missing (e.g. {missing[0]}): rebuilding {out}", quiet)
            else:
                _say(f"{len(bad)} output files fail their checksum (e.g. {bad[0]}): rebuilding {out}", quiet)
        elif old is not None and not force:
            _say(f"{out} holds an unfinished or outdated build: rebuilding", quiet)

        if src is None:
            src = _previous_source(old, out, quiet)
            if src is not None:
                key["source"] = src.identity
        tmp_dir: Path | None = None
        try:
            if src is None:
                tarball, sha = download_bsr(out / "downloads", url=url, quiet=quiet)
                st = tarball.stat()
                ident = {"kind": "download", "url": url or BSR_URL, "path": str(tarball.resolve()),
                         "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
                src = _Source(f"download {url or BSR_URL}", ident, tarball=tarball.resolve(), sha256=sha)
                key["source"] = ident
            if src.tarball is not None:
                if src.sha256 is None:  # a --source tarball; a download was checked already
                    src.sha256 = check_tarball(src.tarball)
                _say(f"source {src.tarball} (sha256 {src.sha256}): extracting images", quiet)
                tmp_dir = Path(tempfile.mkdtemp(prefix=".extract-", dir=out))
                extract_tarball(src.tarball, tmp_dir)
                found = find_split_root(tmp_dir)
                if found is None:
                    raise UserError(f"no images found in {src.tarball}: {_EXPECTED}")
                src.root, src.splits = found
            return _build(out, src, key, bench, opts, old, quiet, start)
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)


def _build(
    out: Path,
    src: _Source,
    key: dict,
    bench: list[dict[str, Any]],
    opts: _BuildOptions,
    old: dict | None,
    quiet: bool,
    start: float,
) -> dict:
    assert src.splits is not None
    splits = src.splits
    for s in SPLITS:
        if s not in splits:
            _warn(f"{src.description} has no {s}/ folder of images")

    # Which source files go where.
    groups: list[tuple[str, list[tuple[str, Path]], bool]] = [
        (TRAIN_GROUP, [(s, p) for s in ("train", "test") if s in splits for p in list_images(splits[s])], True),
        (VAL_GROUP, [("val", p) for p in list_images(splits["val"])] if "val" in splits else [], True),
        (f"benchmarks/{BSD100}", [("val", p) for p in list_images(splits["val"])] if "val" in splits else [], False),
    ]
    for b in bench:
        files = list_images(b["path"])
        if not files:
            _warn(f"benchmark folder {b['path']} has no images; {b['name']} is left empty")
        groups.append((f"benchmarks/{b['name']}", [("", p) for p in files], False))
    tasks = [
        _Task(str(p), group, name, crop)
        for group, entries, crop in groups
        for (_, p), name in zip(entries, _assign_names(entries))
    ]

    # The partial manifest goes first: if this run dies, the next one sees "complete": false and which folders
    # it must clear, including benchmark sets that a finished manifest never listed.
    managed = [PREPARED_DIR, f"benchmarks/{BSD100}"] + [f"benchmarks/{b['name']}" for b in bench]
    to_clear = sorted(set(managed) | set(_managed_from(old)))
    _write_manifest(out, {"format": MANIFEST_FORMAT, "version": PREPARE_VERSION, "complete": False,
                          "managed": to_clear, "key": key})
    for rel in to_clear:
        _clear_managed(out, rel)

    results: list[_Result] = []
    with tqdm(total=len(tasks), desc="prepare", unit="img", disable=quiet, file=sys.stderr) as bar:
        def _run(task: _Task) -> _Result:
            return _process(task, str(out), opts.crop_size, opts.scales)

        # Threads, not processes: PNG/JPEG codecs, zlib and numpy release the GIL, so two threads give most of
        # the speed-up of two processes without fork/spawn problems when trains.py has torch or TF loaded.
        if opts.workers > 1:
            pool = ThreadPoolExecutor(max_workers=opts.workers)
            try:
                results = _collect(pool.map(_run, tasks), bar)
            finally:
                # On an error or Ctrl-C, drop the queued images instead of waiting for all of them.
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            results = _collect(map(_run, tasks), bar)

    counts = {group: 0 for group, _, _ in groups}
    files: dict[str, list[Any]] = {}
    skipped, converted = [], []
    for r in results:
        if r.ok:
            counts[r.task.group] += 1
            assert r.files is not None
            files.update(r.files)
            if r.note:
                converted.append({"file": r.task.src, "group": r.task.group, "note": r.note})
        else:
            skipped.append({"file": r.task.src, "group": r.task.group, "reason": r.reason})

    source_ok = counts[TRAIN_GROUP] + counts[VAL_GROUP]
    n_source = sum(len(entries) for group, entries, _ in groups[:2])
    if source_ok == 0:
        raise UserError(f"no usable images in {src.description}: {n_source} image files found, all skipped "
                        f"(see the warnings above); {_EXPECTED}")
    if counts[TRAIN_GROUP] == 0:
        _warn(f"no usable training images in {src.description}: {TRAIN_GROUP} is empty")

    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\t{files[rel][0]}\n".encode())
    elapsed = time.monotonic() - start
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": PREPARE_VERSION,
        "complete": True,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "key": key,
        "options": {
            "scales": list(opts.scales),
            "crop_size": opts.crop_size,
            "crop": "center: top=(H-crop)//2, left=(W-crop)//2; training crops RGB",
            "lr": "imresize(modcrop(hr, s), 1/s), MATLAB bicubic",
            "benchmarks": [b["name"] for b in bench],
        },
        "source": {"description": src.description, **src.identity,
                   **({"sha256": src.sha256} if src.sha256 else {}),
                   "splits": {s: str(p.relative_to(src.root)) if src.root else str(p) for s, p in splits.items()}},
        "managed": managed,
        "counts": counts,
        "skipped": skipped,
        "converted": converted,
        "files": dict(sorted(files.items())),
        "digest": digest.hexdigest(),
        "elapsed_s": round(elapsed, 2),
    }
    _write_manifest(out, manifest)
    per_group = ", ".join(f"{g} {n}" for g, n in counts.items())
    _say(f"summary: {len(tasks)} images read, {len(tasks) - len(skipped)} written ({per_group}), "
         f"{len(converted)} converted, {len(skipped)} skipped", quiet)
    if quiet and (skipped or converted):
        # Warnings are printed even when quiet; make sure their count is too.
        _warn(f"{len(converted)} images converted, {len(skipped)} skipped")
    _say(f"prepared {out} in {elapsed:.1f} s", quiet)
    return manifest


def _collect(results: Iterable[_Result], bar: tqdm) -> list[_Result]:
    collected = []
    for r in results:
        if not r.ok:
            _warn(f"skipped {r.task.src}: {r.reason}")
        elif r.note:
            _warn(f"{r.task.src}: {r.note}")
        collected.append(r)
        bar.update(1)
    return collected
