"""--precision (srcore.precision): what auto resolves to with and without bfloat16 hardware, fp16 refused off CUDA,
bf16 training steps against fp32 ones in both backends (within bfloat16's tolerance), exact bf16 resumes, the
precision recorded by a run and changed by --resume only when asked, and bf16 inference against fp32.

bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%), so a bf16 step is not fp32's step: the
tolerances below are a few times what this machine measured (stated at each), far below what a wrong layer in
bf16 (e.g. BatchNorm statistics or the loss, or a missing cast) would give.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from srcore import precision
from srcore.config import TrainConfig, preset_config
from srcore.data import PatchSampler, load_pairs
from srcore.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This CPU as one without bfloat16 hardware (bf16 then runs emulated)."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))


def test_auto_is_bf16_only_where_the_hardware_has_it(no_bf16_cpu: None) -> None:
    assert precision.cpu_bf16_flags() == ()
    assert precision.resolve_precision("auto", cuda=False) == "fp32"
    assert precision.resolve_precision("bf16", cuda=False) == "bf16"  # asked for: emulated, still allowed
    assert precision.resolve_precision("auto", cuda=True, cuda_bf16=False) == "fp32"
    assert precision.resolve_precision("auto", cuda=True, cuda_bf16=True) == "bf16"


def test_auto_with_amx(bf16_cpu: None) -> None:
    assert precision.cpu_bf16_flags() == ("amx_bf16",)
    assert precision.resolve_precision("auto", cuda=False) == "bf16"
    assert precision.resolve_precision("fp32", cuda=False) == "fp32"


def test_fp16_needs_cuda_and_amp_is_the_older_alias(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        precision.resolve_precision("fp16", cuda=False)
    assert precision.resolve_precision("fp16", cuda=True) == "fp16"
    # --amp: mixed precision on a GPU (bf16 where supported), float32 on the CPU as before, with a warning
    assert precision.resolve_precision("fp32", cuda=True, cuda_bf16=True, amp=True) == "bf16"
    assert precision.resolve_precision("fp32", cuda=True, cuda_bf16=False, amp=True) == "fp16"
    assert precision.resolve_precision("fp32", cuda=False, amp=True) == "fp32"
    assert "--precision bf16" in capsys.readouterr().err
    assert precision.resolve_precision("bf16", cuda=False, amp=True) == "bf16"  # an explicit precision wins


def test_configs_from_before_precision_load_as_fp32() -> None:
    old = TrainConfig().to_dict()
    del old["precision"]
    old["amp"] = True
    cfg = TrainConfig.from_dict(old)
    assert cfg.precision == "fp32" and cfg.amp
    with pytest.raises(UserError, match="--precision must be one of"):
        TrainConfig(precision="half").validate()


# ---- torch ---------------------------------------------------------------------------------------------------


def _cfg(backend: str, model: str, data: Path, out: Path, **kw: Any) -> TrainConfig:
    values: dict[str, Any] = dict(backend=backend, data=str(data), out=str(out), vgg_weights="random", device="cpu")
    if backend == "keras":
        values["xla"] = False
    return preset_config("smoke", model, **{**values, **kw})


def _batch(cfg: TrainConfig, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    hr, lr = load_pairs(cfg.data, "train", cfg.scale)
    return PatchSampler(hr, lr, cfg.scale, cfg.patch_size, size, 0).batch(0)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_torch_bf16_step_is_the_fp32_step_within_bf16_tolerance(tiny_data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.train import Trainer

    # Plain SGD, so the weight change of one step is -lr * gradient: the gradients themselves are compared
    # (Adam's first step is about lr * sign(gradient), which amplifies rounding of near-zero gradients).
    trainers, deltas, losses = [], [], []
    for p in ("fp32", "bf16"):
        t = Trainer(_cfg("torch", "srresnet", tiny_data, tmp_path / p, precision=p, optimizer="sgd", momentum=0.0))
        before = [w.detach().clone() for w in t.generator.parameters()]
        losses.append(t.train_batch(*_batch(t.cfg), step=0)["content"])
        deltas.append(torch.cat([(w.detach() - b).flatten() for w, b in zip(t.generator.parameters(), before)]).numpy())
        trainers.append(t)
    assert trainers[1].autocast_dtype == torch.bfloat16 and trainers[0].autocast_dtype is None
    # measured: loss 4e-5 relative, gradients 2.7% relative (cosine 0.9996)
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    assert _rel(deltas[0], deltas[1]) < 0.1
    # BatchNorm statistics stay float32 buffers (autocast computes batch_norm with float32 accumulation)
    assert all(b.dtype == torch.float32 for b in trainers[1].generator.buffers() if b.is_floating_point())
    assert all(w.dtype == torch.float32 for w in trainers[1].generator.parameters())


def test_torch_bf16_srgan_losses_match_fp32(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.train import Trainer

    runs = []
    for p in ("fp32", "bf16"):
        t = Trainer(_cfg("torch", "srgan", tiny_data, tmp_path / p, precision=p))
        runs.append(t.train_batch(*_batch(t.cfg), step=0))
    # measured: 1e-3 relative or less for every loss (the logits and losses are computed in float32)
    for key in ("g_loss", "adv", "d_loss", "d_real", "d_fake"):
        assert runs[1][key] == pytest.approx(runs[0][key], rel=5e-3), key


def test_torch_bf16_resume_is_exact(tiny_data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.checkpoint import load_checkpoint
    from torch_srgan.train import train

    one_go = train(_cfg("torch", "srresnet", tiny_data, tmp_path / "a", precision="bf16"))
    out = tmp_path / "b"
    train(_cfg("torch", "srresnet", tiny_data, out, precision="bf16"), stop_at=2)
    resumed = train(_cfg("torch", "srresnet", tiny_data, out, precision="bf16", resume=str(out)))
    (meta_a, a), (meta_b, b) = load_checkpoint(one_go), load_checkpoint(resumed)
    assert meta_a["config"]["precision"] == meta_b["config"]["precision"] == "bf16"
    assert json.loads((out / "config.json").read_text())["precision"] == "bf16"
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k


def test_torch_without_bf16_hardware(no_bf16_cpu: None, tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.train import Trainer

    auto = Trainer(_cfg("torch", "srresnet", tiny_data, tmp_path / "a", precision="auto"))
    assert auto.precision == auto.cfg.precision == "fp32" and auto.autocast_dtype is None  # recorded resolved
    emulated = Trainer(_cfg("torch", "srresnet", tiny_data, tmp_path / "b", precision="bf16"))
    assert emulated.precision == "bf16"
    assert np.isfinite(emulated.train_batch(*_batch(emulated.cfg), step=0)["g_loss"])


def test_torch_bf16_inference_is_close_to_fp32(tiny_data: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_srgan.inference import make_upscaler
    from torch_srgan.models import build_generator

    torch.manual_seed(0)
    g = build_generator(4, "srresnet", blocks=2, channels=16)
    lr = _batch(_cfg("torch", "srresnet", tiny_data, tiny_data), 2)[0]
    a, b = make_upscaler(g, "cpu")(lr), make_upscaler(g, "cpu", "bf16")(lr)
    assert b.dtype == np.float32 and np.abs(a - b).max() < 0.02  # [0, 1] units: 5 grey levels; measured < 1
    with pytest.raises(UserError, match="fp16"):
        make_upscaler(g, "cpu", "fp16")


# ---- keras ---------------------------------------------------------------------------------------------------


def test_keras_bf16_step_is_the_fp32_step_within_bf16_tolerance(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from keras_srgan.train import Trainer

    deltas, losses, trainers = [], [], []
    for p in ("fp32", "bf16"):
        t = Trainer(_cfg("keras", "srresnet", tiny_data, tmp_path / p, precision=p, optimizer="sgd", momentum=0.0))
        before = [w.numpy().copy() for w in t.generator.trainable_weights]
        losses.append(t.train_batch(*_batch(t.cfg), step=0)["content"])
        deltas.append(np.concatenate([(w.numpy() - b).ravel() for w, b in zip(t.generator.trainable_weights,
                                                                                before)]))
        trainers.append(t)
    assert trainers[1].generator.dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in trainers[1].generator.weights)  # weights and BN statistics
    # the same tolerances as the torch test (measured there: loss 4e-5, gradients 3% relative)
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    assert _rel(deltas[0], deltas[1]) < 0.1
    # validation runs in float32: the bf16 trainer's upscaler gives the fp32 function of its weights
    lr = _batch(trainers[1].cfg, 2)[0]
    trainers[0].generator.set_weights(trainers[1].generator.get_weights())
    np.testing.assert_allclose(trainers[1].upscaler()(lr), trainers[0].upscaler()(lr), atol=1e-5)


def test_keras_bf16_resume_is_exact(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from keras_srgan.train import Trainer
    from srcore.checkpoint import RunState

    cfg = _cfg("keras", "srresnet", tiny_data, tmp_path, precision="bf16")
    hr, lr = load_pairs(tiny_data, "train", cfg.scale)
    sampler = PatchSampler(hr, lr, cfg.scale, cfg.patch_size, cfg.batch_size, seed=cfg.seed)
    a = Trainer(cfg)
    for i in range(2):
        a.train_batch(*sampler.batch(i), step=i)
    a.save(tmp_path / "mid", RunState(iteration=2))
    for i in range(2, 4):
        a.train_batch(*sampler.batch(i), step=i)
    b = Trainer(_cfg("keras", "srresnet", tiny_data, tmp_path, precision="bf16"))
    assert b.restore(tmp_path / "mid.weights.h5").iteration == 2
    for i in range(2, 4):
        b.train_batch(*sampler.batch(i), step=i)
    for x, y in zip(a.generator.weights + a.g_optimizer.variables, b.generator.weights + b.g_optimizer.variables):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_keras_without_bf16_hardware_auto_is_fp32(no_bf16_cpu: None, tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from keras_srgan.train import Trainer

    t = Trainer(_cfg("keras", "srresnet", tiny_data, tmp_path, precision="auto"))
    assert t.precision == t.cfg.precision == "fp32" and t.generator.dtype_policy.name == "float32"


def test_keras_bf16_inference_is_close_to_fp32(tiny_data: Path) -> None:
    pytest.importorskip("tensorflow")
    import keras

    from keras_srgan.inference import make_upscaler
    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(0)
    g = build_generator(4, "srresnet", blocks=2, channels=16)
    lr = _batch(_cfg("keras", "srresnet", tiny_data, tiny_data), 2)[0]
    a, b = make_upscaler(g, "cpu")(lr), make_upscaler(g, "cpu", "bf16")(lr)
    assert g.dtype_policy.name == "float32"  # the clone computes in bf16; the model itself is untouched
    assert np.abs(a - b).max() < 0.02 and np.abs(a - b).max() > 0  # in bf16 indeed, and close


# ---- the command line ------------------------------------------------------------------------------------------


def trains(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "trains.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _error_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    (line,) = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    return line


def test_cli_records_precision_and_a_resume_may_change_it(tiny_data: Path, tmp_path: Path) -> None:
    # A run of several sessions may move to a machine without bfloat16 hardware (emulated: ~10x slower), so
    # --resume takes another --precision; the recipe and the checkpoints then record the new one.
    pytest.importorskip("torch")
    from torch_srgan.checkpoint import load_checkpoint

    common = ("--model", "srresnet", "--preset", "smoke", "--data", str(tiny_data), "--no-tensorboard",
              "--iterations", "2")
    p = trains(*common, "--precision", "bf16", "--out", "run", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "precision bf16" in p.stdout  # the log of the run says it
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())[0]["precision"] == "bf16"
    p = trains("--resume", "run", "--precision", "fp32", "--iterations", "3", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "precision bf16 -> fp32" in p.stdout and "precision fp32" in p.stdout
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())[0]["precision"] == "fp32"
    meta, _ = load_checkpoint(tmp_path / "run" / "srresnet" / "last.pth")
    assert meta["iteration"] == 3 and meta["config"]["precision"] == "fp32"
    line = _error_line(trains(*common, "--precision", "fp16", "--device", "cpu", "--out", "run16", cwd=tmp_path))
    assert "fp16 needs a CUDA GPU" in line and not (tmp_path / "run16" / "recipe.json").exists()


def test_resolve_precisions_records_auto_resolved_and_warns_where_bf16_is_emulated(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    from srapp.training import resolve_precisions

    def resolved(flags: set[str], asked: str) -> tuple[str, str]:
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
        phases = [_cfg("torch", "srresnet", tiny_data, tmp_path / "a", precision=asked)]
        resolve_precisions(phases)
        return phases[0].precision, capsys.readouterr().err

    assert resolved({"avx2"}, "auto") == ("fp32", "")
    p, err = resolved({"avx2"}, "bf16")  # asked for: kept, with the warning and the way out
    assert p == "bf16" and "emulates" in err and "--precision auto" in err
    assert resolved({"amx_bf16"}, "bf16") == ("bf16", "")
    assert resolved({"avx512_bf16"}, "auto") == ("bf16", "")
