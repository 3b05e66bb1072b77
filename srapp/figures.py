"""What make_figures.py does: training curves from run logs, and visual comparisons from shipped weights.

Every figure is drawn from files (JSONL logs, `.safetensors` weights, prepared benchmark images); nothing is typed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from srcore.arch import MODELS, model_name
from srcore.errors import UserError

BACKEND_STYLE = {"torch": ("tab:red", "PyTorch"), "keras": ("tab:blue", "Keras")}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, title: str, fontsize: int, out: str | Path) -> Path:
    fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's log.jsonl; one-line error when it is missing or damaged."""
    p = Path(path)
    try:
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise UserError(f"{p}: not a readable training log ({e})") from None


def _series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["step"], r[key]) for r in rows if key in r]
    if not pts:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pts)
    return np.asarray(steps), np.asarray(values, dtype=float)


def plot_curves(logs: dict[str, Path], panels: Sequence[tuple[str, Sequence[str]]], title: str,
                out: str | Path) -> Path:
    """One figure: a panel per (ylabel, keys), each backend's log in its colour (dashed for a second key)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for backend, path in logs.items():
        rows = read_log(path)
        colour, label = BACKEND_STYLE[backend]
        for ax, (ylabel, keys) in zip(axes[0], panels):
            for key, style in zip(keys, ("-", "--")):
                steps, values = _series(rows, key)
                name = label if len(keys) == 1 else f"{label} {key}"
                marker = "o" if key.startswith("val_") else None  # validation may be a single point
                ax.plot(steps, values, style, color=colour, label=name, marker=marker, markersize=3, linewidth=1.2)
            ax.set_xlabel("iteration")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    for ax in axes[0]:
        ax.legend(fontsize=8)
    return _save(fig, title, 10, out)


def textured_crop(hr: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the `size` x `size` crop with the most detail (gradient energy), on a coarse grid."""
    grey = hr.astype(np.float64).mean(axis=2) if hr.ndim == 3 else hr.astype(np.float64)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, corner = -1.0, (0, 0)
    step = max(size // 4, 1)
    for y in range(0, energy.shape[0] - size + 1, step):
        for x in range(0, energy.shape[1] - size + 1, step):
            total = integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x] + integral[y, x]
            if total > best:
                best, corner = total, (y, x)
    return corner


def plot_comparison(images: Sequence[tuple[str, np.ndarray, dict[str, np.ndarray]]], title: str, out: str | Path,
                    crop: int = 192) -> Path:
    """Rows of crops, one row per image: HR, then each method's SR output, each captioned with the crop's PSNR
    and NIQE (the HR crop's NIQE beside it: what natural texture scores). NIQE needs two of its 96x96 blocks, so
    the default crop is 2x2 blocks.

    `images`: (name, HR image, {method: SR image}) with every SR image the size of the HR one.
    """
    from srcore.metrics import METRICS, psnr

    niqe = METRICS.get("niqe")

    plt = _pyplot()

    columns = ["HR"] + list(images[0][2])
    fig, axes = plt.subplots(len(images), len(columns), figsize=(2.4 * len(columns), 2.8 * len(images)),
                             squeeze=False)
    for row, (name, hr, outputs) in enumerate(images):
        y, x = textured_crop(hr, crop)
        hr_crop = hr[y:y + crop, x:x + crop]
        for col, method in enumerate(columns):
            ax = axes[row][col]
            if method == "HR":
                ax.imshow(hr_crop, cmap="gray" if hr.ndim == 2 else None, vmin=0, vmax=255)
                ax.set_title(f"{name}\nHR, NIQE {niqe.format(niqe(hr_crop, None, 0))}", fontsize=8)
            else:
                sr_crop = outputs[method][y:y + crop, x:x + crop]
                ax.imshow(sr_crop, cmap="gray" if hr.ndim == 2 else None, vmin=0, vmax=255)
                ax.set_title(f"{method}\n{psnr(sr_crop, hr_crop, crop_border=0):.2f} dB, NIQE "
                             f"{niqe.format(niqe(sr_crop, None, 0))}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, title, 9, out)


# The recipes whose weights are shipped, newest first: the comparison shows each model's newest shipped file.
SHIPPED_PRESETS = ("long", "quick")


def _curve_figures() -> list[tuple[str, str, list[tuple[str, list[str]]], str, str]]:
    """(model, preset, panels, title, file name) of each registered model's training curves, in the series' order:
    the quick runs (both backends, same batches) and the long recipe's runs of the models that have one."""
    supervised = [("content loss (MSE)", ["content"]), ("validation PSNR (dB)", ["val_psnr"])]
    adversarial = [*supervised, ("discriminator loss", ["d_loss"]), ("mean D(x)", ["d_real", "d_fake"])]
    figures = []
    for m in sorted(MODELS.values(), key=lambda m: m.order):
        if m.adversarial:
            base = MODELS.get(model_name(m.arch, "supervised")).title
            title = f"{m.title}-MSE from each backend's {base}: both backends, same batches"
        else:
            title = f"{m.title}, quick preset: both backends, same batches"
        figures.append((m.name, "quick", adversarial if m.adversarial else supervised, title, f"curves_{m.name}.png"))
        if "long" in m.presets:  # the weight average (val_psnr) against the trained weights; the grid it is held to
            panels = ([*adversarial, ("validation NIQE / grid", ["val_niqe", "val_grid"])] if m.adversarial else
                      [("content loss (MSE)", ["content"]), ("validation PSNR (dB)", ["val_psnr", "val_psnr_trained"])])
            figures.append((m.name, "long", panels, f"{m.title}{'-MSE' if m.adversarial else ''}, long recipe "
                            "(validation on 20 held-out training images)", f"curves_{m.name}_long.png"))
    return figures


def shipped_name(model: str, backend: str, preset: str = "quick") -> str:
    """File stem of a shipped generator and its training log (results/weights/, results/logs/)."""
    return f"{model}_x4_{backend}_{preset}" + ("_mse" if model == "srgan" else "")


def shipped_weights(weights: Path, model: str, backend: str) -> tuple[Path, str]:
    """The newest recipe's shipped file of `model` trained in `backend` and that recipe (SHIPPED_PRESETS), else
    the quick one's path (which may be absent)."""
    for preset in SHIPPED_PRESETS:
        path = weights / f"{shipped_name(model, backend, preset)}.safetensors"
        if path.is_file():
            return path, preset
    return weights / f"{shipped_name(model, backend)}.safetensors", "quick"


def run_figures(args: Any) -> list[Path]:
    """Draw every figure whose inputs are present; say which were skipped and why."""
    from srapp.loading import load_sr_model
    from srcore.data import is_photo_folder, load_benchmark, load_photo_folder
    from srcore.evaluate import bicubic_sr_function, make_sr_function

    out_dir, logs, weights = Path(args.out), Path(args.logs), Path(args.weights)
    written: list[Path] = []
    for phase, preset, panels, title, name in _curve_figures():
        found = {b: logs / f"{shipped_name(phase, b, preset)}.jsonl" for b in BACKEND_STYLE}
        found = {b: p for b, p in found.items() if p.is_file()}
        if found:
            written.append(plot_curves(found, panels, title, out_dir / name))
        else:
            print(f"skipped {name}: no {shipped_name(phase, '<backend>', preset)}.jsonl in {logs}")

    picks = [tuple(x.rsplit("/", 1)) for x in args.images]  # SET may be a folder of one's own photos
    if any(len(p) != 2 or not all(p) for p in picks):
        raise UserError(f"--images takes SET/NAME items (e.g. Set14/baboon, or my_photos/cat for my_photos/cat.jpg), "
                        f"got {' '.join(args.images)}")
    sets = {s: {im.name: im for im in (load_photo_folder(s, 4) if is_photo_folder(args.data, s, 4) else
                                       load_benchmark(args.data, s, 4))}
            for s in dict.fromkeys(s for s, _ in picks)}
    missing = [f"{s}/{n}" for s, n in picks if n not in sets[s]]
    if missing:
        raise UserError(f"--images: {' '.join(missing)} not in the prepared benchmarks of {args.data} nor a "
                        "folder of photos")
    bicubic = bicubic_sr_function(4)
    for backend, (_, label) in BACKEND_STYLE.items():
        # Every registered model's shipped weights, in the series' order; SRResNet or SRGAN is required (a
        # backend may ship its SRGAN alone, fine-tuned from the other backend's SRResNet).
        series = {m.title: shipped_weights(weights, m.name, backend)
                  for m in sorted(MODELS.values(), key=lambda m: m.order)}
        needed = [series[MODELS.get(n).title][0] for n in ("srresnet", "srgan")]
        if not any(p.is_file() for p in needed):
            print(f"skipped comparison_{backend}.png: needs {' or '.join(str(p) for p in needed)}")
            continue
        models = {f"{m} {preset}": p for m, (p, preset) in series.items() if p.is_file()}
        fns = {m: make_sr_function(load_sr_model(str(p), backend, args.device, 4)[0], 4) for m, p in models.items()}
        rows = []
        for set_name, name in picks:
            im = sets[set_name][name]
            outputs = {"bicubic": bicubic(im.lr), **{f"{m} ({label})": fn(im.lr) for m, fn in fns.items()}}
            rows.append((f"{Path(set_name).name} {name}", im.hr, outputs))
        names = " | ".join(m.replace("SRResNet", "SRResNet-MSE").replace("SRGAN", "SRGAN-MSE") for m in models)
        written.append(plot_comparison(rows, f"x4, trained and run in {label}: HR | bicubic | {names} "
                                             f"(PSNR and NIQE of each crop, Y channel)",
                                       out_dir / f"comparison_{backend}.png"))
    return written
