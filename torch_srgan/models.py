"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), as specified in the shared contract."""

from __future__ import annotations

import torch
from torch import nn

UPSAMPLE_STEPS = {2: [2], 3: [3], 4: [2, 2]}  # pixel-shuffle factors per upsampling block
DISC_LAYERS = [(1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]  # (channel multiplier, stride) after conv 1


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=True)


def _prelu(channels: int) -> nn.PReLU:
    return nn.PReLU(channels, init=0.25)


class ResidualBlock(nn.Module):
    """conv3x3, BN, PReLU, conv3x3, BN, + skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = _prelu(channels)
        self.conv2 = _conv(channels, channels, 3)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class UpsampleBlock(nn.Module):
    """conv3x3 C -> r^2 C, PixelShuffle(r), PReLU(C)."""

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = _conv(channels, channels * factor * factor, 3)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = _prelu(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class Generator(nn.Module):
    """SRResNet: LR in [0, 1] (N, 3, h, w) -> SR in [-1, 1] (N, 3, s*h, s*w)."""

    def __init__(self, scale: int = 4, blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        if scale not in UPSAMPLE_STEPS:
            raise ValueError(f"scale must be one of {sorted(UPSAMPLE_STEPS)}, got {scale}")
        self.scale, self.num_blocks, self.channels = scale, blocks, channels
        self.head_conv = _conv(3, channels, 9)
        self.head_act = _prelu(channels)
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.body_conv = _conv(channels, channels, 3)
        self.body_bn = nn.BatchNorm2d(channels)
        self.upsample = nn.Sequential(*[UpsampleBlock(channels, f) for f in UPSAMPLE_STEPS[scale]])
        self.tail_conv = _conv(channels, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head_act(self.head_conv(x))
        body = self.body_bn(self.body_conv(self.blocks(head))) + head
        return torch.tanh(self.tail_conv(self.upsample(body)))


class DiscBlock(nn.Module):
    """conv3x3 (padding 1), optional BN, LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, stride: int, bn: bool) -> None:
        super().__init__()
        self.conv = _conv(cin, cout, 3, stride)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Discriminator(nn.Module):
    """HR image in [-1, 1] (N, 3, p, p) -> real/fake logit (N, 1); p must be a multiple of 16."""

    def __init__(self, patch_size: int = 96, channels: int = 64) -> None:
        super().__init__()
        if patch_size % 16 or patch_size < 16:
            raise ValueError(f"discriminator patch size must be a positive multiple of 16, got {patch_size}")
        self.patch_size, self.channels = patch_size, channels
        layers = [DiscBlock(3, channels, 1, bn=False)]
        cin = channels
        for mult, stride in DISC_LAYERS:
            layers.append(DiscBlock(cin, channels * mult, stride, bn=True))
            cin = channels * mult
        self.features = nn.Sequential(*layers)
        side = patch_size // 16  # four stride-2 convs
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_generator(scale: int = 4, blocks: int = 16, channels: int = 64) -> Generator:
    return Generator(scale=scale, blocks=blocks, channels=channels)


def build_discriminator(patch_size: int = 96, channels: int = 64) -> Discriminator:
    return Discriminator(patch_size=patch_size, channels=channels)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers, so not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
