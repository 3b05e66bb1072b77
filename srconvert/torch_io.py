"""PyTorch models and checkpoints <-> neutral arrays. Imports torch (and torch_srgan).

The neutral layout is torch's own, so this is mostly naming: state dict <-> arrays, minus the BN
`num_batches_tracked` counters (not stored; restored as 0, they are unused with a fixed momentum).
Reading a `.pth` needs no torch at all: see srconvert/convert.py (srconvert.torchfile).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from srconvert.layout import check_keys, disc_arch, discriminator_entries, generator_entries_of
from srcore.arch import generator_args
from torch_srgan.checkpoint import load_module_state, save_checkpoint
from torch_srgan.models import Discriminator, build_discriminator, build_generator


def state_to_arrays(state: dict[str, Any]) -> dict[str, np.ndarray]:
    """A state dict as float32 numpy arrays, without the BN step counters."""
    return {k: v.detach().cpu().float().numpy().copy() for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


def arrays_to_state(arrays: dict[str, np.ndarray], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict for `model` from neutral arrays (BN counters taken from the model: 0 when fresh)."""
    state = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")}
    state.update({k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in arrays.items()})
    return state


def generator_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> torch.nn.Module:
    g = build_generator(**generator_args(meta))
    check_keys(arrays, generator_entries_of(meta), "generator", where)
    load_module_state(g, arrays_to_state(arrays, g), where, "generator")
    return g


def discriminator_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Discriminator:
    patch, channels = disc_arch(meta)
    d = build_discriminator(patch, channels)
    check_keys(arrays, discriminator_entries(patch, channels), "discriminator", where)
    load_module_state(d, arrays_to_state(arrays, d), where, "discriminator")
    return d


def write_checkpoint(path: str | Path, meta: dict[str, Any], groups: dict[str, dict[str, np.ndarray]],
                     where: str) -> Path:
    """A `.pth` checkpoint with the generator (and discriminator) state dicts; no optimizer state."""
    g = generator_from_arrays(meta, groups["generator"], where)
    d = discriminator_from_arrays(meta, groups["discriminator"], where) if "discriminator" in groups else None
    return save_checkpoint(path, meta, g, d)
