"""SRResNet (Ledig et al. 2017) in PyTorch: the spec is srcore/archs/srresnet.py."""

from __future__ import annotations

import torch
from torch import nn

from srcore.arch import upsample_factors
from torch_srgan.archs import GENERATORS
from torch_srgan.layers import bn, conv, prelu


class ResidualBlock(nn.Module):
    """conv3x3, BN, PReLU, conv3x3, BN, + skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, 3)
        self.bn1 = bn(channels)
        self.act = prelu(channels)
        self.conv2 = conv(channels, channels, 3)
        self.bn2 = bn(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class UpsampleBlock(nn.Module):
    """conv3x3 C -> r^2 C, PixelShuffle(r), PReLU(C)."""

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = conv(channels, channels * factor * factor, 3)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = prelu(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


@GENERATORS.register("srresnet")
class SRResNet(nn.Module):
    """LR in [0, 1] (N, 3, h, w) -> SR in [-1, 1] (N, 3, s*h, s*w)."""

    def __init__(self, scale: int = 4, blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        factors = upsample_factors(scale)
        self.scale, self.num_blocks, self.channels = scale, blocks, channels
        self.head_conv = conv(3, channels, 9)
        self.head_act = prelu(channels)
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.body_conv = conv(channels, channels, 3)
        self.body_bn = bn(channels)
        self.upsample = nn.Sequential(*[UpsampleBlock(channels, f) for f in factors])
        self.tail_conv = conv(channels, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head_act(self.head_conv(x))
        body = self.body_bn(self.body_conv(self.blocks(head))) + head
        # tanh in float32 under autocast, as Keras' float32 output layer: the losses see the unrounded image
        return torch.tanh(self.tail_conv(self.upsample(body)).float())
