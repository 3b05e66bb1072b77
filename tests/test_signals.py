"""SIGINT/SIGTERM: the step in flight finishes, `last` is saved, the message gives the exact --resume command;
a second signal stops at once. Killed saves leave no temporary file behind a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srcore.loop import stop_requests

REPO = Path(__file__).resolve().parents[1]


def test_first_signal_asks_second_stops_at_once() -> None:
    # What was there before: Python's default_int_handler, or SIG_IGN when the suite was started in the background
    # by a non-interactive shell (which ignores SIGINT for its background jobs).
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with stop_requests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop == [signal.SIGINT]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored


@pytest.mark.parametrize("backend", ["torch"])
def test_sigterm_saves_last_and_resume_finishes(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_srgan.checkpoint import load_checkpoint

    out = tmp_path / "run"
    args = [sys.executable, str(REPO / "trains.py"), "--backend", backend, "--model", "srresnet", "--preset", "smoke",
            "--iterations", "300", "--save-every", "300", "--val-every", "300", "--data", str(tiny_data),
            "--out", str(out), "--no-tensorboard"]
    p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "srresnet" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.is_file() or log.read_text().count("\n") < 3):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "SIGTERM after iteration" in message[0], err[-2000:]
    assert message[0].endswith(f"continue with: python trains.py --resume {out}")
    stopped_at = int(message[0].split("after iteration ")[1].split(";")[0])
    meta, _ = load_checkpoint(out / "srresnet" / "last.pth")
    assert meta["iteration"] == stopped_at and 3 <= stopped_at < 300  # no finished step lost
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows[-1]["step"] == stopped_at

    (out / "srresnet" / ".last.pth.x1y2.tmp.pth").write_bytes(b"half a save")  # as a SIGKILL mid-save leaves
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", str(out)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert load_checkpoint(out / "srresnet" / "last.pth")[0]["iteration"] == 300
    assert not list((out / "srresnet").glob(".*.tmp*")) and "interrupted save" in p.stderr


def _session_processes(sid: int) -> list[int]:
    """The processes still alive in session `sid` (Linux /proc)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session; skip zombies
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_streaming_workers_run_saves_and_leaves_no_worker(sig: int, tmp_path: Path) -> None:
    """Ctrl-C / SIGTERM to a run fed by data worker processes: the step finishes, `last` is saved, every worker
    exits (none is left running), and the run resumes."""
    pytest.importorskip("torch")
    from tests.test_folder_data import make_folder
    from torch_srgan.checkpoint import load_checkpoint

    images, out = make_folder(tmp_path / "images"), tmp_path / "run"
    env = {**os.environ, "SRGAN_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, str(REPO / "trains.py"), "--backend", "torch", "--model", "srresnet", "--preset", "smoke",
            "--iterations", "500", "--save-every", "500", "--val-every", "500", "--train-dir", str(images),
            "--data-workers", "2", "--out", str(out), "--no-tensorboard"]
    p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)  # its own session: every process it starts can be found after
    log = out / "srresnet" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.is_file() or log.read_text().count("\n") < 3):
        time.sleep(0.05)
    assert len(_session_processes(p.pid)) >= 3, "expected the training process and its 2 data workers"
    if sig == signal.SIGINT:
        os.killpg(p.pid, sig)  # as Ctrl-C in a terminal: to the whole process group, the workers included
    else:
        p.send_signal(sig)  # as `kill` or a scheduler: to the training process
    _, err = p.communicate(timeout=300)
    assert p.returncode == 128 + sig, err[-2000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "after iteration" in message[0], err[-2000:]
    stopped_at = int(message[0].split("after iteration ")[1].split(";")[0])
    assert load_checkpoint(out / "srresnet" / "last.pth")[0]["iteration"] == stopped_at >= 3
    deadline = time.time() + 30
    while _session_processes(p.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert _session_processes(p.pid) == [], "a data worker outlived the run"
    p = subprocess.run([sys.executable, str(REPO / "trains.py"), "--resume", str(out), "--iterations",
                        str(stopped_at + 2)], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert load_checkpoint(out / "srresnet" / "last.pth")[0]["iteration"] == stopped_at + 2
