"""VDSR (Kim et al. 2016) in PyTorch: the spec is srcore/archs/vdsr.py."""

from __future__ import annotations

import torch
from torch import nn

from srcore.archs.vdsr import vdsr_layers
from torch_srgan.archs import GENERATORS
from torch_srgan.layers import conv_stack, run_stack


@GENERATORS.register("vdsr")
class VDSR(nn.Module):
    """The bicubic-upscaled image in [0, 1] -> SR in [-1, 1]; `layers` 3x3 convolutions predict the residual that
    is added to the input (He initialisation, as the paper's). `scale` does not shape it."""

    def __init__(self, scale: int = 4, layers: int = 20, channels: int = 64) -> None:
        super().__init__()
        self.layers = conv_stack(vdsr_layers(layers, channels),
                                 lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x + run_stack(self.layers, x).float()) - 1.0  # float32 output under autocast, as in Keras
