"""Speed and memory of the paper's x4 architecture in each backend; writes results/speed.md.

    python benchmark.py                       # both backends, CPU or GPU as available
    python benchmark.py --backends torch --steps 5 --out results/speed.md
    python benchmark.py --what srresnet --workers 1 2    # training on 1 and on 2 workers

Reports training samples/s (SRResNet-MSE step, SRGAN step; on each number of --workers: torchrun processes,
Keras MirroredStrategy replicas), inference output megapixels/s,
peak resident memory of each measurement's process, and the machine's fp32 matmul GFLOP/s as a
yardstick. Each measurement runs in its own subprocess so peak memory and thread pools are clean.
"""

from __future__ import annotations

import argparse
import sys

from srcore.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", nargs="+", default=["torch", "keras"], choices=("torch", "keras"))
    p.add_argument("--what", nargs="+", default=["srresnet", "srgan", "inference"],
                   choices=("srresnet", "srgan", "inference"))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", type=int, default=128, help="LR side of the inference input")
    p.add_argument("--device")
    p.add_argument("--keras-xla", choices=("both", "on", "off"), default="both",
                   help="Keras training step with XLA, without, or both (default both)")
    p.add_argument("--no-xla", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workers", nargs="+", type=int, default=[1], metavar="N",
                   help="training measured on each of these numbers of workers: torch: torchrun processes; keras: "
                        "MirroredStrategy replicas (the local GPUs, or the CPU split into N devices); default 1")
    p.add_argument("--out", default="results/speed.md")
    p.add_argument("--child-workers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--child", nargs=2, metavar=("BACKEND", "WHAT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if any(n < 1 for n in args.workers):
        p.error("--workers: each number must be >= 1")
    from srapp.benchmarking import run_benchmark

    return run_cli(lambda: run_benchmark(args))


if __name__ == "__main__":
    sys.exit(main())
