from __future__ import annotations

import numpy as np
import pytest

from srcore.evaluate import evaluate_benchmarks, make_sr_function, upscale_array, validate


def box_upscaler(scale: int, radius: int = 1):
    """A stand-in network with a finite receptive field: zero-padded box blur, then nearest upsampling."""

    def fn(x: np.ndarray) -> np.ndarray:
        k = 2 * radius + 1
        p = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
        h, w = x.shape[1:3]
        out = sum(p[:, i:i + h, j:j + w] for i in range(k) for j in range(k)) / k**2
        return out.repeat(scale, 1).repeat(scale, 2).astype(np.float32)

    return fn


def test_tiled_equals_untiled_when_overlap_covers_receptive_field():
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    fn = box_upscaler(4, radius=2)
    full = upscale_array(fn, lr, 4)
    tiled = upscale_array(fn, lr, 4, tile=16, overlap=3)
    assert tiled.shape == (148, 212, 3)
    np.testing.assert_array_equal(tiled, full)


def test_tiling_without_enough_overlap_differs_only_at_seams():
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    fn = box_upscaler(2, radius=2)
    diff = upscale_array(fn, lr, 2, tile=16, overlap=0).astype(int) - upscale_array(fn, lr, 2).astype(int)
    near_seam = np.zeros(diff.shape[:2], bool)
    near_seam[28:36, :] = near_seam[:, 28:36] = True  # the seams are at LR 16 = HR 32, in both directions
    assert np.abs(diff).max() > 0
    assert np.abs(diff[~near_seam]).max() == 0


def test_grayscale_images_come_back_grayscale():
    lr = np.full((6, 7), 100, np.uint8)
    sr = make_sr_function(box_upscaler(3), 3)(lr)
    assert sr.shape == (18, 21) and sr.dtype == np.uint8
    assert sr[5:-5, 5:-5].min() == sr[5:-5, 5:-5].max() == 100


def test_validate_psnr_and_benchmark_rows(tiny_data):
    from srcore.data import load_pairs

    hrs, lrs = load_pairs(tiny_data, "val", 4)
    perfect, kept = validate(box_upscaler(4, radius=0), hrs, lrs, 4, keep=2)
    blurry, _ = validate(box_upscaler(4, radius=3), hrs, lrs, 4)
    only_ssim, _ = validate(box_upscaler(4, radius=3), hrs, lrs, 4, metrics=["ssim"])
    assert list(perfect) == ["psnr", "ssim"] and only_ssim == {"ssim": blurry["ssim"]}
    assert perfect["ssim"] > blurry["ssim"] and len(kept) == 2 and kept[0].shape == hrs[0].shape
    assert np.isfinite(perfect["psnr"]) and perfect["psnr"] > blurry["psnr"]
    rows = evaluate_benchmarks(make_sr_function(box_upscaler(4, 0), 4), tiny_data, None, 4)
    assert [r["dataset"] for r in rows] == ["Tiny"] and rows[0]["images"] == 2
    assert 0 < rows[0]["ssim"] <= 1 and rows[0]["psnr"] == pytest.approx(rows[0]["psnr"])
