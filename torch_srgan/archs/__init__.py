"""The PyTorch generator architectures, one file each, registered under srcore.arch.ARCHS' names.

Each module registers a builder `(scale, **params) -> nn.Module` (NCHW, LR in [0, 1] -> SR in [-1, 1]) in
GENERATORS; every module in this folder is imported when the package is.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from srcore.arch import load_modules
from srcore.registry import Registry

GENERATORS: Registry[Callable[..., nn.Module]] = Registry("PyTorch generator architecture")

load_modules(__name__)
