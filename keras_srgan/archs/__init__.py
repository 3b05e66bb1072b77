"""The Keras generator architectures, one file each, registered under srcore.arch.ARCHS' names.

Each module registers a builder `(scale, **params) -> keras.Model` (NHWC, LR in [0, 1] -> SR in [-1, 1]) in
GENERATORS; every module in this folder is imported when the package is. Layer names match the conversion
layout of the spec (srcore/archs/).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from srcore.arch import load_modules
from srcore.registry import Registry

GENERATORS: Registry[Callable[..., keras.Model]] = Registry("Keras generator architecture")

load_modules(__name__)
