"""make_figures.py: curves from logs, comparisons from weights; the crop chooser finds the detail."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srapp.figures import shipped_name, shipped_weights, textured_crop

REPO = Path(__file__).resolve().parents[1]


def test_textured_crop_finds_the_detail() -> None:
    img = np.full((200, 300, 3), 128, np.uint8)
    img[120:180, 200:260] = np.random.default_rng(0).integers(0, 256, (60, 60, 3))
    y, x = textured_crop(img, 40)
    assert 100 <= y <= 140 and 180 <= x <= 220


def _log(path: Path, adversarial: bool) -> None:
    rows = []
    for step in range(10, 41, 10):
        row = {"step": step, "content": 0.1 / step, "lr": 1e-4, "time": step}
        if adversarial:
            row.update(d_loss=1.0, d_real=0.7, d_fake=0.3, adv=2.0)
        rows += [row, {"step": step, "val_psnr": 20 + step / 10, "time": step}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_make_figures_end_to_end(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from srcore.checkpoint import RunState
    from srcore.config import preset_config
    from torch_srgan.train import Trainer

    logs, weights, out = tmp_path / "logs", tmp_path / "weights", tmp_path / "out"
    logs.mkdir()
    weights.mkdir()
    for model in ("srresnet", "srgan"):
        for backend in ("torch", "keras"):
            _log(logs / f"{shipped_name(model, backend)}.jsonl", adversarial=model == "srgan")
        pth = Trainer(preset_config("smoke", "srresnet", device="cpu")).save(tmp_path / f"{model}.pth", RunState(4))
        shipped = weights / f"{shipped_name(model, 'torch')}.safetensors"
        assert subprocess.run([sys.executable, str(REPO / "convert_weights.py"), str(pth), str(shipped)],
                              capture_output=True, timeout=300).returncode == 0
    _log(logs / f"{shipped_name('srresnet', 'torch', 'long')}.jsonl", adversarial=False)  # a long run's curves
    (weights / "unrelated.safetensors").write_bytes(b"")  # only the shipped names are read
    shutil.copy(weights / "srgan_x4_torch_quick_mse.safetensors", weights / "extra.safetensors")
    # Keras ships its SRGAN alone (fine-tuned from the PyTorch SRResNet): its comparison is still drawn.
    shutil.copy(weights / "srgan_x4_torch_quick_mse.safetensors", weights / "srgan_x4_keras_long_mse.safetensors")
    mine = tmp_path / "my photos"  # one's own HR photo beside a benchmark image
    mine.mkdir()
    from PIL import Image
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(mine / "cat.jpg")
    p = subprocess.run([sys.executable, str(REPO / "make_figures.py"), "--logs", str(logs), "--weights", str(weights),
                        "--data", str(tiny_data), "--images", "Tiny/000", str(mine / "cat"), "--out", str(out),
                        "--device", "cpu"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    names = sorted(f.name for f in out.iterdir())
    assert names == ["comparison_keras.png", "comparison_torch.png", "curves_srgan.png", "curves_srresnet.png",
                     "curves_srresnet_long.png"]
    assert "skipped curves_srgan_long.png" in p.stdout
    assert all((out / n).stat().st_size > 10_000 for n in names)

    empty = tmp_path / "no weights"
    empty.mkdir()
    p = subprocess.run([sys.executable, str(REPO / "make_figures.py"), "--logs", str(empty), "--weights", str(empty),
                        "--data", str(tiny_data), "--images", "Tiny/000", "--out", str(tmp_path / "out2")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "skipped comparison_torch.png" in p.stdout and "skipped comparison_keras.png" in p.stdout

    bad = subprocess.run([sys.executable, str(REPO / "make_figures.py"), "--logs", str(logs), "--weights",
                          str(weights), "--data", str(tiny_data), "--images", "Tiny/nope", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Tiny/nope" in bad.stderr
    bad = subprocess.run([sys.executable, str(REPO / "make_figures.py"), "--logs", str(logs), "--weights",
                          str(weights), "--data", str(tiny_data), "--images", str(mine / "dog"), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "dog" in bad.stderr


def test_the_comparison_shows_the_newest_recipe_shipped(tmp_path: Path) -> None:
    assert shipped_name("srgan", "keras", "long") == "srgan_x4_keras_long_mse"
    assert shipped_weights(tmp_path, "srresnet", "torch") == (tmp_path / "srresnet_x4_torch_quick.safetensors",
                                                               "quick")  # none: the quick path, absent
    (tmp_path / "srresnet_x4_torch_quick.safetensors").write_bytes(b"")
    assert shipped_weights(tmp_path, "srresnet", "torch")[1] == "quick"
    (tmp_path / "srresnet_x4_torch_long.safetensors").write_bytes(b"")
    assert shipped_weights(tmp_path, "srresnet", "torch") == (tmp_path / "srresnet_x4_torch_long.safetensors", "long")
    assert shipped_weights(tmp_path, "srresnet", "keras")[1] == "quick"  # per backend
