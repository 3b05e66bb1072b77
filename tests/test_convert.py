"""Weight conversion: the neutral format, the .pth reader, convert_weights.py, and test.py --backend X."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srconvert.convert import convert_checkpoint, read_checkpoint
from srcore import neutral
from srcore.checkpoint import RunState
from srcore.checkpoint import checkpoint_format as file_kind
from srcore.torchfile import TorchFileError, read_torch_file

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras_srgan  # noqa: E402, F401  (sets KERAS_BACKEND before keras is imported)
from srcore.config import preset_config  # noqa: E402
from srcore.data import PatchSampler  # noqa: E402
from srcore.errors import UserError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
# Keras' own weight reading converts variables with np.array(copy=False): numpy 2 warns, nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def _load_script(name: str):
    """A top-level script as a module (test.py would clash with the standard library's `test`)."""
    spec = importlib.util.spec_from_file_location(f"_script_{name}", REPO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert_main = _load_script("convert_weights").main


@pytest.fixture(scope="module")
def torch_srgan_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smoke-sized SRGAN-phase .pth after one training step: G, D and both optimizers' state."""
    from torch_srgan.train import Trainer

    out = tmp_path_factory.mktemp("torch_ckpt")
    cfg = preset_config("smoke", "srgan", content_loss="mse", device="cpu", out=str(out))
    trainer = Trainer(cfg)
    rng = np.random.default_rng(0)
    hr = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    lr = [h[::4, ::4].copy() for h in hr]
    trainer.train_batch(*PatchSampler(hr, lr, 4, cfg.patch_size, cfg.batch_size).batch(0), step=0)
    return trainer.save(out / "last.pth", RunState(iteration=1))


def _torch_states(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_file_kinds() -> None:
    assert file_kind("a/last.pth") == "torch"
    assert file_kind("a/last.weights.h5") == file_kind("a/last.json") == file_kind("a/last.state.npz") == "keras"
    assert file_kind("a/x4.npz") == "neutral"
    assert file_kind("a/x4.h5") is None and file_kind("a/x4.txt") is None


def test_torchfile_reads_both_torch_formats_and_refuses_code(tmp_path: Path) -> None:
    state = {"w": torch.randn(3, 4), "t": torch.randn(5, 6).t(), "view": torch.arange(10)[2:5],
             "p": torch.nn.Parameter(torch.randn(2)), "h": torch.randn(4).half(), "n": torch.tensor(7)}
    obj = {"meta": "text", "state": state, "list": [1, 2.5, (3, "s")], "nested": {0: {"step": torch.tensor(1.0)}}}
    for zipped in (True, False):  # torch >= 1.6 zip archives, and the older stream (torchvision's 2017 files)
        path = tmp_path / f"f{zipped}.pth"
        torch.save(obj, path, _use_new_zipfile_serialization=zipped)
        got = read_torch_file(path)
        for k, v in state.items():
            np.testing.assert_array_equal(got["state"][k], v.detach().numpy())
        assert got["meta"] == "text" and got["list"] == [1, 2.5, (3, "s")]
        assert float(got["nested"][0]["step"]) == 1.0

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(TorchFileError, match="other than tensors"):
        read_torch_file(tmp_path / "evil.pth")
    data = (tmp_path / "fFalse.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(TorchFileError):
        read_torch_file(tmp_path / "cut.pth")


def test_reading_and_neutral_writing_need_no_framework(torch_srgan_ckpt: Path, tmp_path: Path) -> None:
    """srconvert's core imports neither framework: a .pth converts to .npz with torch and TF blocked."""
    out = tmp_path / "x.npz"
    code = ("import sys\n"
            "for m in ('torch', 'tensorflow', 'keras', 'torchvision'): sys.modules[m] = None\n"
            "import srconvert, srconvert.convert, srcore.neutral, srcore.vgg19, srapp.scoring\n"
            "from srconvert.convert import convert_checkpoint\n"
            f"print(convert_checkpoint({str(torch_srgan_ckpt)!r}, {str(out)!r})[0])\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    meta, groups = neutral.load_neutral(out)
    assert meta["backend"] == "neutral" and meta["trained_backend"] == "torch"
    sd = _torch_states(torch_srgan_ckpt)
    for group in ("generator", "discriminator"):
        expected = {k: v for k, v in sd[group].items() if not k.endswith("num_batches_tracked")}
        assert set(groups[group]) == set(expected)
        for k, v in expected.items():
            np.testing.assert_array_equal(groups[group][k], v.numpy())


def test_safetensors_is_a_neutral_format_read_by_the_ecosystem(torch_srgan_ckpt: Path, tmp_path: Path) -> None:
    """.pth -> .safetensors -> Keras -> .safetensors: the same tensors; the file is plain safetensors (readable by
    the safetensors package alone, metadata in its header) and runs in both backends."""
    from safetensors.numpy import load_file

    st, keras_ckpt, back = tmp_path / "a.safetensors", tmp_path / "k.weights.h5", tmp_path / "b.safetensors"
    assert convert_main([str(torch_srgan_ckpt), str(st)]) == 0
    assert convert_main([str(st), str(keras_ckpt)]) == 0
    assert convert_main([str(keras_ckpt), str(back)]) == 0
    raw = load_file(str(back))
    sd = _torch_states(torch_srgan_ckpt)
    for k, v in sd["generator"].items():
        if not k.endswith("num_batches_tracked"):
            np.testing.assert_allclose(raw[f"generator.{k}"], v.numpy(), atol=1e-6)
    meta, groups = neutral.load_neutral(back)
    assert meta["trained_backend"] == "torch" and set(groups) == {"generator", "discriminator"}
    assert file_kind(back) == "neutral"
    (tmp_path / "junk.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(UserError, match="junk.safetensors") as info:
        neutral.load_neutral(tmp_path / "junk.safetensors")
    assert "\n" not in str(info.value)


def test_generator_only_export(torch_srgan_ckpt: Path, tmp_path: Path) -> None:
    """--generator-only: the shipped-weights form of an SRGAN checkpoint, without its large discriminator."""
    out = tmp_path / "g.npz"
    assert convert_main(["--generator-only", str(torch_srgan_ckpt), str(out)]) == 0
    meta, groups = neutral.load_neutral(out)
    assert set(groups) == {"generator"} and meta["model"] == "srgan"
    expected = _torch_states(torch_srgan_ckpt)["generator"]
    for k, v in groups["generator"].items():
        np.testing.assert_array_equal(v, expected[k].numpy())


def test_round_fp16_snapshot(torch_srgan_ckpt: Path, tmp_path: Path) -> None:
    """--round-fp16: float32 tensors holding float16 values, within 2^-11 relative of the originals, recorded in
    the metadata; a weight beyond float16's range is refused in one line, not clipped."""
    out = tmp_path / "g.safetensors"
    assert convert_main(["--generator-only", "--round-fp16", str(torch_srgan_ckpt), str(out)]) == 0
    meta, groups = neutral.load_neutral(out)
    assert meta["weights_rounded_to"] == "fp16"
    expected = _torch_states(torch_srgan_ckpt)["generator"]
    for k, v in groups["generator"].items():
        original = expected[k].numpy().astype(np.float32)
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, v.astype(np.float16).astype(np.float32), err_msg=k)  # fp16 values
        np.testing.assert_allclose(v, original, rtol=2 ** -11, atol=2 ** -24, err_msg=k)
    assert any(not np.array_equal(v, expected[k].numpy()) for k, v in groups["generator"].items())

    from srconvert.convert import round_to_fp16

    with pytest.raises(UserError, match="beyond float16's range"):
        round_to_fp16({"generator": {"w": np.array([1e5], dtype=np.float32)}}, "big.safetensors")


def test_round_trip_torch_keras_neutral_torch(torch_srgan_ckpt: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """.pth -> Keras -> .npz -> .pth gives back exactly the same tensors; the metadata follows."""
    keras_ckpt, npz, back = tmp_path / "k.weights.h5", tmp_path / "n.npz", tmp_path / "back.pth"
    assert convert_main([str(torch_srgan_ckpt), str(keras_ckpt)]) == 0
    out = capsys.readouterr().out
    assert "generator and discriminator" in out and "optimizer state is not converted" in out
    assert all((tmp_path / f"k{s}").is_file() for s in (".weights.h5", ".state.npz", ".json"))
    assert convert_main([str(tmp_path / "k.json"), str(npz)]) == 0  # the .json names the Keras checkpoint too
    assert convert_main([str(npz), str(back)]) == 0
    original, final = _torch_states(torch_srgan_ckpt), _torch_states(back)
    for group in ("generator", "discriminator"):
        assert original[group].keys() == final[group].keys()
        for k, v in original[group].items():
            if k.endswith("num_batches_tracked"):
                continue  # not stored in the neutral format (unused with BN's fixed momentum)
            assert torch.equal(final[group][k], v), k
    assert "optim_g" not in final
    meta = json.loads(final["meta"])
    orig_meta = json.loads(original["meta"])
    assert meta["backend"] == "torch" and meta["trained_backend"] == "torch"
    assert meta["converted_from"]["backend"] == "neutral"
    assert {k: meta[k] for k in ("model", "scale", "arch", "iteration", "config")} == \
           {k: orig_meta[k] for k in ("model", "scale", "arch", "iteration", "config")}
    kind, kmeta, kgroups = read_checkpoint(keras_ckpt)
    assert kind == "keras" and kmeta["backend"] == "keras" and kmeta["trained_backend"] == "torch"
    assert set(kgroups) == {"generator", "discriminator"}


def test_converted_checkpoint_trains_on_as_pretrained(torch_srgan_ckpt: Path, tmp_path: Path) -> None:
    """A converted checkpoint loads with the other backend's own loader and starts an SRGAN phase there."""
    from keras_srgan.inference import load_generator

    keras_ckpt = tmp_path / "k.weights.h5"
    convert_checkpoint(torch_srgan_ckpt, keras_ckpt)
    generator, meta = load_generator(keras_ckpt)
    assert meta["trained_backend"] == "torch" and generator.output_shape[-1] == 3


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_errors_are_one_line(torch_srgan_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def run(*args: str) -> tuple[int, str]:
        code = convert_main(list(args))
        return code, capsys.readouterr().err

    ckpt = str(torch_srgan_ckpt)
    _assert_one_line_error(*run(ckpt, str(tmp_path / "out.txt")), "unknown file type")
    _assert_one_line_error(*run(str(tmp_path / "in.bin"), str(tmp_path / "o.npz")), "unknown file type")
    _assert_one_line_error(*run(str(tmp_path / "missing.pth"), str(tmp_path / "o.npz")), "no such file")
    _assert_one_line_error(*run(ckpt, str(tmp_path / "same.pth")), "nothing to convert")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x02garbage" * 10)
    _assert_one_line_error(*run(str(bad), str(tmp_path / "o.npz")), "bad.pth", "not a readable")
    bad_npz = tmp_path / "bad.npz"
    bad_npz.write_bytes(b"PK\x03\x04 truncated")
    _assert_one_line_error(*run(str(bad_npz), str(tmp_path / "o.pth")), "bad.npz")
    np.savez(tmp_path / "alien.npz", x=np.zeros(3))
    _assert_one_line_error(*run(str(tmp_path / "alien.npz"), str(tmp_path / "o.pth")), "not a backend-neutral")
    (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
    (tmp_path / "bad.json").write_text("{broken")
    _assert_one_line_error(*run(str(tmp_path / "bad.weights.h5"), str(tmp_path / "o.npz")), "bad.json")
    # Never overwrite silently: a single existing file of a Keras checkpoint is enough to refuse.
    out = tmp_path / "o.npz"
    assert run(ckpt, str(out))[0] == 0
    before = out.read_bytes()
    _assert_one_line_error(*run(ckpt, str(out)), "exists", "--force")
    assert out.read_bytes() == before
    assert run(ckpt, str(out), "--force")[0] == 0
    (tmp_path / "k2.json").write_text("{}")
    _assert_one_line_error(*run(ckpt, str(tmp_path / "k2.weights.h5")), "k2.json", "--force")
    _assert_one_line_error(*run("--vgg19", ckpt, str(tmp_path / "vgg.pth")), ".npz")
    _assert_one_line_error(*run("--vgg19", ckpt, str(tmp_path / "vgg.npz")), "not a VGG19")


def test_cli_script_runs_standalone(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(REPO / "convert_weights.py"), str(tmp_path / "a.txt"),
                        str(tmp_path / "b.npz")], capture_output=True, text=True, timeout=120)
    _assert_one_line_error(p.returncode, p.stderr, "unknown file type")


def test_vgg19_conversion(tmp_path: Path) -> None:
    """torchvision's VGG19 file layout (old serialization, full model with classifier) -> .npz."""
    from torch_srgan.losses import vgg19_features

    torch.manual_seed(0)
    features = vgg19_features(36)
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # stands in for torchvision's classifier, ignored
    src = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(sd, src, _use_new_zipfile_serialization=False)
    assert convert_main(["--vgg19", str(src), str(tmp_path / "vgg.npz")]) == 0
    arrays = neutral.load_vgg19(tmp_path / "vgg.npz")
    assert len(arrays) == 32 and "features.34.weight" in arrays and "classifier.0.weight" not in arrays
    np.testing.assert_array_equal(arrays["features.34.weight"], sd["features.34.weight"].numpy())
    with pytest.raises(UserError, match="VGG19 loss-network"):
        neutral.load_neutral(tmp_path / "vgg.npz")


def _run_test_py(*args: str) -> list[dict]:
    test_py = _load_script("test")
    parsed = test_py.get_args_parser().parse_args(list(args))
    from srapp.scoring import run_test

    return run_test(parsed)


def test_test_py_runs_any_checkpoint_in_either_backend(torch_srgan_ckpt: Path, tiny_data: Path,
                                                       tmp_path: Path) -> None:
    npz = tmp_path / "g.npz"
    convert_checkpoint(torch_srgan_ckpt, npz)
    common = ["--data", str(tiny_data), "--results-dir", str(tmp_path / "results")]
    rows = {}
    keras_ckpt = tmp_path / "g.weights.h5"
    convert_checkpoint(torch_srgan_ckpt, keras_ckpt)
    for weights, backend in [(torch_srgan_ckpt, None), (torch_srgan_ckpt, "keras"), (npz, "torch"), (npz, "keras"),
                             (npz, None), (keras_ckpt, "torch"), (keras_ckpt, None)]:
        argv = ["--weights", str(weights), *common] + (["--backend", backend] if backend else [])
        (row,) = _run_test_py(*argv)
        rows[(Path(weights).suffix, backend)] = row
        assert row["backend"] == "torch"  # the backend that trained it, whatever ran it
        assert row["run_backend"] == (backend or ("keras" if weights == keras_ckpt else "torch"))
    psnrs = [r["psnr"] for r in rows.values()]
    assert max(psnrs) - min(psnrs) <= 0.01, rows
    from srcore.results import read_rows

    saved = read_rows(tmp_path / "results" / "results.csv")
    assert {(r["backend"], r["run_backend"]) for r in saved} == {("torch", "torch"), ("torch", "keras")}


def test_keras_trained_checkpoint_to_torch(tiny_data: Path, tmp_path: Path) -> None:
    """A Keras SRGAN checkpoint -> .pth: same tensors, trained_backend "keras"; torch can start an SRGAN
    phase from it (--pretrained) and says why it cannot --resume from it."""
    from keras_srgan.train import Trainer as KerasTrainer
    from srconvert import keras_io
    from srcore.checkpoint import CheckpointError
    from torch_srgan.train import Trainer as TorchTrainer

    cfg = preset_config("smoke", "srgan", backend="keras", content_loss="mse", device="cpu", xla=False,
                        data=str(tiny_data), out=str(tmp_path))
    kt = KerasTrainer(cfg)
    base = kt.save(tmp_path / "last", RunState(iteration=3))
    pth = tmp_path / "from_keras.pth"
    convert_checkpoint(base, pth)
    sd = _torch_states(pth)
    meta = json.loads(sd["meta"])
    assert meta["backend"] == "torch" and meta["trained_backend"] == "keras" and meta["iteration"] == 3
    g = keras_io.generator_to_arrays(kt.generator, cfg.scale, cfg.arch, cfg.arch_params)
    d = keras_io.discriminator_to_arrays(kt.discriminator, cfg.patch_size, cfg.disc_channels)
    for group, arrays in (("generator", g), ("discriminator", d)):
        for k, v in arrays.items():
            np.testing.assert_array_equal(sd[group][k].numpy(), v)
    torch_cfg = dataclasses.replace(cfg, backend="torch")
    tt = TorchTrainer(torch_cfg)
    tt.load_pretrained(pth)
    with pytest.raises(CheckpointError, match="converted checkpoint carries no optimizer state"):
        tt.restore(pth)
