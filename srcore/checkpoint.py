"""Checkpoints as framework-free facts: file formats, metadata, and the run state they record.

A checkpoint's metadata is a plain JSON-able dict; the backends store it next to their tensors
(inside the .pth, beside the .weights.h5). Validation here turns every malformed or mismatched
file into a one-line UserError.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srcore.arch import MODELS, SCALES, meta_arch
from srcore.config import TrainConfig
from srcore.errors import UserError

FORMAT = "srgan-repro-checkpoint"
FORMAT_VERSION = 1

# File formats, told apart by name: the one table of checkpoint file suffixes.
TORCH_SUFFIXES = (".pth", ".pt")
KERAS_SUFFIXES = (".weights.h5", ".state.npz", ".json")  # the three files of one Keras checkpoint
NEUTRAL_SUFFIXES = (".safetensors", ".npz")  # the backend-neutral file (srcore/neutral.py), in either container
FORMAT_NAMES = {"torch": "PyTorch checkpoint", "keras": "Keras checkpoint", "neutral": "backend-neutral file"}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # first bytes of an HDF5 file (Keras weights)
ZIP_MAGIC = b"PK\x03\x04"  # first bytes of a zip archive (torch.save since PyTorch 1.6, .npz)


class CheckpointError(UserError):
    """A file that is not a usable checkpoint, or not the one that was asked for."""


def checkpoint_format(path: str | Path) -> str | None:
    """"torch", "keras" or "neutral" from a checkpoint file's name; None for any other name."""
    name = Path(path).name.lower()
    if name.endswith(TORCH_SUFFIXES):
        return "torch"
    if name.endswith(KERAS_SUFFIXES):
        return "keras"
    if name.endswith(NEUTRAL_SUFFIXES):
        return "neutral"
    return None


def file_magic(path: str | Path, size: int = 8) -> bytes:
    """The first `size` bytes of a file (b"" if it cannot be read), to tell formats apart by content."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


@dataclass
class RunState:
    """What the training loop carries across steps and resumes: recorded in every checkpoint's metadata."""

    iteration: int = 0
    best_value: float | None = None  # the best validation value of `best_metric` so far
    seconds: float = 0.0  # training time so far (validation included), carried across resumes
    best_metric: str = "psnr"  # the metric (srcore.metrics.METRICS) that chose the `best` checkpoint

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> RunState:
        if "best_metric" in meta:
            metric, best = str(meta["best_metric"]), meta.get("best_value")
        else:  # written before metrics were a registry: only the best PSNR
            metric, best = "psnr", meta.get("best_psnr")
        return cls(int(meta.get("iteration") or 0), None if best is None else float(best),
                   float(meta.get("train_seconds") or 0.0), metric)

    def best(self, metric: str) -> float | None:
        """The best value of `metric` so far; None when none was recorded (or the run chose `best` by another)."""
        return self.best_value if metric == self.best_metric else None

    @property
    def best_psnr(self) -> float | None:
        """The best validation PSNR when PSNR chooses `best` (what older code and metadata call best_psnr)."""
        return self.best("psnr")

    @best_psnr.setter
    def best_psnr(self, value: float | None) -> None:
        self.best_metric, self.best_value = "psnr", value


def cpu_description() -> str:
    """The CPU a run used, for the record: model name and the number of cores this process may use."""
    import os
    import platform

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU: {name}, {cores} cores"


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def make_meta(cfg: TrainConfig, state: RunState, device: str = "") -> dict[str, Any]:
    """The metadata of a checkpoint of phase `cfg` at `state`, trained on `device` (a description)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": cfg.backend,
        "model": cfg.model,
        "scale": cfg.scale,
        # The architecture's name and parameters (srcore.arch), and the discriminator's sizes.
        "arch": {"name": cfg.arch, **cfg.arch_params, "disc_channels": cfg.disc_channels,
                 "patch_size": cfg.patch_size},
        "iteration": int(state.iteration),
        "best_metric": state.best_metric,
        "best_value": _optional_float(state.best_value),
        **({"best_psnr": _optional_float(state.best_psnr)} if state.best_metric == "psnr" else {}),  # older readers
        "train_seconds": round(float(state.seconds), 3),
        "device": device,
        "config": cfg.to_dict(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def meta_to_json(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def meta_from_json(text: str | bytes, path: str | Path) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested deeper than the parser's limit
        raise CheckpointError(f"{path}: checkpoint metadata is not valid JSON; the file is damaged") from None
    return check_meta(meta, path)


def check_meta(meta: Any, path: str | Path, backend: str | None = None, scale: int | None = None) -> dict[str, Any]:
    """Validate metadata read from `path`; optionally require a backend and a scale."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project (no '{FORMAT}' metadata)")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not a version number (expected "
                              f"an integer, {FORMAT_VERSION} today); the file is damaged")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version} is newer than this code "
                              f"understands ({FORMAT_VERSION}); update the code")
    if meta.get("model") not in MODELS or meta.get("scale") not in SCALES or not isinstance(meta.get("arch"), dict):
        raise CheckpointError(f"{path}: checkpoint metadata is incomplete (model, scale, arch); the file is damaged")
    try:
        meta_arch(meta, str(path))  # a registered architecture with valid parameters
    except UserError as e:
        raise CheckpointError(str(e)) from None
    if backend is not None and meta.get("backend") != backend:
        raise CheckpointError(f"{path}: this is a {meta.get('backend')} checkpoint, but backend {backend} was asked "
                              f"for")
    if scale is not None and meta["scale"] != scale:
        raise CheckpointError(f"{path}: checkpoint is for x{meta['scale']}, but --scale {scale} was asked for")
    return meta


def weights_error(where: str | Path, what: str, key: str, floating: bool, finite: bool) -> CheckpointError | None:
    """The error for one tensor of loaded weights that can only produce garbage, or None: an integer tensor (a
    quantised or foreign file), NaN or infinite values (a diverged run). Checked before any use of the weights."""
    if key.endswith("num_batches_tracked"):  # BatchNorm's step counter is an integer by design
        return None
    if not floating:
        return CheckpointError(f"{where}: {what} tensor {key} is not floating point (a quantised or foreign "
                               f"file?); expected float weights written by this project")
    if not finite:
        return CheckpointError(f"{where}: {what} tensor {key} holds NaN or infinite values (saved from a diverged "
                               f"run?); these weights cannot produce an image")
    return None


def check_weights(arrays: dict[str, Any], where: str | Path, what: str = "generator") -> None:
    """CheckpointError unless every numpy tensor of `arrays` is floating point and finite (see weights_error)."""
    import numpy as np

    for key, a in arrays.items():
        a = np.asarray(a)
        floating = bool(np.issubdtype(a.dtype, np.floating))
        err = weights_error(where, what, str(key), floating, floating and bool(np.isfinite(a).all()))
        if err is not None:
            raise err


def trained_backend(meta: dict[str, Any]) -> str:
    """The backend that trained a checkpoint's weights: `trained_backend`, kept through conversions, else `backend`."""
    return str(meta.get("trained_backend") or meta.get("backend"))



def check_pretrained(meta: dict[str, Any], cfg: TrainConfig, path: str | Path) -> None:
    """A checkpoint whose generator can initialise phase `cfg` (same architecture and parameters); CheckpointError
    if not."""
    spec, params = meta_arch(meta, str(path))
    if spec.name != cfg.arch:
        raise CheckpointError(f"{path}: this is a {spec.label(params)} generator, but this run trains "
                              f"{cfg.spec.label(cfg.arch_params)}")
    if params != cfg.arch_params:
        theirs = ", ".join(f"{k}={v}" for k, v in params.items())
        ours = ", ".join(f"{k}={v}" for k, v in cfg.arch_params.items())
        raise CheckpointError(f"{path}: generator has {theirs}, this run {ours}; pass matching "
                              f"{'/'.join('--' + k for k in params)}")


def check_resumable(meta: dict[str, Any], cfg: TrainConfig, path: str | Path) -> None:
    """A checkpoint of phase `cfg` itself (same model and sizes), as resuming needs; CheckpointError if not."""
    if meta["model"] != cfg.model:
        raise CheckpointError(f"{path}: this is a {meta['model']} checkpoint; it cannot resume a {cfg.model} phase "
                              f"(to start an SRGAN phase from it, pass it as --pretrained)")
    check_pretrained(meta, cfg, path)
    if cfg.adversarial:
        for key in ("disc_channels", "patch_size"):
            if key in meta["arch"] and meta["arch"][key] != getattr(cfg, key):
                raise CheckpointError(f"{path}: checkpoint has {key}={meta['arch'][key]}, but this run uses "
                                      f"{key}={getattr(cfg, key)}")
