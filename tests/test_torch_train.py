"""PyTorch training: smoke runs of both phases through train(cfg), resume equivalence, logs and checkpoints."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from srcore import vgg_weights  # noqa: E402
from srcore.checkpoint import CheckpointError  # noqa: E402
from srcore.config import TrainConfig, lr_at, preset_config  # noqa: E402
from srcore.data import PatchSampler, load_pairs  # noqa: E402
from srcore.errors import UserError  # noqa: E402
from torch_srgan.checkpoint import load_checkpoint  # noqa: E402
from torch_srgan.device import to_numpy, to_tensor  # noqa: E402
from torch_srgan.train import Trainer, train  # noqa: E402

torch.set_num_threads(1)


def smoke_cfg(model: str, data: Path, out: Path, **overrides: Any) -> TrainConfig:
    """The smoke preset on the tiny data, CPU, random VGG weights (smoke tests only)."""
    values: dict[str, Any] = dict(backend="torch", data=str(data), out=str(out), vgg_weights="random", device="cpu")
    values.update(overrides)
    return preset_config("smoke", model, **values)


def read_log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Nested state dicts (models, optimizers) equal exactly."""
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_state(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


@pytest.fixture(scope="module")
def pretrained(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished smoke SRResNet phase (its run folder)."""
    out = tmp_path_factory.mktemp("srresnet")
    train(smoke_cfg("srresnet", tiny_data, out))
    return out


def test_to_tensor_is_nchw_and_to_numpy_inverts_it() -> None:
    x = np.random.default_rng(0).random((2, 5, 7, 3), dtype=np.float32)
    t = to_tensor(x, torch.device("cpu"))
    assert t.shape == (2, 3, 5, 7)
    assert t.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(t[1, 2], torch.from_numpy(x[1, :, :, 2]))
    assert np.array_equal(to_numpy(t), x)


def test_srresnet_smoke_run(pretrained: Path) -> None:
    out = pretrained
    for name in ("last.pth", "best.pth", "config.json", "log.jsonl"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["model"] == "srresnet"
    rows = read_log(out)
    assert [r["step"] for r in rows if "g_loss" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in rows if "val_psnr" in r] == [2, 4]
    assert all({"content", "lr", "time"} <= r.keys() for r in rows if "g_loss" in r)
    meta, data = load_checkpoint(out / "last.pth", scale=4)
    assert meta["iteration"] == 4 and meta["model"] == "srresnet" and meta["backend"] == "torch"
    assert meta["best_psnr"] == max(r["val_psnr"] for r in rows if "val_psnr" in r)
    assert "discriminator" not in data and "optim_d" not in data
    assert load_checkpoint(out / "best.pth")[0]["iteration"] in (2, 4)


def test_srgan_smoke_run(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "srgan"
    last = train(smoke_cfg("srgan", tiny_data, out, pretrained=str(pretrained / "last.pth")))
    assert last == out / "last.pth"
    meta, data = load_checkpoint(last, need_state=True)
    assert {"generator", "discriminator", "optim_g", "optim_d"} <= set(data)
    assert meta["model"] == "srgan" and meta["iteration"] == 4
    assert meta["device"].startswith("CPU: ") and meta["train_seconds"] > 0  # recorded for the results table
    rows = [r for r in read_log(out) if "g_loss" in r]
    assert len(rows) == 4 and all({"content", "adv", "d_loss", "d_real", "d_fake"} <= r.keys() for r in rows)
    assert [r["lr"] for r in rows] == [1e-4, 1e-4, 1e-5, 1e-5]  # the smoke preset's step schedule


def test_srgan_generator_starts_from_pretrained(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    cfg = smoke_cfg("srgan", tiny_data, tmp_path / "g")
    trainer = Trainer(cfg)
    trainer.load_pretrained(pretrained / "last.pth")
    _, data = load_checkpoint(pretrained / "last.pth")
    assert_same_state(trainer.generator.state_dict(), data["generator"])


def test_srgan_needs_pretrained(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--pretrained"):
        train(smoke_cfg("srgan", tiny_data, tmp_path / "g"))


def test_supervised_phase_fine_tunes_pretrained_weights(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    """--pretrained with a supervised model: the phase starts from those weights (after one step at a vanishing
    learning rate they are still there, where a fresh start differs), with its own schedule from iteration 0."""
    _, given = load_checkpoint(pretrained / "last.pth")
    last = train(smoke_cfg("srresnet", tiny_data, tmp_path / "tuned", pretrained=str(pretrained / "last.pth"),
                           iterations=1, lr=1e-12, ema=0.0))
    meta, tuned = load_checkpoint(last)
    assert meta["iteration"] == 1
    weights = {k: v for k, v in given["generator"].items() if "running_" not in k and "num_batches" not in k}
    for k, v in weights.items():  # (a step moves BatchNorm's statistics at any rate)
        assert torch.allclose(tuned["generator"][k], v, atol=1e-6), k
    _, fresh = load_checkpoint(train(smoke_cfg("srresnet", tiny_data, tmp_path / "fresh", iterations=1, ema=0.0)))
    assert any(not torch.allclose(fresh["generator"][k], v, atol=1e-3) for k, v in weights.items())
    with pytest.raises(CheckpointError, match="vdsr|VDSR"):
        train(smoke_cfg("vdsr", tiny_data, tmp_path / "v", pretrained=str(pretrained / "last.pth")))


def test_pretrained_must_match_scale_and_arch(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    ckpt = str(pretrained / "last.pth")
    with pytest.raises(CheckpointError, match="x4"):
        train(smoke_cfg("srgan", tiny_data, tmp_path / "a", scale=2, pretrained=ckpt))
    with pytest.raises(CheckpointError, match="channels"):
        train(smoke_cfg("srgan", tiny_data, tmp_path / "b", channels=8, pretrained=ckpt))


def test_offline_vgg_fails_before_training(monkeypatch: pytest.MonkeyPatch, pretrained: Path, tiny_data: Path,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def fail(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(vgg_weights, "download", fail)
    out = tmp_path / "g"
    with pytest.raises(UserError, match="--vgg-weights"):
        train(smoke_cfg("srgan", tiny_data, out, vgg_weights=None, pretrained=str(pretrained / "last.pth")))
    assert not out.exists()


@pytest.mark.parametrize("model", ["srresnet", "srgan", "srcnn", "vdsr"])  # vdsr: SGD momentum and clipping
def test_resume_equals_one_go(model: str, pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    extra = {"pretrained": str(pretrained / "last.pth")} if model == "srgan" else {}
    one_go = train(smoke_cfg(model, tiny_data, tmp_path / "a", **extra))

    out = tmp_path / "b"
    half = train(smoke_cfg(model, tiny_data, out, **extra), stop_at=2)
    assert load_checkpoint(half)[0]["iteration"] == 2
    # a crash after logging step 3 but before its checkpoint: that row must not survive the resume
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "g_loss": 123.0}) + "\n" + '{"step": 4, "g_lo')
    resumed = train(smoke_cfg(model, tiny_data, out, resume=str(out), **extra))

    meta_a, a = load_checkpoint(one_go)
    meta_b, b = load_checkpoint(resumed)
    assert meta_b["iteration"] == meta_a["iteration"] == 4
    assert a.keys() == b.keys()
    for key in a:
        if key != "meta":
            assert_same_state(a[key], b[key])
    rows = read_log(out)
    assert [r["step"] for r in rows if "g_loss" in r] == [1, 2, 3, 4]
    assert all(r["g_loss"] != 123.0 for r in rows if "g_loss" in r)
    assert [r["step"] for r in rows if "val_psnr" in r] == [2, 4]
    assert meta_b["best_psnr"] == pytest.approx(meta_a["best_psnr"])


def test_resume_from_a_checkpoint_file_with_nothing_left(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    ckpt = pretrained / "last.pth"
    before = ckpt.stat().st_mtime_ns
    assert train(smoke_cfg("srresnet", tiny_data, pretrained, resume=str(ckpt))) == ckpt
    assert ckpt.stat().st_mtime_ns == before


def test_resume_checks_the_phase(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="--pretrained"):
        train(smoke_cfg("srgan", tiny_data, tmp_path / "g", resume=str(pretrained)))
    with pytest.raises(UserError, match="no such"):
        train(smoke_cfg("srresnet", tiny_data, tmp_path / "x", resume=str(tmp_path / "missing.pth")))


def test_resume_of_an_empty_phase_folder_starts_fresh(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    assert train(smoke_cfg("srresnet", tiny_data, out, resume=str(out), iterations=1)) == out / "last.pth"
    assert load_checkpoint(out / "last.pth")[0]["iteration"] == 1


def test_initial_weights_are_seeded(tiny_data: Path, tmp_path: Path) -> None:
    a = Trainer(smoke_cfg("srgan", tiny_data, tmp_path))
    b = Trainer(smoke_cfg("srgan", tiny_data, tmp_path))
    c = Trainer(smoke_cfg("srgan", tiny_data, tmp_path, seed=1))
    assert_same_state(a.generator.state_dict(), b.generator.state_dict())
    assert_same_state(a.discriminator.state_dict(), b.discriminator.state_dict())  # type: ignore[union-attr]
    assert not torch.equal(a.generator.head_conv.weight, c.generator.head_conv.weight)


def test_train_step_sets_lr_and_upscaler_keeps_mode(tiny_data: Path, tmp_path: Path) -> None:
    cfg = smoke_cfg("srgan", tiny_data, tmp_path, iterations=10)
    trainer = Trainer(cfg)
    hr, lr = load_pairs(cfg.data, "train", cfg.scale)
    batch = PatchSampler(hr, lr, cfg.scale, cfg.patch_size, cfg.batch_size, cfg.seed).batch(0)
    losses = trainer.train_batch(*batch, step=7)
    assert all(s["step"] == 1 for s in trainer.optimizers["optim_g"].state.values())
    assert trainer.optimizers["optim_g"].param_groups[0]["lr"] == lr_at(cfg, 7) == 1e-5
    assert all(np.isfinite(v) for v in losses.values())
    sr = trainer.upscaler()(batch[0])
    assert sr.shape == (2, 32, 32, 3) and sr.dtype == np.float32 and 0 <= sr.min() and sr.max() <= 1
    assert trainer.generator.training  # validation does not leave the generator in eval mode
    running = trainer.generator.body_bn.running_mean.clone()
    trainer.upscaler()(batch[0])
    assert torch.equal(running, trainer.generator.body_bn.running_mean)  # eval mode inside: BN stats untouched


def test_amp_on_cpu_is_ignored_with_a_warning(tiny_data: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    trainer = Trainer(smoke_cfg("srresnet", tiny_data, tmp_path, amp=True))
    assert trainer.precision == "fp32" and trainer.autocast_dtype is None and not trainer.scaler.is_enabled()
    assert "amp" in capsys.readouterr().err


def test_other_backend_config_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError):
        train(smoke_cfg("srresnet", tiny_data, tmp_path, backend="keras"))
