"""The adversarial-loss registry (--gan-loss): the spec and both backends' implementations agree, in keys and values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from srcore.errors import UserError
from srcore.losses import ADVERSARIAL_LOSSES

REAL = np.array([[2.0], [-1.0], [0.3], [4.5]], np.float32)
FAKE = np.array([[0.5], [-3.0], [1.2], [-0.7]], np.float32)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


# numpy references, from the papers' formulas: BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x)
REFERENCE = {
    "vanilla": (lambda r, f: _softplus(-r).mean() + _softplus(f).mean(),
                lambda r, f: _softplus(-f).mean()),
    "relativistic": (lambda r, f: _softplus(-(r - f.mean())).mean() + _softplus(f - r.mean()).mean(),
                     lambda r, f: _softplus(r - f.mean()).mean() + _softplus(-(f - r.mean())).mean()),
}


def _torch_values(name: str) -> tuple[float, float]:
    torch = pytest.importorskip("torch")
    from torch_srgan.losses import ADVERSARIAL

    loss = ADVERSARIAL.get(name)
    real, fake = torch.from_numpy(REAL), torch.from_numpy(FAKE)
    return float(loss.discriminator(real, fake)), float(loss.generator(real, fake))


def _keras_values(name: str) -> tuple[float, float]:
    pytest.importorskip("tensorflow")
    from keras_srgan.losses import ADVERSARIAL

    loss = ADVERSARIAL.get(name)
    return float(loss.discriminator(REAL, FAKE)), float(loss.generator(REAL, FAKE))


def test_specs_are_described() -> None:
    assert ADVERSARIAL_LOSSES.names()[0] == "vanilla"  # the paper's, the default of TrainConfig.gan_loss
    for name, spec in ADVERSARIAL_LOSSES.items():
        assert spec.name == name and spec.description and spec.reference and "\n" not in spec.description


@pytest.mark.parametrize("backend", ["torch_srgan", "keras_srgan"])
def test_backend_implements_exactly_the_specs(backend: str) -> None:
    pytest.importorskip("torch" if backend == "torch_srgan" else "tensorflow")
    import importlib

    implementations = importlib.import_module(f"{backend}.losses").ADVERSARIAL
    assert implementations.names() == ADVERSARIAL_LOSSES.names()


def test_reference_covers_every_spec() -> None:
    assert set(REFERENCE) == set(ADVERSARIAL_LOSSES.names())


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_torch_and_keras_give_the_same_values(name: str) -> None:
    t, k = _torch_values(name), _keras_values(name)
    np.testing.assert_allclose(t, k, rtol=0, atol=1e-6)
    d_ref, g_ref = REFERENCE[name]
    np.testing.assert_allclose(t, (d_ref(REAL, FAKE), g_ref(REAL, FAKE)), rtol=1e-6, atol=1e-6)


def test_unknown_loss_is_a_one_line_user_error() -> None:
    torch_losses = pytest.importorskip("torch_srgan.losses")
    with pytest.raises(UserError, match="--gan-loss") as info:
        torch_losses.ADVERSARIAL.get("wasserstein")
    assert "\n" not in str(info.value) and "vanilla" in str(info.value)


def _smoke_cfg(tiny_data: Path, out: Path, gan_loss: str):
    from srcore.config import preset_config

    cfg = preset_config("smoke", "srgan", backend="torch", data=str(tiny_data), out=str(out), vgg_weights="random",
                        device="cpu")
    return dataclasses.replace(cfg, gan_loss=gan_loss)  # past any option check: the Trainer's lookup is tested


def test_torch_trainer_refuses_an_unknown_loss(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.train import Trainer

    with pytest.raises(UserError, match="--gan-loss"):
        Trainer(_smoke_cfg(tiny_data, tmp_path, "wasserstein"))


def test_torch_trainer_steps_with_the_relativistic_loss(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.train import Trainer

    cfg = _smoke_cfg(tiny_data, tmp_path, "relativistic")
    trainer = Trainer(cfg)
    rng = np.random.default_rng(0)
    p = cfg.patch_size
    hr = rng.random((cfg.batch_size, p, p, 3), dtype=np.float32) * 2 - 1
    lr = rng.random((cfg.batch_size, p // cfg.scale, p // cfg.scale, 3), dtype=np.float32)
    logs = trainer.train_batch(lr, hr, 0)
    assert all(np.isfinite(v) for v in logs.values()) and logs["adv"] > 0
