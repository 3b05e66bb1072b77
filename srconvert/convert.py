"""Any checkpoint format -> any other, and a checkpoint's generator built in either backend (framework-free here).

File types, from the name (srcore.checkpoint.checkpoint_format):
    .pth / .pt                          PyTorch checkpoint (torch_srgan/checkpoint.py)
    NAME.weights.h5 / NAME.json /       Keras checkpoint (keras_srgan/checkpoint.py: the three files
    NAME.state.npz                      NAME.weights.h5, NAME.state.npz, NAME.json)
    .safetensors, other .npz            backend-neutral file (srcore/neutral.py)

Everything goes through the neutral groups {"generator": {torch key: array}, "discriminator": ...}.
Reading a .pth uses srcore.torchfile (no torch); writing one imports torch; a Keras file either
way imports Keras. Converted metadata: "backend" = the format the file is now in, "trained_backend" =
where the weights were trained (kept through every conversion), "converted_from" = the source.
Optimizer state is never converted: a converted checkpoint evaluates, and starts an SRGAN phase
(--pretrained), but cannot --resume training.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from srcore import neutral
from srcore.checkpoint import FORMAT_NAMES, CheckpointError, check_weights, checkpoint_format, trained_backend
from srcore.config import BACKENDS
from srcore.errors import UserError
from srcore.metadata import keras_checkpoint_files, read_torch_checkpoint_file


def require_kind(path: str | Path, what: str) -> str:
    """The format of checkpoint file `path` (srcore.checkpoint.checkpoint_format); one-line error if unknown."""
    kind = checkpoint_format(path)
    if kind is None:
        raise UserError(f"{what} {path}: unknown file type; expected .pth (PyTorch), NAME.weights.h5 (Keras) "
                        f"or .safetensors / .npz (backend-neutral)")
    return kind


def _float_arrays(state: Any, where: Path, what: str) -> dict[str, np.ndarray]:
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise CheckpointError(f"{where}: its {what} state is not a dict of tensors; the file is damaged")
    check_weights(state, where, what)
    return {str(k): v.astype(np.float32) for k, v in state.items() if not str(k).endswith("num_batches_tracked")}


def read_torch_checkpoint(path: str | Path, discriminator: bool = True) -> tuple[dict[str, Any], neutral.Groups]:
    """(meta, groups) of a `.pth` checkpoint, read without torch (srcore.torchfile)."""
    p = Path(path)
    meta, data = read_torch_checkpoint_file(p)
    groups = {"generator": _float_arrays(data.get("generator"), p, "generator")}
    if discriminator and data.get("discriminator") is not None:
        groups["discriminator"] = _float_arrays(data["discriminator"], p, "discriminator")
    return meta, groups


def read_checkpoint(path: str | Path, discriminator: bool = True) -> tuple[str, dict[str, Any], neutral.Groups]:
    """(kind, meta, groups) of a checkpoint of any format."""
    kind = require_kind(path, "checkpoint")
    if kind == "torch":
        meta, groups = read_torch_checkpoint(path, discriminator)
    elif kind == "keras":
        from srconvert import keras_io

        meta, groups = keras_io.read_checkpoint(path, discriminator)
    else:
        meta, groups = neutral.load_neutral(path)
        if not discriminator:
            groups = {"generator": groups["generator"]}
    return kind, meta, groups


def converted_meta(meta: dict[str, Any], target: str, source: str | Path) -> dict[str, Any]:
    out = {k: v for k, v in meta.items() if k != "files"}  # "files": Keras' hashes of its own files
    out["trained_backend"] = trained_backend(meta)
    out["backend"] = target
    out["converted_from"] = {"backend": meta.get("backend"), "file": Path(source).name,
                             "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return out


def _keras_output_files(path: str | Path) -> list[Path]:
    """The three files of Keras checkpoint `path`, computed without importing Keras."""
    return list(keras_checkpoint_files(path))


def write_checkpoint(path: str | Path, kind: str, meta: dict[str, Any], groups: neutral.Groups) -> Path:
    where = str(path)
    if kind == "neutral":
        return neutral.save_neutral(path, meta, groups)
    if kind == "torch":
        from srconvert import torch_io

        return torch_io.write_checkpoint(path, meta, groups, where)
    from srconvert import keras_io

    return keras_io.write_checkpoint(path, meta, groups, where)


def round_to_fp16(groups: neutral.Groups, where: str) -> neutral.Groups:
    """Every weight rounded to float16's precision, kept as float32 (the same file format): a warm-restart
    snapshot of which git stores ~3.6 MB instead of ~5.8 (the 13 low mantissa bits are zero and compress away);
    each weight moves by at most 2^-11 of itself (3e-8 for those under 6e-5, float16's subnormals). A weight
    beyond float16's range is refused, not clipped."""
    out: neutral.Groups = {}
    for group, tensors in groups.items():
        out[group] = {}
        for key, value in tensors.items():
            rounded = np.asarray(value, dtype=np.float32).astype(np.float16).astype(np.float32)
            if not np.isfinite(rounded).all() and np.isfinite(value).all():
                raise UserError(f"{where}: {group}.{key} has weights beyond float16's range (|w| > 65504); "
                                f"convert it without --round-fp16")
            out[group][key] = rounded
    return out


def convert_checkpoint(src: str | Path, dst: str | Path, force: bool = False,
                       generator_only: bool = False, round_fp16: bool = False) -> list[str]:
    """Convert checkpoint `src` into `dst` (formats from the names); returns lines to print.

    `generator_only`: leave the discriminator out (the ~6 MB file that inference and --pretrained need).
    `round_fp16`: weights rounded to float16 precision (round_to_fp16), recorded in the metadata.
    """
    src_kind, dst_kind = require_kind(src, "IN"), require_kind(dst, "OUT")
    if not Path(src).is_file():
        raise UserError(f"IN {src}: no such file")
    if src_kind == dst_kind and not (src_kind == "neutral" and Path(src).suffix.lower() != Path(dst).suffix.lower()):
        raise UserError(f"IN and OUT are both {FORMAT_NAMES[src_kind]}s: nothing to convert (copy the file "
                        f"instead)")
    outputs = _keras_output_files(dst) if dst_kind == "keras" else [Path(dst)]
    existing = [p for p in outputs if p.exists()]
    if existing and not force:
        raise UserError(f"OUT {existing[0]} exists; pass --force to overwrite it")
    _, meta, groups = read_checkpoint(src, discriminator=not generator_only)
    new_meta = converted_meta(meta, dst_kind, src)
    if round_fp16:
        groups = round_to_fp16(groups, str(src))
        new_meta["weights_rounded_to"] = "fp16"
    written = write_checkpoint(dst, dst_kind, new_meta, groups)
    parts = " and ".join(g for g in ("generator", "discriminator") if g in groups)
    lines = [f"{src} ({FORMAT_NAMES[src_kind]}: {meta['model']} x{meta['scale']}, trained in "
             f"{new_meta['trained_backend']}, {meta.get('iteration')} iterations)",
             f"  -> {written} ({FORMAT_NAMES[dst_kind]}): {parts} weights"
             + (", rounded to float16 precision" if round_fp16 else "")]
    if src_kind != "neutral":
        srgan = " and can start an SRGAN phase (--pretrained)," if meta["model"] in ("srresnet", "srgan") else ""
        lines.append(f"  optimizer state is not converted: the result evaluates (test.py){srgan} but cannot "
                     "--resume training")
    return lines


def convert_vgg19(src: str | Path, dst: str | Path, force: bool = False) -> list[str]:
    """torchvision VGG19 weights (`.pth`, e.g. vgg19-dcbb9e9d.pth) -> a neutral `.npz` both backends load."""
    from srcore.vgg19 import load_vgg19_arrays

    if checkpoint_format(dst) != "neutral":
        raise UserError(f"OUT {dst}: the VGG19 weights are written as a backend-neutral file (e.g. "
                        f"vgg19_torchvision.safetensors or .npz)")
    if Path(dst).exists() and not force:
        raise UserError(f"OUT {dst} exists; pass --force to overwrite it")
    arrays = load_vgg19_arrays(src)
    neutral.save_neutral(dst, neutral.vgg19_meta(Path(src).name), {"vgg19": arrays})
    return [f"{src} -> {dst}: the 16 conv layers of VGG19 (torch layout); use it in either backend with "
            f"--vgg-weights {dst}"]


def build_generator(backend: str, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Any:
    """The generator of checkpoint metadata `meta` built in `backend` ("torch" or "keras") with neutral `arrays`
    (read_checkpoint's "generator" group): running any checkpoint in either backend, converted in memory."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        from srconvert import torch_io as io
    else:
        from srconvert import keras_io as io  # type: ignore[no-redef]
    return io.generator_from_arrays(meta, arrays, where)
