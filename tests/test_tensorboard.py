"""TensorBoard logs: both backends write event files with the same tags, read back here."""

from __future__ import annotations

from pathlib import Path

import pytest

from srcore.config import preset_config
from srcore.loop import TENSORBOARD_DIR, TENSORBOARD_TAGS, tensorboard_tag

pytest.importorskip("tensorboard")


def _read_events(folder: Path) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(scalar tag -> steps, image tag -> steps) of the event files under `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [e.step for e in acc.Scalars(t)] for t in tags["scalars"]}
    images = {t: [e.step for e in acc.Images(t)] for t in tags["images"]}
    # tf.summary (TF2) stores scalars and images as tensors
    for t in tags.get("tensors", []):
        events = acc.Tensors(t)
        kind = "images" if events and events[0].tensor_proto.dtype == 7 else "scalars"  # DT_STRING: encoded PNGs
        (images if kind == "images" else scalars)[t] = [e.step for e in events]
    return scalars, images


def test_tag_scheme() -> None:
    assert tensorboard_tag("content") == "loss/content" and tensorboard_tag("val_sr_0") == "val/sr_0"
    assert len(set(TENSORBOARD_TAGS.values())) == len(TENSORBOARD_TAGS)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_smoke_run_writes_the_same_tags(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    from srapp.backends import backend_module

    out = tmp_path / "srresnet"
    cfg = preset_config("smoke", "srresnet", backend=backend, data=str(tiny_data), out=str(out), device="cpu",
                        xla=False)
    backend_module(backend, "train").train(cfg.validate())
    scalars, images = _read_events(out / TENSORBOARD_DIR)
    expected = {"loss/generator", "loss/content", "train/learning_rate", "train/seconds", "val/psnr", "val/ssim"}
    assert expected <= set(scalars), sorted(scalars)
    assert scalars["loss/content"] == [1, 2, 3, 4] and scalars["val/psnr"] == [2, 4]
    assert {"val/sr_0", "val/sr_1"} <= set(images) and images["val/sr_0"] == [2, 4]


def test_no_tensorboard_writes_none(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.train import train

    out = tmp_path / "srresnet"
    cfg = preset_config("smoke", "srresnet", data=str(tiny_data), out=str(out), device="cpu", tensorboard=False)
    train(cfg.validate())
    assert (out / "log.jsonl").is_file() and not (out / TENSORBOARD_DIR).exists()
