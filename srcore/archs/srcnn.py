"""SRCNN (Dong et al., TPAMI 2016): three convolutions on the bicubic-upscaled image; model "srcnn"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srcore.arch import ArchSpec, Entry, ModelSpec, Param, register_arch

KERNELS = ("9-1-5", "9-5-5")  # the base network and the wider middle layer (TPAMI 2016, Sec. 4.3)


def srcnn_layers(channels: int = 64, kernels: str = "9-1-5") -> list[tuple[int, int]]:
    """(kernel, filters) of SRCNN's three convolutions, e.g. 9x9x64, 1x1x32, 5x5x3; ReLU after the first two."""
    k1, k2, k3 = (int(k) for k in kernels.split("-"))
    return [(k1, channels), (k2, channels // 2), (k3, 3)]


def layout(scale: int, p: Mapping[str, Any]) -> list[Entry]:
    return [Entry(f"layers.{i}", f"conv{i}", "conv") for i in range(3)]


SPEC = ArchSpec(
    name="srcnn",
    description="SRCNN: three convolutions on the bicubic-upscaled image (Dong et al. 2016)",
    # Zero-padded convolutions keep the input's size (the paper's unpadded ones shrink it by the kernels' sum - 3).
    params=(Param("channels", 64, "filters of the first layer (the second has half)", minimum=2, maximum=1024),
            Param("kernels", "9-1-5", "kernel sizes of the three layers", type=str, choices=KERNELS)),
    layout=layout,
    interpolating=True,
    content_losses=("mse", "sse"),
)

register_arch(SPEC, ModelSpec(
    "srcnn", "srcnn", "supervised", "SRCNN 9-1-5 / 9-5-5 (--kernels), on the bicubic-upscaled input", "SRCNN",
    order=10,
    presets={
        # Dong et al. 2016: 33x33 sub-images, batch 128, SGD at 1e-4 on Caffe's Euclidean loss, ~10^8
        # backpropagations (they also give the last layer 1e-5: one rate here).
        "paper": dict(batch_size=128, patch_size=33, iterations=800_000, lr=1e-4, optimizer="sgd", momentum=0.9,
                      content_loss="sse"),
        # Adam and a cosine decay instead of the papers' SGD: what reaches a useful model in CPU minutes.
        "quick": dict(patch_size=48, iterations=40_000, lr=1e-3, lr_schedule="cosine", lr_decay=0.05,
                      content_loss="mse", val_every=2000, save_every=2000),
        "smoke": dict(channels=8, iterations=4, lr=1e-3, content_loss="mse"),
    },
    # Kim et al. 2016, Table 3, x4: SRCNN as quoted there.
    paper={"Set5": (30.48, 0.8628), "Set14": (27.49, 0.7503), "BSD100": (26.90, 0.7101)},
    paper_setup=("MSE (Y channel)", "SGD, ~10^8 backprops (91 images or ImageNet)"),
    paper_source="Kim et al., Table 3",
))
