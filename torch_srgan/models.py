"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), SRCNN and VDSR in PyTorch, NCHW; shapes from
srcore.arch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from srcore.arch import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    PRELU_INIT,
    discriminator_side,
    discriminator_stages,
    srcnn_layers,
    upsample_factors,
    vdsr_layers,
)


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=True)


def _prelu(channels: int) -> nn.PReLU:
    return nn.PReLU(channels, init=PRELU_INIT)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class ResidualBlock(nn.Module):
    """conv3x3, BN, PReLU, conv3x3, BN, + skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.bn1 = _bn(channels)
        self.act = _prelu(channels)
        self.conv2 = _conv(channels, channels, 3)
        self.bn2 = _bn(channels)

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
        factors = upsample_factors(scale)
        self.scale, self.num_blocks, self.channels = scale, blocks, channels
        self.head_conv = _conv(3, channels, 9)
        self.head_act = _prelu(channels)
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.body_conv = _conv(channels, channels, 3)
        self.body_bn = _bn(channels)
        self.upsample = nn.Sequential(*[UpsampleBlock(channels, f) for f in factors])
        self.tail_conv = _conv(channels, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head_act(self.head_conv(x))
        body = self.body_bn(self.body_conv(self.blocks(head))) + head
        return torch.tanh(self.tail_conv(self.upsample(body)))


def _conv_stack(shapes: list[tuple[int, int]], init: Callable[[torch.Tensor], object]) -> nn.ModuleList:
    """Zero-padded convolutions of (kernel, filters) from 3 input channels, weights by `init`, zero biases."""
    convs, cin = [], 3
    for k, filters in shapes:
        convs.append(_conv(cin, filters, k))
        cin = filters
    for conv in convs:
        init(conv.weight)
        nn.init.zeros_(conv.bias)
    return nn.ModuleList(convs)


def _run_stack(convs: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """The stack with a ReLU after every convolution but the last."""
    for i, conv in enumerate(convs):
        x = conv(x) if i == len(convs) - 1 else torch.relu(conv(x))
    return x


class SRCNN(nn.Module):
    """SRCNN (Dong et al. 2016): the bicubic-upscaled image in [0, 1] (N, 3, H, W) -> SR in [-1, 1], same size.

    Three convolutions (ReLU after the first two), zero-padded; computed in [0, 1] units like the paper's
    (weights drawn from N(0, 0.001), biases 0), mapped to the project's [-1, 1] output at the end.
    """

    def __init__(self, channels: int = 64, kernels: str = "9-1-5") -> None:
        super().__init__()
        self.layers = _conv_stack(srcnn_layers(channels, kernels), lambda w: nn.init.normal_(w, std=1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * _run_stack(self.layers, x) - 1.0


class VDSR(nn.Module):
    """VDSR (Kim et al. 2016): the bicubic-upscaled image in [0, 1] -> SR in [-1, 1]; `blocks` 3x3 convolutions
    predict the residual that is added to the input (He initialisation, as the paper's)."""

    def __init__(self, blocks: int = 20, channels: int = 64) -> None:
        super().__init__()
        self.layers = _conv_stack(vdsr_layers(blocks, channels),
                                  lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x + _run_stack(self.layers, x)) - 1.0


class DiscBlock(nn.Module):
    """conv3x3 (padding 1), optional BN, LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, stride: int, bn: bool) -> None:
        super().__init__()
        self.conv = _conv(cin, cout, 3, stride)
        self.bn = _bn(cout) if bn else nn.Identity()
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Discriminator(nn.Module):
    """HR image in [-1, 1] (N, 3, p, p) -> real/fake logit (N, 1); p must be a multiple of 16."""

    def __init__(self, patch_size: int = 96, channels: int = 64) -> None:
        super().__init__()
        side = discriminator_side(patch_size)
        self.patch_size, self.channels = patch_size, channels
        layers, cin = [], 3
        for i, (filters, stride) in enumerate(discriminator_stages(channels)):
            layers.append(DiscBlock(cin, filters, stride, bn=i > 0))  # the first conv has no BN (paper, Fig. 4)
            cin = filters
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, 1024), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_generator(scale: int = 4, blocks: int = 16, channels: int = 64, arch: str = "srresnet",
                    kernels: str = "9-1-5") -> nn.Module:
    """The generator of `arch` (srcore.arch.ARCHS); `scale` only shapes SRResNet (the others keep the input's size)."""
    if arch == "srcnn":
        return SRCNN(channels=channels, kernels=kernels)
    if arch == "vdsr":
        return VDSR(blocks=blocks, channels=channels)
    return Generator(scale=scale, blocks=blocks, channels=channels)


def build_discriminator(patch_size: int = 96, channels: int = 64) -> Discriminator:
    return Discriminator(patch_size=patch_size, channels=channels)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers, so not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
