"""The network architectures as framework-free facts, read by both backends and the converter.

Each backend builds its layers from these numbers; `srconvert/layout.py` maps the same numbers to
tensor names. A new architecture adds its name to ARCHS and its shape facts here.
"""

from __future__ import annotations

ARCHS = ("srresnet", "srcnn", "vdsr")  # generator architectures (SRGAN trains an srresnet one adversarially)
SCALES = (2, 3, 4)
# Networks whose input is the bicubic-upscaled LR image (srcore.imresize), the output's size: SRCNN (Dong et al.,
# TPAMI 2016) and VDSR (Kim et al., CVPR 2016). Every convolution is zero-padded ("same"), so the output keeps
# the input's size (the SRCNN paper's unpadded convolutions shrink it by the kernels' sum minus 3).
INTERPOLATING = ("srcnn", "vdsr")
SRCNN_KERNELS = ("9-1-5", "9-5-5")  # the base network and the wider middle layer (TPAMI 2016, Sec. 4.3)
# Generator size per architecture: srresnet: residual blocks x channels; srcnn: 3 layers, n1 = channels and
# n2 = channels // 2 filters (64 / 32); vdsr: conv layers x channels (20 x 64).
ARCH_SIZES = {"srresnet": {"blocks": 16, "channels": 64}, "srcnn": {"blocks": 3, "channels": 64},
              "vdsr": {"blocks": 20, "channels": 64}}

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


def srcnn_layers(channels: int = 64, kernels: str = "9-1-5") -> list[tuple[int, int]]:
    """(kernel, filters) of SRCNN's three convolutions, e.g. 9x9x64, 1x1x32, 5x5x3; ReLU after the first two."""
    k1, k2, k3 = (int(k) for k in kernels.split("-"))
    return [(k1, channels), (k2, channels // 2), (k3, 3)]


def vdsr_layers(blocks: int = 20, channels: int = 64) -> list[tuple[int, int]]:
    """(kernel, filters) of VDSR's `blocks` 3x3 convolutions (ReLU after all but the last, which gives the residual
    added to the input)."""
    return [(3, channels)] * (blocks - 1) + [(3, 3)]


def generator_args(meta: dict) -> dict:
    """build_generator's keyword arguments for a checkpoint's metadata (older ones have no arch name: srresnet)."""
    arch = meta["arch"]
    return {"scale": int(meta["scale"]), "blocks": int(arch["blocks"]), "channels": int(arch["channels"]),
            "arch": str(arch.get("name") or "srresnet"), "kernels": str(arch.get("kernels") or SRCNN_KERNELS[0])}


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
