"""Keras checkpoints and inference: round trip, the upscaler, and one-line errors for bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import keras_srgan  # noqa: F401  (first: sets KERAS_BACKEND before keras is imported)

pytest.importorskip("tensorflow")
pytest.importorskip("keras")
# Keras' own weight saving converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

import numpy as np  # noqa: E402

from keras_srgan.checkpoint import checkpoint_files, load_checkpoint  # noqa: E402
from keras_srgan.inference import load_upscaler, make_upscaler  # noqa: E402
from keras_srgan.models import build_generator  # noqa: E402
from keras_srgan.train import Trainer  # noqa: E402
from srcore.checkpoint import CheckpointError, RunState  # noqa: E402
from srcore.config import preset_config  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Path]:
    cfg = preset_config("smoke", "srresnet", backend="keras", blocks=1, channels=8, xla=False)
    trainer = Trainer(cfg)
    rng = np.random.default_rng(0)
    lr = rng.random((2, 8, 8, 3), dtype=np.float32)
    trainer.train_batch(lr, rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32), step=0)
    path = trainer.save(tmp_path_factory.mktemp("ckpt") / "last", RunState(iteration=1, best_value=20.5))
    return trainer, path


def test_checkpoint_files_and_metadata(saved: tuple[Trainer, Path]) -> None:
    trainer, path = saved
    assert path.name == "last.weights.h5"
    files = checkpoint_files(path)
    assert files.meta.name == "last.json" and files.state.name == "last.state.npz"
    for p in (path, files.meta, files.state, path.parent):  # every way of naming the checkpoint
        meta, found = load_checkpoint(p, need_state=True)
        assert found == files
    assert meta["backend"] == "keras" and meta["model"] == "srresnet" and meta["scale"] == 4
    assert meta["iteration"] == 1 and meta["best_psnr"] == 20.5
    assert meta["arch"]["blocks"] == 1 and meta["arch"]["channels"] == 8
    with np.load(files.state, allow_pickle=False) as z:  # plain arrays, no pickles
        assert "optim_g.paths" in z.files
    # A standard Keras weights file: a freshly built generator reads it directly.
    g = build_generator(4, blocks=1, channels=8)
    g.load_weights(path)
    for a, b in zip(g.weights, trainer.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_upscaler_round_trip(saved: tuple[Trainer, Path]) -> None:
    trainer, path = saved
    upscale, meta = load_upscaler(path, device="cpu")
    assert meta["scale"] == 4
    lr = np.random.default_rng(1).random((1, 10, 12, 3), dtype=np.float32)
    sr = upscale(lr)
    assert sr.shape == (1, 40, 48, 3) and sr.dtype == np.float32
    assert sr.min() >= 0.0 and sr.max() <= 1.0
    np.testing.assert_allclose(sr, make_upscaler(trainer.generator)(lr), atol=1e-6)


def test_upscaler_does_not_retrace_per_size() -> None:
    upscale = make_upscaler(build_generator(2, blocks=1, channels=4))
    for h, w in [(5, 7), (9, 4), (16, 16)]:
        assert upscale(np.zeros((1, h, w, 3), np.float32)).shape == (1, 2 * h, 2 * w, 3)
    assert upscale.graph_function.experimental_get_tracing_count() == 1


def _copy(path: Path, dst: Path) -> Path:
    """Copy the checkpoint of `path` to folder `dst` (as dst/last.*); returns the new weights path."""
    dst.mkdir()
    files = checkpoint_files(path)
    for p in (files.weights, files.state, files.meta):
        shutil.copy(p, dst / p.name)
    return dst / path.name


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_damaged_and_wrong_files(saved: tuple[Trainer, Path], tmp_path: Path) -> None:
    _, path = saved
    # truncated weights (e.g. a copy cut short): the hashes in the metadata catch it
    cut = _copy(path, tmp_path / "cut")
    cut.write_bytes(cut.read_bytes()[:1000])
    assert "damaged" in _error(cut)
    # weights without metadata
    lone = tmp_path / "lone.weights.h5"
    shutil.copy(path, lone)
    assert "metadata" in _error(lone)
    # metadata that is not JSON, or JSON of something else
    bad = _copy(path, tmp_path / "badjson")
    checkpoint_files(bad).meta.write_text("{not json")
    assert "damaged" in _error(bad)
    other = _copy(path, tmp_path / "other")
    checkpoint_files(other).meta.write_text(json.dumps({"hello": 1}))
    assert "not a checkpoint" in _error(other)
    # a PyTorch checkpoint, a non-checkpoint file, a missing file
    pth = tmp_path / "model.pth"
    pth.write_bytes(b"PK\x03\x04")
    assert "PyTorch" in _error(pth)
    renamed = tmp_path / "model.weights.h5"  # a .pth under a Keras name
    renamed.write_bytes(b"PK\x03\x04" + bytes(100))
    assert "PyTorch" in _error(renamed)
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG")
    assert "not a Keras checkpoint" in _error(png)
    assert "no such" in _error(tmp_path / "missing.weights.h5")
    # damaged training state, only checked when resuming
    state = _copy(path, tmp_path / "state")
    checkpoint_files(state).state.write_bytes(b"garbage")
    load_checkpoint(state)
    assert "damaged" in _error(state, need_state=True)
    # wrong scale; wrong backend
    assert "x4" in _error(path, scale=2)
    torchy = _copy(path, tmp_path / "torchy")
    meta_path = checkpoint_files(torchy).meta
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "backend": "torch"}))
    assert "torch checkpoint" in _error(torchy)
    # load_upscaler reports the same one-line errors
    with pytest.raises(CheckpointError):
        load_upscaler(cut)
