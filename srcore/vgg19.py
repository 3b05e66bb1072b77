"""torchvision's ImageNet VGG19, the loss network of both backends' perceptual losses, as plain facts and arrays.

Both backends use the same VGG19 by default: torchvision's IMAGENET1K_V1 weights (`vgg19-dcbb9e9d.pth`,
in torch.hub's cache) with torchvision's input normalisation. This module knows the layer list, the
file, and how to read its 16 conv layers as numpy arrays (torch layout) from that `.pth` (srcore.torchfile,
no torch needed) or from the `.npz` of `python convert_weights.py --vgg19 vgg19-dcbb9e9d.pth OUT.npz`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from srcore.errors import UserError

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_SHA256_PREFIX = "dcbb9e9d"  # torch.hub's convention: the file name carries it
# torchvision's cfgs["E"]: conv widths, "M" = 2x2 max pooling.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")
# The loss layers: number of leading modules of torchvision's vgg19().features up to and including the
# ReLU (relu2_2 is module 8, relu5_4 module 35), and the Keras VGG19 conv layer that ends there
# (Keras' convs include their ReLU).
FEATURE_LAYERS = {"22": (9, "block2_conv2"), "54": (36, "block5_conv4")}
# The ways to run without the download, named by every "cannot get the weights" message.
NO_DOWNLOAD = ("to run without it: --content-loss mse (the SRGAN-MSE variant), or for a smoke test only "
               "--vgg-weights random")
VGG_SCALE = 12.75  # Ledig et al.: feature maps are divided by 12.75 before the MSE
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's normalisation of RGB input in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_layers() -> list[tuple[int, str, int, int]]:
    """(torch features index, Keras layer name, in channels, out channels) of the 16 conv layers."""
    out, index, block, conv, cin = [], 0, 1, 1, 3
    for v in VGG19_CFG:
        if v == "M":
            index, block, conv = index + 1, block + 1, 1
        else:
            out.append((index, f"block{block}_conv{conv}", cin, int(v)))
            index, conv, cin = index + 2, conv + 1, int(v)  # conv, then its ReLU
    return out


def torch_hub_checkpoints_dir() -> Path:
    """torch.hub's download folder, computed as torch does ($TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def vgg19_cache_path() -> Path:
    """Where torch.hub keeps (and both backends look for) torchvision's VGG19 ImageNet weights."""
    return torch_hub_checkpoints_dir() / VGG19_FILE


def feature_arrays(state: Any, where: str | Path) -> dict[str, np.ndarray]:
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
    for index, _, cin, cout in conv_layers():
        for key, shape in ((f"features.{index}.weight", (cout, cin, 3, 3)), (f"features.{index}.bias", (cout,))):
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
    from srcore import neutral
    from srcore.torchfile import TorchFileError, read_torch_file

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--vgg-weights {p}: no such file")
    if p.name.lower().endswith((".safetensors", ".npz")):
        return feature_arrays(neutral.load_vgg19(p), p)
    try:
        state = read_torch_file(p)
    except TorchFileError as e:
        raise UserError(f"--vgg-weights {p}: {e}") from None
    return feature_arrays(state, p)
