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

from srcore.fileio import atomic_write_text, locked

COLUMNS = ["model", "backend", "run_backend", "dataset", "scale", "psnr", "ssim", "images", "iterations",
           "content_loss", "train_seconds", "device", "weights", "command", "date"]
KEY = ("model", "backend", "run_backend", "dataset", "scale", "weights")
DATASETS = ("Set5", "Set14", "BSD100")  # the paper's order; other sets follow by name

# Ledig et al. 2017, Table 2 (x4; PSNR dB, SSIM), quoted in the table beside our rows. "SRGAN" is the
# paper's SRGAN-VGG54. The paper's SSIM implementation differs from ours (see the bicubic rows).
PAPER = {
    "bicubic": {"Set5": (28.43, 0.8211), "Set14": (25.99, 0.7486), "BSD100": (25.94, 0.6935)},
    "srresnet": {"Set5": (32.05, 0.9019), "Set14": (28.49, 0.8184), "BSD100": (27.58, 0.7620)},
    "srgan": {"Set5": (29.40, 0.8472), "Set14": (26.02, 0.7397), "BSD100": (25.16, 0.6688)},
    # Kim et al. 2016 (VDSR), Table 3, x4: SRCNN (Dong et al. 2016) as quoted there, and VDSR itself.
    "srcnn": {"Set5": (30.48, 0.8628), "Set14": (27.49, 0.7503), "BSD100": (26.90, 0.7101)},
    "vdsr": {"Set5": (31.35, 0.8838), "Set14": (28.01, 0.7674), "BSD100": (27.29, 0.7251)},
}
PAPER_SETUP = {  # (content loss, training) as the papers describe them
    "bicubic": ("", ""),
    "srresnet": ("MSE", "10^6 iterations, 350k ImageNet images"),
    "srgan": ("VGG54 + 10^-3 adversarial", "10^5 + 10^5 iterations from SRResNet"),
    "srcnn": ("MSE (Y channel)", "SGD, ~10^8 backprops (91 images or ImageNet)"),
    "vdsr": ("MSE (Y channel)", "SGD + clipping, 80 epochs, 291 images"),
}
PAPER_SOURCE = {"srcnn": "Kim et al., Table 3", "vdsr": "Kim et al., Table 3"}  # others: Ledig et al., Table 2

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
    with locked(csv_path):  # scorers finishing together each add their rows; none is lost
        return _merge_locked(results_dir, csv_path, new_rows)


def _merge_locked(results_dir: Path, csv_path: Path, new_rows: Iterable[dict[str, Any]]) -> Path:
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


MODEL_ORDER = {"bicubic": 0, "srcnn": 1, "vdsr": 2, "srresnet": 3, "srgan": 4}  # rows and tables list models so


def _sort_key(r: dict[str, Any]) -> tuple:
    ds_order = {name: i for i, name in enumerate(DATASETS)}
    return (int(r.get("scale") or 0), MODEL_ORDER.get(r.get("model", ""), 9), r.get("backend", ""),
            r.get("run_backend", ""), r.get("weights", ""), ds_order.get(r.get("dataset", ""), 9), r.get("dataset", ""))


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _content_loss(r: dict[str, Any]) -> str:
    loss = str(r.get("content_loss") or "")
    if r.get("model") == "srgan" and loss:
        return f"{loss.upper()} + 10^-3 adversarial"
    return loss.upper()


def _row_line(r: dict[str, Any], commands: list[str]) -> str:
    """One of our rows; its command joins `commands` (numbered in the Commands list)."""
    command = str(r.get("command", ""))
    if command and command not in commands:
        commands.append(command)
    ref = f"[{commands.index(command) + 1}](#commands)" if command else ""
    iterations = f"{r['iterations']} it" if r.get("iterations") not in ("", None) else ""
    psnr_s = f"{float(r['psnr']):.2f}" if r.get("psnr") else ""
    ssim_s = f"{float(r['ssim']):.4f}" if r.get("ssim") else ""
    weights = f"`{r['weights']}`" if r.get("weights") else ""
    return (f"| {r['model']} | {_content_loss(r)} | {r['backend']} | {r['run_backend']} | {iterations} | "
            f"{_duration(r.get('train_seconds'))} | {r.get('device', '')} | {psnr_s} | {ssim_s} | {weights} | {ref} |")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One table per (scale, dataset): bicubic, the paper's rows (x4, quoted), ours; then the commands."""
    commands: list[str] = []
    out = []
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((int(r.get("scale") or 0), str(r.get("dataset", ""))), []).append(r)
    ds_order = {name: i for i, name in enumerate(DATASETS)}
    for scale, dataset in sorted(groups, key=lambda k: (k[0], ds_order.get(k[1], 9), k[1])):
        out += [f"### {dataset}, x{scale}", "",
                "| model | content loss | trained in | run in | training | time | device | PSNR (dB) | SSIM | weights "
                "| command |", "|" + "---|" * 11]
        ours = groups[(scale, dataset)]
        models = list(dict.fromkeys([*(m for m in PAPER if scale == 4 and dataset in PAPER[m]),
                                     *(str(r["model"]) for r in ours)]))
        models.sort(key=lambda m: MODEL_ORDER.get(m, 9))
        for model in models:
            if scale == 4 and dataset in PAPER.get(model, {}):
                psnr, ssim = PAPER[model][dataset]
                loss, training = PAPER_SETUP[model]
                source = PAPER_SOURCE.get(model, "Ledig et al., Table 2")
                out.append(f"| *{model}: {source} (quoted)* | {loss} | | | {training} | | | {psnr:.2f} | "
                           f"{ssim:.4f} | | |")
            for r in (r for r in ours if r["model"] == model):
                out.append(_row_line(r, commands))
        out.append("")
    if commands:
        out += ["### Commands", "", "Each of our rows was printed and merged by one of these:", ""]
        out += [f"{i}. `{c}`" for i, c in enumerate(commands, 1)]
    return "\n".join(out).rstrip()


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
