"""NIQE (Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", 2013), no-reference.

Follows the official MATLAB release (niqe_release.zip: computequality.m, computefeature.m, estimateaggdparam.m)
step by step, because the SR literature's NIQE (PIRM 2018, BasicSR) is defined by it:

* the image is scored on one intensity channel: the Y of MATLAB's rgb2ycbcr of the uint8 image, rounded as MATLAB
  returns it for uint8 input (PIRM's evaluation code and BasicSR; with it baboon.png scores MATLAB's documented
  5.7296, see tests/test_niqe.py); a gray image on its own intensity;
* cropped to whole 96x96 blocks (top-left kept), no overlap;
* at each of two scales: local mean and deviation with fspecial('gaussian', 7, 7/6) and imfilter's 'replicate'
  border, the MSCN coefficients (I - mu) / (sigma + 1) (exactly 0 where the neighbourhood is flat, as exact
  arithmetic gives: see `_scale_features`), and per block (96x96, then 48x48) 18 features: the
  AGGD fit of the coefficients (alpha, mean of the two betas) and, for the products with the four neighbours
  (circshift by [0 1], [1 0], [1 1], [1 -1]), alpha, mean, left and right beta; alpha is searched on MATLAB's
  grid 0.2:0.001:10;
* the second scale is MATLAB's imresize(im, 0.5) (bicubic, antialiased: srcore.imresize) of the float image;
* the 36 features of every block are fitted by a Gaussian (nanmean; nancov: blocks with a NaN feature, e.g. a
  flat block, dropped) and compared with the pristine model: sqrt((mu_p - mu)' pinv((cov_p + cov) / 2) (mu_p - mu)).

The pristine model (mu_prisparam, cov_prisparam) is a file of figures, niqe_pris_params.npz beside this module;
its `source` entry says where it came from and under what licence. Lower NIQE is more natural.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

from srcore.color import rgb_to_y
from srcore.imresize import imresize

BLOCK = 96  # the release's recommended block size, the one its pristine model was fitted with
PARAMS_FILE = Path(__file__).with_name("niqe_pris_params.npz")
FLAT = 1e-9  # |I - mu| below this (on 0..255) is a flat neighbourhood's rounding error: taken as the exact 0
# MATLAB's gam = 0.2:0.001:10 (9801 values), and the ratio r(gam) estimateaggdparam.m matches against.
_GAM = 0.2 + 0.001 * np.arange(9801)
_GAMMA = np.vectorize(math.gamma)
_R_GAM = _GAMMA(2.0 / _GAM) ** 2 / (_GAMMA(1.0 / _GAM) * _GAMMA(3.0 / _GAM))
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # computefeature.m's circshift offsets (rows, columns)


@cache
def _model() -> dict[str, np.ndarray]:
    with np.load(PARAMS_FILE, allow_pickle=False) as f:
        return {k: f[k] for k in ("mu_prisparam", "cov_prisparam", "gaussian_window", "source")}


def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mu_prisparam (36,), cov_prisparam (36, 36)) of the official release."""
    m = _model()
    return m["mu_prisparam"], m["cov_prisparam"]


def gaussian_window() -> np.ndarray:
    """computequality.m's window, fspecial('gaussian', 7, 7/6), as MATLAB's figures (7, 7)."""
    return _model()["gaussian_window"]


def _filter_replicate(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """imfilter(img, window, 'replicate'): same size, borders repeated; taps summed in row-major order, which is
    what scipy.ndimage.correlate (BasicSR's filter) computes, bit for bit (tested)."""
    r = window.shape[0] // 2
    h, w = img.shape
    p = np.pad(img, r, mode="edge")
    out = np.zeros_like(img)
    for i in range(window.shape[0]):
        for j in range(window.shape[1]):
            out += window[i, j] * p[i:i + h, j:j + w]
    return out


def _aggd(vec: np.ndarray) -> tuple[float, float, float]:
    """estimateaggdparam.m: (alpha, beta_left, beta_right) of an asymmetric generalised Gaussian fit."""
    sq = vec * vec
    neg, pos = vec < 0, vec > 0
    if not (neg.any() and pos.any()):  # e.g. a flat block: MATLAB's mean of nothing is NaN; nancov drops the block
        return math.nan, math.nan, math.nan
    left_std = math.sqrt(np.mean(sq[neg]))
    right_std = math.sqrt(np.mean(sq[pos]))
    mean_sq = float(np.mean(sq))
    gammahat = left_std / right_std
    rhat = float(np.mean(np.abs(vec))) ** 2 / mean_sq
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = float(_GAM[np.argmin((_R_GAM - rhatnorm) ** 2)])  # the first minimum, as MATLAB's min
    ratio = math.sqrt(math.gamma(1.0 / alpha) / math.gamma(3.0 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def _block_features(block: np.ndarray) -> list[float]:
    """computefeature.m: the 18 features of one block of MSCN coefficients."""
    alpha, beta_l, beta_r = _aggd(block.ravel())
    feat = [alpha, (beta_l + beta_r) / 2.0]
    for shift in _SHIFTS:
        pair = block * np.roll(block, shift, axis=(0, 1))
        alpha, beta_l, beta_r = _aggd(pair.ravel())
        mean = (beta_r - beta_l) * (math.gamma(2.0 / alpha) / math.gamma(1.0 / alpha)) if alpha == alpha else math.nan
        feat += [alpha, mean, beta_l, beta_r]
    return feat


def _scale_features(img: np.ndarray, block: int, window: np.ndarray) -> np.ndarray:
    """(blocks, 18): the features of every `block`x`block` block of `img`'s MSCN coefficients."""
    mu = _filter_replicate(img, window)
    sigma = np.sqrt(np.abs(_filter_replicate(img * img, window) - mu * mu))
    centred = img - mu
    # Where the neighbourhood is flat, I - mu is 0 in exact arithmetic but a rounding error of either sign in
    # floating point, which the AGGD fit would count as a left or right sample: that moves NIQE by up to ~0.05 on
    # smooth images and by 4e-4 on baboon.png, and it depends on the order the taps are summed in. Exact zeros
    # reproduce MATLAB's documented baboon.png value to 5e-7 (rounding errors left: 4e-4 away). Real differences
    # are far larger than FLAT (above 1e-5 on 0..255 on the test images; rounding errors are below 1e-12).
    centred[np.abs(centred) < FLAT] = 0.0
    mscn = centred / (sigma + 1.0)
    h, w = img.shape
    return np.array([_block_features(mscn[y:y + block, x:x + block])
                     for x in range(0, w, block) for y in range(0, h, block)])


def niqe_of_channel(img: np.ndarray, block: int = BLOCK) -> float:
    """NIQE of one intensity channel (HxW, 0..255, float): computequality.m. NaN where it is not defined (fewer
    than two whole blocks with features, e.g. an image smaller than 2 blocks), as MATLAB gives no number there."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"NIQE: expected one HxW channel, got shape {img.shape}")
    rows, cols = img.shape[0] // block, img.shape[1] // block
    if rows * cols < 2:
        return math.nan
    img = img[:rows * block, :cols * block]
    window = gaussian_window()
    with np.errstate(invalid="ignore", divide="ignore"):
        first = _scale_features(img, block, window)
        second = _scale_features(imresize(img, 0.5), block // 2, window)
    feats = np.concatenate([first, second], axis=1)
    kept = feats[~np.isnan(feats).any(axis=1)]
    if len(kept) < 2:
        return math.nan
    mu_p, cov_p = pristine_model()
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(kept, rowvar=False)
    d = mu_p - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2.0) @ d))


def niqe_channel(img: np.ndarray) -> np.ndarray:
    """The channel NIQE scores: MATLAB rgb2ycbcr's Y of a uint8 RGB image, rounded as MATLAB returns it for uint8
    (half away from zero; Y is positive); a gray HxW image as it is. float64, 0..255."""
    img = np.asarray(img)
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.floor(rgb_to_y(img) + 0.5)
    raise ValueError(f"NIQE: expected an HxWx3 RGB or HxW gray image, got shape {img.shape}")


def niqe(img: np.ndarray, crop_border: int = 0) -> float:
    """NIQE of a uint8 RGB or gray image, `crop_border` pixels removed at each border first."""
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    y = niqe_channel(img)
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_of_channel(y)
