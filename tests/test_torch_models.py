"""PyTorch generator and discriminator: parameter count, shapes, the contract's architecture details."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch_srgan.archs.srresnet import SRResNet  # noqa: E402
from torch_srgan.models import (  # noqa: E402
    Discriminator,
    build_discriminator,
    build_generator,
    count_parameters,
)

torch.set_num_threads(1)


def test_default_generator_has_paper_parameter_count() -> None:
    g = build_generator()
    assert isinstance(g, SRResNet)
    assert count_parameters(g) == 1_550_659


def test_count_parameters_ignores_frozen_and_buffers() -> None:
    g = build_generator(4, blocks=1, channels=8)
    total = count_parameters(g)
    g.head_conv.weight.requires_grad_(False)
    assert count_parameters(g) == total - g.head_conv.weight.numel()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_generator_output_shape_and_range(scale: int) -> None:
    torch.manual_seed(0)
    g = build_generator(scale, blocks=2, channels=8)
    x = torch.rand(2, 3, 7, 10)
    y = g(x)
    assert y.shape == (2, 3, 7 * scale, 10 * scale)
    assert y.abs().max() <= 1.0  # tanh output


def test_default_generator_runs_at_x4() -> None:
    with torch.no_grad():
        assert build_generator()(torch.rand(1, 3, 6, 5)).shape == (1, 3, 24, 20)


def test_generator_rejects_other_scales() -> None:
    with pytest.raises(ValueError):
        build_generator(8)


def test_generator_structure_follows_contract() -> None:
    g = build_generator(3, blocks=3, channels=8)
    assert len(g.blocks) == 3
    assert g.head_conv.kernel_size == (9, 9) and g.tail_conv.kernel_size == (9, 9)
    assert [m.conv.out_channels for m in g.upsample] == [8 * 9]
    assert [m.conv.out_channels for m in build_generator(4, blocks=1, channels=8).upsample] == [32, 32]
    prelus = [m for m in g.modules() if isinstance(m, torch.nn.PReLU)]
    assert prelus and all(p.weight.numel() == 8 and torch.all(p.weight == 0.25) for p in prelus)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is not None and c.stride == (1, 1) for c in convs)


def test_discriminator_gives_one_logit_per_image_at_96() -> None:
    d = build_discriminator()
    assert isinstance(d, Discriminator)
    assert d.classifier[1].in_features == 512 * 6 * 6
    with torch.no_grad():
        assert d(torch.rand(2, 3, 96, 96)).shape == (2, 1)


@pytest.mark.parametrize("patch", [16, 32, 64])
def test_discriminator_any_multiple_of_16(patch: int) -> None:
    d = build_discriminator(patch, channels=4)
    with torch.no_grad():
        assert d(torch.rand(3, 3, patch, patch)).shape == (3, 1)


def test_discriminator_rejects_other_sizes() -> None:
    with pytest.raises(ValueError):
        build_discriminator(40)


def test_discriminator_strides_and_widths() -> None:
    d = build_discriminator(32, channels=4)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert all(c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 7
