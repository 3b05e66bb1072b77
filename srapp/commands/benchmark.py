"""Speed and memory of the paper's x4 architecture in each backend; writes results/speed.md.

    python benchmark.py                       # both backends, CPU or GPU as available
    python benchmark.py --backends torch --steps 5 --out results/speed.md
    python benchmark.py --what srresnet --workers 1 2    # training on 1 and on 2 workers
    python benchmark.py --data                # only the data pipeline's rows (--train-dir): throughput, memory

Reports training samples/s (SRResNet-MSE step, SRGAN step; on each number of --workers: torchrun processes,
Keras MirroredStrategy replicas), inference output megapixels/s,
peak resident memory of each measurement's process, and the machine's fp32 matmul GFLOP/s as a
yardstick; and the training data pipeline's rows (srapp.databench): samples/s of 96x96 patches from JPEG and PNG
folders with 0, 1, 2, N data workers, peak memory of a training process and its data workers with 200 and 5,000
images, and the training step's rate fed by data over the bare step's. Each measurement runs in its own
subprocess so peak memory and thread pools are clean.
"""

from __future__ import annotations

import argparse
import sys

from srapp.databench import JPEG_DIR, MEMORY_SIZES, PNG_DIR, default_data_workers, run_data_benchmark, run_data_child
from srcore.errors import run_cli
from srcore.precision import PRECISIONS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", nargs="+", default=["torch", "keras"], choices=("torch", "keras"))
    p.add_argument("--what", nargs="+", default=["srresnet", "srgan", "inference", "data"],
                   choices=("srresnet", "srgan", "inference", "data"))
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
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=PRECISIONS, metavar="P",
                   help="each measurement in each of these precisions (fp32, bf16, fp16 on CUDA, auto; default fp32 "
                        "bf16: the ratio column compares them)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help=argparse.SUPPRESS)  # a child's
    p.add_argument("--out", default="results/speed.md")
    p.add_argument("--child-workers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--child", nargs=2, metavar=("BACKEND", "WHAT"), help=argparse.SUPPRESS)
    data = p.add_argument_group("the data rows (--what data)")
    data.add_argument("--data", action="store_true", help="only the data rows (--what data)")
    data.add_argument("--data-workers", nargs="+", type=int, metavar="N",
                      help="data worker processes of each throughput row (0: in memory; default 0 1 2 and the cores)")
    data.add_argument("--data-jpeg", default=str(JPEG_DIR), metavar="DIR",
                      help=f"a folder of JPEGs for the throughput and loop rows (default {JPEG_DIR})")
    data.add_argument("--data-png", default=str(PNG_DIR), metavar="DIR",
                      help=f"a folder of PNGs for the throughput rows (default {PNG_DIR})")
    data.add_argument("--data-batches", type=int, default=50, metavar="N", help="batches per throughput figure")
    data.add_argument("--data-steps", type=int, default=12, metavar="N",
                      help="fed (and bare) steps per loop figure, in alternating blocks of 4 (default 12)")
    data.add_argument("--data-repeats", type=int, default=3, metavar="N",
                      help="each data figure from this many fresh processes (min / median)")
    data.add_argument("--data-images", nargs=2, type=int, default=MEMORY_SIZES, metavar=("FEW", "MANY"),
                      help="images in the two synthetic folders of the memory rows (default 200 5000)")
    data.add_argument("--data-preset", default="paper", choices=("paper", "quick", "smoke"),
                      help="the SRResNet preset (batch, patch) of the data rows (default paper: 16, 96x96)")
    data.add_argument("--data-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.data:
        args.what = ["data"]
    args.data_workers = args.data_workers or default_data_workers()
    if any(n < 0 for n in args.data_workers) or min(args.data_batches, args.data_steps, args.data_repeats,
                                                     *args.data_images) < 1:
        p.error("--data-workers must be >= 0; --data-batches, --data-steps, --data-repeats, --data-images >= 1")
    if any(n < 1 for n in args.workers):
        p.error("--workers: each number must be >= 1")
    from srapp.benchmarking import run_benchmark

    def run() -> None:
        if args.data_child:
            return run_data_child(args.data_child)
        training = [w for w in args.what if w != "data"]
        if args.child or training:
            run_benchmark(argparse.Namespace(**{**vars(args), "what": training}))
        if "data" in args.what and not args.child:
            run_data_benchmark(args)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
