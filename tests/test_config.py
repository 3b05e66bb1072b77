from __future__ import annotations

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
    assert (g.iterations, g.lr, g.batch_size, g.patch_size, g.arch_params["blocks"]) == (1_000_000, 1e-4, 16, 96, 16)
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
    """trains.py's parsed command line for these options (flags as keyword arguments)."""
    import trains

    argv = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [f"--no-{k.replace('_', '-')}"] if v is False else [flag, str(v)]
    return trains.get_args_parser().parse_args(argv)


def test_plan_full_recipe_has_two_phases():
    g, d = plan_phases(_args(iterations=7, pretrain_iterations=5, lr=2e-4, content_loss="vgg22"))
    assert (g.model, g.iterations, g.lr, g.content_loss) == ("srresnet", 5, 2e-4, "mse")
    assert (d.model, d.iterations, d.lr, d.content_loss) == ("srgan", 7, 1e-4, "vgg22")
    assert g.out.endswith("srresnet") and d.out.endswith("srgan")


def test_plan_single_phases():
    (g,) = plan_phases(_args(model="srresnet", iterations=3, lr=1e-3))
    assert (g.iterations, g.lr) == (3, 1e-3)
    shipped = str(REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors")
    (d,) = plan_phases(_args(pretrained=shipped, lr=5e-5, preset="smoke"))
    assert d.model == "srgan" and d.pretrained == shipped and d.lr == 5e-5
    # read from the checkpoint, not the smoke preset's 2 x 16
    assert (d.arch_params["blocks"], d.arch_params["channels"], d.scale) == (16, 64, 4)
    with pytest.raises(UserError, match="no such checkpoint"):
        plan_phases(_args(pretrained=str(REPO / "missing.pth")))


def test_xla_flags_map_to_config():
    assert plan_phases(_args(model="srresnet"))[0].xla is None  # auto: on a GPU only
    assert plan_phases(_args(model="srresnet", xla=True))[0].xla is True
    assert plan_phases(_args(model="srresnet", xla=False))[0].xla is False


def test_validate_refuses_another_backends_config():
    cfg = preset_config("smoke", "srresnet", backend="keras")
    assert cfg.validate(backend="keras") is cfg
    with pytest.raises(UserError, match="backend 'keras'"):
        cfg.validate(backend="torch")


def test_every_option_is_declared_once_with_a_resume_policy():
    """Every TrainConfig field carries its declaration, every trains.py option has a resume policy, and the parser
    offers exactly the declared options (nothing hand-kept beside the declarations)."""
    import dataclasses

    import trains
    from srapp.options import declared_options, policies
    from srcore.config import RESUME_POLICIES

    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("resume") in RESUME_POLICIES and f.metadata.get("help"), f.name
    assert set(policies().values()) <= set(RESUME_POLICIES)
    names = [o.name for o in declared_options()]
    assert len(names) == len(set(names))
    parser = trains.get_args_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests == set(names)
    assert all(a.default is None for a in parser._actions if a.dest != "help")
    # the architectures' parameters are options too
    assert {"blocks", "channels", "layers", "kernels"} <= dests


def test_resume_refuses_only_a_changed_fixed_option(tmp_path):
    from srapp.options import resume_changes

    def phases():
        return plan_phases(_args(model="srresnet", preset="smoke", out=str(tmp_path / "r")))

    run = tmp_path / "r"
    assert sorted(resume_changes(_args(lr=1e-3, blocks=2, iterations=9, val_every=3), p := phases(), run)) == [
        "srresnet: iterations 4 -> 9", "srresnet: val_every 2 -> 3"]
    assert (p[0].iterations, p[0].val_every) == (9, 3)
    for changed in (dict(lr=2e-3), dict(blocks=3), dict(model="srgan"), dict(out=str(tmp_path / "other"))):
        with pytest.raises(UserError, match="cannot change"):
            resume_changes(_args(**changed), phases(), run)
    with pytest.raises(UserError, match="not a parameter of srresnet"):
        plan_phases(_args(model="srresnet", layers=3))
