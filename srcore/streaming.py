"""Training batches made ahead by worker processes, each image decoded when a batch needs it.

One implementation for both backends (numpy and Pillow only). The main process draws each step's plan
(srcore.data.patch_plan: a pure function of seed and step) and sends it to a worker; the worker reads the patches
and returns uint8 arrays. So the batch of step t does not depend on how many workers there are, which worker made
it, or when: streamed batches equal the in-memory sampler's on the same images, bit for bit.

Memory is flat in the dataset's size: the main process holds the list of files and at most `depth` batches.

Workers are started with "spawn": the sampler is made after the trainer, when torch or TensorFlow already run
their own threads (and maybe CUDA), and a forked child of such a process can deadlock on a lock some thread held.
A spawned worker imports only numpy, Pillow and srcore. Workers ignore SIGINT, so Ctrl-C in a terminal (which
signals the whole process group) reaches the training loop alone, which finishes its step and saves. A worker that
dies or takes longer than `timeout` seconds ends the run with one line naming the image it was reading.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from srcore.data import augment, hr_to_target, lr_to_input, patch_plan
from srcore.errors import UserError

HANG_SECONDS = 300.0  # a worker silent this long on one batch is stuck (a dead network mount, ...)
START_SECONDS = 120.0  # a spawned worker imports numpy and Pillow first: seconds on a loaded machine

Reader = Callable[[Any], tuple[np.ndarray, np.ndarray]]  # a sample's spec -> (input, HR) uint8, not augmented


def default_workers(local_processes: int = 1) -> int:
    """Data workers per training process: this machine's cores shared by its `local_processes` training processes,
    one core left to each of them, at most 8 (a GPU step at batch 16 needs about that many)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores // max(1, local_processes) - 1))


def _work(wid: int, reader: Reader, tasks: Any, results: Any, current: Any, parent: int) -> None:
    """A worker process: read the samples of each task, return (key, input batch, HR batch, error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the training process decides when to stop
    current[wid] = -1
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the training process is gone (killed): do not linger
                return
            continue
        if task is None:
            return
        key, samples = task
        try:
            ins, hrs = [], []
            for index, spec, t in samples:
                current[wid] = index
                a, b = reader(spec)
                ins.append(augment(a, t))
                hrs.append(augment(b, t))
            current[wid] = -1
            results.put((key, np.stack(ins), np.stack(hrs), None))
        except Exception as e:  # reported by the training process, naming the image
            results.put((key, None, None, str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"))


class StreamingSampler:
    """A `srcore.sampling.Sampler` over images read by `workers` processes.

    `sizes[i]`: image i's (height, width) on the sampling grid; `spec(i)`: what `reader` needs to read image i's
    patch at (top, left) of side `patch` (called as spec(i, top, left)); `name(i)`: the image's name in messages.
    """

    def __init__(self, sizes: Sequence[tuple[int, int]], spec: Callable[[int, int, int], Any],
                 name: Callable[[int], str], reader: Reader, patch: int, batch_size: int, seed: int,
                 workers: int, depth: int = 0, augment: bool = True, timeout: float = HANG_SECONDS) -> None:
        if workers < 1:
            raise UserError(f"--data-workers must be >= 1 to stream, got {workers}")
        self.sizes, self.spec, self.name, self.patch = sizes, spec, name, patch
        self.batch_size, self.seed, self.augment, self.timeout = batch_size, seed, augment, timeout
        self.depth = depth or 2 * workers  # batches in flight: bounded, whatever the dataset's size
        ctx = mp.get_context("spawn")
        self._results = ctx.Queue()
        # The image each worker is reading (-1: none; -2: still starting), to name it if the worker dies or hangs.
        self._current = ctx.Array("q", [-2] * workers, lock=False)
        self._tasks = [ctx.Queue() for _ in range(workers)]
        self._procs = [ctx.Process(target=_work, args=(i, reader, self._tasks[i], self._results, self._current,
                                                       os.getpid()), daemon=True, name=f"data-worker-{i}")
                       for i in range(workers)]
        for p in self._procs:
            p.start()
        self._generation = 0
        self._sent: dict[tuple[int, int, tuple[int, int]], tuple[int, list[int]]] = {}  # key -> (worker, images)
        self._ready: dict[tuple[int, int, tuple[int, int]], tuple[np.ndarray, np.ndarray]] = {}
        self._next: tuple[int, tuple[int, int]] | None = None  # the next step to send, and its shard

    def _send(self, step: int, shard: tuple[int, int]) -> None:
        plan = patch_plan(self.seed, 0, step, self.batch_size, self.sizes, self.patch, self.augment, shard)
        key = (self._generation, step, shard)
        wid = step % len(self._procs)
        self._tasks[wid].put((key, [(i, self.spec(i, y, x), t) for i, y, x, t in plan]))
        self._sent[key] = (wid, [i for i, _, _, _ in plan])

    def batch(self, step: int, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
        """(lr, hr) of step `step`, as srcore.data.PatchSampler makes them; steps asked in order are read ahead."""
        key = (self._generation, step, shard)
        if key not in self._sent and key not in self._ready:  # not the expected next step: start a new stream
            self._generation += 1
            self._sent, self._ready = {}, {}
            key, self._next = (self._generation, step, shard), (step, shard)
        assert self._next is not None
        while self._next[0] < step + self.depth:
            self._send(*self._next)
            self._next = (self._next[0] + 1, shard)
        lr, hr = self._wait(key)
        return lr_to_input(lr), hr_to_target(hr)

    def _wait(self, key: tuple[int, int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        start = time.monotonic()
        while key not in self._ready:
            try:
                got, lr, hr, error = self._results.get(timeout=0.5)
            except queue.Empty:
                if self._current[self._sent[key][0]] == -2:
                    start = time.monotonic()  # the hang clock starts once the worker runs
                self._check(key, time.monotonic() - start)
                continue
            sent = self._sent.pop(got, None)
            if sent is None:
                continue  # a batch of an abandoned stream
            if error is not None:
                raise UserError(f"data worker {sent[0]}: {error}")
            self._ready[got] = (lr, hr)
        return self._ready.pop(key)

    def _check(self, key: tuple[int, int, tuple[int, int]], waited: float) -> None:
        """A one-line error if the worker that makes `key` has died or hangs."""
        wid, images = self._sent[key]
        proc = self._procs[wid]
        index = self._current[wid]
        if index == -2:
            if not proc.is_alive():
                raise UserError(f"data worker {wid} failed to start (exit code {proc.exitcode}); its error is above")
            if waited > START_SECONDS:
                raise UserError(f"data worker {wid} has not started in {waited:.0f} s")
            return
        reading = self.name(index if index >= 0 else images[0])
        if not proc.is_alive():
            raise UserError(f"data worker {wid} died (exit code {proc.exitcode}) while reading {reading}; "
                            "its last image is named here (a decoder crash, or out of memory: fewer --data-workers)")
        if waited > self.timeout:
            raise UserError(f"data worker {wid} made no batch for {waited:.0f} s; it is reading {reading} (a hung "
                            "file system or a huge image)")

    def worker_pids(self) -> list[int]:
        """The process ids of the data workers (benchmark.py measures their memory and CPU time)."""
        return [p.pid for p in self._procs if p.pid is not None]

    def close(self) -> None:
        """Stop the workers (killed if they do not leave within a few seconds)."""
        for q in self._tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 3.0
        for p in self._procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        for q in [*self._tasks, self._results]:
            q.cancel_join_thread()  # never block the training process's exit on a full pipe
            q.close()
        self._procs = []

    def __del__(self) -> None:
        if getattr(self, "_procs", None):
            self.close()
