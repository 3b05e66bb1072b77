"""glibc's malloc kept from handing a training step's freed buffers back to the kernel, framework-free.

A CPU training step allocates and frees the same large activation and gradient buffers (MBs each) every step.
With glibc's defaults, blocks above its mmap threshold are mmap-ed and munmap-ed each time, and the heap's top is
trimmed whenever 128 KB or more is free, so every step faults its buffers in again page by page. Measured on a
2-core AMD EPYC (results/speed.md): 800 steps of the series' smallest model (torch) took 10.2 million page faults
and 35 s of kernel time in 93 s with glibc's defaults, 0.46 million and 2.4 s in 74 s with the settings below;
the SRResNet and SRGAN steps ran 1.2x faster in torch and 1.35x in Keras. The price: freed memory stays with the
process, 17-20% more peak memory in torch and 20-40% in Keras.

Applied with mallopt(3) at start-up, so it needs no environment variable before Python starts. A process whose
environment sets any MALLOC_* variable or GLIBC_TUNABLES (glibc's own tunables) is left as its user configured
it; so is any C library other than glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

# mallopt(3) parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit (HEAP_MAX_SIZE / 2): a larger block is mmap-ed whatever one asks
TRIM_THRESHOLD = 256 << 20  # free memory at the heap's top kept up to this (glibc: 128 KB, or twice the threshold)
TOP_PAD = 64 << 20  # extra asked of the kernel each time the heap grows (glibc: 128 KB)
SETTINGS = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))


def user_tunes_malloc(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment sets glibc's malloc tunables itself (MALLOC_*_ variables, GLIBC_TUNABLES)."""
    env = os.environ if environ is None else environ
    return any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in env)


def glibc_mallopt() -> Any | None:
    """mallopt(3) of the C library this process runs on, where that is glibc's; else None (musl's mallopt accepts
    and ignores every setting; other systems have none)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return None
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """Set SETTINGS in this process's glibc malloc; True if set, False where it is not glibc or the user tunes it."""
    mallopt = None if user_tunes_malloc() else glibc_mallopt()
    return mallopt is not None and all(mallopt(param, value) == 1 for param, value in SETTINGS)
