"""Running a PyTorch generator: the evaluation upscaler of srcore.evaluate, from a model or a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from srcore.arch import generator_args
from srcore.evaluate import Upscaler, for_checkpoint
from torch_srgan.checkpoint import load_checkpoint, load_generator_weights
from torch_srgan.device import autocast, autocast_dtype, place, resolve_device, resolve_precision, to_numpy, to_tensor
from torch_srgan.models import build_generator


def make_upscaler(generator: torch.nn.Module, device: str | torch.device | None = None,
                  precision: str = "fp32") -> Upscaler:
    """fn(lr: float32 NHWC in [0, 1]) -> float32 NHWC in [0, 1], run in eval mode under inference_mode.

    The generator is moved to `device` (None: CUDA when available, else CPU). Its train/eval mode is
    restored after each call, so a Trainer's generator can be validated between training steps.
    `precision` (srcore.precision: fp32, bf16, fp16, auto): the forward pass under autocast when not float32.
    """
    dev = resolve_device(device)
    place(generator, dev)
    dtype = autocast_dtype(resolve_precision(dev, precision))

    def upscale(lr: np.ndarray) -> np.ndarray:
        was_training = generator.training
        generator.eval()
        try:
            with torch.inference_mode():
                with autocast(dev, dtype):
                    sr = generator(to_tensor(lr, dev))
                return to_numpy((sr.float() + 1.0) * 0.5)  # tanh range [-1, 1] -> [0, 1]
        finally:
            generator.train(was_training)

    return upscale


def load_generator(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator of a checkpoint (built from its metadata's scale and arch) and the metadata, on CPU."""
    meta, checkpoint = load_checkpoint(path)
    generator = build_generator(**generator_args(meta))
    load_generator_weights(generator, checkpoint)
    return generator, meta


def load_upscaler(path: str | Path, device: str | torch.device | None = None,
                  precision: str = "fp32") -> tuple[Upscaler, dict[str, Any]]:
    """(upscaler, meta) of a `.pth` checkpoint; CheckpointError (a UserError) for wrong or damaged files."""
    generator, meta = load_generator(path)
    return for_checkpoint(make_upscaler(generator, device, precision), meta), meta
