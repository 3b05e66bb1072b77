"""Metrics as a registry: a metric registered by a test alone reaches test.py's table, results.csv, the
markdown tables, the validation log and the choice of the `best` checkpoint, with no project file edited."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from srcore.checkpoint import RunState
from srcore.errors import UserError
from srcore.loop import _postfix, tensorboard_tag
from srcore.metrics import METRICS, better, metric, metric_names
from srcore.results import read_rows

REPO = Path(__file__).resolve().parents[1]


def _load_test_py():
    """test.py as a module (its name would clash with the standard library's `test`)."""
    spec = importlib.util.spec_from_file_location("_script_test", REPO / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mean_abs(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> float:
    c = crop_border
    a, b = (np.asarray(x, np.float64)[c:-c or None, c:-c or None] for x in (sr, hr))
    return float(np.mean(np.abs(a - b)))


@pytest.fixture
def meanabs() -> Iterator[str]:
    """A toy metric, lower is better, registered for one test only."""
    metric("meanabs", higher_is_better=False, fmt="{:.3f}", title="mean |SR-HR|",
           description="mean absolute difference of all channels (a test's toy metric)")(_mean_abs)
    try:
        yield "meanabs"
    finally:
        METRICS.unregister("meanabs")


def test_specs_directions_and_unknown_names(meanabs: str) -> None:
    assert METRICS.names()[:2] == ("psnr", "ssim") and meanabs in METRICS
    assert METRICS["psnr"].heading == "PSNR (dB) ↑" and METRICS[meanabs].heading == "mean |SR-HR| ↓"
    assert METRICS["psnr"].format(28.4291) == "28.43" and METRICS["ssim"].format(0.81114) == "0.8111"
    assert better("psnr", 30.0, 29.0) and not better("psnr", 29.0, 30.0) and better("psnr", 1.0, None)
    assert better(meanabs, 1.0, 2.0) and not better(meanabs, 2.0, 1.0) and not better(meanabs, 1.0, 1.0)
    assert metric_names(["ssim", "psnr", "ssim"]) == ("ssim", "psnr")
    with pytest.raises(UserError, match="unknown metric 'nope'; expected one of psnr, ssim"):
        metric_names(["psnr", "nope"])
    assert tensorboard_tag(f"val_{meanabs}") == f"val/{meanabs}" and tensorboard_tag("val_psnr") == "val/psnr"
    assert _postfix({"content": 0.5, "g_loss": 1.0}, meanabs, 0.12345) == {"content": "0.5", meanabs: "0.123"}


def test_run_state_reads_old_and_new_metadata() -> None:
    old = RunState.from_meta({"iteration": 7, "best_psnr": 21.5, "train_seconds": 3.0})
    assert (old.iteration, old.best_metric, old.best_value, old.best_psnr) == (7, "psnr", 21.5, 21.5)
    new = RunState.from_meta({"iteration": 7, "best_metric": "meanabs", "best_value": 4.0})
    assert new.best("meanabs") == 4.0 and new.best("psnr") is None and new.best_psnr is None


def test_test_py_scores_with_a_registered_metric(meanabs: str, tiny_data: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    test_py = _load_test_py()
    args = ["--bicubic", "--data", str(tiny_data), "--results-dir", str(tmp_path)]
    assert test_py.main([*args, "--metrics", "psnr", meanabs]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("dataset"))
    assert "PSNR (dB) ↑" in header and "mean |SR-HR| ↓" in header and "SSIM" not in header
    (row,) = read_rows(tmp_path / "results.csv")
    assert row["model"] == "bicubic" and float(row["psnr"]) > 0 and "ssim" not in row  # only the chosen metrics
    value = float(row[meanabs])
    assert value > 0 and f"{value:.3f}" in out  # the table shows it in the metric's own format
    columns = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert columns[columns.index("scale") + 1:columns.index("images")] == ["psnr", meanabs]
    assert "| PSNR (dB) ↑ | mean |SR-HR| ↓ |" in (tmp_path / "README.md").read_text()

    assert test_py.main([*args, "--metrics", "psnr", "nope"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: --metrics unknown metric 'nope'")


def test_training_chooses_best_by_a_registered_metric(meanabs: str, tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from srcore.config import preset_config
    from torch_srgan.checkpoint import load_checkpoint
    from torch_srgan.train import train

    cfg = preset_config("smoke", "srresnet", backend="torch", data=str(tiny_data), out=str(tmp_path),
                        vgg_weights="random", device="cpu", best_metric=meanabs)
    train(cfg)
    vals = [r for r in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines()) if "val_psnr" in r]
    assert [r["step"] for r in vals] == [2, 4] and all({"val_ssim", f"val_{meanabs}"} <= r.keys() for r in vals)
    scores = {r["step"]: r[f"val_{meanabs}"] for r in vals}
    assert scores[2] != scores[4]  # so that the lowest and the highest are different validations
    lowest = min(scores, key=scores.get)
    best, _ = load_checkpoint(tmp_path / "best.pth")
    assert best["iteration"] == lowest and best["best_metric"] == meanabs
    last, _ = load_checkpoint(tmp_path / "last.pth")
    assert last["best_value"] == pytest.approx(scores[lowest]) and "best_psnr" not in last
    resumed = RunState.from_meta(last)
    assert resumed.best(meanabs) == pytest.approx(scores[lowest])
