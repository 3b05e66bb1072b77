"""srcore.prepare / prepare_bsd500.py: layout, manifest and rebuild logic, bad input, tarballs, download, CLI."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import prepare_bsd500
from srcore import prepare as prep
from srcore.color import modcrop
from srcore.errors import UserError
from srcore.imageio import load_image
from srcore.imresize import imresize
from srcore.prepare import build as prep_build
from srcore.prepare import extract_tarball, find_split_root, is_prepared, prepare, read_manifest

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


# ----------------------------------------------------------------------------------------------------------------
# Fixtures and helpers


def _need_datasets() -> Path:
    if not (DATASETS / "BSDS500").is_dir():
        pytest.skip(f"real datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture
def bsds(tmp_path: Path) -> Path:
    """Six real BSDS500 images (two per split), copied into tmp_path at test time."""
    src = _need_datasets() / "BSDS500"
    root = tmp_path / "BSDS"
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        for f in sorted((src / split).glob("*.jpg"))[:2]:
            shutil.copy(f, root / split / f.name)
    return root


@pytest.fixture
def mini_bench(tmp_path: Path) -> Path:
    """A benchmark folder with one grayscale (Set14 bridge) and one RGB image (Set5 bird)."""
    data = _need_datasets()
    root = tmp_path / "Mini"
    root.mkdir()
    shutil.copy(data / "Set14" / "bridge.png", root / "bridge.png")
    shutil.copy(data / "Set5" / "bird.png", root / "bird.png")
    return root


def run(source: Path | str | None, out: Path, **kw: object) -> dict:
    kw.setdefault("workers", 1)
    kw.setdefault("quiet", True)
    return prepare(source, out, **kw)  # type: ignore[arg-type]


def _snapshot(out: Path) -> dict[str, int]:
    """mtime_ns of every output file (everything but the manifest and the lock)."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*.png")}


def _rand(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _truncated_jpeg(path: Path, h: int = 80, w: int = 72) -> Path:
    buf = io.BytesIO()
    Image.fromarray(_rand(h, w, 9)).save(buf, format="JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _write_modes(folder: Path, h: int, w: int) -> None:
    """One file per awkward mode: L, LA, RGBA, P, I;16 (each h x w)."""
    rgb = _rand(h, w, 1)
    gray = rgb[:, :, 0].copy()
    alpha = np.full((h, w), 10, np.uint8)
    Image.fromarray(gray, "L").save(folder / "gray.png")
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(folder / "la.png")
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).quantize(colors=16).save(folder / "pal.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / "i16.png")


def _tarball(path: Path, files: dict[str, Path | bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _bsr_tarball(path: Path, bsds: Path) -> Path:
    """A tiny BSR_bsds500.tgz look-alike, with the non-image files the real one has."""
    files: dict[str, Path | bytes] = {}
    for split in ("train", "val", "test"):
        for f in sorted((bsds / split).iterdir()):
            files[f"BSR/BSDS500/data/images/{split}/{f.name}"] = f
        files[f"BSR/BSDS500/data/images/{split}/Thumbs.db"] = b"thumbs"
        files[f"BSR/BSDS500/data/groundTruth/{split}/1.mat"] = b"mat"
    files["BSR/documentation/readme.txt"] = b"readme"
    return _tarball(path, files)


# ----------------------------------------------------------------------------------------------------------------
# Layout and content


def test_layout_sizes_and_content(bsds: Path, mini_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    manifest = run(bsds, out, benchmarks=[mini_bench], workers=2)
    assert manifest["complete"] is True
    assert manifest["counts"] == {"bsd500/train": 4, "bsd500/val": 2, "benchmarks/BSD100": 2,
                                  "benchmarks/Mini": 2}
    assert manifest["skipped"] == [] and manifest["converted"] == []

    train_ids = sorted(p.stem for s in ("train", "test") for p in (bsds / s).iterdir())
    assert sorted(p.stem for p in (out / "bsd500/train/hr").iterdir()) == train_ids
    for split, n in (("train", 4), ("val", 2)):
        hrs = sorted((out / "bsd500" / split / "hr").iterdir())
        lrs = sorted((out / "bsd500" / split / "lr_x4").iterdir())
        assert len(hrs) == len(lrs) == n
        for hr_path, lr_path in zip(hrs, lrs):
            assert load_image(hr_path).shape == (256, 256, 3)
            assert load_image(lr_path).shape == (64, 64, 3)

    # The crop is the documented center crop, and LR = imresize(hr, 1/4).
    src = sorted((bsds / "train").iterdir())[0]
    full = load_image(src)
    top, left = (full.shape[0] - 256) // 2, (full.shape[1] - 256) // 2
    hr = load_image(out / "bsd500/train/hr" / f"{src.stem}.png")
    assert np.array_equal(hr, full[top : top + 256, left : left + 256])
    assert np.array_equal(load_image(out / "bsd500/train/lr_x4" / f"{src.stem}.png"), imresize(hr, 0.25))

    # BSD100: full-size val images as PNG (not modcropped); LR of the modcropped image.
    for f in sorted((bsds / "val").iterdir()):
        full = load_image(f)
        bhr = load_image(out / "benchmarks/BSD100/hr" / f"{f.stem}.png")
        assert np.array_equal(bhr, full)
        assert np.array_equal(load_image(out / "benchmarks/BSD100/lr_x4" / f"{f.stem}.png"),
                              imresize(modcrop(full, 4), 0.25))

    # Grayscale benchmark images stay 2-D / mode L.
    assert Image.open(out / "benchmarks/Mini/hr/bridge.png").mode == "L"
    assert load_image(out / "benchmarks/Mini/lr_x4/bridge.png").shape == (128, 128)
    assert load_image(out / "benchmarks/Mini/hr/bird.png").shape == (288, 288, 3)

    # The manifest lists every output with its checksum.
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*.png")}
    assert set(manifest["files"]) == on_disk
    assert is_prepared(out) and is_prepared(out, scales=(4,))
    assert not is_prepared(out, scales=(2,))
    assert not is_prepared(tmp_path / "nothing")


def test_scales_2_3_4(bsds: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    run(bsds, out, scales=(4, 2, 3))
    name = sorted((out / "bsd500/train/hr").iterdir())[0].name
    assert load_image(out / "bsd500/train/lr_x2" / name).shape == (128, 128, 3)
    # 256 is not a multiple of 3: the LR is made from modcrop(hr, 3), the top-left 255x255.
    hr = load_image(out / "bsd500/train/hr" / name)
    lr3 = load_image(out / "bsd500/train/lr_x3" / name)
    assert lr3.shape == (85, 85, 3) and np.array_equal(lr3, imresize(hr[:255, :255], 1 / 3))
    val = sorted((bsds / "val").iterdir())[0]
    bhr = load_image(val)
    assert load_image(out / "benchmarks/BSD100/lr_x3" / f"{val.stem}.png").shape[:2] == tuple(
        s // 3 for s in bhr.shape[:2])
    assert is_prepared(out, scales=(2, 3)) and is_prepared(out, scales=(2, 3, 4))


# ----------------------------------------------------------------------------------------------------------------
# Manifest and rebuild logic


def test_manifest_written_last_and_rerun_is_noop(bsds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    real_write = prep_build.write_output
    seen = []

    def spy(path: Path, data: bytes) -> None:
        # Whenever an output is written, no complete manifest may exist.
        m = read_manifest(out)
        seen.append(m is not None and m.get("complete"))
        real_write(path, data)

    monkeypatch.setattr(prep_build, "write_output", spy)
    first = run(bsds, out)
    monkeypatch.undo()
    assert seen and not any(seen)
    manifest_mtime = (out / "manifest.json").stat().st_mtime_ns
    before = _snapshot(out)
    assert max(before.values()) <= manifest_mtime

    capsys.readouterr()
    second = run(bsds, out, quiet=False)
    assert "up to date" in capsys.readouterr().out
    assert second == first
    assert _snapshot(out) == before and (out / "manifest.json").stat().st_mtime_ns == manifest_mtime
    # With no --source, a finished build is accepted whatever it was built from: no download is tried.
    assert run(None, out, url=(tmp_path / "nope.tgz").as_uri()) == first
    # Rebuilding with no --source reuses the previous build's source folder rather than downloading.
    m = run(None, out, scales=(2, 4), url=(tmp_path / "nope.tgz").as_uri())
    assert m["source"]["path"] == str(bsds.resolve()) and (out / "bsd500/train/lr_x2").is_dir()
    assert run(bsds, out, scales=(2, 4)) == m  # the same build as if --source had been given
    first = run(bsds, out)
    before = _snapshot(out)
    # --verify re-hashes and still finds it up to date.
    assert run(bsds, out, verify=True) == first and _snapshot(out) == before


def test_changed_options_rebuild_and_clean_only_managed(bsds: Path, mini_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    run(bsds, out, scales=(2, 3, 4), benchmarks=[mini_bench])
    assert (out / "bsd500/train/lr_x3").is_dir() and (out / "benchmarks/Mini/hr").is_dir()
    # Things prepare does not manage must survive every rebuild.
    keep = [out / "notes.txt", out / "downloads" / "keep.bin", out / "benchmarks" / "Mine" / "hr" / "x.png"]
    for p in keep:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"mine")

    m = run(bsds, out, scales=(4,))
    assert m["options"]["scales"] == [4] and m["options"]["benchmarks"] == []
    assert not (out / "bsd500/train/lr_x2").exists() and not (out / "bsd500/train/lr_x3").exists()
    assert not (out / "benchmarks/Mini").exists()
    assert (out / "bsd500/train/lr_x4").is_dir() and is_prepared(out)
    assert all(p.read_bytes() == b"mine" for p in keep)

    m = run(bsds, out, crop_size=128)
    assert load_image(sorted((out / "bsd500/train/hr").iterdir())[0]).shape == (128, 128, 3)
    assert all(p.read_bytes() == b"mine" for p in keep)


def test_interrupted_run_is_not_taken_as_complete(bsds: Path, mini_bench: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "data"
    run(bsds, out)
    real_process = prep_build._process
    calls = []

    def crash_after_five(*args: object, **kw: object) -> prep_build._Result:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("simulated crash")
        return real_process(*args, **kw)  # type: ignore[arg-type]

    # A rebuild that adds a benchmark set dies half-way: outputs exist, the manifest says "complete": false.
    monkeypatch.setattr(prep_build, "_process", crash_after_five)
    with pytest.raises(RuntimeError):
        run(bsds, out, benchmarks=[mini_bench])
    monkeypatch.undo()
    partial = read_manifest(out)
    assert partial is not None and partial["complete"] is False
    assert not is_prepared(out)

    # Re-running with the ORIGINAL options rebuilds (no complete manifest) and clears the unfinished extra set.
    m = run(bsds, out)
    assert m["complete"] is True and is_prepared(out)
    assert not (out / "benchmarks/Mini").exists()

    # No manifest at all (e.g. killed before it was written): rebuild too.
    (out / "manifest.json").unlink()
    before = _snapshot(out)
    run(bsds, out)
    after = _snapshot(out)
    assert set(after) == set(before) and all(after[k] > before[k] for k in before)


def test_missing_or_corrupt_output_rebuilds(bsds: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    m = run(bsds, out)
    victim = out / sorted(m["files"])[0]
    victim.unlink()
    assert not is_prepared(out)
    run(bsds, out)
    assert victim.is_file() and is_prepared(out)

    # A corrupted file is only noticed with verify=True.
    victim.write_bytes(b"corrupt")
    run(bsds, out)
    assert victim.read_bytes() == b"corrupt"
    run(bsds, out, verify=True)
    assert victim.read_bytes() != b"corrupt"


# ----------------------------------------------------------------------------------------------------------------
# Bad input


def test_bad_inputs_are_converted_or_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    for split in ("train", "val", "test"):
        (src / split).mkdir(parents=True)
    h, w, crop = 80, 72, 64
    Image.fromarray(_rand(h, w, 2)).save(src / "train" / "good.jpg", quality=95)
    Image.fromarray(_rand(h, w, 3)).save(src / "test" / "good.png")  # same stem as train/good.jpg
    _truncated_jpeg(src / "train" / "trunc.jpg")
    (src / "train" / "garbage.jpg").write_bytes(b"<html>not an image</html>")
    Image.fromarray(_rand(20, 30, 4)).save(src / "train" / "tiny.png")
    _write_modes(src / "train", h, w)
    Image.fromarray(_rand(h, w, 5)).save(src / "val" / "v.png")
    bench = tmp_path / "Odd"
    bench.mkdir()
    _write_modes(bench, 30, 26)
    Image.fromarray(_rand(2, 3, 6)).save(bench / "speck.png")  # too small for x4
    (bench / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")

    capsys.readouterr()
    rc = prepare_bsd500.main(["--source", str(src), "--out", str(tmp_path / "data"), "--crop-size", str(crop),
                              "--benchmarks", str(bench), "--workers", "1"])
    captured = capsys.readouterr()
    assert rc == 0
    m = read_manifest(tmp_path / "data")
    assert m is not None and m["complete"] is True
    # train: good + good(test) + 5 converted modes; val: 1 (crops and BSD100); Odd: 5 modes.
    assert m["counts"] == {"bsd500/train": 7, "bsd500/val": 1, "benchmarks/BSD100": 1, "benchmarks/Odd": 5}
    skipped = {Path(s["file"]).name for s in m["skipped"]}
    assert skipped == {"trunc.jpg", "garbage.jpg", "tiny.png", "speck.png", "broken.png"}
    converted = {(s["group"], Path(s["file"]).name): s["note"] for s in m["converted"]}
    modes = ("gray.png", "la.png", "rgba.png", "pal.png", "i16.png")
    # gray.png is only a conversion for the RGB training crops; benchmarks keep it as it is.
    assert set(converted) == {("bsd500/train", n) for n in modes} | {("benchmarks/Odd", n) for n in modes[1:]}
    assert "alpha dropped" in converted[("bsd500/train", "rgba.png")]
    assert "1/257" in converted[("benchmarks/Odd", "i16.png")]

    # Every bad file is named in a warning, and the summary counts them.
    for name in skipped:
        assert any(name in line and line.startswith("warning:") for line in captured.err.splitlines()), name
    assert "9 converted, 5 skipped" in captured.out

    data = tmp_path / "data"
    # Training crops are RGB whatever the input mode; clashing stems got distinct names.
    for f in (data / "bsd500/train/hr").iterdir():
        assert load_image(f).shape == (crop, crop, 3), f
    assert len(list((data / "bsd500/train/hr").iterdir())) == 7
    # Benchmarks keep gray images gray (L, LA, I;16) and make the others RGB.
    for name, ndim in (("gray", 2), ("la", 2), ("i16", 2), ("rgba", 3), ("pal", 3)):
        assert load_image(data / "benchmarks/Odd/hr" / f"{name}.png").ndim == ndim
    i16 = load_image(data / "benchmarks/Odd/hr/i16.png")
    assert np.array_equal(i16, load_image(bench / "gray.png"))  # v*257 / 257 == v


def test_nothing_usable_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "train" / "garbage.jpg").write_bytes(b"nope")
    Image.fromarray(_rand(20, 20)).save(src / "train" / "tiny.png")
    with pytest.raises(UserError, match="no usable images"):
        run(src, tmp_path / "data")
    assert not is_prepared(tmp_path / "data")
    capsys.readouterr()
    assert prepare_bsd500.main(["--source", str(src), "--out", str(tmp_path / "data2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: no usable images" in err and "expected train/, val/, test/" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"no images found in .*expected train/, val/, test/ folders"):
        run(empty, tmp_path / "data3")


def test_bad_options(bsds: Path, mini_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    with pytest.raises(UserError, match="scales"):
        run(bsds, out, scales=(5,))
    with pytest.raises(UserError, match="crop size"):
        run(bsds, out, crop_size=8)
    with pytest.raises(UserError, match="does not exist"):
        run(bsds, out, benchmarks=[tmp_path / "missing"])
    reserved = tmp_path / "x" / "BSD100"
    reserved.mkdir(parents=True)
    with pytest.raises(UserError, match="reserved"):
        run(bsds, out, benchmarks=[reserved])
    twin = tmp_path / "y" / "Mini"
    twin.mkdir(parents=True)
    with pytest.raises(UserError, match="two benchmark folders"):
        run(bsds, out, benchmarks=[mini_bench, twin])
    # A source inside the folders a rebuild clears would be deleted by it: refused.
    run(bsds, out)
    shutil.copytree(bsds, out / "bsd500" / "copy")
    with pytest.raises(UserError, match="inside"):
        run(out / "bsd500" / "copy", out, crop_size=64)
    assert is_prepared(out)


# ----------------------------------------------------------------------------------------------------------------
# Source forms: BSR tree at any level, tarball, download


def test_bsr_tree_found_at_any_level(tmp_path: Path) -> None:
    images = tmp_path / "BSR" / "BSDS500" / "data" / "images"
    for split in ("train", "val", "test"):
        (images / split).mkdir(parents=True)
        Image.fromarray(_rand(8, 8)).save(images / split / "1.jpg")
        # groundTruth has the same split folders but no images: it must not be picked.
        (tmp_path / "BSR/BSDS500/data/groundTruth" / split).mkdir(parents=True)
        (tmp_path / "BSR/BSDS500/data/groundTruth" / split / "1.mat").write_bytes(b"m")
    (tmp_path / "BSR/bench/data/images").mkdir(parents=True)
    Image.fromarray(_rand(8, 8)).save(tmp_path / "BSR/bench/data/images/2.jpg")
    for level in (tmp_path, tmp_path / "BSR", tmp_path / "BSR/BSDS500", tmp_path / "BSR/BSDS500/data",
                  images, images / "train"):
        found = find_split_root(level)
        assert found is not None, level
        assert found[0] == images.resolve() and sorted(found[1]) == ["test", "train", "val"]
    assert find_split_root(tmp_path / "BSR/bench") is None


def test_tarball_source(bsds: Path, tmp_path: Path) -> None:
    tgz = _bsr_tarball(tmp_path / "BSR_bsds500.tgz", bsds)
    out = tmp_path / "data"
    m = run(tgz, out)
    assert m["counts"]["bsd500/train"] == 4 and m["counts"]["benchmarks/BSD100"] == 2
    assert m["source"]["kind"] == "tarball" and len(m["source"]["sha256"]) == 64
    assert not list(out.glob(".extract-*"))  # the temporary extraction is removed
    assert run(tgz, out) == m  # up to date without extracting again


@pytest.mark.parametrize("evil", ["../evil.jpg", "/tmp/evil_abs.jpg", "BSR/../../evil.jpg", "symlink", "hardlink"])
def test_malicious_tarball_refused(evil: str, tmp_path: Path) -> None:
    tgz = tmp_path / "evil.tgz"
    good = io.BytesIO()
    Image.fromarray(_rand(300, 300)).save(good, format="JPEG")
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("BSR/BSDS500/data/images/train/ok.jpg")
        info.size = len(good.getvalue())
        tar.addfile(info, io.BytesIO(good.getvalue()))
        if evil in ("symlink", "hardlink"):
            link = tarfile.TarInfo("BSR/BSDS500/data/images/train/link.jpg")
            link.type = tarfile.SYMTYPE if evil == "symlink" else tarfile.LNKTYPE
            link.linkname = "../../../../../../evil.jpg"
            tar.addfile(link)
        else:
            info = tarfile.TarInfo(evil)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    out = tmp_path / "deep" / "data"
    with pytest.raises(UserError, match="unsafe"):
        run(tgz, out)
    with pytest.raises(UserError, match="unsafe"):
        extract_tarball(tgz, tmp_path / "target")
    assert not list(tmp_path.rglob("evil*.jpg")) and not Path("/tmp/evil_abs.jpg").exists()
    assert not list((tmp_path / "target").rglob("*.jpg"))
    assert not (out / "bsd500").exists() and not list(out.glob(".extract-*"))


def test_download(bsds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tgz = _bsr_tarball(tmp_path / "served.tgz", bsds)
    out = tmp_path / "data"
    m = run(None, out, url=tgz.as_uri())
    downloaded = out / "downloads" / "BSR_bsds500.tgz"
    assert downloaded.read_bytes() == tgz.read_bytes()
    assert not list((out / "downloads").glob("*.part"))
    assert m["source"]["kind"] == "download" and m["counts"]["bsd500/train"] == 4

    # A second output folder with the tarball already in downloads/ reuses it.
    out2 = tmp_path / "data2"
    (out2 / "downloads").mkdir(parents=True)
    shutil.copy(tgz, out2 / "downloads" / "BSR_bsds500.tgz")
    capsys.readouterr()
    run(None, out2, url=(tmp_path / "nope.tgz").as_uri(), quiet=False)
    assert "using earlier download" in capsys.readouterr().out


def test_download_failures_are_one_line_user_errors(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    html = tmp_path / "page.html"
    html.write_bytes(b"<html>moved</html>" * 100)
    truncated = tmp_path / "trunc.tgz"
    _tarball(tmp_path / "full.tgz", {f"BSR/BSDS500/data/images/train/{i}.png": bytes(5000) for i in range(20)})
    truncated.write_bytes((tmp_path / "full.tgz").read_bytes()[:-200])
    for url in (f"http://127.0.0.1:{port}/BSR_bsds500.tgz", (tmp_path / "missing.tgz").as_uri(), html.as_uri(),
                truncated.as_uri()):
        out = tmp_path / "data"
        with pytest.raises(UserError) as info:
            run(None, out, url=url)
        msg = str(info.value)
        assert "\n" not in msg and "by hand" in msg and "--source" in msg, msg
        assert not list((out / "downloads").glob("*")), url  # no .part or broken tarball left


def test_not_a_tarball_is_one_line_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello\n" * 100)
    with pytest.raises(UserError) as info:
        run(bogus, tmp_path / "data")
    assert "not a readable tar archive" in str(info.value) and "\n" not in str(info.value)


def test_cli_missing_source_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "prepare_bsd500.py"), "--source", str(tmp_path / "nope"),
         "--out", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not exist" in lines[0]
    assert "expected train/, val/, test/" in lines[0]
    assert not (tmp_path / "data").exists()  # nothing created for a bad source


def test_manifest_is_valid_json_with_checksums(bsds: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    run(bsds, out)
    m = json.loads((out / "manifest.json").read_text())
    for rel, (sha, size) in m["files"].items():
        data = (out / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha and len(data) == size
    assert m["version"] == prep.PREPARE_VERSION and len(m["digest"]) == 64
