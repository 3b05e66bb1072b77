"""Training of one phase (supervised SRResNet-MSE, or adversarial SRGAN) in PyTorch: `Trainer` and `train(cfg)`.

The loop itself (sampler, logging, validation, checkpoints, run state) is shared with Keras: `srcore.loop`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srcore.config import TrainConfig, adv_weight_at, disc_lr_at, disc_shifts, ema_decay_at, lr_at
from srcore.errors import UserError
from srcore.evaluate import Upscaler, for_arch
from srcore.loop import TrainerCheckpoints, train_phase
from srcore.metrics import degrid_filters
from torch_srgan import checkpoint as torch_checkpoints
from torch_srgan.device import (
    autocast,
    autocast_dtype,
    describe_device,
    place,
    resolve_device,
    resolve_precision,
    to_tensor,
)
from torch_srgan.distributed import any_worker, init_distributed_mode, mean_over_workers
from torch_srgan.inference import make_upscaler
from torch_srgan.losses import ADVERSARIAL, ContentLoss
from torch_srgan.models import build_discriminator, build_generator, freeze_upsampler, init_subpixel
from torch_srgan.tensorboard import TensorBoardWriter


def shifted(images: torch.Tensor, offsets: np.ndarray, n: int) -> torch.Tensor:
    """--disc-shift: each NCHW image moved down and right by n-1 minus its (row, column) offset, reflect-padded
    at the top and left so the size stays (the images themselves when n <= 1)."""
    if n <= 1:
        return images
    h, w = images.shape[-2:]
    padded = nn.functional.pad(images, (n - 1, 0, n - 1, 0), mode="reflect")
    return torch.stack([padded[i, :, r:r + h, c:c + w] for i, (r, c) in enumerate(offsets.tolist())])


def _separable(images: torch.Tensor, taps: torch.Tensor, dilation: int) -> torch.Tensor:
    """Each channel of NCHW `images` filtered by `taps` along the rows, then the columns (reflect-padded): sums of
    shifted slices, which on a CPU are several times faster than a depthwise convolution's backward pass."""
    n = taps.numel()
    r = dilation * (n - 1) // 2
    h, w = images.shape[-2:]
    k = taps.tolist()
    x = nn.functional.pad(images, (0, 0, r, r), mode="reflect")
    x = sum(k[i] * x[..., i * dilation:i * dilation + h, :] for i in range(n))
    x = nn.functional.pad(x, (r, r, 0, 0), mode="reflect")
    return sum(k[i] * x[..., i * dilation:i * dilation + w] for i in range(n))


def degridded(images: torch.Tensor, filters: tuple[torch.Tensor, torch.Tensor, int] | None) -> torch.Tensor:
    """--disc-degrid: NCHW images without their local period-4 pattern, x - C(x - L(x)) with
    srcore.metrics.degrid_filters (low-pass taps, comb taps, dilation); the images themselves without filters."""
    if filters is None:
        return images
    low, comb, dilation = filters
    return images - _separable(images - _separable(images, low, 1), comb, dilation)


class Trainer(TrainerCheckpoints):
    """Models, optimizers and losses of one phase; `train_batch` runs one iteration from a numpy batch.

    save / restore / load_pretrained: srcore.loop.TrainerCheckpoints, over torch_srgan.checkpoint.
    """

    checkpoints = torch_checkpoints

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.workers = init_distributed_mode(self.device.type)
        if self.workers.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.workers.local_rank)  # one GPU per worker
        self.is_main = self.workers.is_main
        self.shard = (self.workers.rank, self.workers.world)
        self.device_name = describe_device(self.device)  # recorded in every checkpoint
        # "auto" (and --amp) resolved on this device and recorded in the config, so the config.json, checkpoints and
        # log rows of the run say what it computed in and a resume keeps it.
        cfg.precision = self.precision = resolve_precision(self.device, cfg.precision, cfg.amp)
        self.autocast_dtype = autocast_dtype(self.precision)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick the fastest kernels
        # Loss scaling is only needed for float16 (bfloat16 has float32's range).
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)

        torch.manual_seed(cfg.seed)  # reproducible initial weights
        generator = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
        init_subpixel(generator, cfg.scale, cfg.arch, cfg.subpixel_init, **cfg.arch_params)
        if cfg.adversarial and cfg.freeze_upsampler:
            freeze_upsampler(generator, cfg.scale, cfg.arch, **cfg.arch_params)
        self.generator = place(generator, self.device)
        self.discriminator: nn.Module | None = None
        if cfg.adversarial:
            disc = build_discriminator(cfg.patch_size, cfg.disc_channels, cfg.disc_init)
            self.discriminator = place(disc, self.device)
        self.content_loss = place(ContentLoss(cfg.content_loss, cfg.vgg_weights, cfg.grid_weight), self.device)
        self.gan_loss = ADVERSARIAL.get(cfg.gan_loss)  # --gan-loss: an unknown name is a one-line UserError
        # What trains: the models themselves, or DistributedDataParallel around them under torchrun.
        self.train_g, self.train_d = self._parallel(self.generator), self._parallel(self.discriminator)
        self.optimizers: dict[str, torch.optim.Optimizer] = {"optim_g": self._optimizer(self.generator)}
        if self.discriminator is not None:
            self.optimizers["optim_d"] = self._optimizer(self.discriminator)
        self.degrid = None  # --disc-degrid's filters
        if cfg.disc_degrid:
            low, comb, dilation = degrid_filters()
            self.degrid = (torch.from_numpy(low).to(self.device), torch.from_numpy(comb).to(self.device), dilation)
        # --ema: the average, a copy that no optimizer touches (srcore.loop.TrainerCheckpoints saves it)
        self.ema_generator = copy.deepcopy(self.generator).requires_grad_(False) if cfg.ema else None

    def _parallel(self, model: nn.Module | None) -> Any:
        """`model` wrapped for several workers (SyncBatchNorm first with --sync-bn), or itself for one."""
        if model is None or self.workers.world == 1:
            return model
        if self.cfg.sync_bn:
            if self.device.type != "cuda":
                raise UserError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm); on CPUs each worker "
                                "normalises its own slice of the batch")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer of `model`'s trainable parameters (--freeze-upsampler: not the frozen ones)."""
        cfg = self.cfg
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr_at(cfg, 0), momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=lr_at(cfg, 0), betas=(0.9, 0.999), eps=1e-8)

    def _backward_step(self, loss: torch.Tensor, optim: torch.optim.Optimizer) -> None:
        optim.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip > 0:  # adjustable clipping: each element to +-clip / lr (of unscaled gradients)
            self.scaler.unscale_(optim)
            bound = self.cfg.clip / optim.param_groups[0]["lr"]
            for group in optim.param_groups:
                nn.utils.clip_grad_value_(group["params"], bound)
        self.scaler.step(optim)

    def _update_ema(self, step: int) -> None:
        """The average after step `step`'s update: e + (1 - d) (w - e) for every float weight and BatchNorm
        statistic (as the Keras backend), the step counter copied."""
        if self.ema_generator is None:
            return
        keep = ema_decay_at(self.cfg.ema, step)
        with torch.no_grad():
            for e, w in zip(self.ema_generator.state_dict().values(), self.generator.state_dict().values()):
                if e.is_floating_point():
                    e.lerp_(w, 1.0 - keep)
                else:
                    e.copy_(w)

    def reset_ema(self) -> None:
        if self.ema_generator is not None:
            self.ema_generator.load_state_dict(self.generator.state_dict())

    def _disc_view(self, images: torch.Tensor, offsets: np.ndarray) -> torch.Tensor:
        """A batch as the discriminator sees it: --disc-shift, then --disc-degrid (itself without them)."""
        return degridded(shifted(images, offsets, self.cfg.disc_shift), self.degrid)

    def train_batch(self, lr: np.ndarray, hr: np.ndarray, step: int) -> dict[str, float]:
        """One iteration on a sampler batch (NHWC numpy); `step` (0-based) sets the learning rate."""
        rate = lr_at(self.cfg, step)
        rates = {"optim_g": rate, "optim_d": disc_lr_at(self.cfg, step)}
        for name, optim in self.optimizers.items():
            for group in optim.param_groups:
                group["lr"] = rates[name]
        x, y = to_tensor(lr, self.device), to_tensor(hr, self.device)
        self.generator.train()
        optim_g = self.optimizers["optim_g"]
        if self.discriminator is None:
            with autocast(self.device, self.autocast_dtype):
                sr = self.train_g(x)
                content = self.content_loss(sr, y)
            self._backward_step(content, optim_g)
            self.scaler.update()
            self._update_ema(step)
            value = content.item()
            return mean_over_workers({"g_loss": value, "content": value}, self.workers)

        d = self.discriminator
        d.train()
        shifts = disc_shifts(self.cfg, step, self.shard)  # --disc-shift (none: zeros, unused)
        with autocast(self.device, self.autocast_dtype):
            sr = self.train_g(x)
            real_logits = self.train_d(self._disc_view(y, shifts[0]))
            fake_logits = self.train_d(self._disc_view(sr.detach(), shifts[1]))
        d_loss = self.gan_loss.discriminator(real_logits, fake_logits)
        self._backward_step(d_loss, self.optimizers["optim_d"])

        # Generator update against the just-updated discriminator; D is frozen so no D gradients are computed
        # (and it runs unwrapped: there is nothing of D's to average over the workers).
        d.requires_grad_(False)
        try:
            with autocast(self.device, self.autocast_dtype):
                gen_logits = d(self._disc_view(sr, shifts[1]))
                content = self.content_loss(sr, y)
            # D's real logits from before its update: a relativistic G loss compares with them (no gradient)
            adv = self.gan_loss.generator(real_logits.detach(), gen_logits)
            g_loss = content + adv_weight_at(self.cfg, step) * adv
            self._backward_step(g_loss, optim_g)
        finally:
            d.requires_grad_(True)
        self.scaler.update()
        self._update_ema(step)
        return mean_over_workers({
            "g_loss": g_loss.item(), "content": content.item(), "adv": adv.item(), "d_loss": d_loss.item(),
            # mean D(x) on real and generated patches: a quick view of the balance of the two players
            "d_real": torch.sigmoid(real_logits.float()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.float()).mean().item(),
        }, self.workers)

    def agree(self, flag: bool) -> bool:
        """True on every worker when `flag` is True on any; with one worker, `flag` itself."""
        return any_worker(flag, self.workers)

    def upscaler(self, averaged: bool = True) -> Upscaler:
        """The current generator as an evaluation upscaler (eval mode inside each call, restored after).
        `averaged`: the weights' average with --ema (what is saved), else the weights being trained."""
        generator = self.shipped_generator if averaged else self.generator
        return for_arch(make_upscaler(generator, self.device), self.cfg.arch, self.cfg.scale)

    def optimizer_state(self) -> dict[str, Any]:
        """Optimizers (and the AMP loss scaler) by checkpoint name: what a resume needs besides the models."""
        return {**self.optimizers, **({"scaler": self.scaler} if self.scaler.is_enabled() else {})}

    def trained_weights(self) -> nn.Module:
        return self.generator


def train(cfg: TrainConfig, stop_at: int | None = None) -> Path:
    """Run (or resume) one phase in `cfg.out`, a config validated by the caller; returns its `last` checkpoint.

    `stop_at`: stop after this many iterations (saving `last`) as if interrupted; tests and time-boxed runs.
    """
    return train_phase(cfg.require_backend("torch"), Trainer, torch_checkpoints, TensorBoardWriter, stop_at)
