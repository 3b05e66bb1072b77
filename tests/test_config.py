from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from srapp.training import plan_phases
from srcore.config import PRESETS, TrainConfig, lr_at, preset_config
from srcore.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def test_presets_build_valid_configs():
    for preset in PRESETS:
        for model in ("srresnet", "srgan"):
            cfg = preset_config(preset, model).validate()
            assert cfg.model == model and cfg.preset == preset


def test_paper_preset_is_the_paper_schedule():
    g = preset_config("paper", "srresnet")
    assert (g.iterations, g.lr, g.batch_size, g.patch_size, g.blocks) == (1_000_000, 1e-4, 16, 96, 16)
    d = preset_config("paper", "srgan")
    assert d.iterations == 200_000 and d.content_loss == "vgg54"
    assert lr_at(d, 0) == 1e-4 and lr_at(d, 99_999) == 1e-4
    assert lr_at(d, 100_000) == pytest.approx(1e-5) and lr_at(d, 199_999) == pytest.approx(1e-5)


def test_cosine_schedule_ends_at_decayed_lr():
    cfg = preset_config("quick", "srresnet")
    assert lr_at(cfg, 0) == pytest.approx(cfg.lr)
    assert lr_at(cfg, cfg.iterations - 1) == pytest.approx(cfg.lr * cfg.lr_decay)
    values = [lr_at(cfg, s) for s in range(cfg.iterations)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_overrides_and_roundtrip(tmp_path):
    cfg = preset_config("quick", "srresnet", lr=3e-4, batch_size=None)
    assert cfg.lr == 3e-4 and cfg.batch_size == 16
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg


@pytest.mark.parametrize("bad", [dict(scale=5), dict(patch_size=30), dict(iterations=0), dict(lr=-1.0),
                                 dict(content_loss="vgg99")])
def test_validate_rejects_bad_values(bad):
    with pytest.raises(UserError):
        preset_config("smoke", "srresnet", **bad).validate()


def _args(**kw):
    base = dict(backend="torch", model="srgan", preset="quick", pretrained=None, out="runs/t", scale=None,
                iterations=None, pretrain_iterations=None, lr=None, gan_lr=None, content_loss=None,
                xla=False, no_xla=False, amp=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_plan_full_recipe_has_two_phases():
    g, d = plan_phases(_args(iterations=7, pretrain_iterations=5, lr=2e-4, content_loss="vgg22"))
    assert (g.model, g.iterations, g.lr, g.content_loss) == ("srresnet", 5, 2e-4, "mse")
    assert (d.model, d.iterations, d.lr, d.content_loss) == ("srgan", 7, 1e-4, "vgg22")
    assert g.out.endswith("srresnet") and d.out.endswith("srgan")


def test_plan_single_phases():
    (g,) = plan_phases(_args(model="srresnet", iterations=3, lr=1e-3))
    assert (g.iterations, g.lr) == (3, 1e-3)
    shipped = str(REPO / "results" / "weights" / "srresnet_x4_torch_quick.safetensors")
    (d,) = plan_phases(_args(pretrained=shipped, lr=5e-5, preset="smoke"))
    assert d.model == "srgan" and d.pretrained == shipped and d.lr == 5e-5
    assert (d.blocks, d.channels, d.scale) == (16, 64, 4)  # read from the checkpoint, not the smoke preset's 2 x 16
    with pytest.raises(UserError, match="no such checkpoint"):
        plan_phases(_args(pretrained=str(REPO / "missing.pth")))


def test_xla_flags_map_to_config():
    assert plan_phases(_args(model="srresnet"))[0].xla is None  # auto: on a GPU only
    assert plan_phases(_args(model="srresnet", xla=True))[0].xla is True
    assert plan_phases(_args(model="srresnet", no_xla=True))[0].xla is False


def test_validate_refuses_another_backends_config():
    cfg = preset_config("smoke", "srresnet", backend="keras")
    assert cfg.validate(backend="keras") is cfg
    with pytest.raises(UserError, match="backend 'keras'"):
        cfg.validate(backend="torch")
