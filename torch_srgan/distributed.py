"""Several workers with PyTorch's own engine: torchrun starts one process per device, DistributedDataParallel
averages the gradients (NCCL on GPUs, gloo on CPUs). One helper sets it up from torchrun's environment."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from srcore.worker_exit import on_exit
from srcore.workers import torchrun_worker


@dataclass(frozen=True)
class Workers:
    """This process's place among the workers: rank 0 of 1 when not started by torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live (NCCL needs them on the GPU)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed_mode(device_type: str) -> Workers:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    _, world = torchrun_worker()
    if world <= 1:
        return Workers()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if device_type == "cuda" else "cpu"
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        # Tear the group down before the interpreter does, and end the process without its finalization: a gloo
        # thread still finishing a collective then aborts it ("terminate called without an active exception")
        # after a run that finished (srcore.worker_exit says why). atexit: for code that is not an entry script.
        on_exit(_leave)
        atexit.register(_leave)
    return Workers(dist.get_rank(), dist.get_world_size(), local_rank, device)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_worker(flag: bool, workers: Workers) -> bool:
    """True on every worker when it is True on any (a stop request, say); a synchronisation point."""
    if workers.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=workers.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_workers(values: dict[str, float], workers: Workers) -> dict[str, float]:
    """The mean of each value over the workers: losses of the whole batch, the same on every worker."""
    if workers.world == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=workers.device)
    dist.all_reduce(t)
    return {k: float(v) / workers.world for k, v in zip(keys, t.tolist())}
