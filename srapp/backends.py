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
