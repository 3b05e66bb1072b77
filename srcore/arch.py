"""Architectures and models as framework-free specs, in registries that both backends and the converter read.

An architecture (`ArchSpec`, registry `ARCHS`) is a generator network: its parameters with their meaning and
defaults, whether its input is the bicubic-upscaled image, and its conversion layout (which Keras layer holds
which torch tensors). A model (`ModelSpec`, registry `MODELS`) is what `--model` names: an architecture trained
in one phase, with its presets and the published numbers quoted beside ours. Each built-in architecture is
one file in `srcore/archs/` (found by name, like BasicSR's *_arch.py files); each backend registers its
implementation under the same key (`torch_srgan/archs/`, `keras_srgan/archs/`), and a structure test compares
the key sets.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from srcore.errors import UserError
from srcore.registry import Registry

SCALES = (2, 3, 4)  # the upscaling factors every part of the project supports (prepared data, models, metadata)
PHASES = ("supervised", "adversarial")  # content loss only / with the discriminator (SRGAN)

# torch's BatchNorm2d defaults, the convention of both backends (Keras: momentum = 1 - 0.1).
BN_MOMENTUM = 0.1  # weight of the new batch statistic in the running average
BN_EPSILON = 1e-5
PRELU_INIT = 0.25
LEAKY_SLOPE = 0.2

# Pixel-shuffle factors of a sub-pixel upsampling tail, per scale.
_UPSAMPLE_FACTORS = {2: (2,), 3: (3,), 4: (2, 2)}


@dataclass(frozen=True)
class Entry:
    """One layer of a conversion layout: torch state_dict prefix, Keras layer name, kind (srconvert/layout.py)."""

    torch: str  # state_dict key prefix, e.g. "blocks.0.conv1"
    keras: str  # Keras layer name, e.g. "block0_conv1"
    kind: str  # conv, conv_ps, prelu, bn, dense, dense_chw
    info: tuple[int, ...] = ()  # conv_ps: (r,); dense_chw: (C, s)

    def torch_keys(self) -> list[str]:
        names = {"prelu": ("weight",), "bn": ("weight", "bias", "running_mean", "running_var")}.get(
            self.kind, ("weight", "bias"))
        return [f"{self.torch}.{n}" for n in names]


@dataclass(frozen=True)
class Param:
    """One parameter of an architecture: its `--name` option, checkpoint metadata key and meaning."""

    name: str
    default: Any
    help: str
    type: type = int
    choices: tuple[Any, ...] = ()
    minimum: int | None = 1  # ints only
    maximum: int | None = None  # ints only; bounds what a file or command line may ask to allocate

    def check(self, value: Any, shown: str) -> Any:
        """`value` as this parameter's type; a one-line UserError naming it as `shown` if it is not a valid one."""
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{shown} must be an integer, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise UserError(f"{shown} must be >= {self.minimum}, got {value}")
            if self.maximum is not None and value > self.maximum:
                raise UserError(f"{shown} must be <= {self.maximum}, got {value}")
        elif not isinstance(value, self.type):
            raise UserError(f"{shown} must be a {self.type.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise UserError(f"{shown} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        return value


Layout = Callable[[int, Mapping[str, Any]], list[Entry]]  # (scale, params) -> the generator's layers


@dataclass(frozen=True)
class ArchSpec:
    """A generator architecture's framework-free facts."""

    name: str
    description: str
    params: tuple[Param, ...]
    layout: Layout
    interpolating: bool = False  # the input is the LR image bicubic-upscaled to the output's size
    content_losses: tuple[str, ...] = ()  # the content losses it may train with; () = any
    # Metadata keys of older checkpoints -> parameter names (a depth once recorded as "blocks").
    legacy: Mapping[str, str] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def check_params(self, values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """This architecture's parameters from `values` (metadata or config; legacy keys renamed, defaults for
        absent ones, unknown keys ignored), each checked; a one-line UserError if one is bad, naming it as
        `where: name` (a file's metadata), or as its option --name when `where` is empty."""
        renamed = dict(values)
        for old, new in self.legacy.items():
            if old in values and new not in values:
                renamed[new] = values[old]
        return {p.name: p.check(renamed.get(p.name, p.default), f"{where}: {p.name}" if where else
                                f"--{p.name.replace('_', '-')} ({self.name})") for p in self.params}

    def label(self, params: Mapping[str, Any]) -> str:
        """How messages name a generator: the architecture and every parameter that is not its default."""
        shown = [f"{k}={v}" for k, v in params.items() if k in self.defaults() and v != self.defaults()[k]]
        return f"{self.name} ({', '.join(shown)})" if shown else self.name


@dataclass(frozen=True)
class ModelSpec:
    """What one `--model` name trains: an architecture in a phase, its presets and its published numbers."""

    name: str
    arch: str
    phase: str
    description: str  # --help
    title: str  # figures and tables, e.g. "SRResNet-MSE"
    order: int  # position in the series (tables and figures list models so)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # preset -> overrides of the common
    paper: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # x4 dataset -> (PSNR, SSIM), quoted
    paper_setup: tuple[str, str] = ("", "")  # (content loss, training) as the paper describes them
    paper_source: str = ""  # where the quoted numbers come from

    @property
    def adversarial(self) -> bool:
        return self.phase == "adversarial"


ARCHS: Registry[ArchSpec] = Registry("architecture")
MODELS: Registry[ModelSpec] = Registry("model", option="--model")


def register_arch(spec: ArchSpec, *models: ModelSpec) -> ArchSpec:
    """Register an architecture and the models that train it (a test may register a toy one this way)."""
    ARCHS.register(spec.name, spec)
    for m in models:
        if m.arch != spec.name or m.phase not in PHASES:
            raise ValueError(f"model {m.name}: architecture {m.arch!r} / phase {m.phase!r} do not fit {spec.name}")
        MODELS.register(m.name, m)
    return spec


def unregister_arch(name: str) -> None:
    """Remove an architecture and its models (tests that registered a toy one)."""
    for m in [m for m in MODELS.values() if m.arch == name]:
        MODELS.unregister(m.name)
    ARCHS.unregister(name)


def model_for(arch: str, phase: str) -> ModelSpec | None:
    """The model that trains `arch` in `phase`, if one is registered."""
    return next((m for m in MODELS.values() if (m.arch, m.phase) == (arch, phase)), None)


def model_name(arch: str, phase: str) -> str:
    """The --model name of an (architecture, phase) pair: its results-table and run-folder name."""
    m = model_for(arch, phase)
    return m.name if m is not None else arch


def model_order(name: str) -> int:
    """Where a model's rows go in tables ("bicubic" first, unknown names last)."""
    if name == "bicubic":
        return 0
    return MODELS.get(name).order if name in MODELS else 99


def upsample_factors(scale: int) -> tuple[int, ...]:
    """Pixel-shuffle stages of a sub-pixel tail: x4 = two x2 stages, x2 = one, x3 = one x3 stage."""
    if scale not in _UPSAMPLE_FACTORS:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
    return _UPSAMPLE_FACTORS[scale]


def subpixel_convs(arch: str, scale: int, params: Mapping[str, Any]) -> list[Entry]:
    """The convolutions of a generator that feed a pixel shuffle (layout kind "conv_ps", info (r,)): what ICNR
    initialises (TrainConfig.subpixel_init); none for an interpolating network."""
    spec = ARCHS.get(arch)
    return [e for e in spec.layout(scale, spec.check_params(params)) if e.kind == "conv_ps"]


def upsampler_layers(arch: str, scale: int, params: Mapping[str, Any]) -> list[Entry]:
    """A generator's sub-pixel stages and every layer after them (for srresnet: the pixel-shuffle convolutions,
    their PReLUs and the last convolution), which --freeze-upsampler keeps; none for an interpolating network."""
    spec = ARCHS.get(arch)
    entries = spec.layout(scale, spec.check_params(params))
    first = next((i for i, e in enumerate(entries) if e.kind == "conv_ps"), len(entries))
    return entries[first:]


def meta_arch(meta: Mapping[str, Any], where: str = "checkpoint") -> tuple[ArchSpec, dict[str, Any]]:
    """(spec, checked parameters) of a checkpoint's generator, from its metadata (older ones have no arch name:
    srresnet). An unknown architecture or a bad parameter is a one-line UserError naming `where`."""
    arch = meta.get("arch")
    if not isinstance(arch, Mapping):
        raise UserError(f"{where}: checkpoint metadata has no architecture; the file is damaged")
    spec = ARCHS.get(arch.get("name") or "srresnet", where=f"{where}: architecture in the metadata")
    return spec, spec.check_params(arch, f"{where}: architecture parameter")


def generator_args(meta: Mapping[str, Any], where: str = "checkpoint") -> dict[str, Any]:
    """build_generator's keyword arguments (scale, arch, params) for a checkpoint's metadata."""
    spec, params = meta_arch(meta, where)
    return {"scale": int(meta["scale"]), "arch": spec.name, **params}


def discriminator_stages(channels: int = 64) -> list[tuple[int, int]]:
    """(filters, stride) of the discriminator's 8 conv layers: the paper's k3n64s1 ... k3n512s2 for 64.

    The first layer has no BatchNorm (paper, Fig. 4); four stride-2 layers divide the side by 16.
    """
    c = channels
    return [(c, 1), (c, 2), (2 * c, 1), (2 * c, 2), (4 * c, 1), (4 * c, 2), (8 * c, 1), (8 * c, 2)]


DISC_INITS = ("fan-in", "framework")  # TrainConfig.disc_init


def fan_in_bound(fan_in: int) -> float:
    """--disc-init fan-in: every weight and bias of a layer with `fan_in` inputs per output (kh * kw * cin for a
    convolution) starts uniform in +-1 / sqrt(fan_in), PyTorch's default for nn.Conv2d and nn.Linear."""
    return 1.0 / math.sqrt(fan_in)


def check_disc_init(init: str) -> None:
    """A ValueError unless `init` is one of DISC_INITS (both backends' build_discriminator)."""
    if init not in DISC_INITS:
        raise ValueError(f"discriminator init must be one of {', '.join(DISC_INITS)}, got {init!r}")


def discriminator_side(patch_size: int) -> int:
    """Side of the discriminator's last feature map; the patch must be a positive multiple of 16."""
    if patch_size % 16 or patch_size < 16:
        raise ValueError(f"the discriminator needs a patch size that is a positive multiple of 16, got {patch_size}")
    return patch_size // 16


def load_modules(package: str) -> None:
    """Import every module of `package` (a folder of one-file entries that register themselves)."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


load_modules("srcore.archs")  # the built-in architectures register themselves
