"""SRResNet (Ledig et al. 2017) in Keras: the spec is srcore/archs/srresnet.py."""

from __future__ import annotations

import keras
from keras import layers

from keras_srgan.archs import GENERATORS
from keras_srgan.layers import PixelShuffle, bn, conv, prelu
from srcore.arch import upsample_factors


@GENERATORS.register("srresnet")
def srresnet(scale: int = 4, blocks: int = 16, channels: int = 64) -> keras.Model:
    """LR float [0, 1] NHWC (any size) -> SR in [-1, 1] (tanh), `scale` times larger."""
    inp = keras.Input((None, None, 3), name="lr")
    x = conv(channels, 9, "conv_in")(inp)
    x = skip = prelu("prelu_in")(x)
    for b in range(blocks):
        y = conv(channels, 3, f"block{b}_conv1")(x)
        y = bn(f"block{b}_bn1")(y)
        y = prelu(f"block{b}_prelu")(y)
        y = conv(channels, 3, f"block{b}_conv2")(y)
        y = bn(f"block{b}_bn2")(y)
        x = layers.Add(name=f"block{b}_add")([x, y])
    x = conv(channels, 3, "conv_mid")(x)
    x = bn("bn_mid")(x)
    x = layers.Add(name="add_mid")([skip, x])
    for i, r in enumerate(upsample_factors(scale)):
        x = conv(channels * r * r, 3, f"up{i}_conv")(x)
        x = PixelShuffle(r, name=f"up{i}_shuffle")(x)
        x = prelu(f"up{i}_prelu")(x)
    x = conv(3, 9, "conv_out")(x)
    # float32 output even under a mixed_float16 policy: losses and the [0, 1] mapping want full precision.
    out = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inp, out, name=f"srresnet_x{scale}")
