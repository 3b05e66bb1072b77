"""Content (MSE / VGG) and adversarial losses of SRGAN in Keras 3, NHWC, images in [-1, 1]."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from srcore.config import CONTENT_LOSSES
from srcore.errors import UserError
from srcore.losses import AdversarialLoss
from srcore.metrics import grid_highpass, grid_loss_constants
from srcore.registry import Registry
from srcore.vgg19 import (
    FEATURE_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG19_FILE,
    VGG_SCALE,
    conv_layers,
    load_vgg19_arrays,
)
from srcore.vgg_weights import (
    IMAGENET,
    KERAS_IMAGENET,
    RANDOM,
    ensure_vgg_weights,
    how_to_supply,
    resolve_vgg_weights,
    vgg19_file,
    warn_random_weights,
)

# With torchvision's VGG19 weights (the default, converted on load) the input is torchvision's ImageNet
# normalisation of [0, 1] RGB (srcore.vgg19): the Keras loss is then the same function as the PyTorch one.
# Keras' own ImageNet VGG19 ("keras-imagenet", or a Keras .h5 file) was trained on caffe-style input:
# BGR, 0..255, minus these per-channel means. Different weights and input: not comparable to torch.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

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


def vgg_source(weights: str | None) -> tuple[str, str]:
    """(kind, preprocessing) of a --vgg-weights value.

    kind: "torchvision" (None/"imagenet": torchvision's ImageNet file; or a .pth/.npz path),
    "keras" (KERAS_IMAGENET, or a Keras .h5 weights file) or "random"; preprocessing: "torch"
    (RGB [0, 1], ImageNet mean/std) or "caffe" (Keras' own weights).
    """
    kind = resolve_vgg_weights(weights).kind
    if kind == IMAGENET:
        return "torchvision", "torch"
    if kind == RANDOM:
        return "random", "torch"
    if kind == KERAS_IMAGENET or str(weights).lower().endswith(".h5"):
        return "keras", "caffe"
    if str(weights).lower().endswith((".pth", ".pt", ".safetensors", ".npz")):
        return "torchvision", "torch"
    raise UserError(f"--vgg-weights {weights}: expected a VGG19 file (.pth or .npz in torchvision's layout, or a "
                    f"Keras .h5), '{KERAS_IMAGENET}' or 'random'")


# The torchvision-layout files this backend reads, and its own ImageNet VGG19, as ways around a failed download.
_HOW_TO_SUPPLY = how_to_supply(
    f"VGG19 file (torchvision's {VGG19_FILE}, or the .npz of python convert_weights.py --vgg19)",
    f", or --vgg-weights {KERAS_IMAGENET} for Keras' own ImageNet VGG19 (caffe preprocessing; NOT comparable "
    "with the PyTorch backend)")


def check_vgg_available(weights: str | None) -> None:
    """Make sure the VGG19 weights of a perceptual loss can be loaded; UserError if not.

    None (or "imagenet") = torchvision's ImageNet VGG19, the PyTorch backend's default too: used from
    torch.hub's cache, downloaded into it if missing (no torch needed). KERAS_IMAGENET = Keras' own
    ImageNet weights (Keras cache). A path: a VGG19 file. Never falls back to random weights.
    """
    vgg_source(weights)  # a file of no VGG19 format fails before anything is looked for
    if ensure_vgg_weights(weights, _HOW_TO_SUPPLY).kind == KERAS_IMAGENET:
        _ensure_keras_imagenet()


def _ensure_keras_imagenet() -> None:
    """Keras' own ImageNet VGG19 in Keras' cache (its file, URL and hash: Keras' convention, not torch.hub's)."""
    if keras_vgg_cache_path().is_file():
        return
    try:
        keras.utils.get_file(VGG19_NOTOP_FILE, VGG19_NOTOP_URL, cache_subdir="models", file_hash=VGG19_NOTOP_HASH)
    except Exception as e:  # no network, proxy, disk full: all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"Keras' VGG19 ImageNet weights ({VGG19_NOTOP_FILE}) are not available (download "
                        f"failed: {reason}); run once with network access to download them into the Keras cache "
                        f"({keras_vgg_cache_path()}), or use the default torchvision weights") from None


def build_vgg(layer: str, weights: str | None = None) -> keras.Model:
    """Frozen VGG19 feature extractor: preprocessed RGB NHWC (any size) -> relu2_2 or relu5_4 features.

    weights: None = torchvision's ImageNet VGG19 (as the PyTorch backend); a VGG19 file (.pth or .npz in
    torchvision's layout, or a Keras VGG19 no-top .h5); KERAS_IMAGENET = Keras' own ImageNet weights;
    "random" (smoke tests only; warns loudly). The model's `preprocessing` attribute ("torch" or
    "caffe") says which input it expects (see vgg_input).
    """
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"VGG layer must be one of {', '.join(FEATURE_LAYERS)}, got {layer!r}")
    kind, preprocessing = vgg_source(weights)
    if kind == "random":
        warn_random_weights()
    source = None
    if kind == "keras":
        source = "imagenet" if weights == KERAS_IMAGENET else str(weights)
    try:
        vgg = keras.applications.VGG19(include_top=False, weights=source, input_shape=(None, None, 3))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load VGG19 weights from {source}: {str(e).splitlines()[0] if str(e) else e}; "
                        f"expected a Keras VGG19 weights file without the classifier (include_top=False)") from None
    features = keras.Model(vgg.input, vgg.get_layer(FEATURE_LAYERS[layer][1]).output, name=f"vgg19_{layer}")
    if kind == "torchvision":
        path = vgg19_file(resolve_vgg_weights(weights), _HOW_TO_SUPPLY)
        _set_torchvision_weights(features, load_vgg19_arrays(path))
    features.trainable = False  # frozen; VGG has no BN/dropout, so inference mode needs nothing else
    features.preprocessing = preprocessing
    return features


def _set_torchvision_weights(vgg: keras.Model, arrays: dict[str, Any]) -> None:
    """Load torchvision-layout VGG19 conv arrays ("features.N.weight"/"bias") into a Keras VGG19 (or a part)."""
    for index, name, _, _ in conv_layers():
        try:
            layer = vgg.get_layer(name)
        except ValueError:
            continue  # a truncated feature model has fewer convs
        # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)
        layer.set_weights([arrays[f"features.{index}.weight"].transpose(2, 3, 1, 0), arrays[f"features.{index}.bias"]])


def vgg_input(y: tf.Tensor, preprocessing: str = "torch") -> tf.Tensor:
    """Generator-range images [-1, 1] -> VGG input: torchvision's ImageNet normalisation of RGB [0, 1]
    ("torch"), or the caffe convention of Keras' own VGG weights ("caffe": BGR, 0..255, minus the means)."""
    x = (tf.cast(y, tf.float32) + 1.0) * 0.5
    if preprocessing == "caffe":
        return x[..., ::-1] * 255.0 - tf.constant(CAFFE_MEAN_BGR)
    return (x - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)


class ContentLoss:
    """`loss(sr, hr)`: "mse" in [-1, 1] space, "vgg22"/"vgg54" (MSE of VGG features / 12.75), or "sse" (half the
    sum of squared errors per sample in [0, 1] units, batch mean)."""

    def __init__(self, kind: str = "mse", weights: str | None = None, grid_weight: float = 0.0) -> None:
        if kind not in CONTENT_LOSSES:
            raise ValueError(f"content loss must be one of {CONTENT_LOSSES}, got {kind!r}")
        self.kind = kind
        self.vgg = build_vgg(kind[3:], weights) if kind.startswith("vgg") else None
        self.grid_weight = float(grid_weight)  # --grid-weight: plus this times grid_penalty (0: none)

    def __call__(self, sr: tf.Tensor, hr: tf.Tensor) -> tf.Tensor:
        loss = content_loss(sr, hr, self.kind, self.vgg)
        return loss + self.grid_weight * grid_penalty(sr, hr) if self.grid_weight else loss


def content_loss(sr: tf.Tensor, hr: tf.Tensor, kind: str = "mse", vgg: keras.Model | None = None) -> tf.Tensor:
    """Functional form of ContentLoss; `vgg` is the build_vgg model for the VGG kinds."""
    if kind == "mse":
        return tf.reduce_mean(tf.square(tf.cast(sr, tf.float32) - tf.cast(hr, tf.float32)))
    if kind == "sse":  # Caffe's EuclideanLoss in [0, 1] units: (x/2)^2 summed per sample / 2, batch mean
        diff = tf.cast(sr, tf.float32) - tf.cast(hr, tf.float32)
        return tf.reduce_sum(tf.square(diff)) / (8.0 * tf.cast(tf.shape(diff)[0], tf.float32))
    if vgg is None:
        raise ValueError(f"content loss {kind} needs a VGG feature model (build_vgg)")
    prep = getattr(vgg, "preprocessing", "torch")
    f_sr = tf.cast(vgg(vgg_input(sr, prep), training=False), tf.float32) / VGG_SCALE
    f_hr = tf.stop_gradient(tf.cast(vgg(vgg_input(hr, prep), training=False), tf.float32) / VGG_SCALE)
    return tf.reduce_mean(tf.square(f_sr - f_hr))


def grid_penalty(sr: tf.Tensor, hr: tf.Tensor) -> tf.Tensor:
    """--grid-weight's term: the mean square, over the images and the 16 pixel phases, of the period-4 pattern of
    the error sr - hr (NHWC; as torch_srgan.losses.grid_penalty, which says what it is)."""
    y_per_unit, taps, period = grid_loss_constants()
    err = tf.cast(sr, tf.float32) - tf.cast(hr, tf.float32)
    y = tf.tensordot(err, tf.constant(y_per_unit), axes=[[3], [0]])
    high = grid_highpass(y, taps, period)
    h, w = high.shape[1], high.shape[2]
    pattern = tf.reduce_mean(tf.reshape(high, (-1, h // period, period, w // period, period)), axis=(1, 3))
    return tf.reduce_mean(tf.square(pattern))


def vanilla_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """BCE with logits, real -> 1 and fake -> 0: softplus(-real) + softplus(fake), each averaged."""
    real = tf.reduce_mean(tf.nn.softplus(-tf.cast(real_logits, tf.float32)))
    fake = tf.reduce_mean(tf.nn.softplus(tf.cast(fake_logits, tf.float32)))
    return real + fake


def vanilla_generator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(x)) = softplus(-logit), averaged: the paper's non-saturating generator loss; ignores the real logits."""
    return tf.reduce_mean(tf.nn.softplus(-tf.cast(fake_logits, tf.float32)))


def relativistic_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """RaGAN's D: BCE of real - mean(fake) against 1 plus fake - mean(real) against 0 (batch means)."""
    real, fake = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    return (tf.reduce_mean(tf.nn.softplus(tf.reduce_mean(fake) - real))
            + tf.reduce_mean(tf.nn.softplus(fake - tf.reduce_mean(real))))


def relativistic_generator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """RaGAN's G: D's loss with the targets swapped (real - mean(fake) -> 0, fake - mean(real) -> 1)."""
    real, fake = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    return (tf.reduce_mean(tf.nn.softplus(real - tf.reduce_mean(fake)))
            + tf.reduce_mean(tf.nn.softplus(tf.reduce_mean(real) - fake)))


# Implementations of srcore.losses.ADVERSARIAL_LOSSES, under the same names (tests/test_adversarial_losses.py).
ADVERSARIAL: Registry[AdversarialLoss] = Registry("adversarial loss", option="--gan-loss")
ADVERSARIAL.register("vanilla", AdversarialLoss(vanilla_discriminator_loss, vanilla_generator_loss))
ADVERSARIAL.register("relativistic", AdversarialLoss(relativistic_discriminator_loss, relativistic_generator_loss))
