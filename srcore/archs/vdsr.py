"""VDSR (Kim et al., CVPR 2016): a deep stack of 3x3 convolutions predicting the residual of the bicubic-upscaled
image; model "vdsr"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srcore.arch import ArchSpec, Entry, ModelSpec, Param, register_arch


def vdsr_layers(layers: int = 20, channels: int = 64) -> list[tuple[int, int]]:
    """(kernel, filters) of VDSR's `layers` 3x3 convolutions (ReLU after all but the last, which gives the residual
    added to the input)."""
    return [(3, channels)] * (layers - 1) + [(3, 3)]


def layout(scale: int, p: Mapping[str, Any]) -> list[Entry]:
    return [Entry(f"layers.{i}", f"conv{i}", "conv") for i in range(p["layers"])]


SPEC = ArchSpec(
    name="vdsr",
    description="VDSR: 3x3 convolutions predicting the residual of the bicubic-upscaled image (Kim et al. 2016)",
    params=(Param("layers", 20, "3x3 convolution layers", minimum=2, maximum=512),
            Param("channels", 64, "feature channels", maximum=1024)),
    layout=layout,
    interpolating=True,
    content_losses=("mse", "sse"),
    legacy={"blocks": "layers"},  # checkpoints and configs before the registry recorded the depth as "blocks"
)

register_arch(SPEC, ModelSpec(
    "vdsr", "vdsr", "supervised", "VDSR, on the bicubic-upscaled input", "VDSR", order=20,
    presets={
        # Kim et al. 2016: 41x41 patches, batch 64, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10
        # every 20 of 80 epochs, gradients clipped to 0.01 / lr; the iteration count is ours.
        "paper": dict(batch_size=64, patch_size=41, iterations=80_000, lr=0.1, lr_schedule="staircase",
                      lr_decay=0.1, lr_decay_at=0.25, optimizer="sgd", momentum=0.9, weight_decay=1e-4, clip=0.01,
                      content_loss="sse"),
        "quick": dict(patch_size=48, iterations=1500, lr=2e-4, lr_schedule="cosine", lr_decay=0.05,
                      content_loss="mse"),
        "smoke": dict(layers=3, channels=8, iterations=4, lr=1e-2, optimizer="sgd", clip=0.01, weight_decay=1e-4,
                      content_loss="sse"),
    },
    # Kim et al. 2016, Table 3, x4.
    paper={"Set5": (31.35, 0.8838), "Set14": (28.01, 0.7674), "BSD100": (27.29, 0.7251)},
    paper_setup=("MSE (Y channel)", "SGD + clipping, 80 epochs, 291 images"),
    paper_source="Kim et al., Table 3",
))
