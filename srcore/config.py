"""Training configuration: every option declared once, the presets, and the learning-rate schedule.

Everything a run depends on lives in `TrainConfig`, is saved as `config.json` in the run folder and inside
every checkpoint, and is the same for both backends. Each field is declared with `option(...)`: its default,
its help, whether the command line offers it, and whether `--resume` may change it (RESUME_POLICIES); the
parser of trains.py, the validation below and the resume rules (srapp.options) are derived from these
declarations, so an option cannot be forgotten in one of them. An architecture's own parameters (srcore.arch:
--blocks, --layers, --kernels, ...) live in `arch_params`, declared by its spec.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srcore.arch import ARCHS, DISC_INITS, MODELS, PHASES, SCALES, ArchSpec, model_for, model_name, upsampler_layers
from srcore.errors import UserError
from srcore.precision import PRECISIONS
from srcore.workers import DISTRIBUTE_MODES

BACKENDS = ("torch", "keras")
# "sse": half the sum of squared errors of a sample in [0, 1] units, averaged over the batch: Caffe's
# EuclideanLoss, which the series' earlier models trained with (their papers' learning rates and clipping assume it).
CONTENT_LOSSES = ("mse", "vgg22", "vgg54", "sse")
SCHEDULES = ("constant", "step", "cosine", "staircase")
OPTIMIZERS = ("adam", "sgd")
SUBPIXEL_INITS = ("icnr", "plain")  # TrainConfig.subpixel_init

# What --resume may do with an option: FIXED options change what the run computes (given again, they must
# equal the recorded value); CHANGE ones are applied to every phase; LAST_PHASE / FIRST_PHASE to the last phase,
# or to the first of two (--iterations / --pretrain-iterations); INTERNAL fields are set from other options.
FIXED, CHANGE, LAST_PHASE, FIRST_PHASE, INTERNAL = "fixed", "change", "last-phase", "first-phase", "internal"
RESUME_POLICIES = (FIXED, CHANGE, LAST_PHASE, FIRST_PHASE, INTERNAL)

Choices = tuple[Any, ...] | Callable[[], tuple[Any, ...]]


def option(default: Any, help: str = "", *, resume: str = FIXED, cli: bool = True, choices: Choices = (),
           minimum: float | None = None, metavar: str | None = None, group: str = "overrides of the preset",
           flag: str | None = None, factory: Callable[[], Any] | None = None) -> Any:
    """A TrainConfig field with its declaration: default, help, resume policy, and how the command line offers it
    (`cli` False: set by the application; `flag`: the option's name when it is not --field-name)."""
    meta = {"help": help, "resume": resume, "cli": cli, "choices": choices, "minimum": minimum, "metavar": metavar,
            "group": group, "flag": flag}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _registered(module: str, registry: str) -> Callable[[], tuple[str, ...]]:
    """Choices read from a registry when asked (its module imports this one)."""
    return lambda: tuple(getattr(importlib.import_module(module), registry).names())


def choices_of(f: dataclasses.Field) -> tuple[Any, ...]:
    """A field's allowed values (empty: any)."""
    c = f.metadata.get("choices", ())
    return tuple(c()) if callable(c) else tuple(c)


_MAIN, _HW, _DIST, _RUN = "main", "hardware", "several devices or machines (README: Several workers)", "run"
_DATA = "training and validation data (README: Training on your own images)"


@dataclass
class TrainConfig:
    """One training phase of one architecture (e.g. SRResNet-MSE, or SRGAN: srresnet + adversarial)."""

    backend: str = option("torch", "framework that trains", choices=BACKENDS, group=_MAIN)
    arch: str = option("srresnet", "generator architecture (srcore.arch.ARCHS); set by --model", resume=INTERNAL,
                       cli=False)
    phase: str = option("supervised", "supervised (content loss only) or adversarial (with the discriminator); "
                        "set by --model", resume=INTERNAL, cli=False, choices=PHASES)
    preset: str = option("quick", "paper: the paper's schedule; quick: about one CPU-hour; long: the shipped "
                         "SRResNet's and SRGAN's CPU recipe, several sessions (README); smoke: seconds",
                         choices=lambda: tuple(PRESETS), group=_MAIN)
    scale: int = option(4, "upscaling factor", choices=SCALES)
    # The architecture's own parameters (its ArchSpec.params, e.g. srresnet's blocks and channels),
    # each its own --option (srapp.options), checked by the spec.
    arch_params: dict[str, Any] = option(None, "the architecture's parameters", resume=INTERNAL, cli=False,
                                         factory=dict)
    disc_channels: int = option(64, "feature channels of the discriminator's first layer (paper: 64)", minimum=1)
    batch_size: int = option(16, "samples per step (over all workers)", minimum=1)
    patch_size: int = option(96, "HR patch side (LR side = patch / scale)", minimum=1)
    iterations: int = option(1000, "iterations of the phase being trained (the SRGAN phase when both run)",
                             resume=LAST_PHASE, minimum=1)
    lr: float = option(1e-4, "learning rate (the SRResNet phase's when both run)", minimum=0)
    # "step": lr until lr_decay_at * iterations, then lr * lr_decay (the paper's SRGAN schedule: 1e-4 then 1e-5 at
    # half); "constant"; "cosine": cosine from lr to lr * lr_decay; "staircase": lr * lr_decay ** k after
    # k * lr_decay_at * iterations (Kim et al. 2016: x0.1 every 20 of 80 epochs).
    lr_schedule: str = option("constant", "learning-rate schedule", choices=SCHEDULES)
    lr_decay: float = option(0.1, "step/staircase: factor of each decay; cosine: final lr / lr", minimum=0)
    lr_decay_at: float = option(0.5, "step/staircase: fraction of the iterations between decays", minimum=0)
    optimizer: str = option("adam", "adam (torch's rule, betas 0.9/0.999), or sgd (with --momentum, "
                            "--weight-decay)", choices=OPTIMIZERS)
    momentum: float = option(0.9, "sgd momentum", minimum=0)
    weight_decay: float = option(0.0, "sgd L2 penalty added to the gradient (Kim et al. 2016: 1e-4)", minimum=0)
    clip: float = option(0.0, "adjustable gradient clipping (Kim et al. 2016): each gradient element to "
                         "+-CLIP / lr (paper: 0.01); 0 = none", minimum=0)
    multiscale: bool = option(False, "networks on the bicubic-upscaled input: train one model on x2, x3 and x4 "
                              "inputs (needs data prepared at those scales)")
    content_loss: str = option("mse", "content loss of the SRGAN phase (the SRResNet phase is MSE unless --model "
                               "srresnet is given with this); sse: Caffe's Euclidean loss, as the series' "
                               "earlier models trained", choices=CONTENT_LOSSES)
    adv_weight: float = option(1e-3, "weight of the adversarial loss in the generator's loss (paper: 1e-3)",
                               minimum=0)
    adv_warmup: int = option(0, "adversarial phase: the adversarial weight rises linearly from 0 to --adv-weight "
                             "over the first N iterations while the discriminator learns (0: from the start, as in "
                             "the paper)", minimum=0, metavar="N")
    disc_init: str = option("fan-in", "initial weights of the discriminator: fan-in: every weight and bias "
                            "uniform in +-1/sqrt(fan_in), PyTorch's default, in both backends, so that the two "
                            "start their adversarial phases alike (Keras' defaults, larger dense weights and zero "
                            "biases, made its discriminator learn slower under Adam: results/README.md); "
                            "framework: each framework's own default, as runs made before this option",
                            choices=DISC_INITS)
    disc_shift: int = option(0, "adversarial phase: each image the discriminator sees (real and generated) is "
                             "moved by a random 0..N-1 pixels down and right (reflect-padded, same size), so the "
                             "phase of D's stride-2 grid against the generator's sub-pixel grid is random (tried "
                             "against the checkerboard: results/README.md, SRGAN-MSE trials); 0: none, as in the "
                             "paper", minimum=0, metavar="N")
    disc_degrid: bool = option(False, "adversarial phase: the discriminator sees each image (real and generated) "
                               "without its local period-4 pattern (the mean high-pass residual of each pixel "
                               "phase over the 5x5 same-phase pixels around it, as the grid measure), so it cannot "
                               "reward a sub-pixel checkerboard (results/README.md, SRGAN-MSE trials); off: as in "
                               "the paper")
    disc_lr_ratio: float = option(1.0, "adversarial phase: the discriminator's learning rate as a multiple of the "
                                  "generator's (--lr and its schedule); above 1: D adapts faster, as in the two "
                                  "time-scale rule of Heusel et al. 2017 (1: one rate, as in the paper)", minimum=0,
                                  metavar="RATIO")
    grid_weight: float = option(0.0, "adds W times the square of the grid measure of the error SR - HR (its "
                                "period-4 pattern: the mean high-pass Y residual of each of the 16 pixel phases, in "
                                "grey levels, averaged over the batch's images) to the content loss, so the "
                                "generator is held to the HR images' sub-pixel pattern (results/README.md, "
                                "SRGAN-MSE trials); 0: none, as in the paper", minimum=0, metavar="W")
    freeze_upsampler: bool = option(False, "adversarial phase: the sub-pixel upsampling stages and the last "
                                    "convolution keep the pretrained generator's weights and only the layers before "
                                    "them train, so the adversarial gradient cannot unbalance the sub-pixel phases "
                                    "(the checkerboard: results/README.md, SRGAN-MSE trials); off: every layer "
                                    "trains, as in the paper")
    gan_loss: str = option("vanilla", "adversarial loss (the paper's: vanilla)",
                           choices=_registered("srcore.losses", "ADVERSARIAL_LOSSES"))
    vgg_weights: str | None = option(
        None, "VGG19 of the perceptual loss; default: torchvision's ImageNet weights in both backends (downloaded "
        "into torch.hub's cache). PATH: a VGG19 .pth, or the .safetensors/.npz of convert_weights.py --vgg19 (both "
        "backends), or a Keras .h5 (keras). 'keras-imagenet': Keras' own ImageNet VGG19 (keras only; caffe "
        "preprocessing, NOT comparable with torch). 'random' is for smoke tests only and makes the perceptual "
        "loss meaningless", resume=CHANGE, metavar="PATH|keras-imagenet|random")
    seed: int = option(0, "seed of the initial weights and of every batch", minimum=0)
    # Old runs' configs lack the next two: from_dict gives them what those runs did (plain, no average).
    subpixel_init: str = option("icnr", "initial weights of the sub-pixel convolutions: icnr: each group of r^2 "
                                "sub-pixel outputs starts equal (nearest-neighbour upsampling), so the untrained "
                                "generator draws no grid (Aitken et al. 2017); plain: the framework's default, as "
                                "in the paper", choices=SUBPIXEL_INITS)
    ema: float = option(0.0, "keep an exponential moving average of the generator's weights with this decay (e.g. "
                        "0.999; 0: none); validation, `best`, `last` and the weights a checkpoint gives test.py "
                        "are the average's. It only reads the weights, so --resume may turn it on (the average "
                        "starts there) or off", resume=CHANGE, minimum=0, metavar="DECAY")
    val_every: int = option(500, "validate every N iterations", resume=CHANGE, minimum=1)
    val_images: int = option(0, "val crops used for validation (0 = all)", resume=CHANGE, minimum=0)
    best_metric: str = option("psnr", "the validation metric that chooses the `best` checkpoint",
                              choices=_registered("srcore.metrics", "METRICS"))
    save_every: int = option(500, "save `last` every N iterations", resume=CHANGE, minimum=1)
    log_every: int = option(10, "log mean losses every N iterations", resume=CHANGE, minimum=1)
    data: str = option("data", "folder written by prepare_bsd500.py", resume=CHANGE, group=_RUN)
    # Training and validation data beyond the prepared BSDS500 split (srcore.sampling: the data sources).
    train_dir: str | None = option(None, "train on any folder of images instead of --data's prepared split: "
                                   "searched recursively, any sizes, LR made by MATLAB bicubic (or --train-lr-dir)",
                                   metavar="DIR", group=_DATA)
    train_lr_dir: str | None = option(None, "with --train-dir: your own LR images, paired with the HR images by "
                                      "relative path and stem (DIV2K's 0001x4.png pairs with 0001.png)",
                                      metavar="DIR", group=_DATA)
    val_dir: str | None = option(None, "the validation images that choose `best`: a folder of HR images (LR by "
                                 "bicubic) or a prepared split with hr/ and lr_xS/ (data/bsd500/val is BSD100, a "
                                 "benchmark); default: --val-holdout images held out of the training images",
                                 metavar="DIR", group=_DATA)
    # Old runs' configs lack this field: from_dict gives them 0, their validation on the prepared val split.
    val_holdout: int = option(20, "without --val-dir: validate on N training images held out of training (at most "
                              "a quarter of them; recorded in the phase folder's validation.json); 0: the prepared "
                              "val split (BSD100) as before", minimum=0, metavar="N", group=_DATA)
    data_workers: int = option(-1, "processes that decode training images and make batches ahead (0: every image "
                               "in memory, batches made in the training process; -1: in memory for small sets, "
                               "else one per CPU core up to 8)", resume=CHANGE, minimum=-1, metavar="N",
                               group=_DATA)
    out: str = option("runs/run", "phase folder (trains.py: --out names the run folder)", resume=INTERNAL, cli=False)
    pretrained: str | None = option(None, "the checkpoint whose generator starts the phase: an SRResNet for the "
                                    "SRGAN phase (which then runs alone), or weights of the model being trained "
                                    "to fine-tune them with new optimizer state and the phase's own schedule from "
                                    "iteration 0 (e.g. on your own images with --train-dir)", metavar="CKPT",
                                    group=_RUN)
    resume: str | None = option(None, "run folder or checkpoint to continue", resume=INTERNAL, cli=False)
    warm_restart: str | None = option(None, "generator weights that continue this phase without optimizer state "
                                      "(trains.py --warm-restart)", resume=INTERNAL, cli=False)
    device: str | None = option(None, "torch: cpu, cuda, cuda:1; keras: cpu, gpu (default: GPU when available)",
                                resume=CHANGE, group=_HW)
    # Resolved when a run starts and again on --resume ("auto" -> the precision this machine uses), so config.json
    # and the checkpoints hold what the run computes in. CHANGE: a multi-session run may move to a machine without
    # bfloat16 hardware, where emulated bf16 steps are ~10x slower; the weights and optimizer state are float32 in
    # every precision, so --resume RUN --precision fp32 (or auto) continues there (no longer bit for bit the
    # uninterrupted run; resume_changes says so).
    precision: str = option("fp32", "arithmetic of the forward passes: fp32; bf16 (bfloat16 convolutions and "
                            "matrix products, weights/optimizer/BatchNorm statistics/losses in float32; fast on CPUs "
                            "with AMX-BF16 or AVX512-BF16 and recent GPUs, emulated and slow elsewhere); fp16 (CUDA "
                            "only, with loss scaling); auto: bf16 where the device has it in hardware, else fp32",
                            choices=PRECISIONS, resume=CHANGE, group=_HW)
    amp: bool = option(False, "older alias: --precision auto on a GPU (bf16 where supported, else fp16); the CPU "
                       "stays in float32", resume=FIXED, group=_HW)
    xla: bool | None = option(None, "keras: compile the train step with XLA (--no-xla: never; default: only on a "
                              "GPU, where it is faster)", resume=CHANGE, group=_HW)
    tensorboard: bool = option(True, "TensorBoard event files in RUN_DIR/<phase>/tensorboard/ (--no-tensorboard: "
                               "none)", resume=CHANGE, group=_RUN)
    sync_bn: bool = option(False, "several workers or replicas: BatchNorm statistics over the whole batch (torch: "
                           "SyncBatchNorm, CUDA only; keras: synchronized BatchNormalization)", resume=CHANGE,
                           group=_DIST)
    # keras: tf.distribute strategy ("none", "mirrored": this machine's devices, "multiworker": TF_CONFIG's
    # machines); torch scales out with torchrun instead.
    distribute: str = option("none", "keras: tf.distribute strategy: mirrored (this machine's GPUs, or its CPU), "
                             "multiworker (the machines in TF_CONFIG); torch: start trains.py with torchrun instead",
                             resume=CHANGE, choices=DISTRIBUTE_MODES, group=_DIST)
    cpu_devices: int = option(1, "keras, --distribute mirrored without GPUs: split the CPU into N logical devices, "
                              "one replica each (to try distribution out)", resume=CHANGE, minimum=1, metavar="N",
                              group=_DIST)

    def __post_init__(self) -> None:
        # The architecture's parameters: its defaults for the ones not given (an unknown architecture is left for
        # validate() to report).
        if self.arch in ARCHS:
            self.arch_params = {**ARCHS.get(self.arch).defaults(), **(self.arch_params or {})}

    @property
    def spec(self) -> ArchSpec:
        return ARCHS.get(self.arch)

    @property
    def model(self) -> str:
        """The model's name in tables, checkpoints and run folders: "srresnet", "srgan", ..."""
        return model_name(self.arch, self.phase)

    @property
    def adversarial(self) -> bool:
        return self.phase == "adversarial"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "model": self.model}  # "model": for readers of the JSON

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """From `to_dict`'s output, or from the configs of runs made before `arch`/`phase` or `arch_params`
        existed (their blocks/channels/kernels fields become the architecture's parameters)."""
        if not isinstance(d, dict):
            raise TypeError(f"expected a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if "phase" not in values and d.get("model") in MODELS:  # written before the arch/phase split
            m = MODELS.get(d["model"])
            values["arch"], values["phase"] = m.arch, m.phase
        if "subpixel_init" not in values:  # written before ICNR: the framework's default initialisation
            values["subpixel_init"] = "plain"
        if "disc_init" not in values:  # written before --disc-init: each framework's default initialisation
            values["disc_init"] = "framework"
        if "val_holdout" not in values:  # written before validation moved off BSD100: keep its validation set
            values["val_holdout"] = 0
        if "arch_params" not in values and values.get("arch", "srresnet") in ARCHS:
            spec = ARCHS.get(values.get("arch", "srresnet"))
            old = {k: d[k] for k in ("blocks", "channels", "kernels") if k in d}
            values["arch_params"] = spec.check_params(old, "config of an older run")
        return cls(**values)

    @property
    def interpolating(self) -> bool:
        """The network's input is the bicubic-upscaled LR image (ArchSpec.interpolating)."""
        return self.spec.interpolating

    @property
    def train_scales(self) -> tuple[int, ...]:
        """The scales of the training inputs: x2, x3 and x4 for a multi-scale model, else the scale."""
        return SCALES if self.multiscale else (self.scale,)

    @property
    def lr_patch_size(self) -> int:
        """Side of the network's input patch: the LR patch, or the HR-sized patch for an interpolating network."""
        return self.patch_size if self.interpolating else self.patch_size // self.scale

    def save(self, path: str | Path) -> None:
        from srcore.fileio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError, RecursionError) as e:
            raise UserError(f"cannot read training config {path}: {str(e)[:200]}") from None

    def require_backend(self, backend: str) -> TrainConfig:
        """UserError unless this is a config for `backend` (what a backend checks before it trains)."""
        if self.backend != backend:
            raise UserError(f"this is a config for backend {self.backend!r}, but the {backend} backend was asked "
                            f"to train it")
        return self

    def validate(self, backend: str | None = None) -> TrainConfig:
        """Raise UserError with a one-line message for any impossible setting (or another `backend`'s config)."""
        if backend is not None:
            self.require_backend(backend)
        for f in dataclasses.fields(self):  # what each declaration allows
            _check_declared(f, getattr(self, f.name))
        spec = ARCHS.get(self.arch)
        self.arch_params = spec.check_params(self.arch_params)
        for ok, msg in self._cross_checks(spec):
            if not ok:
                raise UserError(msg)
        return self

    def _cross_checks(self, spec: ArchSpec) -> list[tuple[bool, str]]:
        pixels = self.batch_size * self.patch_size ** 2  # HR pixels of one step's batch
        checks = [
            (pixels <= MAX_BATCH_PIXELS,
             f"--batch-size {self.batch_size} x --patch-size {self.patch_size}: {pixels / 1e6:.0f} M pixels a step, "
             f"over the limit of {MAX_BATCH_PIXELS / 1e6:.0f} M (its float32 batch alone would take "
             f"{pixels * 12 / 2**30:.1f} GB); lower one of them"),
            (model_for(self.arch, self.phase) is not None,
             f"no model trains the {self.arch} architecture in the {self.phase} phase"),
            ((self.patch_size % self.scale == 0 or self.interpolating) and self.patch_size >= self.scale,
             f"--patch-size must be a positive multiple of the scale {self.scale}, got {self.patch_size}"),
            (self.momentum < 1, "--momentum must be in [0, 1)"),
            (self.ema < 1, f"--ema must be a decay in [0, 1) (0: no average; e.g. 0.999), got {self.ema}"),
            (not self.multiscale or self.interpolating,
             "--multiscale trains a network on bicubic-upscaled inputs of several scales: "
             f"{' or '.join(a.name for a in ARCHS.values() if a.interpolating)} only"),
            (not spec.content_losses or self.content_loss in spec.content_losses or self.adversarial,
             f"--content-loss {self.content_loss}: {self.arch} trains with {' or '.join(spec.content_losses)}"),
            (self.pretrained is None or str(self.pretrained) != "", "--pretrained must name a checkpoint"),
            (self.distribute == "none" or self.backend == "keras",
             "--distribute is the Keras backend's (tf.distribute); PyTorch scales out with torchrun: "
             "torchrun --nproc_per_node N trains.py --backend torch ..."),
            (self.cpu_devices == 1 or self.distribute == "mirrored",
             "--cpu-devices splits this machine's CPU for --distribute mirrored only"),
            (self.train_lr_dir is None or self.train_dir is not None,
             "--train-lr-dir pairs your LR images with the HR images of --train-dir DIR; give both"),
        ]
        if self.adversarial and self.freeze_upsampler:
            checks.append((bool(upsampler_layers(self.arch, self.scale, self.arch_params)),
                           f"--freeze-upsampler: the {self.arch} generator has no sub-pixel upsampler"))
        if self.adversarial:
            checks.append((self.patch_size % 16 == 0,
                           f"--patch-size must be a multiple of 16 for the discriminator, got {self.patch_size}"))
        return checks


# The most HR pixels one step's batch may hold (batch_size x patch_size^2): 2^26, i.e. batch 16 at 2048x2048 or
# 7,000 of the paper's 96x96 patches; its float32 HR batch is 0.75 GB. Checked before anything is allocated.
MAX_BATCH_PIXELS = 1 << 26


def flag_of(f: dataclasses.Field) -> str:
    """The command-line option of a field: --field-name unless declared otherwise."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


_JSON_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
                                            "dict[str, Any]": (dict,)}


def _check_declared(f: dataclasses.Field, value: Any) -> None:
    """A field's value against its declaration (type, choices, minimum); a one-line UserError naming its option.

    The type matters for configs read from files (recipe.json, config.json), which a user may have edited."""
    name = flag_of(f) if f.metadata.get("cli") else f.name
    declared = str(f.type)
    optional = declared.endswith(" | None")
    types = _JSON_TYPES.get(declared.removesuffix(" | None"), ())
    if not (value is None and optional) and types and (
            not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
        expected = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                    "dict[str, Any]": "an object"}[declared.removesuffix(" | None")]
        raise UserError(f"{name} must be {expected}{' or null' if optional else ''}, got {value!r}")
    choices = choices_of(f)
    if choices and value not in choices:
        raise UserError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    low = f.metadata.get("minimum")
    if low is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        strict = f.name == "lr"  # a zero learning rate trains nothing
        if value < low or (strict and value <= low):
            raise UserError(f"{name} must be {'>' if strict else '>='} {low:g}, got {value}")


def config_fields() -> list[dataclasses.Field]:
    """TrainConfig's declared fields, in declaration order."""
    return list(dataclasses.fields(TrainConfig))


# Presets give every phase its defaults (here the part common to every model; each model's own part is in its
# ModelSpec.presets, srcore/archs/); any command-line option overrides them.
# "paper": the papers' schedules (Ledig et al. 2017: batch 16, 96x96 HR patches).
# "quick": sized for about one CPU-hour (see README). "smoke": seconds; tiny models, for tests.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(batch_size=16, patch_size=96, val_every=5000, save_every=5000, log_every=100, val_images=0),
    "quick": dict(batch_size=16, patch_size=96, val_every=250, save_every=250, log_every=10, val_images=20),
    # "long": the CPU recipe of the shipped SRResNet (srcore/archs/srresnet.py: its schedule), bf16 where the CPU has
    # it; train it on whole images (prepare_bsd500.py --crop-size 0) with held-out validation (README).
    "long": dict(batch_size=16, patch_size=96, val_every=1000, save_every=500, log_every=50, val_images=20,
                 precision="auto"),
    "smoke": dict(disc_channels=8, batch_size=2, patch_size=32, val_every=2, save_every=2, log_every=1,
                  val_images=2),
}


MODEL_PRESETS = ("long",)  # presets only the models that define them in their ModelSpec.presets have


def preset_values(preset: str, model: str) -> dict[str, Any]:
    """The option values `preset` gives `model` (architecture parameters included)."""
    if preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    spec = MODELS.get(model)
    if preset in MODEL_PRESETS and preset not in spec.presets:
        having = [m.name for m in MODELS.values() if preset in m.presets]
        raise UserError(f"--preset {preset} is a recipe of {' and '.join(having)} only, not of {model}")
    return {**PRESETS[preset], **spec.presets.get(preset, {})}


def preset_config(preset: str, model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig of `preset` for `model` (a MODELS name), with `overrides` (None values ignored). Overrides
    named like the architecture's parameters (blocks=2) set those; another architecture's parameter is an error."""
    m = MODELS.get(model)
    spec = ARCHS.get(m.arch)
    values: dict[str, Any] = {"preset": preset, "arch": m.arch, "phase": m.phase}
    values.update(preset_values(preset, model))
    values.update({k: v for k, v in overrides.items() if v is not None})
    fields = {f.name for f in config_fields()}
    params = dict(values.pop("arch_params", None) or {})
    for key in [k for k in values if k not in fields]:
        if key not in spec.defaults():
            raise UserError(f"--{key.replace('_', '-')} is not a parameter of {m.arch} (its parameters: "
                            f"{', '.join('--' + p.name for p in spec.params)})")
        params[key] = values.pop(key)
    return TrainConfig(**values, arch_params=params)


def ema_decay_at(decay: float, step: int) -> float:
    """The weight of the average at 0-based `step`'s update: `decay`, lower over the first updates
    ((1 + step) / (10 + step)) so that the average soon forgets the random initial weights. A pure function of
    the step, as the learning rate, so a resumed run averages exactly as an uninterrupted one."""
    return min(decay, (1.0 + step) / (10.0 + step))


def adv_weight_at(cfg: TrainConfig, step: int) -> float:
    """The adversarial loss's weight at 0-based `step` (--adv-weight, ramped over --adv-warmup): a pure function
    of the step, as the learning rate."""
    if cfg.adv_warmup <= 0:
        return cfg.adv_weight
    return cfg.adv_weight * min(1.0, step / cfg.adv_warmup)


def disc_shifts(cfg: TrainConfig, step: int, shard: tuple[int, int] = (0, 1)) -> np.ndarray:
    """--disc-shift's offsets at 0-based `step`: int32 array (2, batch, 2) of (row, column) crop offsets in
    0..N-1 for the real and the generated images; `shard` (i, n): the i-th of n equal slices of the step's batch,
    as the sampler's. A pure function of the seed and step, as the batches, so both backends and a resumed run
    shift alike (all zeros without --disc-shift)."""
    i, n = shard
    size = cfg.batch_size // n
    offsets = np.zeros((2, cfg.batch_size, 2), dtype=np.int32)
    if cfg.disc_shift > 1:
        rng = np.random.default_rng((cfg.seed, step, 0xD15C))
        offsets = rng.integers(0, cfg.disc_shift, size=offsets.shape).astype(np.int32)
    return offsets[:, i * size:(i + 1) * size]


def disc_lr_at(cfg: TrainConfig, step: int) -> float:
    """The discriminator's learning rate at 0-based `step`: the generator's times --disc-lr-ratio."""
    return lr_at(cfg, step) * cfg.disc_lr_ratio


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for 0-based `step`: a pure function of the step, so resume is exact."""
    import math

    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "step":
        return cfg.lr * (cfg.lr_decay if step >= int(cfg.lr_decay_at * cfg.iterations) else 1.0)
    if cfg.lr_schedule == "staircase":
        return cfg.lr * cfg.lr_decay ** (step // max(int(cfg.lr_decay_at * cfg.iterations), 1))
    # cosine from lr down to lr * lr_decay over the phase
    t = min(step / max(cfg.iterations - 1, 1), 1.0)
    low = cfg.lr * cfg.lr_decay
    return low + 0.5 * (cfg.lr - low) * (1.0 + math.cos(math.pi * t))
