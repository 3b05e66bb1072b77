"""PSNR and SSIM as computed by the SR literature's MATLAB evaluation code; NIQE (srcore.niqe) registered beside them.

Both take uint8 images (HxWx3 RGB or HxW gray), drop ``crop_border`` pixels at each border and, by default,
score the Y channel of MATLAB's rgb2ycbcr (unrounded float, 0..255). A gray image is scored on its own
intensity. SSIM is Wang et al.'s reference ``ssim_index.m``: 11x11 Gaussian window (sigma 1.5, normalised),
K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, mean of the SSIM map (no downsampling).

Every metric is an entry of `METRICS` (a `MetricSpec`: its function and how it is shown); evaluation,
validation, results.csv and the tables iterate the registry, so a new metric is one `@metric(...)` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from srcore.color import rgb_to_y
from srcore.lpips import lpips_metric
from srcore.niqe import niqe
from srcore.registry import Registry

_DATA_RANGE = 255.0
_WIN_SIZE = 11
_SIGMA = 1.5
_K1 = 0.01
_K2 = 0.03


def to_eval_channel(img: np.ndarray) -> np.ndarray:
    """The channel that is scored: RGB -> Y (float64, 0..255); gray HxW -> its intensity as float64."""
    img = np.asarray(img)
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 3:
        return rgb_to_y(img)
    raise ValueError(f"expected an HxWx3 RGB or HxW gray image, got shape {img.shape}")


def _prepare(img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool) -> tuple[np.ndarray, ...]:
    """Validate, crop the borders and pick the evaluation channel(s); returns float64 arrays."""
    img1 = np.asarray(img1)
    img2 = np.asarray(img2)
    if img1.shape != img2.shape:
        raise ValueError(f"image shapes differ: {img1.shape} vs {img2.shape}")
    if img1.ndim not in (2, 3) or (img1.ndim == 3 and img1.shape[2] != 3):
        raise ValueError(f"expected an HxWx3 RGB or HxW gray image, got shape {img1.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        img1 = img1[crop_border:-crop_border, crop_border:-crop_border]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border]
    if img1.size == 0:
        raise ValueError("nothing left to score after removing crop_border pixels")
    if test_y_channel or img1.ndim == 2:
        return to_eval_channel(img1), to_eval_channel(img2)
    return img1.astype(np.float64), img2.astype(np.float64)


def psnr(img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = True) -> float:
    """PSNR in dB (peak 255); ``inf`` for identical inputs. RGB without Y: MSE over all three channels."""
    a, b = _prepare(img1, img2, crop_border, test_y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(_DATA_RANGE**2 / mse))


def _gaussian_1d() -> np.ndarray:
    # fspecial('gaussian', 11, 1.5) is the outer product of this normalised 1-D kernel with itself.
    x = np.arange(_WIN_SIZE, dtype=np.float64) - (_WIN_SIZE - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * _SIGMA * _SIGMA))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """MATLAB filter2(outer(g, g), img, 'valid') done separably (the window is symmetric)."""
    n = g.size
    h, w = img.shape
    rows = np.zeros((h - n + 1, w), dtype=np.float64)
    for k in range(n):
        rows += g[k] * img[k : k + h - n + 1]
    out = np.zeros((h - n + 1, w - n + 1), dtype=np.float64)
    for k in range(n):
        out += g[k] * rows[:, k : k + w - n + 1]
    return out


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    if min(a.shape) < _WIN_SIZE:
        raise ValueError(f"SSIM needs at least {_WIN_SIZE}x{_WIN_SIZE} pixels after cropping, got {a.shape}")
    c1 = (_K1 * _DATA_RANGE) ** 2
    c2 = (_K2 * _DATA_RANGE) ** 2
    g = _gaussian_1d()
    mu1 = _filter_valid(a, g)
    mu2 = _filter_valid(b, g)
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = _filter_valid(a * a, g) - mu1_sq
    sigma2_sq = _filter_valid(b * b, g) - mu2_sq
    sigma12 = _filter_valid(a * b, g) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return float(ssim_map.mean())


def ssim(img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = True) -> float:
    """Mean SSIM (Wang et al. ssim_index); RGB without Y: mean of the three per-channel SSIMs."""
    a, b = _prepare(img1, img2, crop_border, test_y_channel)
    if a.ndim == 2:
        return _ssim_channel(a, b)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


# The registry of metrics. A metric is a function (sr, hr, crop_border, **options) -> float of uint8 images;
# its spec says how results show it and which way is better (the `best` checkpoint, the tables' arrows).
MetricFn = Callable[..., float]


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric: its function and how it is shown."""

    name: str
    fn: MetricFn
    higher_is_better: bool
    fmt: str  # one value for display, e.g. "{:.2f}"
    title: str  # column title, e.g. "PSNR (dB)"
    description: str
    reference: bool = True  # False: a no-reference metric, which is still passed `hr` but ignores it

    @property
    def heading(self) -> str:
        """The column title with the direction: "PSNR (dB) ↑"."""
        return f"{self.title} {'↑' if self.higher_is_better else '↓'}"

    def format(self, value: float) -> str:
        """`value` for display; "n/a" where the metric is not defined (NaN: NIQE of an image under two blocks)."""
        return "n/a" if value != value else self.fmt.format(value)

    def __call__(self, sr: np.ndarray, hr: np.ndarray | None, crop_border: int, **options: Any) -> float:
        return float(self.fn(sr, hr, crop_border, **options))


METRICS: Registry[MetricSpec] = Registry("metric", option="--metrics")
DEFAULT_METRICS = ("psnr", "ssim")  # what every validation logs, and evaluate's default
# What test.py scores unless told otherwise (and "lpips" where its weights are available, srapp.scoring): the
# distortion metrics and a perceptual one, because an adversarial model only trades the first for the second.
SCORE_METRICS = ("psnr", "ssim", "niqe")
# what validation logs besides DEFAULT_METRICS in the adversarial phase: NIQE, and the sub-pixel grid that an
# adversarial term can grow (issue 22: the checkerboard)
ADVERSARIAL_METRICS = ("niqe", "grid")


def metric(name: str, *, higher_is_better: bool, fmt: str, title: str, description: str,
           reference: bool = True) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register the decorated function as metric `name`; the function is returned unchanged."""

    def register(fn: MetricFn) -> MetricFn:
        METRICS.register(name, MetricSpec(name, fn, higher_is_better, fmt, title, description, reference))
        return fn

    return register


def metric_names(names: Iterable[str], where: str = "") -> tuple[str, ...]:
    """`names` without repeats, each checked against the registry (a one-line UserError for an unknown one)."""
    return tuple(METRICS.get(name, where).name for name in dict.fromkeys(names))


def present_metrics(keys: Iterable[str]) -> list[str]:
    """The registered metrics among `keys` (e.g. the columns of some rows), in registry order."""
    keys = set(keys)
    return [name for name in METRICS if name in keys]


def better(name: str, a: float, b: float | None) -> bool:
    """Whether value `a` of metric `name` is strictly better than `b` (None: nothing to beat yet). An undefined
    value (NaN: NIQE of too small an image) is never better, and any defined one beats it."""
    if a != a:
        return False
    if b is None or b != b:
        return True
    return a > b if METRICS.get(name).higher_is_better else a < b


def score(names: Iterable[str], sr: np.ndarray, hr: np.ndarray, crop_border: int) -> dict[str, float]:
    """{metric: value} of one SR image against its HR image."""
    return {name: METRICS.get(name)(sr, hr, crop_border) for name in names}


def mean_scores(names: Iterable[str], scores: list[dict[str, float]]) -> dict[str, float]:
    """{metric: mean over images} of per-image `score` results (PSNR of identical images stays inf)."""
    return {name: float(np.mean([s[name] for s in scores])) for name in names}


metric("psnr", higher_is_better=True, fmt="{:.2f}", title="PSNR (dB)",
       description="peak signal-to-noise ratio of the Y channel, MATLAB convention")(psnr)
metric("ssim", higher_is_better=True, fmt="{:.4f}", title="SSIM",
       description="structural similarity of the Y channel (Wang et al. ssim_index.m)")(ssim)


def _niqe(sr: np.ndarray, hr: np.ndarray | None, crop_border: int) -> float:
    return niqe(sr, crop_border)  # no-reference: `hr` is not looked at


metric("niqe", higher_is_better=False, fmt="{:.3f}", title="NIQE", reference=False,
       description="no-reference naturalness (Mittal et al. 2013) of the rounded Y channel, official MATLAB release")(
    _niqe)
metric("lpips", higher_is_better=False, fmt="{:.4f}", title="LPIPS",
       description="learned perceptual distance to the HR image (Zhang et al. 2018, AlexNet, v0.1 heads)")(
    lpips_metric)


# The period of the sub-pixel grid of a x4 generator (two x2 pixel shuffles, or one x4): a checkerboard artefact
# repeats every GRID_PERIOD output pixels (Odena et al. 2016; Aitken et al. 2017).
GRID_PERIOD = 4


def grid_lowpass_taps(period: int = GRID_PERIOD) -> np.ndarray:
    """A 1-D low-pass whose response is zero at every harmonic of `period` (period 4: [.5, 1, 1, 1, .5] / 4):
    what it removes from an image holds every period-`period` pattern whole."""
    taps = np.ones(period + 1)
    taps[0] = taps[-1] = 0.5
    return taps / period


def degrid_filters(period: int = GRID_PERIOD, reach: int = 2) -> tuple[np.ndarray, np.ndarray, int]:
    """--disc-degrid's separable filters: (low-pass taps, comb taps, comb dilation). An image x comes out as
    x - C(x - L(x)): L the low-pass of `grid_pattern` (rows then columns), C the mean of the 2 reach + 1 pixels of
    the same phase around each pixel along rows then columns (taps 1 / (2 reach + 1), dilation `period`). So the
    local period-`period` pattern of the high-pass residual is removed: an exactly periodic pattern (zero mean
    over its phases) comes out as zero, a constant or smooth image as itself."""
    comb = np.full(2 * reach + 1, 1.0 / (2 * reach + 1))
    return grid_lowpass_taps(period).astype(np.float32), comb.astype(np.float32), period


def grid_loss_constants(period: int = GRID_PERIOD) -> tuple[np.ndarray, np.ndarray, int]:
    """--grid-weight's constants: (the Y grey levels of one unit of R, G and B in the generator's [-1, 1] range,
    the low-pass taps of `grid_pattern`, the period), so that both backends' penalty is `grid` of the error."""
    y_per_unit = (rgb_to_y(np.eye(3)[None]) - rgb_to_y(np.zeros((1, 3, 3))))[0] / 2.0
    return y_per_unit.astype(np.float32), grid_lowpass_taps(period).astype(np.float32), period


def grid_highpass(y: Any, taps: np.ndarray, period: int = GRID_PERIOD) -> Any:
    """`grid_pattern`'s high-pass of a batch of channels `y` (N, H, W), over the pixels whose low-pass needs no
    padding, cropped to whole periods: y minus its separable low-pass. `y` may be any framework's tensor that
    slices and adds like numpy's (the --grid-weight penalty of both backends runs it on theirs)."""
    r = len(taps) // 2
    low = grid_lowpass(y, taps)
    h, w = low.shape[-2] // period * period, low.shape[-1] // period * period
    return y[..., r:r + h, r:r + w] - low[..., :h, :w]


def grid_lowpass(y: Any, taps: np.ndarray) -> Any:
    """The separable low-pass `taps` over the last two axes of `y`, rows then columns, where it needs no padding
    (each side shorter by len(taps) - 1); numpy's or any framework's tensor that slices and adds like it."""
    h, w = y.shape[-2] - len(taps) + 1, y.shape[-1] - len(taps) + 1
    rows = sum(float(t) * y[..., i:i + h, :] for i, t in enumerate(taps))
    return sum(float(t) * rows[..., i:i + w] for i, t in enumerate(taps))


def grid_pattern(img: np.ndarray, crop_border: int = 0, period: int = GRID_PERIOD) -> np.ndarray:
    """The mean high-pass residual of the evaluation channel (Y, 0..255) at each pixel phase (y mod period,
    x mod period): a (period, period) array, zero for an image without a period-`period` pattern.

    High-pass: the channel minus a separable low-pass whose response is zero at every harmonic of the period
    (for period 4: taps [.5, 1, 1, 1, .5] / 4), so a periodic pattern passes whole while smooth content and the
    image's mean do not; the phases are counted from the image's origin, before `crop_border` is removed."""
    y = to_eval_channel(img)
    taps = grid_lowpass_taps(period)
    r = period // 2
    high = y - grid_lowpass(np.pad(y, r, mode="reflect"), taps)
    b = crop_border + r  # the reflected border is not the image's own content either
    if min(y.shape) - 2 * b < period:
        raise ValueError(f"the grid measure needs at least {period} pixels after cropping {b} at each border, "
                         f"got {y.shape}")
    out = np.empty((period, period))
    for dy in range(period):
        for dx in range(period):
            y0, x0 = b + (dy - b) % period, b + (dx - b) % period
            out[dy, dx] = high[y0:y.shape[0] - b:period, x0:y.shape[1] - b:period].mean()
    return out


def grid(sr: np.ndarray, hr: np.ndarray | None, crop_border: int) -> float:
    """RMS over the phases of `grid_pattern`: the strength of a period-4 (sub-pixel) grid, in grey levels."""
    return float(np.sqrt(np.mean(grid_pattern(sr, crop_border) ** 2)))


metric("grid", higher_is_better=False, fmt="{:.3f}", title="grid", reference=False,
       description="strength of a period-4 sub-pixel grid: RMS over the 16 pixel phases of the mean high-pass "
                   "Y residual (natural photos about 0.06)")(grid)
