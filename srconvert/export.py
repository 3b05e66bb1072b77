"""A checkpoint's generator exported for other runtimes, by the output's name: `X.onnx` (ONNX, through PyTorch's
exporter, from either backend's weights) or `X.tflite` (TensorFlow Lite, float32, through Keras).

The exported network is the whole upscaler as test.py runs it, minus the image files: float32 input in [0, 1], the
output in [0, 1] (the generator's [-1, 1] mapped back and clipped). ONNX: NCHW, input "lr" (N, 3, H, W) with
dynamic N, H and W, output "sr" (N, 3, sH, sW). TFLite: NHWC, (1, H, W, 3) -> (1, sH, sW, 3), any H and W
(resize the input tensor before allocating). An interpolating architecture (ArchSpec.interpolating) takes the
bicubic-upscaled image (H and W already s times larger), as everywhere in this project; the metadata says which.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srcore.arch import meta_arch
from srcore.errors import UserError

EXPORT_SUFFIXES = {".onnx": "ONNX model", ".tflite": "TensorFlow Lite model"}
ONNX_OPSET = 17  # run by every onnxruntime since 1.13 (2022)


def export_kind(path: str | Path) -> str | None:
    """"onnx" or "tflite" from an output name, None for any other."""
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix in EXPORT_SUFFIXES else None


def describe(meta: dict[str, Any]) -> dict[str, str]:
    """What an exported file says of itself (ONNX metadata_props; the TFLite file has none: its README does)."""
    spec, params = meta_arch(meta)
    scale = int(meta["scale"])
    given = f"the bicubic x{scale}-upscaled image" if spec.interpolating else "the low-resolution image"
    return {"model": str(meta["model"]), "arch": spec.name, "arch_params": json.dumps(params), "scale": str(scale),
            "trained_backend": str(meta.get("trained_backend") or meta.get("backend")),
            "iteration": str(meta.get("iteration")),
            "input": f"lr: float32 {given} in [0, 1]", "output": "sr: float32 in [0, 1]"}


def export_generator(src: str | Path, dst: str | Path, force: bool = False) -> list[str]:
    """Export checkpoint `src`'s generator into `dst` (.onnx or .tflite); returns lines to print."""
    from srconvert.convert import read_checkpoint

    kind = export_kind(dst)
    if kind is None:
        raise UserError(f"OUT {dst}: export writes {' or '.join(EXPORT_SUFFIXES)}")
    if Path(dst).exists() and not force:
        raise UserError(f"OUT {dst} exists; pass --force to overwrite it")
    _, meta, groups = read_checkpoint(src, discriminator=False)
    if kind == "onnx":
        _export_onnx(meta, groups["generator"], Path(dst), str(src))
    else:
        _export_tflite(meta, groups["generator"], Path(dst), str(src))
    info = describe(meta)
    return [f"{src} ({meta['model']} x{meta['scale']}, trained in {info['trained_backend']}) -> {dst} "
            f"({EXPORT_SUFFIXES['.' + kind]}): input {info['input']}, output {info['output']}"]


def _framework(name: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"this export needs the package '{name}', which is not installed; run: pip install "
                        f"\".[{extra}]\"") from None


def _export_onnx(meta: dict[str, Any], arrays: dict[str, Any], dst: Path, where: str) -> None:
    torch = _framework("torch", "torch,export")
    onnx = _framework("onnx", "export")
    from srconvert import torch_io
    from srcore.fileio import atomic_path

    generator = torch_io.generator_from_arrays(meta, arrays, where).eval()
    upscaler = torch_io.unit_range_model(generator)
    side = 24 * (int(meta["scale"]) if meta_arch(meta)[0].interpolating else 1)
    example = torch.rand(1, 3, side, side)
    with atomic_path(dst) as tmp:
        torch_io.onnx_export(upscaler, example, tmp, ONNX_OPSET)
        model = onnx.load(str(tmp))
        for key, value in describe(meta).items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))


def _export_tflite(meta: dict[str, Any], arrays: dict[str, Any], dst: Path, where: str) -> None:
    from srcore.fileio import atomic_path

    try:
        from srconvert import keras_io  # (keras_srgan first: TensorFlow starts with its noise filtered)
    except ImportError as e:
        raise UserError(f"the TFLite export needs the package '{e.name}', which is not installed; run: pip install "
                        "\".[keras]\"") from None

    generator = keras_io.generator_from_arrays(meta, arrays, where)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(keras_io.tflite_bytes(generator))
