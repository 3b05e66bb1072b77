"""--freeze-upsampler: in the adversarial phase the sub-pixel stages and the last convolution keep their weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srcore.arch import upsampler_layers
from tests.conftest import smoke_trainer


def test_the_upsampler_is_the_subpixel_stages_and_what_follows() -> None:
    names = [e.torch for e in upsampler_layers("srresnet", 4, {"blocks": 2, "channels": 16})]
    assert names == ["upsample.0.conv", "upsample.0.act", "upsample.1.conv", "upsample.1.act", "tail_conv"]
    assert [e.keras for e in upsampler_layers("srresnet", 2, {})] == ["up0_conv", "up0_prelu", "conv_out"]
    assert upsampler_layers("vdsr", 4, {}) == []  # interpolating: no sub-pixel stage


def _by_layer(trainer, backend: str) -> dict[str, list[np.ndarray]]:
    """The generator's weights by layout entry (torch prefix), as numpy copies."""
    if backend == "torch":
        state = trainer.generator.state_dict()
        out: dict[str, list[np.ndarray]] = {}
        for key, value in state.items():
            out.setdefault(key.rsplit(".", 1)[0], []).append(value.detach().float().numpy().copy())
        return out
    return {layer.name: [np.array(w.numpy()) for w in layer.weights] for layer in trainer.generator.layers
            if layer.weights}


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_only_the_layers_before_the_upsampler_train(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    trainer, lr, hr = smoke_trainer(backend, tiny_data, tmp_path / "run", freeze_upsampler=True)
    cfg = trainer.cfg
    frozen = {e.torch if backend == "torch" else e.keras
              for e in upsampler_layers(cfg.arch, cfg.scale, cfg.arch_params)}
    before = _by_layer(trainer, backend)
    for step in range(2):
        trainer.train_batch(lr, hr, step)
    after = _by_layer(trainer, backend)
    assert frozen <= set(before)
    moved = {name for name in before if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))}
    assert not moved & frozen
    assert {"head_conv", "conv_in"} & moved  # the first layer trains

