"""The generator (any registered architecture: keras_srgan/archs/) and the SRGAN discriminator (Ledig et al.
2017) as Keras 3 functional models, NHWC.

Layer names are deterministic ("conv_in", "block3_conv1", "block3_bn1", "up0_conv", "conv5", "bn5",
"fc1", ...; blocks and stages count from 0 like torch's nn.Sequential indices) so that a weight
converter can map them to the PyTorch state_dict by name.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers

from keras_srgan.archs import GENERATORS
from keras_srgan.layers import bn
from srcore.arch import (
    ARCHS,
    LEAKY_SLOPE,
    check_disc_init,
    discriminator_side,
    discriminator_stages,
    fan_in_bound,
    subpixel_convs,
    upsampler_layers,
)


def build_generator(scale: int = 4, arch: str = "srresnet", **params: Any) -> keras.Model:
    """The generator of registered architecture `arch` with its parameters (srcore.arch; defaults for the ones not
    given, each checked: a one-line UserError for a bad one)."""
    spec = ARCHS.get(arch)
    return GENERATORS.get(arch)(scale=scale, **spec.check_params(params))


def init_subpixel(generator: keras.Model, scale: int, arch: str, mode: str, **params: Any) -> None:
    """Initialise the sub-pixel convolutions (TrainConfig.subpixel_init): "icnr" (Aitken et al. 2017) makes the
    r^2 outputs of each channel's group equal, so each pixel shuffle starts as nearest-neighbour upsampling and the
    untrained generator draws no grid; "plain" keeps the framework's initialisation. depth_to_space reads output
    channel k * C + c as sub-pixel k of channel c: the first C outputs are repeated r^2 times."""
    if mode == "plain":
        return
    for entry in subpixel_convs(arch, scale, params):
        r2 = entry.info[0] ** 2
        layer = generator.get_layer(entry.keras)
        kernel, bias = (np.asarray(v.numpy()) for v in (layer.kernel, layer.bias))
        c = kernel.shape[-1] // r2
        layer.kernel.assign(np.tile(kernel[..., :c], (1, 1, 1, r2)))
        layer.bias.assign(np.tile(bias[:c], r2))


def freeze_upsampler(generator: keras.Model, scale: int, arch: str, **params: Any) -> None:
    """--freeze-upsampler: the sub-pixel stages and the layers after them (srcore.arch.upsampler_layers) stop
    training; their weights stay as loaded."""
    for entry in upsampler_layers(arch, scale, params):
        generator.get_layer(entry.keras).trainable = False


def build_discriminator(patch_size: int = 96, channels: int = 64, init: str = "fan-in") -> keras.Model:
    """SRGAN discriminator: HR patch in [-1, 1] NHWC (patch_size x patch_size) -> one logit per image. `init`
    (TrainConfig.disc_init): "fan-in": PyTorch's rule, as the torch backend; "framework": Keras' defaults."""
    side = discriminator_side(patch_size)  # a ValueError unless a positive multiple of 16
    check_disc_init(init)
    inp = keras.Input((patch_size, patch_size, 3), name="hr")
    x, cin = inp, 3
    for i, (filters, stride) in enumerate(discriminator_stages(channels)):
        # Explicit zero padding 1 + 'valid': torch's padding=1. Keras 'same' pads stride-2 convs
        # asymmetrically (0 before, 1 after) and would sample a shifted grid.
        x = layers.ZeroPadding2D(1, name=f"pad{i}")(x)
        x = layers.Conv2D(filters, 3, strides=stride, padding="valid", use_bias=True, name=f"conv{i}",
                          **_initializers(init, 9 * cin))(x)
        if i > 0:  # the first conv has no BN (paper, Fig. 4)
            x = bn(f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"lrelu{i}")(x)
        cin = filters
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, name="fc1", **_initializers(init, cin * side * side))(x)
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="lrelu_fc1")(x)
    out = layers.Dense(1, dtype="float32", name="fc2", **_initializers(init, 1024))(x)
    return keras.Model(inp, out, name="discriminator")


def _initializers(init: str, fan_in: int) -> dict[str, Any]:
    """A discriminator layer's initializer arguments: none for Keras' defaults (Glorot-uniform weights, zero
    biases); for "fan-in" weights and biases uniform in +-1/sqrt(fan_in), as torch's nn.Conv2d / nn.Linear."""
    if init == "framework":
        return {}
    bound = fan_in_bound(fan_in)
    return {"kernel_initializer": keras.initializers.RandomUniform(-bound, bound),
            "bias_initializer": keras.initializers.RandomUniform(-bound, bound)}


def count_parameters(model: keras.Model) -> int:
    """Trainable parameters only (Keras' count_params also counts BN moving statistics)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
