"""How a worker process of a multi-process run ends: its backend's teardown, then os._exit with the command's
exit code, without the interpreter's finalization.

Why: CPython before 3.14 ends every thread that asks for the GIL once finalization has begun with
pthread_exit. A C++ thread of a collective-communication library (gloo's worker threads in PyTorch) that drops
the last reference to the tensor of a finished collective asks for the GIL to free its Python object; the forced
unwinding of pthread_exit through C++ code marked noexcept then calls std::terminate ("terminate called without
an active exception", SIGABRT), after a run that had finished and written everything. Tearing the process group
down first (destroy_process_group) narrows that window but does not close it: its worker threads live as long as
a DistributedDataParallel model holds the group. Measured with a two-worker gloo job (DDP, a few steps, then
exit) on 2 CPU cores: 1 abort in 30 runs without the teardown, 1 in 60 with it, none in 120 with this exit.

A backend registers its teardown with `on_exit` when it joins a process group; entry scripts end through
`srcore.errors.run_cli`, which calls `leave` with the exit code. A process that registered nothing returns the
code as usual (one-process runs, and the tests that call a command's main in their own process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

_TEARDOWNS: list[Callable[[], None]] = []


def on_exit(teardown: Callable[[], None]) -> None:
    """Run `teardown` when this worker process leaves through `leave`, and end it there with os._exit."""
    _TEARDOWNS.append(teardown)


def registered() -> bool:
    """True once a backend has asked that this process end through `leave` (it joined a process group)."""
    return bool(_TEARDOWNS)


def leave(code: int) -> int:
    """Return `code` in a process that registered nothing; otherwise run the teardowns (last registered first),
    flush what is buffered (standard streams, logging) and end the process with `code` at once."""
    if not _TEARDOWNS:
        return code
    while _TEARDOWNS:
        teardown = _TEARDOWNS.pop()
        try:
            teardown()
        except Exception as e:  # the run's results are written; a failed teardown must not hide its exit code
            print(f"warning: leaving the process group failed: {e}", file=sys.stderr)
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be written to it anyway
            pass
    os._exit(code)
