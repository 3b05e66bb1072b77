"""TensorBoard logs of a PyTorch run: torch's SummaryWriter, with srcore.loop's tag scheme."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np

from srcore.errors import UserError
from srcore.loop import tensorboard_tag


def _summary_writer_class() -> type:
    # TensorBoard writes event files without TensorFlow (its own stub), but imports TensorFlow when it is installed:
    # seconds of start-up and TensorFlow's log lines in a PyTorch run. An empty tensorboard.compat.notf module is
    # TensorBoard's own switch to the stub (tensorboard/compat/__init__.py).
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("TensorBoard logging needs the 'tensorboard' package (pip install -r requirements.txt); "
                        "or pass --no-tensorboard") from None
    return SummaryWriter


class TensorBoardWriter:
    """A srcore.loop.LogWriter: scalars and images into event files under `folder`.

    `purge_step`: the step a resumed run continues after; events a crashed run wrote past it are hidden.
    """

    def __init__(self, folder: str | Path, purge_step: int = 0) -> None:
        self.writer = _summary_writer_class()(str(folder), purge_step=purge_step + 1 if purge_step else None)

    def write(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(tensorboard_tag(name), value, step)

    def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        for name, image in images.items():
            self.writer.add_image(tensorboard_tag(name), image, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
