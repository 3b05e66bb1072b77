"""Keras training: smoke runs of both phases, exact resume, the LR variable, the batch prefetcher.

Few trainings on purpose (TF graph building dominates): one SRResNet run that the interrupted +
resumed run is compared with, one SRGAN run, and one Trainer-level SRGAN resume check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import keras_srgan  # noqa: F401  (first: sets KERAS_BACKEND before keras is imported)

pytest.importorskip("tensorflow")
pytest.importorskip("keras")
# Keras' own weight saving converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

import numpy as np  # noqa: E402

from keras_srgan import train as ktrain  # noqa: E402
from keras_srgan.checkpoint import load_checkpoint  # noqa: E402
from keras_srgan.models import build_generator  # noqa: E402
from srcore.checkpoint import CheckpointError, RunState  # noqa: E402
from srcore.config import TrainConfig, preset_config  # noqa: E402
from srcore.data import PatchSampler, load_pairs  # noqa: E402
from srcore.errors import UserError  # noqa: E402
from srcore.loop import Prefetcher  # noqa: E402


def smoke(model: str, data: Path, out: Path, **kw) -> TrainConfig:
    return preset_config("smoke", model, backend="keras", data=str(data), out=str(out), **kw)


def generator_weights(path: Path, cfg: TrainConfig, trainable: bool = False) -> list[np.ndarray]:
    """The generator's weights in a checkpoint: all, or only those a step trains (no BatchNorm statistics)."""
    g = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
    g.load_weights(path)
    return [w.numpy() for w in (g.trainable_weights if trainable else g.weights)]


@pytest.fixture(scope="module")
def srresnet_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, Path]:
    # XLA on: this run also covers the jit-compiled step.
    cfg = smoke("srresnet", tiny_data, tmp_path_factory.mktemp("runs") / "srresnet", xla=True)
    return cfg, ktrain.train(cfg)


def test_srresnet_phase_outputs(srresnet_run: tuple[TrainConfig, Path]) -> None:
    cfg, last = srresnet_run
    out = Path(cfg.out)
    assert last == out / "last.weights.h5"
    for name in ("last.json", "last.state.npz", "best.weights.h5", "best.json", "config.json", "log.jsonl"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text()) == cfg.to_dict()
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [e for e in entries if "g_loss" in e]
    vals = [e for e in entries if "val_psnr" in e]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert all({"lr", "time"} <= e.keys() for e in steps)
    assert [e["step"] for e in vals] == [2, 4] and all(np.isfinite(e["val_psnr"]) for e in vals)
    meta, _ = load_checkpoint(last)
    assert meta["device"].startswith("CPU: ") and meta["train_seconds"] > 0
    assert meta["iteration"] == 4 and meta["model"] == "srresnet" and meta["backend"] == "keras"
    assert meta["best_psnr"] == max(e["val_psnr"] for e in vals)


def test_resume_continues_exactly(srresnet_run: tuple[TrainConfig, Path], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """4 steps in one go == 3 steps, interrupted (last saved at 2), + resume + 2 (same weights; XLA on)."""
    cfg, last = srresnet_run
    out = tmp_path / "resumed"
    calls = {"n": 0}
    real_step = ktrain.Trainer.train_batch

    def interrupted(self, lr, hr, step):
        if calls["n"] == 3:  # after step 3 is logged, past the checkpoint of step 2
            raise KeyboardInterrupt
        calls["n"] += 1
        return real_step(self, lr, hr, step)

    monkeypatch.setattr(ktrain.Trainer, "train_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ktrain.train(smoke("srresnet", Path(cfg.data), out, xla=True))
    assert load_checkpoint(out)[0]["iteration"] == 2  # saved every 2 steps
    monkeypatch.setattr(ktrain.Trainer, "train_batch", real_step)
    resumed = ktrain.train(smoke("srresnet", Path(cfg.data), out, xla=True, resume=str(out)))
    for a, b in zip(generator_weights(last, cfg), generator_weights(resumed, cfg)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    steps = [json.loads(s)["step"] for s in (out / "log.jsonl").read_text().splitlines()
             if "g_loss" in json.loads(s)]
    assert steps == [1, 2, 3, 4]  # step 3 of the interrupted run is not logged twice
    # A finished phase resumes to a no-op that returns its checkpoint.
    assert ktrain.train(smoke("srresnet", Path(cfg.data), out, xla=True, resume=str(out))) == resumed


def test_srgan_phase(srresnet_run: tuple[TrainConfig, Path], tmp_path: Path) -> None:
    cfg, last = srresnet_run
    gan = smoke("srgan", Path(cfg.data), tmp_path / "srgan", vgg_weights="random", pretrained=str(last), xla=False)
    ckpt = ktrain.train(gan)
    meta, _ = load_checkpoint(ckpt, need_state=True)
    assert meta["model"] == "srgan" and meta["iteration"] == 4
    entries = [json.loads(s) for s in (tmp_path / "srgan" / "log.jsonl").read_text().splitlines()]
    step = next(e for e in entries if "g_loss" in e)
    assert {"content", "adv", "d_loss", "d_real", "d_fake", "lr", "time"} <= step.keys()
    assert [e["lr"] for e in entries if "lr" in e] == [1e-4, 1e-4, 1e-5, 1e-5]  # the step schedule
    # the generator started from the pretrained weights, then trained
    assert any(not np.array_equal(a, b) for a, b in zip(generator_weights(last, cfg), generator_weights(ckpt, cfg)))


def test_srgan_needs_pretrained_and_phase_checks(srresnet_run: tuple[TrainConfig, Path], tmp_path: Path) -> None:
    cfg, last = srresnet_run
    with pytest.raises(UserError, match="--pretrained"):
        ktrain.train(smoke("srgan", Path(cfg.data), tmp_path / "a", content_loss="mse", xla=False))
    with pytest.raises(CheckpointError, match="--pretrained"):  # resuming SRGAN from an SRResNet checkpoint
        ktrain.train(smoke("srgan", Path(cfg.data), tmp_path / "b", content_loss="mse", xla=False,
                           resume=str(last)))
    with pytest.raises(CheckpointError, match="blocks"):
        ktrain.train(smoke("srgan", Path(cfg.data), tmp_path / "c", content_loss="mse", xla=False, blocks=3,
                           pretrained=str(last)))


def test_supervised_phase_fine_tunes_pretrained_weights(srresnet_run: tuple[TrainConfig, Path],
                                                         tmp_path: Path) -> None:
    """--pretrained with a supervised model: the phase starts from those weights (one step at a vanishing learning
    rate leaves them), where a fresh start differs."""
    cfg, last = srresnet_run
    tuned = ktrain.train(smoke("srresnet", Path(cfg.data), tmp_path / "t", pretrained=str(last), iterations=1,
                               lr=1e-12, ema=0.0, xla=False))
    given = generator_weights(last, cfg, trainable=True)  # (a step moves BatchNorm's statistics at any rate)
    for a, b in zip(given, generator_weights(tuned, cfg, trainable=True), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    fresh = ktrain.train(smoke("srresnet", Path(cfg.data), tmp_path / "f", iterations=1, ema=0.0, xla=False))
    assert any(not np.allclose(a, b, atol=1e-3)
               for a, b in zip(given, generator_weights(fresh, cfg, trainable=True), strict=True))


def test_trainer_resume_srgan_and_lr_variable(tiny_data: Path, tmp_path: Path) -> None:
    """Trainer level, SRGAN phase: G, D and both Adam states restore exactly; LR is read every step.

    XLA off here only to save compile time on the shared CPU; the XLA path is checked above.
    The schedule drops the LR to 0 at step 2: with a compiled step that baked in the initial LR
    the trainable weights would keep moving.
    """
    cfg = smoke("srgan", tiny_data, tmp_path, vgg_weights="random", xla=False, lr_decay=0.0)
    hr, lr = load_pairs(tiny_data, "train", cfg.scale)
    sampler = PatchSampler(hr, lr, cfg.scale, cfg.patch_size, cfg.batch_size, seed=cfg.seed)

    def state(t: ktrain.Trainer) -> list[np.ndarray]:
        return [v.numpy() for v in t.generator.weights + t.discriminator.weights
                + t.g_optimizer.variables + t.d_optimizer.variables]

    def trainable(t: ktrain.Trainer) -> list[np.ndarray]:
        return [v.numpy() for v in t.generator.trainable_weights + t.discriminator.trainable_weights]

    a = ktrain.Trainer(cfg)
    for i in range(2):
        losses = a.train_batch(*sampler.batch(i), step=i)
    assert set(losses) == {"g_loss", "content", "adv", "d_loss", "d_real", "d_fake"}
    a.save(tmp_path / "mid", RunState(iteration=2))
    before = trainable(a)
    for i in range(2, 4):
        a.train_batch(*sampler.batch(i), step=i)
    assert int(a.g_optimizer.iterations) == 4
    for x, y in zip(before, trainable(a)):
        np.testing.assert_array_equal(x, y)  # lr 0 from step 2 on

    b = ktrain.Trainer(cfg)
    assert b.restore(tmp_path / "mid.weights.h5").iteration == 2
    for i in range(2, 4):
        b.train_batch(*sampler.batch(i), step=i)
    for x, y in zip(state(a), state(b)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_prefetcher_order_and_errors(tiny_data: Path) -> None:
    hr, lr = load_pairs(tiny_data, "train", 4)
    sampler = PatchSampler(hr, lr, 4, 32, 2, seed=3)
    with Prefetcher(sampler, 5, 9) as batches:
        for i in range(5, 9):
            got = next(batches)
            want = sampler.batch(i)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])

    class Broken:
        def batch(self, i: int, shard: tuple[int, int] = (0, 1)):
            raise ValueError(f"bad batch {i}")

    with Prefetcher(Broken(), 0, 3) as batches, pytest.raises(ValueError, match="bad batch 0"):
        next(batches)


def test_xla_is_off_by_default_on_a_cpu(tiny_data, tmp_path):
    """XLA measured slower than TF's own kernels on this CPU (results/speed.md): auto means GPU only."""
    import tensorflow as tf

    trainer = ktrain.Trainer(smoke("srresnet", tiny_data, tmp_path, device="cpu"))
    assert trainer.xla is False
    assert ktrain.Trainer(smoke("srresnet", tiny_data, tmp_path, device="cpu", xla=True)).xla is True
    assert tf.config.list_physical_devices("GPU") or ktrain.Trainer(smoke("srresnet", tiny_data, tmp_path)).xla is False
