"""Training of one phase (SRResNet-MSE pre-training or SRGAN) in PyTorch: `Trainer` and `train(cfg)`.

The loop itself (sampler, logging, validation, checkpoints) is shared with Keras: `srcore.loop`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srcore.checkpoint import CheckpointError, make_meta
from srcore.config import TrainConfig, lr_at
from srcore.errors import UserError
from srcore.evaluate import Upscaler
from srcore.loop import run_phase
from torch_srgan.checkpoint import (
    BEST,
    LAST,
    load_checkpoint,
    load_state,
    require_states,
    resolve_checkpoint,
    save_checkpoint,
)
from torch_srgan.losses import ContentLoss, check_vgg_available, discriminator_loss, generator_adversarial_loss
from torch_srgan.models import build_discriminator, build_generator

# --- devices and tensors --------------------------------------------------------------------------------------

def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """None/"auto": CUDA when available, else CPU; otherwise the named device ("gpu" means "cuda")."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "gpu":
        device = "cuda"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device}: not a device name (expected cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA GPU is available to PyTorch here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise UserError(f"--device {device}: only cpu and cuda devices are supported")
    return dev


def uses_channels_last(device: torch.device) -> bool:
    # NHWC convolutions are markedly faster on CPU (oneDNN); on CUDA the default layout is kept.
    return device.type == "cpu"


def place(module: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to `device` in the memory format used there."""
    if uses_channels_last(device):
        return module.to(device, memory_format=torch.channels_last)
    return module.to(device)


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """The one NHWC numpy -> NCHW tensor conversion (channels_last strides on CPU: no copy needed)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2).to(device)
    fmt = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    return t.contiguous(memory_format=fmt)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """NCHW tensor -> float32 NHWC numpy."""
    return t.detach().float().permute(0, 2, 3, 1).contiguous().cpu().numpy()


# --- one training step ----------------------------------------------------------------------------------------

class Trainer:
    """Models, optimizers and losses of one phase; `train_step` runs one iteration from a numpy batch."""

    def __init__(self, cfg: TrainConfig) -> None:
        cfg.validate(backend="torch")
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.gan = cfg.model == "srgan"
        self.amp_dtype: torch.dtype | None = None
        if cfg.amp:
            if self.device.type == "cuda":
                self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            else:
                print("warning: --amp only works on CUDA; ignored on CPU", file=sys.stderr)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick the fastest kernels
        # Loss scaling is only needed for float16 (bfloat16 has float32's range).
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        torch.manual_seed(cfg.seed)  # reproducible initial weights
        self.generator = place(build_generator(cfg.scale, cfg.blocks, cfg.channels), self.device)
        self.optim_g = self._adam(self.generator)
        self.discriminator: nn.Module | None = None
        self.optim_d: torch.optim.Optimizer | None = None
        if self.gan:
            self.discriminator = place(build_discriminator(cfg.patch_size, cfg.disc_channels), self.device)
            self.optim_d = self._adam(self.discriminator)
        self.content_loss = place(ContentLoss(cfg.content_loss, cfg.vgg_weights), self.device)
        self.iteration = 0
        self.best_psnr: float | None = None
        self.seconds = 0.0  # training time so far, carried across resumes

    def _adam(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=lr_at(self.cfg, 0), betas=(0.9, 0.999), eps=1e-8)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _backward_step(self, loss: torch.Tensor, optim: torch.optim.Optimizer) -> None:
        optim.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optim)

    def train_step(self, lr: np.ndarray, hr: np.ndarray, step: int | None = None) -> dict[str, float]:
        """One iteration on a sampler batch (NHWC numpy); `step` (default: self.iteration) sets the LR."""
        step = self.iteration if step is None else step
        rate = lr_at(self.cfg, step)
        for optim in (self.optim_g, self.optim_d):
            if optim is not None:
                for group in optim.param_groups:
                    group["lr"] = rate
        x, y = to_tensor(lr, self.device), to_tensor(hr, self.device)
        self.generator.train()
        if not self.gan:
            with self._autocast():
                sr = self.generator(x)
                content = self.content_loss(sr, y)
            self._backward_step(content, self.optim_g)
            self.scaler.update()
            self.iteration = step + 1
            value = content.item()
            return {"g_loss": value, "content": value}

        d, optim_d = self.discriminator, self.optim_d
        assert d is not None and optim_d is not None
        d.train()
        with self._autocast():
            sr = self.generator(x)
            real_logits = d(y)
            fake_logits = d(sr.detach())
        d_loss = discriminator_loss(real_logits, fake_logits)
        self._backward_step(d_loss, optim_d)

        # Generator update against the just-updated discriminator; D is frozen so no D gradients are computed.
        d.requires_grad_(False)
        try:
            with self._autocast():
                gen_logits = d(sr)
                content = self.content_loss(sr, y)
            adv = generator_adversarial_loss(gen_logits)
            g_loss = content + self.cfg.adv_weight * adv
            self._backward_step(g_loss, self.optim_g)
        finally:
            d.requires_grad_(True)
        self.scaler.update()
        self.iteration = step + 1
        return {
            "g_loss": g_loss.item(), "content": content.item(), "adv": adv.item(), "d_loss": d_loss.item(),
            # mean D(x) on real and generated patches: a quick view of the balance of the two players
            "d_real": torch.sigmoid(real_logits.float()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.float()).mean().item(),
        }

    def upscaler(self) -> Upscaler:
        """The current generator as an evaluation upscaler (eval mode inside each call, restored after)."""
        from torch_srgan.inference import make_upscaler  # inference imports this module: import when used

        return make_upscaler(self.generator, self.device)

    # --- checkpoints -------------------------------------------------------------------------------------

    def save(self, path: str | Path, iteration: int | None = None, best_psnr: float | None = None) -> Path:
        """Write a checkpoint of the full training state; defaults: the trainer's iteration and best PSNR."""
        iteration = self.iteration if iteration is None else iteration
        best_psnr = self.best_psnr if best_psnr is None else best_psnr
        meta = make_meta(self.cfg, iteration, best_psnr, train_seconds=round(self.seconds, 3))
        state: dict[str, Any] = {"generator": self.generator.state_dict(), "optim_g": self.optim_g.state_dict()}
        if self.discriminator is not None and self.optim_d is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["optim_d"] = self.optim_d.state_dict()
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        return save_checkpoint(path, meta, state)

    def _check_arch(self, meta: dict[str, Any], path: str | Path, keys: tuple[str, ...]) -> None:
        arch = meta["arch"]
        for key in keys:
            if key in arch and arch[key] != getattr(self.cfg, key):
                raise CheckpointError(f"{path}: checkpoint has {key}={arch[key]}, but this run uses "
                                      f"{key}={getattr(self.cfg, key)}")

    def restore(self, path: str | Path) -> int:
        """Load the full training state of a checkpoint of this phase; returns its iteration."""
        meta, data = load_checkpoint(path, backend="torch", scale=self.cfg.scale)
        if meta["model"] != self.cfg.model:
            hint = " (use it as --pretrained for the SRGAN phase)" if self.gan else ""
            raise CheckpointError(f"{path}: this is a {meta['model']} checkpoint; it cannot resume a "
                                  f"{self.cfg.model} phase{hint}")
        require_states(data, ("optim_g",) + (("discriminator", "optim_d") if self.gan else ()), path)
        self._check_arch(meta, path, ("blocks", "channels") + (("disc_channels", "patch_size") if self.gan else ()))
        load_state(self.generator, data["generator"], path, "generator")
        load_state(self.optim_g, data["optim_g"], path, "generator optimizer")
        if self.gan:
            assert self.discriminator is not None and self.optim_d is not None
            load_state(self.discriminator, data["discriminator"], path, "discriminator")
            load_state(self.optim_d, data["optim_d"], path, "discriminator optimizer")
        if self.scaler.is_enabled() and isinstance(data.get("scaler"), dict):
            self.scaler.load_state_dict(data["scaler"])
        self.iteration = int(meta["iteration"])
        self.best_psnr = meta.get("best_psnr")
        self.seconds = float(meta.get("train_seconds") or 0.0)
        return self.iteration

    def load_pretrained(self, path: str | Path) -> dict[str, Any]:
        """Initialise the generator from a checkpoint of either phase (the SRGAN phase's starting point)."""
        meta, data = load_checkpoint(path, backend="torch", scale=self.cfg.scale)
        self._check_arch(meta, path, ("blocks", "channels"))
        load_state(self.generator, data["generator"], path, "generator")
        return meta


# --- the loop -------------------------------------------------------------------------------------------------

def _resume_checkpoint(cfg: TrainConfig) -> Path | None:
    if not cfg.resume:
        return None
    path = resolve_checkpoint(cfg.resume, LAST)
    if path.is_file():
        return path
    if Path(cfg.resume).is_dir():
        # A phase folder from a run that stopped before its first checkpoint: nothing to resume yet.
        print(f"{cfg.resume}: no {LAST} yet; starting this phase from the beginning", file=sys.stderr)
        return None
    raise UserError(f"--resume {cfg.resume}: no such run folder or checkpoint")


def train(cfg: TrainConfig, stop_at: int | None = None) -> Path:
    """Run (or resume) one phase in `cfg.out`; returns the path of its final `last` checkpoint.

    `stop_at`: stop after this many iterations (saving `last`) as if interrupted; tests and time-boxed runs.
    """
    cfg.validate(backend="torch")
    out = Path(cfg.out)
    resume = _resume_checkpoint(cfg)
    if cfg.content_loss != "mse":
        check_vgg_available(cfg.vgg_weights)  # before any data loading or training

    trainer = Trainer(cfg)
    return run_phase(cfg, trainer, resume, last_path=out / LAST, best_path=out / BEST, stop_at=stop_at)
