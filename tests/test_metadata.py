"""srcore.metadata.read_meta: a checkpoint's metadata of any format, without a framework and without its tensors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from srcore.checkpoint import CheckpointError, RunState
from srcore.metadata import read_meta
from srcore.torchfile import read_torch_file

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras_srgan  # noqa: E402, F401  (sets KERAS_BACKEND before keras is imported)
from srconvert.convert import convert_checkpoint, read_checkpoint  # noqa: E402
from srcore import neutral  # noqa: E402
from srcore.config import preset_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One smoke SRGAN-phase checkpoint (G and D) written by the torch Trainer, converted to every other format."""
    from torch_srgan.train import Trainer

    root = tmp_path_factory.mktemp("meta")
    cfg = preset_config("smoke", "srgan", backend="torch", device="cpu", vgg_weights="random", out=str(root))
    paths = {"torch": Trainer(cfg).save(root / "t.pth", RunState(iteration=3, best_value=21.5))}
    for kind, name in (("keras", "k.weights.h5"), ("npz", "n.npz"), ("safetensors", "s.safetensors")):
        convert_checkpoint(paths["torch"], root / name)
        paths[kind] = root / name
    return paths


def test_same_metadata_as_the_full_readers(checkpoints: dict[str, Path]) -> None:
    from keras_srgan.checkpoint import load_checkpoint as load_keras
    from torch_srgan.checkpoint import load_checkpoint as load_torch

    assert read_meta(checkpoints["torch"]) == load_torch(checkpoints["torch"])[0]
    assert read_meta(checkpoints["keras"]) == load_keras(checkpoints["keras"])[0]
    for kind in ("npz", "safetensors"):
        assert read_meta(checkpoints[kind]) == neutral.load_neutral(checkpoints[kind])[0]
    for kind, path in checkpoints.items():  # and as srconvert reads them, tensors and all
        assert read_meta(path) == read_checkpoint(path)[1], kind
    meta = read_meta(checkpoints["keras"])
    assert meta["backend"] == "keras" and meta["trained_backend"] == "torch" and meta["iteration"] == 3
    base = checkpoints["keras"].with_name("k")
    assert read_meta(base.with_name("k.json")) == read_meta(base.with_name("k.state.npz")) == meta


def test_torch_file_without_tensors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """tensors=False: the containers and strings, every tensor None; both torch.save formats."""
    legacy = tmp_path / "legacy.pth"
    torch.save(torch.load(checkpoints["torch"], weights_only=True), legacy, _use_new_zipfile_serialization=False)
    for path in (checkpoints["torch"], legacy):
        data = read_torch_file(path, tensors=False)
        assert json.loads(data["meta"])["model"] == "srgan"
        assert data["generator"] and all(v is None for v in data["generator"].values())
        assert read_meta(path) == read_meta(checkpoints["torch"])


def test_one_line_errors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    keras_dir = tmp_path / "k"
    keras_dir.mkdir()
    for suffix in (".weights.h5", ".json"):
        (keras_dir / f"k{suffix}").write_bytes(checkpoints["keras"].with_name(f"k{suffix}").read_bytes())
    (keras_dir / "k.weights.h5").write_bytes(b"torn")  # a save cut short: not the recorded size
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save({"generator": {}}, tmp_path / "bare.pth")
    cases = {
        tmp_path / "x.bin": "unknown checkpoint file type",
        tmp_path / "missing.pth": "no such checkpoint file",
        tmp_path / "empty.pth": "not a readable PyTorch checkpoint",
        tmp_path / "bare.pth": "no metadata",
        tmp_path / "none.weights.h5": "none.json is missing",
        keras_dir / "k.weights.h5": "does not match its metadata",
        tmp_path / "missing.npz": "no such file",
    }
    for path, needle in cases.items():
        with pytest.raises(CheckpointError, match=needle) as info:
            read_meta(path)
        assert "\n" not in str(info.value)
    (keras_dir / "k.weights.h5").unlink()
    with pytest.raises(CheckpointError, match="k.weights.h5 is missing"):
        read_meta(keras_dir / "k.json")


def test_reading_metadata_imports_no_framework(checkpoints: dict[str, Path]) -> None:
    """In a fresh process: read_meta of every format, and the --pretrained planning path, leave tensorflow, keras
    and torch unimported (TensorFlow imported before torch's triton segfaults a torch run)."""
    paths = [str(checkpoints[k]) for k in ("keras", "torch", "safetensors", "npz")]
    code = ("import sys\n"
            "from srcore.metadata import read_meta\n"
            "from srapp.training import pretrained_meta\n"
            f"for p in {paths!r}:\n"
            "    assert read_meta(p)['model'] == 'srgan' and pretrained_meta(p)['scale'] == 4\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'h5py') if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", p.stdout
