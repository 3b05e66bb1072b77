"""A new architecture is one spec, one implementation per backend and its conversion layout: registered here, in
the test itself (no project file edited), a toy network trains, checkpoints, resumes, converts between the
backends and is scored by test.py in both."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras  # noqa: E402
from torch import nn  # noqa: E402

from keras_srgan.archs import GENERATORS as KERAS_GENERATORS  # noqa: E402
from keras_srgan.layers import PixelShuffle  # noqa: E402
from srcore.arch import ArchSpec, Entry, ModelSpec, Param, register_arch, unregister_arch  # noqa: E402
from torch_srgan.archs import GENERATORS as TORCH_GENERATORS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
TOY = "toynet"


def toy_layout(scale: int, p: Mapping[str, Any]) -> list[Entry]:
    """conv 3x3 (3 -> width), ReLU, conv 3x3 (width -> 3 * scale^2), one pixel shuffle by the scale, tanh."""
    return [Entry("body", "toy_body", "conv"), Entry("tail", "toy_tail", "conv_ps", (scale,))]


class TorchToy(nn.Module):
    def __init__(self, scale: int = 4, width: int = 6) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, width, 3, padding=1)
        self.tail = nn.Conv2d(width, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.shuffle(self.tail(torch.relu(self.body(x)))))


def keras_toy(scale: int = 4, width: int = 6) -> keras.Model:
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="toy_body")(inp)
    x = keras.layers.Conv2D(3 * scale * scale, 3, padding="same", name="toy_tail")(x)
    out = keras.layers.Activation("tanh", dtype="float32")(PixelShuffle(scale)(x))
    return keras.Model(inp, out, name="toynet")


@pytest.fixture
def toy() -> Iterator[str]:
    spec = ArchSpec(TOY, "a two-layer test network", (Param("width", 6, "feature channels", maximum=64),),
                    toy_layout)
    register_arch(spec, ModelSpec(TOY, TOY, "supervised", "the toy network", "Toy", order=50,
                                  presets={"smoke": dict(iterations=4, lr=1e-3, content_loss="mse")}))
    TORCH_GENERATORS.register(TOY, TorchToy)
    KERAS_GENERATORS.register(TOY, keras_toy)
    try:
        yield TOY
    finally:
        unregister_arch(TOY)
        TORCH_GENERATORS.unregister(TOY)
        KERAS_GENERATORS.unregister(TOY)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_registered_toy_architecture_trains_resumes_converts_and_scores(toy: str, backend: str, tiny_data: Path,
                                                                          tmp_path: Path) -> None:
    import test as test_py
    import trains
    from srapp.loading import load_sr_model
    from srconvert.convert import convert_checkpoint

    run = tmp_path / "run"
    common = ["--backend", backend, "--model", toy, "--preset", "smoke", "--data", str(tiny_data), "--out", str(run),
              "--width", "5", "--no-tensorboard", "--device", "cpu"]
    # 2 steps, then resumed to 4: the resumed run's log continues the first one's
    assert trains.main([*common, "--iterations", "2"]) == 0
    assert trains.main(["--resume", str(run), "--iterations", "4"]) == 0
    log = [json.loads(line) for line in (run / toy / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "content" in r] == [1, 2, 3, 4]
    config = json.loads((run / toy / "config.json").read_text())
    assert (config["arch"], config["arch_params"], config["iterations"]) == (toy, {"width": 5}, 4)

    last = run / toy / ("last.pth" if backend == "torch" else "last.weights.h5")
    other = "keras" if backend == "torch" else "torch"
    converted = tmp_path / ("toy.weights.h5" if other == "keras" else "toy.pth")
    convert_checkpoint(last, converted)
    convert_checkpoint(last, tmp_path / "toy.safetensors")
    lr = np.random.default_rng(0).random((1, 8, 6, 3), dtype=np.float32)
    outs = []
    for weights, runner in ((last, backend), (converted, other), (tmp_path / "toy.safetensors", backend)):
        upscale, meta, _ = load_sr_model(str(weights), runner, "cpu", 4)
        assert meta["arch"] == {**meta["arch"], "name": toy, "width": 5} and meta["iteration"] == 4
        outs.append(upscale(lr))
    assert outs[0].shape == (1, 32, 24, 3)
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-4)
    np.testing.assert_array_equal(outs[2], outs[0])

    results = tmp_path / "results"
    for runner in ("torch", "keras"):
        assert test_py.main(["--weights", str(last), "--backend", runner, "--data", str(tiny_data),
                             "--results-dir", str(results)]) == 0
    rows = [r for r in (results / "results.csv").read_text().splitlines()[1:] if r.startswith(f"{toy},")]
    assert len(rows) == 2 and {r.split(",")[2] for r in rows} == {"torch", "keras"}
    assert f"| {toy} |" in (results / "README.md").read_text()


def test_an_unknown_architecture_is_one_line_everywhere(tmp_path: Path) -> None:
    from srcore.arch import generator_args
    from srcore.errors import UserError
    from torch_srgan.models import build_generator

    with pytest.raises(UserError, match="unknown architecture 'edsr'; expected one of"):
        build_generator(4, "edsr")
    with pytest.raises(UserError, match="f.pth: architecture in the metadata: unknown architecture 'edsr'"):
        generator_args({"scale": 4, "arch": {"name": "edsr"}}, "f.pth")
    with pytest.raises(UserError, match="blocks must be <= 512"):
        generator_args({"scale": 4, "arch": {"name": "srresnet", "blocks": 10**6}}, "f.pth")
