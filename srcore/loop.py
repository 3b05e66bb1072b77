"""The training loop of one phase, shared by both backends.

A backend supplies a `Trainer` (models, optimizers, one `train_batch`, checkpoints); this module does
the rest the same way for both, and owns the run state (iteration, best validation value, training time):

    start or resume  ->  steps (batches from the shared sampler, prefetched)  ->  validate / save

Logged values go through `LogWriter`s: the JSONL log always, more (e.g. TensorBoard) when a backend
passes them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from tqdm import tqdm

from srcore.checkpoint import RunState, check_pretrained, check_resumable, make_meta
from srcore.config import TrainConfig, lr_at
from srcore.errors import UserError
from srcore.evaluate import Upscaler, validate
from srcore.fileio import atomic_write_text, remove_stale_temporaries
from srcore.metrics import ADVERSARIAL_METRICS, DEFAULT_METRICS, METRICS, better, metric_names
from srcore.sampling import (
    DATA_SOURCES,
    Sampler,
    SamplerFactory,
    data_source,
    make_sampler,
    recorded_validation_set,
    validation_pairs,
)

LOG_FILE = "log.jsonl"
TRAINED_GENERATOR = "generator_train"  # with --ema: the checkpoint entry of the weights being trained
CONFIG_FILE = "config.json"
TENSORBOARD_DIR = "tensorboard"  # inside the phase folder
VAL_IMAGES_LOGGED = 3  # SR validation crops sent to image-capable writers (TensorBoard) at every validation

# One tag scheme for both backends' TensorBoard logs, so runs of the two overlay in one TensorBoard. Names
# not listed here are derived: "val_<metric>" -> "val/<metric>" for every registered metric, "val_sr_0" -> "val/sr_0".
TENSORBOARD_TAGS = {
    "g_loss": "loss/generator", "content": "loss/content", "adv": "loss/adversarial",
    "d_loss": "loss/discriminator", "d_real": "discriminator/D(real)", "d_fake": "discriminator/D(fake)",
    "lr": "train/learning_rate", "time": "train/seconds",
}


def tensorboard_tag(name: str) -> str:
    """The TensorBoard tag of a logged value or image ("val_sr_0" -> "val/sr_0")."""
    if name in TENSORBOARD_TAGS:
        return TENSORBOARD_TAGS[name]
    return name.replace("_", "/", 1)


class Trainer(Protocol):
    """What a backend's `train.Trainer` provides to the loop.

    With several workers, `shard` is (this worker, workers), `is_main` marks the one that writes files and
    validates, `train_batch` returns losses of the whole batch, and `agree` is True everywhere when it is
    True anywhere. With one: (0, 1), True, and `agree(flag)` is `flag`.
    """

    is_main: bool
    shard: tuple[int, int]

    def train_batch(self, lr: np.ndarray, hr: np.ndarray, step: int) -> dict[str, float]: ...
    def agree(self, flag: bool) -> bool: ...
    def upscaler(self, averaged: bool = True) -> Upscaler: ...
    def save(self, path: str | Path, state: RunState) -> Path: ...
    def restore(self, path: str | Path) -> RunState: ...
    def load_pretrained(self, path: str | Path) -> dict[str, Any]: ...
    def warm_restart(self, path: str | Path) -> RunState: ...


class LogWriter(Protocol):
    """Where logged values go: `write(step, {name: value})`, `write_images(step, {name: HxWx3 uint8})`,
    then `close()` at the end of the phase."""

    def write(self, step: int, values: dict[str, float]) -> None: ...
    def write_images(self, step: int, images: dict[str, np.ndarray]) -> None: ...
    def close(self) -> None: ...


class JsonlLog:
    """log.jsonl: one JSON object per line ({"step": N, **values}), appended and flushed as training goes."""

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

    def write(self, step: int, values: dict[str, float]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")

    def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        pass  # a text log keeps numbers only

    def close(self) -> None:
        pass


class Prefetcher:
    """Batches `sampler.batch(i)` for i = start, start+1, ... made by a background thread, in order.

    The sampler is a pure function of the step, so the stream is deterministic and can start anywhere.
    """

    def __init__(self, sampler: Sampler, start: int, stop: int, depth: int = 3,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(sampler, start, stop, shard), daemon=True,
                                        name="batch-prefetch")
        self._thread.start()

    def _work(self, sampler: Sampler, start: int, stop: int, shard: tuple[int, int]) -> None:
        for i in range(start, stop):
            try:
                item: Any = sampler.batch(i, shard)
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


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM stopped a phase after a finished step; `checkpoint` holds everything up to `iteration`."""

    def __init__(self, signum: int, iteration: int, checkpoint: Path) -> None:
        self.signum, self.iteration, self.checkpoint = signum, iteration, checkpoint
        super().__init__(f"{signal.Signals(signum).name} after iteration {iteration}; saved {checkpoint}")


@contextlib.contextmanager
def stop_requests() -> Iterator[list[int]]:
    """While inside, SIGINT/SIGTERM only ask to stop (the signal numbers land in the yielded list); a second
    one stops at once (KeyboardInterrupt). Pre-empted jobs then lose no finished step."""
    received: list[int] = []

    def ask(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print(f"\n{signal.Signals(signum).name}: finishing this step, saving the checkpoint, then stopping "
              f"(send it again to stop at once)", file=sys.stderr, flush=True)

    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield received
        return
    old = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _postfix(losses: dict[str, float], metric: str, value: float | None) -> dict[str, str]:
    """What the progress bar shows: the main losses and the last validation value of the metric that chooses
    `best`."""
    shown = {k: f"{v:.4g}" for k, v in losses.items() if k in ("content", "adv", "d_loss")}
    if value is not None:
        shown[metric] = METRICS.get(metric).format(value)
    return shown


def validation_metrics(cfg: TrainConfig) -> tuple[str, ...]:
    """The metrics every validation logs: the defaults; in the adversarial phase also the perceptual ones (it trades
    PSNR for them, so PSNR alone cannot say whether it improves); and `cfg.best_metric` (which chooses `best`)."""
    perceptual = ADVERSARIAL_METRICS if cfg.phase == "adversarial" else ()
    return metric_names((*DEFAULT_METRICS, *perceptual, cfg.best_metric), where="best_metric")


# A backend's extra log writers for a phase folder, made once training is sure to start (e.g. TensorBoard).
WriterFactory = Callable[[Path, int], Sequence[LogWriter]]


class PhaseLoop:
    """One phase's training: owns the run state and the log; see `run_phase`."""

    def __init__(self, cfg: TrainConfig, trainer: Trainer, last_path: Path, best_path: Path) -> None:
        self.cfg, self.trainer = cfg, trainer
        self.last_path, self.best_path = last_path, best_path
        self.state = RunState()
        self.writers: list[LogWriter] = []
        self.val_hr: list[np.ndarray] = []
        self.val_lr: list[np.ndarray] = []
        self._clock = (time.perf_counter(), 0.0)  # (wall clock, state.seconds) when this process started training

    def start(self, resume: Path | None) -> None:
        """Continue from checkpoint `resume` (or warm, from `cfg.warm_restart`'s weights), or start afresh: from
        `cfg.pretrained`'s generator when given (an adversarial phase needs it), else from a new initialisation."""
        # One worker cleans up (several share the folder: another's temporary file may be a save in progress).
        if self.trainer.is_main and Path(self.cfg.out).is_dir():
            for tmp in remove_stale_temporaries(self.cfg.out):  # left by a save that a kill interrupted
                print(f"removed {tmp.name}, left by an interrupted save", file=sys.stderr)
        if resume is not None:
            self.state = self.trainer.restore(resume)
            print(f"resuming {self.cfg.model} from {resume} at iteration {self.state.iteration}")
        elif self.cfg.warm_restart:
            self.state = self.trainer.warm_restart(self.cfg.warm_restart)
            print(f"warm restart of {self.cfg.model} from {self.cfg.warm_restart} at iteration "
                  f"{self.state.iteration}: the optimizer state is new (not an exact resume)")
        elif self.cfg.pretrained:  # an adversarial phase's start, or a fine-tune of a supervised model
            self.trainer.load_pretrained(self.cfg.pretrained)
        elif self.cfg.adversarial:
            raise UserError("the SRGAN phase needs --pretrained CKPT (an SRResNet checkpoint) to initialise the "
                            "generator")

    def end(self, stop_at: int | None = None) -> int:
        """The iteration this process trains to: the phase's end, or `stop_at` (never before the current state)."""
        start = self.state.iteration
        return self.cfg.iterations if stop_at is None else max(min(stop_at, self.cfg.iterations), start)

    def run(self, sampler: Sampler, stop_at: int | None = None,
            extra_writers: WriterFactory | None = None) -> Path | None:
        """Train on `sampler`'s batches from the current state to the end of the phase (or `stop_at`); the last
        checkpoint, or None when there was nothing to do."""
        cfg, start, end = self.cfg, self.state.iteration, self.end(stop_at)
        if start >= end:
            return None
        out = Path(cfg.out)
        if self.trainer.is_main:  # one worker validates and writes the run folder
            # Recorded in the phase folder (VALIDATION_FILE): the `best` checkpoint's validation set is known later.
            self.val_hr, self.val_lr = validation_pairs(cfg, record=True)
            print(f"validating on {len(self.val_hr)} images: {recorded_validation_set(out)}")
            out.mkdir(parents=True, exist_ok=True)
            cfg.save(out / CONFIG_FILE)
            self.writers = [JsonlLog(out / LOG_FILE, keep_until=start)]
            if extra_writers is not None:
                self.writers += list(extra_writers(out, start))
        try:
            self._steps(sampler, start, end)
        finally:
            for w in self.writers:
                w.close()
        self.trainer.agree(False)  # every worker waits here until the last checkpoint is written
        return self.last_path

    def _steps(self, sampler: Sampler, start: int, end: int) -> None:
        cfg, trainer, state = self.cfg, self.trainer, self.state
        sums: dict[str, float] = {}
        count = 0
        shown = state.best(cfg.best_metric)
        self._clock = (time.perf_counter(), state.seconds)
        main = trainer.is_main
        bar = tqdm(total=cfg.iterations, initial=start, desc=f"{cfg.model} x{cfg.scale}", unit="it",
                   dynamic_ncols=True, disable=not main)
        try:
            with Prefetcher(sampler, start, end, shard=trainer.shard) as batches, stop_requests() as stop:
                for step in range(start, end):
                    losses = trainer.train_batch(*next(batches), step=step)
                    done = state.iteration = step + 1
                    self._tick()
                    if not math.isfinite(losses["g_loss"]):
                        raise UserError(self._diverged(done, losses["g_loss"]))
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    if done % cfg.log_every == 0:  # logged losses are means over the steps since the last row
                        self._log(done, {**{k: v / count for k, v in sums.items()}, "lr": lr_at(cfg, step)})
                        sums, count = {}, 0
                    final = done == cfg.iterations
                    stopping = trainer.agree(bool(stop))  # all workers stop after the same step
                    if main and (done % cfg.val_every == 0 or final):
                        shown = self.validate()
                    if main and (done % cfg.save_every == 0 or final or done == end or stopping):
                        trainer.save(self.last_path, state)
                    bar.set_postfix(_postfix(losses, cfg.best_metric, shown), refresh=False)
                    bar.update(1)
                    if stopping and not final:
                        trainer.agree(False)  # the checkpoint is written before any worker leaves
                        raise TrainingInterrupted(stop[0] if stop else signal.SIGTERM, done, self.last_path)
        finally:
            bar.close()

    def _diverged(self, iteration: int, loss: float) -> str:
        kept = (f"the last checkpoint, {self.last_path}, is intact" if self.last_path.is_file()
                else "no checkpoint had been saved yet")
        return (f"training diverged at iteration {iteration} (generator loss {loss}); {kept}; train again with a "
                f"lower --lr (a new run: --resume keeps the run's learning rate)")

    def validate(self) -> float:
        """Validate the current generator (every `validation_metrics` value, logged as val_<metric>, and images);
        saves `best` when `cfg.best_metric` is the best so far. Returns that metric's value."""
        state, metric = self.state, self.cfg.best_metric
        values, images = validate(self.trainer.upscaler(), self.val_hr, self.val_lr, self.cfg.scale,
                                  keep=VAL_IMAGES_LOGGED, metrics=validation_metrics(self.cfg))
        logged = {f"val_{name}": value for name, value in values.items()}
        if getattr(self.trainer, "ema_generator", None) is not None:  # what the average adds: the trained weights'
            raw, _ = validate(self.trainer.upscaler(averaged=False), self.val_hr, self.val_lr, self.cfg.scale,
                              keep=0, metrics=("psnr",))
            logged["val_psnr_trained"] = raw["psnr"]
        self._tick()
        self._log(state.iteration, logged)
        for w in self.writers:
            w.write_images(state.iteration, {f"val_sr_{i}": im for i, im in enumerate(images)})
        # A run resumed with another best_metric has no best of this one yet (state.best is None): it starts afresh.
        if better(metric, values[metric], state.best(metric)):
            state.best_metric, state.best_value = metric, values[metric]
            self.trainer.save(self.best_path, state)
        return values[metric]

    def _tick(self) -> None:
        """Training time so far: this process's share plus what the resumed checkpoint recorded."""
        t0, seconds0 = self._clock
        self.state.seconds = seconds0 + time.perf_counter() - t0

    def _log(self, step: int, values: dict[str, float]) -> None:
        values = {**values, "time": round(self.state.seconds, 3)}
        for w in self.writers:
            w.write(step, values)


def run_phase(cfg: TrainConfig, trainer: Trainer, resume: Path | None, last_path: Path, best_path: Path,
              sampler_factory: SamplerFactory, stop_at: int | None = None,
              extra_writers: WriterFactory | None = None) -> Path:
    """Start (from `cfg.pretrained` for the adversarial phase) or resume one phase and train it.

    The batches come from `sampler_factory()`, called once the phase has started and only when there are steps
    to train: a checkpoint that does not fit fails before any data is read, and a finished phase reads none.
    Returns the last checkpoint (`resume` itself when the phase was already done). `stop_at`: stop after
    this many iterations (saving `last`) as if interrupted; tests and time-boxed runs.
    """
    loop = PhaseLoop(cfg, trainer, last_path, best_path)
    loop.start(resume)
    last = None
    if loop.state.iteration < loop.end(stop_at):
        sampler = sampler_factory()
        try:
            last = loop.run(sampler, stop_at, extra_writers)
        finally:
            sampler.close()
    if last is not None:
        return last
    if resume is not None and loop.state.iteration >= cfg.iterations:
        print(f"{resume}: already trained for {loop.state.iteration} of {cfg.iterations} iterations; nothing to do")
    return resume if resume is not None else last_path


class CheckpointIO(Protocol):
    """A backend's checkpoint module (torch_srgan.checkpoint, keras_srgan.checkpoint) as the shared code uses it.

    `LAST`/`BEST`: the checkpoints' names in a phase folder; `checkpoint_path`: the path that names the
    checkpoint `path` names (a run folder: its `last`); `checkpoint_exists`: a complete checkpoint is there.
    """

    LAST: str
    BEST: str

    def checkpoint_path(self, path: str | Path) -> Path: ...
    def checkpoint_exists(self, path: str | Path) -> bool: ...
    def save_checkpoint(self, path: str | Path, meta: dict[str, Any], generator: Any, discriminator: Any = None,
                        optimizers: dict[str, Any] | None = None) -> Path: ...
    def load_checkpoint(self, path: str | Path, backend: str | None = ..., scale: int | None = None,
                        need_state: bool = False) -> tuple[dict[str, Any], Any]: ...
    def load_generator_weights(self, generator: Any, checkpoint: Any) -> None: ...
    def load_training_state(self, checkpoint: Any, discriminator: Any, optimizers: dict[str, Any]) -> None: ...
    def has_state(self, checkpoint: Any, name: str) -> bool: ...


class TrainerCheckpoints:
    """`Trainer.save`, `restore` and `load_pretrained`, the same in both backends: a backend's Trainer inherits
    them and provides its checkpoint module (`checkpoints`), `cfg`, `device_name`, `generator`, `discriminator`
    (None in a supervised phase) and `optimizer_state()` (what a resume restores besides the models).

    With --ema, `ema_generator` holds the average of the generator's weights: a checkpoint's generator weights
    (what test.py, --pretrained and conversion read) are the average's, and the weights being trained are saved
    beside the optimizers as "generator_train", which a resume restores. The average only reads the weights, so
    a resume may turn it on (it starts from the weights of that moment) or off (the average is dropped).
    """

    checkpoints: ClassVar[CheckpointIO]
    cfg: TrainConfig
    device_name: str  # recorded in every checkpoint
    generator: Any
    discriminator: Any
    ema_generator: Any = None  # the weights' moving average (--ema), None without

    @property
    def shipped_generator(self) -> Any:
        """The generator that is validated and saved as the checkpoint's: the average with --ema, else itself."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def optimizer_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def trained_weights(self) -> Any:
        """The generator's weights as the checkpoint module saves optimizer state (a backend's)."""
        raise NotImplementedError

    def reset_ema(self) -> None:
        """Start the average from the generator's current weights (a backend's; nothing without --ema)."""
        raise NotImplementedError

    def _training_state(self, averaged: bool) -> dict[str, Any]:
        state = self.optimizer_state()
        if averaged:
            state[TRAINED_GENERATOR] = self.trained_weights()
        return state

    def save(self, path: str | Path, state: RunState) -> Path:
        """Write a checkpoint of the full training state at run state `state`."""
        meta = make_meta(self.cfg, state, self.device_name)
        return self.checkpoints.save_checkpoint(path, meta, self.shipped_generator, self.discriminator,
                                                self._training_state(self.ema_generator is not None))

    def restore(self, path: str | Path) -> RunState:
        """Load the full training state (G, D, optimizers) of a checkpoint of this phase; returns its run state."""
        meta, contents = self.checkpoints.load_checkpoint(path, scale=self.cfg.scale, need_state=True)
        check_resumable(meta, self.cfg, path)
        averaged = self.checkpoints.has_state(contents, TRAINED_GENERATOR)  # its generator is an average
        if not averaged:
            self.checkpoints.load_generator_weights(self.generator, contents)
        elif self.ema_generator is not None:
            self.checkpoints.load_generator_weights(self.ema_generator, contents)
        # (an average that this resume turned off is dropped: the weights being trained are generator_train)
        self.checkpoints.load_training_state(contents, self.discriminator, self._training_state(averaged))
        if not averaged:
            self.reset_ema()  # turned on at this resume: the average starts here
        return RunState.from_meta(meta)

    def load_pretrained(self, path: str | Path) -> dict[str, Any]:
        """Initialise the generator from a checkpoint of either phase (the adversarial phase's starting point, or
        the weights a supervised phase fine-tunes)."""
        return self._start_generator(path, check_pretrained)

    def _start_generator(self, path: str | Path, check: Callable[[dict[str, Any], TrainConfig, str | Path], None]
                         ) -> dict[str, Any]:
        """Load checkpoint `path`'s generator weights (after `check` of its metadata), the average starting there."""
        meta, contents = self.checkpoints.load_checkpoint(path, scale=self.cfg.scale)
        check(meta, self.cfg, path)
        self.checkpoints.load_generator_weights(self.generator, contents)
        self.reset_ema()
        return meta

    def warm_restart(self, path: str | Path) -> RunState:
        """Continue this phase from generator weights `path` (a checkpoint of it without optimizer state, e.g. a
        generator-only file): the weights, iteration, best value and time are the file's; the optimizers (and an
        adversarial phase's discriminator) start anew, and the average (--ema) starts from these weights.

        Adam's new moments make its first few steps up to ~4x larger than in steady state (sign-like updates
        until its averages fill, ~20 steps); at a late, small learning rate that is a short blip."""
        return RunState.from_meta(self._start_generator(path, check_resumable))


def resume_checkpoint(resume: str | None, checkpoints: CheckpointIO) -> Path | None:
    """The checkpoint to continue from: a file (or a Keras base name) as given, or a run folder's `last`; None
    when there is nothing to resume."""
    if not resume:
        return None
    p = Path(resume)
    if p.is_dir():
        last = checkpoints.checkpoint_path(p)
        if checkpoints.checkpoint_exists(last):
            return last
        # A phase folder from a run that stopped before its first checkpoint: nothing to resume yet.
        print(f"{p}: no {checkpoints.LAST} checkpoint yet; starting this phase from the beginning", file=sys.stderr)
        return None
    if p.exists() or checkpoints.checkpoint_exists(p):
        return p
    raise UserError(f"--resume {resume}: no such run folder or checkpoint")


def train_phase(cfg: TrainConfig, make_trainer: Callable[[TrainConfig], Trainer], checkpoints: CheckpointIO,
                tensorboard: Callable[[Path, int], LogWriter] | None = None, stop_at: int | None = None,
                source: str | None = None) -> Path:
    """Run (or resume from `cfg.resume`) one phase in `cfg.out`, a config validated by the caller; returns its
    `last` checkpoint (as `checkpoints.checkpoint_path` names it).

    A backend's `train(cfg)` is this with its Trainer class, its checkpoint module and its TensorBoard writer
    (`tensorboard(folder, purge_step)`, used when `cfg.tensorboard`). The training batches come from data
    source `source` (srcore.sampling.DATA_SOURCES; default: --train-dir's folder, else the prepared split).
    `stop_at`: see `run_phase`.
    """
    resume = resume_checkpoint(cfg.resume, checkpoints)
    source = source or data_source(cfg)
    DATA_SOURCES.get(source)  # an unknown source: a one-line error before any model is built
    sampler = functools.partial(make_sampler, cfg, source)
    trainer = make_trainer(cfg)
    out = Path(cfg.out)
    writers = _tensorboard_writers(tensorboard) if tensorboard is not None and cfg.tensorboard else None
    last = run_phase(cfg, trainer, resume, checkpoints.checkpoint_path(out / checkpoints.LAST),
                     checkpoints.checkpoint_path(out / checkpoints.BEST), sampler, stop_at, writers)
    return checkpoints.checkpoint_path(last)


def _tensorboard_writers(tensorboard: Callable[[Path, int], LogWriter]) -> WriterFactory:
    def writers(phase_dir: Path, start: int) -> list[LogWriter]:
        return [tensorboard(phase_dir / TENSORBOARD_DIR, start)]
    return writers
