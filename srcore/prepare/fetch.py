"""Getting the BSDS500 tarball: downloading the official BSR_bsds500.tgz, checking an archive end to end, and
extracting only its split images, refusing any archive with a member that could land outside the target."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from srcore.errors import UserError
from srcore.imageio import IMAGE_EXTENSIONS
from srcore.prepare.messages import _say, _warn
from srcore.prepare.sources import _EXPECTED, SPLITS

BSR_URL = "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
TARBALL_NAME = "BSR_bsds500.tgz"
# The official archive, pinned: 70,763,455 bytes (the size several public loaders check, e.g. tensorpack's
# dataflow/dataset/bsds500.py) and this SHA-256 (as pinned by a public byte-verified fetch script). A download
# from BSR_URL that differs is refused: plain mirrors and redirects can serve anything.
BSR_SHA256 = "97e49d31764f3912f0c4122707d53062ac9e783ba0f095e447a4d53c1a41af8e"
BSR_BYTES = 70_763_455


def _one_line(exc: object) -> str:
    """First line of an error's text (tarfile and urllib messages can span several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------------------------
# Checking and extracting a tarball


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
    """Regular image files directly inside a train/ val/ or test/ folder: all this package reads from a tarball."""
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


# ----------------------------------------------------------------------------------------------------------------
# Download


def download_bsr(dest_dir: str | Path, url: str | None = None, quiet: bool = False) -> tuple[Path, str]:
    """Download BSR_bsds500.tgz into `dest_dir` (reusing a complete earlier download); returns (path, sha256).

    Streams to ``<name>.part`` and renames only once complete and checked; any failure is a one-line UserError
    telling the user to fetch the file by hand.
    """
    url = url or BSR_URL
    dest_dir = Path(dest_dir)
    dest = dest_dir / TARBALL_NAME
    by_hand = f"download {TARBALL_NAME} by hand (from that address or a mirror) and pass --source /path/to/it"
    pinned = url == BSR_URL  # another --url is the user's own choice of archive
    if dest.is_file():
        try:
            sha = check_tarball(dest)
            _check_pinned(dest, sha, pinned)
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
    try:
        _check_pinned(part, sha, pinned)
    except UserError as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"{exc}; {by_hand}") from None
    os.replace(part, dest)
    _say(f"downloaded {dest} ({size} bytes, sha256 {sha})", quiet)
    return dest, sha


def _check_pinned(path: Path, sha: str, pinned: bool) -> None:
    """UserError unless the official archive's size and SHA-256 (when `pinned`: downloaded from BSR_URL)."""
    if pinned and (sha != BSR_SHA256 or path.stat().st_size != BSR_BYTES):
        raise UserError(f"{path} is not the official {TARBALL_NAME} (sha256 {sha}, {path.stat().st_size} bytes; "
                        f"expected {BSR_SHA256}, {BSR_BYTES} bytes)")
