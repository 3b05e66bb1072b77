"""The layers the Keras architectures are built from, with the project's conventions (srcore.arch)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers

from srcore.arch import BN_EPSILON, BN_MOMENTUM, PRELU_INIT


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


def conv(filters: int, kernel: int, name: str) -> layers.Conv2D:
    """kernel x kernel convolution, zero-padded ("same"), with bias."""
    return layers.Conv2D(filters, kernel, padding="same", use_bias=True, name=name)


def prelu(name: str) -> layers.PReLU:
    # One learnable slope per channel, as torch nn.PReLU(num_parameters=C).
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(PRELU_INIT), shared_axes=[1, 2], name=name)


def bn(name: str) -> layers.BatchNormalization:
    # Keras' momentum is the weight of the old running value, torch's (srcore.arch) that of the new one.
    return layers.BatchNormalization(momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def conv_stack(x: Any, shapes: list[tuple[int, int]], initializer: Any) -> Any:
    """Zero-padded convolutions of (kernel, filters) named conv0, conv1, ...; ReLU after all but the last."""
    for i, (k, filters) in enumerate(shapes):
        x = layers.Conv2D(filters, k, padding="same", activation="relu" if i < len(shapes) - 1 else None,
                          kernel_initializer=initializer, name=f"conv{i}")(x)
    return x


def to_output_range(x: tf.Tensor) -> tf.Tensor:
    # [0, 1] units (the papers') -> the project's [-1, 1] output, in float32 under any policy
    return layers.Rescaling(2.0, offset=-1.0, dtype="float32", name="to_output_range")(x)
