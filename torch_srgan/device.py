"""Devices, memory layout and precision of the PyTorch backend; the one NHWC numpy <-> NCHW tensor conversion."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from srcore import precision as srcore_precision
from srcore.checkpoint import cpu_description
from srcore.errors import UserError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """None/"auto": CUDA when available, else CPU; otherwise the named device ("gpu" means "cuda")."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "gpu":
        device = "cuda"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device}: not a device name (expected cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA GPU is available to PyTorch here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise UserError(f"--device {device}: only cpu and cuda devices are supported")
    return dev


def describe_device(device: torch.device) -> str:
    """The hardware a run uses, for checkpoint metadata and the results table."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return cpu_description()


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(device: torch.device, precision: str = "fp32", amp: bool = False,
                      what: str = "--precision") -> str:
    """What --precision (and the older --amp) means on `device`: "fp32", "bf16" or "fp16" (srcore.precision)."""
    cuda = device.type == "cuda"
    return srcore_precision.resolve_precision(precision, cuda=cuda, amp=amp, what=what,
                                              cuda_bf16=cuda and torch.cuda.is_bf16_supported())


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; None = float32 (no autocast)."""
    return AUTOCAST_DTYPES[precision]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision in `dtype` on `device`, or nothing (float32) when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def uses_channels_last(device: torch.device) -> bool:
    # NHWC convolutions are markedly faster on CPU (oneDNN); on CUDA the default layout is kept.
    return device.type == "cpu"


def place(module: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to `device` in the memory format used there."""
    if uses_channels_last(device):
        return module.to(device, memory_format=torch.channels_last)
    return module.to(device)


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """The one NHWC numpy -> NCHW tensor conversion (channels_last strides on CPU: no copy needed)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2).to(device)
    fmt = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    return t.contiguous(memory_format=fmt)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """NCHW tensor -> float32 NHWC numpy."""
    return t.detach().float().permute(0, 2, 3, 1).contiguous().cpu().numpy()
