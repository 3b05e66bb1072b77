"""srcore.malloc: a training step's freed buffers stay with the process instead of being faulted in again each step,
and a user's own malloc tunables are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from srcore.malloc import glibc_mallopt, user_tunes_malloc

REPO = Path(__file__).resolve().parents[1]

# One "step" of eight MB-sized buffers alive together, then freed, 20 times: the page faults it takes.
STEPS = """
import resource, numpy as np
from srcore.malloc import keep_freed_memory
applied = keep_freed_memory()
def step():
    bufs = [np.ones((n << 20) // 8) for n in (3, 9, 5, 12, 7, 2, 9, 4)]
    return sum(float(b[0]) for b in bufs)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(extra_env: dict[str, str]) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if not user_tunes_malloc({k: v})}
    env.update(extra_env, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(glibc_mallopt() is None, reason="glibc's malloc only")
def test_freed_step_buffers_are_not_faulted_in_again() -> None:
    applied, tuned = _faults({})
    # MALLOC_TOP_PAD_ at glibc's own default: the user's setting, so nothing is changed (glibc's behaviour)
    left, default = _faults({"MALLOC_TOP_PAD_": "131072"})
    assert applied and not left
    assert default > 20 * 2000  # glibc's defaults fault the step's buffers in again (measured: 87,540)
    assert tuned < default / 20  # measured: 0


def test_user_tunables_are_recognised() -> None:
    assert user_tunes_malloc({"MALLOC_ARENA_MAX": "2"}) and user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.x=1"})
    assert not user_tunes_malloc({"PATH": "/bin", "MY_MALLOC": "1"})
