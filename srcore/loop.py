"""The training loop of one phase, shared by both backends.

A backend supplies a `Trainer` (models, optimizers, one `train_step`, checkpoints); this module
does the rest the same way for both: start or resume, batches from the shared sampler (prefetched
in a background thread), logging, validation PSNR, `last`/`best` checkpoints, the progress bar.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from srcore.config import TrainConfig, lr_at
from srcore.data import PatchSampler, load_pairs
from srcore.errors import UserError
from srcore.evaluate import Upscaler, validate_psnr
from srcore.fileio import atomic_write_text

LOG_FILE = "log.jsonl"
CONFIG_FILE = "config.json"


class Trainer(Protocol):
    """What a backend's `train.Trainer` provides to the loop."""

    iteration: int
    best_psnr: float | None
    seconds: float

    def train_step(self, lr: np.ndarray, hr: np.ndarray, step: int | None = None) -> dict[str, float]: ...
    def upscaler(self) -> Upscaler: ...
    def save(self, path: str | Path, iteration: int | None = None, best_psnr: float | None = None) -> Path: ...
    def restore(self, path: str | Path) -> int: ...
    def load_pretrained(self, path: str | Path) -> dict[str, Any]: ...


class RunLog:
    """log.jsonl: one JSON object per line, appended and flushed as training goes."""

    def __init__(self, path: Path, keep_until: int) -> None:
        """Keep the rows of steps <= `keep_until` (the resumed checkpoint's iteration; 0 = a fresh log).

        Rows logged after that checkpoint by a run that then crashed are dropped (the resumed run
        logs those steps again), and so is a last line cut short by the crash.
        """
        self.path = path
        kept = []
        if keep_until > 0 and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= keep_until:
                    kept.append(line + "\n")
        atomic_write_text(path, "".join(kept))

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


class Prefetcher:
    """Batches `sampler.batch(i)` for i = start, start+1, ... made by a background thread, in order.

    The sampler is a pure function of the step, so the stream is deterministic and can start anywhere.
    """

    def __init__(self, sampler: PatchSampler, start: int, stop: int, depth: int = 3) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(sampler, start, stop), daemon=True,
                                        name="batch-prefetch")
        self._thread.start()

    def _work(self, sampler: PatchSampler, start: int, stop: int) -> None:
        for i in range(start, stop):
            try:
                item: Any = sampler.batch(i)
            except BaseException as e:  # handed to the training loop, which re-raises it
                item = e
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, BaseException):
                return

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(losses: dict[str, float], psnr: float | None) -> dict[str, str]:
    shown = {k: f"{v:.4g}" for k, v in losses.items() if k in ("content", "adv", "d_loss")}
    if psnr is not None:
        shown["psnr"] = f"{psnr:.2f}"
    return shown


def run_phase(cfg: TrainConfig, trainer: Trainer, resume: Path | None, last_path: Path, best_path: Path,
              stop_at: int | None = None) -> Path:
    """Start (from `cfg.pretrained` for SRGAN) or resume one phase and train it; returns the last checkpoint.

    `stop_at`: stop after this many iterations (saving `last`) as if interrupted; tests and time-boxed runs.
    """
    out = Path(cfg.out)
    if resume is not None:
        start = trainer.restore(resume)
        if start >= cfg.iterations:
            print(f"{resume}: already trained for {start} of {cfg.iterations} iterations; nothing to do")
            return resume
        print(f"resuming {cfg.model} from {resume} at iteration {start}")
    else:
        start = 0
        if cfg.model == "srgan":
            if not cfg.pretrained:
                raise UserError("the SRGAN phase needs --pretrained CKPT (an SRResNet checkpoint) to initialise "
                                "the generator")
            trainer.load_pretrained(cfg.pretrained)
    end = cfg.iterations if stop_at is None else max(min(stop_at, cfg.iterations), start)

    train_hr, train_lr = load_pairs(cfg.data, "train", cfg.scale)
    sampler = PatchSampler(train_hr, train_lr, cfg.scale, cfg.patch_size, cfg.batch_size, cfg.seed)
    val_hr, val_lr = load_pairs(cfg.data, "val", cfg.scale, limit=cfg.val_images)

    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / CONFIG_FILE)
    log = RunLog(out / LOG_FILE, keep_until=start)
    if start >= end:
        return resume if resume is not None else last_path

    sums: dict[str, float] = {}
    count = 0
    psnr = trainer.best_psnr
    t0, seconds0 = time.perf_counter(), trainer.seconds
    bar = tqdm(total=cfg.iterations, initial=start, desc=f"{cfg.model} x{cfg.scale}", unit="it", dynamic_ncols=True)
    try:
        with Prefetcher(sampler, start, end) as batches:
            for step in range(start, end):
                losses = trainer.train_step(*next(batches), step=step)
                done = step + 1
                trainer.seconds = seconds0 + time.perf_counter() - t0
                if not math.isfinite(losses["g_loss"]):
                    raise UserError(f"training diverged at iteration {done} (generator loss {losses['g_loss']}); "
                                    f"try a lower --lr, or resume from {last_path} with one")
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                if done % cfg.log_every == 0:  # logged losses are means over the steps since the last row
                    log.write({"step": done, **{k: v / count for k, v in sums.items()}, "lr": lr_at(cfg, step),
                               "time": round(trainer.seconds, 3)})
                    sums, count = {}, 0
                final = done == cfg.iterations
                if done % cfg.val_every == 0 or final:
                    psnr = validate_psnr(trainer.upscaler(), val_hr, val_lr, cfg.scale)
                    trainer.seconds = seconds0 + time.perf_counter() - t0
                    log.write({"step": done, "val_psnr": psnr, "time": round(trainer.seconds, 3)})
                    if trainer.best_psnr is None or psnr > trainer.best_psnr:
                        trainer.best_psnr = psnr
                        trainer.save(best_path, done)
                if done % cfg.save_every == 0 or final or done == end:
                    trainer.save(last_path, done)
                bar.set_postfix(_fmt(losses, psnr), refresh=False)
                bar.update(1)
    finally:
        bar.close()
    return last_path
