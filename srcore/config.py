"""Training configuration: one dataclass, the presets, and the learning-rate schedule.

Everything a run depends on lives in `TrainConfig`, is saved as `config.json` in the run
folder and inside every checkpoint, and is the same for both backends.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srcore.arch import ARCHS, INTERPOLATING, SCALES, SRCNN_KERNELS
from srcore.errors import UserError
from srcore.workers import DISTRIBUTE_MODES

BACKENDS = ("torch", "keras")
PHASES = ("supervised", "adversarial")  # content loss only (SRResNet-MSE) / with the discriminator (SRGAN)
# The command line's --model names: (architecture, phase). "srgan" is the SRResNet generator trained
# adversarially; a new architecture adds its own name here (and to srcore.arch.ARCHS).
MODELS = {"srresnet": ("srresnet", "supervised"), "srgan": ("srresnet", "adversarial"),
          "srcnn": ("srcnn", "supervised"), "vdsr": ("vdsr", "supervised")}
# "sse": half the sum of squared errors of a sample in [0, 1] units, averaged over the batch: Caffe's
# EuclideanLoss, which SRCNN and VDSR trained with (their learning rates and VDSR's clipping assume it).
CONTENT_LOSSES = ("mse", "vgg22", "vgg54", "sse")
SCHEDULES = ("constant", "step", "cosine", "staircase")
OPTIMIZERS = ("adam", "sgd")


def model_name(arch: str, phase: str) -> str:
    """The --model name of an (architecture, phase) pair: its results-table and run-folder name."""
    for name, pair in MODELS.items():
        if pair == (arch, phase):
            return name
    return arch


@dataclass
class TrainConfig:
    """One training phase of one architecture (e.g. SRResNet-MSE, or SRGAN: srresnet + adversarial)."""

    backend: str = "torch"
    arch: str = "srresnet"  # generator architecture (srcore.arch.ARCHS)
    phase: str = "supervised"  # "supervised" (content loss only) or "adversarial" (with the discriminator)
    preset: str = "quick"
    scale: int = 4
    blocks: int = 16
    channels: int = 64
    disc_channels: int = 64
    batch_size: int = 16
    patch_size: int = 96  # HR patch side; the LR patch is patch_size // scale
    iterations: int = 1000
    lr: float = 1e-4
    # "step": lr until lr_decay_at * iterations, then lr * lr_decay (the paper's SRGAN schedule:
    # 1e-4 then 1e-5 at half); "constant"; "cosine": cosine from lr to lr * lr_decay.
    # "staircase": lr * lr_decay ** k after k * lr_decay_at * iterations (VDSR: x0.1 every 20 of 80 epochs).
    lr_schedule: str = "constant"
    lr_decay: float = 0.1
    lr_decay_at: float = 0.5
    optimizer: str = "adam"  # "adam" (torch's rule, betas 0.9/0.999) or "sgd" (with momentum, torch's rule)
    momentum: float = 0.9  # sgd
    weight_decay: float = 0.0  # sgd: L2 penalty added to the gradient (torch's SGD weight_decay)
    # VDSR's adjustable gradient clipping: each gradient element clipped to [-clip / lr, clip / lr]; 0 = none.
    clip: float = 0.0
    kernels: str = "9-1-5"  # srcnn: kernel sizes of its three layers ("9-1-5" or "9-5-5")
    multiscale: bool = False  # srcnn/vdsr: train on x2, x3 and x4 inputs at once (VDSR's multi-scale model)
    content_loss: str = "mse"
    adv_weight: float = 1e-3
    vgg_weights: str | None = None  # None: the framework's ImageNet weights; a path; "random" (smoke only)
    seed: int = 0
    val_every: int = 500
    val_images: int = 0  # val crops used for validation PSNR; 0 = all
    save_every: int = 500
    log_every: int = 10
    data: str = "data"
    out: str = "runs/run"
    pretrained: str | None = None  # adversarial phase: generator initialisation (checkpoint path)
    resume: str | None = None  # run folder or checkpoint to continue
    device: str | None = None  # torch: "cpu" / "cuda[:i]"; keras: "cpu" / "gpu"
    amp: bool = False
    xla: bool | None = None  # keras: compile the step with XLA; None = only on a GPU, where it is faster
    tensorboard: bool = True  # TensorBoard event files in the phase folder, beside log.jsonl
    sync_bn: bool = False  # several workers: BatchNorm statistics over the whole batch (torch: CUDA only)
    # keras: tf.distribute strategy ("none", "mirrored": this machine's devices, "multiworker": TF_CONFIG's
    # machines); torch scales out with torchrun instead. cpu_devices: logical CPU devices for "mirrored" on a
    # machine without GPUs (to try it out).
    distribute: str = "none"
    cpu_devices: int = 1

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
        """From `to_dict`'s output, or from the configs of runs made before `arch`/`phase` existed."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if "phase" not in values and d.get("model") in MODELS:  # written before the arch/phase split
            values["arch"], values["phase"] = MODELS[d["model"]]
        return cls(**values)

    @property
    def interpolating(self) -> bool:
        """The network's input is the bicubic-upscaled LR image (SRCNN, VDSR)."""
        return self.arch in INTERPOLATING

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
        except (OSError, ValueError, TypeError) as e:
            raise UserError(f"cannot read training config {path}: {e}") from None

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
        checks = [
            (self.backend in BACKENDS, f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}"),
            (self.arch in ARCHS, f"architecture must be one of {', '.join(ARCHS)}, got {self.arch!r}"),
            (self.phase in PHASES, f"phase must be one of {', '.join(PHASES)}, got {self.phase!r}"),
            (self.scale in SCALES, f"--scale must be one of 2, 3, 4, got {self.scale}"),
            (self.content_loss in CONTENT_LOSSES,
             f"--content-loss must be one of {', '.join(CONTENT_LOSSES)}, got {self.content_loss!r}"),
            (self.lr_schedule in SCHEDULES, f"lr schedule must be one of {', '.join(SCHEDULES)}"),
            (self.iterations >= 1, f"--iterations must be >= 1, got {self.iterations}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.blocks >= 1 and self.channels >= 1, "--blocks and --channels must be >= 1"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            ((self.patch_size % self.scale == 0 or self.interpolating) and self.patch_size >= self.scale,
             f"--patch-size must be a positive multiple of the scale {self.scale}, got {self.patch_size}"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                                           f"{self.optimizer!r}"),
            (self.clip >= 0 and self.weight_decay >= 0 and 0 <= self.momentum < 1,
             "--clip and --weight-decay must be >= 0 and --momentum in [0, 1)"),
            (self.kernels in SRCNN_KERNELS, f"--kernels must be one of {', '.join(SRCNN_KERNELS)}, got "
                                            f"{self.kernels!r}"),
            (not self.multiscale or self.interpolating,
             "--multiscale trains a network on bicubic-upscaled inputs of several scales: srcnn or vdsr only"),
            (not self.adversarial or self.arch == "srresnet", "the adversarial phase trains an srresnet generator"),
            (self.arch != "srcnn" or self.blocks == 3, f"--blocks {self.blocks}: SRCNN has 3 layers (its variants: "
                                                       "--kernels)"),
            (self.arch != "vdsr" or self.blocks >= 2, f"--blocks {self.blocks}: VDSR needs at least 2 layers"),
            (self.content_loss in ("mse", "sse") or self.arch == "srresnet" or self.adversarial,
             f"--content-loss {self.content_loss}: srcnn and vdsr train with mse or sse"),
            (self.val_every >= 1 and self.save_every >= 1, "--val-every and --save-every must be >= 1"),
            (self.val_images >= 0, f"--val-images must be >= 0 (0 = all val crops), got {self.val_images}"),
            (self.pretrained is None or str(self.pretrained) != "", "--pretrained must name a checkpoint"),
            (self.distribute in DISTRIBUTE_MODES,
             f"--distribute must be one of {', '.join(DISTRIBUTE_MODES)}, got {self.distribute!r}"),
            (self.distribute == "none" or self.backend == "keras",
             "--distribute is the Keras backend's (tf.distribute); PyTorch scales out with torchrun: "
             "torchrun --nproc_per_node N trains.py --backend torch ..."),
            (self.cpu_devices >= 1, f"--cpu-devices must be >= 1, got {self.cpu_devices}"),
            (self.cpu_devices == 1 or self.distribute == "mirrored",
             "--cpu-devices splits this machine's CPU for --distribute mirrored only"),
        ]
        if self.adversarial:
            checks.append((self.patch_size % 16 == 0,
                           f"--patch-size must be a multiple of 16 for the discriminator, got {self.patch_size}"))
        for ok, msg in checks:
            if not ok:
                raise UserError(msg)
        return self


# Presets give every phase its defaults; any command-line option overrides them.
# "paper": Ledig et al. 2017: SRResNet 10^6 iterations at 1e-4; SRGAN 10^5 at 1e-4 + 10^5 at 1e-5,
#   batch 16, 96x96 HR patches, VGG54 content loss.
# "quick": sized for about one CPU-hour (see README): a 4-5x higher SRResNet lr with a cosine decay
#   (from-scratch training at 1e-4 is far too slow to show anything in an hour), short SRGAN phase.
# "smoke": seconds; tiny model, for tests.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "common": dict(blocks=16, channels=64, batch_size=16, patch_size=96, val_every=5000,
                       save_every=5000, log_every=100, val_images=0),
        "srresnet": dict(iterations=1_000_000, lr=1e-4, lr_schedule="constant", content_loss="mse"),
        "srgan": dict(iterations=200_000, lr=1e-4, lr_schedule="step", lr_decay=0.1, lr_decay_at=0.5,
                      content_loss="vgg54"),
        # Dong et al. 2016: 33x33 sub-images, batch 128, SGD at 1e-4 on Caffe's Euclidean loss, ~10^8
        # backpropagations (they also give the last layer 1e-5: one rate here).
        "srcnn": dict(blocks=3, channels=64, batch_size=128, patch_size=33, iterations=800_000, lr=1e-4,
                      optimizer="sgd", momentum=0.9, content_loss="sse"),
        # Kim et al. 2016: 41x41 patches, batch 64, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10
        # every 20 of 80 epochs, gradients clipped to 0.01 / lr; the iteration count is ours.
        "vdsr": dict(blocks=20, channels=64, batch_size=64, patch_size=41, iterations=80_000, lr=0.1,
                     lr_schedule="staircase", lr_decay=0.1, lr_decay_at=0.25, optimizer="sgd", momentum=0.9,
                     weight_decay=1e-4, clip=0.01, content_loss="sse"),
    },
    "quick": {
        "common": dict(blocks=16, channels=64, batch_size=16, patch_size=96, val_every=250,
                       save_every=250, log_every=10, val_images=20),
        "srresnet": dict(iterations=2000, lr=5e-4, lr_schedule="cosine", lr_decay=0.02, content_loss="mse"),
        "srgan": dict(iterations=400, lr=1e-4, lr_schedule="step", lr_decay=0.1, lr_decay_at=0.5,
                      content_loss="vgg54"),
        # Adam and a cosine decay instead of the papers' SGD: what reaches a useful model in CPU minutes.
        "srcnn": dict(blocks=3, channels=64, patch_size=48, iterations=40_000, lr=1e-3, lr_schedule="cosine",
                      lr_decay=0.05, content_loss="mse", val_every=2000, save_every=2000),
        "vdsr": dict(blocks=20, channels=64, patch_size=48, iterations=1500, lr=2e-4, lr_schedule="cosine",
                     lr_decay=0.05, content_loss="mse"),
    },
    "smoke": {
        "common": dict(blocks=2, channels=16, disc_channels=8, batch_size=2, patch_size=32, val_every=2,
                       save_every=2, log_every=1, val_images=2),
        "srresnet": dict(iterations=4, lr=1e-3, lr_schedule="constant", content_loss="mse"),
        "srgan": dict(iterations=4, lr=1e-4, lr_schedule="step", lr_decay=0.1, lr_decay_at=0.5,
                      content_loss="vgg22"),
        "srcnn": dict(blocks=3, channels=8, iterations=4, lr=1e-3, content_loss="mse"),
        "vdsr": dict(blocks=3, channels=8, iterations=4, lr=1e-2, optimizer="sgd", clip=0.01, weight_decay=1e-4,
                     content_loss="sse"),
    },
}


def preset_config(preset: str, model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig of `preset` for `model` (a MODELS name), with `overrides` (None values ignored)."""
    if preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    arch, phase = MODELS[model]
    values: dict[str, Any] = {"preset": preset, "arch": arch, "phase": phase}
    values.update(PRESETS[preset]["common"])
    values.update(PRESETS[preset][model])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


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
