"""The generator (any registered architecture: torch_srgan/archs/) and the SRGAN discriminator (Ledig et al.
2017) in PyTorch, NCHW; shapes from srcore.arch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srcore.arch import (
    ARCHS,
    LEAKY_SLOPE,
    check_disc_init,
    discriminator_side,
    discriminator_stages,
    subpixel_convs,
    upsampler_layers,
)
from torch_srgan.archs import GENERATORS
from torch_srgan.layers import bn, conv


class DiscBlock(nn.Module):
    """conv3x3 (padding 1), optional BN, LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, stride: int, batchnorm: bool) -> None:
        super().__init__()
        self.conv = conv(cin, cout, 3, stride)
        self.bn = bn(cout) if batchnorm else nn.Identity()
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
            layers.append(DiscBlock(cin, filters, stride, batchnorm=i > 0))  # the first conv has no BN (paper, Fig. 4)
            cin = filters
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, 1024), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.classifier[:-1](self.features(x))
        # The logit layer in float32 under autocast, as Keras' float32 fc2: the losses see an unrounded logit.
        with torch.autocast(x.device.type, enabled=False):
            return self.classifier[-1](hidden.float())


def build_generator(scale: int = 4, arch: str = "srresnet", **params: Any) -> nn.Module:
    """The generator of registered architecture `arch` with its parameters (srcore.arch; defaults for the ones not
    given, each checked: a one-line UserError for a bad one)."""
    spec = ARCHS.get(arch)
    return GENERATORS.get(arch)(scale=scale, **spec.check_params(params))


def init_subpixel(generator: nn.Module, scale: int, arch: str, mode: str, **params: Any) -> None:
    """Initialise the sub-pixel convolutions (TrainConfig.subpixel_init): "icnr" (Aitken et al. 2017) makes the
    r^2 outputs of each channel's group equal, so each pixel shuffle starts as nearest-neighbour upsampling and the
    untrained generator draws no grid; "plain" keeps the framework's initialisation. torch's PixelShuffle reads
    output channel c * r^2 + k as sub-pixel k of channel c: channel c's first output is repeated r^2 times."""
    if mode == "plain":
        return
    for entry in subpixel_convs(arch, scale, params):
        r2 = entry.info[0] ** 2
        layer = generator.get_submodule(entry.torch)
        with torch.no_grad():
            layer.weight.copy_(layer.weight[::r2].repeat_interleave(r2, dim=0))
            layer.bias.copy_(layer.bias[::r2].repeat_interleave(r2))


def freeze_upsampler(generator: nn.Module, scale: int, arch: str, **params: Any) -> None:
    """--freeze-upsampler: the sub-pixel stages and the layers after them (srcore.arch.upsampler_layers) stop
    training; their weights stay as loaded."""
    for entry in upsampler_layers(arch, scale, params):
        generator.get_submodule(entry.torch).requires_grad_(False)


def build_discriminator(patch_size: int = 96, channels: int = 64, init: str = "fan-in") -> Discriminator:
    """The SRGAN discriminator. `init` (TrainConfig.disc_init): "fan-in" and "framework" are the same here:
    torch's default for nn.Conv2d and nn.Linear is srcore.arch.fan_in_bound's rule."""
    check_disc_init(init)
    return Discriminator(patch_size=patch_size, channels=channels)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers, so not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
