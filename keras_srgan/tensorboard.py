"""TensorBoard logs of a Keras run: tf.summary, with srcore.loop's tag scheme."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from srcore.loop import tensorboard_tag


class TensorBoardWriter:
    """A srcore.loop.LogWriter: scalars and images into event files under `folder`.

    `purge_step`: the step a resumed run continues after (tf.summary cannot hide what a crashed run wrote
    past it; TensorBoard then shows those steps twice).
    """

    def __init__(self, folder: str | Path, purge_step: int = 0) -> None:
        self.writer = tf.summary.create_file_writer(str(folder))

    def write(self, step: int, values: dict[str, float]) -> None:
        with self.writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(tensorboard_tag(name), value, step=step)
        self.writer.flush()

    def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        with self.writer.as_default():
            for name, image in images.items():
                tf.summary.image(tensorboard_tag(name), image[None], step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
