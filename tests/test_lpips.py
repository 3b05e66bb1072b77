"""LPIPS (srcore.lpips): numpy against torch with injected weights, the weight policy offline, test.py's columns;
and test.py's per-image NIQE for --input images."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from srcore import lpips, vgg_weights
from srcore.metrics import METRICS
from srcore.results import read_rows

REPO = Path(__file__).resolve().parents[1]
SRCNN_WEIGHTS = REPO / "results" / "weights" / "srcnn_x4_torch_quick.safetensors"


def _load_test_py():
    """test.py as a module (its name would clash with the standard library's `test`)."""
    spec = importlib.util.spec_from_file_location("_script_test", REPO / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images(seed: int, shape: tuple[int, int] = (70, 90)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, a.shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


def _torch_lpips(weights: lpips.LpipsWeights, img1: np.ndarray, img2: np.ndarray) -> float:
    """LPIPS as the lpips package computes it, on torchvision's AlexNet carrying `weights` (float64)."""
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    net = tv.models.alexnet(weights=None).features.double().eval()
    with torch.no_grad():
        for (index, *_), (w, b) in zip(lpips.CONVS, weights.convs):
            net[index].weight.copy_(torch.from_numpy(w))
            net[index].bias.copy_(torch.from_numpy(b))
        shift = torch.tensor(lpips.SHIFT, dtype=torch.float64)[None, :, None, None]
        scale = torch.tensor(lpips.SCALE, dtype=torch.float64)[None, :, None, None]

        def feats(img: np.ndarray) -> list:
            x = torch.from_numpy(img.astype(np.float64) / 255.0).permute(2, 0, 1)[None] * 2 - 1
            x = (x - shift) / scale
            out = []
            for i, layer in enumerate(net[:12]):  # relu1 is module 1, relu2 4, relu3 7, relu4 9, relu5 11
                x = layer(x)
                if i in (1, 4, 7, 9, 11):
                    out.append(x)
            return out

        total = 0.0
        for fa, fb, head in zip(feats(img1), feats(img2), weights.heads):
            na = fa / (torch.sqrt(torch.sum(fa**2, dim=1, keepdim=True)) + 1e-10)
            nb = fb / (torch.sqrt(torch.sum(fb**2, dim=1, keepdim=True)) + 1e-10)
            lin = torch.nn.functional.conv2d((na - nb) ** 2, torch.from_numpy(head).view(1, -1, 1, 1))
            total += float(lin.mean())
    return total


def _save_alexnet(weights: lpips.LpipsWeights, path: Path) -> Path:
    """A torchvision-style AlexNet `features` state dict file (.pth) carrying `weights`."""
    torch = pytest.importorskip("torch")
    state = {}
    for (index, *_), (w, b) in zip(lpips.CONVS, weights.convs):
        state[f"features.{index}.weight"] = torch.from_numpy(w.astype(np.float32))
        state[f"features.{index}.bias"] = torch.from_numpy(b.astype(np.float32))
    torch.save(state, path)
    return path


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached AlexNet and no network: every download fails as it does on a machine without internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_network(url: str, target: Path, sha256_prefix: str) -> None:
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(vgg_weights, "download", no_network)
    yield
    lpips.use_weights(None)  # the weights a test loaded are not the next test's


def test_identical_images_score_zero() -> None:
    weights = lpips.random_weights(0)
    a, b = _images(0)
    assert lpips.distance(weights, a, a) == 0.0
    assert lpips.distance(weights, a, b) > 0.01
    assert lpips.distance(weights, a, b) == pytest.approx(lpips.distance(weights, b, a), rel=1e-12)
    spec = METRICS["lpips"]
    assert (spec.higher_is_better, spec.reference, spec.heading) == (False, True, "LPIPS ↓")


def test_numpy_and_torch_agree_with_injected_weights() -> None:
    for seed, shape in ((1, (70, 90)), (2, (128, 96))):
        weights = lpips.random_weights(seed)
        a, b = _images(seed, shape)
        ours, theirs = lpips.distance(weights, a, b), _torch_lpips(weights, a, b)
        assert ours > 0.01 and abs(ours - theirs) < 1e-5, (ours, theirs)


def test_weights_file_is_read_without_torch_and_the_heads_are_the_v01_ones(tmp_path: Path) -> None:
    weights = lpips.random_weights(3)
    path = _save_alexnet(weights, tmp_path / "alexnet.pth")
    for (w, b), (w2, b2) in zip(weights.convs, lpips.load_alexnet_convs(path)):
        np.testing.assert_allclose(w2, w, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b2, b, rtol=1e-6, atol=1e-7)
    heads = lpips.load_heads()
    assert [h.shape for h in heads] == [(64,), (192,), (384,), (256,), (256,)]
    assert all(np.all(h >= 0) for h in heads) and heads[2].max() == pytest.approx(1.3235669, abs=1e-6)
    with np.load(lpips.HEADS_FILE, allow_pickle=False) as f:
        source = str(f["source"])
    assert "lpips 0.1.4" in source and "Redistribution and use" in source  # where from, and the BSD licence
    np.save(tmp_path / "other.npy", np.zeros(3))
    with pytest.raises(Exception, match="--lpips-weights"):
        lpips.load_alexnet_convs(tmp_path / "other.npy")


def test_offline_without_weights_is_one_line_and_none(offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert lpips.find_weights(None) is None
    assert lpips.ensure_weights(None) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("LPIPS not scored: downloading https://download.pytorch.org/models/alexnet-owt-")
    assert "--lpips-weights PATH" in err[0] and "allow the download" in err[0]


def test_test_py_goes_on_without_lpips_or_scores_it_from_a_file(offline: None, tiny_data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    test_py = _load_test_py()
    args = ["--bicubic", "--data", str(tiny_data), "--no-results"]
    out = tmp_path / "res"
    assert test_py.main([*args[:-1], "--results-dir", str(out), "--metrics", "psnr", "lpips"]) == 0
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if "LPIPS" in ln]
    assert len(lines) == 1 and "--lpips-weights PATH" in lines[0]
    (row,) = read_rows(out / "results.csv")
    assert float(row["psnr"]) > 0 and "lpips" not in row  # no column rather than a made-up value

    assert test_py.main(args) == 0  # the default set: psnr ssim niqe, and a line saying why not lpips
    captured = capsys.readouterr()
    assert "NIQE ↓" in captured.out and "LPIPS" not in captured.out
    assert len([ln for ln in captured.err.splitlines() if "LPIPS not scored" in ln]) == 1

    path = _save_alexnet(lpips.random_weights(4), tmp_path / "alexnet.pth")
    from srapp.scoring import run_test

    rows = run_test(test_py.get_args_parser().parse_args([*args, "--lpips-weights", str(path)]))
    assert {"psnr", "ssim", "niqe", "lpips"} <= rows[0].keys() and rows[0]["lpips"] > 0
    assert "LPIPS ↓" in capsys.readouterr().out
    assert test_py.main([*args, "--lpips-weights", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --lpips-weights {tmp_path / 'missing.pth'}: no such file"]


def test_input_images_print_niqe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    if not SRCNN_WEIGHTS.is_file():
        pytest.skip(f"{SRCNN_WEIGHTS} not found")
    from srcore.imageio import load_image, save_image
    from srcore.niqe import niqe

    rng = np.random.default_rng(5)
    src = tmp_path / "in"
    for name in ("a", "b"):
        save_image(src / f"{name}.png", rng.integers(0, 256, (60, 56, 3), dtype=np.uint8))
    test_py = _load_test_py()
    base = ["--weights", str(SRCNN_WEIGHTS), "--backend", "torch", "--device", "cpu", "--input", str(src)]
    assert test_py.main([*base, "--output", str(tmp_path / "out"), "--metrics", "niqe"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert len(lines) == 2
    for line, name in zip(lines, ("a", "b")):
        value = niqe(load_image(tmp_path / "out" / f"{name}_x4.png"))
        assert line.endswith(f"NIQE {value:.3f}") and np.isfinite(value)  # the whole 240x224 output
    assert test_py.main([*base, "--output", str(tmp_path / "out2")]) == 0  # no --metrics: no per-image scores
    assert "NIQE" not in capsys.readouterr().out
    assert test_py.main([*base, "--output", str(tmp_path / "out3"), "--metrics", "psnr", "niqe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --metrics psnr: needs the HR image") and "niqe" in err[0]
