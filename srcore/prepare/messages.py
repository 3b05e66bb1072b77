"""What the preparation prints: info lines on stdout (silenced by quiet) and warnings on stderr (always shown),
both through tqdm so that they do not break a running progress bar."""

from __future__ import annotations

import sys

from tqdm import tqdm


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        tqdm.write(msg, file=sys.stdout)


def _warn(msg: str) -> None:
    tqdm.write(f"warning: {msg}", file=sys.stderr)
