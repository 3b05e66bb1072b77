"""--train-dir: any folder of images (recursive, any sizes), exact per-patch LR, streaming worker processes with
the in-memory sampler's batches, held-out validation, --train-lr-dir pairs; smoke runs and exact resume."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore.color import modcrop
from srcore.config import TrainConfig, preset_config
from srcore.data import PatchSampler, load_pairs
from srcore.errors import UserError
from srcore.imagefolder import CACHE_ENV, index_path, read_patch, scan_folder
from srcore.imageio import load_image
from srcore.imresize import imresize, imresize_window
from srcore.sampling import VALIDATION_FILE, make_sampler, validation_pairs
from srcore.streaming import StreamingSampler
from tests.conftest import DATASETS

SIZES = [(70, 90), (64, 64), (101, 77), (50, 130), (129, 97), (20, 40), (30, 30)]  # the last two: < 32 px patch


def _smooth(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BICUBIC)


def make_folder(root: Path, seed: int = 0) -> Path:
    """Mixed sizes, PNG and JPEG, a subfolder, two images smaller than the smoke patch (32) and one corrupt file."""
    rng = np.random.default_rng(seed)
    (root / "sub" / "deeper").mkdir(parents=True)
    for i, (h, w) in enumerate(SIZES):
        where = root / ("sub/deeper" if i == 4 else "sub" if i % 2 else ".")
        _smooth(rng, h, w).save(where / f"img{i}.{'jpg' if i % 2 else 'png'}")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The per-user cache of these tests (folder indexes): a temporary one, never the user's ~/.cache."""
    path = tmp_path_factory.getbasetemp() / "srgan-cache"
    monkeypatch.setenv(CACHE_ENV, str(path))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("images"))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imresize_window_is_the_crop_of_the_whole_resize(scale: int) -> None:
    rng = np.random.default_rng(scale)
    for _ in range(10):
        h, w = (int(v) // scale * scale for v in rng.integers(40, 160, 2))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for whole, factor, src in ((imresize(img, 1 / scale), 1 / scale, img), (None, scale, None)):
            if whole is None:  # upscaling the LR image (an interpolating network's input)
                src = imresize(img, 1 / scale)
                whole = imresize(src, scale)
            r0 = int(rng.integers(0, whole.shape[0] - 1))
            c0 = int(rng.integers(0, whole.shape[1] - 1))
            r1, c1 = int(rng.integers(r0 + 1, whole.shape[0] + 1)), int(rng.integers(c0 + 1, whole.shape[1] + 1))
            np.testing.assert_array_equal(imresize_window(src, factor, (r0, r1), (c0, c1)), whole[r0:r1, c0:c1])


@pytest.mark.parametrize("interpolating", [False, True])
def test_a_patch_equals_the_crop_of_the_whole_images_lr(folder: Path, interpolating: bool) -> None:
    """Per-patch LR (from the HR pixels the patch needs) equals, to the pixel, the crop of the whole image's LR, at
    the borders too."""
    path, s = folder / "img0.png", 4
    hr = modcrop(load_image(path, mode="rgb"), s)
    lr = imresize(hr, 1 / s)
    grid = imresize(lr, s) if interpolating else lr
    p = 32 if interpolating else 8
    for y, x in [(0, 0), (grid.shape[0] - p, grid.shape[1] - p), (3, 5), (grid.shape[0] - p, 0)]:
        inp, hr_p = read_patch((str(path), None, s, interpolating, hr.shape[0], hr.shape[1], y, x, p))
        np.testing.assert_array_equal(inp, grid[y:y + p, x:x + p])
        k = 1 if interpolating else s
        np.testing.assert_array_equal(hr_p, hr[y * k:(y + p) * k, x * k:(x + p) * k])


def test_scan_is_recursive_skips_by_name_in_one_line_and_notices_changes(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "imgs")
    images = scan_folder(str(root), 4, 32)
    assert [im.rel for im in images] == ["img0.png", "img2.png", "sub/deeper/img4.png", "sub/img1.jpg",
                                         "sub/img3.jpg"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "skipped 2 smaller than 32px (img6.png, sub/img5.jpg) and 1 unreadable (broken.jpg" in err[0]
    assert "training on 5 of 8 images" in err[0]
    index = json.loads(index_path(root).read_text())
    assert index["folder"] == str(root.resolve())
    assert index["files"]["img0.png"]["size"] == [70, 90] and isinstance(index["files"]["broken.jpg"]["size"], str)
    # A changed file (other size, so other bytes and mtime) is decoded again, not taken from the index; an added
    # file is found and checked.
    _smooth(np.random.default_rng(9), 40, 50).save(root / "img0.png")
    os.utime(root / "img0.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    _smooth(np.random.default_rng(10), 48, 48).save(root / "sub" / "added.png")
    scan_folder.cache_clear()
    again = {im.rel: im for im in scan_folder(str(root), 4, 32)}
    assert again["img0.png"].height == 40 and again["sub/added.png"].width == 48
    assert json.loads(index_path(root).read_text())["files"]["sub/added.png"]["size"] == [48, 48]


def test_the_index_is_kept_in_the_user_cache_never_in_the_image_folder(tmp_path: Path, cache: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning writes nothing into the user's folder (read-only or not); the index lives in the cache, named by
    the folder's resolved path (a symlink to the folder shares it), and without a writable cache scanning still
    works, checking every image each time."""
    root = make_folder(tmp_path / "imgs")
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    scan_folder(str(root), 4, 32)
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before
    assert index_path(root).is_file() and index_path(root).is_relative_to(cache)
    (tmp_path / "link").symlink_to(root)
    assert index_path(tmp_path / "link") == index_path(root)
    assert index_path(tmp_path / "other") != index_path(root)
    # The default location: $XDG_CACHE_HOME/srgan-repro, else ~/.cache/srgan-repro.
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index_path(root).is_relative_to(tmp_path / "xdg" / "srgan-repro")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert index_path(root).is_relative_to(tmp_path / "home" / ".cache" / "srgan-repro")
    # A cache that cannot be written (here: a file where its folder should be): scanned all the same, every time.
    (tmp_path / "blocked").write_text("a file, not a folder")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "blocked"))
    scan_folder.cache_clear()
    assert [im.rel for im in scan_folder(str(root), 4, 32)][:2] == ["img0.png", "img2.png"]
    assert not index_path(root).exists()
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def _in_memory(images, s: int, patch: int, batch: int, seed: int) -> PatchSampler:
    hrs = [modcrop(load_image(im.hr, mode="rgb"), s) for im in images]
    return PatchSampler(hrs, [imresize(h, 1 / s) for h in hrs], s, patch, batch, seed)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_streamed_batches_equal_the_in_memory_samplers(folder: Path, workers: int) -> None:
    """Bit-exact for any number of data workers and any shard, in order, out of order and after a restart."""
    images = scan_folder(str(folder), 4, 32)
    reference = _in_memory(images, 4, 32, 6, seed=5)
    sizes = [(im.height // 4, im.width // 4) for im in images]
    stream = StreamingSampler(sizes, lambda i, y, x: (images[i].hr, None, 4, False, images[i].height // 4 * 4,
                                                      images[i].width // 4 * 4, y, x, 8),
                              lambda i: images[i].hr, read_patch, 8, 6, 5, workers)
    try:
        for step, shard in [(0, (0, 1)), (1, (0, 1)), (2, (0, 1)), (9, (1, 3)), (10, (1, 3)), (4, (0, 2))]:
            for a, b in zip(stream.batch(step, shard), reference.batch(step, shard)):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)
    finally:
        stream.close()
    assert not any(p.is_alive() for p in stream._procs)


@pytest.mark.parametrize("model", ["srresnet", "srcnn"])
def test_folder_source_in_memory_and_streamed_agree(folder: Path, tmp_path: Path, model: str) -> None:
    cfg = preset_config("smoke", model, train_dir=str(folder), out=str(tmp_path), seed=2, data_workers=0)
    memory = make_sampler(cfg)
    assert isinstance(memory, PatchSampler)
    cfg.data_workers = 2
    stream = make_sampler(cfg)
    try:
        assert isinstance(stream, StreamingSampler)
        for step in (0, 1, 7):
            for a, b in zip(stream.batch(step), memory.batch(step)):
                np.testing.assert_array_equal(a, b)
    finally:
        stream.close()


def _die_on_img2(spec):
    if spec[0].endswith("img2.png"):
        os._exit(3)
    return read_patch(spec)


def _hang_on_img2(spec):
    if spec[0].endswith("img2.png"):
        time.sleep(60)
    return read_patch(spec)


@pytest.mark.parametrize("reader, words", [(_die_on_img2, "died (exit code 3) while reading"),
                                           (_hang_on_img2, "made no batch for")])
def test_a_dead_or_hung_worker_ends_with_one_line_naming_its_image(folder: Path, reader, words: str) -> None:
    images = [im for im in scan_folder(str(folder), 4, 32) if im.rel == "img2.png"]
    stream = StreamingSampler([(im.height // 4, im.width // 4) for im in images],
                              lambda i, y, x: (images[i].hr, None, 4, False, images[i].height // 4 * 4,
                                               images[i].width // 4 * 4, y, x, 8),
                              lambda i: images[i].hr, reader, 8, 2, 0, 1, timeout=3)
    try:
        with pytest.raises(UserError, match=re.escape(words)) as e:
            stream.batch(0)
        assert str(e.value).count("\n") == 0 and "img2.png" in str(e.value)
    finally:
        stream.close()


def test_holdout_is_fixed_recorded_and_never_trained_on(folder: Path, tmp_path: Path) -> None:
    cfg = preset_config("smoke", "srresnet", train_dir=str(folder), out=str(tmp_path), data_workers=0,
                        val_images=0)
    hrs, lrs = validation_pairs(cfg, record=True)
    record = json.loads((tmp_path / VALIDATION_FILE).read_text())
    assert record["held_out"] == ["img0.png"] and len(hrs) == 1  # 5 usable images: at most a quarter held out
    assert record["validation"].startswith("1 image held out of ")  # how many were, not --val-holdout
    assert hrs[0].shape == (68, 88, 3) and lrs[0].shape == (17, 22, 3)
    sampler = make_sampler(cfg)
    assert len(sampler.lr) == 4 and not any(h.shape == (68, 88, 3) for h in sampler.hr)
    # The record rules, whatever the folder holds later: an image named there is never trained on.
    (tmp_path / VALIDATION_FILE).write_text(json.dumps({**record, "held_out": ["img2.png"]}))
    assert validation_pairs(cfg)[0][0].shape == (100, 76, 3)


def test_old_configs_keep_validating_on_the_prepared_val_split(tiny_data: Path) -> None:
    old = preset_config("smoke", "srresnet", data=str(tiny_data)).to_dict()
    del old["val_holdout"], old["train_dir"], old["val_dir"], old["train_lr_dir"], old["data_workers"]
    cfg = TrainConfig.from_dict(old)
    assert cfg.val_holdout == 0
    hrs, _ = validation_pairs(cfg)
    want, _ = load_pairs(tiny_data, "val", 4, limit=cfg.val_images)
    assert all(np.array_equal(a, b) for a, b in zip(hrs, want))
    assert TrainConfig().val_holdout == 20  # a new run holds out training images instead


def test_prepared_source_holds_out_training_images(tiny_data: Path, tmp_path: Path) -> None:
    cfg = preset_config("smoke", "srresnet", data=str(tiny_data), out=str(tmp_path))
    validation_pairs(cfg, record=True)
    assert len(json.loads((tmp_path / VALIDATION_FILE).read_text())["held_out"]) == 2  # of 8: a quarter
    assert len(make_sampler(cfg).lr) == 6
    assert validation_pairs(preset_config("smoke", "srresnet", data=str(tiny_data),
                                          val_dir=str(tiny_data / "bsd500" / "val")))[0][0].shape == (64, 64, 3)


def _pixels(path: Path) -> str:
    return hashlib.sha256(load_image(path, mode="rgb").tobytes()).hexdigest()


def test_default_validation_never_sees_a_benchmark_image(tmp_path: Path) -> None:
    """On the real data: the default validation images of the prepared BSDS500 split and of --train-dir on the
    BSDS500 originals (train + test) are none of Set5, Set14, BSD100 (= BSDS500 val), by decoded-pixel hash."""
    datasets = DATASETS if (DATASETS / "Set5").is_dir() else pytest.skip(f"no datasets at {DATASETS}")
    data = Path(__file__).resolve().parents[1] / "data"
    bench = {_pixels(p) for d in ("Set5", "Set14", "BSDS500/val") for p in sorted((datasets / d).glob("*"))
             if p.suffix.lower() in (".png", ".jpg", ".bmp")}
    assert len(bench) == 5 + 14 + 100
    # --train-dir over the originals the prepared training split is made of.
    train = tmp_path / "bsds"
    train.mkdir()
    for split in ("train", "test"):
        (train / split).symlink_to(datasets / "BSDS500" / split)
    cfg = preset_config("quick", "srresnet", train_dir=str(train), out=str(tmp_path / "run"))
    validation_pairs(cfg, record=True)
    held = json.loads((tmp_path / "run" / VALIDATION_FILE).read_text())["held_out"]
    assert len(held) == 20
    assert not {_pixels(train / n) for n in held} & bench
    if (data / "bsd500" / "train" / "hr").is_dir():  # the prepared crops: compare with the prepared benchmarks
        prepared = {_pixels(p) for p in (data / "bsd500" / "val" / "hr").glob("*.png")}
        prepared |= {_pixels(p) for d in ("Set5", "Set14", "BSD100") for p in (data / "benchmarks" / d /
                                                                               "hr").glob("*.png")}
        cfg = preset_config("quick", "srresnet", data=str(data), out=str(tmp_path / "run2"))
        hrs, _ = validation_pairs(cfg)
        assert len(hrs) == 20
        assert not {hashlib.sha256(h.tobytes()).hexdigest() for h in hrs} & prepared


def _box(hr: np.ndarray) -> np.ndarray:
    """4x4 box averages, rounded: a degradation that commutes with the flips and quarter turns."""
    h, w = hr.shape[0] // 4, hr.shape[1] // 4
    return np.round(hr.reshape(h, 4, w, 4, 3).mean(axis=(1, 3))).astype(np.uint8)


def test_own_lr_images_pair_by_relative_path_and_stem(folder: Path, tmp_path: Path) -> None:
    lr_root = tmp_path / "lr"
    for im in scan_folder(str(folder), 4, 32):
        hr = modcrop(load_image(im.hr, mode="rgb"), 4)
        dst = lr_root / Path(im.rel).parent / f"{Path(im.rel).stem}x4.png"  # DIV2K's naming
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_box(hr)).save(dst)  # another degradation than bicubic; symmetric, so augmenting keeps it
    cfg = preset_config("smoke", "srresnet", train_dir=str(folder), train_lr_dir=str(lr_root), out=str(tmp_path),
                        val_holdout=0, val_dir=str(folder), data_workers=0)
    lr, hr = make_sampler(cfg).batch(0)
    lr_u8, hr_u8 = np.round(lr * 255).astype(np.uint8), np.round((hr + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(lr_u8, np.stack([_box(h) for h in hr_u8]))  # the user's LR, aligned with its HR
    cfg.data_workers = 1
    stream = make_sampler(cfg)
    try:
        np.testing.assert_array_equal(stream.batch(0)[0], lr)
    finally:
        stream.close()
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(lr_root / "img0x4.png")
    scan_folder.cache_clear()
    with pytest.raises(UserError, match=r"img0x4.png is 5x5, but its HR image img0.png \(90x70\) needs 22x17"):
        make_sampler(cfg)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_smoke_run_on_a_mixed_folder_then_resume_continues_exactly(folder: Path, tmp_path: Path,
                                                                   backend: str) -> None:
    """2 steps on the mixed folder (small and corrupt images skipped) with streaming workers, in both backends; a
    run stopped after 2 steps and resumed logs the same losses as one run of 4."""
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    if backend == "torch":
        from torch_srgan.train import train
    else:
        from keras_srgan.train import train
    extra = {"xla": False} if backend == "keras" else {}

    def cfg(out: Path, **kw) -> TrainConfig:
        return preset_config("smoke", "srresnet", backend=backend, train_dir=str(folder), out=str(out),
                             device="cpu", vgg_weights="random", iterations=4, data_workers=2, tensorboard=False,
                             **extra, **kw)

    def losses(out: Path) -> list[float]:
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        return [r["content"] for r in rows if "content" in r]

    train(cfg(tmp_path / "whole"))
    train(cfg(tmp_path / "parts"), stop_at=2)
    assert len(losses(tmp_path / "parts")) == 2
    assert json.loads((tmp_path / "parts" / VALIDATION_FILE).read_text())["held_out"] == ["img0.png"]
    train(cfg(tmp_path / "parts", resume=str(tmp_path / "parts")))
    assert losses(tmp_path / "parts") == pytest.approx(losses(tmp_path / "whole"), rel=1e-6, abs=0)


def test_prepare_crop_size_0_keeps_whole_images_and_training_crops_them_randomly(tmp_path: Path) -> None:
    datasets = DATASETS if (DATASETS / "BSDS500").is_dir() else pytest.skip(f"no datasets at {DATASETS}")
    from srcore.prepare import prepare

    src = tmp_path / "BSDS"
    for split in ("train", "val", "test"):
        (src / split).mkdir(parents=True)
        for f in sorted((datasets / "BSDS500" / split).glob("*.jpg"))[:2]:
            (src / split / f.name).symlink_to(f)
    out = tmp_path / "data"
    prepare(str(src), str(out), crop_size=0, workers=1, quiet=True)
    hr_files = sorted((out / "bsd500" / "train" / "hr").glob("*.png"))
    assert len(hr_files) == 4  # train + test
    for f in hr_files:
        (original,) = [p for split in ("train", "test") for p in (src / split).glob(f"{f.stem}.jpg")]
        np.testing.assert_array_equal(load_image(f, mode="rgb"), load_image(original, mode="rgb"))
    lr = load_image(out / "bsd500" / "train" / "lr_x4" / hr_files[0].name)
    assert lr.shape[:2] == (321 // 4, 481 // 4) or lr.shape[:2] == (481 // 4, 321 // 4)
    cfg = preset_config("quick", "srresnet", data=str(out), out=str(tmp_path / "run"), val_holdout=0)
    lr_b, _ = make_sampler(cfg).batch(0)
    assert lr_b.shape == (16, 24, 24, 3)
    with pytest.raises(UserError, match="or 0 \\(whole images\\)"):
        prepare(str(src), str(tmp_path / "d2"), crop_size=8, workers=1, quiet=True)
