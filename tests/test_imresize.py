"""MATLAB-compatible bicubic imresize: hand-derived weights, shapes, dtypes and a real-data baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from srcore.color import modcrop
from srcore.imresize import contributions, imresize
from srcore.metrics import psnr

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _cubic_scalar(x: float) -> float:
    """The a = -0.5 cubic kernel written out plainly (independent of the module's vectorised one)."""
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def _reference_resize_1d(v: list[float], scale: float) -> list[float]:
    """Straight per-pixel loop of MATLAB's algorithm for one 1-D signal (1-based indices as in MATLAB)."""
    n = len(v)
    out_len = math.ceil(n * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        if scale < 1:
            w = [scale * _cubic_scalar(scale * (u - t)) for t in taps]
        else:
            w = [_cubic_scalar(u - t) for t in taps]
        total = sum(w)
        acc = 0.0
        for t, wt in zip(taps, w):
            # symmetric border: ... 2 1 | 1 2 ... n | n n-1 ...
            i = (t - 1) % (2 * n)
            i = i if i < n else 2 * n - 1 - i
            acc += wt / total * v[i]
        out.append(acc)
    return out


def test_contributions_upscale_x2_hand_weights() -> None:
    # in 4 -> out 8: u(1) = 1/2 + 0.25 = 0.75, taps at 1-based -1, 0, 1, 2 (distances 1.75, 0.75, -0.25, -1.25);
    # the taps at distance 2.75 and -2.25 have zero weight in every row and are dropped.
    w, idx = contributions(4, 8, 2.0)
    assert w.shape == (8, 4) and idx.shape == (8, 4)
    np.testing.assert_allclose(w[0], [-0.0234375, 0.2265625, 0.8671875, -0.0703125], atol=1e-15)
    # 1-based -1 and 0 mirror to 2 and 1 -> 0-based 1, 0
    np.testing.assert_array_equal(idx[0], [1, 0, 0, 1])
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_contributions_downscale_half_hand_weights() -> None:
    # in 8 -> out 4 at scale 1/2: kernel 0.5*cubic(0.5 x), width 8, u(1) = 1.5, taps 1-based -2..5.
    w, idx = contributions(8, 4, 0.5)
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    assert w.shape == (4, 8)
    np.testing.assert_allclose(w[0], expected, atol=1e-15)
    np.testing.assert_array_equal(idx[0], [2, 1, 0, 0, 1, 2, 3, 4])
    # last row mirrors at the far end: 1-based 4..11 -> 4..8, 8, 7, 6
    np.testing.assert_array_equal(idx[-1], [3, 4, 5, 6, 7, 7, 6, 5])


def test_resize_matches_hand_value_and_reference_loop() -> None:
    v = [1.0, 2.0, 4.0, 8.0]
    col = np.array(v)[:, None]  # 4x1 image: only the rows change at scale (2, 1)
    out = imresize(col, scale=(2, 1))[:, 0]
    # first pixel by hand: taps (1-based) -1, 0, 1, 2 read v2, v1, v1, v2 after mirroring:
    # -0.0234375*2 + (0.2265625 + 0.8671875)*1 - 0.0703125*2
    assert out[0] == pytest.approx(0.90625, abs=1e-12)
    np.testing.assert_allclose(out, _reference_resize_1d(v, 2.0), atol=1e-12)

    rng = np.random.default_rng(0)
    for n, scale in [(13, 0.5), (13, 1 / 3), (9, 0.25), (7, 3.0), (5, 4.0)]:
        sig = rng.uniform(0, 1, n)
        got = imresize(sig[None, :], scale=(1, scale))[0]
        np.testing.assert_allclose(got, _reference_resize_1d(list(sig), scale), atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 2, 3, 4])
def test_output_shapes_odd_sizes(scale: float) -> None:
    img = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    out = imresize(img, scale)
    assert out.shape == (math.ceil(7 * scale), math.ceil(5 * scale), 3)
    assert out.dtype == np.uint8
    gray = imresize(img[..., 0], scale)
    assert gray.shape == out.shape[:2]
    # a colour image is resized channel by channel
    np.testing.assert_array_equal(gray, out[..., 0])


def test_output_shape_argument_and_errors() -> None:
    img = np.zeros((10, 12), dtype=np.float64)
    assert imresize(img, output_shape=(5, 7)).shape == (5, 7)
    with pytest.raises(ValueError):
        imresize(img)
    with pytest.raises(ValueError):
        imresize(img, scale=2, output_shape=(5, 5))


def test_identity_and_constant() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (9, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(imresize(img, 1), img)
    f = rng.uniform(0, 1, (9, 6))
    np.testing.assert_allclose(imresize(f, 1), f, atol=1e-15)
    for scale in (0.25, 1 / 3, 2, 4):
        const = np.full((8, 11, 3), 0.37)
        np.testing.assert_allclose(imresize(const, scale), 0.37, atol=1e-12)
        const8 = np.full((8, 11), 201, dtype=np.uint8)
        assert np.all(imresize(const8, scale) == 201)


def test_dtypes_rounding_and_saturation() -> None:
    f32 = np.random.default_rng(3).uniform(0, 1, (6, 6)).astype(np.float32)
    assert imresize(f32, 2).dtype == np.float64
    # a hard edge overshoots (negative lobes): float keeps it, uint8 saturates at 0 / 255
    edge = np.zeros((8, 8), dtype=np.uint8)
    edge[:, 4:] = 255
    up_f = imresize(edge.astype(np.float64), 4)
    assert up_f.min() < 0 and up_f.max() > 255
    up_u = imresize(edge, 4)
    assert up_u.dtype == np.uint8 and up_u.min() == 0 and up_u.max() == 255
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4), dtype=np.int32), 2)


def test_uint8_rounds_after_each_dimension_pass() -> None:
    # MATLAB's intermediate is uint8: resizing rows then columns separately equals one 2-D resize.
    img = np.random.default_rng(4).integers(0, 256, (20, 16, 3), dtype=np.uint8)
    two_step = imresize(imresize(img, scale=(0.5, 1)), scale=(1, 0.5))
    np.testing.assert_array_equal(imresize(img, 0.5), two_step)
    # and it is not the same as rounding only at the end (float path)
    end_only = np.clip(np.floor(imresize(img.astype(np.float64), 0.5) + 0.5), 0, 255)
    assert not np.array_equal(imresize(img, 0.5), end_only)


def test_smallest_scale_dimension_first() -> None:
    # scale (2, 0.5): columns (smaller scale) are resized first, so this equals cols-then-rows.
    f = np.random.default_rng(5).uniform(0, 1, (6, 10))
    expected = imresize(imresize(f, scale=(1, 0.5)), scale=(2, 1))
    np.testing.assert_allclose(imresize(f, scale=(2, 0.5)), expected, atol=1e-12)


@pytest.mark.skipif(not (DATASETS / "Set5").is_dir(), reason="shared datasets not available")
def test_set5_bicubic_x4_baseline() -> None:
    from PIL import Image

    values = []
    for path in sorted((DATASETS / "Set5").glob("*.png")):
        with Image.open(path) as im:
            hr = modcrop(np.asarray(im.convert("RGB"), dtype=np.uint8), 4)
        sr = imresize(imresize(hr, 1 / 4), 4)
        values.append(psnr(sr, hr, crop_border=4))
    assert len(values) == 5
    assert float(np.mean(values)) == pytest.approx(28.42, abs=0.02)
