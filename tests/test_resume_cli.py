"""--resume as users use it: moved and copied run folders, from any directory; extending a finished run;
options that cannot change refused before any work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("torch")


def trains(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "trains.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def last_iteration(phase_dir: Path) -> int:
    from torch_srgan.checkpoint import load_checkpoint

    return load_checkpoint(phase_dir / "last.pth")[0]["iteration"]


@pytest.fixture(scope="module")
def finished_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-iteration smoke SRResNet run made with relative paths from its own working directory."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(tiny_data, home / "data")
    p = trains("--model", "srresnet", "--preset", "smoke", "--data", "data", "--out", "runs/a", "--no-tensorboard",
               cwd=home)
    assert p.returncode == 0, p.stderr[-2000:]
    return home / "runs" / "a"


def test_copied_run_resumes_itself_from_anywhere(finished_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(finished_run, copy)
    original_log = (finished_run / "srresnet" / "log.jsonl").read_text()
    p = trains("--resume", str(copy), "--iterations", "6", cwd=tmp_path)  # another working directory
    assert p.returncode == 0, p.stderr[-2000:]
    assert last_iteration(copy / "srresnet") == 6 and last_iteration(finished_run / "srresnet") == 4
    assert (finished_run / "srresnet" / "log.jsonl").read_text() == original_log  # the original is untouched
    recipe = json.loads((copy / "recipe.json").read_text())
    assert recipe[0]["iterations"] == 6 and recipe[0]["out"] == "srresnet"  # recorded, relative to the folder
    assert "iterations 4 -> 6" in p.stdout


def test_resume_refuses_options_that_change_the_run(finished_run: Path, tmp_path: Path) -> None:
    p = trains("--resume", str(finished_run), "--lr", "1", "--blocks", "3", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert "--blocks" in line and "--lr" in line and "cannot change" in line


def test_resume_never_prepares_data_elsewhere(finished_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    p = trains("--resume", str(copy), "--iterations", "5", "--data", str(tmp_path / "nothing"), cwd=tmp_path)
    assert p.returncode == 2 and "--data" in p.stderr and not (tmp_path / "nothing").exists()


def _losses(phase_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (phase_dir / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["g_loss"] for r in rows if "g_loss" in r}


def generator_only(src: Path, dst: Path) -> Path:
    p = subprocess.run([sys.executable, str(REPO / "convert_weights.py"), "--generator-only", str(src), str(dst)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return dst


def _snapshot(run: Path, tmp_path: Path) -> Path:
    """A generator-only snapshot of `run`'s last checkpoint, its full checkpoints removed (what a committed
    in-progress run too big to keep whole looks like)."""
    snap = generator_only(run / "srresnet" / "last.pth", tmp_path / "snapshot.safetensors")
    for f in (run / "srresnet").glob("*.pth"):
        f.unlink()
    return snap


def test_warm_restart_continues_from_generator_weights_at_their_iteration(finished_run: Path,
                                                                          tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    shutil.copytree(finished_run, exact)
    p = trains("--resume", str(exact), "--iterations", "6", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    warm = tmp_path / "warm"
    shutil.copytree(finished_run, warm)
    snap = _snapshot(warm, tmp_path)
    p = trains("--resume", str(warm), "--warm-restart", str(snap), "--iterations", "6", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "warm restart of srresnet" in p.stdout and "at iteration 4" in p.stdout
    assert last_iteration(warm / "srresnet") == 6
    ours, theirs = _losses(warm / "srresnet"), _losses(exact / "srresnet")
    assert sorted(ours) == sorted(theirs) == [1, 2, 3, 4, 5, 6]
    assert all(ours[s] == theirs[s] for s in (1, 2, 3, 4))  # the log before the restart is kept
    assert ours[5] == pytest.approx(theirs[5], rel=1e-5)  # the same weights and batch: step 5's loss agrees
    assert json.loads((warm / "recipe.json").read_text())[0]["warm_restart"] is None  # not a part of the run


def test_warm_restart_refuses_to_replace_a_full_checkpoint_or_to_start_a_run(finished_run: Path,
                                                                            tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    snap = generator_only(run / "srresnet" / "last.pth", tmp_path / "g.safetensors")
    before = (run / "srresnet" / "last.pth").read_bytes()
    for args, words in ((("--resume", str(run), "--warm-restart", str(snap), "--iterations", "6"),
                         "resumes exactly"),
                        (("--warm-restart", str(snap), "--model", "srresnet", "--preset", "smoke"), "--resume"),
                        (("--resume", str(run), "--warm-restart", str(tmp_path / "none.pth")), "no such")):
        p = trains(*args, cwd=tmp_path)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
        (line,) = [x for x in p.stderr.splitlines() if x.startswith("error:")]
        assert words in line
    assert (run / "srresnet" / "last.pth").read_bytes() == before


def test_keras_warm_restart_continues_like_the_exact_resume_at_its_first_step(tiny_data: Path,
                                                                              tmp_path: Path) -> None:
    pytest.importorskip("keras")
    run = tmp_path / "k"
    p = trains("--backend", "keras", "--model", "srresnet", "--preset", "smoke", "--data", str(tiny_data),
               "--out", str(run), "--no-tensorboard", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    exact, warm, snap = tmp_path / "exact", tmp_path / "warm", tmp_path / "k.safetensors"
    shutil.copytree(run, exact)
    shutil.copytree(run, warm)
    generator_only(run / "srresnet" / "last.weights.h5", snap)
    for f in (warm / "srresnet").glob("*"):
        if f.name.startswith(("last", "best")):
            f.unlink()
    for folder, extra in ((exact, ()), (warm, ("--warm-restart", str(snap)))):
        p = trains("--resume", str(folder), *extra, "--iterations", "6", cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-2000:]
    ours, theirs = _losses(warm / "srresnet"), _losses(exact / "srresnet")
    assert sorted(ours) == sorted(theirs) == [1, 2, 3, 4, 5, 6]
    assert ours[5] == pytest.approx(theirs[5], rel=1e-4)


def test_a_train_dir_run_given_relative_resumes(tiny_data: Path, tmp_path: Path) -> None:
    """--train-dir given relative: recipe.json holds it absolute and the phase's config.json as given; --resume
    (with the folder given again, relative, or from another working folder) is no edit and no change."""
    home = tmp_path / "home"
    shutil.copytree(tiny_data / "bsd500" / "train" / "hr", home / "imgs")
    p = trains("--model", "srresnet", "--preset", "smoke", "--train-dir", "./imgs/", "--val-holdout", "2",
               "--iterations", "2", "--out", "runs/f", "--no-tensorboard", cwd=home)
    assert p.returncode == 0, p.stderr[-2000:]
    p = trains("--resume", "runs/f", "--iterations", "3", "--train-dir", "imgs", cwd=home)
    assert p.returncode == 0, p.stderr[-2000:]
    assert last_iteration(home / "runs" / "f" / "srresnet") == 3
    p = trains("--resume", str(home / "runs" / "f"), "--iterations", "4", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert last_iteration(home / "runs" / "f" / "srresnet") == 4
    p = trains("--resume", str(home / "runs" / "f"), "--train-dir", str(tiny_data / "bsd500" / "val" / "hr"),
               cwd=tmp_path)  # another folder is a change, refused
    assert p.returncode == 2 and "--train-dir" in p.stderr and "cannot change" in p.stderr


def test_same_folder_compares_a_relative_record_with_the_absolute_one() -> None:
    from srapp.options import same_folder

    assert same_folder("imgs/", "/home/u/imgs") and same_folder("./a/b", "/x/a/b") and same_folder(None, None)
    assert not same_folder("imgs", "/home/u/other") and not same_folder("a/b", "/x/c/b")
    assert not same_folder("/home/u/imgs", "/home/u/other") and not same_folder(None, "/home/u/imgs")
    assert same_folder("../imgs", "/anywhere/else")  # where '..' led is not recorded
