"""Atomic file writes: a crash or SIGKILL mid-write never leaves a half-written file under the real name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from srcore.errors import UserError

# Read once at import: os.umask can only be read by setting it, which is not thread-safe later on.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success it replaces `path` in one rename.

    `durable` fsyncs before the rename, so the file survives a power cut too; bulk outputs that a
    manifest protects (thousands of PNGs) skip it, since the fsyncs would dominate their cost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the final suffix so libraries that look at it (h5py, Keras, PIL) still work.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes))
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_writable(folder: str | Path, what: str) -> Path:
    """UserError unless files can be created in `folder` (made later if missing): checked before any work."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"{what} {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{what} {folder}: cannot write into {probe} (permission denied)")
    return folder


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """An exclusive lock on `path`.lock for a read-modify-write of `path` (several processes, one machine)."""
    import fcntl

    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that atomic_path left in `folder` when its process was killed mid-write."""
    removed = []
    for p in Path(folder).glob(".*.tmp*"):
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)

