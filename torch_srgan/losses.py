"""Content losses (MSE, VGG22, VGG54) and the adversarial losses of SRGAN.

The VGG19 feature stack is built here with the same module indices as torchvision's
``vgg19().features``, so torchvision's ImageNet state dict loads into it directly, without
allocating the 120 M-parameter classifier that the loss never uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srcore.config import CONTENT_LOSSES
from srcore.errors import UserError
from srcore.losses import AdversarialLoss
from srcore.metrics import grid_highpass, grid_loss_constants
from srcore.registry import Registry
from srcore.vgg19 import (
    FEATURE_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG19_CFG,
    VGG_SCALE,
    load_vgg19_arrays,
)
from srcore.vgg_weights import (
    KERAS_IMAGENET,
    RANDOM,
    VggWeights,
    ensure_vgg_weights,
    how_to_supply,
    resolve_vgg_weights,
    vgg19_file,
    warn_random_weights,
)

_HOW_TO_SUPPLY = how_to_supply("VGG19 state-dict file")


def _torch_choice(weights: str | None) -> VggWeights:
    """The --vgg-weights decision, refusing the one this backend has not: Keras' own VGG19."""
    choice = resolve_vgg_weights(weights)
    if choice.kind == KERAS_IMAGENET:
        raise UserError("--vgg-weights keras-imagenet is the Keras backend's own VGG19 (caffe preprocessing, not "
                        "comparable); the PyTorch backend uses torchvision's ImageNet weights (the default) or "
                        "--vgg-weights PATH")
    return choice


def check_vgg_available(weights: str | None) -> None:
    """Make sure the VGG19 weights can be loaded, downloading the ImageNet ones if needed; UserError if not.

    `weights`: None (or "imagenet") = torchvision's ImageNet weights; a path to a state-dict file (.pth)
    or to the backend-neutral .npz of `convert_weights.py --vgg19`; "random" = random weights (smoke
    tests only). The training recipe calls this once per phase, before anything trains.
    """
    _torch_choice(weights)
    ensure_vgg_weights(weights, _HOW_TO_SUPPLY)


def vgg19_features(num_layers: int = 36) -> nn.Sequential:
    """The first `num_layers` modules of torchvision's vgg19().features (same indices, random init)."""
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers[:num_layers])


def _load_state_dict(path: Path) -> dict[str, Any]:
    if path.name.lower().endswith((".safetensors", ".npz")):  # the neutral VGG19 file of convert_weights.py --vgg19
        return {k: torch.from_numpy(v) for k, v in load_vgg19_arrays(path).items()}
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unreadable, truncated, or not a tensor-only file
        raise UserError(f"--vgg-weights {path}: not a readable PyTorch state-dict file "
                        f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserError(f"--vgg-weights {path}: expected a VGG19 state dict, got {type(sd).__name__}")
    return sd


def _features_state(sd: dict[str, Any], num_layers: int, path: str) -> dict[str, Any]:
    """Keys of the first `num_layers` feature modules, from a full vgg19 or a features-only state dict."""
    if any(k.startswith("features.") for k in sd):
        sd = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
    return {k: v for k, v in sd.items() if k.split(".")[0].isdigit() and int(k.split(".")[0]) < num_layers}


def build_vgg(layer: str, weights: str | None = None) -> nn.Sequential:
    """Frozen VGG19 features through relu2_2 (layer "22") or relu5_4 ("54"), in eval mode.

    `weights` as for check_vgg_available, which must have made them available (nothing is downloaded here).
    """
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"VGG layer must be one of {sorted(FEATURE_LAYERS)}, got {layer!r}")
    n = FEATURE_LAYERS[layer][0]
    net = vgg19_features(n)
    choice = _torch_choice(weights)
    if choice.kind == RANDOM:
        warn_random_weights()
    else:
        path = vgg19_file(choice, _HOW_TO_SUPPLY)
        name = str(path)
        state = _features_state(_load_state_dict(path), n, name)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise UserError(f"--vgg-weights {name}: not a VGG19 state dict ({first})") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class ContentLoss(nn.Module):
    """"mse": MSE in the [-1, 1] image space; "vgg22"/"vgg54": MSE of VGG19 features / 12.75; "sse": half the sum
    of squared errors per sample in [0, 1] units, averaged over the batch (srcore.config.CONTENT_LOSSES).

    Both inputs are generator-range images in [-1, 1], (N, 3, H, W).
    """

    def __init__(self, kind: str = "mse", weights: str | None = None, grid_weight: float = 0.0) -> None:
        super().__init__()
        if kind not in CONTENT_LOSSES:
            raise ValueError(f"content loss must be one of {CONTENT_LOSSES}, got {kind!r}")
        self.kind = kind
        self.grid_weight = float(grid_weight)  # --grid-weight: plus this times grid_penalty (0: none)
        self.vgg = build_vgg(kind[3:], weights) if kind.startswith("vgg") else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ContentLoss:
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # the loss network is frozen: never in training mode
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        assert self.vgg is not None
        x = ((x + 1.0) * 0.5 - self.mean) / self.std
        return self.vgg(x) / VGG_SCALE

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        loss = self._content(sr, hr)
        return loss + self.grid_weight * grid_penalty(sr, hr) if self.grid_weight else loss

    def _content(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.kind == "sse":  # Caffe's EuclideanLoss in [0, 1] units: (x/2)^2 summed per sample / 2, batch mean
            return ((sr.float() - hr.float()) ** 2).sum() / (8.0 * sr.shape[0])
        if self.vgg is None:
            return F.mse_loss(sr.float(), hr.float())
        with torch.no_grad():
            target = self.features(hr)
        return F.mse_loss(self.features(sr).float(), target.float())


def grid_penalty(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """--grid-weight's term: the mean square, over the images and the 16 pixel phases, of the period-4 pattern of
    the error sr - hr (srcore.metrics.grid_pattern of the error's Y, in grey levels, over the pixels whose low-pass
    needs no padding): the square of the grid measure of the error, as keras_srgan.losses.grid_penalty."""
    y_per_unit, taps, period = grid_loss_constants()
    err = sr.float() - hr.float()
    y = torch.einsum("nchw,c->nhw", err, torch.from_numpy(y_per_unit).to(err.device))
    high = grid_highpass(y, taps, period)
    h, w = high.shape[1], high.shape[2]
    pattern = high.reshape(y.shape[0], h // period, period, w // period, period).mean(dim=(1, 3))
    return pattern.square().mean()


def vanilla_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits: real -> 1, fake -> 0; the sum of the two means."""
    real, fake = real_logits.float(), fake_logits.float()
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def vanilla_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(x)) = softplus(-logit), averaged (the non-saturating GAN loss of the paper); ignores the real logits."""
    return F.softplus(-fake_logits.float()).mean()


def relativistic_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN's D: BCE of real - mean(fake) against 1 plus fake - mean(real) against 0 (batch means)."""
    real, fake = real_logits.float(), fake_logits.float()
    return F.softplus(fake.mean() - real).mean() + F.softplus(fake - real.mean()).mean()


def relativistic_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN's G: D's loss with the targets swapped (real - mean(fake) -> 0, fake - mean(real) -> 1)."""
    real, fake = real_logits.float(), fake_logits.float()
    return F.softplus(real - fake.mean()).mean() + F.softplus(real.mean() - fake).mean()


# Implementations of srcore.losses.ADVERSARIAL_LOSSES, under the same names (tests/test_adversarial_losses.py).
ADVERSARIAL: Registry[AdversarialLoss] = Registry("adversarial loss", option="--gan-loss")
ADVERSARIAL.register("vanilla", AdversarialLoss(vanilla_discriminator_loss, vanilla_generator_loss))
ADVERSARIAL.register("relativistic", AdversarialLoss(relativistic_discriminator_loss, relativistic_generator_loss))
