"""Cross-backend parity: PyTorch and Keras compute the same functions from the same weights and data.

float32 on the CPU, XLA off. Each test states its tolerance; measured differences (2 CPU cores,
torch 2.x / TF 2.21) are in the comments, typically 100x below the tolerance. Models are tiny
(1-2 residual blocks, 8-16 channels): the layouts and conventions under test do not depend on size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras_srgan  # noqa: E402, F401  (sets KERAS_BACKEND before keras is imported)
from srconvert import keras_io, torch_io  # noqa: E402
from srconvert.layout import generator_entries, to_keras  # noqa: E402
from srcore.data import PatchSampler  # noqa: E402
from srcore.vgg19 import vgg19_cache_path  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
torch.set_num_threads(1)
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SCALES = (2, 3, 4)


def randomise(module: torch.nn.Module, seed: int, conv_gain: float = 1.0) -> None:
    """Non-trivial values for every tensor a default init leaves special (BN stats and affine, PReLU, biases);
    conv weights scaled by `conv_gain` (a deep stack at torch's default init fades to its biases)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for key, t in module.state_dict().items():
            if t.ndim == 4:
                t.mul_(conv_gain)
            if key.endswith("num_batches_tracked") or (t.ndim > 1):
                continue
            if key.endswith("running_var"):
                values = rng.uniform(0.5, 2.0, t.shape)
            elif key.endswith(("running_mean", "bias")):
                values = rng.normal(0.0, 0.1, t.shape)
            else:  # BN gamma, PReLU slopes
                values = rng.uniform(0.1, 1.5, t.shape)
            t.copy_(torch.from_numpy(values.astype(np.float32)))


def torch_run(model: torch.nn.Module, x: np.ndarray, training: bool) -> np.ndarray:
    from torch_srgan.device import to_numpy, to_tensor

    model.train(training)
    with torch.no_grad():
        return to_numpy(model(to_tensor(x, torch.device("cpu"))))


def keras_run(model, x: np.ndarray, training: bool) -> np.ndarray:
    return np.asarray(model(x, training=training))


def real_lr(h: int, w: int) -> np.ndarray:
    """A crop of a Set5 image as a network input in [0, 1] (skips without the datasets)."""
    from srcore.imageio import load_image

    path = DATASETS / "Set5" / "butterfly.png"
    if not path.is_file():
        pytest.skip(f"real datasets not found at {DATASETS}")
    img = load_image(path)[100:100 + h, 120:120 + w]
    return (img.astype(np.float32) / 255.0)[None]


def inputs(kind: str, h: int, w: int) -> np.ndarray:
    if kind == "real":
        return real_lr(h, w)
    return np.random.default_rng(1).random((2, h, w, 3), dtype=np.float32)


# --- forward passes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kind", ["random", "real"])
def test_generator_outputs_agree(scale: int, kind: str) -> None:
    """Same weights -> same SR output, BN in inference and in training mode: 1e-4 max abs (measured <= 1e-6)."""
    from torch_srgan.models import build_generator

    torch.manual_seed(scale)
    tg = build_generator(scale, blocks=2, channels=8)
    randomise(tg, scale)
    meta = {"scale": scale, "arch": {"blocks": 2, "channels": 8}}
    kg = keras_io.generator_from_arrays(meta, torch_io.state_to_arrays(tg.state_dict()), "test")
    x = inputs(kind, 12, 10)
    for training in (False, True):  # inference first: a training-mode call updates the BN running statistics
        yt, yk = torch_run(tg, x, training), keras_run(kg, x, training)
        assert yt.shape == yk.shape == (x.shape[0], 12 * scale, 10 * scale, 3)
        assert yt.std() > 0.05  # not saturated: the comparison means something
        np.testing.assert_allclose(yk, yt, rtol=0, atol=1e-4, err_msg=f"x{scale} {kind} training={training}")

    # Negative control: without the pixel-shuffle channel permutation the outputs are far apart.
    for e in generator_entries(scale, "srresnet", {"blocks": 2, "channels": 8}):
        if e.kind == "conv_ps":
            w, b = to_keras(dataclasses.replace(e, kind="conv"), torch_io.state_to_arrays(tg.state_dict()))
            kg.get_layer(e.keras).set_weights([w, b])
    assert np.abs(keras_run(kg, x, True) - torch_run(tg, x, True)).max() > 1e-2


@pytest.mark.parametrize("kind", ["random", "real"])
def test_discriminator_logits_agree(kind: str) -> None:
    """Same weights -> same logits (flatten order, padding, BN): 1e-4 max abs (measured <= 1e-6)."""
    from torch_srgan.models import build_discriminator

    torch.manual_seed(0)
    td = build_discriminator(patch_size=32, channels=8)
    randomise(td, 0, conv_gain=2.5)  # logits that depend on the input, also in inference mode
    with torch.no_grad():
        td.classifier[1].weight.mul_(20.0)  # spread the logits, so a wrong flatten order shows too
    meta = {"scale": 4, "arch": {"blocks": 1, "channels": 8, "patch_size": 32, "disc_channels": 8}}
    arrays = torch_io.state_to_arrays(td.state_dict())
    kd = keras_io.discriminator_from_arrays(meta, arrays, "test")
    x = inputs(kind, 32, 32) * 2.0 - 1.0  # discriminator input range [-1, 1]
    for training in (False, True):
        lt, lk = torch_run_logits(td, x, training), keras_run(kd, x, training)
        assert lt.shape == lk.shape == (x.shape[0], 1)
        assert x.shape[0] == 1 or np.ptp(lt) > 0.1  # the comparison means something
        np.testing.assert_allclose(lk, lt, rtol=0, atol=1e-4, err_msg=f"{kind} training={training}")
    # Negative control: a plain transpose of the first dense layer (no CHW -> HWC permutation) is wrong.
    kd.get_layer("fc1").set_weights([arrays["classifier.1.weight"].T, arrays["classifier.1.bias"]])
    assert np.abs(keras_run(kd, x, False) - torch_run_logits(td, x, False)).max() > 1e-2


def torch_run_logits(model: torch.nn.Module, x: np.ndarray, training: bool) -> np.ndarray:
    from torch_srgan.train import to_tensor

    model.train(training)
    with torch.no_grad():
        return model(to_tensor(x, torch.device("cpu"))).numpy()


@pytest.fixture(scope="module")
def vgg_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same RANDOM VGG19 weights for both backends (no ImageNet weights offline), through the .npz
    that `convert_weights.py --vgg19` writes: the path users take with torchvision's file."""
    from srcore import neutral
    from torch_srgan.losses import vgg19_features

    torch.manual_seed(0)
    arrays = torch_io.state_to_arrays({f"features.{k}": v for k, v in vgg19_features(36).state_dict().items()})
    return neutral.save_neutral(tmp_path_factory.mktemp("vgg") / "vgg19_random.npz", neutral.vgg19_meta("random"),
                                {"vgg19": arrays})


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("layer", ["22", "54"])
def test_vgg_features_and_losses_agree(layer: str, vgg_npz: Path) -> None:
    """phi_2,2 / phi_5,4 of the same images with the same VGG19 weights and input normalisation:
    1e-3 relative (max abs difference / max abs feature; measured ~1e-6); the VGG content losses too."""
    from keras_srgan import losses as klosses
    from torch_srgan import losses as tlosses
    from torch_srgan.device import to_numpy, to_tensor

    cpu = torch.device("cpu")
    sr = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    try:
        hr = real_lr(32, 32) * 2.0 - 1.0
        hr = np.concatenate([hr, hr[:, ::-1]])
    except pytest.skip.Exception:
        hr = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    t_loss = tlosses.ContentLoss(f"vgg{layer}", str(vgg_npz))
    k_loss = klosses.ContentLoss(f"vgg{layer}", str(vgg_npz))
    for y in (sr, hr):
        with torch.no_grad():
            ft = to_numpy(t_loss.features(to_tensor(y, cpu)))
        fk = np.asarray(k_loss.vgg(klosses.vgg_input(y), training=False)) / klosses.VGG_SCALE
        assert ft.shape == fk.shape and np.abs(ft).max() > 0
        assert rel_diff(fk, ft) < 1e-3
    with torch.no_grad():
        lt = float(t_loss(to_tensor(sr, cpu), to_tensor(hr, cpu)))
    lk = float(k_loss(sr, hr))
    # The loss is quadratic in the features, so their 1e-3 gives it 2e-3 (with random weights VGG54's features
    # are ~1e-8 and the loss ~5e-17: an AVX2-only EPYC measured 1.2e-3 there)
    assert abs(lk - lt) / lt < 2e-3


def test_default_vgg_is_the_same_in_both_backends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--vgg-weights unset: both backends load torchvision's file from torch.hub's cache (here a RANDOM
    stand-in in torchvision's old serialization format, since nothing is downloadable offline);
    relu2_2 features agree to 1e-3 relative (measured ~1e-7)."""
    from keras_srgan import losses as klosses
    from torch_srgan import losses as tlosses
    from torch_srgan.device import to_numpy, to_tensor

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    torch.manual_seed(1)
    state = {f"features.{k}": v for k, v in tlosses.vgg19_features(36).state_dict().items()}
    target = vgg19_cache_path()
    target.parent.mkdir(parents=True)
    torch.save(state, target, _use_new_zipfile_serialization=False)
    y = np.random.default_rng(4).uniform(-1, 1, (1, 24, 24, 3)).astype(np.float32)
    t_loss, k_loss = tlosses.ContentLoss("vgg22", None), klosses.ContentLoss("vgg22", None)
    with torch.no_grad():
        ft = to_numpy(t_loss.features(to_tensor(y, torch.device("cpu"))))
    fk = np.asarray(k_loss.vgg(klosses.vgg_input(y), training=False)) / klosses.VGG_SCALE
    assert k_loss.vgg.preprocessing == "torch" and np.abs(ft).max() > 0
    assert rel_diff(fk, ft) < 1e-3


# --- checkpoints and data -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def set5_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Set5 prepared as prepare_bsd500.py does (HR as is, LR = imresize(modcrop(hr, 4), 1/4))."""
    from srcore.color import modcrop
    from srcore.imageio import list_images, load_image, save_image
    from srcore.imresize import imresize

    if not (DATASETS / "Set5").is_dir():
        pytest.skip(f"real datasets not found at {DATASETS}")
    root = tmp_path_factory.mktemp("set5")
    for path in list_images(DATASETS / "Set5"):
        hr = load_image(path)
        save_image(root / "benchmarks" / "Set5" / "hr" / f"{path.stem}.png", hr)
        save_image(root / "benchmarks" / "Set5" / "lr_x4" / f"{path.stem}.png", imresize(modcrop(hr, 4), 1 / 4))
    return root


def test_converted_checkpoint_scores_the_same_on_set5(set5_data: Path, tmp_path: Path) -> None:
    """A torch checkpoint and its Keras conversion score the same Set5 PSNR: 0.01 dB (measured < 0.001).

    The model is a tiny randomly initialised x4 generator: what is tested is the conversion and the
    two inference paths (file loading, NHWC/NCHW, [-1, 1] -> uint8), not the quality of the model.
    """
    from keras_srgan.inference import load_upscaler as keras_load
    from srconvert.convert import convert_checkpoint
    from srcore.checkpoint import RunState, make_meta
    from srcore.config import preset_config
    from srcore.evaluate import evaluate_benchmarks, make_sr_function
    from torch_srgan.checkpoint import save_checkpoint
    from torch_srgan.inference import load_upscaler as torch_load
    from torch_srgan.models import build_generator

    cfg = preset_config("smoke", "srresnet", blocks=1, channels=8)
    torch.manual_seed(0)
    g = build_generator(4, **cfg.arch_params)
    randomise(g, 0)
    pth = save_checkpoint(tmp_path / "g.pth", make_meta(cfg, RunState()), g)
    keras_ckpt = tmp_path / "g.weights.h5"
    convert_checkpoint(pth, keras_ckpt)
    scores = {}
    for name, (upscale, _) in {"torch": torch_load(pth, "cpu"), "keras": keras_load(keras_ckpt, "cpu")}.items():
        (row,) = evaluate_benchmarks(make_sr_function(upscale, 4), set5_data, ["Set5"], 4)
        assert row["images"] == 5
        scores[name] = row["psnr"]
    assert abs(scores["torch"] - scores["keras"]) <= 0.01, scores


def test_shared_sampler_feeds_both_backends_identical_batches() -> None:
    """The sampler is plain numpy and a pure function of (seed, step): exact equality, no tolerance.

    Torch gets the batch through torch_srgan.train.to_tensor (NHWC -> NCHW), Keras as the shared loop's
    prefetching thread (srcore.loop) hands it over; both carry the very same numbers.
    """
    from srcore.loop import Prefetcher
    from torch_srgan.device import to_numpy, to_tensor

    rng = np.random.default_rng(0)
    hr = [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(3)]
    lr = [h[::4, ::4].copy() for h in hr]

    def sampler() -> PatchSampler:
        return PatchSampler(hr, lr, 4, 16, 3, seed=7)

    a, b = sampler(), sampler()
    with Prefetcher(b, 2, 6) as stream:
        for step, (k_lr, k_hr) in zip(range(2, 6), stream):
            t_lr, t_hr = a.batch(step)
            np.testing.assert_array_equal(k_lr, t_lr)
            np.testing.assert_array_equal(k_hr, t_hr)
            np.testing.assert_array_equal(to_numpy(to_tensor(t_lr, torch.device("cpu"))), k_lr)
            assert to_tensor(t_hr, torch.device("cpu")).shape == (3, 3, 16, 16)
    assert not np.array_equal(a.batch(0)[0], a.batch(1)[0])


# --- one training step ----------------------------------------------------------------------------------------

PRE_BN_BIASES = ("conv1.bias", "conv2.bias", "body_conv.bias")  # conv biases directly followed by BN


def test_srresnet_mse_training_step_agrees() -> None:
    """From the same weights and batch, SRResNet-MSE steps give the same loss and the same weights.

    Tolerances: loss 1e-5 relative (measured ~1e-7); updated weights 1e-5 max abs (measured ~1e-6 at
    lr 1e-4, where the first Adam step moves every weight by about 1e-4); BN running_mean 1e-5 max abs.
    Aligned for this: Keras uses keras_srgan.train.TorchAdam (torch's epsilon placement; Keras'
    own Adam adds epsilon to sqrt(v) before bias correction, which alone fails this test), BN
    momentum 0.9 / epsilon 1e-5. Two documented exceptions:
    - BN running_var: torch updates it with the unbiased batch variance, Keras with the biased one.
      Checked exactly: torch - keras = 0.1 * var_batch / (n - 1) with n = batch * h * w.
    - conv biases directly before a BN: BN removes them, their gradient is 0 in exact arithmetic,
      so float rounding noise (~1e-9) is all Adam sees and it turns that into steps of up to lr of
      either sign. Checked: gradient below 1e-6, step at most lr, in both backends.
    """
    from keras_srgan.train import Trainer as KerasTrainer
    from srcore.config import preset_config
    from torch_srgan.train import Trainer as TorchTrainer

    cfg = preset_config("smoke", "srresnet", lr=1e-4, device="cpu", xla=False)  # lr 1e-4: the paper's
    rng = np.random.default_rng(0)
    hr = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(4)]
    sampler = PatchSampler(hr, [h[::4, ::4].copy() for h in hr], 4, cfg.patch_size, cfg.batch_size, seed=0)
    tt = TorchTrainer(cfg)
    kt = KerasTrainer(dataclasses.replace(cfg, backend="keras"))
    init = torch_io.state_to_arrays(tt.generator.state_dict())
    keras_io.set_weights(kt.generator, generator_entries(cfg.scale, cfg.arch, cfg.arch_params), init, "generator",
                         "test")

    lr_b, hr_b = sampler.batch(0)
    lt, lk = tt.train_batch(lr_b, hr_b, 0), kt.train_batch(lr_b, hr_b, 0)
    assert abs(lk["g_loss"] - lt["g_loss"]) <= 1e-5 * lt["g_loss"]
    wt = torch_io.state_to_arrays(tt.generator.state_dict())
    wk = keras_io.generator_to_arrays(kt.generator, cfg.scale, cfg.arch, cfg.arch_params)
    grads = {n: p.grad.numpy() for n, p in tt.generator.named_parameters()}
    n = cfg.batch_size * cfg.lr_patch_size ** 2  # elements per channel that BN normalises over
    for key in wt:
        if key.endswith("running_var"):
            batch_var = (wk[key] - 0.9) / 0.1  # Keras: 0.9 * 1 + 0.1 * biased variance
            np.testing.assert_allclose(wt[key] - wk[key], 0.1 * batch_var / (n - 1), rtol=0, atol=1e-6)
        elif key.endswith(PRE_BN_BIASES):
            assert np.abs(grads[key]).max() < 1e-6
            for w in (wt[key], wk[key]):
                assert np.abs(w - init[key]).max() <= cfg.lr * 1.001
        else:
            # Adam's first step is lr * g / (|g| + 1e-8): where |g| is itself at rounding level (< 1e-7; a weight's
            # typical gradient here is 1e-3), float noise in g sets the step and either backend's is right (seen
            # on an AMX Xeon: 1e-9 in torch, 3e-9 in Keras, steps 0.9e-5 and 2.3e-5). Those few elements move by
            # at most lr; the rest agree to 1e-5.
            tiny = np.abs(grads[key]) < 1e-7 if key in grads else np.zeros(wt[key].shape, bool)
            assert tiny.mean() < 1e-3, key
            np.testing.assert_allclose(wk[key][~tiny], wt[key][~tiny], rtol=0, atol=1e-5, err_msg=key)
            for w in (wt[key], wk[key]):
                assert np.abs(w - init[key])[tiny].max(initial=0.0) <= cfg.lr * 1.001, key
    assert max(np.abs(wt[k] - init[k]).max() for k in wt) > 0.5 * cfg.lr  # the step did move the weights

    # The second step's loss: the updated weights (and Adam's moments) compute the same function.
    lr_b, hr_b = sampler.batch(1)
    lt, lk = tt.train_batch(lr_b, hr_b, 1), kt.train_batch(lr_b, hr_b, 1)
    assert abs(lk["g_loss"] - lt["g_loss"]) <= 1e-5 * lt["g_loss"]
