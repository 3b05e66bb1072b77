"""benchmark.py's data rows (srapp.databench): not timing tests; the measurements run and the report keeps them."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srapp.benchmarking import write_report
from srapp.databench import (
    HEADING,
    make_synthetic_folder,
    measure_loop,
    measure_memory,
    measure_throughput,
    split_report,
    write_section,
)
from srcore.imagefolder import CACHE_ENV


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (18, 24, 3), dtype=np.uint8)).resize((96, 72)).save(root / f"{i}.jpg")
    return root


@pytest.mark.parametrize("workers", [0, 1])
def test_throughput_child_measures_the_folder_source(tmp_path: Path, workers: int) -> None:
    row = measure_throughput({"folder": str(_folder(tmp_path / "j")), "workers": workers, "out": str(tmp_path / "r"),
                              "preset": "smoke", "batches": 4})
    assert row["samples_per_s"] > 0 and (math.isnan(row["per_cpu_second"]) or row["per_cpu_second"] > 0)


def test_memory_child_counts_each_data_worker(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = make_synthetic_folder(tmp_path / "syn", 12, side=64)
    assert len(list(folder.rglob("*.jpg"))) == 12
    row = measure_memory({"folder": str(folder), "workers": 1, "out": str(tmp_path / "r"), "preset": "smoke",
                          "backend": "torch", "device": "cpu"})
    assert row["streamed"] and len(row["workers_mb"]) == 1 and row["workers_mb"][0] > 10
    assert row["total_mb"] == pytest.approx(row["main_mb"] + row["workers_mb"][0])


@pytest.mark.parametrize("workers", [-1, 1])
def test_loop_child_compares_fed_and_bare_steps(tmp_path: Path, workers: int) -> None:
    pytest.importorskip("torch")
    row = measure_loop({"folder": str(_folder(tmp_path / "j")), "workers": workers, "out": str(tmp_path / "r"),
                        "preset": "smoke", "backend": "torch", "device": "cpu", "steps": 2})
    assert row["bare"] > 0 and row["fed"] > 0 and row["streamed"] == (workers == 1)
    assert 0 <= row["data_share"] <= 1


def test_the_data_section_survives_the_training_rows_report_and_is_replaced_in_place(tmp_path: Path) -> None:
    out = tmp_path / "speed.md"
    write_section(out, [HEADING, "", "first data rows"])  # no report yet: a minimal one
    assert split_report(out.read_text()) == ("# Speed\n\n", f"{HEADING}\n\nfirst data rows\n")
    args = argparse.Namespace(size=8, device=None, steps=1, warmup=0)
    write_report(out, [], 1.0, args)  # the training rows' report, rewritten by their own run
    text = out.read_text()
    assert text.startswith("# Speed") and text.count(HEADING) == 1 and text.endswith("first data rows\n")
    write_section(out, [HEADING, "", "second data rows"])
    text = out.read_text()
    assert text.count(HEADING) == 1 and "first data rows" not in text and text.endswith("second data rows\n")
    assert "| measurement |" in split_report(text)[0]
