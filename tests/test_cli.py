"""The entry scripts as a user runs them: one-line errors, the bicubic table, results merging."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore.results import read_rows

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bicubic_table_and_results_merge(tiny_data, tmp_path):
    p = run(str(REPO / "test.py"), "--bicubic", "--data", str(tiny_data), "--results-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "Tiny" in p.stdout
    rows = read_rows(tmp_path / "results.csv")
    assert [(r["model"], r["dataset"], r["scale"]) for r in rows] == [("bicubic", "Tiny", "4")]
    assert "--bicubic" in rows[0]["command"]
    # Re-running replaces the row rather than duplicating it.
    run(str(REPO / "test.py"), "--bicubic", "--data", str(tiny_data), "--results-dir", str(tmp_path))
    assert len(read_rows(tmp_path / "results.csv")) == 1
    assert "| bicubic |" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize("args,needles", [
    (["--bicubic", "--data", "/nonexistent"], ["no prepared benchmark"]),
    (["--weights", "/nonexistent.pth"], ["no such file"]),
    (["--weights", __file__], ["expected .pth"]),
])
def test_test_py_errors_are_one_line(args, needles):
    assert_one_line_error(run(str(REPO / "test.py"), *args), *needles)


def test_test_py_rejects_garbage_checkpoint(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    assert_one_line_error(run(str(REPO / "test.py"), "--weights", str(bad), "--no-results"), "bad.pth")


def test_trains_py_bad_options_are_one_line(tmp_path):
    assert_one_line_error(run(str(REPO / "trains.py"), "--patch-size", "30", "--out", str(tmp_path)),
                          "--patch-size")
    assert_one_line_error(run(str(REPO / "trains.py"), "--resume", str(tmp_path / "nope")), "--resume")


@pytest.mark.parametrize("backend,ckpt", [("torch", "last.pth"), ("keras", "last.weights.h5")])
def test_whole_recipe_through_the_scripts(backend, ckpt, tiny_data, tmp_path):
    """trains.py runs both phases, test.py scores the result, --resume of a finished run does nothing."""
    pytest.importorskip({"torch": "torch", "keras": "keras"}[backend])
    out, results = tmp_path / "run", tmp_path / "results"
    args = ["--backend", backend, "--preset", "smoke", "--data", str(tiny_data), "--out", str(out),
            "--vgg-weights", "random", "--no-xla"]
    p = run(str(REPO / "trains.py"), *args)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "RANDOM weights" in p.stderr  # the loud warning
    for phase in ("srresnet", "srgan"):
        assert (out / phase / ckpt).is_file() and (out / phase / "config.json").is_file()
        assert (out / phase / "log.jsonl").read_text().count("val_psnr") >= 2
    p = run(str(REPO / "test.py"), "--weights", str(out / "srgan" / ckpt), "--data", str(tiny_data),
            "--results-dir", str(results))
    assert p.returncode == 0, p.stderr[-2000:]
    (row,) = read_rows(results / "results.csv")
    assert (row["model"], row["backend"], row["run_backend"], row["iterations"]) == ("srgan", backend, backend, "4")
    p = run(str(REPO / "trains.py"), "--resume", str(out))
    assert p.returncode == 0 and p.stdout.count("nothing to do") == 2, p.stdout + p.stderr[-2000:]
    # Super-resolve a folder of the user's own images: RGB stays RGB, greyscale stays greyscale.
    src = tmp_path / "mine"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(src / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (13, 17), dtype=np.uint8)).save(src / "gray.jpg")
    p = run(str(REPO / "test.py"), "--weights", str(out / "srgan" / ckpt), "--input", str(src), "--output",
            str(tmp_path / "sr"), "--tile", "8")
    assert p.returncode == 0, p.stderr[-2000:]
    assert Image.open(tmp_path / "sr" / "rgb_x4.png").size == (96, 80)
    gray = Image.open(tmp_path / "sr" / "gray_x4.png")
    assert gray.size == (68, 52) and gray.mode == "L"


def test_adversarial_phase_from_shipped_weights_of_the_other_backend(tiny_data, tmp_path):
    """--pretrained takes a backend-neutral file (here the shipped PyTorch SRResNet, trained into Keras): the
    generator size comes from the file, the conversion lands in the run folder; a mismatch stops before data work."""
    pytest.importorskip("keras")
    shipped = str(REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors")
    out = tmp_path / "gan"
    p = run(str(REPO / "trains.py"), "--backend", "keras", "--model", "srgan", "--pretrained", shipped, "--preset",
            "smoke", "--iterations", "2", "--content-loss", "mse", "--data", str(tiny_data), "--out", str(out),
            "--no-xla", "--no-tensorboard")
    assert p.returncode == 0, p.stderr[-2000:]
    meta = json.loads((out / "srgan" / "last.json").read_text())
    assert (meta["arch"]["blocks"], meta["arch"]["channels"], meta["iteration"]) == (16, 64, 2)
    assert (out / "pretrained_srresnet_x4_torch_long.weights.h5").is_file()
    assert_one_line_error(run(str(REPO / "trains.py"), "--model", "srgan", "--pretrained", shipped, "--blocks", "2",
                              "--data", str(tmp_path / "no_data_here"), "--out", str(tmp_path / "x")), "blocks=16")
    # a supervised model fine-tunes weights of its own architecture only
    assert_one_line_error(run(str(REPO / "trains.py"), "--model", "vdsr", "--pretrained", shipped, "--data",
                              str(tmp_path / "no_data_here"), "--out", str(tmp_path / "y")),
                          "srresnet generator", "--model vdsr")
    folder = str(Path(shipped).parent)  # a folder, not a checkpoint: the checkpoints it holds are named
    assert_one_line_error(run(str(REPO / "trains.py"), "--model", "srresnet", "--pretrained", folder, "--data",
                              str(tmp_path / "no_data_here"), "--out", str(tmp_path / "z")),
                          f"{folder} is a folder", ".safetensors")
    assert not (tmp_path / "no_data_here").exists() and not (tmp_path / "y").exists()


def test_benchmark_script_writes_speed_table(tmp_path):
    """Not a timing test: the benchmark runs end to end and reports both backends (tiny inference only)."""
    out = tmp_path / "speed.md"
    installed = [b for b in ("torch", "keras") if importlib.util.find_spec(b) is not None]  # a one-framework install
    p = run(str(REPO / "benchmark.py"), "--what", "inference", "--size", "8", "--steps", "1", "--warmup", "0",
            "--backends", *installed, "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    text = out.read_text()
    assert "GFLOP/s" in text and all(f"| inference 8x8 -> 32x32 | {b} |" in text for b in installed)
    assert "failed" not in text


SHIPPED_SRRESNET = REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors"


def _table_lines(stdout: str, name: str) -> list[list[str]]:
    return [ln.split("\r")[-1].split() for ln in stdout.splitlines() if name in ln.split("\r")[-1]]


def test_own_photo_folder_is_scored_beside_bicubic_and_not_merged(tiny_data, tmp_path):
    pytest.importorskip("torch")
    mine = tmp_path / "my_photos"
    mine.mkdir()
    for f in (tiny_data / "benchmarks" / "Tiny" / "hr").iterdir():
        (mine / f.name).write_bytes(f.read_bytes())
    p = run(str(REPO / "test.py"), "--weights", str(SHIPPED_SRRESNET), "--data", str(tiny_data), "--datasets",
            str(mine), "Tiny", "--metrics", "psnr", "--results-dir", str(tmp_path / "res"))
    assert p.returncode == 0, p.stderr
    lines = _table_lines(p.stdout, "my_photos")
    assert [ln[0] for ln in lines] == ["srresnet", "bicubic"] and all(ln[-2] == "2" for ln in lines)
    assert float(lines[0][-1]) != float(lines[1][-1])
    rows = read_rows(tmp_path / "res" / "results.csv")  # only the benchmark's row is merged
    assert [r["dataset"] for r in rows] == ["Tiny"]


@pytest.mark.parametrize("make,needles", [
    (lambda d: None, ["no images in this folder"]),
    (lambda d: Image.new("RGB", (20, 20)).save(d / "small.png"), ["small.png", "too small"]),
])
def test_own_photo_folder_errors_are_one_line(make, needles, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    make(folder)
    p = run(str(REPO / "test.py"), "--bicubic", "--datasets", str(folder), "--no-results")
    assert_one_line_error(p, *needles)


def test_a_photo_folder_scores_like_the_prepared_benchmark(tmp_path):
    """Set5's own files as a photo folder give the published bicubic Set5 x4 (28.42 dB, e.g. VDSR's Table 2)."""
    from srcore.evaluate import bicubic_sr_function, evaluate_benchmarks
    from tests.conftest import needs_datasets

    folder = needs_datasets() / "Set5"
    (row,) = evaluate_benchmarks(bicubic_sr_function(4), tmp_path, [str(folder)], 4, metrics=["psnr"])
    assert row["images"] == 5 and row["psnr"] == pytest.approx(28.42, abs=0.01)
