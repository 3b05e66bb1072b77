"""The long recipe's options in both backends: ICNR initialisation of the sub-pixel convolutions, the generator's
weight average (--ema), the adversarial weight's warm-up (--adv-warmup), and the grid measure (metric "grid")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from srcore.config import TrainConfig, adv_weight_at, ema_decay_at, preset_config
from srcore.metrics import METRICS, grid, grid_pattern

# Keras' own weight saving converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def smoke(backend: str, data: Path, out: Path, **kw: Any) -> TrainConfig:
    values: dict[str, Any] = dict(backend=backend, data=str(data), out=str(out), device="cpu", vgg_weights="random")
    if backend == "keras":
        values["xla"] = False
    return preset_config("smoke", "srresnet", **{**values, **kw})


# --- the grid measure ---------------------------------------------------------------------------------------

def test_grid_measure_finds_a_period_4_pattern_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    smooth = 100 + 40 * np.sin(yy / 13.0) * np.cos(xx / 17.0)  # content with no period-4 structure
    pattern = rng.normal(0, 6, (4, 4))
    pattern -= pattern.mean()
    tiled = np.tile(pattern, (24, 32))
    assert grid(np.round(smooth).astype(np.uint8), None, 0) < 0.1  # rounding noise only
    found = grid_pattern(np.round(smooth + tiled).astype(np.uint8))
    np.testing.assert_allclose(found, pattern, atol=0.15)  # the pattern itself, at its phases
    assert grid(np.round(smooth + tiled).astype(np.uint8), None, 4) == pytest.approx(
        np.sqrt(np.mean(pattern ** 2)), abs=0.15)
    # shifting the image shifts the phases, not the strength
    shifted = np.round(smooth + tiled).astype(np.uint8)[1:, 3:]
    assert grid(shifted, None, 4) == pytest.approx(np.sqrt(np.mean(pattern ** 2)), abs=0.15)
    assert not METRICS.get("grid").reference and not METRICS.get("grid").higher_is_better
    with pytest.raises(ValueError, match="at least"):
        grid(np.zeros((8, 8), np.uint8), None, 4)


# --- ICNR ----------------------------------------------------------------------------------------------------

def _flat_lr(side: int = 48) -> np.ndarray:
    return np.full((1, side, side, 3), 0.4, np.float32)


def _interior(sr: np.ndarray) -> np.ndarray:
    """A generator output (NHWC) without the border its zero padding reaches (16 LR pixels)."""
    return sr[0, 64:-64, 64:-64]


def _spread(sr: np.ndarray) -> float:
    """The largest range of a channel over the interior: 0 for a flat output."""
    return float(np.ptp(_interior(sr), axis=(0, 1)).max())


def _grid_of_output(sr: np.ndarray) -> float:
    """The grid measure of a generator output in [-1, 1] (NHWC), on its interior."""
    img = np.clip(np.round((_interior(sr) + 1) * 127.5), 0, 255).astype(np.uint8)
    return grid(img, None, 0)


def test_icnr_untrained_torch_generator_draws_no_grid() -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.device import to_numpy, to_tensor
    from torch_srgan.models import build_generator, init_subpixel

    outs = {}
    for mode in ("plain", "icnr"):
        torch.manual_seed(0)
        g = build_generator(4, "srresnet", blocks=2, channels=16)
        init_subpixel(g, 4, "srresnet", mode, blocks=2, channels=16)
        with torch.no_grad():
            outs[mode] = to_numpy(g.eval()(to_tensor(_flat_lr(), torch.device("cpu"))))
        if mode == "icnr":  # every sub-pixel group starts equal
            w = g.upsample[0].conv.weight.detach().view(16, 4, 16, 3, 3)
            assert torch.equal(w, w[:, :1].expand_as(w))
    assert _spread(outs["icnr"]) < 1e-5  # a flat image stays flat: no period-4 pattern at all
    assert _spread(outs["plain"]) > 1e-3 and _grid_of_output(outs["plain"]) > 0.0
    assert _grid_of_output(outs["icnr"]) < 1e-9  # (float rounding of the measure itself)


def test_icnr_untrained_keras_generator_draws_no_grid() -> None:
    import keras_srgan  # noqa: F401  (sets KERAS_BACKEND first)

    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from keras_srgan.models import build_generator, init_subpixel

    outs = {}
    for mode in ("plain", "icnr"):
        keras.utils.set_random_seed(0)
        g = build_generator(4, "srresnet", blocks=2, channels=16)
        init_subpixel(g, 4, "srresnet", mode, blocks=2, channels=16)
        outs[mode] = np.asarray(g(_flat_lr(), training=False))
        if mode == "icnr":
            k = g.get_layer("up0_conv").kernel.numpy().reshape(3, 3, 16, 4, 16)  # (.., sub-pixel, channel)
            np.testing.assert_array_equal(k, np.broadcast_to(k[:, :, :, :1], k.shape))
    assert _spread(outs["icnr"]) < 1e-5
    assert _spread(outs["plain"]) > 1e-3 and _grid_of_output(outs["plain"]) > 0.0
    assert _grid_of_output(outs["icnr"]) < 1e-9  # (float rounding of the measure itself)


def test_old_configs_keep_the_plain_initialisation() -> None:
    d = preset_config("quick", "srresnet").to_dict()
    assert d["subpixel_init"] == "icnr" and d["ema"] == 0.0
    del d["subpixel_init"], d["ema"]
    old = TrainConfig.from_dict(d)
    assert old.subpixel_init == "plain" and old.ema == 0.0


# --- the discriminator's initialisation (--disc-init) -------------------------------------------------------

def _disc_layers(backend: str, init: str) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """{layer: (weights, biases, fan_in)} of a fresh discriminator (patch 32, 8 channels), either backend, from a
    fixed seed (so the draws do not depend on which tests ran before)."""
    if backend == "torch":
        import torch
        from torch import nn

        torch.manual_seed(0)

        from torch_srgan.models import build_discriminator
        d = build_discriminator(32, 8, init)
        return {name: (m.weight.detach().numpy(), m.bias.detach().numpy(), m.weight[0].numel())
                for name, m in d.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    import keras

    from keras_srgan.models import build_discriminator
    keras.utils.set_random_seed(0)
    d = build_discriminator(32, 8, init)
    return {layer.name: (np.asarray(layer.kernel), np.asarray(layer.bias), int(np.prod(layer.kernel.shape[:-1])))
            for layer in d.layers if hasattr(layer, "kernel")}


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_fan_in_discriminator_init_is_torchs_rule_in_both_backends(backend: str) -> None:
    from srcore.arch import fan_in_bound

    found = _disc_layers(backend, "fan-in")
    assert len(found) == 10  # 8 convolutions, 2 dense layers
    for name, (w, b, fan_in) in found.items():
        bound = fan_in_bound(fan_in)
        assert np.abs(w).max() <= bound and np.abs(b).max() <= bound, name
        # uniform in +-bound: standard deviation bound / sqrt(3), the biases not all zero
        assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.25 if w.size < 300 else 0.05), name
        if b.size >= 8:  # drawn, not zero (one bias alone may fall near zero by chance)
            assert np.abs(b).max() > 0.1 * bound, name


def test_keras_framework_discriminator_init_is_keras_default() -> None:
    found = _disc_layers("keras", "framework")
    w, b, fan_in = found["fc1"]
    glorot = np.sqrt(6.0 / (fan_in + w.shape[-1]))
    assert np.abs(b).max() == 0.0 and np.abs(w).max() <= glorot and np.abs(w).max() > 0.9 * glorot
    with pytest.raises(ValueError, match="fan-in"):
        _disc_layers("keras", "glorot")
    with pytest.raises(ValueError, match="fan-in"):
        _disc_layers("torch", "glorot")


def test_old_configs_keep_each_frameworks_discriminator_init() -> None:
    d = preset_config("long", "srgan").to_dict()
    assert d["disc_init"] == "fan-in"
    del d["disc_init"]
    assert TrainConfig.from_dict(d).disc_init == "framework"


# --- EMA -----------------------------------------------------------------------------------------------------

def test_ema_decay_schedule() -> None:
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)  # the first update keeps little of the random start
    assert ema_decay_at(0.999, 100) == pytest.approx(101 / 110)
    assert ema_decay_at(0.999, 10**6) == 0.999
    assert ema_decay_at(0.5, 20) == 0.5
    with pytest.raises(Exception, match="--ema"):
        preset_config("quick", "srresnet", ema=1.0).validate()


def test_torch_ema_weights_checkpoint_and_exact_resume(tiny_data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.checkpoint import load_checkpoint
    from torch_srgan.train import Trainer, train

    # the average after one update is e0 + (1 - d)(w1 - e0), e0 the initial weights
    cfg = smoke("torch", tiny_data, tmp_path / "t", ema=0.9)
    t = Trainer(cfg)
    start = {k: v.clone() for k, v in t.generator.state_dict().items()}
    from srcore.data import PatchSampler, load_pairs

    hr, lr = load_pairs(cfg.data, "train", cfg.scale)
    t.train_batch(*PatchSampler(hr, lr, cfg.scale, cfg.patch_size, cfg.batch_size, seed=0).batch(0), step=0)
    keep = ema_decay_at(0.9, 0)
    for k, e in t.ema_generator.state_dict().items():
        w = t.generator.state_dict()[k]
        if e.is_floating_point():
            torch.testing.assert_close(e, start[k] + (1 - keep) * (w - start[k]), rtol=0, atol=1e-6)
        else:
            assert torch.equal(e, w)

    one_go = train(smoke("torch", tiny_data, tmp_path / "a", ema=0.9))
    half = train(smoke("torch", tiny_data, tmp_path / "b", ema=0.9), stop_at=2)
    resumed = train(smoke("torch", tiny_data, tmp_path / "b", ema=0.9, resume=str(half.parent)))
    (_, a), (_, b) = load_checkpoint(one_go), load_checkpoint(resumed)
    assert set(a) == set(b) >= {"generator", "generator_train", "optim_g"}
    for key in ("generator", "generator_train"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert any(not torch.equal(a["generator"][n], a["generator_train"][n]) for n in a["generator"])
    rows = [json.loads(s) for s in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert all("val_psnr_trained" in r for r in rows if "val_psnr" in r)  # what the average adds, measured


def test_torch_ema_never_changes_the_trained_weights_and_resume_may_toggle_it(tiny_data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.checkpoint import load_checkpoint
    from torch_srgan.train import train

    plain = load_checkpoint(train(smoke("torch", tiny_data, tmp_path / "plain")))[1]["generator"]
    # the average on, then turned off at the resume: the trained weights go on as without it
    train(smoke("torch", tiny_data, tmp_path / "off", ema=0.9), stop_at=2)
    off = load_checkpoint(train(smoke("torch", tiny_data, tmp_path / "off", resume=str(tmp_path / "off"))))[1]
    assert "generator_train" not in off
    # off, then turned on at the resume: it starts from the weights of that moment
    train(smoke("torch", tiny_data, tmp_path / "on"), stop_at=2)
    on = load_checkpoint(train(smoke("torch", tiny_data, tmp_path / "on", ema=0.9, resume=str(tmp_path / "on"))))[1]
    for name in plain:
        assert torch.equal(plain[name], off["generator"][name]), name
        assert torch.equal(plain[name], on["generator_train"][name]), name
    assert any(not torch.equal(plain[n], on["generator"][n]) for n in plain)


def test_keras_ema_weights_checkpoint_and_exact_resume(tiny_data: Path, tmp_path: Path) -> None:
    import keras_srgan  # noqa: F401

    pytest.importorskip("tensorflow")
    from keras_srgan import train as ktrain
    from keras_srgan.checkpoint import load_checkpoint, read_state
    from keras_srgan.models import build_generator
    from srcore.data import PatchSampler, load_pairs

    cfg = smoke("keras", tiny_data, tmp_path / "t", ema=0.9)
    t = ktrain.Trainer(cfg)
    start = [w.numpy().copy() for w in t.generator.weights]
    hr, lr = load_pairs(cfg.data, "train", cfg.scale)
    t.train_batch(*PatchSampler(hr, lr, cfg.scale, cfg.patch_size, cfg.batch_size, seed=0).batch(0), step=0)
    keep = ema_decay_at(0.9, 0)
    for e, w, e0 in zip(t.ema_generator.weights, t.generator.weights, start):
        np.testing.assert_allclose(e.numpy(), e0 + (1 - keep) * (w.numpy() - e0), rtol=0, atol=1e-6)

    one_go = ktrain.train(smoke("keras", tiny_data, tmp_path / "a", ema=0.9))
    ktrain.train(smoke("keras", tiny_data, tmp_path / "b", ema=0.9), stop_at=2)
    resumed = ktrain.train(smoke("keras", tiny_data, tmp_path / "b", ema=0.9, resume=str(tmp_path / "b")))
    g = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
    averaged = []
    for path in (one_go, resumed):
        g.load_weights(path)
        averaged.append([w.numpy() for w in g.weights])
        load_checkpoint(path, need_state=True)
    for x, y in zip(*averaged):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    _, files = load_checkpoint(one_go, need_state=True)
    trained = read_state(files)
    assert "generator_train.paths" in trained
    assert any(not np.array_equal(trained[f"generator_train.{i:05d}"], w) for i, w in enumerate(averaged[0]))


# --- the adversarial weight's warm-up ------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_adversarial_weight_rises_over_the_warmup(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    if backend == "keras":
        import keras_srgan  # noqa: F401

        pytest.importorskip("tensorflow")
        from keras_srgan.train import train
    else:
        pytest.importorskip("torch")
        from torch_srgan.train import train
    values = dict(adv_weight=0.5, adv_warmup=4, content_loss="mse")
    pre = train(smoke(backend, tiny_data, tmp_path / "pre", iterations=1))
    cfg = preset_config("smoke", "srgan", **{**values, "backend": backend, "data": str(tiny_data),
                                             "out": str(tmp_path / "gan"), "device": "cpu", "pretrained": str(pre),
                                             **({"xla": False} if backend == "keras" else {})})
    assert [adv_weight_at(cfg, s) for s in range(6)] == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]
    train(cfg)
    rows = [json.loads(s) for s in (tmp_path / "gan" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "adv" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for r in steps:  # g_loss = content + w(step) * adv, the step's weight
        assert r["g_loss"] - r["content"] == pytest.approx(adv_weight_at(cfg, r["step"] - 1) * r["adv"], abs=1e-5)
    assert steps[0]["g_loss"] == pytest.approx(steps[0]["content"], abs=1e-7)  # no adversarial term at step 0
