"""MATLAB rgb2ycbcr / Y conversion, modcrop and the float/uint8 helpers."""

from __future__ import annotations

import numpy as np
import pytest

from srcore.color import modcrop, rgb2ycbcr, rgb_to_y, to_float01, to_uint8


def test_y_of_white_and_black() -> None:
    img = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64 and y.shape == (1, 2)
    np.testing.assert_allclose(y, [[235.0, 16.0]], atol=1e-12)
    # float input in [0, 1] gives the same
    np.testing.assert_allclose(rgb_to_y(img / 255.0), y, atol=1e-12)


def test_rgb2ycbcr_full_matrix_known_pixels() -> None:
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    ycc = rgb2ycbcr(img)[0]
    expected = np.array(
        [
            [16 + 65.481, 128 - 37.797, 128 + 112.0],  # red
            [16 + 128.553, 128 - 74.203, 128 - 93.786],  # green
            [16 + 24.966, 128 + 112.0, 128 - 18.214],  # blue
            [235.0, 128.0, 128.0],  # white: chroma rows sum to zero
            [16.0, 128.0, 128.0],  # black
        ]
    )
    np.testing.assert_allclose(ycc, expected, atol=1e-9)
    # Y is not rounded (SR evaluation keeps it in float)
    assert ycc[0, 0] == pytest.approx(81.481)
    np.testing.assert_allclose(rgb_to_y(img)[0], expected[:, 0], atol=1e-9)


def test_rgb_to_y_rejects_gray() -> None:
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4), dtype=np.uint8))


def test_modcrop() -> None:
    img = np.arange(7 * 10 * 3).reshape(7, 10, 3)
    out = modcrop(img, 4)
    assert out.shape == (4, 8, 3)
    np.testing.assert_array_equal(out, img[:4, :8])  # top-left crop
    assert modcrop(np.zeros((9, 6)), 3).shape == (9, 6)
    assert modcrop(np.zeros((9, 7)), 2).shape == (8, 6)


def test_float_uint8_helpers() -> None:
    u = np.array([0, 1, 128, 255], dtype=np.uint8)
    f = to_float01(u)
    assert f.dtype == np.float64
    np.testing.assert_array_equal(to_uint8(f), u)
    # rounds (not truncates) and clips
    np.testing.assert_array_equal(
        to_uint8(np.array([0.5 / 255, 1.49 / 255, -0.2, 1.3, np.nan])), np.array([1, 1, 0, 255, 0], dtype=np.uint8)
    )
    assert to_uint8(u) is u
