"""The layers the PyTorch architectures are built from, with the project's conventions (srcore.arch)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from srcore.arch import BN_EPSILON, BN_MOMENTUM, PRELU_INIT


def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    """k x k convolution, zero-padded by k // 2 (the output keeps the input's size at stride 1), with bias."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=True)


def prelu(channels: int) -> nn.PReLU:
    return nn.PReLU(channels, init=PRELU_INIT)


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


def conv_stack(shapes: list[tuple[int, int]], init: Callable[[torch.Tensor], object]) -> nn.ModuleList:
    """Zero-padded convolutions of (kernel, filters) from 3 input channels, weights by `init`, zero biases."""
    convs, cin = [], 3
    for k, filters in shapes:
        convs.append(conv(cin, filters, k))
        cin = filters
    for c in convs:
        init(c.weight)
        nn.init.zeros_(c.bias)
    return nn.ModuleList(convs)


def run_stack(convs: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """A conv_stack with a ReLU after every convolution but the last."""
    for i, c in enumerate(convs):
        x = c(x) if i == len(convs) - 1 else torch.relu(c(x))
    return x
