"""What trains.py does: which phases run, where, the checks before any training, and how a run resumes.

The backend's `train(cfg)` is imported by name only when a phase runs, so this module (and
`trains.py --help`) works without torch or tensorflow installed.
"""

from __future__ import annotations

import functools
import json
import shlex
from pathlib import Path
from typing import Any

from srapp.backends import backend_module
from srapp.options import arch_overrides, config_overrides, given, resume_changes
from srcore.arch import MODELS, meta_arch, model_for
from srcore.config import TrainConfig, preset_config
from srcore.data import split_dirs
from srcore.errors import Interrupted, UserError
from srcore.fileio import atomic_write_text, check_writable
from srcore.workers import this_worker

RECIPE_FILE = "recipe.json"
def plan_phases(args: Any) -> list[TrainConfig]:
    """The phase configs for the command line: one supervised phase, one adversarial phase from --pretrained, or
    an adversarial model's supervised phase first, then the adversarial one (SRResNet then SRGAN).

    With --pretrained, the scale and the generator's parameters default to the checkpoint's own.
    """
    options = given(args)
    model = MODELS.get(options.get("model", "srgan"))
    common = {**config_overrides(args), **arch_overrides(args)}
    if args.pretrained and not model.adversarial:
        raise UserError(f"--pretrained initialises the generator of an adversarial phase (--model "
                        f"{' or '.join(m.name for m in MODELS.values() if m.adversarial)}); a {model.name} run "
                        "starts from its own initialisation (continue a run with --resume)")
    if args.pretrained:
        meta = pretrained_meta(args.pretrained)
        _, params = meta_arch(meta, f"--pretrained {args.pretrained}")
        common = {**params, "scale": meta["scale"], **common}
    backend, preset = options.get("backend", "torch"), options.get("preset", "quick")
    suffix = "" if model.arch == "srresnet" else f"_{model.arch}"  # the series' other models get their own folders
    out = Path(options.get("out") or f"runs/{backend}_{preset}{suffix}_x{common.get('scale') or 4}")
    common["backend"] = backend
    supervised = model_for(model.arch, "supervised")
    models = [model] if not model.adversarial or args.pretrained or supervised is None else [supervised, model]
    both = len(models) == 2
    phases = []
    for m in models:
        own: dict[str, Any] = {"iterations": options.get("iterations"), "lr": options.get("lr"),
                               "content_loss": options.get("content_loss") if m is model else None}
        if both and not m.adversarial:  # --iterations and --gan-lr belong to the adversarial phase here
            own["iterations"] = options.get("pretrain_iterations")
        if m.adversarial:
            own["lr"] = options.get("gan_lr", None if both else options.get("lr"))
        cfg = preset_config(preset, m.name, **{**common, **own}, out=str(out / m.name))
        if m.adversarial and args.pretrained:
            cfg.pretrained = args.pretrained
        phases.append(cfg)
    return phases


@functools.lru_cache(maxsize=4)  # planning and checking both ask; the file is read once
def pretrained_meta(path: str) -> dict[str, Any]:
    """The metadata of a --pretrained checkpoint of any format (PyTorch, Keras, backend-neutral).

    Read without a framework or the tensors: planning a torch run must not import TensorFlow for a Keras file.
    """
    from srcore.metadata import read_meta

    if not Path(path).is_file():
        raise UserError(f"--pretrained {path}: no such checkpoint file")
    return read_meta(path)


def native_pretrained(cfg: TrainConfig) -> str:
    """`cfg.pretrained`, converted (generator only) into the run folder when it is in another backend's format."""
    from srconvert.convert import convert_checkpoint
    from srcore.checkpoint import checkpoint_format

    src = Path(str(cfg.pretrained))
    if checkpoint_format(src) == cfg.backend:
        return str(src)
    suffix = ".pth" if cfg.backend == "torch" else ".weights.h5"
    dst = Path(cfg.out).parent / f"pretrained_{src.name.split('.')[0]}{suffix}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    convert_checkpoint(src, dst, force=True, generator_only=True)
    print(f"--pretrained {src}: converted to the {cfg.backend} format as {dst}")
    return str(dst)


def save_recipe(run_dir: Path, phases: list[TrainConfig]) -> None:
    """recipe.json: the phases, with paths inside the run folder relative to it and others absolute, so the
    folder can be moved or copied and resumed from anywhere."""
    rows = []
    for cfg in phases:
        d = cfg.to_dict()
        d["out"] = Path(cfg.out).name
        d["data"] = str(Path(cfg.data).resolve())
        if cfg.pretrained:
            pre = Path(cfg.pretrained).resolve()
            d["pretrained"] = str(pre.relative_to(run_dir.resolve())) if pre.is_relative_to(run_dir.resolve()) \
                else str(pre)
        d["resume"] = None
        rows.append(d)
    atomic_write_text(run_dir / RECIPE_FILE, json.dumps(rows, indent=2) + "\n")


def find_run_dir(resume: str) -> Path:
    """The run folder (the one with recipe.json) that `resume` names: itself, a phase folder or a checkpoint."""
    p = Path(resume)
    if not p.exists() and not Path(f"{resume}.json").is_file():  # a Keras checkpoint's base name is fine too
        raise UserError(f"--resume {resume}: no such run folder or checkpoint")
    for cand in [p, p.parent, p.parent.parent] if p.is_dir() else [p.parent, p.parent.parent]:
        if (cand / RECIPE_FILE).is_file():
            return cand
    raise UserError(f"--resume {resume}: expected a run folder written by trains.py (with {RECIPE_FILE}), "
                    "one of its phase folders, or a checkpoint inside one")


def load_recipe(resume: str) -> list[TrainConfig]:
    """Phases of the run that `resume` belongs to, with every path resolved from that run folder: a moved or
    copied folder resumes itself, never the folder it was copied from."""
    run_dir = find_run_dir(resume)
    try:
        rows = json.loads((run_dir / RECIPE_FILE).read_text())
        phases = [TrainConfig.from_dict(d) for d in rows]
    except (ValueError, TypeError, AttributeError, OSError) as e:
        raise UserError(f"--resume: {run_dir / RECIPE_FILE} is damaged ({e})") from None
    for cfg in phases:
        cfg.out = str(run_dir / Path(cfg.out).name)  # older recipes hold cwd-relative paths: keep only the name
        if cfg.pretrained and not Path(cfg.pretrained).is_absolute() and (run_dir / cfg.pretrained).exists():
            cfg.pretrained = str(run_dir / cfg.pretrained)
        cfg.resume = cfg.out if Path(cfg.out).is_dir() else None
    return phases


def run_training(args: Any) -> Path:
    """Prepare data if needed, check VGG weights, run every phase; returns the final checkpoint."""
    if args.resume:
        phases = load_recipe(args.resume)
        run_dir = Path(phases[0].out).parent
        changes = resume_changes(args, phases, Path(phases[0].out).parent)
        print(f"resuming {run_dir} ({', '.join(c.model for c in phases)})" +
              (f" with {'; '.join(changes)}" if changes else ""))
    else:
        phases = plan_phases(args)
        run_dir = Path(phases[0].out).parent
    first = phases[0]
    # Under torchrun or TF_CONFIG every worker runs this; only the first writes shared files, none prepares data.
    rank, world = this_worker(first.backend, first.distribute)
    several, main = world > 1, rank == 0
    check_writable(run_dir, "--out")
    check_phases(phases)
    ensure_prepared(first.data, first.scale, may_prepare=not args.resume and not several, more=first.train_scales)
    if not args.resume:
        for cfg in phases:
            if cfg.pretrained:
                cfg.pretrained = native_pretrained(cfg)
    if main and (not args.resume or changes):
        save_recipe(run_dir, phases)
    train = backend_module(first.backend, "train").train
    ckpt: Path | None = None
    for cfg in phases:
        if cfg.adversarial and cfg.pretrained is None:
            cfg.pretrained = str(ckpt)
        print(f"== phase {cfg.model}: {cfg.iterations} iterations, lr {cfg.lr:g} ({cfg.lr_schedule}), "
              f"content loss {cfg.content_loss}, run folder {cfg.out}")
        ckpt = _train_phase(train, cfg)
        print(f"== phase {cfg.model} done: {ckpt}")
    assert ckpt is not None
    return ckpt


def _train_phase(train: Any, cfg: TrainConfig) -> Path:
    """Run one phase; a signal becomes a one-line message with the exact command that continues the run."""
    from srcore.loop import TrainingInterrupted

    again = f"continue with: python trains.py --resume {shlex.quote(str(Path(cfg.out).parent))}"
    try:
        return train(cfg)
    except TrainingInterrupted as e:
        raise Interrupted(f"{e}; {again}", 128 + e.signum) from None
    except KeyboardInterrupt:
        raise Interrupted(f"stopped at once by a second signal; the last checkpoint in {cfg.out} is intact; "
                          f"{again}", 130) from None


def check_phases(phases: list[TrainConfig]) -> None:
    """Validate every phase and make its VGG19 weights available, once each, before hours of phase 1."""
    from srcore.checkpoint import CheckpointError, check_pretrained

    losses = backend_module(phases[0].backend, "losses")
    for cfg in phases:
        cfg.validate(backend=phases[0].backend)
        if cfg.pretrained and not cfg.resume:  # its size and scale must fit, before any data work
            meta = pretrained_meta(cfg.pretrained)
            if meta["scale"] != cfg.scale:
                raise CheckpointError(f"--pretrained {cfg.pretrained} is a x{meta['scale']} checkpoint, but this run "
                                      f"trains x{cfg.scale}")
            check_pretrained(meta, cfg, cfg.pretrained)
        if cfg.content_loss.startswith("vgg"):
            losses.check_vgg_available(cfg.vgg_weights)


def ensure_prepared(data: str, scale: int, may_prepare: bool = True, more: tuple[int, ...] = ()) -> None:
    """Prepare the data (prepare_bsd500.py's defaults) when `data` holds no usable build for `scale` (and the
    scales in `more`: a multi-scale model's training inputs).

    `may_prepare` False (resuming): a missing build is an error, never a new preparation somewhere else.
    """
    from srcore.prepare import is_prepared, prepare, read_manifest

    needed = tuple(sorted({scale, *more}))
    if is_prepared(data, scales=needed):
        return
    manifest = read_manifest(data)
    if manifest is None and all(d.is_dir() for s in needed for d in split_dirs(data, "train", s)):
        return  # prepared by other means (no manifest at all, so not an interrupted run of ours)
    if not may_prepare:
        raise UserError(f"no prepared data at {data} (x{', x'.join(map(str, needed))}) on this machine: with --resume "
                        "or several workers "
                        f"it is never prepared on the fly; run prepare_bsd500.py first, or pass --data DIR")
    print(f"prepared data not found in {data}/ (x{', x'.join(map(str, needed))}); preparing it first with "
          "prepare_bsd500.py's defaults")
    key = (manifest or {}).get("key", {})
    old = key.get("scales", []) if isinstance(key.get("scales"), list) else []
    scales = sorted({4, *needed, *old})
    # Keep benchmark sets (Set5, Set14) that an earlier build had, so adding a scale does not drop them.
    bench = [b["path"] for b in key.get("benchmarks", []) if isinstance(b, dict) and "path" in b]
    try:
        prepare(out=data, scales=tuple(scales), benchmarks=bench)
    except UserError as e:
        raise UserError(f"{e} (for training: python prepare_bsd500.py --source PATH --out {data}, then "
                        f"trains.py --data {data})") from None
