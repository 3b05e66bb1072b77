"""User-facing errors: entry scripts print them as one line and exit 2, never a traceback."""

from __future__ import annotations

from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (file, option, data) that they can fix."""


class Interrupted(Exception):
    """Work stopped by a signal, cleanly: the message says what was kept and how to continue."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_cli(fn: Callable[[], object], interrupted: str = "interrupted") -> int:
    """Run an entry script's work: a UserError becomes one `error:` line and exit code 2, never a traceback.

    A worker of a multi-process run (it registered a teardown with srcore.worker_exit) ends here, with the exit
    code, without the interpreter's finalization; an unexpected exception there is printed and exits 1."""
    from srcore.worker_exit import leave, registered

    try:
        code = _run(fn, interrupted)
    except Exception:
        if not registered():
            raise
        import traceback

        traceback.print_exc()
        code = 1
    return leave(code)


def _run(fn: Callable[[], object], interrupted: str) -> int:
    import sys

    try:
        fn()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(f"error: no space left on the device{where}; free some space and run the command again",
              file=sys.stderr)
        return 2
    return 0
