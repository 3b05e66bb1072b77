"""Colour conversion, cropping and dtype helpers (MATLAB conventions used by the SR literature).

This is the one place for uint8 <-> float conversions: float images are in [0, 1], uint8 in 0..255.
"""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing) for RGB in [0, 1], giving YCbCr on the 0..255 scale.
_YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)


def to_float01(img: np.ndarray) -> np.ndarray:
    """uint8 (0..255) -> float64 in [0, 1]; float input is taken to be in [0, 1] already (returned as float64)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64, copy=False)
    raise ValueError(f"to_float01: expected uint8 or float image, got {img.dtype}")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float in [0, 1] -> uint8, rounding half up (as MATLAB does for non-negative values) and clipping."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"to_uint8: expected float or uint8 image, got {img.dtype}")
    # NaN would cast to an arbitrary value; map it to 0 explicitly.
    scaled = np.nan_to_num(img.astype(np.float64) * 255.0, nan=0.0)
    return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


def _check_rgb(img: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name}: expected an HxWx3 RGB image, got shape {img.shape}")
    return img


def rgb2ycbcr(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` (full matrix) as unrounded float64 YCbCr on the 0..255 scale.

    uint8 input is read as 0..255, float input as [0, 1]. MATLAB would round the result for uint8 input;
    the SR evaluation code this project reproduces keeps it in float, so we never round here.
    """
    rgb = to_float01(_check_rgb(img, "rgb2ycbcr"))
    return rgb @ _YCBCR_MATRIX.T + _YCBCR_OFFSET


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma Y of an RGB image as float64 on the 0..255 scale: Y = 16 + 65.481 R + 128.553 G + 24.966 B."""
    rgb = to_float01(_check_rgb(img, "rgb_to_y"))
    return rgb @ _YCBCR_MATRIX[0] + _YCBCR_OFFSET[0]


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop of an HxW or HxWxC image so both sides are multiples of ``scale`` (MATLAB ``modcrop``)."""
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"modcrop: expected an HxW or HxWxC image, got shape {img.shape}")
    if int(scale) < 1:
        raise ValueError(f"modcrop: scale must be >= 1, got {scale}")
    h, w = img.shape[:2]
    return img[: h - h % int(scale), : w - w % int(scale)]


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 grey with the rgb2ycbcr luma weights normalised to sum 1 (R = G = B stays unchanged).

    Used to bring a network's RGB output for a greyscale input back to one intensity channel.
    """
    rgb = _check_rgb(img, "rgb_to_gray").astype(np.float64)
    return to_uint8(rgb @ (_YCBCR_MATRIX[0] / _YCBCR_MATRIX[0].sum()) / 255.0)
