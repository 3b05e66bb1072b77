"""--grid-weight: the square of the grid measure of the error as a loss term, the same in both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srcore.metrics import grid_pattern
from tests.conftest import smoke_trainer


def _pair(rng: np.random.Generator, n: int = 3, h: int = 24, w: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """(sr, hr) NHWC in [-1, 1]: hr random, sr = hr + a smooth ramp + a period-4 pattern."""
    hr = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    ramp = np.linspace(-0.2, 0.2, w, dtype=np.float32)[None, None, :, None]
    tile = rng.normal(scale=0.05, size=(n, 4, 4, 3)).astype(np.float32)
    return hr + ramp + np.tile(tile, (1, h // 4, w // 4, 1)), hr


def _reference(sr: np.ndarray, hr: np.ndarray) -> float:
    """The mean over the images of the grid measure's pattern of the error, squared (grid_pattern takes an image
    in [0, 1] units: the error / 2)."""
    return float(np.mean([np.mean(grid_pattern((s - h) / 2.0) ** 2) for s, h in zip(sr, hr)]))


def test_torch_penalty_is_the_grid_measure_of_the_error_squared() -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.losses import grid_penalty

    sr, hr = _pair(np.random.default_rng(0))
    value = grid_penalty(torch.from_numpy(sr).permute(0, 3, 1, 2), torch.from_numpy(hr).permute(0, 3, 1, 2))
    assert float(value) == pytest.approx(_reference(sr, hr), rel=1e-4)
    assert _reference(sr, hr) > 1.0  # the pattern is there (0.05 of the range: several grey levels)
    # a smooth difference (the ramp alone) and no difference are not penalised
    smooth = hr + np.linspace(-0.2, 0.2, hr.shape[2], dtype=np.float32)[None, None, :, None]
    t = [torch.from_numpy(a).permute(0, 3, 1, 2) for a in (smooth, hr)]
    assert float(grid_penalty(*t)) < 1e-8
    assert float(grid_penalty(t[1], t[1])) == 0.0


def test_the_penalty_gradient_removes_the_pattern() -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.losses import grid_penalty

    sr, hr = _pair(np.random.default_rng(1))
    x = torch.from_numpy(sr).permute(0, 3, 1, 2).clone().requires_grad_(True)
    y = torch.from_numpy(hr).permute(0, 3, 1, 2)
    before = float(grid_penalty(x, y).detach())
    optim = torch.optim.Adam([x], lr=3e-3)
    for _ in range(30):
        optim.zero_grad()
        grid_penalty(x, y).backward()
        optim.step()
    assert float(grid_penalty(x, y).detach()) < 0.05 * before


def test_torch_and_keras_penalties_agree() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from keras_srgan.losses import grid_penalty as keras_penalty
    from torch_srgan.losses import grid_penalty as torch_penalty

    sr, hr = _pair(np.random.default_rng(2), h=32, w=20)
    t = float(torch_penalty(torch.from_numpy(sr).permute(0, 3, 1, 2), torch.from_numpy(hr).permute(0, 3, 1, 2)))
    assert float(keras_penalty(sr, hr)) == pytest.approx(t, rel=1e-5)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_content_loss_carries_the_term(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    """The same step's content loss with --grid-weight 10 exceeds the one without (same weights, same batch)."""
    logs = {}
    for weight in (0.0, 10.0):
        trainer, lr, hr = smoke_trainer(backend, tiny_data, tmp_path / f"w{weight}", grid_weight=weight)
        logs[weight] = trainer.train_batch(lr, hr, 0)
    assert np.isfinite(logs[10.0]["g_loss"]) and logs[10.0]["content"] > logs[0.0]["content"] + 1e-3
