"""Devices and precision of the Keras backend: TensorFlow device strings, dtype policies, XLA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

from srcore.checkpoint import cpu_description
from srcore.errors import UserError


def resolve_device(device: str | None = None) -> str | None:
    """A tf.device string for --device: None = TF's default placement (a GPU when there is one)."""
    if device is None:
        return None
    d = device.lower()
    if d == "cpu":
        return "/CPU:0"
    if d == "gpu" or d.startswith(("gpu:", "cuda")):
        index = d.split(":", 1)[1] if ":" in d else "0"
        gpus = tf.config.list_physical_devices("GPU")
        if not index.isdigit() or int(index) >= len(gpus):
            raise UserError(f"--device {device}: TensorFlow sees {len(gpus)} GPU(s)")
        return f"/GPU:{index}"
    raise UserError(f"--device {device}: the Keras backend takes cpu, gpu or gpu:N")


def describe_device(device: str | None) -> str:
    """The hardware a run uses, for checkpoint metadata and the results table."""
    if on_gpu(device):
        index = int(device.rsplit(":", 1)[1]) if device else 0
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[index])
        return f"GPU: {details.get('device_name', 'GPU')}"
    return cpu_description()


def on_gpu(device: str | None) -> bool:
    """Whether work placed on `device` (a resolve_device result) runs on a GPU."""
    return device != "/CPU:0" and bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def on_device(device: str | None) -> Iterator[None]:
    """Place the ops and variables created inside on `device` (None: TF's default placement)."""
    if device is None:
        yield
    else:
        with tf.device(device):
            yield


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a Keras dtype policy ("float32", "mixed_float16"), restoring the global one afterwards."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)
