"""The results table: rows merged into results/results.csv, markdown regenerated from it.

A row is keyed by (model, backend, run_backend, dataset, scale, weights): scoring the same
weights again replaces its row, anything else adds one. The markdown in results/README.md is
always rebuilt from the CSV, so the CSV is the single source of truth.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srcore.fileio import atomic_write_text

COLUMNS = ["model", "backend", "run_backend", "dataset", "scale", "psnr", "ssim", "images", "iterations",
           "weights", "command", "date"]
KEY = ("model", "backend", "run_backend", "dataset", "scale", "weights")

# Ledig et al. 2017, Table 2 (x4; PSNR dB / SSIM), for the comparison table.
PAPER = {
    ("bicubic", "Set5"): (28.43, 0.8211), ("bicubic", "Set14"): (25.99, 0.7486),
    ("bicubic", "BSD100"): (25.94, 0.6935),
    ("srresnet", "Set5"): (32.05, 0.9019), ("srresnet", "Set14"): (28.49, 0.8184),
    ("srresnet", "BSD100"): (27.58, 0.7620),
    ("srgan", "Set5"): (29.40, 0.8472), ("srgan", "Set14"): (26.02, 0.7397),
    ("srgan", "BSD100"): (25.16, 0.6688),
}

_MARKER_START = "<!-- results-table:start (generated from results.csv by srcore/results.py; do not edit) -->"
_MARKER_END = "<!-- results-table:end -->"


def read_rows(csv_path: str | Path) -> list[dict[str, str]]:
    path = Path(csv_path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(k, "")) for k in KEY)


def merge_rows(results_dir: str | Path, new_rows: Iterable[dict[str, Any]]) -> Path:
    """Add or replace rows in RESULTS_DIR/results.csv, then regenerate RESULTS_DIR/README.md."""
    results_dir = Path(results_dir)
    csv_path = results_dir / "results.csv"
    rows = {_key(r): r for r in read_rows(csv_path)}
    for r in new_rows:
        r = dict(r)
        for k in ("psnr", "ssim"):
            if isinstance(r.get(k), float):
                r[k] = f"{r[k]:.4f}"
        rows[_key(r)] = {c: r.get(c, "") for c in COLUMNS}
    ordered = sorted(rows.values(), key=_sort_key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    atomic_write_text(csv_path, buf.getvalue())
    write_markdown(results_dir, ordered)
    return csv_path


def _sort_key(r: dict[str, Any]) -> tuple:
    model_order = {"bicubic": 0, "srcnn": 1, "vdsr": 2, "srresnet": 3, "srgan": 4}
    ds_order = {"Set5": 0, "Set14": 1, "BSD100": 2}
    return (int(r.get("scale") or 0), model_order.get(r.get("model", ""), 9), r.get("backend", ""),
            r.get("run_backend", ""), r.get("weights", ""), ds_order.get(r.get("dataset", ""), 9), r.get("dataset", ""))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| model | trained in | run in | scale | dataset | PSNR (dB) | SSIM | paper PSNR / SSIM | iterations "
            "| weights |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        paper = PAPER.get((r["model"], r["dataset"])) if str(r["scale"]) == "4" else None
        paper_s = f"{paper[0]:.2f} / {paper[1]:.4f}" if paper else ""
        psnr_s = f"{float(r['psnr']):.2f}" if r.get("psnr") else ""
        ssim_s = f"{float(r['ssim']):.4f}" if r.get("ssim") else ""
        lines.append(f"| {r['model']} | {r['backend']} | {r['run_backend']} | x{r['scale']} | {r['dataset']} | "
                     f"{psnr_s} | {ssim_s} | {paper_s} | {r.get('iterations', '')} | {r.get('weights', '')} |")
    return "\n".join(lines)


def write_markdown(results_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Replace the generated table inside RESULTS_DIR/README.md, keeping any hand-written text around it."""
    md_path = Path(results_dir) / "README.md"
    table = f"{_MARKER_START}\n{markdown_table(rows)}\n{_MARKER_END}"
    if md_path.exists() and _MARKER_START in (text := md_path.read_text()) and _MARKER_END in text:
        before, rest = text.split(_MARKER_START, 1)
        after = rest.split(_MARKER_END, 1)[1]
        new = before + table + after
    else:
        new = ("# Results\n\nPSNR/SSIM on the Y channel, `scale` pixels removed at each border (see the project "
               "README). Every row comes from `results.csv`; its `command` column reproduces it.\n\n"
               f"{table}\n")
    atomic_write_text(md_path, new)
    return md_path


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'dataset':<10} {'scale':>5} {'images':>6} {'PSNR':>8} {'SSIM':>7}")
    for r in rows:
        print(f"{r['dataset']:<10} {'x' + str(r['scale']):>5} {r.get('images', ''):>6} "
              f"{float(r['psnr']):>8.2f} {float(r['ssim']):>7.4f}")
