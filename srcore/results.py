"""The results table: rows merged into results/results.csv, markdown regenerated from it.

A row is keyed by (model, backend, run_backend, dataset, scale, weights): scoring the same
weights again replaces its row, anything else adds one. The markdown in results/README.md is
always rebuilt from the CSV, so the CSV is the single source of truth. The metric columns are those of
the registered metrics (srcore.metrics.METRICS) that some row has, in registry order: psnr and ssim today.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srcore.arch import MODELS, ModelSpec, model_order
from srcore.fileio import atomic_write_text, locked
from srcore.metrics import METRICS, present_metrics

# results.csv's columns are these with the metric columns between them (see `columns`).
LEADING_COLUMNS = ["model", "backend", "run_backend", "dataset", "scale"]
# precision: what the model trained in (and was scored in, when not fp32); empty in rows from before it existed.
TRAILING_COLUMNS = ["images", "iterations", "content_loss", "train_seconds", "device", "precision", "weights",
                    "command", "date"]
CSV_FORMAT = "{:.4f}"  # a metric value in results.csv
KEY = ("model", "backend", "run_backend", "dataset", "scale", "weights")
DATASETS = ("Set5", "Set14", "BSD100")  # the paper's order; other sets follow by name

# The published x4 numbers quoted beside ours: each model's own (its ModelSpec in srcore/archs/: paper,
# paper_setup, paper_source), and bicubic's from Ledig et al. 2017, Table 2 (PSNR dB, SSIM). The papers' SSIM
# implementations differ from ours (see the bicubic rows).
BICUBIC_PAPER = ModelSpec("bicubic", "", "supervised", "", "bicubic", order=0,
                          paper={"Set5": (28.43, 0.8211), "Set14": (25.99, 0.7486), "BSD100": (25.94, 0.6935)},
                          paper_source="Ledig et al., Table 2")


def published() -> dict[str, ModelSpec]:
    """Every model with published numbers, bicubic first."""
    return {"bicubic": BICUBIC_PAPER, **{m.name: m for m in MODELS.values() if m.paper}}

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


def _filled(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The keys that have a value in some row, in order of first appearance."""
    return list(dict.fromkeys(k for r in rows for k, v in r.items() if k is not None and v not in ("", None)))


def metrics_in(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The registered metrics that some row has a value of, in registry order."""
    return present_metrics(_filled(rows))


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """results.csv's columns for `rows`: their metrics between the fixed columns. A column of a metric that is
    not registered now (a CSV written with one) is kept after the registered ones rather than dropped."""
    fixed = {*LEADING_COLUMNS, *TRAILING_COLUMNS}
    unknown = [k for k in _filled(rows) if k not in fixed and k not in METRICS]
    return [*LEADING_COLUMNS, *metrics_in(rows), *unknown, *TRAILING_COLUMNS]


def merge_rows(results_dir: str | Path, new_rows: Iterable[dict[str, Any]]) -> Path:
    """Add or replace rows in RESULTS_DIR/results.csv, then regenerate RESULTS_DIR/README.md."""
    results_dir = Path(results_dir)
    csv_path = results_dir / "results.csv"
    with locked(csv_path):  # scorers finishing together each add their rows; none is lost
        return _merge_locked(results_dir, csv_path, new_rows)


def _merge_locked(results_dir: Path, csv_path: Path, new_rows: Iterable[dict[str, Any]]) -> Path:
    rows = {_key(r): r for r in read_rows(csv_path)}
    for r in new_rows:
        # A new row keeps the fixed columns and its registered metrics (other keys are not results).
        r = {k: CSV_FORMAT.format(v) if k in METRICS and isinstance(v, float) else csv_safe(v) for k, v in r.items()
             if k in LEADING_COLUMNS or k in TRAILING_COLUMNS or k in METRICS}
        rows[_key(r)] = r
    ordered = sorted(rows.values(), key=_sort_key)
    fields = columns(ordered)
    ordered = [{c: r.get(c, "") for c in fields} for r in ordered]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    atomic_write_text(csv_path, buf.getvalue())
    write_markdown(results_dir, ordered)
    return csv_path




def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as text: strings from checkpoint metadata or a command line that start like a
    formula (=, +, -, @) get a leading apostrophe (OWASP's advice against CSV injection); numbers stay."""
    if not isinstance(value, str) or not value or value == "-" or value[0] not in "=+-@\t\r":
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def md_cell(value: Any) -> str:
    """Text safe inside a generated markdown table cell: no cell separator, line break or HTML comment (which
    could end the generated block early and break its next regeneration)."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|").replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def _sort_key(r: dict[str, Any]) -> tuple:
    ds_order = {name: i for i, name in enumerate(DATASETS)}
    return (int(r.get("scale") or 0), model_order(r.get("model", "")), r.get("backend", ""),
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


def _row_line(r: dict[str, Any], metrics: list[str], commands: list[str]) -> str:
    """One of our rows; its command joins `commands` (numbered in the Commands list)."""
    command = str(r.get("command", ""))
    if command and command not in commands:
        commands.append(command)
    ref = f"[{commands.index(command) + 1}](#commands)" if command else ""
    iterations = f"{r['iterations']} it" if r.get("iterations") not in ("", None) else ""
    weights = f"`{md_cell(r['weights'])}`" if r.get("weights") else ""
    cells = [md_cell(r.get(k, "")) for k in ("model", "backend", "run_backend")]
    return (f"| {cells[0]} | {md_cell(_content_loss(r))} | {cells[1]} | {cells[2]} | {md_cell(iterations)} | "
            f"{_duration(r.get('train_seconds'))} | {md_cell(r.get('device', ''))} | {_metric_cells(r, metrics)} | "
            f"{weights} | {ref} |")


def _metric_cells(r: dict[str, Any], metrics: list[str], sep: str = " | ") -> str:
    """A row's values of `metrics`, each in its metric's display format ("" where the row has none)."""
    return sep.join("" if r.get(m) in ("", None) else METRICS[m].format(float(r[m])) for m in metrics)


def _paper_scores(model: str, dataset: str) -> dict[str, float]:
    """The values the paper quotes for `model` on `dataset` (x4), by metric."""
    return dict(zip(("psnr", "ssim"), published()[model].paper[dataset]))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One table per (scale, dataset): bicubic, the paper's rows (x4, quoted), ours; then the commands."""
    commands: list[str] = []
    out = []
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((int(r.get("scale") or 0), str(r.get("dataset", ""))), []).append(r)
    ds_order = {name: i for i, name in enumerate(DATASETS)}
    for scale, dataset in sorted(groups, key=lambda k: (k[0], ds_order.get(k[1], 9), k[1])):
        ours = groups[(scale, dataset)]
        paper = {m: _paper_scores(m, dataset) for m, spec in published().items()
                 if scale == 4 and dataset in spec.paper}
        metrics = metrics_in([*paper.values(), *ours])
        headings = "".join(f" {METRICS[m].heading} |" for m in metrics)
        out += [f"### {dataset}, x{scale}", "",
                f"| model | content loss | trained in | run in | training | time | device |{headings} weights "
                "| command |", "|" + "---|" * (9 + len(metrics))]
        models = list(dict.fromkeys([*paper, *(str(r["model"]) for r in ours)]))
        models.sort(key=model_order)
        for model in models:
            if model in paper:
                loss, training = published()[model].paper_setup
                source = published()[model].paper_source
                out.append(f"| *{model}: {source} (quoted)* | {loss} | | | {training} | | | "
                           f"{_metric_cells(paper[model], metrics)} | | |")
            for r in (r for r in ours if r["model"] == model):
                out.append(_row_line(r, metrics, commands))
        out.append("")
    if commands:
        out += ["### Commands", "", "Each of our rows was printed and merged by one of these:", ""]
        out += [f"{i}. `{md_cell(c).replace('`', chr(39))}`" for i, c in enumerate(commands, 1)]
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
    """The scored rows on stdout: one line per dataset, a column per metric they have, and a model column when
    the rows are of several models (one's own photos are shown with bicubic)."""
    metrics = metrics_in(rows)
    widths = [max(len(METRICS[m].heading), 8) for m in metrics]
    models = len({r.get("model") for r in rows}) > 1
    name_width = max([10] + [len(str(r["dataset"])) for r in rows])
    print((f"{'model':<10} " if models else "") + f"{'dataset':<{name_width}} {'scale':>5} {'images':>6}" + "".join(
        f" {METRICS[m].heading:>{w}}" for m, w in zip(metrics, widths)))
    for r in rows:
        cells = [_metric_cells(r, [m]) for m in metrics]
        print((f"{str(r.get('model', '')):<10} " if models else "") +
              f"{r['dataset']:<{name_width}} {'x' + str(r['scale']):>5} {r.get('images', ''):>6}" + "".join(
            f" {c:>{w}}" for c, w in zip(cells, widths)))
