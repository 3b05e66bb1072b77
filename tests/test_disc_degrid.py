"""--disc-degrid: the discriminator sees images without their local period-4 pattern, alike in both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srcore.metrics import degrid_filters, grid
from tests.conftest import smoke_trainer


def _images(rng: np.random.Generator, n: int = 2, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """NHWC smooth images in [-1, 1] and the same with a strong period-4 pattern added."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    smooth = np.stack([np.sin(3 * ys + k) * np.cos(2 * xs - k) for k in range(3)], -1) * 0.6
    smooth = np.repeat(smooth[None], n, 0).astype(np.float32)
    tile = rng.normal(size=(4, 4, 3))
    tile -= tile.mean(axis=(0, 1))
    return smooth, smooth + 0.2 * np.tile(tile, (size // 4, size // 4, 1))[None].astype(np.float32)


def _torch(images: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from torch_srgan.train import degridded

    low, comb, dilation = degrid_filters()
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    return degridded(x, (torch.from_numpy(low), torch.from_numpy(comb), dilation)).permute(0, 2, 3, 1).numpy()


def test_the_filter_removes_a_periodic_pattern_and_keeps_smooth_content() -> None:
    smooth, gridded = _images(np.random.default_rng(0))
    out = _torch(gridded)
    inner = slice(12, -12)  # away from the reflected border
    assert np.abs(out - smooth)[:, inner, inner].max() < 5e-3  # 0.6 grey levels
    assert np.abs(gridded - smooth)[:, inner, inner].max() > 0.1
    def strength(images: np.ndarray) -> float:  # the grid measure (the smooth image alone: ~0.13 at this size)
        return grid(np.clip((images[0] + 1) / 2, 0, 1), None, 12)

    assert strength(out) < strength(smooth) + 0.01 and strength(gridded) > 10 * strength(smooth)


def test_torch_and_keras_filter_alike() -> None:
    pytest.importorskip("torch")
    import torch._dynamo  # noqa: F401  (before TensorFlow)

    tf = pytest.importorskip("tensorflow")
    from keras_srgan.train import degridded

    _, gridded = _images(np.random.default_rng(1))
    low, comb, dilation = degrid_filters()
    keras_out = degridded(tf.constant(gridded), (tf.constant(low), tf.constant(comb), dilation)).numpy()
    np.testing.assert_allclose(keras_out, _torch(gridded), atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_an_adversarial_step_trains_with_the_filter(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    trainer, lr, hr = smoke_trainer(backend, tiny_data, tmp_path / "run", disc_degrid=True, disc_shift=2)
    logs = [trainer.train_batch(lr, hr, step) for step in range(2)]
    assert all(np.isfinite(v) for row in logs for v in row.values()) and logs[0]["adv"] > 0
