"""Keras checkpoints: three plain-data files per checkpoint, nothing that deserialises code.

    <base>.weights.h5   generator weights, a standard Keras weights file (model.save_weights), readable
                        with build_generator(...).load_weights(...)
    <base>.state.npz    training state as plain arrays (np.load(allow_pickle=False)): discriminator
                        weights (BN statistics included) and every optimizer variable (Adam moments,
                        iteration counts), each with its variable paths for checking
    <base>.json         srcore.checkpoint metadata, plus the size and SHA-256 of the other two files

All three are written to temporary files first and renamed in that order, the JSON last: the JSON
marks the checkpoint complete, and its hashes detect a torn save or files mixed from two saves.
Any of the three paths (or `<base>`, or a run folder, meaning its `last`) names the checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from srcore.checkpoint import (
    KERAS_SUFFIXES,
    TORCH_SUFFIXES,
    ZIP_MAGIC,
    CheckpointError,
    check_meta,
    check_weights,
    file_magic,
    meta_from_json,
    meta_to_json,
)
from srcore.fileio import atomic_path

LAST, BEST = "last", "best"  # checkpoint base names in a run folder
WEIGHTS_SUFFIX, STATE_SUFFIX, META_SUFFIX = KERAS_SUFFIXES


@dataclass(frozen=True)
class CheckpointFiles:
    weights: Path
    state: Path
    meta: Path

    @classmethod
    def at(cls, base: str | Path) -> CheckpointFiles:
        base = Path(base)
        return cls(*(base.with_name(base.name + s) for s in (WEIGHTS_SUFFIX, STATE_SUFFIX, META_SUFFIX)))

    @property
    def base(self) -> Path:
        return self.meta.with_name(self.meta.name[: -len(META_SUFFIX)])


def checkpoint_path(path: str | Path) -> Path:
    """The checkpoint named by `path` (a run folder means its `last`), as its `.weights.h5` path."""
    return checkpoint_files(path).weights


def checkpoint_files(path: str | Path) -> CheckpointFiles:
    """The files of the checkpoint named by `path` (one of its files, its base name, or a run folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    name = p.name
    for suffix in (WEIGHTS_SUFFIX, STATE_SUFFIX, META_SUFFIX):
        if name.endswith(suffix):
            return CheckpointFiles.at(p.with_name(name[: -len(suffix)]))
    return CheckpointFiles.at(p)


def checkpoint_exists(path: str | Path) -> bool:
    """Whether a checkpoint is at `path` (any of its names): its JSON, which every save writes last, is there."""
    return checkpoint_files(path).meta.is_file()


def _file_info(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _named_arrays(prefix: str, variables: list[Any]) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}.{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    arrays[f"{prefix}.paths"] = np.array([v.path for v in variables], dtype=np.str_)
    return arrays


def save_checkpoint(path: str | Path, meta: dict[str, Any], generator: keras.Model,
                    discriminator: keras.Model | None = None,
                    optimizers: dict[str, list[Any]] | None = None) -> Path:
    """Write the checkpoint named by `path` (see the module docstring); returns its `.weights.h5` path.

    `optimizers` maps a name to a list of optimizer variables (see Trainer.optimizer_state).
    """
    files = checkpoint_files(path)
    arrays: dict[str, np.ndarray] = {}
    if discriminator is not None:
        arrays.update(_named_arrays("discriminator", discriminator.weights))
    for name, variables in (optimizers or {}).items():
        arrays.update(_named_arrays(name, variables))
    # Exit order of the nested context managers renames weights, then state, then the JSON.
    with atomic_path(files.meta) as tmp_meta, atomic_path(files.state) as tmp_state, \
            atomic_path(files.weights) as tmp_weights:
        generator.save_weights(str(tmp_weights))
        with open(tmp_state, "wb") as f:
            np.savez(f, **arrays)
        meta = {**meta, "files": {"weights": _file_info(tmp_weights), "state": _file_info(tmp_state)}}
        tmp_meta.write_text(meta_to_json(meta) + "\n")
    return files.weights


def _verify(path: Path, info: Any, what: str, meta_path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{meta_path}: its {what} file {path.name} is missing")
    # Every save records size and SHA-256; metadata without them is not one of ours (or was edited): refuse,
    # so verification cannot be switched off by editing the JSON.
    if not isinstance(info, dict) or not isinstance(info.get("bytes"), int) or not isinstance(info.get("sha256"), str):
        raise CheckpointError(f"{meta_path}: the metadata does not record the size and SHA-256 of its {what} file; "
                              f"not a checkpoint written by this project, or damaged")
    if path.stat().st_size != info["bytes"] or _file_info(path)["sha256"] != info["sha256"]:
        raise CheckpointError(f"{path}: does not match its metadata {meta_path.name} (damaged, or left over "
                              f"from an interrupted save)")


def load_checkpoint(path: str | Path, backend: str | None = "keras", scale: int | None = None,
                    need_state: bool = False) -> tuple[dict[str, Any], CheckpointFiles]:
    """(metadata, files) of a Keras checkpoint, validated; one-line CheckpointError otherwise.

    Checks that the generator weights (and with `need_state` the training state) are the very files
    the metadata was written with; `backend`/`scale`: required values (None = any).
    """
    p = Path(path)
    if p.suffix.lower() in TORCH_SUFFIXES:
        raise CheckpointError(f"{path}: this is a PyTorch checkpoint; run it with --backend torch, or convert it "
                              f"first: python convert_weights.py {path} OUT")
    if not p.exists() and not checkpoint_files(p).meta.exists():  # a base name "<dir>/last" is fine too
        raise CheckpointError(f"{path}: no such checkpoint file or run folder")
    if p.is_file() and p.suffix.lower() != ".npz" and file_magic(p, 4) == ZIP_MAGIC:
        raise CheckpointError(f"{path}: this looks like a PyTorch checkpoint (a zip archive); run it with --backend "
                              f"torch, or convert it first: python convert_weights.py {path} OUT")
    if p.is_file() and p.suffix.lower() not in (".h5", ".json", ".npz"):
        raise CheckpointError(f"{path}: not a Keras checkpoint of this project (expected NAME{WEIGHTS_SUFFIX} "
                              f"with NAME{META_SUFFIX} beside it)")
    files = checkpoint_files(p)
    if not files.meta.is_file():
        raise CheckpointError(f"{path}: not a complete Keras checkpoint of this project: its metadata file "
                              f"{files.meta.name} is missing (written last by every save)")
    try:
        text = files.meta.read_text()
    except (OSError, UnicodeDecodeError):
        raise CheckpointError(f"{files.meta}: cannot read the checkpoint metadata; the file is damaged") from None
    meta = check_meta(meta_from_json(text, files.meta), files.meta, backend=backend, scale=scale)
    recorded = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    _verify(files.weights, recorded.get("weights"), "generator weights", files.meta)
    if need_state:
        _verify(files.state, recorded.get("state"), "training state", files.meta)
    try:
        with h5py.File(files.weights, "r"):
            pass
    except OSError:
        raise CheckpointError(f"{files.weights}: not a readable HDF5 weights file; it is damaged") from None
    return meta, files


def load_generator_weights(generator: keras.Model, checkpoint: CheckpointFiles) -> None:
    """Load the generator weights of a validated checkpoint into a model of its architecture."""
    try:
        generator.load_weights(str(checkpoint.weights))
    except (OSError, ValueError, KeyError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{checkpoint.weights}: cannot load the generator weights ({msg})") from None
    check_weights({w.path: w.numpy() for w in generator.weights}, checkpoint.weights)


def load_training_state(checkpoint: CheckpointFiles, discriminator: keras.Model | None,
                        optimizers: dict[str, list[Any]]) -> None:
    """Assign the discriminator (adversarial phase) and every optimizer's variables (name -> list) to resume."""
    state = read_state(checkpoint)
    if discriminator is not None:
        assign_state(state, "discriminator", discriminator.weights, checkpoint.state)
    for name, variables in optimizers.items():
        if name.endswith("_loss_scale") and f"{name}.paths" not in state:
            continue  # saved without --amp: keep the fresh loss scale
        assign_state(state, name, variables, checkpoint.state)


def has_state(checkpoint: CheckpointFiles, name: str) -> bool:
    """Whether a checkpoint's training state holds `name` (e.g. "optim_d", or "generator_train" with --ema).

    Reads the archive's index only (an .npz is a zip: its names are known without reading the arrays, which
    load_training_state reads once)."""
    return f"{name}.paths" in _read_state_archive(checkpoint, lambda z: z.files)


def read_state(files: CheckpointFiles) -> dict[str, np.ndarray]:
    """The training-state arrays of a checkpoint (validated by load_checkpoint(need_state=True))."""
    return _read_state_archive(files, lambda z: {k: z[k] for k in z.files})


def _read_state_archive(files: CheckpointFiles, read: Any) -> Any:
    """`read(archive)` of the checkpoint's open `.state.npz`; a damaged file is a one-line CheckpointError."""
    try:
        with np.load(files.state, allow_pickle=False) as z:
            return read(z)
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise CheckpointError(f"{files.state}: cannot read the training state ({e}); the file is damaged") from None


def assign_state(state: dict[str, np.ndarray], prefix: str, variables: list[Any], where: str | Path) -> None:
    """Assign the arrays saved under `prefix` to `variables`, checking count, order and shapes."""
    paths = state.get(f"{prefix}.paths")
    if paths is None:
        raise CheckpointError(f"{where}: the training state has no {prefix}, so this checkpoint cannot resume "
                              f"training (converted, or of another phase); use it as --pretrained or with test.py")
    if len(paths) != len(variables):
        raise CheckpointError(f"{where}: the saved {prefix} has {len(paths)} variables, this model "
                              f"{len(variables)}; the checkpoint is of another architecture")
    for i, v in enumerate(variables):
        arr = state[f"{prefix}.{i:05d}"]
        if tuple(arr.shape) != tuple(v.shape):
            raise CheckpointError(f"{where}: {prefix} variable {paths[i]} has shape {arr.shape}, this model "
                                  f"{tuple(v.shape)}; the checkpoint is of another architecture")
        v.assign(arr)

