"""trains.py's options, derived from their one declaration each, and the rules --resume applies to them.

Three kinds, one table (`declared_options()`):
- the TrainConfig fields that the command line offers (srcore.config: `option(...)` with default, help, choices
  and resume policy);
- every registered architecture's parameters (srcore.arch.Param: --blocks, --channels, --layers, --kernels, ...);
- the few options of the recipe itself (`RECIPE_OPTIONS`: --model, --pretrain-iterations, --gan-lr, --out,
  --resume), which say how the phases are planned.
Every option's parser default is None ("not given"), so the preset's value applies unless the option is given,
and `--resume` can tell exactly which options were given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srcore.arch import ARCHS, MODELS
from srcore.config import CHANGE, FIRST_PHASE, FIXED, INTERNAL, TrainConfig, choices_of, config_fields, flag_of
from srcore.errors import UserError

# The folders that recipe.json records absolute (srapp.training.save_recipe), so that a run resumes from any working
# folder: given again with --resume, they are compared in that form.
RECORDED_ABSOLUTE = ("data", "train_dir", "train_lr_dir", "val_dir")


def same_folder(recorded: str | None, absolute: str | None) -> bool:
    """Whether folder `recorded`, as a phase's config.json holds it (absolute, or relative to the working folder the
    run started in, which is not recorded), can be the folder `absolute` that recipe.json holds: the same path, or
    one that ends with the relative one (a relative path that climbs with '..' cannot be told apart: True)."""
    if recorded is None or absolute is None:
        return recorded == absolute
    rel = Path(recorded)
    if rel.is_absolute():
        return Path(recorded) == Path(absolute)
    parts = Path(os.path.normpath(rel)).parts
    return not parts or ".." in parts or Path(absolute).parts[-len(parts):] == parts


_TYPES = {"int": int, "float": float, "str": str, "str | None": str, "bool": bool, "bool | None": bool}
_ARCH_GROUP = "architecture parameters (each architecture's own; default: its spec's)"


@dataclass(frozen=True)
class Option:
    """One command-line option: its dest, type, help, resume policy and how argparse offers it."""

    name: str  # argparse dest; the TrainConfig field or architecture parameter of that name, if any
    type: type
    help: str
    resume: str
    group: str = "overrides of the preset"
    choices: tuple[Any, ...] = ()
    metavar: str | None = None
    kind: str = "config"  # "config" (a TrainConfig field), "arch" (an architecture parameter), "recipe"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _models_in_order() -> tuple[str, ...]:
    return tuple(m.name for m in sorted(MODELS.values(), key=lambda m: m.order))


def recipe_options() -> tuple[Option, ...]:
    """The options that plan the phases rather than set one phase's field."""
    models = "; ".join(f"{m.name}: {MODELS.get(m.name).description}" for m in
                       (MODELS.get(n) for n in _models_in_order()))
    return (
        Option("model", str, f"what to train (default srgan). {models}", FIXED, "main", _models_in_order(),
               kind="recipe"),
        Option("out", str, "run folder (default runs/<backend>_<preset>[_<arch>]_x<scale>)", FIXED, "main",
               metavar="RUN_DIR", kind="recipe"),
        Option("resume", str, "continue a run exactly; other options are taken from the run's saved config",
               INTERNAL, "main", metavar="RUN_DIR_OR_CKPT", kind="recipe"),
        Option("warm_restart", str, "with --resume: continue the run's phase of this checkpoint's model from its "
               "generator weights and iteration count (a generator-only file, e.g. a committed snapshot of a "
               "run too big to keep whole), with new optimizer state: not exact; the phase folder must hold no "
               "`last` checkpoint", INTERNAL, "main", metavar="WEIGHTS", kind="recipe"),
        Option("pretrain_iterations", int, "SRResNet iterations when --model srgan runs both phases", FIRST_PHASE,
               kind="recipe"),
        Option("gan_lr", float, "learning rate of the SRGAN phase", FIXED, kind="recipe"),
    )


def _config_option(f: dataclasses.Field) -> Option:
    meta = f.metadata
    return Option(f.name, _TYPES[str(f.type)], meta["help"], meta["resume"], meta["group"], choices_of(f),
                  meta.get("metavar"))


def _arch_options() -> list[Option]:
    """One option per parameter name over all architectures; its help says what it means in each."""
    by_name: dict[str, list[tuple[str, Any]]] = {}
    for spec in ARCHS.values():
        for p in spec.params:
            by_name.setdefault(p.name, []).append((spec.name, p))
    options = []
    for name, uses in by_name.items():
        meaning = "; ".join(f"{arch}: {p.help} (default {p.default})" for arch, p in uses)
        choices = tuple(dict.fromkeys(c for _, p in uses for c in p.choices)) if all(p.choices for _, p in uses) \
            else ()
        options.append(Option(name, uses[0][1].type, meaning, FIXED, _ARCH_GROUP, choices, kind="arch"))
    return options


def declared_options() -> list[Option]:
    """Every option of trains.py, each declared once (see the module docstring)."""
    fields = [_config_option(f) for f in config_fields() if f.metadata.get("cli")]
    recipe = list(recipe_options())
    names = [o.name for o in recipe + fields]
    arch = [o for o in _arch_options() if o.name not in names]
    return recipe[:3] + fields + arch + recipe[3:]


def add_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every declared option to `parser`, in groups; booleans as --x / --no-x; every default None."""
    groups: dict[str, Any] = {"main": parser}
    for o in declared_options():
        group = groups.get(o.group) or groups.setdefault(o.group, parser.add_argument_group(o.group))
        kwargs: dict[str, Any] = {"dest": o.name, "default": None, "help": o.help}
        if o.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = o.type
            if o.choices:
                kwargs["choices"] = o.choices
            if o.metavar:
                kwargs["metavar"] = o.metavar
        flag = next((flag_of(f) for f in config_fields() if f.name == o.name), o.flag)
        group.add_argument(flag, **kwargs)
    return parser


def given(args: Any) -> dict[str, Any]:
    """The options given on the command line (parser defaults are None)."""
    return {k: v for k, v in vars(args).items() if v is not None}


def arch_overrides(args: Any) -> dict[str, Any]:
    """The architecture parameters given on the command line."""
    names = {o.name for o in _arch_options()}
    return {k: v for k, v in given(args).items() if k in names}


def config_overrides(args: Any) -> dict[str, Any]:
    """The TrainConfig fields given on the command line, except the preset and those the recipe gives each phase
    itself (iterations, lr, content_loss)."""
    phase_own = ("preset", "iterations", "lr", "content_loss")
    fields = {f.name for f in config_fields() if f.metadata.get("cli")}
    return {k: v for k, v in given(args).items() if k in fields and k not in phase_own}


def _recorded(name: str, phases: list[TrainConfig], run_dir: Path) -> list[Any]:
    """What a run recorded for option `name`, per phase where it differs by phase."""
    if name == "model":
        return [phases[-1].model]
    if name == "out":
        return [run_dir.resolve()]
    if name == "gan_lr":
        return [c.lr for c in phases if c.adversarial]
    if any(name in c.arch_params for c in phases):
        return [c.arch_params.get(name) for c in phases]
    if name == "lr":  # the first phase's (the SRResNet phase's when both run)
        return [phases[0].lr]
    if name == "content_loss":  # the phase that --model names
        return [phases[-1].content_loss]
    return [getattr(c, name) for c in phases]


def resume_changes(args: Any, phases: list[TrainConfig], run_dir: Path) -> list[str]:
    """Apply the options given with --resume to the recorded phases as their policies say; returns what changed.

    FIXED options may be repeated with their recorded value; another value is refused (it would change what the
    run computes). CHANGE options apply to every phase, LAST_PHASE (--iterations) to the last one, FIRST_PHASE
    (--pretrain-iterations) to the first of two.
    """
    options = {o.name: o for o in declared_options()}
    values = {k: v for k, v in given(args).items() if k in options and k not in ("resume", "warm_restart")}
    if "out" in values:
        values["out"] = Path(values["out"]).resolve()
    for k in RECORDED_ABSOLUTE:  # recorded absolute (save_recipe): the same folder given relative is no change
        if values.get(k):
            values[k] = str(Path(values[k]).resolve())
    fixed = [k for k, v in values.items() if options[k].resume == FIXED
             and any(v != r for r in _recorded(k, phases, run_dir))]
    if fixed:
        names = ", ".join(options[k].flag for k in fixed)
        raise UserError(f"--resume continues a run as it was recorded; {names} cannot change (they would change "
                        f"what the run computes); start a new run, e.g. with --pretrained CKPT, instead")
    changes = []
    for i, cfg in enumerate(phases):
        updates = {k: v for k, v in values.items() if options[k].resume == CHANGE}
        if updates.get("distribute", "mirrored") != "mirrored" and "cpu_devices" not in values:
            updates["cpu_devices"] = 1  # the split CPU was the mirrored run's
        if i == len(phases) - 1 and "iterations" in values:
            updates["iterations"] = values["iterations"]
        if i == 0 and len(phases) > 1 and "pretrain_iterations" in values:
            updates["iterations"] = values["pretrain_iterations"]
        for key, value in updates.items():
            if getattr(cfg, key) != value:
                changes.append(f"{cfg.model}: {key} {getattr(cfg, key)} -> {value}")
                setattr(cfg, key, value)
        if "iterations" in updates and cfg.lr_schedule != "constant":
            print(f"note: the {cfg.model} phase's {cfg.lr_schedule} learning-rate schedule is stretched to "
                  f"{cfg.iterations} iterations from here on")
    return changes


def policies() -> dict[str, str]:
    """Every option's resume policy (a test checks that each has one of srcore.config.RESUME_POLICIES)."""
    return {o.name: o.resume for o in declared_options()}

