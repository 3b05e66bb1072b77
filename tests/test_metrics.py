"""PSNR / SSIM: agreement with scikit-image where conventions coincide, edge cases and crop_border."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srcore.color import rgb_to_y
from srcore.metrics import psnr, ssim, to_eval_channel

_skm = pytest.importorskip("skimage.metrics")  # the reference these tests compare with (the dev extra)
peak_signal_noise_ratio, structural_similarity = _skm.peak_signal_noise_ratio, _skm.structural_similarity


def _pair(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # a smooth-ish image plus noise so SSIM is far from 0 and 1
    base = rng.integers(0, 256, shape).astype(np.float64)
    noisy = np.clip(base + rng.normal(0, 20, shape), 0, 255)
    return base.astype(np.uint8), np.round(noisy).astype(np.uint8)


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    # With use_sample_covariance=False and sigma 1.5 (11x11 window) skimage averages over the region that is
    # 5 px away from the border, which is exactly ssim_index's 'valid' map.
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def test_psnr_gray_matches_skimage() -> None:
    a, b = _pair((40, 33))
    expected = peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(a, b, crop_border=0) == pytest.approx(expected, rel=1e-12)


def test_psnr_rgb_channels_and_y() -> None:
    a, b = _pair((30, 31, 3), seed=1)
    assert psnr(a, b, 0, test_y_channel=False) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255))
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    expected = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert psnr(a, b, 0) == pytest.approx(expected, rel=1e-12)


def test_ssim_gray_matches_skimage() -> None:
    a, b = _pair((48, 41), seed=2)
    expected = _skimage_ssim(a.astype(np.float64), b.astype(np.float64))
    assert ssim(a, b, crop_border=0) == pytest.approx(expected, abs=1e-10)


def test_ssim_y_channel_and_rgb_match_skimage() -> None:
    a, b = _pair((40, 36, 3), seed=3)
    ya, yb = rgb_to_y(a)[4:-4, 4:-4], rgb_to_y(b)[4:-4, 4:-4]
    assert ssim(a, b, crop_border=4) == pytest.approx(_skimage_ssim(ya, yb), abs=1e-10)
    per_channel = [_skimage_ssim(a[..., c].astype(float), b[..., c].astype(float)) for c in range(3)]
    assert ssim(a, b, 0, test_y_channel=False) == pytest.approx(np.mean(per_channel), abs=1e-10)


def test_identical_images() -> None:
    a, _ = _pair((20, 20, 3), seed=4)
    assert psnr(a, a, 4) == math.inf
    assert ssim(a, a, 4) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a[..., 0], a[..., 0], 0) == pytest.approx(1.0, abs=1e-12)


def test_crop_border_ignores_the_frame() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    b = a.copy()
    b[:3] = 255 - b[:3]  # damage only the top 3 rows
    b[:, -2:] = 0  # and the last 2 columns
    assert psnr(a, b, 3) == math.inf
    assert ssim(a, b, 3) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a, b, 2) < 40
    assert ssim(a, b, 0) < 1.0


def test_gray_is_scored_on_its_intensity() -> None:
    a, b = _pair((24, 24), seed=6)
    np.testing.assert_array_equal(to_eval_channel(a), a.astype(np.float64))
    # test_y_channel makes no difference for gray input
    assert psnr(a, b, 2, test_y_channel=True) == psnr(a, b, 2, test_y_channel=False)
    assert ssim(a, b, 2, test_y_channel=True) == ssim(a, b, 2, test_y_channel=False)


def test_errors() -> None:
    a = np.zeros((20, 20, 3), dtype=np.uint8)
    with pytest.raises(ValueError):
        psnr(a, a[:19], 0)
    with pytest.raises(ValueError):
        ssim(a, a, 5)  # 10x10 left: smaller than the 11x11 window
    with pytest.raises(ValueError):
        psnr(np.zeros((8, 8, 4), dtype=np.uint8), np.zeros((8, 8, 4), dtype=np.uint8), 0)
