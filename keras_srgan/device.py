"""Devices and precision of the Keras backend: TensorFlow device strings, dtype policies, XLA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

from srcore import precision as srcore_precision
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


# The Keras dtype policy of each resolved precision (srcore.precision): the mixed policies keep the variables in
# float32 and compute in the low precision; the layers declared dtype="float32" (the output activation, the
# discriminator's logit) and the losses stay in float32.
DTYPE_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def resolve_precision(device: str | None, precision: str = "fp32", amp: bool = False,
                      what: str = "--precision") -> str:
    """What --precision (and the older --amp) means on `device` (a resolve_device result): "fp32", "bf16", "fp16"."""
    gpu = on_gpu(device)
    return srcore_precision.resolve_precision(precision, cuda=gpu, amp=amp, what=what,
                                              cuda_bf16=gpu and _gpu_has_bf16(device))


def _gpu_has_bf16(device: str | None) -> bool:
    # bfloat16 tensor cores from compute capability 8.0 (Ampere) on
    index = int(device.rsplit(":", 1)[1]) if device else 0
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[index])
    return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)


def policy_name(precision: str) -> str:
    """The Keras dtype policy of a resolved precision."""
    return DTYPE_POLICIES[precision]


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a Keras dtype policy ("float32", "mixed_float16"), restoring the global one afterwards."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)
