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
