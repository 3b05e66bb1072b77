"""A checkpoint's metadata, of any format, read without importing a framework and without its tensors.

Planning a run needs only the metadata (a --pretrained checkpoint's architecture, scale and size). Reading
it through a backend's loader would import that framework, even into a run of the other backend (TensorFlow
imported before torch's triton segfaults), and read every tensor. Each format's metadata is validated as
its full reader validates it (srcore.checkpoint.check_meta):

    .pth                    the "meta" JSON string of the torch.save dict (srcore.torchfile, no tensor data read)
    NAME.weights.h5 / .json the NAME.json beside the weights (keras_srgan/checkpoint.py writes it last)
    .safetensors / .npz     the header entry `meta_json` (srcore.neutral)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srcore import neutral
from srcore.checkpoint import (
    HDF5_MAGIC,
    KERAS_SUFFIXES,
    CheckpointError,
    check_meta,
    checkpoint_format,
    file_magic,
    meta_from_json,
)
from srcore.torchfile import TorchFileError, read_torch_file


def read_meta(path: str | Path) -> dict[str, Any]:
    """The validated metadata of checkpoint `path` (format from its name); one-line CheckpointError otherwise."""
    kind = checkpoint_format(path)
    if kind == "torch":
        return read_torch_checkpoint_file(path, tensors=False)[0]
    if kind == "keras":
        return read_keras_meta(path)
    if kind == "neutral":
        return neutral.read_neutral_meta(path)
    raise CheckpointError(f"{path}: unknown checkpoint file type; expected .pth (PyTorch), NAME.weights.h5 "
                          f"(Keras) or .safetensors / .npz (backend-neutral)")


def read_torch_checkpoint_file(path: str | Path, tensors: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, contents) of a `.pth` checkpoint of this project, read without torch; `tensors` False: every
    tensor in `contents` is None and none is read."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if file_magic(p) == HDF5_MAGIC:
        raise CheckpointError(f"{p}: this is an HDF5 (Keras) file, not a PyTorch checkpoint; name it "
                              f"NAME.weights.h5 with its NAME.json beside it")
    try:
        data = read_torch_file(p, tensors=tensors)
    except TorchFileError as e:
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), str):
        raise CheckpointError(f"{p}: not a checkpoint of this project (no metadata)")
    if not isinstance(data.get("generator"), dict):
        raise CheckpointError(f"{p}: checkpoint has no 'generator' state; the file is damaged")
    return check_meta(meta_from_json(data["meta"], p), p, backend="torch"), data


def keras_checkpoint_files(path: str | Path) -> tuple[Path, Path, Path]:
    """(weights, state, meta) files of the Keras checkpoint that one of them, or its base name, names."""
    p = Path(path)
    base = p.name
    for suffix in KERAS_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    weights, state, meta = (p.with_name(base + s) for s in KERAS_SUFFIXES)
    return weights, state, meta


def read_keras_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a Keras checkpoint, from NAME.json; its weights file must be there, of the recorded size
    (the SHA-256 is checked when the weights are loaded)."""
    weights, _, meta_file = keras_checkpoint_files(path)
    if not meta_file.is_file():
        raise CheckpointError(f"{path}: not a complete Keras checkpoint of this project: its metadata file "
                              f"{meta_file.name} is missing (written last by every save)")
    try:
        text = meta_file.read_text()
    except (OSError, UnicodeDecodeError):
        raise CheckpointError(f"{meta_file}: cannot read the checkpoint metadata; the file is damaged") from None
    meta = check_meta(meta_from_json(text, meta_file), meta_file, backend="keras")
    recorded = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    info = recorded.get("weights")
    if not weights.is_file():
        raise CheckpointError(f"{meta_file}: its generator weights file {weights.name} is missing")
    if not isinstance(info, dict) or not isinstance(info.get("bytes"), int):
        raise CheckpointError(f"{meta_file}: the metadata does not record the size and SHA-256 of its generator "
                              f"weights file; not a checkpoint written by this project, or damaged")
    if weights.stat().st_size != info["bytes"]:
        raise CheckpointError(f"{weights}: does not match its metadata {meta_file.name} (damaged, or left over "
                              f"from an interrupted save)")
    return meta
