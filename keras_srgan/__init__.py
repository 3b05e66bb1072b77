"""Keras 3 (TensorFlow) backend of the SRGAN reproduction.

Importing it starts TensorFlow with its start-up chatter filtered: TensorFlow's C++ libraries write a dozen lines
to the process's stderr before any log level applies (absl's "All log messages before absl::InitializeLog()",
oneDNN's round-off notice, the CPU-instruction advice, "Could not find cuda drivers", and on a machine without an
NVIDIA GPU "failed call to cuInit ... (303)", which reads as a failure and is not one). Every other line of that
start-up is passed on; the probe of the devices is part of it, so the cuInit line comes now, not later.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before keras/tensorflow are first imported: this package is written for the TensorFlow backend
# (tf.nn.depth_to_space, tf.function), and TF's C++ info/warning chatter would bury the progress bar.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_NOISE = [
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .*rebuild TensorFlow",
    r"Could not find cuda drivers on your machine, GPU will not be used",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
]
if not Path("/dev/nvidiactl").exists():  # no NVIDIA driver: CUDA's probe failing is the expected answer
    _NOISE.append(r"failed call to cuInit")
NOISE = re.compile("|".join(_NOISE))


# TensorFlow's C++ log lines of the levels INFO and WARNING ("I0000 00:00:1796196056.230425 ..."; absl's format)
INFO_LINES = re.compile(r"^[IW]\d{4} \d\d:\d\d:")


@contextlib.contextmanager
def quiet_start(info: bool = False) -> Iterator[None]:
    """Run the block with file descriptor 2 (where C++ libraries write, whatever sys.stderr is) captured, then
    write the captured lines that are not NOISE back to it (`info`: nor TensorFlow's INFO and WARNING lines, for
    blocks that only log their steps, as the TFLite converter). Without a descriptor 2 the block runs as it is."""
    fd = 2
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode(errors="replace").splitlines()
                    if not NOISE.search(line) and not (info and INFO_LINES.search(line))]
            if kept:
                os.write(fd, ("\n".join(kept) + "\n").encode())


def _start_tensorflow() -> None:
    with quiet_start():
        try:
            import tensorflow as tf
        except ImportError:  # the Keras backend is not installed: its modules say so where they are used
            return
        tf.config.list_physical_devices()  # the device probe, where CUDA reports (or fails)


_start_tensorflow()
