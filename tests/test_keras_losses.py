"""Keras losses: VGG layer selection, weight sources, content and adversarial losses."""

from __future__ import annotations

from pathlib import Path

import pytest

import keras_srgan  # noqa: F401  (first: sets KERAS_BACKEND before keras is imported)

pytest.importorskip("tensorflow")
pytest.importorskip("keras")
# Keras' own weight saving converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_srgan import losses  # noqa: E402
from srcore import vgg_weights  # noqa: E402
from srcore.errors import UserError  # noqa: E402


@pytest.fixture(scope="module")
def vgg22():
    return losses.build_vgg("22", "random")


def test_vgg_layer_selection_random_weights(vgg22, capsys: pytest.CaptureFixture) -> None:
    x = np.zeros((1, 32, 48, 3), np.float32)
    f22 = np.asarray(vgg22(x))
    assert f22.shape == (1, 16, 24, 128)  # relu2_2: 128 channels at 1/2
    assert f22.min() >= 0  # after the ReLU
    assert not vgg22.trainable and not vgg22.trainable_weights
    f54 = np.asarray(losses.build_vgg("54", "random")(x))
    assert f54.shape == (1, 2, 3, 512)  # relu5_4: 512 channels at 1/16
    assert "RANDOM" in capsys.readouterr().err  # loud warning every time random weights are used


def test_vgg_local_weights_file(tmp_path: Path) -> None:
    ref = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg19.weights.h5"
    ref.save_weights(path)
    vgg = losses.build_vgg("22", str(path))
    x = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
    expected = keras.Model(ref.input, ref.get_layer("block2_conv2").output)(x)
    np.testing.assert_allclose(np.asarray(vgg(x)), np.asarray(expected), rtol=1e-5, atol=1e-5)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(UserError):
        losses.build_vgg("22", str(bad))


def test_check_vgg_available_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # torch.hub's cache: the default weights
    monkeypatch.setattr(losses, "keras_vgg_cache_path", lambda: tmp_path / "models" / losses.VGG19_NOTOP_FILE)

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(vgg_weights, "download", offline)  # torchvision's file: the download shared with torch
    monkeypatch.setattr(keras.utils, "get_file", offline)  # Keras' own file
    with pytest.raises(UserError) as e:
        losses.check_vgg_available(None)  # default: torchvision's ImageNet VGG19, as the PyTorch backend
    msg = str(e.value)
    assert "vgg19-dcbb9e9d.pth" in msg and "--vgg-weights PATH" in msg and losses.KERAS_IMAGENET in msg
    assert "\n" not in msg
    with pytest.raises(UserError) as e:
        losses.check_vgg_available(losses.KERAS_IMAGENET)
    assert losses.VGG19_NOTOP_FILE in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="--vgg-weights"):
        losses.check_vgg_available(str(tmp_path / "missing.h5"))
    losses.check_vgg_available("random")  # smoke tests: no file needed
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / losses.VGG19_NOTOP_FILE).write_bytes(b"cached")
    losses.check_vgg_available(losses.KERAS_IMAGENET)  # cached: no download attempted
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)  # the failed download made the folder already
    (hub / "vgg19-dcbb9e9d.pth").write_bytes(b"cached")
    losses.check_vgg_available(None)


def test_content_losses(vgg22) -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    assert float(losses.content_loss(a, a, "mse")) == 0.0
    assert float(losses.content_loss(a, b, "mse")) == pytest.approx(float(np.mean((a - b) ** 2)), rel=1e-5)
    assert float(losses.content_loss(a, a, "vgg22", vgg22)) == 0.0
    assert float(losses.content_loss(a, b, "vgg22", vgg22)) > 0.0
    assert float(losses.ContentLoss("mse")(a, b)) == pytest.approx(float(np.mean((a - b) ** 2)), rel=1e-5)


def test_vgg_input_normalisation() -> None:
    y = np.stack([np.full((1, 1, 3), -1.0), np.full((1, 1, 3), 1.0)]).astype(np.float32)
    x = np.asarray(losses.vgg_input(y))
    mean, std = np.array(losses.IMAGENET_MEAN), np.array(losses.IMAGENET_STD)
    np.testing.assert_allclose(x[0, 0, 0], -mean / std, rtol=1e-6)
    np.testing.assert_allclose(x[1, 0, 0], (1 - mean) / std, rtol=1e-6)


def test_adversarial_losses() -> None:
    zeros = np.zeros((4, 1), np.float32)
    vanilla = losses.ADVERSARIAL.get("vanilla")
    assert float(vanilla.generator(zeros, zeros)) == pytest.approx(np.log(2), rel=1e-6)
    assert float(vanilla.discriminator(zeros, zeros)) == pytest.approx(2 * np.log(2), rel=1e-6)
    big = np.full((4, 1), 30.0, np.float32)
    assert float(vanilla.discriminator(big, -big)) == pytest.approx(0.0, abs=1e-6)
    logits = np.array([[-2.0], [0.5], [3.0]], np.float32)
    expected = np.mean(np.log1p(np.exp(-logits)))  # -log sigmoid
    assert float(vanilla.generator(logits, logits)) == pytest.approx(expected, rel=1e-5)
