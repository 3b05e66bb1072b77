"""TensorBoard logs of a PyTorch run: event files in TensorBoard's format, written without TensorFlow, with
srcore.loop's tag scheme."""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from srcore.errors import UserError
from srcore.loop import tensorboard_tag


def _event_api() -> tuple[Any, Any, Any, Any]:
    """(Event, SessionLog, Summary, RecordWriter): TensorBoard's event protos and record framing, which need no
    TensorFlow. torch.utils.tensorboard is not used: importing it imports TensorFlow wherever that is installed
    (its _embedding module probes tf.io.gfile), seconds of start-up and TensorFlow's log lines in a PyTorch run."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise UserError("TensorBoard logging needs the 'tensorboard' package (pip install \".[torch]\"); or pass "
                        "--no-tensorboard") from None
    return Event, SessionLog, Summary, RecordWriter


class TensorBoardWriter:
    """A srcore.loop.LogWriter: scalars and images into an event file under `folder` (the format TensorBoard and
    torch's SummaryWriter use), flushed at every write.

    `purge_step`: the step a resumed run continues after; events a crashed run wrote past it are hidden.
    """

    def __init__(self, folder: str | Path, purge_step: int = 0) -> None:
        self._event, session_log, self._summary, record_writer = _event_api()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
        self._records = record_writer(open(folder / name, "wb"))
        self._add(self._event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step:  # as SummaryWriter(purge_step=...): TensorBoard hides what an earlier writer logged from here
            self._add(self._event(wall_time=time.time(), step=purge_step + 1,
                                  session_log=session_log(status=session_log.START)))

    def _add(self, event: Any) -> None:
        self._records.write(event.SerializeToString())
        self._records.flush()

    def write(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            value_proto = self._summary.Value(tag=tensorboard_tag(name), simple_value=float(value))
            self._add(self._event(wall_time=time.time(), step=step, summary=self._summary(value=[value_proto])))

    def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        for name, image in images.items():  # HxWx3 uint8, stored as PNG (as SummaryWriter.add_image does)
            png = io.BytesIO()
            Image.fromarray(np.asarray(image, np.uint8)).save(png, format="PNG")
            h, w = image.shape[:2]
            picture = self._summary.Image(height=h, width=w, colorspace=3, encoded_image_string=png.getvalue())
            value_proto = self._summary.Value(tag=tensorboard_tag(name), image=picture)
            self._add(self._event(wall_time=time.time(), step=step, summary=self._summary(value=[value_proto])))

    def close(self) -> None:
        self._records.close()
