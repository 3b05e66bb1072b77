"""VDSR (Kim et al. 2016) in Keras: the spec is srcore/archs/vdsr.py."""

from __future__ import annotations

import keras

from keras_srgan.archs import GENERATORS
from keras_srgan.layers import conv_stack, to_output_range
from srcore.archs.vdsr import vdsr_layers


@GENERATORS.register("vdsr")
def vdsr(scale: int = 4, layers: int = 20, channels: int = 64) -> keras.Model:
    """The bicubic-upscaled image in [0, 1] -> SR in [-1, 1]; `layers` 3x3 convolutions predict the residual
    added to the input (He initialisation, as the paper's). `scale` does not shape it."""
    inp = keras.Input((None, None, 3), name="upscaled")
    x = conv_stack(inp, vdsr_layers(layers, channels), "he_normal")
    x = keras.layers.Add(name="add_input")([inp, x])
    return keras.Model(inp, to_output_range(x), name="vdsr")
