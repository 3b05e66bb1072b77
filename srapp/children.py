"""Child processes of the project's own commands (benchmark.py's measurements), the same from a clone and from an
installed package: `python -m srapp.commands.<name>` with the project on the child's import path."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the folder that holds srapp/, srcore/, ... (a clone or site-packages)


def command(name: str, *args: str, workers: int = 1) -> list[str]:
    """The command line of srapp.commands.`name` with `args`; `workers` > 1: under torchrun, one process each."""
    if workers > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(workers),
                "-m", f"srapp.commands.{name}", *args]
    return [sys.executable, "-m", f"srapp.commands.{name}", *args]


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the project first on PYTHONPATH, whatever the child's working folder."""
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), out.get("PYTHONPATH", "")) if p)
    return out
