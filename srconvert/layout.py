"""Which Keras layer holds which PyTorch tensors, and how their layouts differ (numpy only).

A model is described as a list of `Entry(torch_prefix, keras_layer, kind, info)`; `to_keras` and
`from_keras` turn one entry's torch tensors into the layer's `get_weights()` list and back.

    conv       torch weight (O, I, kh, kw), bias (O,)    <-> kernel (kh, kw, I, O), bias
    conv_ps    the conv before a pixel shuffle by r: as conv, and output channel c*r*r + i*r + j
               (nn.PixelShuffle) <-> (i*r + j)*C + c (tf.nn.depth_to_space)
    prelu      weight (C,)                               <-> alpha (1, 1, C) (shared over H, W)
    bn         weight, bias, running_mean, running_var   <-> gamma, beta, moving_mean, moving_variance
    dense      weight (O, I), bias                       <-> kernel (I, O), bias
    dense_chw  dense after a flatten of a (C, s, s) map: input index c*s*s + h*s + w (torch) <->
               (h*s + w)*C + c (Keras flattens NHWC)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from srcore.arch import ARCHS, Entry, discriminator_side, discriminator_stages, generator_args
from srcore.checkpoint import CheckpointError
from srcore.vgg19 import conv_layers

__all__ = ["Entry", "check_keys", "disc_arch", "discriminator_entries", "from_keras", "generator_entries",
           "generator_entries_of", "to_keras", "vgg19_entries"]


def disc_arch(meta: dict[str, Any]) -> tuple[int, int]:
    """(patch_size, disc_channels) of a checkpoint's discriminator, from its metadata."""
    arch, cfg = meta["arch"], meta.get("config", {})
    return (int(arch.get("patch_size") or cfg.get("patch_size") or 96),
            int(arch.get("disc_channels") or cfg.get("disc_channels") or 64))


def generator_entries(scale: int, arch: str = "srresnet", params: Mapping[str, Any] | None = None) -> list[Entry]:
    """The generator's layers: the architecture's own layout (srcore.arch.ArchSpec.layout) for `params` (its
    parameters; None = its defaults)."""
    spec = ARCHS.get(arch)
    return spec.layout(scale, spec.check_params(params or {}))


def generator_entries_of(meta: dict[str, Any]) -> list[Entry]:
    """The generator's layers for a checkpoint's metadata."""
    args = generator_args(meta)
    scale, arch = args.pop("scale"), args.pop("arch")
    return generator_entries(scale, arch, args)


def discriminator_entries(patch_size: int, channels: int) -> list[Entry]:
    entries = []
    stages = discriminator_stages(channels)
    for i in range(len(stages)):
        entries.append(Entry(f"features.{i}.conv", f"conv{i}", "conv"))
        if i > 0:  # the first conv has no BN
            entries.append(Entry(f"features.{i}.bn", f"bn{i}", "bn"))
    return entries + [Entry("classifier.1", "fc1", "dense_chw", (stages[-1][0], discriminator_side(patch_size))),
                      Entry("classifier.3", "fc2", "dense")]


def vgg19_entries() -> list[Entry]:
    """torchvision vgg19().features.N <-> keras.applications.VGG19's blockB_convK (conv layers only)."""
    return [Entry(f"features.{index}", name, "conv") for index, name, _, _ in conv_layers()]


def _ps_to_tf(w: np.ndarray, r: int) -> np.ndarray:
    """Reorder axis 0 (torch PixelShuffle channel order) into depth_to_space order."""
    c = w.shape[0] // (r * r)
    return w.reshape(c, r * r, *w.shape[1:]).swapaxes(0, 1).reshape(w.shape)


def _ps_to_torch(w: np.ndarray, r: int) -> np.ndarray:
    c = w.shape[0] // (r * r)
    return w.reshape(r * r, c, *w.shape[1:]).swapaxes(0, 1).reshape(w.shape)


def to_keras(entry: Entry, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The layer's weight list from this entry's torch-layout tensors `t` (keyed by full torch key)."""
    w = [np.asarray(t[k], np.float32) for k in entry.torch_keys()]
    if entry.kind == "conv":
        return [w[0].transpose(2, 3, 1, 0), w[1]]
    if entry.kind == "conv_ps":
        r = entry.info[0]
        return [_ps_to_tf(w[0], r).transpose(2, 3, 1, 0), _ps_to_tf(w[1], r)]
    if entry.kind == "prelu":
        return [w[0].reshape(1, 1, -1)]
    if entry.kind == "bn":
        return w
    if entry.kind == "dense":
        return [w[0].T, w[1]]
    if entry.kind == "dense_chw":
        c, s = entry.info
        out = w[0].shape[0]
        return [w[0].reshape(out, c, s, s).transpose(2, 3, 1, 0).reshape(s * s * c, out), w[1]]
    raise ValueError(entry.kind)


def from_keras(entry: Entry, weights: list[Any]) -> dict[str, np.ndarray]:
    """This entry's torch-layout tensors from the Keras layer's weight list."""
    w = [np.asarray(x, np.float32) for x in weights]
    if entry.kind == "conv":
        arrays = [w[0].transpose(3, 2, 0, 1), w[1]]
    elif entry.kind == "conv_ps":
        r = entry.info[0]
        arrays = [_ps_to_torch(w[0].transpose(3, 2, 0, 1), r), _ps_to_torch(w[1], r)]
    elif entry.kind == "prelu":
        arrays = [w[0].reshape(-1)]
    elif entry.kind == "bn":
        arrays = w
    elif entry.kind == "dense":
        arrays = [w[0].T, w[1]]
    elif entry.kind == "dense_chw":
        c, s = entry.info
        out = w[0].shape[1]
        arrays = [w[0].reshape(s, s, c, out).transpose(3, 2, 0, 1).reshape(out, c * s * s), w[1]]
    else:
        raise ValueError(entry.kind)
    return {k: np.ascontiguousarray(a) for k, a in zip(entry.torch_keys(), arrays)}


def check_keys(arrays: dict[str, np.ndarray], entries: list[Entry], what: str, where: str) -> None:
    """One-line CheckpointError when `arrays` are not exactly the tensors of `entries`."""
    expected = {k for e in entries for k in e.torch_keys()}
    missing, unexpected = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"]
                 if unexpected else [])
        raise CheckpointError(f"{where}: {what} weights do not fit the architecture in the metadata "
                              f"({'; '.join(parts)})")
