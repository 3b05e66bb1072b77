"""Keras models and checkpoints <-> neutral (torch-layout) arrays. Imports keras_srgan, so Keras/TF.

Shapes are checked layer by layer: a file of another architecture gives a one-line CheckpointError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import keras_srgan  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
from keras_srgan import checkpoint as kckpt
from keras_srgan import quiet_start
from keras_srgan.models import build_discriminator, build_generator
from srconvert.layout import (
    Entry,
    check_keys,
    disc_arch,
    discriminator_entries,
    from_keras,
    generator_entries,
    generator_entries_of,
    to_keras,
)
from srcore.arch import generator_args
from srcore.checkpoint import CheckpointError


def set_weights(model: Any, entries: list[Entry], arrays: dict[str, np.ndarray], what: str, where: str) -> None:
    """Assign torch-layout `arrays` to the Keras `model`'s layers named in `entries`."""
    check_keys(arrays, entries, what, where)
    for e in entries:
        layer = model.get_layer(e.keras)
        values = to_keras(e, arrays)
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [v.shape for v in values]:
            raise CheckpointError(f"{where}: {what} tensor {e.torch} has the wrong shape for this architecture "
                                  f"({[v.shape for v in values]} vs {shapes})")
        layer.set_weights(values)


def get_weights(model: Any, entries: list[Entry]) -> dict[str, np.ndarray]:
    """Torch-layout arrays of the Keras `model`'s layers named in `entries`."""
    out: dict[str, np.ndarray] = {}
    for e in entries:
        out.update(from_keras(e, model.get_layer(e.keras).get_weights()))
    return out


def generator_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Any:
    g = build_generator(**generator_args(meta))
    set_weights(g, generator_entries_of(meta), arrays, "generator", where)
    return g


def discriminator_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Any:
    patch, channels = disc_arch(meta)
    d = build_discriminator(patch, channels)
    set_weights(d, discriminator_entries(patch, channels), arrays, "discriminator", where)
    return d


def generator_to_arrays(model: Any, scale: int, arch: str = "srresnet",
                        params: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    return get_weights(model, generator_entries(scale, arch, params))


def discriminator_to_arrays(model: Any, patch_size: int, channels: int) -> dict[str, np.ndarray]:
    return get_weights(model, discriminator_entries(patch_size, channels))


def read_checkpoint(path: str | Path, discriminator: bool = True) -> tuple[dict[str, Any],
                                                                           dict[str, dict[str, np.ndarray]]]:
    """(meta, groups) of a Keras checkpoint (`.weights.h5`, its `.json`, or its base name)."""
    meta, files = kckpt.load_checkpoint(path, need_state=discriminator)
    g = build_generator(**generator_args(meta))
    kckpt.load_generator_weights(g, files)
    groups = {"generator": get_weights(g, generator_entries_of(meta))}
    if discriminator:
        state = kckpt.read_state(files)
        if "discriminator.paths" in state:
            patch, channels = disc_arch(meta)
            d = build_discriminator(patch, channels)
            kckpt.assign_state(state, "discriminator", d.weights, files.state)
            groups["discriminator"] = discriminator_to_arrays(d, patch, channels)
    return meta, groups


def write_checkpoint(path: str | Path, meta: dict[str, Any], groups: dict[str, dict[str, np.ndarray]],
                     where: str) -> Path:
    """A Keras checkpoint (NAME.weights.h5 + NAME.state.npz + NAME.json) from neutral groups.

    The state file holds the discriminator (when given) but no optimizer variables.
    """
    g = generator_from_arrays(meta, groups["generator"], where)
    d = discriminator_from_arrays(meta, groups["discriminator"], where) if "discriminator" in groups else None
    return kckpt.save_checkpoint(path, meta, g, d, optimizers=None)


def tflite_bytes(generator: Any) -> bytes:
    """`generator` as a float32 TensorFlow Lite model: (1, H, W, 3) in [0, 1] -> (1, sH, sW, 3) in [0, 1], H and W
    dynamic (srconvert.export)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="lr")])
    def upscale(lr: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"sr": tf.clip_by_value((generator(lr, training=False) + 1.0) * 0.5, 0.0, 1.0)}

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # The weights as constants: a converted function that still reads Keras' variables gives NaN in TFLite.
    frozen = convert_variables_to_constants_v2(upscale.get_concrete_function())
    with quiet_start(info=True):  # the converter loads more of TensorFlow and logs each of its steps
        return tf.lite.TFLiteConverter.from_concrete_functions([frozen], generator).convert()
