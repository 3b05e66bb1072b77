"""Training data sources, each behind one interface: a `Sampler` of training batches.

The training loop receives a sampler and never builds one, so a new source of training data (a folder of
images streamed from disk, ...) is one registered entry of DATA_SOURCES, a factory `(cfg) -> Sampler`:

    @DATA_SOURCES.register("folder")
    def folder_sampler(cfg: TrainConfig) -> Sampler: ...

Whatever the source, the batch of step t is a pure function of (seed, t): resume needs no sampler state,
and both backends see the same batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from srcore.config import TrainConfig
from srcore.data import PatchSampler, interpolated_pairs, load_pairs
from srcore.registry import Registry


class Sampler(Protocol):
    """Training batches: `batch(step, shard)` -> (lr, hr), float32 NHWC, lr in [0, 1] (the network input), hr in
    [-1, 1]; a pure function of (seed, step). `shard` (i, n): the i-th of n equal slices of the step's batch.
    `close()` releases what the sampler holds (files, worker threads) once the phase ends."""

    def batch(self, step: int, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]: ...
    def close(self) -> None: ...


SamplerFactory = Callable[[], Sampler]  # makes the phase's sampler when the loop is about to need it

DATA_SOURCES: Registry[Callable[[TrainConfig], Sampler]] = Registry("training data source")


@DATA_SOURCES.register("prepared")
def prepared_sampler(cfg: TrainConfig) -> Sampler:
    """Patches of the prepared BSDS500 training split (prepare_bsd500.py), all images held in memory.

    An interpolating network (ArchSpec.interpolating) trains on the LR images bicubic-upscaled once to the HR size,
    cropped like the HR ones (scale 1), over every scale of `cfg.train_scales`.
    """
    if cfg.interpolating:
        (hr, inputs), scale = interpolated_pairs(cfg.data, "train", cfg.train_scales), 1
    else:
        (hr, inputs), scale = load_pairs(cfg.data, "train", cfg.scale), cfg.scale
    return PatchSampler(hr, inputs, scale, cfg.patch_size, cfg.batch_size, cfg.seed)


def make_sampler(cfg: TrainConfig, source: str = "prepared") -> Sampler:
    """The training sampler of phase `cfg` from data source `source` (a name in DATA_SOURCES)."""
    return DATA_SOURCES.get(source)(cfg)
