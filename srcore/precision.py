"""Numeric precision of training and inference (--precision), framework-free: the choices, whether this CPU does
bfloat16 in hardware, and which precision a request resolves to on a device.

"fp32": float32 everywhere. "bf16": the convolutions and matrix products in bfloat16 (torch: autocast; Keras: the
mixed_bfloat16 policy), weights, optimizer, BatchNorm statistics, the output activation and the losses in float32.
"fp16": the same in float16 with loss scaling, CUDA only. "auto": bf16 where the device does it in hardware (a CPU
with AMX-BF16 or AVX512-BF16, a GPU with bfloat16 support), else fp32: it never asks a device to emulate bfloat16,
which is slower than float32 (results/speed.md).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from srcore.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
RESOLVED = ("fp32", "bf16", "fp16")
# test.py --input's default. bf16 would be the default only if on Set14 its outputs differed from fp32's by at most
# 2 grey levels and 0.05 dB (srapp.precision_check); measured with the shipped torch SRResNet: 3 grey levels at most
# (PSNR within 0.001 dB), so fp32 stays the default and --precision bf16 is offered (results/README.md).
INPUT_PRECISION = "fp32"
# /proc/cpuinfo flags of CPUs that multiply bfloat16 in hardware (oneDNN uses either: AMX tiles, AVX512 dot products).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, ARM
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_flags() -> tuple[str, ...]:
    """Which of BF16_CPU_FLAGS this CPU has (for the benchmark header and `auto`)."""
    flags = cpu_flags()
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (else bfloat16 is emulated, slower than float32)."""
    return bool(cpu_bf16_flags())


def resolve_precision(precision: str, *, cuda: bool, cuda_bf16: bool = False, amp: bool = False,
                      what: str = "--precision") -> str:
    """The precision ("fp32", "bf16", "fp16") that `precision` means on a CUDA GPU (`cuda`, with bfloat16 support:
    `cuda_bf16`) or else a CPU. `amp`: the older --amp, an alias of "auto" on a GPU that keeps the CPU in float32
    (what --amp always did there), taken when `precision` is fp32. UserError for fp16 off CUDA."""
    if precision not in PRECISIONS:
        raise UserError(f"{what} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if amp and precision == "fp32":
        if not cuda:
            print("warning: --amp is mixed precision on a GPU and leaves the CPU in float32; for bfloat16 on this "
                  "CPU use --precision bf16 (or auto)", file=sys.stderr)
            return "fp32"
        return "bf16" if cuda_bf16 else "fp16"
    if precision == "fp16" and not cuda:
        raise UserError(f"{what} fp16 needs a CUDA GPU (float16 without loss-scaling hardware support is slow and "
                        "unsafe on a CPU); use --precision bf16 or fp32 here")
    if precision == "auto":
        return "bf16" if (cuda_bf16 if cuda else cpu_has_bf16()) else "fp32"
    return precision
