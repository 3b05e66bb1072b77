"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", 2018): AlexNet
variant with the v0.1 linear heads, full-reference, in numpy (float64), so every backend scores it the same way.

As the `lpips` package computes LPIPS(net="alex", version="0.1"): RGB in [-1, 1], its ScalingLayer
((x - shift) / scale), torchvision's AlexNet `features` up to each of the five ReLUs (relu1..relu5), each
feature map unit-normalised over channels (eps 1e-10 added to the norm), squared differences weighted by the
layer's non-negative linear head (a 1x1 conv, no bias), averaged over the map, summed over the layers.

Weights, one set for any backend: the five heads are figures shipped beside this module (lpips_alex_v0.1.npz:
its `source` entry says where they came from and carries their BSD licence); the AlexNet conv weights are
torchvision's ImageNet file, looked up like the perceptual loss's VGG19 (srcore.vgg_weights): `--lpips-weights
PATH`, else torch.hub's cache, else a checked download; without them a one-line message says both ways and the
run goes on without LPIPS.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from srcore.errors import UserError
from srcore.vgg19 import torch_hub_checkpoints_dir

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"  # torch.hub's convention: the file name carries it
HEADS_FILE = Path(__file__).with_name("lpips_alex_v0.1.npz")
# torchvision's alexnet().features convs: (module index, out, in, kernel, stride, padding), each followed by a ReLU
# (whose output LPIPS compares); 3x3 stride-2 max pooling after the first two.
CONVS = ((0, 64, 3, 11, 4, 2), (3, 192, 64, 5, 1, 2), (6, 384, 192, 3, 1, 1), (8, 256, 384, 3, 1, 1),
         (10, 256, 256, 3, 1, 1))
POOL_AFTER = (0, 3)
SHIFT = (-0.030, -0.088, -0.188)  # lpips' ScalingLayer, for input in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


@dataclass(frozen=True)
class LpipsWeights:
    """The network LPIPS runs: per conv (weight (out, in, k, k), bias (out,)) in torch layout, and the five heads."""

    convs: tuple[tuple[np.ndarray, np.ndarray], ...]
    heads: tuple[np.ndarray, ...]


def alexnet_cache_path() -> Path:
    """Where torch.hub keeps torchvision's AlexNet ImageNet weights (and this project looks for them)."""
    return torch_hub_checkpoints_dir() / ALEXNET_FILE


def load_heads() -> tuple[np.ndarray, ...]:
    """The v0.1 heads (C,) of relu1..relu5, from the figures file beside this module."""
    with np.load(HEADS_FILE, allow_pickle=False) as f:
        return tuple(f[f"head{i}"].astype(np.float64) for i in range(len(CONVS)))


def load_alexnet_convs(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The five conv layers of a torchvision AlexNet state dict (.pth, read without torch), checked."""
    from srcore.torchfile import TorchFileError, read_torch_file

    try:
        state = read_torch_file(path)
    except TorchFileError as e:
        raise UserError(f"--lpips-weights {path}: {e}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"--lpips-weights {path}: expected torchvision's AlexNet state dict")
    convs = []
    for index, cout, cin, k, _, _ in CONVS:
        w, b = state.get(f"features.{index}.weight"), state.get(f"features.{index}.bias")
        if w is None or b is None or np.shape(w) != (cout, cin, k, k) or np.shape(b) != (cout,):
            raise UserError(f"--lpips-weights {path}: not torchvision's AlexNet (features.{index} is missing or "
                            f"not {cout}x{cin}x{k}x{k})")
        convs.append((np.asarray(w, np.float64), np.asarray(b, np.float64)))
    return tuple(convs)


def random_weights(seed: int = 0) -> LpipsWeights:
    """AlexNet-shaped random weights (He-scaled) and random non-negative heads: tests only."""
    rng = np.random.default_rng(seed)
    convs = tuple((rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)), rng.normal(0, 0.01, cout))
                  for _, cout, cin, k, _, _ in CONVS)
    heads = tuple(rng.random(cout) for _, cout, *_ in CONVS)
    return LpipsWeights(convs, heads)


def _conv_relu(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """ReLU(conv2d(x, w) + b), x (C, H, W), w (O, C, k, k), zero padding (torch's Conv2d): one matmul of patches."""
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    patches = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    cols = patches.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * k * k)
    out = cols @ w.reshape(o, -1).T + b
    return np.maximum(out, 0.0).T.reshape(o, oh, ow)


def _max_pool(x: np.ndarray, k: int = 3, stride: int = 2) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(3, 4))


def features(weights: LpipsWeights, img: np.ndarray) -> list[np.ndarray]:
    """The five ReLU outputs (C, H, W) of AlexNet for a uint8 HxWx3 image (lpips' input scaling first)."""
    x = (np.asarray(img, np.float64) / 255.0 * 2.0 - 1.0 - np.array(SHIFT)) / np.array(SCALE)
    x = x.transpose(2, 0, 1)
    out = []
    for (index, _, _, _, stride, pad), (w, b) in zip(CONVS, weights.convs):
        x = _conv_relu(x, w, b, stride, pad)
        out.append(x)
        if index in POOL_AFTER:
            x = _max_pool(x)
    return out


def distance(weights: LpipsWeights, img1: np.ndarray, img2: np.ndarray) -> float:
    """LPIPS between two uint8 images of one shape (HxWx3; gray HxW is repeated to RGB). 0 for identical ones."""
    a, b = (np.repeat(np.asarray(x)[..., None], 3, axis=2) if np.ndim(x) == 2 else np.asarray(x) for x in (img1, img2))
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"LPIPS: expected two HxWx3 images of one shape, got {a.shape} and {b.shape}")
    if min(a.shape[:2]) < 32:  # after relu5 a smaller image has no feature map left
        raise ValueError(f"LPIPS needs at least 32x32 pixels, got {a.shape[1]}x{a.shape[0]}")
    total = 0.0
    for fa, fb, head in zip(features(weights, a), features(weights, b), weights.heads):
        na = fa / (np.sqrt((fa * fa).sum(axis=0, keepdims=True)) + EPS)
        nb = fb / (np.sqrt((fb * fb).sum(axis=0, keepdims=True)) + EPS)
        total += float(np.tensordot(head, (na - nb) ** 2, axes=1).mean())
    return total


# Which weights the registered metric uses: set by `use_weights` (test.py, once it knows they are available).
_ACTIVE: list[LpipsWeights] = []


def use_weights(weights: LpipsWeights | None) -> None:
    """Make `weights` the ones the "lpips" metric scores with (None: none, the metric then refuses to score)."""
    _ACTIVE[:] = [] if weights is None else [weights]


def active_weights() -> LpipsWeights:
    """The weights `use_weights` set; a one-line UserError naming the ways to get them if none were."""
    if not _ACTIVE:
        raise UserError("LPIPS has no weights loaded: " + how_to_supply())
    return _ACTIVE[0]


@cache
def load_weights(path: str) -> LpipsWeights:
    """The AlexNet file at `path` with the shipped heads (read once per process)."""
    return LpipsWeights(load_alexnet_convs(path), load_heads())


def how_to_supply() -> str:
    """The two ways to LPIPS' AlexNet weights, named by every message about them."""
    return (f"either allow the download of {ALEXNET_URL} (or copy that file to {alexnet_cache_path()} yourself), "
            f"or pass --lpips-weights PATH to a local {ALEXNET_FILE}")


def find_weights(path: str | None) -> Path | None:
    """The AlexNet file to use: `path` (which must exist), else torch.hub's cached one, else None."""
    if path is not None:
        if not Path(path).is_file():
            raise UserError(f"--lpips-weights {path}: no such file")
        return Path(path)
    cached = alexnet_cache_path()
    return cached if cached.is_file() else None


def ensure_weights(path: str | None, download: bool = True) -> Path | None:
    """`find_weights`, else (if `download`) torchvision's file downloaded into torch.hub's cache; None when it
    cannot be had, after one line on stderr naming both ways: the caller goes on without LPIPS."""
    found = find_weights(path)
    if found is not None or not download:
        return found
    target = alexnet_cache_path()  # the download shows its own progress bar; offline, only the line below is said
    try:
        from srcore import vgg_weights  # its checked download (a module-level lookup, so tests can stub it)

        target.parent.mkdir(parents=True, exist_ok=True)
        vgg_weights.download(ALEXNET_URL, target, ALEXNET_SHA256_PREFIX)
    except Exception as e:  # noqa: BLE001 - any network/disk/hash failure means the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"LPIPS not scored: downloading {ALEXNET_URL} failed ({reason}); {how_to_supply()}", file=sys.stderr)
        return None
    return target


def lpips_metric(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> float:
    """The registered metric: LPIPS of `sr` against `hr`, `crop_border` pixels removed at each border."""
    c = crop_border
    if c:
        sr, hr = sr[c:-c, c:-c], hr[c:-c, c:-c]
    return distance(active_weights(), sr, hr)
