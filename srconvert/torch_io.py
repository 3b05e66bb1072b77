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


class _UnitRange(torch.nn.Module):
    """A generator with its output mapped from [-1, 1] back to [0, 1] and clipped: the upscaler test.py runs."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((self.generator(x) + 1.0) * 0.5, 0.0, 1.0)


def unit_range_model(generator: torch.nn.Module) -> torch.nn.Module:
    """`generator` (eval mode) as a [0, 1] -> [0, 1] model, for export (srconvert.export)."""
    return _UnitRange(generator.eval()).eval()


def onnx_export(model: torch.nn.Module, example: torch.Tensor, path: str | Path, opset: int) -> None:
    """`model` to ONNX at `path`: input "lr", output "sr", batch, height and width dynamic (TorchScript exporter:
    it needs only the `onnx` package, and its graph is plain convolutions and reshapes)."""
    import warnings

    dynamic = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "out_height", 3: "out_width"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices are not the user's business
        torch.onnx.export(model, (example,), str(path), input_names=["lr"], output_names=["sr"],
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)
