"""Failure behaviour: outputs checked before work, concurrent result merges, tamper-evident Keras metadata,
validated numeric options, folders with a bad image, the offline message."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore.results import merge_rows, read_rows

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def one_error_line(p: subprocess.CompletedProcess, *needles: str) -> str:
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    (line,) = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    for n in needles:
        assert n in line, line
    return line


def _merge(args: tuple[str, int]) -> None:
    folder, worker = args
    for i in range(5):
        merge_rows(folder, [{"model": "m", "backend": "torch", "run_backend": "torch", "dataset": f"D{worker}_{i}",
                             "scale": 4, "psnr": 30.0, "ssim": 0.9, "weights": "w"}])


def test_concurrent_scorers_lose_no_row(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_merge, [(str(tmp_path), w) for w in range(8)])
    assert len(read_rows(tmp_path / "results.csv")) == 40


def test_unwritable_outputs_fail_before_any_work(tiny_data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    one_error_line(run(str(REPO / "test.py"), "--bicubic", "--data", str(tiny_data), "--results-dir",
                       str(blocker / "r")), "--results-dir", "is a file")
    one_error_line(run(str(REPO / "test.py"), "--bicubic", "--data", str(tiny_data), "--no-results",
                       "--save-images", str(blocker / "img")), "--save-images")
    one_error_line(run(str(REPO / "trains.py"), "--preset", "smoke", "--data", str(tiny_data), "--out",
                       str(blocker / "run")), "--out")
    shipped = REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors"
    one_error_line(run(str(REPO / "convert_weights.py"), str(shipped), str(blocker / "x.pth")), "OUT")
    one_error_line(run(str(REPO / "test.py"), "--weights", str(shipped), "--input", str(tiny_data / "benchmarks"),
                       "--output", str(blocker / "sr")), "--output")
    p = run(str(REPO / "benchmark.py"), "--out", str(blocker / "speed.md"))
    assert p.returncode == 2 and "--out" in p.stderr and "GFLOP" not in p.stdout  # nothing measured first


def test_keras_metadata_without_file_hashes_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from srconvert.convert import convert_checkpoint
    from srcore.checkpoint import CheckpointError

    shipped = REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors"
    ckpt = tmp_path / "k.weights.h5"
    convert_checkpoint(shipped, ckpt)
    from keras_srgan.checkpoint import load_checkpoint

    load_checkpoint(ckpt)  # intact: fine
    meta_path = tmp_path / "k.json"
    meta = json.loads(meta_path.read_text())
    del meta["files"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(ckpt)


def test_numeric_options_are_validated(tiny_data: Path, tmp_path: Path) -> None:
    one_error_line(run(str(REPO / "trains.py"), "--preset", "smoke", "--val-images", "-1", "--data", str(tiny_data),
                       "--out", str(tmp_path / "r")), "--val-images")
    for tile in ("-5", "1"):
        one_error_line(run(str(REPO / "test.py"), "--bicubic", "--data", str(tiny_data), "--no-results", "--tile",
                           tile), "--tile")


def test_input_folder_skips_a_bad_image_and_finishes_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(src / "a.png")
    (src / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "c.png")
    shipped = REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors"
    p = run(str(REPO / "test.py"), "--weights", str(shipped), "--input", str(src), "--output", str(tmp_path / "out"))
    one_error_line(p, "2 of 3", "b.jpg")
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["a_x4.png", "c_x4.png"]


def test_offline_message_names_the_ways_without_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from srcore import vgg_weights
    from srcore.errors import UserError
    from torch_srgan.losses import check_vgg_available

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("no network")

    monkeypatch.setattr(vgg_weights, "download", offline)
    with pytest.raises(UserError) as info:
        check_vgg_available(None)
    assert "--content-loss mse" in str(info.value) and "--vgg-weights random" in str(info.value)


def test_divergence_message_says_what_was_kept(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from srcore.config import preset_config
    from srcore.errors import UserError
    from torch_srgan.train import train

    cfg = preset_config("smoke", "srresnet", data=str(tiny_data), out=str(tmp_path / "r"), lr=1e30, device="cpu",
                        iterations=6, tensorboard=False).validate()
    with pytest.raises(UserError, match="diverged at iteration") as info:
        train(cfg)
    assert "\n" not in str(info.value) and "lower --lr" in str(info.value)
    saved = (tmp_path / "r" / "last.pth").is_file()
    assert ("is intact" in str(info.value)) == saved and ("no checkpoint" in str(info.value)) == (not saved)
