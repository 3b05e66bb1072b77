"""Choosing a backend by name: `torch_srgan` or `keras_srgan`, imported only when used."""

from __future__ import annotations

import importlib
from types import ModuleType

from srcore.config import BACKENDS
from srcore.errors import UserError

FRAMEWORK_PACKAGES = ("torch", "torchvision", "tensorflow", "keras")


def both_frameworks() -> None:
    """Call before work that may load TensorFlow and PyTorch in one process (a conversion, a checkpoint of the
    other backend): loads torch's triton (which torch._dynamo imports, e.g. when a torch optimizer is made) first,
    since triton loaded after TensorFlow has crashed such processes (a segfault, no message). No-op when
    TensorFlow is loaded already or torch is not installed."""
    import sys

    if "tensorflow" in sys.modules or "torch._dynamo" in sys.modules:
        return
    try:
        importlib.import_module("torch._dynamo")
    except ImportError:
        pass


def installed(backend: str) -> bool:
    """Whether `backend`'s framework is importable here (looked up, not imported)."""
    import importlib.util

    needs = {"torch": ("torch",), "keras": ("keras", "tensorflow")}[backend]
    try:
        return all(importlib.util.find_spec(name) is not None for name in needs)
    except (ImportError, ValueError):
        return False


def default_backend(preferred: str) -> str:
    """`preferred` where its framework is installed, else the other backend where that one is (an install with
    one framework runs every checkpoint in it), else `preferred` (whose use then says what to install)."""
    if installed(preferred):
        return preferred
    other = next(b for b in BACKENDS if b != preferred)
    return other if installed(other) else preferred


def backend_module(backend: str, module: str) -> ModuleType:
    """Import `<backend>_srgan.<module>`, with a one-line error if the framework is missing."""
    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        return importlib.import_module(f"{backend}_srgan.{module}")
    except ImportError as e:
        if e.name and e.name.split(".")[0] in FRAMEWORK_PACKAGES:
            raise UserError(f"backend {backend} needs the package '{e.name}', which is not installed; run: "
                            f"pip install \".[{backend}]\" (or pip install -r requirements.txt for both)") from None
        raise
