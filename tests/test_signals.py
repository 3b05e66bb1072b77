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
