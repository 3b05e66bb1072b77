"""Choosing a backend by name: `torch_srgan` or `keras_srgan`, imported only when used."""

from __future__ import annotations

import importlib
from types import ModuleType

from srcore.config import BACKENDS
from srcore.errors import UserError

FRAMEWORK_PACKAGES = ("torch", "torchvision", "tensorflow", "keras")


def backend_module(backend: str, module: str) -> ModuleType:
    """Import `<backend>_srgan.<module>`, with a one-line error if the framework is missing."""
    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        return importlib.import_module(f"{backend}_srgan.{module}")
    except ImportError as e:
        if e.name and e.name.split(".")[0] in FRAMEWORK_PACKAGES:
            raise UserError(f"backend {backend} needs the package '{e.name}', which is not installed; "
                            f"run: pip install -r requirements.txt") from None
        raise
