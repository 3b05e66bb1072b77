"""SRCNN (Dong et al. 2016) in Keras: the spec is srcore/archs/srcnn.py."""

from __future__ import annotations

import keras

from keras_srgan.archs import GENERATORS
from keras_srgan.layers import conv_stack, to_output_range
from srcore.archs.srcnn import srcnn_layers


@GENERATORS.register("srcnn")
def srcnn(scale: int = 4, channels: int = 64, kernels: str = "9-1-5") -> keras.Model:
    """The bicubic-upscaled image in [0, 1] -> SR in [-1, 1], same size; three zero-padded convolutions (ReLU
    after the first two), weights from N(0, 0.001) and zero biases as in the paper. `scale` does not shape it."""
    inp = keras.Input((None, None, 3), name="upscaled")
    x = conv_stack(inp, srcnn_layers(channels, kernels), keras.initializers.RandomNormal(stddev=1e-3))
    return keras.Model(inp, to_output_range(x), name="srcnn")
