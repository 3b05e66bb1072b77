"""Atomic file writes: a crash or SIGKILL mid-write never leaves a half-written file under the real name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    except Exception as e:
        if _disk_full(e, path.parent):
            raise DiskFull(f"no space left on the device of {path.parent}: {path.name} was not written (an earlier "
                           f"{path.name}, if any, is intact); free some space and run the command again") from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class DiskFull(UserError):
    """A write failed because its device is full."""


def _disk_full(e: Exception, folder: Path) -> bool:
    """Whether a failed write ran out of space: ENOSPC, or a library's own error for it (torch.save reports a
    short write as "RuntimeError: [enforce fail at inline_container.cc] unexpected pos") on a full device."""
    import errno
    import shutil

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(e):
        return True
    try:
        return isinstance(e, RuntimeError) and shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


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
    """An exclusive lock on `path`.lock for a read-modify-write of `path` (several processes, one machine): the
    operating system's lock through `filelock` (flock on POSIX, msvcrt on Windows), waited for."""
    from filelock import FileLock

    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        yield


LOCK_FILE = ".lock"  # inside a folder that one process at a time may write (a run folder)


class FolderInUse(UserError):
    """Another live process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "folder") -> Iterator[None]:
    """Hold an exclusive lock on `folder` (its .lock file, with the holder's PID in it) while inside.

    The lock is the operating system's (flock; msvcrt on Windows), so it ends with its process however that
    dies: the lock of a dead process is taken over, never stale. A second holder is refused at once with a
    FolderInUse naming the first one's PID.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    f = open(path, "a+")  # "a+": opening must not erase the holder's PID before the lock is tried
    try:
        if not _try_lock(f):
            f.seek(0)
            pid = f.read().strip() or "unknown"
            raise FolderInUse(f"{what} {folder} is in use by another process (PID {pid}); wait for it to finish, "
                              f"or use another folder")
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        f.close()  # closing releases the lock


def _try_lock(f: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


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

