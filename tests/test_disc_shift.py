"""--disc-shift: the discriminator's images moved by random offsets, the same in both backends and on resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from srcore.config import TrainConfig, disc_shifts
from tests.conftest import smoke_trainer


def _cfg(n: int, batch: int = 8) -> TrainConfig:
    return dataclasses.replace(TrainConfig(), disc_shift=n, batch_size=batch, seed=3)


def test_offsets_are_a_pure_function_of_the_step_in_range() -> None:
    cfg = _cfg(4)
    a = disc_shifts(cfg, 7)
    assert a.shape == (2, 8, 2) and a.dtype == np.int32
    assert a.min() >= 0 and a.max() <= 3 and len(np.unique(a)) > 1
    np.testing.assert_array_equal(a, disc_shifts(cfg, 7))  # a resumed run draws the same
    assert not np.array_equal(a, disc_shifts(cfg, 8))
    # the workers' slices are the whole batch's, in order
    np.testing.assert_array_equal(np.concatenate([disc_shifts(cfg, 7, (i, 4)) for i in range(4)], axis=1), a)


@pytest.mark.parametrize("n", [0, 1])
def test_no_shift_is_all_zeros(n: int) -> None:
    assert not disc_shifts(_cfg(n), 5).any()


def _images(batch: int = 3, size: int = 10) -> np.ndarray:
    return np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)


def _torch_shifted(images: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from torch_srgan.train import shifted

    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    return shifted(x, offsets, n).permute(0, 2, 3, 1).numpy()


def test_torch_shift_moves_each_image_down_and_right_reflecting_the_border() -> None:
    images, n = _images(), 4
    offsets = np.array([[3, 3], [0, 3], [1, 2]], np.int32)
    out = _torch_shifted(images, offsets, n)
    np.testing.assert_array_equal(out[0], images[0])  # offset n-1: not moved
    np.testing.assert_array_equal(out[1, 3:], images[1, :-3])  # moved down by 3 ...
    np.testing.assert_array_equal(out[1, :3], images[1, 3:0:-1])  # ... the top rows mirrored
    np.testing.assert_array_equal(out[2, 2:, 1:], images[2, :-2, :-1])


def test_torch_and_keras_shift_alike() -> None:
    pytest.importorskip("torch")
    import torch._dynamo  # noqa: F401  (imported before TensorFlow, as the application does)

    pytest.importorskip("keras")
    import tensorflow as tf

    from keras_srgan.train import shifted

    images, n = _images(4, 12), 4
    offsets = np.random.default_rng(1).integers(0, n, size=(4, 2)).astype(np.int32)
    mine = shifted(tf.constant(images), tf.constant(offsets), n).numpy()
    np.testing.assert_array_equal(mine, _torch_shifted(images, offsets, n))
    # and gradients reach every pixel that is seen
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(shifted(x, tf.constant(offsets), n))
    assert float(tf.reduce_sum(tape.gradient(total, x))) == pytest.approx(images.size, rel=1e-6)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_an_adversarial_step_trains_with_the_shift(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    trainer, lr, hr = smoke_trainer(backend, tiny_data, tmp_path / "run", disc_shift=4)
    logs = [trainer.train_batch(lr, hr, step) for step in range(2)]
    assert all(np.isfinite(v) for row in logs for v in row.values()) and logs[0]["adv"] > 0
