"""Train SRResNet / SRGAN (Ledig et al. 2017) with the PyTorch or the Keras backend.

    python trains.py --backend torch                    # the whole recipe: SRResNet-MSE, then SRGAN
    python trains.py --backend keras --model srresnet   # phase 1 only
    python trains.py --backend torch --model srgan --pretrained runs/x/srresnet/last.pth
    python trains.py --resume runs/torch_quick_x4       # continue exactly where it stopped
"""

from __future__ import annotations

import argparse
import sys

from srcore.arch import SRCNN_KERNELS
from srcore.config import CONTENT_LOSSES, MODELS, OPTIMIZERS, PRESETS
from srcore.errors import run_cli
from srcore.workers import DISTRIBUTE_MODES


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("torch", "keras"), default="torch")
    p.add_argument("--model", choices=tuple(MODELS), default="srgan",
                   help="srresnet: MSE phase only; srgan: adversarial phase (runs the srresnet phase first "
                        "unless --pretrained is given); srcnn, vdsr: the earlier models, on bicubic-upscaled inputs")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                   help="paper: the paper's schedule; quick: about one CPU-hour; smoke: seconds (default quick)")
    p.add_argument("--pretrained", metavar="CKPT", help="SRResNet checkpoint that initialises the SRGAN generator")
    p.add_argument("--resume", metavar="RUN_DIR_OR_CKPT", help="continue a run exactly; other options are "
                   "taken from the run's saved config")
    p.add_argument("--data", default="data", help="folder written by prepare_bsd500.py (default data/)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/<backend>_<preset>_x<scale>)")
    g = p.add_argument_group("overrides of the preset")
    g.add_argument("--iterations", type=int, help="iterations of the phase being trained (the SRGAN phase "
                   "when both run)")
    g.add_argument("--pretrain-iterations", type=int, help="SRResNet iterations when --model srgan runs both phases")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--patch-size", type=int, help="HR patch side (LR side = patch / scale)")
    g.add_argument("--lr", type=float, help="learning rate (the SRResNet phase's when both run)")
    g.add_argument("--gan-lr", type=float, help="learning rate of the SRGAN phase")
    g.add_argument("--blocks", type=int, help="residual blocks of the generator")
    g.add_argument("--channels", type=int, help="feature channels of the generator")
    g.add_argument("--content-loss", choices=CONTENT_LOSSES, help="content loss of the SRGAN phase "
                   "(the SRResNet phase is MSE unless --model srresnet is given with this); sse: Caffe's Euclidean "
                   "loss, as SRCNN and VDSR trained")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="adam, or sgd (with --momentum, --weight-decay)")
    g.add_argument("--momentum", type=float, help="sgd momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, help="sgd L2 penalty (vdsr paper: 1e-4)")
    g.add_argument("--clip", type=float, help="VDSR's adjustable gradient clipping: each gradient element to "
                   "+-CLIP / lr (paper: 0.01); 0 = none")
    g.add_argument("--kernels", choices=SRCNN_KERNELS, help="srcnn: kernel sizes of its three layers (default 9-1-5)")
    g.add_argument("--multiscale", action="store_true", help="srcnn, vdsr: train one model on x2, x3 and x4 "
                   "inputs (needs data prepared at those scales)")
    g.add_argument("--scale", type=int, choices=(2, 3, 4))
    g.add_argument("--seed", type=int)
    g.add_argument("--val-every", type=int)
    g.add_argument("--val-images", type=int, help="val crops used for validation PSNR (0 = all 100)")
    g.add_argument("--save-every", type=int)
    g.add_argument("--vgg-weights", metavar="PATH|keras-imagenet|random",
                   help="VGG19 of the perceptual loss; default: torchvision's ImageNet weights in both backends "
                        "(downloaded into torch.hub's cache). PATH: a VGG19 .pth, or the .safetensors/.npz of "
                        "convert_weights.py --vgg19 (both backends), or a Keras .h5 (keras). 'keras-imagenet': "
                        "Keras' own ImageNet VGG19 (keras only; caffe preprocessing, NOT comparable with torch). "
                        "'random' is for smoke tests only and makes the perceptual loss meaningless")
    d = p.add_argument_group("several devices or machines (README: Several workers)")
    d.add_argument("--distribute", choices=DISTRIBUTE_MODES, help="keras: tf.distribute strategy: mirrored "
                   "(this machine's GPUs, or its CPU), multiworker (the machines in TF_CONFIG); default none. "
                   "torch: start trains.py with torchrun instead")
    d.add_argument("--cpu-devices", type=int, metavar="N", help="keras, --distribute mirrored without GPUs: "
                   "split the CPU into N logical devices, one replica each (to try distribution out)")
    d.add_argument("--sync-bn", action="store_true", help="several workers or replicas: BatchNorm statistics "
                   "over the whole batch (torch: SyncBatchNorm, CUDA only; keras: synchronized BatchNormalization)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="do not write TensorBoard event files (default: in RUN_DIR/<phase>/tensorboard/)")
    h = p.add_argument_group("hardware")
    h.add_argument("--device", help="torch: cpu, cuda, cuda:1; keras: cpu, gpu (default: GPU when available)")
    h.add_argument("--amp", action="store_true", help="mixed precision (GPU only)")
    x = h.add_mutually_exclusive_group()
    x.add_argument("--xla", action="store_true", help="keras: compile the train step with XLA even on a CPU")
    x.add_argument("--no-xla", action="store_true", help="keras: do not compile the train step with XLA even on "
                   "a GPU (default: XLA only on a GPU, where it is faster)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    from srapp.training import run_training

    defaults = vars(parser.parse_args([]))
    return run_cli(lambda: run_training(args, defaults))


if __name__ == "__main__":
    sys.exit(main())
