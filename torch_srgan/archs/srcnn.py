"""SRCNN (Dong et al. 2016) in PyTorch: the spec is srcore/archs/srcnn.py."""

from __future__ import annotations

import torch
from torch import nn

from srcore.archs.srcnn import srcnn_layers
from torch_srgan.archs import GENERATORS
from torch_srgan.layers import conv_stack, run_stack


@GENERATORS.register("srcnn")
class SRCNN(nn.Module):
    """The bicubic-upscaled image in [0, 1] (N, 3, H, W) -> SR in [-1, 1], same size.

    Three convolutions (ReLU after the first two), zero-padded; computed in [0, 1] units like the paper's
    (weights drawn from N(0, 0.001), biases 0), mapped to the project's [-1, 1] output at the end.
    `scale` does not shape it (its input already has the output's size).
    """

    def __init__(self, scale: int = 4, channels: int = 64, kernels: str = "9-1-5") -> None:
        super().__init__()
        self.layers = conv_stack(srcnn_layers(channels, kernels), lambda w: nn.init.normal_(w, std=1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * run_stack(self.layers, x).float() - 1.0  # float32 output under autocast, as in Keras
