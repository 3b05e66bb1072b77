"""The package as installed: pyproject's commands exist, one framework is enough, and runs print no framework noise.

CI also installs `.[torch]` into a fresh environment without TensorFlow and runs the torch tests there
(.ci/run); here the absence of the other framework is made by an import hook, so this runs in any environment.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SHIPPED_SRRESNET = REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors"
# Start-up lines of the frameworks that say nothing about the run (issue: they read as failures).
NOISE = re.compile(r"tensorflow|absl|oneDNN|cuInit|cuda_platform|cudart|cuda drivers|cpu_feature_guard",
                   re.IGNORECASE)

# Runs `code` with the named top-level packages unimportable, as in an environment without them.
BLOCKED = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
sys.meta_path.insert(0, Block())
{code}
"""


def _run_without(blocked: set[str], code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED.format(blocked=blocked, code=code)], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env={"PYTHONPATH": str(REPO), "PATH": ""})


def test_every_command_is_an_entry_script_and_a_console_script() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"srgan-train", "srgan-test", "srgan-prepare", "srgan-convert", "srgan-benchmark",
                            "srgan-figures"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))
    for script in ("trains.py", "test.py", "prepare_bsd500.py", "convert_weights.py", "benchmark.py",
                   "make_figures.py"):
        assert "from srapp.commands." in (REPO / script).read_text()


def test_extras_name_each_framework_and_the_core_needs_none() -> None:
    project = PYPROJECT["project"]
    core = " ".join(project["dependencies"])
    assert not re.search(r"\b(torch|tensorflow|keras|matplotlib|scikit-image|torchvision|pytest)\b", core)
    extras = project["optional-dependencies"]
    assert {"torch", "keras", "figures", "export", "dev", "all"} <= set(extras)
    assert any(d.startswith("torch") for d in extras["torch"]) and not any("tensorflow" in d for d in extras["torch"])
    assert any(d.startswith("tensorflow") for d in extras["keras"]) and not any(
        d.startswith("torch") for d in extras["keras"])


@pytest.mark.skipif(not SHIPPED_SRRESNET.is_file(), reason="needs the shipped SRResNet")
def test_torch_alone_super_resolves_a_photo_and_never_imports_tensorflow(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    code = (f"from srapp.commands.test import main\n"
            f"rc = main(['--weights', {str(SHIPPED_SRRESNET)!r}, '--input', 'photo.png', '--output', 'out.png'])\n"
            f"assert rc == 0, rc\n"
            f"assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules), 'imported'\n")
    p = _run_without({"tensorflow", "keras", "h5py"}, code, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert Image.open(tmp_path / "out.png").size == (96, 80)


@pytest.mark.skipif(not SHIPPED_SRRESNET.is_file(), reason="needs the shipped SRResNet")
def test_keras_alone_runs_torch_trained_safetensors_and_pth_files_without_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # (to write the .pth this test reads; the run itself has no torch)
    pytest.importorskip("tensorflow")
    from srconvert.convert import convert_checkpoint

    convert_checkpoint(SHIPPED_SRRESNET, tmp_path / "g.pth")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
        tmp_path / "photo.png")
    code = ("from srapp.commands.test import main\n"
            f"for i, w in enumerate([{str(SHIPPED_SRRESNET)!r}, 'g.pth']):\n"
            "    assert main(['--weights', w, '--input', 'photo.png', '--output',"
            " f'out{i}.png']) == 0\n"
            "assert not any(m.split('.')[0] == 'torch' for m in sys.modules), 'torch imported'\n"
            )
    p = _run_without({"torch", "torchvision"}, code, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert Image.open(tmp_path / "out0.png").size == Image.open(tmp_path / "out1.png").size == (96, 80)


def _script(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the entry scripts in `tmp_path`; it must succeed."""
    p = subprocess.run([sys.executable, str(REPO / script), *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def _noise(*runs: subprocess.CompletedProcess) -> list[str]:
    return [line for p in runs for line in (p.stdout + p.stderr).splitlines() if NOISE.search(line)]


def _smoke_training(backend: str, tiny_data: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return _script(tmp_path, "trains.py", "--backend", backend, "--model", "srresnet", "--preset", "smoke",
                   "--iterations", "2", "--data", str(tiny_data), "--out", str(tmp_path / "run"))


def test_a_torch_training_run_and_test_py_print_no_framework_noise(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    train = _smoke_training("torch", tiny_data, tmp_path)
    score = _script(tmp_path, "test.py", "--weights", str(tmp_path / "run" / "srresnet" / "last.pth"), "--data",
                    str(tiny_data), "--metrics", "psnr", "--results-dir", str(tmp_path / "results"))
    assert not _noise(train, score), _noise(train, score)[:5]


def test_a_keras_run_prints_only_what_says_something(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    train = _smoke_training("keras", tiny_data, tmp_path)
    assert not _noise(train), _noise(train)[:5]


def test_the_start_up_filter_passes_real_lines_on(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from keras_srgan import quiet_start

    with quiet_start():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"a real problem\n")
    err = capfd.readouterr().err
    assert "a real problem" in err and "oneDNN" not in err
