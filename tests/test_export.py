"""Export (convert_weights.py X.onnx / X.tflite): the exported upscaler computes what the framework computes, on a
real image, at any size; the README's onnxruntime example runs with numpy and Pillow only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore.errors import UserError
from tests.conftest import DATASETS

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "results" / "weights"


def _image(size: tuple[int, int] = (120, 100)) -> np.ndarray:
    """A Set14 image's corner when the datasets are here, else smooth random content; HxWx3 uint8."""
    set14 = DATASETS / "Set14"
    files = sorted(p for p in set14.glob("*") if p.suffix.lower() in (".png", ".bmp", ".jpg")) if set14.is_dir() else []
    if files:
        img = np.asarray(Image.open(files[0]).convert("RGB"))
        return img[: size[1], : size[0]]
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 256, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8))
    return np.asarray(small.resize(size, Image.BICUBIC))


def _torch_reference(weights: Path, x: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from srconvert import torch_io
    from srconvert.convert import read_checkpoint

    _, meta, groups = read_checkpoint(weights, discriminator=False)
    model = torch_io.unit_range_model(torch_io.generator_from_arrays(meta, groups["generator"], str(weights)))
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", ["srresnet_x4_torch_long", "vdsr_x4_keras_quick", "srcnn_x4_torch_quick"])
def test_onnx_equals_torch_on_a_real_image_at_any_size(name: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from srconvert.export import export_generator

    weights, out = WEIGHTS / f"{name}.safetensors", tmp_path / f"{name}.onnx"
    if not weights.is_file():
        pytest.skip("needs the shipped weights")
    lines = export_generator(weights, out)
    assert "ONNX" in lines[0]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["scale"] == "4" and props["arch"] in name
    interpolating = name.startswith(("srcnn", "vdsr"))
    assert ("bicubic" in props["input"]) == interpolating
    for size in ((120, 100), (64, 48)):  # dynamic height and width
        x = (_image(size).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        sr = session.run(None, {"lr": x})[0]
        assert sr.shape == (1, 3, size[1] * (1 if interpolating else 4), size[0] * (1 if interpolating else 4))
        np.testing.assert_allclose(sr, _torch_reference(weights, x), rtol=0, atol=1e-4)
    with pytest.raises(UserError, match="exists"):
        export_generator(weights, out)


def test_tflite_equals_keras_on_a_real_image(tmp_path: Path) -> None:
    import keras_srgan  # noqa: F401  (first: KERAS_BACKEND)

    tf = pytest.importorskip("tensorflow")
    from srconvert import keras_io
    from srconvert.convert import read_checkpoint
    from srconvert.export import export_generator

    weights, out = WEIGHTS / "srresnet_x4_torch_long.safetensors", tmp_path / "g.tflite"
    export_generator(weights, out)
    x = (_image().astype(np.float32) / 255.0)[None]
    interpreter = tf.lite.Interpreter(model_path=str(out))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    sr = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    _, meta, groups = read_checkpoint(weights, discriminator=False)
    g = keras_io.generator_from_arrays(meta, groups["generator"], str(weights))
    reference = np.clip((np.asarray(g(x, training=False)) + 1.0) * 0.5, 0.0, 1.0)
    assert sr.shape == (1, 400, 480, 3)
    np.testing.assert_allclose(sr, reference, rtol=0, atol=1e-4)


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    from srapp.commands.convert import main

    weights = WEIGHTS / "srresnet_x4_torch_long.safetensors"
    for args in ([str(weights), str(tmp_path / "x.onnx"), "--vgg19"], [str(tmp_path / "none.pth"),
                                                                        str(tmp_path / "y.onnx")]):
        assert main(args) == 2


def test_readme_onnx_example_runs_with_numpy_and_pillow_only(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from srconvert.export import export_generator

    readme = (REPO / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "onnxruntime" in b]
    assert len(blocks) == 1, "the README's ONNX example"
    example = blocks[0]
    assert len(example.strip().splitlines()) <= 10
    export_generator(WEIGHTS / "srresnet_x4_torch_long.safetensors", tmp_path / "srresnet_x4.onnx")
    Image.fromarray(_image((40, 30))).save(tmp_path / "photo.jpg", quality=95)
    # torch, TensorFlow and the project's own packages unimportable: the example needs none of them
    guard = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in {'torch', 'tensorflow', 'keras', 'srcore', 'srapp', 'srconvert',"
             " 'torch_srgan', 'keras_srgan'}:\n            raise ImportError(name)\nsys.meta_path.insert(0, Block())\n")
    p = subprocess.run([sys.executable, "-c", guard + example], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert Image.open(tmp_path / "photo_x4.png").size == (160, 120)
