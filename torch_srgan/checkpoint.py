"""PyTorch checkpoint files: one `.pth` holding the metadata (JSON) and the state dicts.

Layout: {"meta": JSON string (srcore.checkpoint), "generator": state dict, "discriminator": state dict
(SRGAN phase only), "optim_g"/"optim_d": optimizer state dicts, "scaler": GradScaler state (AMP only)}.
Files are written atomically and read with ``weights_only=True``: loading never runs code from the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from srcore.checkpoint import CheckpointError, check_meta, meta_from_json, meta_to_json
from srcore.fileio import atomic_path

BACKEND = "torch"
LAST, BEST = "last.pth", "best.pth"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def save_checkpoint(path: str | Path, meta: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write {"meta": JSON, **state} to `path` atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"meta": meta_to_json(meta), **state}, tmp)
    return path


def resolve_checkpoint(path: str | Path, name: str = LAST) -> Path:
    """A run folder means its `name` checkpoint; a file is itself."""
    p = Path(path)
    return p / name if p.is_dir() else p


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_checkpoint(path: str | Path, backend: str | None = BACKEND, scale: int | None = None,
                    require: tuple[str, ...] = ("generator",)) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, contents) of a `.pth` checkpoint; CheckpointError (one line naming the file) for anything unusable.

    `backend`/`scale`: required values (None = any); `require`: keys that must hold state dicts.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    with open(p, "rb") as f:
        magic = f.read(8)
    if magic == _HDF5_MAGIC:
        raise CheckpointError(f"{p}: this is an HDF5 (Keras) file, not a PyTorch checkpoint; use --backend keras "
                              f"or convert it with convert_weights.py")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notices are noise here
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files; all mean "unusable"
        if "Unsupported global" in str(e):
            raise CheckpointError(f"{p}: refusing to load: the file contains Python objects other than tensors "
                                  f"(it was not written by this project)") from None
        detail = "" if "Weights only load failed" in str(e) else f": {_first_line(e)[:200]}"
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint (damaged or truncated?){detail}") from None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), str):
        raise CheckpointError(f"{p}: not a checkpoint of this project (no metadata); a bare state dict needs "
                              f"the training metadata too")
    meta = meta_from_json(data["meta"], p)
    meta = check_meta(meta, p, backend=backend, scale=scale)
    require_states(data, require, p)
    return meta, data


def require_states(data: dict[str, Any], keys: tuple[str, ...], path: str | Path) -> None:
    for key in keys:
        if not isinstance(data.get(key), dict):
            hint = (" (a converted checkpoint carries no optimizer state: use it with test.py or as --pretrained)"
                    if key.startswith("optim") else "")
            raise CheckpointError(f"{path}: checkpoint has no '{key}' state; the file is damaged or from another "
                                  f"phase{hint}")


def load_state(module: torch.nn.Module | torch.optim.Optimizer, state: dict[str, Any], path: str | Path,
               what: str) -> None:
    """load_state_dict with mismatches turned into a one-line CheckpointError."""
    try:
        if isinstance(module, torch.nn.Module):
            module.load_state_dict(state, strict=True)
        else:
            module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        lines = [s.strip() for s in str(e).splitlines() if s.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(f"{path}: {what} weights do not fit the model ({detail[:300]})") from None
