"""What trains.py does: which phases run, where, the checks before any training, and how a run resumes.

The backend's `train(cfg)` is imported by name only when a phase runs, so this module (and
`trains.py --help`) works without torch or tensorflow installed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from srapp.backends import backend_module, both_frameworks
from srapp.options import RECORDED_ABSOLUTE, arch_overrides, config_overrides, given, resume_changes, same_folder
from srcore.arch import MODELS, meta_arch, model_for
from srcore.config import FIXED, TrainConfig, config_fields, preset_config
from srcore.data import split_dirs
from srcore.errors import Interrupted, UserError
from srcore.fileio import atomic_write_text, check_writable, folder_lock
from srcore.malloc import keep_freed_memory
from srcore.workers import this_worker

RECIPE_FILE = "recipe.json"
def plan_phases(args: Any) -> list[TrainConfig]:
    """The phase configs for the command line: one supervised phase, one adversarial phase from --pretrained, or
    an adversarial model's supervised phase first, then the adversarial one (SRResNet then SRGAN).

    With --pretrained, the one phase starts from the checkpoint's generator (an SRGAN phase from an SRResNet; a
    supervised model fine-tuned from its own weights), whose scale and parameters are the defaults.
    """
    options = given(args)
    model = MODELS.get(options.get("model", "srgan"))
    common = {**config_overrides(args), **arch_overrides(args)}
    if args.pretrained:
        meta = pretrained_meta(args.pretrained)
        spec, params = meta_arch(meta, f"--pretrained {args.pretrained}")
        if spec.name != model.arch:
            raise UserError(f"--pretrained {args.pretrained}: this is a {spec.label(params)} generator, but --model "
                            f"{model.name} trains {model.arch}; give weights of that architecture")
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
        if args.pretrained:  # then `m` is the one phase
            cfg.pretrained = args.pretrained
        phases.append(cfg)
    return phases


@functools.lru_cache(maxsize=4)  # planning and checking both ask; the file is read once
def pretrained_meta(path: str) -> dict[str, Any]:
    """The metadata of a --pretrained checkpoint of any format (PyTorch, Keras, backend-neutral).

    Read without a framework or the tensors: planning a torch run must not import TensorFlow for a Keras file.
    """
    from srcore.metadata import read_meta

    p = Path(path)
    if p.is_dir():  # e.g. a run folder: name what it holds
        found = _checkpoints_in(p)
        hint = f", e.g. {' or '.join(found[:2])}" if found else ""
        raise UserError(f"--pretrained {path} is a folder; give a checkpoint file{hint}")
    if not p.is_file():
        raise UserError(f"--pretrained {path}: no such checkpoint file")
    return read_meta(path)


def _checkpoints_in(folder: Path) -> list[str]:
    """The checkpoint files in `folder` and in its subfolders (a run folder's phases), by name; [] if unreadable."""
    names = {"last.pth", "best.pth", "last.weights.h5", "best.weights.h5"}
    try:
        return [str(c) for d in (folder, *sorted(folder.iterdir())) if d.is_dir()
                for c in sorted(d.iterdir()) if c.name in names or c.suffix == ".safetensors"]
    except OSError:
        return []


def native_weights(cfg: TrainConfig, path: str, flag: str = "pretrained") -> str:
    """Generator weights `path` (--pretrained or --warm-restart), converted (generator only) into the run folder
    when they are in another backend's format."""
    from srconvert.convert import convert_checkpoint
    from srcore.checkpoint import checkpoint_format

    src = Path(path)
    if checkpoint_format(src) == cfg.backend:
        return str(src)
    suffix = ".pth" if cfg.backend == "torch" else ".weights.h5"
    dst = Path(cfg.out).parent / f"{flag.replace('-', '_')}_{src.name.split('.')[0]}{suffix}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if cfg.backend == "torch":
        both_frameworks()  # a Keras file read inside a torch run: the frameworks in the order that does not crash
    convert_checkpoint(src, dst, force=True, generator_only=True)
    print(f"--{flag} {src}: converted to the {cfg.backend} format as {dst}")
    return str(dst)


def check_scale(meta: dict[str, Any], cfg: TrainConfig, what: str) -> None:
    """A checkpoint given as `what` (e.g. "--pretrained PATH") must be of the phase's scale; CheckpointError if not."""
    from srcore.checkpoint import CheckpointError

    if meta.get("scale") != cfg.scale:
        raise CheckpointError(f"{what} is a x{meta.get('scale')} checkpoint, but this run trains x{cfg.scale}")


def warm_restart_phase(phases: list[TrainConfig], weights: str) -> str:
    """Point the phase of `weights`' model at them (--warm-restart): it continues from their iteration with new
    optimizer state instead of from its `last` checkpoint, which must not exist (it would be replaced)."""
    from srcore.checkpoint import CheckpointError, check_resumable

    if not Path(weights).is_file():
        raise UserError(f"--warm-restart {weights}: no such checkpoint file")
    meta = pretrained_meta(weights)
    ours = [cfg for cfg in phases if cfg.model == meta["model"]]
    if not ours:
        raise CheckpointError(f"--warm-restart {weights}: this is a {meta['model']} checkpoint, but the run trains "
                              f"{', '.join(c.model for c in phases)}")
    cfg = ours[-1]
    check_scale(meta, cfg, f"--warm-restart {weights}")
    check_resumable(meta, cfg, weights)
    module = backend_module(cfg.backend, "checkpoint")
    last = module.checkpoint_path(Path(cfg.out) / module.LAST)
    if module.checkpoint_exists(last):
        raise UserError(f"--warm-restart: {last} exists and resumes exactly; continue with --resume alone (or move "
                        f"it away first to restart from {weights})")
    iteration = int(meta.get("iteration") or 0)
    if iteration >= cfg.iterations:
        raise UserError(f"--warm-restart {weights}: already trained for {iteration} of {cfg.iterations} "
                        f"iterations; give more with --iterations N")
    cfg.warm_restart, cfg.resume = weights, None
    return f"{cfg.model}: warm restart from {weights} at iteration {iteration} (new optimizer state)"


def save_recipe(run_dir: Path, phases: list[TrainConfig]) -> None:
    """recipe.json: the phases, with paths inside the run folder relative to it and others absolute, so the
    folder can be moved or copied and resumed from anywhere."""
    rows = []
    for cfg in phases:
        d = cfg.to_dict()
        d["out"] = Path(cfg.out).name
        for key in RECORDED_ABSOLUTE:  # resumable from any working folder
            if d[key]:
                d[key] = str(Path(d[key]).resolve())
        if cfg.pretrained:
            pre = Path(cfg.pretrained).resolve()
            d["pretrained"] = str(pre.relative_to(run_dir.resolve())) if pre.is_relative_to(run_dir.resolve()) \
                else str(pre)
        d["resume"] = d["warm_restart"] = None  # how this process continues, not what the run is
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
    recipe = run_dir / RECIPE_FILE
    try:
        rows = json.loads(recipe.read_text())
        if not isinstance(rows, list) or not rows or not all(isinstance(d, dict) for d in rows):
            raise ValueError("expected a list of phase objects")
        phases = []
        for i, row in enumerate(rows, 1):  # an edited value is named now, not met as a traceback later
            try:
                phases.append(TrainConfig.from_dict(row).validate())
            except UserError as e:
                raise ValueError(f"phase {i}: {e}") from None
    except (ValueError, TypeError, AttributeError, OSError, RecursionError) as e:
        raise UserError(f"--resume: {recipe} is damaged or was edited ({str(e)[:300]}); it must hold the run as "
                        "trains.py wrote it") from None
    for cfg in phases:
        cfg.out = str(run_dir / Path(cfg.out).name)  # older recipes hold cwd-relative paths: keep only the name
        if cfg.pretrained and not Path(cfg.pretrained).is_absolute() and (run_dir / cfg.pretrained).exists():
            cfg.pretrained = str(run_dir / cfg.pretrained)
        cfg.resume = cfg.out if Path(cfg.out).is_dir() else None
        _check_recorded(cfg, recipe)
    return phases


def _check_recorded(cfg: TrainConfig, recipe: Path) -> None:
    """One line if recipe.json says something else than the config the phase recorded when it started (e.g. an
    edited backend, which would otherwise restart the phase from iteration 0 beside the other backend's `last`)."""
    from srcore.loop import CONFIG_FILE

    saved = Path(cfg.out) / CONFIG_FILE
    if not saved.is_file():
        return
    recorded = TrainConfig.load(saved)
    keys = ["arch", "phase", "arch_params"] + [f.name for f in config_fields() if f.metadata["resume"] == FIXED
                                               and f.name != "pretrained"]  # a path, recorded in two forms
    differ = [k for k in keys if not (same_folder(getattr(recorded, k), getattr(cfg, k)) if k in RECORDED_ABSOLUTE
                                      else getattr(recorded, k) == getattr(cfg, k))]
    if differ:
        k = differ[0]
        raise UserError(f"--resume: {recipe} records {k} = {getattr(cfg, k)!r}, but the phase started with "
                        f"{getattr(recorded, k)!r} ({saved}); recipe.json was edited: restore it (or start a new run)")


def run_training(args: Any) -> Path:
    """Prepare data if needed, check VGG weights, run every phase; returns the final checkpoint.

    The run folder is locked while this runs (a second trainer on it is refused); a new run never replaces an
    earlier one in its folder; a run folder this call made is removed again if it fails before any checkpoint.
    """
    keep_freed_memory()  # before any step allocates: CPU steps 1.2x (torch) to 1.35x (Keras) faster (srcore/malloc.py)
    changes: list[str] = []
    warm = getattr(args, "warm_restart", None)
    if warm and not args.resume:
        raise UserError("--warm-restart continues a run: give its run folder with --resume RUN_DIR (a new run "
                        "starts from weights with --pretrained)")
    if args.resume:
        phases = load_recipe(args.resume)
        changes = resume_changes(args, phases, Path(phases[0].out).parent)
        if warm:
            changes.append(warm_restart_phase(phases, warm))
    else:
        phases = plan_phases(args)
    run_dir = Path(phases[0].out).parent
    # Under torchrun or TF_CONFIG every worker runs this; only the first writes shared files, none prepares data.
    rank, world = this_worker(phases[0].backend, phases[0].distribute)
    main = rank == 0
    check_writable(run_dir, "--out")
    created = not run_dir.exists()
    try:
        with folder_lock(run_dir, "run folder") if main else contextlib.nullcontext():
            if main and not args.resume:
                refuse_existing_run(run_dir, phases)
            if args.resume:
                print(f"resuming {run_dir} ({', '.join(c.model for c in phases)})" +
                      (f" with {'; '.join(changes)}" if changes else ""))
            return _run_phases(args, phases, run_dir, changes, several=world > 1, main=main)
    except BaseException:
        if created and main:
            _remove_if_unused(run_dir)
        raise


def refuse_existing_run(run_dir: Path, phases: list[TrainConfig]) -> None:
    """A one-line UserError if `run_dir` already holds a run (or a phase folder of this one): it is never
    replaced; the message names --resume and --out."""
    from srcore.metadata import read_meta

    found = [p for p in [run_dir / RECIPE_FILE, *(Path(c.out) for c in phases)] if p.exists()]
    if not found:
        return
    done = []
    for cfg in phases:
        for name in ("last.pth", "last.weights.h5"):
            try:
                done.append(f"{cfg.model} at iteration {read_meta(Path(cfg.out) / name)['iteration']}")
                break
            except UserError:
                continue
    held = f" ({', '.join(done)})" if done else ""
    raise UserError(f"{run_dir} already holds a run{held}; continue it with: python trains.py --resume "
                    f"{shlex.quote(str(run_dir))}, or start a new one with another --out")


def resolve_precisions(phases: list[TrainConfig]) -> None:
    """Each phase's --precision as this machine computes it ("auto" -> bf16 or fp32: the recipe records what the
    run computes in; a recorded value is kept unless --resume changed it), with a warning where bf16 is emulated."""
    device = backend_module(phases[0].backend, "device")
    emulated = []
    for cfg in phases:
        dev = device.resolve_device(cfg.device)
        cfg.precision = device.resolve_precision(dev, cfg.precision, cfg.amp)
        if cfg.precision == "bf16" and device.resolve_precision(dev, "auto") != "bf16":
            emulated.append(cfg.model)
    if emulated:
        print(f"warning: {', '.join(emulated)} computes in bf16, which this device emulates (no AMX-BF16 or "
              "AVX512-BF16): about 10x slower than float32; --precision auto trains in float32 here (a run "
              "continues so with --resume RUN --precision auto)", file=sys.stderr)


def _remove_if_unused(run_dir: Path) -> None:
    """Remove a run folder this process made when it holds no checkpoint (a run that failed at its start)."""
    if run_dir.is_dir() and not any(p.name.startswith(("last", "best")) for p in run_dir.rglob("*")):
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_phases(args: Any, phases: list[TrainConfig], run_dir: Path, changes: list[str], several: bool,
                main: bool) -> Path:
    first = phases[0]
    check_phases(phases)
    if not first.train_dir or not (first.val_dir or first.val_holdout):  # a --train-dir run needs no BSDS500
        ensure_prepared(first.data, first.scale, may_prepare=not args.resume and not several,
                        more=first.train_scales)
    if not args.resume:
        for cfg in phases:
            if cfg.pretrained:
                cfg.pretrained = native_weights(cfg, cfg.pretrained)
    resolve_precisions(phases)
    for cfg in phases:
        if cfg.warm_restart:
            cfg.warm_restart = native_weights(cfg, cfg.warm_restart, "warm-restart")
    if main and (not args.resume or changes):
        save_recipe(run_dir, phases)
    train = backend_module(first.backend, "train").train
    ckpt: Path | None = None
    for cfg in phases:
        if cfg.adversarial and cfg.pretrained is None:
            cfg.pretrained = str(ckpt)
        print(f"== phase {cfg.model}: {cfg.iterations} iterations, lr {cfg.lr:g} ({cfg.lr_schedule}), "
              f"content loss {cfg.content_loss}, precision {cfg.precision}, run folder {cfg.out}")
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
    from srcore.checkpoint import check_pretrained

    losses = backend_module(phases[0].backend, "losses")
    for cfg in phases:
        try:
            cfg.validate(backend=phases[0].backend)
        except UserError as e:
            raise UserError(_phase_flags(str(e), cfg, phases)) from None
        if cfg.pretrained and not (cfg.resume or cfg.warm_restart):  # its size and scale must fit, before any data work
            meta = pretrained_meta(cfg.pretrained)
            check_scale(meta, cfg, f"--pretrained {cfg.pretrained}")
            check_pretrained(meta, cfg, cfg.pretrained)
        if cfg.content_loss.startswith("vgg"):
            losses.check_vgg_available(cfg.vgg_weights)


def _phase_flags(message: str, cfg: TrainConfig, phases: list[TrainConfig]) -> str:
    """A validation message with the options that set this phase's value when two phases run: the first phase's
    iterations come from --pretrain-iterations, the adversarial phase's learning rate from --gan-lr."""
    import re

    if len(phases) < 2:
        return message
    if cfg is phases[0]:
        return re.sub(r"--iterations\b", "--pretrain-iterations", message)
    return re.sub(r"--lr\b(?!-)", "--gan-lr", message)


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
