"""srcore.imageio: mode conversions, bad files, atomic PNG writes, listing."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore import fileio
from srcore.errors import UserError
from srcore.imageio import ImageError, list_images, load_image, read_image, save_image


def _rgb(h: int = 9, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(img: Image.Image, path: Path, **kw: object) -> Path:
    img.save(path, **kw)
    return path


def test_rgb_png_roundtrip_and_gray_stays_2d(tmp_path: Path) -> None:
    rgb = _rgb()
    save_image(tmp_path / "sub" / "a.png", rgb)  # creates the folder
    assert np.array_equal(load_image(tmp_path / "sub" / "a.png"), rgb)
    gray = rgb[:, :, 0].copy()
    save_image(tmp_path / "g.png", gray)
    assert Image.open(tmp_path / "g.png").mode == "L"
    out = load_image(tmp_path / "g.png")
    assert out.shape == gray.shape and out.dtype == np.uint8 and np.array_equal(out, gray)
    out_rgb = load_image(tmp_path / "g.png", mode="rgb")
    assert out_rgb.shape == (*gray.shape, 3) and all(np.array_equal(out_rgb[:, :, c], gray) for c in range(3))
    save_image(tmp_path / "g1.png", gray[:, :, None])  # HxWx1 is saved as gray
    assert load_image(tmp_path / "g1.png").ndim == 2


def test_modes_are_converted(tmp_path: Path) -> None:
    rgb = _rgb()
    alpha = np.full(rgb.shape[:2], 7, np.uint8)
    gray = rgb[:, :, 1].copy()

    # RGBA / LA: alpha dropped, colour values kept as stored (not composited).
    rgba = np.dstack([rgb, alpha])
    assert np.array_equal(load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "rgba.png")), rgb)
    la = Image.fromarray(np.dstack([gray, alpha]), "LA")
    arr, mode = read_image(_save(la, tmp_path / "la.png"))
    assert mode == "LA" and arr.ndim == 2 and np.array_equal(arr, gray)

    # P: palette expanded to RGB.
    pal = Image.fromarray(rgb).quantize(colors=8)
    arr, mode = read_image(_save(pal, tmp_path / "p.png"))
    assert mode == "P" and arr.shape == rgb.shape
    assert np.array_equal(arr, np.asarray(pal.convert("RGB")))

    # I;16: round(v / 257), so the 16-bit extremes map to 0 and 255.
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    arr, mode = read_image(_save(Image.fromarray(values), tmp_path / "i16.png"))
    assert mode.startswith("I") and arr.dtype == np.uint8 and arr.ndim == 2
    assert arr.tolist() == [[0, 0, 1, 1, 128, 255]]

    # 1-bit -> 0/255 gray; CMYK -> RGB.
    bits = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    assert load_image(_save(bits, tmp_path / "b.png")).tolist() == [[0, 255]]
    cmyk = Image.fromarray(rgb).convert("CMYK")
    assert load_image(_save(cmyk, tmp_path / "c.jpg", quality=95)).shape == rgb.shape


def test_bad_files_raise_image_error_naming_the_file(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format="JPEG")
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "garbage.png").write_bytes(b"this is not an image" * 10)
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("trunc.jpg", "garbage.png", "empty.jpg", "missing.png"):
        with pytest.raises(ImageError) as info:
            load_image(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
        assert isinstance(info.value, UserError)
    # Picklable (results may cross process boundaries).
    err = pickle.loads(pickle.dumps(ImageError("x.png", "broken")))
    assert str(err) == "cannot read image x.png: broken" and err.path == "x.png"


def test_save_image_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.png"
    save_image(target, _rgb())
    before = target.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError):
        save_image(target, _rgb(seed=1))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # no temporary file left behind
    monkeypatch.undo()
    # Normal file permissions (mkstemp alone would leave 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_image_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_image(tmp_path / "f.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        save_image(tmp_path / "c.png", np.zeros((4, 4, 5), np.uint8))
    assert not list(tmp_path.iterdir())


def test_save_image_writes_the_format_its_extension_names(tmp_path: Path) -> None:
    from PIL import Image

    rgb = _rgb()
    for name, fmt in (("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.webp", "WEBP"), ("a.bmp", "BMP"), ("a.tif", "TIFF")):
        save_image(tmp_path / name, rgb)
        with Image.open(tmp_path / name) as im:
            assert im.format == fmt
    np.testing.assert_array_equal(load_image(tmp_path / "a.webp"), rgb)  # lossless
    with pytest.raises(UserError, match="unknown image file extension '.xyz'"):
        save_image(tmp_path / "a.xyz", rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    with pytest.raises(UserError, match="transparency, which .jpg cannot store"):
        save_image(tmp_path / "b.jpg", rgba)
    save_image(tmp_path / "b.png", rgba)
    with Image.open(tmp_path / "b.png") as im:
        assert im.mode == "RGBA" and np.asarray(im)[0, 0, 3] == 7


def test_exif_orientation_is_applied_and_animations_refused(tmp_path: Path) -> None:
    from PIL import Image

    from srcore.imageio import read_alpha

    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, :5] = 255  # a white band on the left
    img = Image.fromarray(wide)
    exif = img.getexif()
    exif[0x0112] = 6  # the camera was turned: the picture is meant to be seen rotated 90 degrees clockwise
    img.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.shape == (30, 10, 3) and upright[:5].mean() > 200  # the band is on top now
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(UserError, match="animated image .2 frames"):
        load_image(tmp_path / "anim.gif")
    rgba = np.dstack([wide, np.full((10, 30), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "t.png")
    assert read_alpha(tmp_path / "t.png").mean() == 128 and read_alpha(tmp_path / "phone.jpg") is None


def test_list_images(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "c.JPEG", "d.bmp", "e.tif", "f.TIFF", "notes.txt", ".hidden.png", "Thumbs.db"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.JPEG", "d.bmp", "e.tif", "f.TIFF"]
    with pytest.raises(UserError):
        list_images(tmp_path / "nope")
