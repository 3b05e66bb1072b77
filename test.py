"""Score super-resolution on the benchmarks, or super-resolve your own images.

    python test.py --bicubic                            # the bicubic baseline on every prepared set
    python test.py --weights runs/x/srgan/last.pth      # a checkpoint (PyTorch .pth or Keras .weights.h5)
    python test.py --weights runs/x/srgan/last.pth --backend keras   # run it in the other backend
    python test.py --weights CKPT --input photo.jpg --output photo_x4.png
    python test.py --bicubic --metrics psnr          # score with chosen metrics (default: psnr ssim)
"""

from __future__ import annotations

import argparse
import sys

from srcore.arch import SCALES
from srcore.errors import run_cli
from srcore.metrics import DEFAULT_METRICS, METRICS


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", metavar="CKPT", help="checkpoint to score or apply")
    what.add_argument("--bicubic", action="store_true", help="score MATLAB-compatible bicubic upscaling")
    p.add_argument("--backend", choices=("torch", "keras"),
                   help="backend that runs the checkpoint (default: the one that trained it); a checkpoint in "
                        "the other backend's format, or a backend-neutral .safetensors/.npz, is converted in memory")
    p.add_argument("--data", default="data", help="folder written by prepare_bsd500.py (default data/)")
    p.add_argument("--datasets", nargs="+", metavar="NAME", help="benchmark sets (default: every prepared one)")
    p.add_argument("--metrics", nargs="+", metavar="NAME", default=list(DEFAULT_METRICS),
                   help=f"metrics that score every row (default: {' '.join(DEFAULT_METRICS)}; "
                        f"known: {' '.join(METRICS.names())})")
    p.add_argument("--scale", type=int, choices=SCALES,
                   help="scale (bicubic: default 4; a checkpoint: must match its own)")
    p.add_argument("--results-dir", default="runs/results",
                   help="where rows are merged into results.csv and README.md (default runs/results/; the published "
                        "table is results/: pass --results-dir results to add to it)")
    p.add_argument("--no-results", action="store_true", help="print the table only, do not merge rows")
    p.add_argument("--save-images", metavar="DIR", help="also save the SR benchmark images under DIR/<set>/")
    p.add_argument("--input", metavar="IMG_OR_DIR", help="super-resolve this image or folder instead of scoring")
    p.add_argument("--output", metavar="PATH", help="output .png (one image) or folder")
    p.add_argument("--tile", type=int, metavar="N",
                   help="LR tile side for tiled inference (default: 128 for --input, untiled for benchmarks)")
    p.add_argument("--device", help="torch: cpu, cuda, cuda:1; keras: cpu, gpu")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    from srapp.scoring import run_test

    return run_cli(lambda: run_test(args))


if __name__ == "__main__":
    sys.exit(main())
