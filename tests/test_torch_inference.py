"""PyTorch checkpoints and inference: round trip, safe loading, one-line errors for bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from srcore.checkpoint import CheckpointError, RunState, make_meta, meta_to_json  # noqa: E402
from srcore.config import preset_config  # noqa: E402
from srcore.errors import UserError  # noqa: E402
from torch_srgan.checkpoint import load_checkpoint, load_training_state, save_checkpoint  # noqa: E402
from torch_srgan.inference import load_generator, load_upscaler, make_upscaler  # noqa: E402
from torch_srgan.models import build_discriminator, build_generator  # noqa: E402
from torch_srgan.train import Trainer  # noqa: E402

torch.set_num_threads(1)


class NotATensor:
    """Pickled by reference: a weights_only load must refuse it."""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A smoke SRGAN-phase checkpoint and an SRResNet one written by Trainer.save (no data needed)."""
    root = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for model in ("srresnet", "srgan"):
        cfg = preset_config("smoke", model, backend="torch", device="cpu", vgg_weights="random", out=str(root))
        paths[model] = Trainer(cfg).save(root / f"{model}.pth", RunState(iteration=3, best_value=21.5))
    return paths


def test_round_trip_with_weights_only(checkpoints: dict[str, Path]) -> None:
    path = checkpoints["srgan"]
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"meta", "generator", "discriminator", "optim_g", "optim_d"}
    meta, data = load_checkpoint(path, backend="torch", scale=4)
    assert meta["iteration"] == 3 and meta["best_psnr"] == 21.5 and meta["model"] == "srgan"
    assert meta["arch"]["blocks"] == 2 and meta["arch"]["channels"] == 16
    generator, meta2 = load_generator(path)
    assert meta2 == meta
    for k, v in generator.state_dict().items():
        assert torch.equal(v, data["generator"][k])
    assert set(torch.load(checkpoints["srresnet"], weights_only=True)) == {"meta", "generator", "optim_g"}


def test_restore_round_trip(checkpoints: dict[str, Path]) -> None:
    cfg = preset_config("smoke", "srgan", backend="torch", device="cpu", vgg_weights="random", seed=5)
    trainer = Trainer(cfg)
    state = trainer.restore(checkpoints["srgan"])
    assert state.iteration == 3
    assert state.iteration == 3 and state.best_psnr == 21.5
    _, data = load_checkpoint(checkpoints["srgan"])
    for k, v in trainer.discriminator.state_dict().items():  # type: ignore[union-attr]
        assert torch.equal(v, data["discriminator"][k])


def test_load_upscaler_output(checkpoints: dict[str, Path]) -> None:
    upscale, meta = load_upscaler(checkpoints["srresnet"], device="cpu")
    assert meta["scale"] == 4
    lr = np.random.default_rng(0).random((2, 9, 11, 3), dtype=np.float32)
    sr = upscale(lr)
    assert sr.shape == (2, 36, 44, 3) and sr.dtype == np.float32
    assert 0.0 <= sr.min() and sr.max() <= 1.0
    generator, _ = load_generator(checkpoints["srresnet"])
    assert np.allclose(make_upscaler(generator, "cpu")(lr), sr, atol=1e-6)


def test_make_upscaler_maps_tanh_range_to_unit_range() -> None:
    generator = build_generator(2, blocks=1, channels=4)
    lr = np.random.default_rng(1).random((1, 4, 4, 3), dtype=np.float32)
    sr = make_upscaler(generator, "cpu")(lr)
    with torch.no_grad():
        generator.eval()
        ref = generator(torch.from_numpy(lr).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert np.allclose(sr, (ref + 1) / 2, atol=1e-6)


def _expect_error(path: Path, match: str, **kwargs: object) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, **kwargs)  # type: ignore[arg-type]
    msg = str(info.value)
    assert isinstance(info.value, UserError) and "\n" not in msg and str(path) in msg


def test_damaged_and_wrong_files(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    _expect_error(tmp_path / "missing.pth", "no such")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    _expect_error(empty, "not a readable")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"hello, this is text\n" * 50)
    _expect_error(junk, "not a readable")
    truncated = tmp_path / "truncated.pth"
    blob = checkpoints["srgan"].read_bytes()
    truncated.write_bytes(blob[: len(blob) // 2])
    _expect_error(truncated, "not a readable")
    h5 = tmp_path / "keras.weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    _expect_error(h5, "Keras")
    code = tmp_path / "code.pth"
    torch.save({"meta": "{}", "x": NotATensor()}, code)
    _expect_error(code, "refusing")
    plain_pickle = tmp_path / "pickle.pth"
    plain_pickle.write_bytes(pickle.dumps({"a": 1}))
    _expect_error(plain_pickle, "not a readable")
    bare = tmp_path / "bare.pth"
    torch.save(build_generator(4, blocks=1, channels=4).state_dict(), bare)
    _expect_error(bare, "no metadata")
    not_ours = tmp_path / "not_ours.pth"
    torch.save({"meta": '{"format": "other"}', "generator": {}}, not_ours)
    _expect_error(not_ours, "not a checkpoint of this project")
    bad_json = tmp_path / "bad_json.pth"
    torch.save({"meta": "{nope", "generator": {}}, bad_json)
    _expect_error(bad_json, "JSON")


def test_missing_keys_and_mismatches(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    cfg = preset_config("smoke", "srresnet", backend="torch")
    no_gen = tmp_path / "no_gen.pth"
    torch.save({"meta": meta_to_json(make_meta(cfg, RunState(1))), "optim_g": {}}, no_gen)
    _expect_error(no_gen, "no 'generator'")
    _, loaded = load_checkpoint(checkpoints["srresnet"])
    with pytest.raises(CheckpointError, match="no 'discriminator'") as info:
        load_training_state(loaded, build_discriminator(32, 8), {})
    assert "\n" not in str(info.value) and str(checkpoints["srresnet"]) in str(info.value)
    _expect_error(checkpoints["srresnet"], "--scale 2", scale=2)
    keras_meta = tmp_path / "keras_meta.pth"
    torch.save({"meta": meta_to_json(make_meta(preset_config("smoke", "srresnet", backend="keras"), RunState(1))),
                "generator": {}}, keras_meta)
    _expect_error(keras_meta, "keras checkpoint")
    wrong_shapes = tmp_path / "wrong_shapes.pth"
    small = build_generator(4, blocks=1, channels=4).state_dict()
    torch.save({"meta": meta_to_json(make_meta(cfg, RunState(1))), "generator": small}, wrong_shapes)
    with pytest.raises(CheckpointError, match="do not fit") as info:
        load_upscaler(wrong_shapes, device="cpu")
    assert "\n" not in str(info.value)


def test_save_is_atomic(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    cfg = preset_config("smoke", "srresnet", backend="torch")
    path = tmp_path / "a.pth"
    generator = build_generator(4, blocks=1, channels=4)
    save_checkpoint(path, make_meta(cfg, RunState(1)), generator)
    save_checkpoint(path, make_meta(cfg, RunState(2)), generator)
    assert load_checkpoint(path)[0]["iteration"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]  # no temporary files left behind
