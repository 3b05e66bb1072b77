"""--disc-lr-ratio: the discriminator's learning rate as a multiple of the generator's, in both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from srcore.config import TrainConfig, disc_lr_at, lr_at
from tests.conftest import smoke_trainer


def test_the_ratio_scales_the_generators_schedule() -> None:
    cfg = dataclasses.replace(TrainConfig(), lr=1e-4, lr_schedule="cosine", lr_decay=0.1, iterations=100,
                              disc_lr_ratio=4.0)
    for step in (0, 37, 99):
        assert disc_lr_at(cfg, step) == pytest.approx(4.0 * lr_at(cfg, step))
    assert disc_lr_at(dataclasses.replace(cfg, disc_lr_ratio=1.0), 37) == lr_at(cfg, 37)


def _weights(trainer, backend: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if backend == "torch":
        return ([p.detach().numpy().copy() for p in trainer.generator.parameters()],
                [p.detach().numpy().copy() for p in trainer.discriminator.parameters()])
    return ([np.array(w.numpy()) for w in trainer.generator.trainable_weights],
            [np.array(w.numpy()) for w in trainer.discriminator.trainable_weights])


def _rate(trainer, name: str, backend: str) -> float:
    opt = trainer.optimizers[name]
    return opt.param_groups[0]["lr"] if backend == "torch" else float(opt.learning_rate)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_each_optimizer_steps_at_its_rate(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    """Ratio 3: D's optimizer runs at 3x G's rate; ratio 0: the discriminator stays as it was while G trains."""
    for ratio in (3.0, 0.0):
        trainer, lr, hr = smoke_trainer(backend, tiny_data, tmp_path / f"r{ratio}", disc_lr_ratio=ratio)
        g0, d0 = _weights(trainer, backend)
        trainer.train_batch(lr, hr, 0)
        g1, d1 = _weights(trainer, backend)
        assert _rate(trainer, "optim_d", backend) == pytest.approx(ratio * _rate(trainer, "optim_g", backend))
        assert any(not np.array_equal(a, b) for a, b in zip(g0, g1))
        d_moved = any(not np.array_equal(a, b) for a, b in zip(d0, d1))
        assert d_moved == (ratio > 0)
