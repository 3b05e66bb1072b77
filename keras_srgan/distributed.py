"""Several replicas with TensorFlow's own engine, tf.distribute: MirroredStrategy over this machine's devices,
MultiWorkerMirroredStrategy over the machines that TF_CONFIG describes. One helper sets it up.

Every worker samples the same global batch (a pure function of the step) and each replica takes its slice by
its index among all replicas, so a run's batches do not depend on how many replicas ran it. Keras sums the
replicas' gradients, so each replica's loss is its slice's mean divided by the number of replicas
(`replica_share`): the sum is the gradient of the whole batch's mean, as with one device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from srcore.errors import UserError
from srcore.workers import tf_config_worker


@dataclass(frozen=True)
class Workers:
    """This process's place among the workers, and the strategy its models are built under (None: one device)."""

    rank: int = 0
    world: int = 1
    strategy: Any = None  # tf.distribute.Strategy

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def replicas(self) -> int:
        return 1 if self.strategy is None else int(self.strategy.num_replicas_in_sync)


def init_distributed_mode(mode: str, cpu_devices: int = 1) -> Workers:
    """The strategy of --distribute `mode`: "none", "mirrored" (local GPUs, else the CPU split into
    `cpu_devices` logical devices) or "multiworker" (TF_CONFIG; one replica per local GPU, or the CPU)."""
    if mode == "none":
        return Workers()
    if mode == "mirrored":
        return Workers(strategy=tf.distribute.MirroredStrategy(devices=_local_devices(cpu_devices)))
    rank, world = tf_config_worker()  # checks TF_CONFIG first, with a one-line message
    return Workers(rank, world, tf.distribute.MultiWorkerMirroredStrategy())


def _local_devices(cpu_devices: int) -> list[str]:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return [f"/gpu:{i}" for i in range(len(gpus))]
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        except RuntimeError:  # TensorFlow already started with its devices fixed (a second run in one process)
            have = len(tf.config.list_logical_devices("CPU"))
            if have != cpu_devices:
                raise UserError(f"--cpu-devices {cpu_devices}: TensorFlow already runs with {have} CPU device(s) "
                                "in this process") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_devices]


def sync_batchnorm(model: keras.Model) -> keras.Model:
    """BatchNormalization layers of `model` normalise with the statistics of the whole batch over the replicas
    (Keras' synchronized=True; the counterpart of torch's convert_sync_batchnorm). The same variables."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    return model


def replica_share(value: tf.Tensor) -> tf.Tensor:
    """A replica's part of the global mean loss `value` of its slice (inside a replica's step)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value / tf.cast(replicas, value.dtype) if replicas > 1 else value


def split_batch(workers: Workers, *arrays: np.ndarray) -> Any:
    """The global batch as each replica's slice (tf.distribute per-replica values); the arrays as they are with
    one device."""
    if workers.strategy is None:
        return arrays
    n = workers.replicas  # the batch size is a multiple of it (checked by the Trainer)

    def part(ctx: tf.distribute.InputContext) -> tuple[tf.Tensor, ...]:
        i, size = ctx.replica_id_in_sync_group, len(arrays[0]) // n
        return tuple(tf.constant(a[i * size:(i + 1) * size]) for a in arrays)

    return workers.strategy.experimental_distribute_values_from_function(part)


def distributed_step(workers: Workers, step: Callable[[Any], dict[str, tf.Tensor]]
                     ) -> Callable[[Any], dict[str, tf.Tensor]]:
    """`step` (a replica's train_step) compiled to run on every replica's slice, its logs averaged over all
    replicas. (Keras' own train_function averages along a batch axis across workers, which scalar logs lack.)
    Without XLA: XLA cannot compile a function that reaches variables on several devices."""
    strategy = workers.strategy

    def run(data: Any) -> dict[str, tf.Tensor]:
        logs = strategy.run(step, args=(data,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}

    return tf.function(run)


def any_worker(flag: bool, workers: Workers) -> bool:
    """True on every worker when it is True on any (a stop request, say); a synchronisation point."""
    if workers.world == 1:
        return flag
    s = workers.strategy
    votes = s.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(s.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None).numpy() > 0)
