"""PyTorch checkpoint files: one `.pth` holding the metadata (JSON) and the state dicts.

Layout: {"meta": JSON string (srcore.checkpoint), "generator": state dict, "discriminator": state dict
(adversarial phase only), "optim_g"/"optim_d": optimizer state dicts, "scaler": GradScaler state (AMP only)}.
Files are written atomically and read with ``weights_only=True``: loading never runs code from the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from srcore.checkpoint import (
    HDF5_MAGIC,
    CheckpointError,
    check_meta,
    file_magic,
    meta_from_json,
    meta_to_json,
    weights_error,
)
from srcore.fileio import atomic_path

LAST, BEST = "last.pth", "best.pth"


class LoadedCheckpoint(dict):
    """The contents of a `.pth` checkpoint (state dicts by name), remembering the file they came from."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.path = path


def checkpoint_path(path: str | Path) -> Path:
    """The checkpoint file named by `path`: a run folder means its `last`, a file is itself."""
    p = Path(path)
    return p / LAST if p.is_dir() else p


def checkpoint_exists(path: str | Path) -> bool:
    """Whether a checkpoint is at `path` (one file: written atomically, so there means complete)."""
    return Path(path).is_file()


def save_checkpoint(path: str | Path, meta: dict[str, Any], generator: torch.nn.Module,
                    discriminator: torch.nn.Module | None = None, optimizers: dict[str, Any] | None = None) -> Path:
    """Write {"meta": JSON, "generator": state dict, ...} to `path` atomically; returns `path`.

    `optimizers`: name -> object with a state_dict() (the Adam optimizers "optim_g"/"optim_d", the AMP
    "scaler"). A crash never leaves a half-written file.
    """
    state: dict[str, Any] = {"meta": meta_to_json(meta), "generator": generator.state_dict()}
    if discriminator is not None:
        state["discriminator"] = discriminator.state_dict()
    for name, opt in (optimizers or {}).items():
        state[name] = opt.state_dict()
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_checkpoint(path: str | Path, backend: str | None = "torch", scale: int | None = None,
                    need_state: bool = False) -> tuple[dict[str, Any], LoadedCheckpoint]:
    """(meta, contents) of a `.pth` checkpoint; CheckpointError (one line naming the file) for anything unusable.

    `backend`/`scale`: required values (None = any); `need_state`: the training state (optimizers) must be
    there, as for resuming.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if file_magic(p) == HDF5_MAGIC:
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
    _require(data, ("generator", "optim_g") if need_state else ("generator",), p)
    return meta, LoadedCheckpoint(p, data)


def _require(data: dict[str, Any], keys: tuple[str, ...], path: str | Path) -> None:
    for key in keys:
        if not isinstance(data.get(key), dict):
            hint = (" (a converted checkpoint carries no optimizer state: use it with test.py or as --pretrained)"
                    if key.startswith("optim") else "")
            raise CheckpointError(f"{path}: checkpoint has no '{key}' state; the file is damaged or from another "
                                  f"phase{hint}")


def load_generator_weights(generator: torch.nn.Module, checkpoint: LoadedCheckpoint) -> None:
    """Load a loaded checkpoint's generator weights into a model of its architecture (float, finite ones only)."""
    for key, t in checkpoint["generator"].items():
        if isinstance(t, torch.Tensor):
            floating = t.is_floating_point()
            err = weights_error(checkpoint.path, "generator", str(key), floating,
                                floating and bool(torch.isfinite(t).all()))
            if err is not None:
                raise err
    load_module_state(generator, checkpoint["generator"], checkpoint.path, "generator")


def load_training_state(checkpoint: LoadedCheckpoint, discriminator: torch.nn.Module | None,
                        optimizers: dict[str, Any]) -> None:
    """Load the discriminator (adversarial phase) and every optimizer of `optimizers` (name -> object) to resume."""
    path = checkpoint.path
    _require(checkpoint, tuple(n for n in optimizers if n != "scaler")
             + (("discriminator",) if discriminator is not None else ()), path)
    if discriminator is not None:
        load_module_state(discriminator, checkpoint["discriminator"], path, "discriminator")
    for name, opt in optimizers.items():
        if name == "scaler" and not isinstance(checkpoint.get(name), dict):
            continue  # saved without --amp: keep the fresh loss scale
        what = {"optim_g": "generator optimizer", "optim_d": "discriminator optimizer"}.get(name, name)
        load_module_state(opt, checkpoint[name], path, what)


def has_state(checkpoint: LoadedCheckpoint, name: str) -> bool:
    """Whether a loaded checkpoint holds the state `name` (e.g. "optim_d", or "generator_train" with --ema)."""
    return isinstance(checkpoint.get(name), dict)


def load_module_state(module: Any, state: dict[str, Any], path: str | Path, what: str) -> None:
    """load_state_dict with mismatches turned into a one-line CheckpointError."""
    try:
        if isinstance(module, torch.nn.Module):
            module.load_state_dict(state, strict=True)
        else:
            module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        lines = [s.strip() for s in str(e).splitlines() if s.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(f"{path}: {what} weights do not fit the model ({detail[:300]})") from None
