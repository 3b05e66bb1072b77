"""Where the images come from: finding the train/ val/ test/ split folders in a tree, resolving --source and
--benchmarks into what the up-to-date check compares, and naming the output files and sets."""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srcore.data import PREPARED_DIR
from srcore.errors import UserError
from srcore.imageio import list_images
from srcore.prepare.messages import _say

SPLITS = ("train", "val", "test")
BSD100 = "BSD100"
_EXPECTED = "expected train/, val/, test/ folders of .jpg/.png images, a BSR tree or BSR_bsds500.tgz"
# Search depth below --source for the split folders (BSR/BSDS500/data/images is 4 levels down).
_MAX_SEARCH_DEPTH = 6
_MAX_SEARCH_DIRS = 5000


# ----------------------------------------------------------------------------------------------------------------
# Finding the images in a folder


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


# ----------------------------------------------------------------------------------------------------------------
# Resolving --source and --benchmarks


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
    for managed in (out / PREPARED_DIR, out / "benchmarks"):
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
        if _inside(path, out / "benchmarks") or _inside(path, out / PREPARED_DIR):
            raise UserError(f"benchmark folder {path} is inside {out}, which a rebuild clears; use the original")
        names.add(name)
        files = list_images(path)
        sets.append({"name": name, "path": str(path), "fingerprint": _folder_fingerprint(files)})
    return sorted(sets, key=lambda d: d["name"])


def _folder_fingerprint(files: Iterable[Path]) -> str:
    """Cheap change detector for an input folder: names, sizes and modification times of its images."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


# ----------------------------------------------------------------------------------------------------------------
# Naming


def _valid_set_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") and not name.startswith(".")


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
