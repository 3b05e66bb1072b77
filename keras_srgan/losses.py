"""Content (MSE / VGG) and adversarial losses of SRGAN in Keras 3, NHWC, images in [-1, 1]."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import keras
import tensorflow as tf

from srcore.errors import UserError

VGG_LAYERS = {"22": "block2_conv2", "54": "block5_conv4"}  # Keras' VGG convs include their ReLU
VGG_SCALE = 12.75  # the paper's rescaling of the VGG feature maps
# torchvision's ImageNet normalisation of [0, 1] RGB input. Deliberately NOT keras' caffe-style
# preprocess_input (BGR, 0..255, mean subtraction): with the same VGG19 weights loaded (converted from
# torchvision), the Keras loss is then the same function as the PyTorch backend's.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VGG19_NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_NOTOP_FILE)
VGG19_NOTOP_HASH = "253f8cb515780f3b799900260a226db6"


def keras_vgg_cache_path() -> Path:
    """Where keras.applications.VGG19(weights="imagenet", include_top=False) keeps its download."""
    try:  # the folder Keras resolved at import ($KERAS_HOME, else ~/.keras, else /tmp/.keras)
        from keras.src.backend.config import keras_home

        home = Path(keras_home())
    except ImportError:
        home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return home / "models" / VGG19_NOTOP_FILE


def _how_to_supply() -> str:
    return (f"run once with network access to download them into the Keras cache ({keras_vgg_cache_path()}), "
            "or pass a local Keras VGG19 (no top) weights file with --vgg-weights PATH")


def check_vgg_available(weights: str | None) -> None:
    """Make sure the VGG19 weights of a perceptual loss can be loaded; UserError if not.

    None = the Keras ImageNet weights: used from the Keras cache, downloaded into it if missing.
    Never falls back to random weights.
    """
    if weights == "random":
        return
    if weights is not None:
        if not Path(weights).is_file():
            raise UserError(f"--vgg-weights {weights}: no such file; " + _how_to_supply())
        return
    if keras_vgg_cache_path().is_file():
        return
    try:
        keras.utils.get_file(VGG19_NOTOP_FILE, VGG19_NOTOP_URL, cache_subdir="models", file_hash=VGG19_NOTOP_HASH)
    except Exception as e:  # no network, proxy, disk full: all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"the VGG19 ImageNet weights for the perceptual loss are not available "
                        f"(download failed: {reason}); " + _how_to_supply()) from None


def _warn_random() -> None:
    print("WARNING: *** VGG19 with RANDOM weights: the perceptual (VGG) content loss is MEANINGLESS; "
          "use this for smoke tests only ***", file=sys.stderr, flush=True)


def build_vgg(layer: str, weights: str | None = None) -> keras.Model:
    """Frozen VGG19 feature extractor: normalised RGB NHWC (any size) -> relu2_2 or relu5_4 features.

    weights: None = Keras' ImageNet weights, a path to a Keras VGG19 (no top) weights file (.h5 or
    .weights.h5), or "random" (smoke tests only; warns loudly).
    """
    if layer not in VGG_LAYERS:
        raise ValueError(f"VGG layer must be one of {', '.join(VGG_LAYERS)}, got {layer!r}")
    if weights == "random":
        _warn_random()
        source = None
    else:
        check_vgg_available(weights)
        source = "imagenet" if weights is None else str(weights)
    try:
        vgg = keras.applications.VGG19(include_top=False, weights=source, input_shape=(None, None, 3))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load VGG19 weights from {source}: {str(e).splitlines()[0] if str(e) else e}; "
                        f"expected a Keras VGG19 weights file without the classifier (include_top=False)") from None
    features = keras.Model(vgg.input, vgg.get_layer(VGG_LAYERS[layer]).output, name=f"vgg19_{layer}")
    features.trainable = False  # frozen; VGG has no BN/dropout, so inference mode needs nothing else
    return features


def vgg_input(y: tf.Tensor) -> tf.Tensor:
    """Generator-range images [-1, 1] -> ImageNet-normalised RGB (torchvision convention)."""
    x = (tf.cast(y, tf.float32) + 1.0) * 0.5
    return (x - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)


class ContentLoss:
    """`loss(sr, hr)`: "mse" in [-1, 1] space, or "vgg22"/"vgg54" (MSE of VGG features / 12.75)."""

    def __init__(self, kind: str = "mse", vgg_weights: str | None = None) -> None:
        if kind not in ("mse", "vgg22", "vgg54"):
            raise ValueError(f"content loss must be mse, vgg22 or vgg54, got {kind!r}")
        self.kind = kind
        self.vgg = None if kind == "mse" else build_vgg(kind[3:], vgg_weights)

    def __call__(self, sr: tf.Tensor, hr: tf.Tensor) -> tf.Tensor:
        return content_loss(sr, hr, self.kind, self.vgg)


def content_loss(sr: tf.Tensor, hr: tf.Tensor, kind: str = "mse", vgg: keras.Model | None = None) -> tf.Tensor:
    """Functional form of ContentLoss; `vgg` is the build_vgg model for the VGG kinds."""
    if kind == "mse":
        return tf.reduce_mean(tf.square(tf.cast(sr, tf.float32) - tf.cast(hr, tf.float32)))
    if vgg is None:
        raise ValueError(f"content loss {kind} needs a VGG feature model (build_vgg)")
    f_sr = tf.cast(vgg(vgg_input(sr), training=False), tf.float32) / VGG_SCALE
    f_hr = tf.stop_gradient(tf.cast(vgg(vgg_input(hr), training=False), tf.float32) / VGG_SCALE)
    return tf.reduce_mean(tf.square(f_sr - f_hr))


def generator_adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(x)) = softplus(-logit), averaged: the paper's non-saturating generator loss."""
    return tf.reduce_mean(tf.nn.softplus(-tf.cast(fake_logits, tf.float32)))


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """BCE with logits, real -> 1 and fake -> 0: softplus(-real) + softplus(fake), each averaged."""
    real = tf.reduce_mean(tf.nn.softplus(-tf.cast(real_logits, tf.float32)))
    fake = tf.reduce_mean(tf.nn.softplus(tf.cast(fake_logits, tf.float32)))
    return real + fake
