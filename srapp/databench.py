"""benchmark.py's data rows (`--data`, or `data` in `--what`): the training data pipeline of `--train-dir`.

- throughput: samples/s of 96x96 HR patches at x4 (batch 16, the paper preset) made by the folder data source
  (srcore.sampling "folder") with 0 (all images in memory) and each of `--data-workers` worker processes, from a
  folder of JPEG files (the BSDS500 originals) and one of PNG files (the prepared crops); and the patches each
  data worker made per CPU-second it used, a figure that other processes on a shared machine do not change much;
- memory: the peak resident memory (VmHWM) of a training process at its first step, and of each of its data
  workers, with a folder of 200 and one of 5,000 images (synthetic 256x256 JPEGs made in a temporary folder);
- loop: the training step's rate fed by the folder source through the training loop's Prefetcher, over the bare
  step's on fixed arrays, in the same process (bare, fed, bare: a drift of the machine's load cancels).

Each figure is measured `--data-repeats` times, each time in a fresh process (benchmark.py --data-child) and
reported as min / median, in its own section of the report, which the other rows' report keeps.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from srapp import children
from srcore.checkpoint import cpu_description
from srcore.fileio import atomic_write_text, check_writable
from srcore.imagefolder import CACHE_ENV

# Defaults relative to the working folder, as every command's --data: a clone's root beside the shared datasets.
JPEG_DIR = Path("..") / "shared" / "datasets" / "BSDS500" / "train"  # the BSDS500 originals (481x321 JPEGs)
PNG_DIR = Path("data") / "bsd500" / "train" / "hr"  # prepare_bsd500.py's 256x256 PNG crops
HEADING = "## Data pipeline"  # the section of the report these rows own
MEMORY_SIZES = [200, 5000]  # images in the synthetic folders of the memory rows (--data-images)
SYNTHETIC_SIDE = 256
PREFETCH_THREAD = "batch-prefetch"  # srcore.loop.Prefetcher's thread, which asks the sampler for batches
GOALS = {"memory": 1.25, "worker": 70.0, "loop": 0.05}  # issue 18's goals


# ---- in the child process (benchmark.py --data-child SPEC): one measurement, printed as one JSON line

def _proc(pid: int | str, name: str) -> Path:
    return Path(f"/proc/{pid}/{name}")


def peak_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM) in MB (Linux), else this process's ru_maxrss."""
    try:
        line = next(x for x in _proc(pid, "status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pids: list[int] | list[str]) -> float:
    """User + system CPU seconds the processes `pids` have used (Linux /proc; 0 where it cannot be read)."""
    total = 0.0
    for pid in pids:
        try:
            fields = _proc(pid, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _pids(sampler: Any) -> list[int]:
    return sampler.worker_pids() if hasattr(sampler, "worker_pids") else []


def _config(spec: dict, **kw: Any) -> Any:
    from srcore.config import preset_config

    return preset_config(spec.get("preset", "paper"), "srresnet", train_dir=spec["folder"], out=spec["out"],
                         data_workers=spec["workers"], **kw)


def measure_throughput(spec: dict) -> dict:
    """Samples/s of the folder source alone (the training process only asks for batches)."""
    from srcore.sampling import make_sampler

    cfg = _config(spec, val_holdout=0)
    sampler = make_sampler(cfg)
    try:
        warm = 2 * max(1, spec["workers"]) + 1  # workers started, their read-ahead made once: a steady state
        for step in range(warm):
            sampler.batch(step)
        pids = _pids(sampler)
        cpu0, own0, t0 = cpu_seconds(pids), time.process_time(), time.perf_counter()
        for step in range(warm, warm + spec["batches"]):
            sampler.batch(step)
        dt = time.perf_counter() - t0
        cpu = cpu_seconds(pids) - cpu0 if pids else time.process_time() - own0
    finally:
        sampler.close()
    samples = spec["batches"] * cfg.batch_size
    return {"samples_per_s": samples / dt, "per_cpu_second": samples / cpu if cpu > 0 else float("nan")}


def _trainer(spec: dict, cfg: Any) -> Any:
    from srapp.backends import backend_module

    return backend_module(spec["backend"], "train").Trainer(cfg)


def measure_memory(spec: dict) -> dict:
    """Peak memory of a training process at its first step (trainer, sampler, validation images, one step through
    the loop's Prefetcher) and of each of its data workers."""
    from srcore.loop import Prefetcher
    from srcore.sampling import make_sampler, validation_pairs

    cfg = _config(spec, backend=spec["backend"], device=spec["device"], vgg_weights="random", tensorboard=False)
    trainer = _trainer(spec, cfg)
    sampler = make_sampler(cfg)
    try:
        validation_pairs(cfg, record=True)
        with Prefetcher(sampler, 0, 1, shard=trainer.shard) as batches:
            trainer.train_batch(*next(batches), step=0)
        workers = [peak_mb(pid) for pid in _pids(sampler)]
    finally:
        sampler.close()
    main = peak_mb()
    return {"main_mb": main, "workers_mb": workers, "total_mb": main + sum(workers), "streamed": bool(workers)}


def _thread_cpu_seconds(name: str) -> float:
    """CPU seconds the threads of this process called `name` have used (Linux /proc)."""
    import threading

    ids = [t.native_id for t in threading.enumerate() if t.name == name and t.native_id is not None]
    return sum(cpu_seconds([f"self/task/{i}"]) for i in ids)


def measure_loop(spec: dict) -> dict:
    """The step's rate fed by the folder source through the loop's Prefetcher, and the bare step's on batches of the
    same source made beforehand, in alternating blocks (a drift of the machine's load falls on both); and the data's
    share of the CPU the fed steps used (the data workers' and the Prefetcher thread's CPU time over all of it): the
    loss to expect where the step has every core and nothing else runs.

    The read-ahead is bounded, so the data pipeline makes a batch only when one is taken: while a bare block runs it
    is idle, except for the batch replacing the fed block's last one, made during the bare block's first step, which
    is not timed. The bare steps use distinct real batches, not one batch repeated: on this CPU, the step on a
    repeated batch was about 1.5x slower than on changing ones, which made the fed steps look faster."""
    from srcore.loop import Prefetcher
    from srcore.sampling import make_sampler

    cfg = _config(spec, backend=spec["backend"], device=spec["device"], vgg_weights="random", val_holdout=0)
    trainer = _trainer(spec, cfg)
    sampler = make_sampler(cfg)
    steps, block, lead = spec["steps"], 4, 3  # lead: steps to fill the read-ahead (a batch costs far less than a step)
    rounds = -(-steps // block)
    t_bare = t_fed = w = f = m = 0.0
    try:
        made = [sampler.batch(1_000_000 + i, trainer.shard) for i in range(block + 1)]  # the bare steps' batches
        pids, step = _pids(sampler), 0

        def timed(batch: tuple[np.ndarray, np.ndarray]) -> float:
            nonlocal step
            t0 = time.perf_counter()
            trainer.train_batch(*batch, step=step)
            step += 1
            return time.perf_counter() - t0

        for batch in made[:2]:  # warm-up
            timed(batch)
        # More batches than used: the Prefetcher's thread still runs (blocked ahead) when its CPU time is read.
        with Prefetcher(sampler, 0, lead + rounds * block + 10, shard=trainer.shard) as batches:
            for _ in range(lead):
                timed(next(batches))
            for _ in range(rounds):
                timed(made[0])  # the fed block's last batch is replaced meanwhile: not counted
                t_bare += sum(timed(b) for b in made[1:])
                w0, f0, m0 = cpu_seconds(pids), _thread_cpu_seconds(PREFETCH_THREAD), time.process_time()
                t_fed += sum(timed(next(batches)) for _ in range(block))
                w += cpu_seconds(pids) - w0
                f += _thread_cpu_seconds(PREFETCH_THREAD) - f0
                m += time.process_time() - m0
    finally:
        sampler.close()
    samples = cfg.batch_size * rounds * block
    bare_rate, fed_rate = samples / t_bare, samples / t_fed
    # workers' and Prefetcher thread's CPU (data) over all the CPU the fed steps used (this process's too)
    return {"bare": bare_rate, "fed": fed_rate, "loss": 1 - fed_rate / bare_rate, "streamed": bool(pids),
            "data_share": (w + f) / (m + w) if m + w > 0 else float("nan")}


def scan(spec: dict) -> dict:
    """Check a folder's images once, so the measurements start from a remembered index."""
    from srcore.imagefolder import scan_folder

    cfg = _config(spec)
    return {"images": len(scan_folder(spec["folder"], cfg.scale, cfg.patch_size))}


CHILDREN = {"throughput": measure_throughput, "memory": measure_memory, "loop": measure_loop, "scan": scan}


def run_data_child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    print(json.dumps(CHILDREN[spec["kind"]](spec)))


# ---- in benchmark.py: the rows, each repeated in fresh processes

def _child(spec: dict, env: dict[str, str]) -> dict:
    out = subprocess.run(children.command("benchmark", "--data-child", json.dumps(spec)), capture_output=True,
                         text=True, env=children.environment(env))
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _repeat(spec: dict, env: dict[str, str], repeats: int) -> list[dict]:
    runs = []
    for _ in range(repeats):
        spec = {**spec, "out": tempfile.mkdtemp(dir=Path(spec["out"]).parent)}  # each child its own run folder
        r = _child(spec, env)
        print({**{k: v for k, v in spec.items() if k not in ("out",)}, **r}, flush=True)
        if "error" in r:
            return [r]
        runs.append(r)
    return runs


def _span(runs: list[dict], key: str, fmt: str = "{:.0f}") -> str:
    """min / median of `key` over the runs."""
    if "error" in runs[0]:
        return f"failed: {runs[0]['error']}"
    values = [r[key] for r in runs]
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))}"


def _median(runs: list[dict], key: str) -> float:
    return float("nan") if "error" in runs[0] else float(statistics.median(r[key] for r in runs))


def make_synthetic_folder(root: Path, count: int, side: int = SYNTHETIC_SIDE) -> Path:
    """`count` smooth random side x side JPEGs (quality 90) in `root`, in 10 subfolders."""
    from PIL import Image

    rng = np.random.default_rng(count)
    for i in range(count):
        small = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        where = root / f"{i % 10:02d}"
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(small).resize((side, side), Image.BICUBIC).save(where / f"{i:05d}.jpg", quality=90)
    return root


def default_data_workers() -> list[int]:
    """0 (in memory), 1, 2 and N = this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return sorted({0, 1, 2, cores})


def _workers_label(n: int) -> str:
    return "0 (in memory)" if n == 0 else ("auto" if n < 0 else str(n))


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def run_data_benchmark(args: Any) -> None:
    """Every data row, into the `HEADING` section of the report `args.out`."""
    check_writable(Path(args.out).parent, "--out")
    repeats, started, load0 = args.data_repeats, time.strftime("%Y-%m-%d %H:%M"), _load()
    backend = args.backends[0]
    sources = [("JPEG " + ("(BSDS500 originals, 481x321)" if Path(args.data_jpeg) == JPEG_DIR else args.data_jpeg),
                Path(args.data_jpeg)),
               ("PNG " + ("(prepared crops, 256x256)" if Path(args.data_png) == PNG_DIR else args.data_png),
                Path(args.data_png))]
    with tempfile.TemporaryDirectory(prefix="srgan-databench-") as tmp:
        env = {**os.environ, CACHE_ENV: str(Path(tmp) / "cache")}  # the folders' indexes: not the user's cache

        def spec(kind: str, folder: Path, workers: int, **kw: Any) -> dict:
            return {"kind": kind, "folder": str(folder), "workers": workers, "out": str(Path(tmp) / "run"),
                    "backend": backend, "device": args.device, "preset": args.data_preset, **kw}

        throughput: list[tuple[str, int, int, list[dict]]] = []
        for label, folder in sources:
            if not folder.is_dir():
                throughput.append((label, 0, 0, [{"error": f"no folder {folder}"}]))
                continue
            scanned = _child(spec("scan", folder, 0), env)
            if "error" in scanned:
                throughput.append((label, 0, 0, [scanned]))
                continue
            for workers in args.data_workers:
                runs = _repeat(spec("throughput", folder, workers, batches=args.data_batches), env, repeats)
                throughput.append((label, scanned["images"], workers, runs))
        memory: list[tuple[int, int, list[dict]]] = []
        for count in args.data_images:
            folder = make_synthetic_folder(Path(tmp) / f"images{count}", count)
            _child(spec("scan", folder, 0), env)
            for workers in (-1, 1):
                memory.append((count, workers, _repeat(spec("memory", folder, workers), env, repeats)))
        loop: list[tuple[int, list[dict]]] = []
        jpeg = sources[0][1]
        for workers in (-1, 1):
            runs = _repeat(spec("loop", jpeg, workers, steps=args.data_steps), env, repeats) if jpeg.is_dir() \
                else [{"error": f"no folder {jpeg}"}]
            loop.append((workers, runs))
    lines = _section(args, throughput, memory, loop, started, load0)
    write_section(Path(args.out), lines)
    print(f"wrote the data rows into {args.out}")


def _section(args: Any, throughput: list, memory: list, loop: list, started: str, load0: str) -> list[str]:
    from srcore.config import preset_config

    cfg = preset_config(args.data_preset, "srresnet")
    b, p, s = cfg.batch_size, cfg.patch_size, cfg.scale
    backend, repeats, few, many = args.backends[0], args.data_repeats, args.data_images[0], args.data_images[-1]
    lines = [HEADING, "",
             f"Machine: {cpu_description()}. Load average when the data rows started: {load0}; when they ended: "
             f"{_load()} (a load above the core count means other processes were running and shared the cores).",
             "",
             f"Command: `python benchmark.py {' '.join(sys.argv[1:])}` ({started}). Each figure is min / median of "
             f"{repeats} runs, each in a fresh process; the images are in the page cache (each folder is checked "
             "once before; its index is in a temporary cache).", "",
             f"Throughput: the folder data source (`--train-dir`, {args.data_preset} preset: batch {b}, {p}x{p} HR "
             f"patches at x{s}, "
             f"random crops of whole images, 8 flips/turns), {args.data_batches} batches after the workers' read-ahead "
             "was made once; the training process only asks for batches. Per worker CPU-second: patches made per "
             "CPU-second the data workers used (the training process's own, in memory): what one worker makes on one "
             "core whatever else runs.", "",
             "| images | data workers | samples/s | per worker CPU-second |", "|---|---|---|---|"]
    for label, count, workers, runs in throughput:
        lines.append(f"| {label}{f', {count}' if count else ''} | {_workers_label(workers)} | "
                     f"{_span(runs, 'samples_per_s')} | {_span(runs, 'per_cpu_second')} |")
    lines += ["", f"Memory: peak resident memory (VmHWM) of a {backend} training process at its first step (SRResNet "
              f"{args.data_preset} preset, {args.device or 'default device'}: the trainer, the sampler, the "
              f"validation images held out (up to {cfg.val_holdout}), one step through the "
              "loop's Prefetcher) and of each of its data workers, read from /proc before they stop; the folders are "
              f"synthetic {SYNTHETIC_SIDE}x{SYNTHETIC_SIDE} JPEGs. auto: the default --data-workers -1 (in memory "
              "when the decoded images are small, else streamed).", "",
              f"| images | data workers | training process | data workers | total | total vs {few} images |",
              "|---|---|---|---|---|---|"]
    base = {w: _median(runs, "total_mb") for count, w, runs in memory if count == few}
    for count, workers, runs in memory:
        kind = "" if "error" in runs[0] else (" (streamed)" if runs[0]["streamed"] else " (in memory)")
        each = "" if "error" in runs[0] else \
            (" + ".join(f"{statistics.median(r['workers_mb'][i] for r in runs):.0f}"
                        for i in range(len(runs[0]["workers_mb"]))) + " MB (median)" if runs[0]["workers_mb"] else "-")
        ratio = _median(runs, "total_mb") / base.get(workers, float("nan"))
        lines.append(f"| {count} | {_workers_label(workers)}{kind} | {_span(runs, 'main_mb')} MB | {each} | "
                     f"{_span(runs, 'total_mb')} MB | {ratio:.2f}x |")
    lines += ["", f"Loop: the {backend} SRResNet step (batch {b}, {p}x{p}, {args.device or 'default device'}) fed by "
              f"the folder source of the JPEGs through the loop's Prefetcher, and the bare step in the same process on "
              f"batches of the same source made beforehand, {args.data_steps} steps each in alternating blocks of 4 "
              "(the data pipeline only makes a batch when one is taken, so it idles in the bare blocks; their first "
              "step, which may overlap the last fed batch's replacement, is not counted). Distinct bare batches: one "
              "batch repeated made the step about 1.5x slower here. Lost to data: 1 - fed / bare, which other "
              "processes' load makes noisy; data's CPU share: the data workers' and the Prefetcher thread's CPU time "
              "over all the CPU time of the fed steps, the loss to expect where the step has every core to itself.",
              "",
              "| data workers | bare step samples/s | fed by data samples/s | lost to data | data's CPU share |",
              "|---|---|---|---|---|"]
    for workers, runs in loop:
        kind = "" if "error" in runs[0] else (" (streamed)" if runs[0]["streamed"] else " (in memory)")
        loss = "" if "error" in runs[0] else _span([{"v": 100 * r["loss"]} for r in runs], "v", "{:.1f}") + " %"
        share = "" if "error" in runs[0] else _span([{"v": 100 * r["data_share"]} for r in runs], "v", "{:.1f}") + " %"
        lines.append(f"| {_workers_label(workers)}{kind} | {_span(runs, 'bare', '{:.2f}')} | "
                     f"{_span(runs, 'fed', '{:.2f}')} | {loss} | {share} |")
    lines += ["", "Goals (issue 18), on the medians:", ""] + _goals(throughput, memory, loop, base, few, many, p)
    return lines


def _goals(throughput: list, memory: list, loop: list, base: dict[int, float], few: int, many: int,
           patch: int) -> list[str]:
    out = []
    for count, workers, runs in memory:
        if count == many:
            ratio = _median(runs, "total_mb") / base.get(workers, float("nan"))
            out.append(f"- peak memory at {count} images within {GOALS['memory']}x of {few} "
                       f"(--data-workers {_workers_label(workers)}): {ratio:.2f}x, "
                       f"{'met' if ratio <= GOALS['memory'] else 'missed'}")
    one = [runs for label, _, workers, runs in throughput if workers == 1 and label.startswith("JPEG")]
    if one:
        per, wall = _median(one[0], "per_cpu_second"), _median(one[0], "samples_per_s")
        out.append(f"- one data worker supplies >= {GOALS['worker']:.0f} patches/s of {patch}x{patch} from the JPEGs "
                   f"on one core: {per:.0f} per CPU-second ({wall:.0f}/s wall-clock on the shared machine), "
                   f"{'met' if per >= GOALS['worker'] else 'missed'}")
    for workers, runs in loop:
        if "error" in runs[0]:
            continue
        loss, share = _median(runs, "loss"), _median(runs, "data_share")
        spread = max(r["loss"] for r in runs) - min(r["loss"] for r in runs)
        verdict = "met" if loss < GOALS["loop"] else "missed"
        if loss >= GOALS["loop"] and share < GOALS["loop"] and spread > GOALS["loop"]:
            verdict = (f"not resolved by the wall clock here (its runs spread over {100 * spread:.0f} points: other "
                       "processes' load); met by the CPU share")
        out.append(f"- the loop loses < {100 * GOALS['loop']:.0f}% of the bare step's rate to data "
                   f"(--data-workers {_workers_label(workers)}): {100 * loss:.1f}% measured (median), data's CPU "
                   f"share {100 * share:.1f}%: {verdict}")
    return out


# ---- the report's data section: written here, kept by the other rows' report

def split_report(text: str) -> tuple[str, str]:
    """(the report without its data section, the data section) of a report's text."""
    at = text.find("\n" + HEADING + "\n")
    if at < 0:
        return text, ""
    rest = text[at + 1:]
    end = rest.find("\n## ", len(HEADING))
    section = rest if end < 0 else rest[:end + 1]
    return text[:at + 1] + ("" if end < 0 else rest[end + 1:]), section


def kept_section(path: Path) -> list[str]:
    """The data section of the report at `path` (none if it has none), as lines to append to a rewritten report."""
    try:
        section = split_report(path.read_text())[1]
    except OSError:
        return []
    return ["", *section.rstrip("\n").splitlines()] if section else []


def write_section(path: Path, lines: list[str]) -> None:
    """Put `lines` (the data section) into the report at `path`, replacing its data section, keeping the rest."""
    try:
        head = split_report(path.read_text())[0].rstrip("\n")
    except OSError:
        head = "# Speed"
    atomic_write_text(path, head + "\n\n" + "\n".join(lines) + "\n")
