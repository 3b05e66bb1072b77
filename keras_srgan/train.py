"""Training of one phase (supervised SRResNet-MSE, or adversarial SRGAN) with Keras 3 on TensorFlow.

The iteration is a compiled `keras.Model.train_step` (with XLA on a GPU or with --xla); the loop around it (batches
prefetched from the phase's sampler, srcore.sampling; logging, validation, checkpoints) is shared with the
PyTorch backend: srcore.loop. Everything a step depends on is either saved in the checkpoint
(G, D, both optimizers' variables) or a pure function of the step number (batch, learning rate),
so a resumed run continues exactly.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_srgan import checkpoint as keras_checkpoints
from keras_srgan.device import (
    describe_device,
    dtype_policy,
    on_device,
    on_gpu,
    policy_name,
    resolve_device,
    resolve_precision,
)
from keras_srgan.distributed import (
    any_worker,
    distributed_step,
    init_distributed_mode,
    replica_share,
    split_batch,
    sync_batchnorm,
)
from keras_srgan.inference import make_upscaler
from keras_srgan.losses import ADVERSARIAL, ContentLoss
from keras_srgan.models import build_discriminator, build_generator, freeze_upsampler, init_subpixel
from keras_srgan.tensorboard import TensorBoardWriter
from srcore.config import TrainConfig, adv_weight_at, disc_lr_at, disc_shifts, ema_decay_at, lr_at
from srcore.errors import UserError
from srcore.evaluate import Upscaler, for_arch
from srcore.loop import TrainerCheckpoints, train_phase
from srcore.losses import AdversarialLoss
from srcore.metrics import degrid_filters


class SRGANModel(keras.Model):
    """The training step of either phase as a Keras model, so Keras compiles it (tf.function + XLA).

    Phase "srresnet": one generator update on the content loss. Phase "srgan": one discriminator
    update, then one generator update against the updated discriminator (the paper's alternation).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model | None, content_loss: ContentLoss,
                 adv_weight: float = 1e-3, clip: float = 0.0, gan_loss: AdversarialLoss | None = None,
                 disc_shift: int = 0, batch_size: int = 1, disc_degrid: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.content_loss = content_loss
        self.gan_loss = gan_loss or ADVERSARIAL.get("vanilla")  # --gan-loss; the paper's by default
        # A variable, as the learning rate: --adv-warmup changes it every step without retracing the step.
        self.adv_weight = keras.Variable(float(adv_weight), trainable=False, dtype="float32", name="adv_weight")
        self.clip = float(clip)  # adjustable gradient clipping (TrainConfig.clip); 0 = none
        # --disc-shift: N, and this step's offsets of the whole batch (a variable for the same reason; each replica
        # reads its slice)
        self.disc_shift = int(disc_shift)
        self.disc_offsets = keras.Variable(np.zeros((2, batch_size, 2), "int32"), trainable=False, dtype="int32",
                                           name="disc_offsets")
        low, comb, dilation = degrid_filters()  # --disc-degrid's filters
        self.degrid = (tf.constant(low), tf.constant(comb), dilation) if disc_degrid else None
        self.g_optimizer: keras.optimizers.Optimizer | None = None
        self.d_optimizer: keras.optimizers.Optimizer | None = None

    def compile(self, g_optimizer: keras.optimizers.Optimizer,  # type: ignore[override]
                d_optimizer: keras.optimizers.Optimizer | None = None, jit_compile: bool = True) -> None:
        super().compile(jit_compile=jit_compile)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.generator(inputs, training=training)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        lr, hr, _ = keras.utils.unpack_x_y_sample_weight(data)
        g, d = self.generator, self.discriminator
        g_opt, d_opt = self.g_optimizer, self.d_optimizer
        logs: dict[str, tf.Tensor] = {}
        with tf.GradientTape() as g_tape:
            sr = g(lr, training=True)
            if d is not None:
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    real_seen, fake_seen = self._seen_by_discriminator(hr, sr)
                    real_logits = d(real_seen, training=True)
                    fake_logits_d = d(tf.stop_gradient(fake_seen), training=True)
                    d_loss = self.gan_loss.discriminator(real_logits, fake_logits_d)
                    # this replica's share (several replicas), scaled under mixed precision
                    scaled_d_loss = d_opt.scale_loss(replica_share(d_loss))
                d_grads = self._clipped(d_tape.gradient(scaled_d_loss, d.trainable_weights), d_opt)
                d_opt.apply_gradients(zip(d_grads, d.trainable_weights))
                # Variable reads are ordered after the update by tf.function's automatic control
                # dependencies, so the generator is scored by the discriminator it just lost to.
                fake_logits = d(fake_seen, training=True)
            content = self.content_loss(sr, hr)
            if d is not None:
                # D's real logits from before its update: a relativistic G loss compares with them (no gradient)
                adv = self.gan_loss.generator(tf.stop_gradient(real_logits), fake_logits)
                g_loss = content + tf.cast(self.adv_weight, content.dtype) * adv
            else:
                g_loss = content
            scaled_g_loss = g_opt.scale_loss(replica_share(g_loss))
        g_grads = self._clipped(g_tape.gradient(scaled_g_loss, g.trainable_weights), g_opt)
        g_opt.apply_gradients(zip(g_grads, g.trainable_weights))
        # The same keys as the torch backend's Trainer.train_step; Keras averages them over the replicas.
        logs["g_loss"] = g_loss
        logs["content"] = content
        if d is not None:
            logs["adv"] = adv
            logs["d_loss"] = d_loss
            logs["d_real"] = tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32)))
            logs["d_fake"] = tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits_d, tf.float32)))
        return logs

    def _seen_by_discriminator(self, hr: tf.Tensor, sr: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The real and generated images as D sees them: moved by this replica's slice of the step's
        --disc-shift offsets (the whole batch with one replica), then --disc-degrid; themselves without them."""
        if self.disc_shift > 1:
            size = tf.shape(hr)[0]
            start = tf.distribute.get_replica_context().replica_id_in_sync_group * size
            offsets = self.disc_offsets.value[:, start:start + size]
            hr, sr = shifted(hr, offsets[0], self.disc_shift), shifted(sr, offsets[1], self.disc_shift)
        return degridded(hr, self.degrid), degridded(sr, self.degrid)

    def _clipped(self, grads: list[Any], opt: keras.optimizers.Optimizer) -> list[Any]:
        """Each element to +-clip / lr (times the loss scale under mixed precision: the gradients are scaled)."""
        if not self.clip:
            return grads
        bound = self.clip / tf.cast(opt.learning_rate, tf.float32)
        if hasattr(opt, "dynamic_scale"):
            bound = bound * tf.cast(opt.dynamic_scale, tf.float32)
        return [g if g is None else tf.clip_by_value(g, -tf.cast(bound, g.dtype), tf.cast(bound, g.dtype))
                for g in grads]


class TorchAdam(keras.optimizers.Adam):
    """Adam with PyTorch's (and the original paper's) placement of epsilon.

    torch:    w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    Keras 3:  w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    Keras' form is torch's with eps scaled by 1/sqrt(1 - b2^t) (about 32x at step 1): different
    steps wherever |gradient| is not far above eps. Same variables (momentums, velocities) as Adam,
    so checkpoints are interchangeable; tests/test_parity.py checks a step against torch.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        from keras import ops

        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        bias1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        bias2 = 1 - ops.power(ops.cast(self.beta_2, dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(grad, m), 1 - self.beta_1))
        self.assign(v, ops.add(ops.multiply(v, self.beta_2), ops.multiply(ops.square(grad), 1 - self.beta_2)))
        denom = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias2)), self.epsilon)
        self.assign_sub(variable, ops.multiply(ops.divide(m, denom), ops.divide(lr, bias1)))


class TorchSGD(keras.optimizers.SGD):
    """SGD with PyTorch's rule: the L2 penalty added to the gradient (torch's weight_decay; Keras' own is decoupled),
    momentum buffer m = momentum * m + g, and w -= lr * m (Keras folds lr into its buffer, which differs as soon
    as the rate changes). The same variables as SGD."""

    def __init__(self, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        from keras import ops

        lr = ops.cast(learning_rate, variable.dtype)
        grad = ops.cast(gradient, variable.dtype)
        if self.l2:
            grad = ops.add(grad, ops.multiply(variable, self.l2))
        if self.momentum:
            m = self.momentums[self._get_variable_index(variable)]
            self.assign(m, ops.add(ops.multiply(m, self.momentum), grad))
            grad = m
        self.assign_sub(variable, ops.multiply(grad, lr))


def shifted(images: tf.Tensor, offsets: tf.Tensor, n: int) -> tf.Tensor:
    """--disc-shift: each NHWC image moved down and right by n-1 minus its (row, column) offset, reflect-padded
    at the top and left so the size stays (the images themselves when n <= 1); as torch_srgan.train.shifted."""
    if n <= 1:
        return images
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [n - 1, 0], [n - 1, 0], [0, 0]], mode="REFLECT")
    rows = offsets[:, :1] + tf.range(h)[None, :]  # (batch, h): the padded rows each image keeps
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def _separable(images: tf.Tensor, taps: tf.Tensor, dilation: int) -> tf.Tensor:
    """Each channel of NHWC `images` filtered by `taps` along the rows, then the columns (reflect-padded): sums of
    shifted slices, as torch_srgan.train._separable."""
    n = int(taps.shape[0])
    r = dilation * (n - 1) // 2
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    k = tf.cast(taps, images.dtype)
    x = tf.pad(images, [[0, 0], [r, r], [0, 0], [0, 0]], mode="REFLECT")
    x = tf.add_n([k[i] * x[:, i * dilation:i * dilation + h] for i in range(n)])
    x = tf.pad(x, [[0, 0], [0, 0], [r, r], [0, 0]], mode="REFLECT")
    return tf.add_n([k[i] * x[:, :, i * dilation:i * dilation + w] for i in range(n)])


def degridded(images: tf.Tensor, filters: tuple[tf.Tensor, tf.Tensor, int] | None) -> tf.Tensor:
    """--disc-degrid: NHWC images without their local period-4 pattern, x - C(x - L(x)) with
    srcore.metrics.degrid_filters; the images themselves without filters; as torch_srgan.train.degridded."""
    if filters is None:
        return images
    low, comb, dilation = filters
    return images - _separable(images - _separable(images, low, 1), comb, dilation)


def make_optimizer(cfg: TrainConfig, mixed: bool, name: str) -> keras.optimizers.Optimizer:
    if cfg.optimizer == "sgd":
        opt: keras.optimizers.Optimizer = TorchSGD(learning_rate=cfg.lr, momentum=cfg.momentum, l2=cfg.weight_decay,
                                                   name=name)
    else:  # Torch's Adam (see TorchAdam) with torch's eps 1e-8 (Keras' default is 1e-7).
        opt = TorchAdam(learning_rate=cfg.lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name=name)
    return keras.optimizers.LossScaleOptimizer(opt, name=f"{name}_loss_scale") if mixed else opt


def _check_replicas(cfg: TrainConfig, replicas: int, several: bool) -> None:
    """What a tf.distribute run (`several`: under a strategy) cannot do, as one-line errors, before any model."""
    if several and cfg.device:
        raise UserError(f"--device {cfg.device} with --distribute {cfg.distribute}: the strategy places the "
                        "replicas itself (every local GPU, else the CPU); leave --device out")
    if several and cfg.xla:
        raise UserError(f"--xla with --distribute {cfg.distribute}: XLA cannot compile a step whose variables "
                        "live on several devices; leave --xla out")
    if several and cfg.clip:
        raise UserError("--clip with --distribute: Keras sums the replicas' gradients after this clipping would "
                        "run; train with --clip on one device, or torchrun (which clips the averaged gradients)")
    if cfg.batch_size % replicas:
        raise UserError(f"--batch-size {cfg.batch_size} does not split evenly over {replicas} replicas; use a "
                        f"multiple of {replicas}")
    if cfg.sync_bn and replicas == 1:
        print("note: --sync-bn has no effect with one replica", file=sys.stderr)


class Trainer(TrainerCheckpoints):
    """Models, optimizers and the compiled step of one phase; no data, no loop (see `train`).

    save / restore / load_pretrained: srcore.loop.TrainerCheckpoints, over keras_srgan.checkpoint.
    """

    checkpoints = keras_checkpoints

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        # tf.distribute first: MultiWorkerMirroredStrategy must exist before TensorFlow runs anything.
        self.workers = init_distributed_mode(cfg.distribute, cfg.cpu_devices)
        self.is_main = self.workers.is_main
        self.shard = (0, 1)  # every worker samples the whole global batch; each replica takes its slice
        strategy = self.workers.strategy
        _check_replicas(cfg, self.workers.replicas, several=strategy is not None)
        self.device = resolve_device(cfg.device)
        self.device_name = describe_device(self.device)  # recorded in every checkpoint
        if strategy is not None:
            self.device_name = (f"{self.workers.replicas} replicas ({type(strategy).__name__}, "
                                f"{self.workers.world} worker(s)) of {self.device_name}")
        gpu = on_gpu(self.device)
        # "auto" (and --amp) resolved on this device and recorded in the config, so the config.json, checkpoints and
        # log rows of the run say what it computed in and a resume keeps it.
        cfg.precision = self.precision = resolve_precision(self.device, cfg.precision, cfg.amp)
        self.mixed = self.precision == "fp16"  # loss scaling: float16 only (bfloat16 has float32's range)
        # XLA by default only on a GPU: on the CPU it measured ~25% slower than TF's own kernels
        # (results/speed.md); --xla / --no-xla force it either way. Never over several replicas (see
        # distributed_step).
        self.xla = (gpu and strategy is None) if cfg.xla is None else bool(cfg.xla)
        keras.utils.set_random_seed(cfg.seed)
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope, on_device(self.device), dtype_policy(policy_name(self.precision)):
            self.generator = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
            init_subpixel(self.generator, cfg.scale, cfg.arch, cfg.subpixel_init, **cfg.arch_params)
            if cfg.adversarial and cfg.freeze_upsampler:
                freeze_upsampler(self.generator, cfg.scale, cfg.arch, **cfg.arch_params)
            self.discriminator = (build_discriminator(cfg.patch_size, cfg.disc_channels, cfg.disc_init)
                                  if cfg.adversarial else None)
            if cfg.sync_bn:
                for model in (self.generator, self.discriminator):
                    if model is not None:
                        sync_batchnorm(model)
            self.content_loss = ContentLoss(cfg.content_loss, cfg.vgg_weights, cfg.grid_weight)
            self.g_optimizer = make_optimizer(cfg, self.mixed, "adam_g")
            self.d_optimizer = make_optimizer(cfg, self.mixed, "adam_d") if self.discriminator else None
            # Build the optimizer variables now: restore() assigns them, and XLA must not create them.
            self.g_optimizer.build(self.generator.trainable_variables)
            if self.d_optimizer is not None:
                self.d_optimizer.build(self.discriminator.trainable_variables)
            self.model = SRGANModel(self.generator, self.discriminator, self.content_loss, cfg.adv_weight, cfg.clip,
                                    gan_loss=ADVERSARIAL.get(cfg.gan_loss), disc_shift=cfg.disc_shift,
                                    batch_size=cfg.batch_size, disc_degrid=cfg.disc_degrid, name=f"{cfg.model}_step")
            self.model.compile(self.g_optimizer, self.d_optimizer, jit_compile=self.xla)
            # --ema: the average, a float32 copy that no optimizer touches (srcore.loop.TrainerCheckpoints saves
            # it); built last, so the other models' initial weights are those of a run without it.
            self.ema_generator = None
            if cfg.ema:
                with dtype_policy("float32"):
                    self.ema_generator = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
                self.ema_generator.set_weights(self.generator.get_weights())
        self._ema_update: Any = None  # the compiled average update (--ema)
        self._upscalers: dict[int, Upscaler] = {}  # by the (id of the) model they run
        self._replicated_step: Any = None  # the compiled step over the replicas (several replicas)

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        opts = {"optim_g": self.g_optimizer}
        if self.d_optimizer is not None:
            opts["optim_d"] = self.d_optimizer
        return opts

    def optimizer_state(self) -> dict[str, list[Any]]:
        """Optimizer variables by checkpoint name. Adam's own variables are kept apart from the loss
        scale of mixed precision, so a run can resume with or without --amp (e.g. on a CPU)."""
        parts: dict[str, list[Any]] = {}
        for name, opt in self.optimizers.items():
            inner = getattr(opt, "inner_optimizer", None)
            if inner is None:
                parts[name] = list(opt.variables)
            else:
                own = {v.path for v in inner.variables}
                parts[name] = list(inner.variables)
                parts[f"{name}_loss_scale"] = [v for v in opt.variables if v.path not in own]
        return parts

    def trained_weights(self) -> list[Any]:
        return list(self.generator.weights)

    def reset_ema(self) -> None:
        if self.ema_generator is not None:
            self.ema_generator.set_weights(self.generator.get_weights())

    def _update_ema(self, step: int) -> None:
        """The average after step `step`'s update: e + (1 - d) (w - e) for every weight and BatchNorm statistic
        (as the torch backend), in one compiled function."""
        if self.ema_generator is None:
            return
        if self._ema_update is None:
            pairs = list(zip(self.ema_generator.weights, self.generator.weights))

            @tf.function
            def update(keep: tf.Tensor) -> None:
                for e, w in pairs:
                    e.assign(e + (1.0 - keep) * (tf.cast(w, e.dtype) - e))

            self._ema_update = update
        with on_device(self.device):
            self._ema_update(tf.constant(ema_decay_at(self.cfg.ema, step), tf.float32))

    def set_learning_rate(self, step: int) -> float:
        # Assign (never rebind): the compiled step reads the optimizer's learning-rate variable (and the
        # adversarial weight's, which --adv-warmup ramps).
        value = lr_at(self.cfg, step)
        rates = {"optim_g": value, "optim_d": disc_lr_at(self.cfg, step)}
        for name, opt in self.optimizers.items():
            opt.learning_rate.assign(rates[name])
        if self.discriminator is not None:
            self.model.adv_weight.assign(adv_weight_at(self.cfg, step))
            if self.cfg.disc_shift > 1:  # off, the step never reads them
                self.model.disc_offsets.assign(disc_shifts(self.cfg, step))
        return value

    def train_batch(self, lr: np.ndarray, hr: np.ndarray, step: int) -> dict[str, float]:
        """One iteration on a sampler batch (NHWC numpy); `step` (0-based) sets the learning rate."""
        self.set_learning_rate(int(step))
        if self.workers.strategy is None:
            with on_device(self.device):
                logs = self.model.train_on_batch(lr, hr, return_dict=True)
        else:  # each replica its slice, the logs averaged over all of them
            if self._replicated_step is None:
                self._replicated_step = distributed_step(self.workers, self.model.train_step)
            logs = self._replicated_step(split_batch(self.workers, lr, hr))
        self._update_ema(int(step))
        return {k: float(v) for k, v in logs.items()}

    def agree(self, flag: bool) -> bool:
        """True on every worker when `flag` is True on any; with one worker, `flag` itself."""
        return any_worker(flag, self.workers)

    def upscaler(self, averaged: bool = True) -> Upscaler:
        """The current generator as an upscaler (inference mode); one compiled function each, reused. `averaged`:
        the weights' average with --ema (what is saved), else the weights being trained.

        Validation runs in float32 whatever the training precision (as in the torch backend), so a bf16 run's
        validation values measure its weights, comparable with a float32 run's: under a mixed policy a float32
        twin of the generator runs, given the current weights at every call (a copy of a few MB)."""
        source = self.shipped_generator if averaged else self.generator
        if id(source) not in self._upscalers:
            generator, refresh = source, None
            if source.dtype_policy.name != "float32":  # (the average is float32 already)
                cfg = self.cfg
                with on_device(self.device), dtype_policy("float32"):
                    generator = build_generator(cfg.scale, cfg.arch, **cfg.arch_params)
                refresh = generator
            run = make_upscaler(generator, self.cfg.device)

            def upscale(lr: np.ndarray) -> np.ndarray:
                if refresh is not None:
                    refresh.set_weights(source.get_weights())
                return run(lr)

            self._upscalers[id(source)] = for_arch(upscale, self.cfg.arch, self.cfg.scale)
        return self._upscalers[id(source)]


def train(cfg: TrainConfig, stop_at: int | None = None) -> Path:
    """Run (or resume) one phase in `cfg.out`, a config validated by the caller; returns its `last` checkpoint
    (the `.weights.h5`).

    `stop_at`: stop after this many iterations (saving `last`) as if interrupted; tests and time-boxed runs.
    """
    return train_phase(cfg.require_backend("keras"), Trainer, keras_checkpoints, TensorBoardWriter, stop_at)
