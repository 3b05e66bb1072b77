"""torchvision's ImageNet VGG19 weights as numpy arrays, for both backends (framework-free).

Both backends' perceptual losses use the same VGG19 by default: torchvision's IMAGENET1K_V1 weights
(`vgg19-dcbb9e9d.pth`, in torch.hub's cache), with torchvision's input normalisation. The Keras
backend reads that file with srconvert.torchfile (no torch needed) or a `.npz` written by
`python convert_weights.py --vgg19 vgg19-dcbb9e9d.pth vgg19_torchvision.npz`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from srconvert.layout import VGG19_CFG, vgg19_entries
from srcore.errors import UserError

TORCHVISION_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"
TORCHVISION_VGG19_SHA256_PREFIX = "dcbb9e9d"  # torch.hub's convention: the file name carries it


def torch_hub_checkpoints_dir() -> Path:
    """torch.hub's download folder, computed as torch does ($TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def torchvision_vgg19_path() -> Path:
    return torch_hub_checkpoints_dir() / TORCHVISION_VGG19_FILE


def _conv_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    cin, entries = 3, iter(vgg19_entries())
    for v in VGG19_CFG:
        if v == "M":
            continue
        e = next(entries)
        shapes[f"{e.torch}.weight"] = (int(v), cin, 3, 3)
        shapes[f"{e.torch}.bias"] = (int(v),)
        cin = int(v)
    return shapes


def vgg19_feature_arrays(state: Any, where: str | Path) -> dict[str, np.ndarray]:
    """The 16 conv layers' arrays ("features.N.weight"/"bias", torch layout) of a VGG19 state dict.

    Accepts torchvision's full vgg19 state dict, a `features`-only one (keys "N.weight"), or either
    wrapped as {"state_dict": ...}; the classifier is ignored. UserError if it is not VGG19.
    """
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"--vgg-weights {where}: expected a VGG19 state dict, got {type(state).__name__}")
    if not any(str(k).startswith("features.") for k in state):
        state = {f"features.{k}": v for k, v in state.items()}
    out: dict[str, np.ndarray] = {}
    for key, shape in _conv_shapes().items():
        value = state.get(key)
        if value is None:
            raise UserError(f"--vgg-weights {where}: not a VGG19 state dict (no {key})")
        arr = np.asarray(value, dtype=np.float32)
        if arr.shape != shape:
            raise UserError(f"--vgg-weights {where}: not VGG19 ({key} has shape {arr.shape}, expected {shape})")
        out[key] = arr
    return out


def load_vgg19_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """VGG19 conv arrays (torch layout) from a neutral `.npz` or a PyTorch `.pth` state-dict file."""
    from srconvert import neutral
    from srconvert.torchfile import TorchFileError, read_torch_file
    from srcore.checkpoint import CheckpointError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--vgg-weights {p}: no such file")
    if p.name.lower().endswith(".npz"):
        try:
            return vgg19_feature_arrays(neutral.load_vgg19(p), p)
        except CheckpointError as e:
            raise UserError(str(e)) from None
    try:
        state = read_torch_file(p)
    except TorchFileError as e:
        raise UserError(f"--vgg-weights {p}: {e}") from None
    return vgg19_feature_arrays(state, p)
