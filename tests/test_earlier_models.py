"""SRCNN and VDSR: the same functions in both backends, their optimizers and clipping step for step, the
bicubic input shared with the bicubic baseline, checkpoints that resume, convert and score the same.

float32 on the CPU, XLA off; tiny sizes (the conventions under test do not depend on size).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras_srgan  # noqa: E402, F401  (sets KERAS_BACKEND before keras is imported)
from srconvert import keras_io, torch_io  # noqa: E402
from srconvert.layout import generator_entries  # noqa: E402
from srcore.config import TrainConfig, lr_at, preset_config  # noqa: E402
from srcore.errors import UserError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
ARCHS = [("srcnn", {"kernels": "9-1-5"}), ("srcnn", {"kernels": "9-5-5"}), ("vdsr", {"layers": 3})]


def pair(arch: str, params: dict, channels: int = 8) -> tuple[torch.nn.Module, object]:
    """A torch and a Keras generator holding the same (torch-initialised) weights."""
    from keras_srgan.models import build_generator as keras_build
    from torch_srgan.models import build_generator as torch_build

    torch.manual_seed(0)
    t = torch_build(4, arch, channels=channels, **params)
    with torch.no_grad():  # weights big enough that every layer matters
        for p in t.parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.1))
    k = keras_build(4, arch, channels=channels, **params)
    entries = generator_entries(4, arch, {"channels": channels, **params})
    keras_io.set_weights(k, entries, torch_io.state_to_arrays(t.state_dict()), "generator", "test")
    return t, k


@pytest.mark.parametrize(("arch", "params"), ARCHS)
def test_outputs_agree(arch: str, params: dict) -> None:
    """Same weights -> same output, the input's size: 1e-4 max abs (measured ~1e-6)."""
    from torch_srgan.device import to_numpy, to_tensor

    t, k = pair(arch, params)
    x = np.random.default_rng(1).random((2, 20, 24, 3), dtype=np.float32)
    with torch.no_grad():
        out_t = to_numpy(t(to_tensor(x, torch.device("cpu"))))
    out_k = np.asarray(k(x, training=False))
    assert out_t.shape == out_k.shape == x.shape
    assert np.abs(out_t - out_k).max() <= 1e-4
    assert out_t.std() > 0.05  # not a trivial output
    # The converter's round trip is exact.
    back = keras_io.get_weights(k, generator_entries(4, arch, {"channels": 8, **params}))
    for key, value in torch_io.state_to_arrays(t.state_dict()).items():
        np.testing.assert_array_equal(back[key], value)


def test_vdsr_is_the_input_plus_a_residual() -> None:
    """With the last layer at zero VDSR returns its input (mapped to [-1, 1]): the global residual."""
    from torch_srgan.models import build_generator

    g = build_generator(4, "vdsr", layers=3, channels=8)
    with torch.no_grad():
        g.layers[-1].weight.zero_()
        g.layers[-1].bias.zero_()
        x = torch.rand(1, 3, 10, 12)
        torch.testing.assert_close(g(x), 2 * x - 1)


def _step_cfg(model: str, **overrides: object) -> TrainConfig:
    return preset_config("smoke", model, device="cpu", xla=False, **overrides)


@pytest.mark.parametrize(("model", "overrides"), [
    ("srcnn", {}),  # Adam, mse
    ("vdsr", {"lr": 0.5}),  # SGD momentum + L2 + clipping (active at this rate), Caffe's Euclidean loss
])
def test_training_steps_agree(model: str, overrides: dict, tiny_data: Path) -> None:
    """From the same weights and batches, three steps give the same losses (1e-5 relative) and weights (1e-5).

    No BatchNorm here, so no exception to the rule (unlike SRResNet's, tests/test_parity.py)."""
    from keras_srgan.train import Trainer as KerasTrainer
    from srcore.data import PatchSampler, interpolated_pairs
    from torch_srgan.train import Trainer as TorchTrainer

    cfg = _step_cfg(model, **overrides)
    hr, up = interpolated_pairs(tiny_data, "train", (4,))
    sampler = PatchSampler(hr, up, 1, cfg.patch_size, cfg.batch_size, seed=0)
    tt, kt = TorchTrainer(cfg), KerasTrainer(dataclasses.replace(cfg, backend="keras"))
    entries = generator_entries(cfg.scale, cfg.arch, cfg.arch_params)
    keras_io.set_weights(kt.generator, entries, torch_io.state_to_arrays(tt.generator.state_dict()), "generator", "t")
    clipped = 0
    for step in range(3):
        lr_b, hr_b = sampler.batch(step)
        lt, lk = tt.train_batch(lr_b, hr_b, step), kt.train_batch(lr_b, hr_b, step)
        assert abs(lk["content"] - lt["content"]) <= 1e-5 * lt["content"], step
        if cfg.clip:
            bound = cfg.clip / lr_at(cfg, step)
            clipped += sum(int((p.grad.abs() >= bound * (1 - 1e-6)).sum()) for p in tt.generator.parameters())
    wt = torch_io.state_to_arrays(tt.generator.state_dict())
    wk = keras_io.get_weights(kt.generator, entries)
    # rtol 1e-4 beside atol 1e-5: float32 sums run in another order on another CPU's kernels (an AVX2-only EPYC:
    # VDSR's 0.5-rate SGD left one first-layer weight of 0.215 at 1.18e-5, 5.5e-5 relative); a wrong update rule
    # moves weights by ~1e-2 at these rates.
    for key in wt:
        np.testing.assert_allclose(wk[key], wt[key], rtol=1e-4, atol=1e-5, err_msg=key)
    if cfg.clip:
        assert clipped > 0  # the clipping did act, and identically in both


def test_bicubic_input_is_the_bicubic_baseline(tiny_data: Path) -> None:
    """An SRCNN/VDSR upscaler whose network returns its input gives exactly `test.py --bicubic`'s images."""
    from srcore.data import load_pairs
    from srcore.evaluate import bicubic_input, bicubic_sr_function, make_sr_function

    hr, lr = load_pairs(tiny_data, "val", 4)
    sr = make_sr_function(bicubic_input(lambda x: x, 4), 4)  # upscalers map [0, 1] to [0, 1]
    for im in lr:
        np.testing.assert_array_equal(sr(im), bicubic_sr_function(4)(im))


def test_keras_vdsr_resume_equals_one_go(tiny_data: Path, tmp_path: Path) -> None:
    """SGD's momentum buffers and the staircase schedule come back exactly from a checkpoint."""
    from keras_srgan import train as ktrain
    from keras_srgan.checkpoint import load_checkpoint, load_generator_weights
    from keras_srgan.models import build_generator

    def cfg(out: Path, **kw: object) -> TrainConfig:
        return preset_config("smoke", "vdsr", backend="keras", data=str(tiny_data), out=str(out), device="cpu",
                             xla=False, tensorboard=False, lr_schedule="staircase", lr_decay_at=0.5, **kw)

    one = ktrain.train(cfg(tmp_path / "a"))
    ktrain.train(cfg(tmp_path / "b"), stop_at=2)
    two = ktrain.train(cfg(tmp_path / "b", resume=str(tmp_path / "b")))
    weights = []
    for path in (one, two):
        meta, files = load_checkpoint(path)
        g = build_generator(4, "vdsr", layers=3, channels=8)
        load_generator_weights(g, files)
        weights.append(g.get_weights())
        assert meta["iteration"] == 4
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("src", ["torch", "keras"])
def test_converted_checkpoint_scores_the_same(src: str, tiny_data: Path, tmp_path: Path) -> None:
    """A trained SRCNN checkpoint, converted to the other backend and to the neutral format, scores within 0.01 dB
    in every backend (measured: equal to ~1e-5 dB)."""
    from srapp.backends import backend_module
    from srapp.loading import load_sr_model
    from srconvert.convert import convert_checkpoint
    from srcore.evaluate import evaluate_benchmarks, make_sr_function

    run = tmp_path / "run"
    ckpt = backend_module(src, "train").train(preset_config(
        "smoke", "srcnn", backend=src, data=str(tiny_data), out=str(run), device="cpu", xla=False,
        tensorboard=False, kernels="9-5-5"))
    other = "keras" if src == "torch" else "torch"
    converted = tmp_path / ("c.weights.h5" if other == "keras" else "c.pth")
    neutral = tmp_path / "c.safetensors"
    convert_checkpoint(ckpt, converted)
    convert_checkpoint(ckpt, neutral)
    scores = []
    for path, backend in [(ckpt, src), (ckpt, other), (converted, other), (converted, src), (neutral, "torch"),
                          (neutral, "keras")]:
        upscale, meta, _ = load_sr_model(str(path), backend, "cpu", 4)
        assert meta["arch"]["name"] == "srcnn" and meta["arch"]["kernels"] == "9-5-5"
        scores.append(evaluate_benchmarks(make_sr_function(upscale, 4), tiny_data, None, 4)[0]["psnr"])
    assert max(scores) - min(scores) <= 0.01, scores


def test_config_rules() -> None:
    cfg = preset_config("paper", "vdsr")
    assert (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.clip, cfg.content_loss) == ("sgd", 0.9, 1e-4, 0.01,
                                                                                             "sse")
    # staircase: x0.1 every quarter of the run (VDSR: every 20 of 80 epochs)
    assert [lr_at(cfg, s) for s in (0, 19_999, 20_000, 40_000, 79_999)] == pytest.approx([0.1, 0.1, 0.01, 1e-3, 1e-4])
    assert cfg.lr_patch_size == 41 and cfg.train_scales == (4,)
    assert preset_config("quick", "vdsr", multiscale=True).validate().train_scales == (2, 3, 4)
    for bad, msg in [(dict(multiscale=True), "srcnn or vdsr"), (dict(kernels="9-3-5"), "--kernels"),
                     (dict(optimizer="rmsprop"), "--optimizer"),
                     (dict(blocks=5), "--blocks is not a parameter of srcnn")]:
        with pytest.raises(UserError, match=msg):
            preset_config("quick", "srresnet" if "multiscale" in bad else "srcnn", **bad).validate()
    with pytest.raises(UserError, match="mse or sse"):
        preset_config("quick", "vdsr", content_loss="vgg54").validate()


def test_multiscale_training(tmp_path: Path) -> None:
    """--multiscale: the training inputs of x2, x3 and x4 in one sampler; validation at the run's scale."""
    from PIL import Image

    from srcore.data import interpolated_pairs
    from torch_srgan.train import train

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        root = tmp_path / "data" / "bsd500" / split
        (root / "hr").mkdir(parents=True)
        for i in range(n):
            hr = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((48, 48), Image.BICUBIC)
            hr.save(root / "hr" / f"{i}.png")
            for s in (2, 3, 4):
                (root / f"lr_x{s}").mkdir(exist_ok=True)
                hr.resize((48 // s, 48 // s), Image.BICUBIC).save(root / f"lr_x{s}" / f"{i}.png")
    hr, up = interpolated_pairs(tmp_path / "data", "train", (2, 3, 4))
    assert len(hr) == len(up) == 12 and all(a.shape == b.shape for a, b in zip(hr, up))
    assert not np.array_equal(up[0], up[4])  # the x2 and x3 inputs of the same image differ
    cfg = preset_config("smoke", "vdsr", data=str(tmp_path / "data"), out=str(tmp_path / "run"), device="cpu",
                        multiscale=True, tensorboard=False)
    ckpt = train(cfg.validate())
    assert ckpt.is_file()
    x4_only = tmp_path / "x4_only"  # data without the other scales: a one-line error naming the missing one
    shutil.copytree(tmp_path / "data", x4_only, ignore=shutil.ignore_patterns("lr_x2", "lr_x3"))
    with pytest.raises(UserError, match="lr_x2"):
        train(dataclasses.replace(cfg, data=str(x4_only), out=str(tmp_path / "r2")))
