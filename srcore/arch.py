"""The network architectures as framework-free facts, read by both backends and the converter.

Each backend builds its layers from these numbers; `srconvert/layout.py` maps the same numbers to
tensor names. A new architecture adds its name to ARCHS and its shape facts here.
"""

from __future__ import annotations

ARCHS = ("srresnet",)  # generator architectures (the SRGAN phase trains an srresnet generator adversarially)
SCALES = (2, 3, 4)

# Pixel-shuffle factors of the SRResNet generator's upsampling blocks, per scale.
_UPSAMPLE_FACTORS = {2: (2,), 3: (3,), 4: (2, 2)}

# torch's BatchNorm2d defaults, the convention of both backends (Keras: momentum = 1 - 0.1).
BN_MOMENTUM = 0.1  # weight of the new batch statistic in the running average
BN_EPSILON = 1e-5
PRELU_INIT = 0.25
LEAKY_SLOPE = 0.2


def upsample_factors(scale: int) -> tuple[int, ...]:
    """Pixel-shuffle stages of the generator: x4 = two x2 stages, x2 = one, x3 = one x3 stage."""
    if scale not in _UPSAMPLE_FACTORS:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
    return _UPSAMPLE_FACTORS[scale]


def discriminator_stages(channels: int = 64) -> list[tuple[int, int]]:
    """(filters, stride) of the discriminator's 8 conv layers: the paper's k3n64s1 ... k3n512s2 for 64.

    The first layer has no BatchNorm (paper, Fig. 4); four stride-2 layers divide the side by 16.
    """
    c = channels
    return [(c, 1), (c, 2), (2 * c, 1), (2 * c, 2), (4 * c, 1), (4 * c, 2), (8 * c, 1), (8 * c, 2)]


def discriminator_side(patch_size: int) -> int:
    """Side of the discriminator's last feature map; the patch must be a positive multiple of 16."""
    if patch_size % 16 or patch_size < 16:
        raise ValueError(f"the discriminator needs a patch size that is a positive multiple of 16, got {patch_size}")
    return patch_size // 16
