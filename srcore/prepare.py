"""Prepare BSDS500 training crops and benchmark sets (used by prepare_bsd500.py and by trains.py).

Output under `out` (default ``data/``)::

    bsd500/train/{hr,lr_xS}/<id>.png   center crops of BSDS500 train + test (400 images)
    bsd500/val/{hr,lr_xS}/<id>.png     center crops of BSDS500 val (100 images)
    benchmarks/BSD100/{hr,lr_xS}/      the 100 full-size val images (hr NOT modcropped)
    benchmarks/<Set>/{hr,lr_xS}/       each --benchmarks folder, full-size; gray images stay gray
    manifest.json                      written last; its presence with "complete": true marks a finished build

Rules, chosen once and recorded in the manifest:

* Crop: the deterministic center crop, top = (H - crop) // 2, left = (W - crop) // 2; images smaller than the crop
  in either side are skipped with a warning. Training crops are always RGB (gray replicated, alpha dropped).
* LR for every folder and scale: ``lr_xS = imresize(modcrop(hr, S), 1/S)`` (MATLAB bicubic). With the default
  256 crop and S = 3 the HR crop is cut top-left to 255 before downscaling (85x85 LR); the sampler pairs lr_xS with
  modcrop(hr, S), so nothing else is needed.
* Mode conversions and unreadable files: see srcore.imageio. Bad files are skipped with a warning naming them; a
  summary line counts written / converted / skipped images. Only a source with no usable image is an error.

Rebuild logic: a finished build writes manifest.json last (atomically) with the options, the source, counts and
the sha256 of every output. Running again with the same options only checks the manifest and that the outputs
exist (``verify=True`` re-hashes them). Any other options, a missing or partial manifest, or a missing output
rebuild: a partial manifest ("complete": false) naming the folders about to be written goes first, then the managed
folders (``bsd500/`` and ``benchmarks/<set>/`` of this and the previous build, nothing else) are cleared.
"Options" include the source and benchmark folders (path + names, sizes and mtimes of their images) and a hash of
imresize's output on a fixed image, so a changed input or resampler also rebuilds. A tarball is extracted to a
temporary folder inside `out` that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from tqdm import tqdm

from srcore.color import modcrop
from srcore.errors import UserError
from srcore.fileio import atomic_write_bytes, atomic_write_text
from srcore.imageio import IMAGE_EXTENSIONS, ImageError, encode_png, list_images, read_image
from srcore.imresize import imresize

# Bump when the output of a build changes for the same options (forces a rebuild of existing data folders).
PREPARE_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "srgan-prepared-data"
BSR_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
TARBALL_NAME = "BSR_bsds500.tgz"
SPLITS = ("train", "val", "test")
ALLOWED_SCALES = (2, 3, 4)
BSD100 = "BSD100"
TRAIN_GROUP = "bsd500/train"
VAL_GROUP = "bsd500/val"
_LOCK_NAME = ".prepare.lock"
_EXPECTED = "expected train/, val/, test/ folders of .jpg/.png images, a BSR tree or BSR_bsds500.tgz"
# Search depth below --source for the split folders (BSR/BSDS500/data/images is 4 levels down).
_MAX_SEARCH_DEPTH = 6
_MAX_SEARCH_DIRS = 5000


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


def _process(task: _Task, out: str, crop_size: int, scales: tuple[int, ...]) -> _Result:
    """Load one source image and write its HR (crop or full) and LR images; never raises for bad input."""
    try:
        arr, src_mode = read_image(task.src, mode="rgb" if task.crop else "auto")
    except ImageError as exc:
        return _Result(task, False, reason=f"unreadable ({exc.reason})")
    h, w = arr.shape[:2]
    if task.crop:
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
# Finding the images in a folder or a tarball


def _has_images(folder: Path) -> bool:
    try:
        return folder.is_dir() and bool(list_images(folder))
    except (UserError, OSError):
        return False


def _split_dirs(folder: Path) -> dict[str, Path]:
    return {s: folder / s for s in SPLITS if _has_images(folder / s)}


def find_split_root(path: str | Path) -> tuple[Path, dict[str, Path]] | None:
    """The folder holding train/ val/ test/ image folders at or below `path` (any level of a BSR tree).

    Pointing at a split folder itself (``.../images/train``) uses its parent. Among several candidates the one
    with the most splits wins, then the shallowest. None when nothing is found.
    """
    path = Path(path).resolve()
    if path.name in SPLITS and _split_dirs(path.parent):
        path = path.parent
    best: tuple[int, int, Path, dict[str, Path]] | None = None
    queue = deque([(path, 0)])
    visited = 0
    while queue and visited < _MAX_SEARCH_DIRS:
        folder, depth = queue.popleft()
        visited += 1
        splits = _split_dirs(folder)
        if splits and (best is None or (len(splits), -depth) > (best[0], best[1])):
            best = (len(splits), -depth, folder, splits)
        if depth >= _MAX_SEARCH_DEPTH or len(splits) == len(SPLITS):
            continue
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        queue.extend((c, depth + 1) for c in children if c.name not in SPLITS)
    return None if best is None else (best[2], best[3])


def _unsafe_member_reason(member: tarfile.TarInfo) -> str:
    """Why extracting `member` could write outside the target folder ('' if it cannot)."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        return "absolute path"
    if ".." in parts:
        return "'..' in path"
    if member.issym() or member.islnk():
        link = member.linkname
        if link.startswith(("/", "\\")) or os.path.isabs(link):
            return f"link to absolute path {link!r}"
        # Symlinks resolve from the member's folder, hard links from the archive root.
        base = PurePosixPath(name).parent if member.issym() else PurePosixPath()
        depth = 0
        for part in (base / link).parts:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                return f"link {link!r} escapes the archive"
    return ""


def _is_wanted_member(member: tarfile.TarInfo) -> bool:
    """Regular image files directly inside a train/ val/ or test/ folder: all this module reads from a tarball."""
    p = PurePosixPath(member.name)
    return member.isfile() and p.suffix.lower() in IMAGE_EXTENSIONS and p.parent.name in SPLITS


def check_tarball(path: str | Path) -> str:
    """Check a (gzipped) tar archive end to end and return its sha256; UserError if it is damaged."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if head == b"\x1f\x8b":
            # Decompress to the end: this checks the gzip CRC and length, which tarfile alone may never reach.
            with gzip.open(path, "rb") as g:
                while g.read(1 << 20):
                    pass
        with tarfile.open(path, "r:*") as tar:
            tar.getmembers()
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise UserError(f"{path} is not a readable tar archive ({_one_line(exc)}): {_EXPECTED}") from None
    return digest.hexdigest()


def extract_tarball(tarball: str | Path, target: str | Path) -> int:
    """Safely extract the images of a BSR-style tarball into `target`; returns the number of files extracted.

    Every member is checked before anything is written: an absolute path, a '..' component or a link that
    escapes the archive makes the whole archive refused (UserError). Only regular image files inside
    train/ val/ test/ folders are extracted, with tarfile's 'data' filter where this Python has it.
    """
    target = Path(target).resolve()
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                reason = _unsafe_member_reason(m)
                if reason:
                    raise UserError(f"refusing unsafe tar archive {tarball}: member {m.name!r} ({reason})")
            wanted = [m for m in members if _is_wanted_member(m)]
            for m in wanted:
                # Own check in addition to the filter: the resolved destination must stay inside the target.
                dest = Path(os.path.realpath(target / m.name))
                if os.path.commonpath([dest, target]) != str(target):
                    raise UserError(f"refusing unsafe tar archive {tarball}: member {m.name!r} leaves {target}")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, members=wanted, filter="data")
            else:  # Python < 3.11.4: members were all checked above
                tar.extractall(target, members=wanted)
    except UserError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise UserError(f"cannot extract {tarball} ({_one_line(exc)}): {_EXPECTED}") from None
    return len(wanted)


def download_bsr(dest_dir: str | Path, url: str | None = None, quiet: bool = False) -> tuple[Path, str]:
    """Download BSR_bsds500.tgz into `dest_dir` (reusing a complete earlier download); returns (path, sha256).

    Streams to ``<name>.part`` and renames only once complete and checked; any failure is a one-line UserError
    telling the user to fetch the file by hand.
    """
    url = url or BSR_URL
    dest_dir = Path(dest_dir)
    dest = dest_dir / TARBALL_NAME
    by_hand = f"download {TARBALL_NAME} by hand (from that address or a mirror) and pass --source /path/to/it"
    if dest.is_file():
        try:
            sha = check_tarball(dest)
            _say(f"using earlier download {dest} (sha256 {sha})", quiet)
            return dest, sha
        except UserError as exc:
            _warn(f"{exc}; downloading it again")
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {TARBALL_NAME}",
                      disable=quiet, file=sys.stderr) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
        size = part.stat().st_size
        if total is not None and size != total:
            raise OSError(f"incomplete: got {size} of {total} bytes")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"could not download {url} ({_one_line(reason)}); {by_hand}") from None
    try:
        sha = check_tarball(part)
        with open(part, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                raise UserError("not a gzip file")
    except UserError:
        part.unlink(missing_ok=True)
        raise UserError(f"the download from {url} is not a valid {TARBALL_NAME}; {by_hand}") from None
    os.replace(part, dest)
    _say(f"downloaded {dest} ({size} bytes, sha256 {sha})", quiet)
    return dest, sha


# ----------------------------------------------------------------------------------------------------------------
# Manifest


def _manifest_path(out: Path) -> Path:
    return out / MANIFEST_NAME


def read_manifest(out: str | Path) -> dict | None:
    """The manifest of `out` if it exists and parses (complete or not), else None."""
    try:
        data = json.loads(_manifest_path(Path(out)).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    return data


def write_output(path: Path, data: bytes) -> None:
    """One prepared image: atomic but not fsynced; the manifest, written last and durably, covers the rest."""
    atomic_write_bytes(path, data, durable=False)


def _write_manifest(out: Path, manifest: dict) -> None:
    """Atomic and durable: the manifest is what says a build is finished, so it must never be half-written."""
    atomic_write_text(_manifest_path(out), json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _is_complete(manifest: dict | None) -> bool:
    return bool(manifest) and manifest.get("complete") is True and manifest.get("version") == PREPARE_VERSION


def _missing_outputs(out: Path, manifest: dict) -> list[str]:
    files = manifest.get("files")
    if not isinstance(files, dict):
        return ["<no file list>"]
    return [rel for rel in files if not (out / rel).is_file()]


def _bad_checksums(out: Path, manifest: dict) -> list[str]:
    bad = []
    for rel, (sha, _size) in manifest["files"].items():
        try:
            if hashlib.sha256((out / rel).read_bytes()).hexdigest() != sha:
                bad.append(rel)
        except OSError:
            bad.append(rel)
    return bad


def is_prepared(out: str | Path = "data", scales: Sequence[int] = (4,)) -> bool:
    """True if `out` holds a complete build (current version) that has every scale in `scales`.

    Checks the manifest and that every output it lists exists; no hashing, so it is cheap.
    """
    out = Path(out)
    manifest = read_manifest(out)
    if not _is_complete(manifest):
        return False
    assert manifest is not None
    have = set(manifest.get("options", {}).get("scales", []))
    if not set(int(s) for s in scales) <= have:
        return False
    return not _missing_outputs(out, manifest)


def _managed_from(manifest: dict | None) -> list[str]:
    """Managed folders named by an earlier manifest, keeping only names this module could have written."""
    if not manifest or not isinstance(manifest.get("managed"), list):
        return []
    keep = []
    for rel in manifest["managed"]:
        if rel == "bsd500":
            keep.append(rel)
        elif isinstance(rel, str) and rel.startswith("benchmarks/") and _valid_set_name(rel.split("/", 1)[1]):
            keep.append(rel)
    return keep


def _valid_set_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") and not name.startswith(".")


# ----------------------------------------------------------------------------------------------------------------
# Helpers


def _one_line(exc: object) -> str:
    """First line of an error's text (tarfile and urllib messages can span several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        tqdm.write(msg, file=sys.stdout)


def _warn(msg: str) -> None:
    tqdm.write(f"warning: {msg}", file=sys.stderr)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Serialise concurrent preparations of the same folder (e.g. two trainings started together)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    with open(out / _LOCK_NAME, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _folder_fingerprint(files: Iterable[Path]) -> str:
    """Cheap change detector for an input folder: names, sizes and modification times of its images."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


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


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _assign_names(entries: list[tuple[str, Path]]) -> list[str]:
    """Output stems for (split, file) pairs going into one folder: the file stem, made unique if it clashes."""
    stems = Counter(p.stem for _, p in entries)
    names = [p.stem if stems[p.stem] == 1 else f"{split}_{p.stem}_{p.suffix[1:].lower()}" for split, p in entries]
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


@dataclass
class _Source:
    description: str
    identity: dict[str, Any]  # what the up-to-date check compares
    root: Path | None = None  # split root (filled for folders; for tarballs after extraction)
    splits: dict[str, Path] | None = None
    tarball: Path | None = None
    sha256: str | None = None  # of the tarball, recorded in the manifest (not part of the up-to-date key)


def _resolve_source(source: str | Path, out: Path) -> _Source:
    """Identify --source cheaply (no extraction): a folder's split root, or a tarball's path/size/mtime."""
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"source {path} does not exist: {_EXPECTED}")
    if path.is_file():
        st = path.stat()
        ident = {"kind": "tarball", "path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        return _Source(f"tarball {path.resolve()}", ident, tarball=path.resolve())
    found = find_split_root(path)
    if found is None:
        raise UserError(f"no images found in {path}: {_EXPECTED}")
    root, splits = found
    for managed in (out / "bsd500", out / "benchmarks"):
        if _inside(root, managed):
            raise UserError(f"source {root} is inside the output folder {managed}, which a rebuild clears")
    files = [f for s in SPLITS if s in splits for f in list_images(splits[s])]
    ident = {"kind": "folder", "path": str(root), "splits": sorted(splits), "fingerprint": _folder_fingerprint(files)}
    return _Source(f"folder {root}", ident, root=root, splits=splits)


def _previous_source(old: dict | None, out: Path, quiet: bool) -> _Source | None:
    """With no --source, rebuild from the folder or tarball the previous build used if it is still there."""
    prev = (old or {}).get("key", {}).get("source") or {}
    if prev.get("kind") not in ("folder", "tarball") or not isinstance(prev.get("path"), str):
        return None
    try:
        src = _resolve_source(prev["path"], out)
    except (UserError, OSError):
        return None
    _say(f"no --source given: reusing the previous build's source {prev['path']}", quiet)
    return src


def _resolve_benchmarks(benchmarks: Sequence[str | Path], out: Path) -> list[dict[str, Any]]:
    sets = []
    names: set[str] = set()
    for b in benchmarks:
        path = Path(b).expanduser()
        if not path.is_dir():
            raise UserError(f"benchmark folder {path} does not exist (expected a folder of .png/.jpg images)")
        path = path.resolve()
        name = path.name
        if name == BSD100:
            raise UserError(f"benchmark name {BSD100} is reserved for the BSDS500 val images; rename {path}")
        if not _valid_set_name(name):
            raise UserError(f"cannot use {path} as a benchmark folder: its name {name!r} is not usable")
        if name in names:
            raise UserError(f"two benchmark folders are named {name}; each set is named after its folder")
        if _inside(path, out / "benchmarks") or _inside(path, out / "bsd500"):
            raise UserError(f"benchmark folder {path} is inside {out}, which a rebuild clears; use the original")
        names.add(name)
        files = list_images(path)
        sets.append({"name": name, "path": str(path), "fingerprint": _folder_fingerprint(files)})
    return sorted(sets, key=lambda d: d["name"])


def _check_options(scales: Sequence[int], crop_size: int, workers: int | None) -> tuple[tuple[int, ...], int]:
    try:
        scale_t = tuple(sorted({int(s) for s in scales}))
    except (TypeError, ValueError):
        raise UserError(f"scales must be integers from {ALLOWED_SCALES}, got {scales!r}") from None
    if not scale_t or any(s not in ALLOWED_SCALES for s in scale_t):
        raise UserError(f"scales must be chosen from {ALLOWED_SCALES}, got {tuple(scales)}")
    if int(crop_size) != crop_size or crop_size < 4 * max(scale_t):
        raise UserError(f"crop size must be an integer >= {4 * max(scale_t)} for x{max(scale_t)}, got {crop_size}")
    n = (os.cpu_count() or 1) if workers is None else int(workers)
    if n < 1:
        raise UserError(f"workers must be >= 1, got {workers}")
    return scale_t, n


def _key_diff(old: dict, new: dict, ignore_source: bool) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k) and not (ignore_source and k == "source")]


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
    """
    start = time.monotonic()
    scale_t, n_workers = _check_options(scales, crop_size, workers)
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
            "crop_size": int(crop_size),
            "scales": list(scale_t),
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
            return _build(out, src, key, bench, scale_t, int(crop_size), n_workers, old, quiet, start)
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)


def _build(
    out: Path,
    src: _Source,
    key: dict,
    bench: list[dict[str, Any]],
    scales: tuple[int, ...],
    crop_size: int,
    workers: int,
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
    managed = ["bsd500", f"benchmarks/{BSD100}"] + [f"benchmarks/{b['name']}" for b in bench]
    to_clear = sorted(set(managed) | set(_managed_from(old)))
    _write_manifest(out, {"format": MANIFEST_FORMAT, "version": PREPARE_VERSION, "complete": False,
                          "managed": to_clear, "key": key})
    for rel in to_clear:
        _clear_managed(out, rel)

    results: list[_Result] = []
    with tqdm(total=len(tasks), desc="prepare", unit="img", disable=quiet, file=sys.stderr) as bar:
        def _run(task: _Task) -> _Result:
            return _process(task, str(out), crop_size, scales)

        # Threads, not processes: PNG/JPEG codecs, zlib and numpy release the GIL, so two threads give most of
        # the speed-up of two processes without fork/spawn problems when trains.py has torch or TF loaded.
        if workers > 1:
            pool = ThreadPoolExecutor(max_workers=workers)
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
            "scales": list(scales),
            "crop_size": crop_size,
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
