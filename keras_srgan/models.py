"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), SRCNN and VDSR as Keras 3 functional models, NHWC.

Layer names are deterministic ("conv_in", "block3_conv1", "block3_bn1", "up0_conv", "conv5", "bn5",
"fc1", ...; blocks and stages count from 0 like torch's nn.Sequential indices) so that a weight
converter can map them to the PyTorch state_dict by name.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from srcore.arch import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    PRELU_INIT,
    discriminator_side,
    discriminator_stages,
    srcnn_layers,
    upsample_factors,
    vdsr_layers,
)


@keras.saving.register_keras_serializable(package="srgan")
class PixelShuffle(layers.Layer):
    """Sub-pixel upsampling (Shi et al. 2016): (B, H, W, C*r*r) -> (B, H*r, W*r, C).

    tf.nn.depth_to_space orders the r*r sub-pixels before the channels (channel index = (dy*r + dx)*C + c),
    torch's nn.PixelShuffle after them (c*r*r + dy*r + dx); the weight converter permutes the
    preceding conv's output channels accordingly.
    """

    def __init__(self, factor: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.depth_to_space(x, self.factor)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        r = self.factor
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


def _prelu(name: str) -> layers.PReLU:
    # One learnable slope per channel, as torch nn.PReLU(num_parameters=C).
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(PRELU_INIT), shared_axes=[1, 2], name=name)


def _conv(filters: int, kernel: int, name: str) -> layers.Conv2D:
    return layers.Conv2D(filters, kernel, padding="same", use_bias=True, name=name)


def _bn(name: str) -> layers.BatchNormalization:
    # Keras' momentum is the weight of the old running value, torch's (srcore.arch) that of the new one.
    return layers.BatchNormalization(momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def build_generator(scale: int = 4, blocks: int = 16, channels: int = 64, arch: str = "srresnet",
                    kernels: str = "9-1-5") -> keras.Model:
    """The generator of `arch` (srcore.arch.ARCHS); `scale` only shapes SRResNet (the others keep the input's size)."""
    if arch == "srcnn":
        return _srcnn(channels, kernels)
    if arch == "vdsr":
        return _vdsr(blocks, channels)
    return _srresnet(scale, blocks, channels)


def _srresnet(scale: int, blocks: int, channels: int) -> keras.Model:
    """SRResNet: LR float [0, 1] NHWC (any size) -> SR in [-1, 1] (tanh), `scale` times larger."""
    inp = keras.Input((None, None, 3), name="lr")
    x = _conv(channels, 9, "conv_in")(inp)
    x = skip = _prelu("prelu_in")(x)
    for b in range(blocks):
        y = _conv(channels, 3, f"block{b}_conv1")(x)
        y = _bn(f"block{b}_bn1")(y)
        y = _prelu(f"block{b}_prelu")(y)
        y = _conv(channels, 3, f"block{b}_conv2")(y)
        y = _bn(f"block{b}_bn2")(y)
        x = layers.Add(name=f"block{b}_add")([x, y])
    x = _conv(channels, 3, "conv_mid")(x)
    x = _bn("bn_mid")(x)
    x = layers.Add(name="add_mid")([skip, x])
    for i, r in enumerate(upsample_factors(scale)):
        x = _conv(channels * r * r, 3, f"up{i}_conv")(x)
        x = PixelShuffle(r, name=f"up{i}_shuffle")(x)
        x = _prelu(f"up{i}_prelu")(x)
    x = _conv(3, 9, "conv_out")(x)
    # float32 output even under a mixed_float16 policy: losses and the [0, 1] mapping want full precision.
    out = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inp, out, name=f"srresnet_x{scale}")


def _to_output_range(x: tf.Tensor) -> tf.Tensor:
    # [0, 1] units (the papers') -> the project's [-1, 1] output, in float32 under any policy
    return layers.Rescaling(2.0, offset=-1.0, dtype="float32", name="to_output_range")(x)


def _conv_stack(x: Any, shapes: list[tuple[int, int]], initializer: Any) -> Any:
    """Zero-padded convolutions of (kernel, filters) named conv0, conv1, ...; ReLU after all but the last."""
    for i, (k, filters) in enumerate(shapes):
        x = layers.Conv2D(filters, k, padding="same", activation="relu" if i < len(shapes) - 1 else None,
                          kernel_initializer=initializer, name=f"conv{i}")(x)
    return x


def _srcnn(channels: int, kernels: str) -> keras.Model:
    """SRCNN (Dong et al. 2016): the bicubic-upscaled image in [0, 1] -> SR in [-1, 1], same size; three zero-padded
    convolutions (ReLU after the first two), weights from N(0, 0.001) and zero biases as in the paper."""
    inp = keras.Input((None, None, 3), name="upscaled")
    x = _conv_stack(inp, srcnn_layers(channels, kernels), keras.initializers.RandomNormal(stddev=1e-3))
    return keras.Model(inp, _to_output_range(x), name="srcnn")


def _vdsr(blocks: int, channels: int) -> keras.Model:
    """VDSR (Kim et al. 2016): the bicubic-upscaled image in [0, 1] -> SR in [-1, 1]; `blocks` 3x3 convolutions
    predict the residual added to the input (He initialisation, as the paper's)."""
    inp = keras.Input((None, None, 3), name="upscaled")
    x = _conv_stack(inp, vdsr_layers(blocks, channels), "he_normal")
    x = layers.Add(name="add_input")([inp, x])
    return keras.Model(inp, _to_output_range(x), name="vdsr")


def build_discriminator(patch_size: int = 96, channels: int = 64) -> keras.Model:
    """SRGAN discriminator: HR patch in [-1, 1] NHWC (patch_size x patch_size) -> one logit per image."""
    discriminator_side(patch_size)  # a ValueError unless a positive multiple of 16
    inp = keras.Input((patch_size, patch_size, 3), name="hr")
    x = inp
    for i, (filters, stride) in enumerate(discriminator_stages(channels)):
        # Explicit zero padding 1 + 'valid': torch's padding=1. Keras 'same' pads stride-2 convs
        # asymmetrically (0 before, 1 after) and would sample a shifted grid.
        x = layers.ZeroPadding2D(1, name=f"pad{i}")(x)
        x = layers.Conv2D(filters, 3, strides=stride, padding="valid", use_bias=True, name=f"conv{i}")(x)
        if i > 0:  # the first conv has no BN (paper, Fig. 4)
            x = _bn(f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"lrelu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, name="fc1")(x)
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="lrelu_fc1")(x)
    out = layers.Dense(1, dtype="float32", name="fc2")(x)
    return keras.Model(inp, out, name="discriminator")


def count_parameters(model: keras.Model) -> int:
    """Trainable parameters only (Keras' count_params also counts BN moving statistics)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
