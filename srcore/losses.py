"""The adversarial losses (`--gan-loss`) as framework-free specs; each backend registers its implementation.

An adversarial loss is a pair of functions of the discriminator's logits, `discriminator(real, fake)` and
`generator(real, fake)`, both averaged over the batch. Both take the real and the fake logits so that a
relativistic loss, which compares each with the other's mean, is one more entry like any other.
Adding one: its spec here, an `AdversarialLoss` under the same name in both backends' `losses.py`
(`ADVERSARIAL`); tests/test_adversarial_losses.py checks the three key sets agree and the backends' values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from srcore.registry import Registry


@dataclass(frozen=True)
class AdversarialLossSpec:
    """What `--gan-loss NAME` means, in words: shown in help and docs, identical for both backends."""

    name: str
    description: str
    reference: str


@dataclass(frozen=True)
class AdversarialLoss:
    """A backend's implementation: D's loss and G's loss, each `(real_logits, fake_logits) -> scalar`."""

    discriminator: Callable[[Any, Any], Any]
    generator: Callable[[Any, Any], Any]


ADVERSARIAL_LOSSES: Registry[AdversarialLossSpec] = Registry("adversarial loss", option="--gan-loss")


def _spec(name: str, description: str, reference: str) -> None:
    ADVERSARIAL_LOSSES.register(name, AdversarialLossSpec(name, description, reference))


_spec("vanilla", "BCE of D's logits (real -> 1, fake -> 0); G minimises -log D(G(z)), the non-saturating loss",
      "Goodfellow et al. 2014, sec. 3; Ledig et al. 2017 (SRGAN), eq. 6")
_spec("relativistic", "relativistic average GAN: BCE of each logit minus the other side's mean logit, "
      "real -> 1 and fake -> 0 for D, swapped for G",
      "Jolicoeur-Martineau 2018 (RaGAN, arXiv:1807.00734); as in Wang et al. 2018 (ESRGAN, arXiv:1809.00219)")
