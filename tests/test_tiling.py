"""Tiled inference of the real generators equals untiled inference (both backends)."""

from __future__ import annotations

import numpy as np
import pytest

from srcore.evaluate import upscale_array


def _generator_upscaler(backend: str, blocks: int):
    if backend == "torch":
        import torch

        from torch_srgan.inference import make_upscaler
        from torch_srgan.models import build_generator

        torch.manual_seed(0)
        return make_upscaler(build_generator(scale=4, blocks=blocks, channels=16), "cpu")
    import keras

    from keras_srgan.inference import make_upscaler
    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(0)
    return make_upscaler(build_generator(scale=4, blocks=blocks, channels=16))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_tiled_matches_untiled(backend):
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    # 2 blocks: receptive field ~11 LR px < overlap 16, so tiles see all the context they need.
    up = _generator_upscaler(backend, blocks=2)
    full = upscale_array(up, lr, 4).astype(int)
    tiled = upscale_array(up, lr, 4, tile=20, overlap=16).astype(int)
    assert tiled.shape == full.shape == (180, 244, 3)
    assert np.abs(tiled - full).max() <= 1  # float reassociation may flip a rounding, nothing more


@pytest.mark.parametrize("backend", ["torch"])
def test_tiled_deep_model_differs_only_near_seams(backend):
    """The paper's 16 blocks see ~40 LR px, more than the overlap: within 1/255 away from the seams."""
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    up = _generator_upscaler(backend, blocks=16)
    diff = np.abs(upscale_array(up, lr, 4, tile=24, overlap=16).astype(int) - upscale_array(up, lr, 4).astype(int))
    near = np.zeros(diff.shape[:2], bool)
    near[96 - 32:96 + 32, :] = near[:, 96 - 32:96 + 32] = True  # 8 LR px either side of the seam at LR 24
    assert diff[~near].max() <= 1
