"""Which worker this process is, read from the launcher's environment (framework-free, so the application
layer can tell the one worker that writes shared files before any framework starts).

PyTorch: torchrun sets RANK / WORLD_SIZE. TensorFlow: TF_CONFIG names the cluster and this task; the chief
(or, without one, worker 0) is the main worker, as in tf.distribute's own convention.
"""

from __future__ import annotations

import json
import os
from typing import Any

from srcore.errors import UserError

DISTRIBUTE_MODES = ("none", "mirrored", "multiworker")


def torchrun_worker() -> tuple[int, int]:
    """(rank, number of workers) of a process started by torchrun; (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def tf_config() -> dict[str, Any]:
    """TF_CONFIG, checked: {"cluster": {"chief"?: [...], "worker": [...]}, "task": {"type": ..., "index": ...}}."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--distribute multiworker needs TF_CONFIG, e.g. "
                        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                        '"index": 0}} (the same cluster on every machine, each with its own index)')
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        hosts = cluster[task["type"]]
        if not isinstance(hosts, list) or not 0 <= int(task["index"]) < len(hosts):
            raise ValueError(f"task index {task['index']} is not in the cluster's {task['type']} list")
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"TF_CONFIG is not a valid cluster description ({e}); expected "
                        '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}') from None
    return config


def tf_config_worker() -> tuple[int, int]:
    """(rank, number of workers) of this task in TF_CONFIG: the chief first, then the workers in order."""
    config = tf_config()
    cluster, task = config["cluster"], config["task"]
    order = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
    key = (task["type"], int(task["index"]))
    if key not in order:
        raise UserError(f"TF_CONFIG: task type {task['type']!r} does not train (expected chief or worker)")
    return order.index(key), len(order)


def this_worker(backend: str, distribute: str = "none") -> tuple[int, int]:
    """(rank, number of workers) of this process for a run of `backend`; rank 0 writes the shared files."""
    if backend == "keras":
        return tf_config_worker() if distribute == "multiworker" else (0, 1)
    return torchrun_worker()
