"""Keras SRResNet generator and SRGAN discriminator: shapes, parameter counts, layer names."""

from __future__ import annotations

import pytest

import keras_srgan  # noqa: F401  (first: sets KERAS_BACKEND before keras is imported)

pytest.importorskip("tensorflow")
pytest.importorskip("keras")
# Keras' own weight saving converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

import numpy as np  # noqa: E402

from keras_srgan.layers import PixelShuffle  # noqa: E402
from keras_srgan.models import (  # noqa: E402
    build_discriminator,
    build_generator,
    count_parameters,
)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_generator_output_shape_and_range(scale: int) -> None:
    g = build_generator(scale, blocks=1, channels=8)
    x = np.random.default_rng(0).random((2, 5, 7, 3), dtype=np.float32)
    y = np.asarray(g(x, training=False))
    assert y.shape == (2, 5 * scale, 7 * scale, 3)
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)


def test_default_generator_parameter_count_matches_torch() -> None:
    g = build_generator()
    assert count_parameters(g) == 1_550_659  # trainable only; the paper's SRResNet, same as the torch model
    assert g.count_params() > 1_550_659  # Keras also counts the BN moving statistics


def test_default_discriminator_parameters_and_output() -> None:
    d = build_discriminator()
    # 8 convs (+7 BN) + dense 512*6*6 -> 1024 -> 1, counted by hand: the same as the torch model.
    assert count_parameters(d) == 23_565_505
    assert d.output_shape == (None, 1)


def test_small_discriminator_output_shape() -> None:
    d = build_discriminator(patch_size=32, channels=8)
    y = np.asarray(d(np.zeros((3, 32, 32, 3), np.float32), training=False))
    assert y.shape == (3, 1)
    # Stride-2 convs with padding 1 halve exactly: 32 -> 2 after the four stride-2 layers.
    assert d.get_layer("conv7").output.shape[1:3] == (2, 2)
    with pytest.raises(ValueError):
        build_discriminator(patch_size=40)


def test_layer_names_are_deterministic() -> None:
    a, b = build_generator(4, blocks=4, channels=8), build_generator(4, blocks=4, channels=8)
    names = [layer.name for layer in a.layers]
    assert names == [layer.name for layer in b.layers]
    assert len(set(names)) == len(names)
    for name in ("conv_in", "prelu_in", "block3_conv1", "block3_bn1", "block3_prelu", "block3_conv2",
                 "block3_bn2", "conv_mid", "bn_mid", "up0_conv", "up1_shuffle", "up1_prelu", "conv_out"):
        assert name in names
    d = build_discriminator(32, 8)
    assert {"conv0", "conv7", "bn1", "bn7", "fc1", "fc2"} <= {layer.name for layer in d.layers}
    assert "bn0" not in {layer.name for layer in d.layers}


def test_prelu_and_batchnorm_settings() -> None:
    g = build_generator(2, blocks=1, channels=4)
    prelu = g.get_layer("block0_prelu")
    assert prelu.get_weights()[0].shape == (1, 1, 4)  # one slope per channel
    np.testing.assert_array_equal(prelu.get_weights()[0], 0.25)
    bn = g.get_layer("block0_bn1")
    assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)


def test_pixel_shuffle_layout_and_config() -> None:
    r, c = 2, 3
    x = np.arange(1 * 2 * 2 * c * r * r, dtype=np.float32).reshape(1, 2, 2, c * r * r)
    y = np.asarray(PixelShuffle(r)(x))
    assert y.shape == (1, 4, 4, c)
    # depth_to_space: output (h*r + dy, w*r + dx, ch) = input (h, w, (dy*r + dx)*C + ch)
    for dy in range(r):
        for dx in range(r):
            k = (dy * r + dx) * c
            np.testing.assert_array_equal(y[0, 1 * r + dy, 0 * r + dx], x[0, 1, 0, k:k + c])
    layer = PixelShuffle.from_config(PixelShuffle(3, name="s").get_config())
    assert layer.factor == 3 and layer.name == "s"
