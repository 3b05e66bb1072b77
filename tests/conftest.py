"""Shared fixtures: a tiny prepared-data folder, and the real datasets when they are present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The Keras backend is TensorFlow whatever a test imports first (keras_srgan sets the same default).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:
    # Both frameworks in one process: triton, which torch._dynamo imports (e.g. when a torch optimizer
    # is created), segfaults when it is loaded after TensorFlow. Loading it first avoids that.
    import torch._dynamo  # noqa: F401
except ImportError:
    pass

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


def needs_datasets() -> Path:
    """The real datasets folder (../shared/datasets), or skip the test."""
    if not (DATASETS / "Set5").is_dir():
        pytest.skip(f"real datasets not found at {DATASETS}")
    return DATASETS


def _write_pairs(root: Path, n: int, hr_size: int, scale: int, rng: np.random.Generator) -> None:
    (root / "hr").mkdir(parents=True)
    (root / f"lr_x{scale}").mkdir(parents=True)
    for i in range(n):
        # Smooth random images (upsampled noise) so that SR is learnable and PSNR is finite.
        small = rng.integers(0, 256, (hr_size // 8, hr_size // 8, 3), dtype=np.uint8)
        hr = Image.fromarray(small).resize((hr_size, hr_size), Image.BICUBIC)
        hr.save(root / "hr" / f"{i:03d}.png")
        hr.resize((hr_size // scale, hr_size // scale), Image.BICUBIC).save(root / f"lr_x{scale}" / f"{i:03d}.png")


def make_tiny_data(root: Path, seed: int = 0) -> Path:
    """A prepared-data folder: 8 train / 4 val pairs (HR 64x64, LR 16x16 at x4) and a 2-image benchmark."""
    rng = np.random.default_rng(seed)
    _write_pairs(root / "bsd500" / "train", 8, 64, 4, rng)
    _write_pairs(root / "bsd500" / "val", 4, 64, 4, rng)
    _write_pairs(root / "benchmarks" / "Tiny", 2, 48, 4, rng)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("tiny_data"))


def smoke_trainer(backend: str, data: Path, out: Path, model: str = "srgan", **overrides: object) -> tuple:
    """A `smoke`-preset Trainer of `backend` on `data` (random VGG weights, the CPU) with `overrides` of the
    config, and a batch of random images (lr in [0, 1], hr in [-1, 1], NHWC) at its sizes: (trainer, lr, hr).
    Skips when the backend's framework is not installed."""
    pytest.importorskip("torch")
    if backend == "keras":
        pytest.importorskip("keras")
        from keras_srgan.train import Trainer
    else:
        from torch_srgan.train import Trainer
    from srcore.config import preset_config

    cfg = preset_config("smoke", model, backend=backend, data=str(data), out=str(out), vgg_weights="random",
                        device="cpu", **overrides).validate()
    rng = np.random.default_rng(0)
    p, s = cfg.patch_size, cfg.scale
    hr = rng.random((cfg.batch_size, p, p, 3), dtype=np.float32) * 2 - 1
    lr = rng.random((cfg.batch_size, p // s, p // s, 3), dtype=np.float32)
    return Trainer(cfg), lr, hr
