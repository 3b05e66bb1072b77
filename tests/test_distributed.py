"""torchrun / DDP on CPUs (gloo): two workers train one run folder, written once; the run resumes on another
number of workers; --sync-bn is refused on CPUs (PyTorch's SyncBatchNorm is CUDA only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
torch = pytest.importorskip("torch")


def torchrun(workers: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(workers),
           str(REPO / "trains.py"), *args]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    p.stderr = "\n".join(line for line in p.stderr.splitlines() if not line.startswith("W"))  # drop torch's warnings
    return p


def test_two_workers_then_resume_on_one_and_on_two(tiny_data: Path, tmp_path: Path) -> None:
    from torch_srgan.checkpoint import load_checkpoint

    out = tmp_path / "run"
    common = ["--backend", "torch", "--preset", "smoke", "--batch-size", "4", "--data", str(tiny_data),
              "--no-tensorboard", "--vgg-weights", "random"]
    p = torchrun(2, *common, "--model", "srresnet", "--iterations", "4", "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    log = [json.loads(line) for line in (out / "srresnet" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "content" in r] == [1, 2, 3, 4]  # one writer: no row twice
    assert [r["step"] for r in log if "val_psnr" in r] == [2, 4]
    assert load_checkpoint(out / "srresnet" / "last.pth")[0]["iteration"] == 4
    assert not list(out.rglob(".*.tmp*"))

    one = tmp_path / "one"
    shutil.copytree(out, one)
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", str(one), "--iterations", "6"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert load_checkpoint(one / "srresnet" / "last.pth")[0]["iteration"] == 6

    p = torchrun(2, "--resume", str(one), "--iterations", "8", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert load_checkpoint(one / "srresnet" / "last.pth")[0]["iteration"] == 8


def test_adversarial_phase_on_two_workers(tiny_data: Path, tmp_path: Path) -> None:
    """Both models under DDP: the discriminator sees real and generated patches in two calls per step."""
    out = tmp_path / "gan"
    p = torchrun(2, "--backend", "torch", "--preset", "smoke", "--batch-size", "4", "--data", str(tiny_data),
                 "--no-tensorboard", "--vgg-weights", "random", "--pretrain-iterations", "2", "--iterations", "2",
                 "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "srgan" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2]


def test_sync_bn_needs_cuda(tiny_data: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --sync-bn is supported")
    p = torchrun(2, "--backend", "torch", "--model", "srresnet", "--preset", "smoke", "--batch-size", "4", "--data",
                 str(tiny_data), "--out", str(tmp_path / "r"), "--sync-bn", "--no-tensorboard", cwd=tmp_path)
    assert p.returncode != 0 and "--sync-bn needs CUDA" in p.stderr
