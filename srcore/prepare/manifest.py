"""manifest.json, the record of a build: reading and writing it, and the checks built on it (is a build
complete, are its outputs all there and intact, which options changed, which folders it manages)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from srcore.data import PREPARED_DIR
from srcore.fileio import atomic_write_text
from srcore.prepare.sources import _valid_set_name

# Bump when the output of a build changes for the same options (forces a rebuild of existing data folders).
PREPARE_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "srgan-prepared-data"


def _manifest_path(out: Path) -> Path:
    return out / MANIFEST_NAME


def read_manifest(out: str | Path) -> dict | None:
    """The manifest of `out` if it exists and parses (complete or not), else None."""
    try:
        data = json.loads(_manifest_path(Path(out)).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    return data


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
    """Managed folders named by an earlier manifest, keeping only names this package could have written."""
    if not manifest or not isinstance(manifest.get("managed"), list):
        return []
    keep = []
    for rel in manifest["managed"]:
        if rel == PREPARED_DIR:
            keep.append(rel)
        elif isinstance(rel, str) and rel.startswith("benchmarks/") and _valid_set_name(rel.split("/", 1)[1]):
            keep.append(rel)
    return keep


def _key_diff(old: dict, new: dict, ignore_source: bool) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k) and not (ignore_source and k == "source")]
