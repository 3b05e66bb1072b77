"""Files written before the layering redesign (main at cf023b8) still load, resume and score."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
LEGACY = Path(__file__).parent / "fixtures" / "legacy_cf023b8"


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_old_run_folder_resumes_to_the_same_numbers_and_scores(backend: str, tiny_data: Path,
                                                               tmp_path: Path) -> None:
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    run = tmp_path / "runs" / f"{backend}_smoke_x4"
    shutil.copytree(LEGACY / f"{backend}_smoke_x4", run)
    shutil.copytree(tiny_data, tmp_path / "data")  # the data the old run trained on (its recipe names "data")
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", f"runs/{backend}_smoke_x4"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]

    expected = json.loads((LEGACY / "expected.json").read_text())[backend]
    rows = [json.loads(line) for line in (run / "srresnet" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "content" in r] == [1, 2, 3, 4]
    step4 = [r for r in rows if r["step"] == 4]
    # The resumed run computes what the old code computed when it resumed the same folder.
    assert next(r["content"] for r in step4 if "content" in r) == pytest.approx(expected["content"], rel=1e-4)
    assert next(r["val_psnr"] for r in step4 if "val_psnr" in r) == pytest.approx(expected["val_psnr"], abs=1e-3)
    config = json.loads((run / "srresnet" / "config.json").read_text())
    assert (config["arch"], config["phase"], config["model"]) == ("srresnet", "supervised", "srresnet")

    last = run / "srresnet" / ("last.pth" if backend == "torch" else "last.weights.h5")
    from srapp.loading import load_sr_model
    from srcore.evaluate import evaluate_benchmarks, make_sr_function

    upscale, meta, _ = load_sr_model(str(last), None, "cpu", 4)
    assert meta["model"] == "srresnet" and meta["iteration"] == 4
    (row,) = evaluate_benchmarks(make_sr_function(upscale, 4), tmp_path / "data", ["Tiny"], 4)
    assert np.isfinite(row["psnr"]) and row["psnr"] > 10


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "results" / "weights").glob("*.safetensors")))
def test_shipped_weights_load_and_agree_in_both_backends(name: str, tmp_path: Path) -> None:
    """Every shipped backend-neutral generator loads in both backends and computes the same image there, also
    from the .npz container the weights were first shipped in."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from srapp.loading import load_sr_model
    from srconvert.convert import convert_checkpoint

    path = str(REPO / "results" / "weights" / name)
    npz = tmp_path / name.replace(".safetensors", ".npz")
    convert_checkpoint(path, npz)
    lr = np.random.default_rng(0).random((1, 12, 10, 3), dtype=np.float32)
    outs = {}
    for backend, weights in (("torch", path), ("keras", path), ("torch", str(npz))):
        upscale, meta, run_backend = load_sr_model(weights, backend, "cpu", None)
        assert run_backend == backend and meta["scale"] == 4
        outs[(backend, weights)] = upscale(lr)
    torch_out = outs[("torch", path)]
    assert torch_out.shape == (1, 48, 40, 3)
    np.testing.assert_allclose(torch_out, outs[("keras", path)], atol=1e-4)
    np.testing.assert_array_equal(torch_out, outs[("torch", str(npz))])


REGISTRY_LEGACY = Path(__file__).parent / "fixtures" / "legacy_a1c8007"


@pytest.mark.parametrize(("backend", "name", "params"), [
    ("torch", "torch_smoke_vdsr_x4", {"layers": 3, "channels": 8}),  # recorded as "blocks": 3
    ("keras", "keras_smoke_srcnn_x4", {"channels": 8, "kernels": "9-1-5"}),  # with a meaningless "blocks": 3
])
def test_runs_from_before_the_registry_resume_convert_and_score(backend: str, name: str, params: dict,
                                                                tiny_data: Path, tmp_path: Path) -> None:
    """Runs made before the architecture registry (their generators' sizes in blocks/channels/kernels fields)
    resume to the numbers the old code computed, and their checkpoints convert and score in both backends."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    expected = json.loads((REGISTRY_LEGACY / "expected.json").read_text())[backend]
    model = expected["model"]
    run = tmp_path / "runs" / name
    shutil.copytree(REGISTRY_LEGACY / name, run)
    shutil.copytree(tiny_data, tmp_path / "data")
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", f"runs/{name}"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [json.loads(line) for line in (run / model / "log.jsonl").read_text().splitlines()]
    step4 = [r for r in rows if r["step"] == 4]
    assert next(r["content"] for r in step4 if "content" in r) == pytest.approx(expected["content"], rel=1e-4)
    assert next(r["val_psnr"] for r in step4 if "val_psnr" in r) == pytest.approx(expected["val_psnr"], abs=1e-3)
    assert json.loads((run / model / "config.json").read_text())["arch_params"] == params

    from srapp.loading import load_sr_model
    from srconvert.convert import convert_checkpoint
    from srcore.evaluate import evaluate_benchmarks, make_sr_function

    old = REGISTRY_LEGACY / name / model / ("last.pth" if backend == "torch" else "last.weights.h5")
    neutral = tmp_path / "old.safetensors"
    convert_checkpoint(old, neutral)
    scores = []
    for weights, runner in ((old, "torch"), (old, "keras"), (neutral, "torch"), (neutral, "keras")):
        upscale, meta, _ = load_sr_model(str(weights), runner, "cpu", 4)
        assert meta["iteration"] == 2 and meta["arch"]["name"] == model
        scores.append(evaluate_benchmarks(make_sr_function(upscale, 4), tmp_path / "data", ["Tiny"], 4)[0]["psnr"])
    assert max(scores) - min(scores) < 0.01, scores
