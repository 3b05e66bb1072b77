"""SRResNet (Ledig et al., CVPR 2017): the generator of SRGAN; models "srresnet" (MSE) and "srgan" (adversarial)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srcore.arch import ArchSpec, Entry, ModelSpec, Param, register_arch, upsample_factors


def layout(scale: int, p: Mapping[str, Any]) -> list[Entry]:
    """head conv 9x9 + PReLU, `blocks` x (conv, BN, PReLU, conv, BN), conv + BN, sub-pixel stages, tail conv 9x9."""
    entries = [Entry("head_conv", "conv_in", "conv"), Entry("head_act", "prelu_in", "prelu")]
    for b in range(p["blocks"]):
        t, k = f"blocks.{b}", f"block{b}"
        entries += [Entry(f"{t}.conv1", f"{k}_conv1", "conv"), Entry(f"{t}.bn1", f"{k}_bn1", "bn"),
                    Entry(f"{t}.act", f"{k}_prelu", "prelu"), Entry(f"{t}.conv2", f"{k}_conv2", "conv"),
                    Entry(f"{t}.bn2", f"{k}_bn2", "bn")]
    entries += [Entry("body_conv", "conv_mid", "conv"), Entry("body_bn", "bn_mid", "bn")]
    for i, r in enumerate(upsample_factors(scale)):
        entries += [Entry(f"upsample.{i}.conv", f"up{i}_conv", "conv_ps", (r,)),
                    Entry(f"upsample.{i}.act", f"up{i}_prelu", "prelu")]
    return entries + [Entry("tail_conv", "conv_out", "conv")]


SPEC = ArchSpec(
    name="srresnet",
    description="SRResNet: residual blocks on the LR image, sub-pixel upsampling (Ledig et al. 2017)",
    params=(Param("blocks", 16, "residual blocks", maximum=512),
            Param("channels", 64, "feature channels", maximum=1024)),
    layout=layout,
)

_PAPER = "Ledig et al., Table 2"
register_arch(
    SPEC,
    ModelSpec(
        "srresnet", "srresnet", "supervised", "SRResNet-MSE: the supervised phase only", "SRResNet", order=30,
        presets={
            # Ledig et al. 2017: 10^6 iterations at 1e-4, batch 16, 96x96 HR patches.
            "paper": dict(iterations=1_000_000, lr=1e-4, lr_schedule="constant", content_loss="mse"),
            # A 4-5x higher lr with a cosine decay: from-scratch training at 1e-4 shows nothing in a CPU-hour.
            "quick": dict(iterations=2000, lr=5e-4, lr_schedule="cosine", lr_decay=0.02, content_loss="mse"),
            # The CPU recipe (README: The long recipe): the quick schedule, measured at 2,000 and 10,000 iterations
            # (29.39 and 30.74 dB on Set5), stretched to what a few sessions of a 2-core machine allow; ICNR
            # (TrainConfig.subpixel_init's default) and a weight average.
            "long": dict(iterations=50_000, lr=5e-4, lr_schedule="cosine", lr_decay=0.02, content_loss="mse",
                         ema=0.999),
            "smoke": dict(blocks=2, channels=16, iterations=4, lr=1e-3, lr_schedule="constant",
                          content_loss="mse"),
        },
        paper={"Set5": (32.05, 0.9019), "Set14": (28.49, 0.8184), "BSD100": (27.58, 0.7620)},
        paper_setup=("MSE", "10^6 iterations, 350k ImageNet images"), paper_source=_PAPER,
    ),
    ModelSpec(
        "srgan", "srresnet", "adversarial", "SRGAN: the adversarial phase (runs the srresnet phase first unless "
        "--pretrained is given)", "SRGAN", order=40,
        presets={
            # 10^5 iterations at 1e-4 + 10^5 at 1e-5 from SRResNet, VGG54 content loss.
            "paper": dict(iterations=200_000, lr=1e-4, lr_schedule="step", lr_decay=0.1, lr_decay_at=0.5,
                          content_loss="vgg54"),
            "quick": dict(iterations=400, lr=1e-4, lr_schedule="step", lr_decay=0.1, lr_decay_at=0.5,
                          content_loss="vgg54"),
            # After the long SRResNet phase (results/README.md, SRGAN-MSE trials A-L, measured with MSE content):
            # 10x the paper's final lr, the adversarial weight ramped in over its first 600 iterations, the grid term,
            # which alone kept the sub-pixel checkerboard at the SRResNet's level. Trial L: held-out NIQE 6.03 ->
            # 5.75 with the grid at 0.073 (SRResNet 0.059) after 1000, 5.66 and 0.071 after 1500: the last third
            # (35 min on a 2-core CPU without bfloat16) buys 0.1 NIQE, so the phase ends at 1000 (--iterations 1500
            # continues it). At 0.05 (J) NIQE fell faster but the grid reached 0.076 by 600 and 0.090 by 750.
            "long": dict(iterations=1000, lr=1e-5, lr_schedule="constant", adv_warmup=600, grid_weight=0.2,
                         content_loss="vgg54", ema=0.999),
            "smoke": dict(blocks=2, channels=16, iterations=4, lr=1e-4, lr_schedule="step", lr_decay=0.1,
                          lr_decay_at=0.5, content_loss="vgg22"),
        },
        # The paper's SRGAN-VGG54; its SSIM implementation differs from ours (see the bicubic rows).
        paper={"Set5": (29.40, 0.8472), "Set14": (26.02, 0.7397), "BSD100": (25.16, 0.6688)},
        paper_setup=("VGG54 + 10^-3 adversarial", "10^5 + 10^5 iterations from SRResNet"), paper_source=_PAPER,
    ),
)
