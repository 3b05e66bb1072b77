"""Any checkpoint into any backend: a checkpoint's generator as an upscaler, run where the user asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srapp.backends import backend_module, both_frameworks, default_backend
from srcore.checkpoint import trained_backend
from srcore.config import BACKENDS
from srcore.errors import UserError
from srcore.evaluate import Upscaler, for_checkpoint


def load_sr_model(weights: str, backend: str | None, device: str | None,
                  scale: int | None, precision: str = "fp32") -> tuple[Upscaler, dict[str, Any], str]:
    """(upscaler, meta, run_backend) for a checkpoint, run in `backend` (default: the one that trained it).

    A checkpoint in the other backend's format, or a backend-neutral .npz, is converted in memory
    (srconvert; the file is not changed). meta["backend"] is the file's format; rows record
    srcore.checkpoint.trained_backend(meta) as the backend that trained it. `precision`: what the generator
    computes in (srcore.precision; scoring stays fp32 unless asked).
    """
    from srconvert.convert import build_generator, read_checkpoint, require_kind

    if not Path(weights).is_file():
        raise UserError(f"--weights {weights}: no such file")
    kind = require_kind(weights, "--weights")
    if backend is None and kind != "neutral":
        backend = default_backend(kind)  # the file's own backend, unless only the other framework is installed
    if kind != "neutral" and kind == backend:  # the file is in the run backend's own format
        upscale, meta = backend_module(kind, "inference").load_upscaler(weights, device=device, precision=precision)
        run_backend = kind
    else:
        if kind == "keras" and backend != "keras":
            both_frameworks()  # a Keras file read, then run in torch: the order that does not crash
        _, meta, groups = read_checkpoint(weights, discriminator=False)
        if backend is None:  # the backend that trained it (torch if that is unknown), if it is installed
            trained = trained_backend(meta)
            backend = default_backend(trained if trained in BACKENDS else "torch")
        inference = backend_module(backend, "inference")  # a one-line error if its framework is missing
        generator = build_generator(backend, meta, groups["generator"], str(weights))
        upscale, run_backend = for_checkpoint(inference.make_upscaler(generator, device, precision), meta), backend
    if scale is not None and meta["scale"] != scale:
        raise UserError(f"--weights {weights} is a x{meta['scale']} checkpoint, but --scale {scale} was asked for")
    return upscale, meta, run_backend

