"""Checkpoint metadata shared by every backend and file format.

A checkpoint's metadata is a plain JSON-able dict; the backends store it next to their tensors
(inside the .pth, beside the .weights.h5). Validation here turns every malformed or mismatched
file into a one-line UserError.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from srcore.config import TrainConfig
from srcore.errors import UserError

FORMAT = "srgan-repro-checkpoint"
FORMAT_VERSION = 1
GENERATOR_MODELS = ("srresnet", "srgan")


class CheckpointError(UserError):
    """A file that is not a usable checkpoint, or not the one that was asked for."""


def make_meta(cfg: TrainConfig, iteration: int, best_psnr: float | None = None, **extra: Any) -> dict[str, Any]:
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": cfg.backend,
        "model": cfg.model,
        "scale": cfg.scale,
        "arch": {"blocks": cfg.blocks, "channels": cfg.channels, "disc_channels": cfg.disc_channels,
                 "patch_size": cfg.patch_size},
        "iteration": int(iteration),
        "best_psnr": None if best_psnr is None else float(best_psnr),
        "config": cfg.to_dict(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    meta.update(extra)
    return meta


def meta_to_json(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def meta_from_json(text: str | bytes, path: str | Path) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, TypeError):
        raise CheckpointError(f"{path}: checkpoint metadata is not valid JSON; the file is damaged") from None
    return check_meta(meta, path)


def check_meta(meta: Any, path: str | Path, backend: str | None = None, scale: int | None = None) -> dict[str, Any]:
    """Validate metadata read from `path`; optionally require a backend and a scale."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project (no '{FORMAT}' metadata)")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is newer than this code "
                              f"understands ({FORMAT_VERSION}); update the code")
    arch = meta.get("arch")
    if (meta.get("model") not in GENERATOR_MODELS or meta.get("scale") not in (2, 3, 4)
            or not isinstance(arch, dict) or not all(isinstance(arch.get(k), int) for k in ("blocks", "channels"))):
        raise CheckpointError(f"{path}: checkpoint metadata is incomplete (model, scale, arch); the file is damaged")
    if backend is not None and meta.get("backend") != backend:
        raise CheckpointError(f"{path}: this is a {meta.get('backend')} checkpoint, but backend {backend} was asked "
                              f"for")
    if scale is not None and meta["scale"] != scale:
        raise CheckpointError(f"{path}: checkpoint is for x{meta['scale']}, but --scale {scale} was asked for")
    return meta


def trained_backend(meta: dict[str, Any]) -> str:
    """The backend that trained a checkpoint's weights: `trained_backend`, kept through conversions, else `backend`."""
    return str(meta.get("trained_backend") or meta.get("backend"))


def config_of(meta: dict[str, Any]) -> TrainConfig:
    return TrainConfig.from_dict(meta.get("config", {}))
