"""Image files <-> uint8 numpy arrays, with every Pillow mode mapped to gray (HxW) or RGB (HxWx3).

Mode conversions (documented once, here):

* ``L`` stays gray; ``1`` becomes gray 0/255.
* ``LA``/``La`` -> gray and ``RGBA``/``RGBa``/``PA`` -> RGB: the alpha channel is dropped (colour values kept
  as stored, not composited on any background), so a transparent image keeps its hidden pixels.
* ``I;16*`` and ``I`` (16-bit gray) -> gray by round(v / 257), clipped to 0..65535 first, so 65535 -> 255.
  ``F`` (float gray) is clipped to 0..255 and rounded.
* ``P`` -> RGB through its palette; ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX`` -> RGB by Pillow.
* EXIF orientation IS applied (a phone photo comes out upright; no image of the benchmarks or BSDS500 carries
  one, so MATLAB ``imread``'s ignoring it changes nothing there); an animated image (several frames) is refused.
* The alpha channel, where there is one, is read separately (``read_alpha``): ``--input`` upscales it beside
  the colours and writes it back.

``mode="rgb"`` additionally replicates gray to three channels. Unreadable or truncated files raise
``ImageError`` naming the file: the image is fully decoded on load, so a truncated JPEG is caught here
instead of turning into grey blocks later.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from srcore.errors import UserError
from srcore.fileio import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# What save_image writes for each file extension (Pillow format, options); lossless except JPEG.
SAVE_FORMATS = {".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95}),
                ".webp": ("WEBP", {"lossless": True}), ".bmp": ("BMP", {}), ".tif": ("TIFF", {}),
                ".tiff": ("TIFF", {})}
ALPHA_FORMATS = (".png", ".webp", ".tif", ".tiff")  # the formats above that keep an alpha channel

# zlib level 3 is about twice as fast as the default 6 for ~3% larger files; PNG stays lossless.
PNG_COMPRESS_LEVEL = 3

class ImageError(UserError):
    """An image file that cannot be read (missing, not an image, truncated, corrupt)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple:
        # Keep the exception picklable across process pools despite the two-argument constructor.
        return (type(self), (self.path, self.reason))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in `folder` (not recursive), sorted by name; hidden files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: p.name)


def _to_array(img: Image.Image) -> np.ndarray:
    """Pillow image (any mode) -> uint8 HxW (gray modes) or HxWx3 (everything else)."""
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("1", "LA", "La"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode.startswith("I"):
        wide = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        return ((wide + 128) // 257).astype(np.uint8)
    if mode == "F":
        return np.clip(np.floor(np.asarray(img, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)
    if mode == "PA":
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image(path: str | Path, mode: str = "auto") -> tuple[np.ndarray, str]:
    """Like `load_image`, also returning the file's Pillow mode (to report conversions)."""
    if mode not in ("auto", "rgb"):
        raise ValueError(f"read_image: mode must be 'auto' or 'rgb', got {mode!r}")
    try:
        with Image.open(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                raise ImageError(path, f"an animated image ({img.n_frames} frames); expected a still image (save "
                                       "the frame you want as a PNG)")
            # Force the full decode now: Image.open only reads the header, so truncation would go unnoticed.
            img.load()
            source_mode = img.mode
            arr = _to_array(_upright(img))
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, "not a recognised image format") from None
    except Exception as exc:  # Pillow's decoders raise OSError, ValueError, SyntaxError, struct.error, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(path, reason) from None
    if (arr.ndim != 2 and not (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise ImageError(path, f"unexpected decoded shape {arr.shape}")
    if mode == "rgb" and arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr), source_mode


def _upright(img: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: its EXIF orientation applied (a phone photo taken sideways)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img


def read_alpha(path: str | Path) -> np.ndarray | None:
    """The image's alpha channel (uint8 HxW, upright like read_image's pixels), or None if it has none or is fully
    opaque."""
    try:
        with Image.open(path) as img:
            if not (img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info):
                return None
            alpha = np.asarray(_upright(img).convert("RGBA"), dtype=np.uint8)[:, :, 3]
    except Exception as exc:  # noqa: BLE001 - read_image has named the file's problem already if there is one
        raise ImageError(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return None if alpha.min() == 255 else np.ascontiguousarray(alpha)


def load_image(path: str | Path, mode: str = "auto") -> np.ndarray:
    """Read an image as uint8: ``auto`` gives HxW for gray files and HxWx3 RGB otherwise; ``rgb`` always HxWx3.

    Raises ImageError (a UserError naming the file) if it cannot be fully decoded.
    """
    return read_image(path, mode)[0]


def encode_png(arr: np.ndarray) -> bytes:
    """uint8 HxW (gray) or HxWx3 (RGB) array -> PNG file bytes."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"encode_png: expected uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"encode_png: expected an HxW or HxWx3 image, got shape {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def save_format(path: str | Path, alpha: bool = False) -> tuple[str, dict]:
    """(Pillow format, options) that `path`'s extension asks for; a one-line UserError for another extension, or
    for a format without an alpha channel when the image has one."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise UserError(f"{path}: unknown image file extension {suffix or '(none)'!r}; expected one of "
                        f"{', '.join(SAVE_FORMATS)}")
    if alpha and suffix not in ALPHA_FORMATS:
        raise UserError(f"{path}: the image has transparency, which {suffix} cannot store; name the output "
                        f"{Path(path).with_suffix('.png').name} (or .webp, .tif)")
    return SAVE_FORMATS[suffix]


def save_image(path: str | Path, arr: np.ndarray) -> None:
    """Save a uint8 HxW, HxWx3 or HxWx4 (RGBA) array in the format of `path`'s extension (PNG for an unknown
    one is never guessed: save_format), atomically (a reader never sees a half-written file)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ValueError(f"save_image: expected a uint8 HxW, HxWx3 or HxWx4 image, got {arr.dtype} {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    fmt, options = save_format(path, alpha=arr.ndim == 3 and arr.shape[2] == 4)
    if fmt == "PNG" and arr.ndim in (2, 3) and (arr.ndim == 2 or arr.shape[2] == 3):
        data = encode_png(arr)
    else:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, format=fmt, **options)
        data = buf.getvalue()
    # Not durable (no fsync): bulk outputs are protected by the preparation manifest instead.
    atomic_write_bytes(path, data, durable=False)
