"""Running a Keras generator: the evaluation upscaler of srcore.evaluate, from a model or a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_srgan.checkpoint import load_checkpoint, load_generator_weights
from keras_srgan.device import on_device, policy_name, resolve_device, resolve_precision
from keras_srgan.models import build_generator
from srcore.arch import generator_args
from srcore.evaluate import Upscaler, for_checkpoint

# The layers that stay float32 under a mixed policy (declared dtype="float32" in keras_srgan/archs/ and models.py):
# the output activation / range mapping, and the discriminator's logit.
FLOAT32_LAYERS = frozenset({"tanh", "to_output_range", "fc2"})


def with_precision(generator: keras.Model, precision: str) -> keras.Model:
    """`generator` computing in a resolved `precision` ("fp32", "bf16", "fp16"): itself when its layers already
    do, else a clone under that dtype policy sharing nothing but a copy of its weights."""
    policy = policy_name(precision)
    if generator.dtype_policy.name == policy or precision == "fp32" and generator.dtype_policy.name == "float32":
        return generator

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        dtype = "float32" if layer.name in FLOAT32_LAYERS or precision == "fp32" else policy
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    twin = keras.models.clone_model(generator, clone_function=clone)
    twin.set_weights(generator.get_weights())
    return twin


def make_upscaler(generator: keras.Model, device: str | None = None, precision: str = "fp32") -> Upscaler:
    """fn(lr float32 NHWC in [0, 1]) -> float32 NHWC in [0, 1], the generator in inference mode.

    One graph for every input size (None dimensions in the signature): validation crops, benchmark
    images and tiles of any shape never retrace. No XLA here, it would compile once per shape.
    `precision` (srcore.precision: fp32, bf16, fp16, auto): a generator built in another precision runs as a
    clone in this one (the weights copied once: a trainer's generator is validated through its own upscaler).
    """
    tf_device = resolve_device(device)
    with on_device(tf_device):
        generator = with_precision(generator, resolve_precision(tf_device, precision))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def run(lr: tf.Tensor) -> tf.Tensor:
        sr = tf.cast(generator(lr, training=False), tf.float32)
        return (sr + 1.0) * 0.5  # tanh range -> [0, 1]; srcore clips and rounds

    def upscale(lr: np.ndarray) -> np.ndarray:
        with on_device(tf_device):
            return run(tf.convert_to_tensor(np.asarray(lr, np.float32))).numpy()

    upscale.graph_function = run  # type: ignore[attr-defined]  # for tests and benchmarks: tracing count
    return upscale


def load_generator(path: str | Path) -> tuple[keras.Model, dict[str, Any]]:
    """The generator of a checkpoint (built from its metadata's scale and arch) and the metadata."""
    meta, files = load_checkpoint(path)
    generator = build_generator(**generator_args(meta))
    load_generator_weights(generator, files)
    return generator, meta


def load_upscaler(path: str | Path, device: str | None = None,
                  precision: str = "fp32") -> tuple[Upscaler, dict[str, Any]]:
    """(upscaler, metadata) of a Keras checkpoint (`.weights.h5`, its `.json`, or a run folder)."""
    with on_device(resolve_device(device)):
        generator, meta = load_generator(path)
    return for_checkpoint(make_upscaler(generator, device, precision), meta), meta
