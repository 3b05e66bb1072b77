"""Several workers on this CPU machine.

PyTorch, torchrun / DDP (gloo): two workers train one run folder, written once; the run resumes on another number
of workers; --sync-bn is refused on CPUs (PyTorch's SyncBatchNorm is CUDA only, so its equivalence with one
process is checked with Keras' synchronized BatchNormalization below).
Keras, tf.distribute: MirroredStrategy over 2 logical CPU devices and MultiWorkerMirroredStrategy with 2 local
workers on loopback ports; with --sync-bn both compute what one device computes on the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]



def torchrun(workers: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(workers),
           str(REPO / "trains.py"), *args]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    p.stderr = "\n".join(line for line in p.stderr.splitlines() if not line.startswith("W"))  # drop torch's warnings
    return p


WORKER_EXIT = """
import atexit, sys
from srcore.errors import UserError, run_cli
from srcore.worker_exit import on_exit
atexit.register(lambda: print("atexit ran"))
on_exit(lambda: print("first teardown"))
on_exit(lambda: print("second teardown"))

def work():
    print("written", end="")  # still in the buffer of a pipe when the process ends
    if sys.argv[1] == "user":
        raise UserError("bad input")
    if sys.argv[1] == "bug":
        raise RuntimeError("a bug")

print("returned", run_cli(work))
"""


@pytest.mark.parametrize("case, code", [("ok", 0), ("user", 2), ("bug", 1)])
def test_a_worker_ends_with_its_exit_code_without_finalization(tmp_path: Path, case: str, code: int) -> None:
    """A process that joined a process group ends in run_cli: teardowns (last first), buffers flushed, the
    command's exit code, and no interpreter finalization (atexit handlers do not run: srcore.worker_exit)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER_EXIT)
    p = subprocess.run([sys.executable, str(script), case], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == code, p.stderr
    assert p.stdout == "writtensecond teardown\nfirst teardown\n"  # nothing after run_cli, no atexit
    assert ("error: bad input" in p.stderr) == (case == "user")
    assert ("RuntimeError: a bug" in p.stderr) == (case == "bug")


def test_two_workers_then_resume_on_one_and_on_two(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
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


def test_two_workers_compute_what_one_does(tiny_data: Path, tmp_path: Path) -> None:
    """Without BatchNorm (SRCNN) nothing depends on how the batch is split: 2 workers on a global batch of 4 give
    one process's losses (1e-5 relative) and weights (1e-5): the gradients are averaged, the batches the same."""
    pytest.importorskip("torch")
    from srconvert.convert import read_checkpoint

    common = ["--backend", "torch", "--model", "srcnn", "--preset", "smoke", "--batch-size", "4", "--data",
              str(tiny_data), "--no-tensorboard", "--iterations", "4"]
    p = torchrun(2, *common, "--out", str(tmp_path / "two"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), *common, "--out", str(tmp_path / "one")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    losses = [[json.loads(line)["content"] for line in (tmp_path / run / "srcnn" / "log.jsonl").read_text().splitlines()
               if "content" in json.loads(line)] for run in ("two", "one")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    two, one = (read_checkpoint(tmp_path / run / "srcnn" / "last.pth", discriminator=False)[2]["generator"]
                for run in ("two", "one"))
    for key in one:
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-5, err_msg=key)


def test_adversarial_phase_on_two_workers(tiny_data: Path, tmp_path: Path) -> None:
    """Both models under DDP: the discriminator sees real and generated patches in two calls per step."""
    pytest.importorskip("torch")
    out = tmp_path / "gan"
    p = torchrun(2, "--backend", "torch", "--preset", "smoke", "--batch-size", "4", "--data", str(tiny_data),
                 "--no-tensorboard", "--vgg-weights", "random", "--pretrain-iterations", "2", "--iterations", "2",
                 "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "srgan" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2]


def test_sync_bn_needs_cuda(tiny_data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --sync-bn is supported")
    p = torchrun(2, "--backend", "torch", "--model", "srresnet", "--preset", "smoke", "--batch-size", "4", "--data",
                 str(tiny_data), "--out", str(tmp_path / "r"), "--sync-bn", "--no-tensorboard", cwd=tmp_path)
    assert p.returncode != 0 and "--sync-bn needs CUDA" in p.stderr


# --- Keras: tf.distribute --------------------------------------------------------------------------------------

KERAS_RUN = ["--backend", "keras", "--model", "srresnet", "--preset", "smoke", "--batch-size", "4",
             "--no-tensorboard", "--iterations", "4"]
PRE_BN_BIASES = ("conv1.bias", "conv2.bias", "body_conv.bias")  # conv biases directly followed by BN
TF_QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

# Trains in the shared loop with MirroredStrategy over 2 logical CPU devices, then checks that the replicas
# hold the same generator: every variable's per-device copies equal.
MIRRORED_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np
from keras_srgan.train import Trainer
from srcore.config import preset_config
from srcore.loop import run_phase
from srcore.sampling import make_sampler
cfg = preset_config("smoke", "srresnet", backend="keras", batch_size=4, iterations=4, data=sys.argv[2],
                    out=sys.argv[3] + "/srresnet", distribute="mirrored", cpu_devices=2, sync_bn=True,
                    tensorboard=False)
trainer = Trainer(cfg)
run_phase(cfg, trainer, None, last_path=Path(cfg.out) / "last", best_path=Path(cfg.out) / "best",
          sampler_factory=lambda: make_sampler(cfg))
strategy = trainer.workers.strategy
assert strategy.num_replicas_in_sync == 2
for v in trainer.generator.weights:
    copies = [np.asarray(c) for c in strategy.experimental_local_results(v.value)]
    assert len(copies) == 2 and np.array_equal(copies[0], copies[1]), v.path
print("replicas identical")
"""


def _keras_losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "srresnet" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "content" in r]
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))  # each step once: one writer
    return [r["content"] for r in steps]


def _generator(run: Path) -> dict[str, np.ndarray]:
    from srconvert.convert import read_checkpoint

    last = next(p for p in (run / "srresnet" / "last.weights.h5", run / "srresnet" / "last.pth") if p.is_file())
    return read_checkpoint(last, discriminator=False)[2]["generator"]


def _assert_same_training(run: Path, one: Path) -> None:
    """The same losses step by step (1e-5 relative) and the same generator (1e-4 max abs) as one device.

    Except the conv biases right before a BN and the BN running means they feed: BN removes those biases, so
    their gradient is float rounding noise, which Adam turns into steps of up to lr of either sign; another
    summation order (replicas) draws other noise (as between the backends: tests/test_parity.py)."""
    np.testing.assert_allclose(_keras_losses(run), _keras_losses(one), rtol=1e-5)
    a, b = _generator(run), _generator(one)
    lr = 1e-3 * 4  # the smoke preset's lr, 4 steps
    for key in a:
        if key.endswith(PRE_BN_BIASES):
            assert np.abs(a[key] - b[key]).max() <= 2 * lr, key
        elif not key.endswith("running_mean"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-4, err_msg=key)


@pytest.fixture(scope="module")
def one_device_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("keras_one") / "run"
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), *KERAS_RUN, "--data", str(tiny_data),
                        "--out", str(out)], capture_output=True, text=True, timeout=600, env=TF_QUIET)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def test_keras_mirrored_two_cpu_devices_then_resume(tiny_data: Path, tmp_path: Path, one_device_run: Path) -> None:
    out = tmp_path / "mirrored"
    p = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(REPO), str(tiny_data), str(out)],
                       capture_output=True, text=True, timeout=600, env=TF_QUIET)
    assert p.returncode == 0 and "replicas identical" in p.stdout, p.stderr[-3000:]
    _assert_same_training(out, one_device_run)

    # The same through trains.py, then resumed with the same strategy and on one device.
    cli = tmp_path / "cli"
    args = [sys.executable, str(REPO / "trains.py")]
    p = subprocess.run([*args, *KERAS_RUN, "--data", str(tiny_data), "--out", str(cli), "--distribute", "mirrored",
                        "--cpu-devices", "2", "--sync-bn"], capture_output=True, text=True, timeout=600, env=TF_QUIET)
    assert p.returncode == 0, p.stderr[-3000:]
    _assert_same_training(cli, one_device_run)
    assert "2 replicas (MirroredStrategy" in json.loads((cli / "srresnet" / "last.json").read_text())["device"]
    p = subprocess.run([*args, "--resume", str(cli), "--iterations", "6"], capture_output=True, text=True,
                       timeout=600, env=TF_QUIET)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run([*args, "--resume", str(cli), "--iterations", "8", "--distribute", "none"],
                       capture_output=True, text=True, timeout=600, env=TF_QUIET)
    assert p.returncode == 0, p.stderr[-3000:]
    assert _keras_losses(cli)[-1] > 0 and len(_keras_losses(cli)) == 8
    assert json.loads((cli / "srresnet" / "last.json").read_text())["iteration"] == 8


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _multiworker(*args: str) -> list[tuple[int, str]]:
    """trains.py on 2 local workers (TF_CONFIG with 2 loopback ports): (return code, stderr) of each."""
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    procs = []
    for index in range(2):
        env = {**TF_QUIET, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                    "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, str(REPO / "trains.py"), *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))
    outputs = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, err) for p, (_, err) in zip(procs, outputs)]


def test_keras_multiworker_two_local_workers(tiny_data: Path, tmp_path: Path, one_device_run: Path) -> None:
    out = tmp_path / "multi"
    results = _multiworker(*KERAS_RUN, "--data", str(tiny_data), "--out", str(out), "--distribute", "multiworker",
                           "--sync-bn")
    for code, err in results:
        assert code == 0, err[-3000:]
    assert "srresnet x4" in results[0][1] and "srresnet x4" not in results[1][1]  # one progress bar
    _assert_same_training(out, one_device_run)
    assert "2 worker(s)" in json.loads((out / "srresnet" / "last.json").read_text())["device"]
    for code, err in _multiworker("--resume", str(out), "--iterations", "6"):  # resumed on both workers
        assert code == 0, err[-3000:]
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", str(out), "--iterations", "8",
                        "--distribute", "none"], capture_output=True, text=True, timeout=600, env=TF_QUIET)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((out / "srresnet" / "last.json").read_text())["iteration"] == 8
    assert len(_keras_losses(out)) == 8  # every step logged once, by one writer


def test_torch_sync_bn_equals_one_process(tiny_data: Path, tmp_path: Path) -> None:
    """PyTorch's counterpart of the Keras checks above; SyncBatchNorm is CUDA only, so this needs 2 GPUs."""
    torch = pytest.importorskip("torch")
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA GPUs (PyTorch's SyncBatchNorm is CUDA only)")
    args = [*KERAS_RUN, "--data", str(tiny_data)]
    args[args.index("keras")] = "torch"
    p = torchrun(2, *args, "--out", str(tmp_path / "two"), "--sync-bn", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), *args, "--out", str(tmp_path / "one"), "--device",
                        "cuda:0"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    _assert_same_training(tmp_path / "two", tmp_path / "one")


def test_keras_multiworker_needs_tf_config(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in TF_QUIET.items() if k != "TF_CONFIG"}
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), *KERAS_RUN, "--data", str(tiny_data), "--out",
                        str(tmp_path / "r"), "--distribute", "multiworker"], capture_output=True, text=True,
                       timeout=600, env=env)
    assert p.returncode == 2 and "needs TF_CONFIG" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), *KERAS_RUN, "--data", str(tiny_data), "--out",
                        str(tmp_path / "x"), "--distribute", "mirrored", "--cpu-devices", "3"], capture_output=True,
                       text=True, timeout=600, env=env)
    assert p.returncode == 2 and "does not split evenly over 3 replicas" in p.stderr and "Traceback" not in p.stderr
