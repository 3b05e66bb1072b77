"""The backend-neutral weight file: plain float32 tensors plus the checkpoint metadata as JSON.

Two containers, the same entries: `.safetensors` (the ecosystem's safe tensor format, readable from numpy,
PyTorch and TensorFlow alike; the metadata is its string header entry `meta_json`) and `.npz` (read with
``np.load(allow_pickle=False)``; the metadata is a 0-d unicode array `meta_json`). Either holds numbers
and one string, never code.

Entries
    meta_json               the JSON metadata. Checkpoints: srcore.checkpoint's dict
                            (backend = "neutral", trained_backend = where it was trained); VGG19 weights:
                            {"format": "srgan-repro-vgg19", ...}.
    <group>.<torch key>     one float32 array per tensor; <group> is "generator", "discriminator" (SRGAN
                            checkpoints only) or "vgg19", <torch key> the PyTorch state_dict key.

Canonical layout: PyTorch's, so a torch state dict is the neutral dict minus its group prefix:
    conv weight             (out, in, kh, kw) (OIHW); bias (out,)
    dense (nn.Linear)       weight (out, in) with `in` in torch's flatten order (C, H, W); bias (out,)
    PReLU                   weight (C,)
    BatchNorm               weight (gamma), bias (beta), running_mean, running_var (C,) each;
                            torch's `num_batches_tracked` is not stored (unused with a fixed momentum)
    upsampling conv         output channels in nn.PixelShuffle order: channel c*r*r + i*r + j becomes
                            pixel (i, j) of output channel c
The Keras side converts in srconvert/keras_io.py (HWIO kernels, (1, 1, C) PReLU alphas,
depth_to_space channel order (i*r + j)*C + c, (H, W, C) flatten order).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from srcore.checkpoint import CheckpointError, check_meta, check_weights
from srcore.fileio import atomic_path

META_KEY = "meta_json"
VGG19_FORMAT = "srgan-repro-vgg19"
CHECKPOINT_GROUPS = ("generator", "discriminator")

Groups = dict[str, dict[str, np.ndarray]]  # group -> torch key -> array


def _is_safetensors(path: str | Path) -> bool:
    return str(path).lower().endswith(".safetensors")


def save_neutral(path: str | Path, meta: dict[str, Any], groups: Groups) -> Path:
    """Write `groups` and `meta` to `path` (.safetensors or .npz, from the name) atomically."""
    arrays = {f"{group}.{key}": np.ascontiguousarray(value, dtype=np.float32)
              for group, tensors in groups.items() for key, value in tensors.items()}
    text = json.dumps(meta, sort_keys=True)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if _is_safetensors(path):
            from safetensors.numpy import save

            f.write(save(arrays, metadata={META_KEY: text}))
        else:
            np.savez(f, **{META_KEY: np.array(text)}, **arrays)
    return path


def _grouped(named: dict[str, np.ndarray]) -> Groups:
    groups: Groups = {}
    for name, value in named.items():
        group, _, key = name.partition(".")
        groups.setdefault(group, {})[key] = value
    return groups


def _read_safetensors(p: Path, tensors: bool) -> tuple[str, Groups]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(p), framework="numpy") as f:  # lazy: the header first, each tensor when asked for
            text = (f.metadata() or {}).get(META_KEY)
            if text is None:
                raise CheckpointError(f"{p}: not a backend-neutral weight file of this project (no {META_KEY})")
            return text, _grouped({k: f.get_tensor(k) if tensors else None for k in f.keys()})
    except (SafetensorError, OSError, ValueError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{p}: not a readable .safetensors file (damaged or truncated?): "
                              f"{detail[:200]}") from None


def read_neutral(path: str | Path, tensors: bool = True) -> tuple[dict[str, Any], Groups]:
    """(meta dict, groups) of a neutral file (.safetensors or .npz), unvalidated; one-line CheckpointError if
    unreadable. `tensors` False: the groups' names only (each value None), no tensor is read."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such file")
    if _is_safetensors(p):
        text, groups = _read_safetensors(p, tensors)
        return _parse_meta(p, text), groups
    try:
        with np.load(p, allow_pickle=False) as z:  # lazy: each member is read when indexed
            if META_KEY not in z.files:
                raise CheckpointError(f"{p}: not a backend-neutral weight file of this project (no {META_KEY})")
            text = str(z[META_KEY][()])
            groups = _grouped({name: z[name] if tensors else None for name in z.files if name != META_KEY})
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{p}: not a readable .npz weight file (damaged or truncated?): {detail[:200]}") from None
    return _parse_meta(p, text), groups


def _parse_meta(p: Path, text: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's limit
        raise CheckpointError(f"{p}: its metadata is not valid JSON; the file is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p}: its metadata is not a JSON object; the file is damaged")
    return meta


def load_neutral(path: str | Path, scale: int | None = None) -> tuple[dict[str, Any], Groups]:
    """(meta, groups) of a neutral checkpoint file, validated: metadata and a generator are required."""
    meta, groups = read_neutral(path)
    meta = _checked(meta, groups, path, scale)
    for what, arrays in groups.items():
        check_weights(arrays, path, what)
    return meta, groups


def read_neutral_meta(path: str | Path, scale: int | None = None) -> dict[str, Any]:
    """The metadata of a neutral checkpoint file, validated as load_neutral does, without reading its tensors."""
    meta, names = read_neutral(path, tensors=False)
    return _checked(meta, names, path, scale)


def _checked(meta: dict[str, Any], groups: Groups, path: str | Path, scale: int | None) -> dict[str, Any]:
    """A checkpoint's validated metadata; `groups` need only the tensor names."""
    if meta.get("format") == VGG19_FORMAT:
        raise CheckpointError(f"{path}: this holds VGG19 loss-network weights (use it with --vgg-weights), "
                              f"not a super-resolution checkpoint")
    meta = check_meta(meta, path, scale=scale)
    if not groups.get("generator"):
        raise CheckpointError(f"{path}: has no generator weights; the file is damaged")
    unknown = sorted(set(groups) - set(CHECKPOINT_GROUPS))
    if unknown:
        raise CheckpointError(f"{path}: unexpected weight groups {unknown}; not a checkpoint of this project")
    return meta


def load_vgg19(path: str | Path) -> dict[str, np.ndarray]:
    """The torchvision-layout VGG19 arrays ("features.N.weight"/"bias") of a neutral VGG19 file."""
    meta, groups = read_neutral(path)
    if meta.get("format") != VGG19_FORMAT or "vgg19" not in groups:
        raise CheckpointError(f"--vgg-weights {path}: not a VGG19 weight file (expected one written by "
                              f"python convert_weights.py --vgg19 IN.pth OUT.safetensors)")
    return groups["vgg19"]


def vgg19_meta(source: str) -> dict[str, Any]:
    return {"format": VGG19_FORMAT, "format_version": 1, "layout": "torch",
            "normalisation": "RGB in [0, 1], minus ImageNet mean (0.485, 0.456, 0.406), "
                             "divided by std (0.229, 0.224, 0.225)",
            "source": source}
