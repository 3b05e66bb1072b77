"""Score super-resolution on the benchmarks, or super-resolve your own images.

    python test.py --bicubic                            # the bicubic baseline on every prepared set
    python test.py --weights runs/x/srgan/last.pth      # a checkpoint (PyTorch .pth or Keras .weights.h5)
    python test.py --weights runs/x/srgan/last.pth --backend keras   # run it in the other backend
    python test.py --weights CKPT --input photo.jpg --output photo_x4.png
    python test.py --weights CKPT --input photo.jpg --output photo_x4.png --precision fp32   # exact float32
    python test.py --bicubic --metrics psnr          # score with chosen metrics (default: psnr ssim niqe)
    python test.py --weights CKPT --input photos/ --output out/ --metrics niqe   # NIQE of each output
"""

from __future__ import annotations

import argparse
import sys

from srcore.arch import SCALES
from srcore.errors import run_cli
from srcore.lpips import ALEXNET_FILE
from srcore.metrics import METRICS, SCORE_METRICS
from srcore.precision import INPUT_PRECISION, PRECISIONS


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", metavar="CKPT", help="checkpoint to score or apply")
    what.add_argument("--bicubic", action="store_true", help="score MATLAB-compatible bicubic upscaling")
    p.add_argument("--backend", choices=("torch", "keras"),
                   help="backend that runs the checkpoint (default: the one that trained it); a checkpoint in "
                        "the other backend's format, or a backend-neutral .safetensors/.npz, is converted in memory")
    p.add_argument("--data", default="data", help="folder written by prepare_bsd500.py (default data/)")
    p.add_argument("--datasets", nargs="+", metavar="NAME", help="benchmark sets (default: every prepared one); "
                   "a folder of your own HR photos is scored the same way (LR by MATLAB's bicubic, tiled), with "
                   "bicubic beside it, and printed only (results/ keeps the benchmarks)")
    p.add_argument("--metrics", nargs="+", metavar="NAME",
                   help=f"metrics that score every row (default: {' '.join(SCORE_METRICS)}, and lpips where its "
                        "weights are; known: "
                        f"{', '.join(f'{m} ({METRICS[m].heading})' for m in METRICS)}); with --input: no-reference "
                        "ones printed for each output image (none by default)")
    p.add_argument("--lpips-weights", metavar="PATH",
                   help=f"torchvision's AlexNet ImageNet weights ({ALEXNET_FILE}) for LPIPS (default: torch.hub's "
                        "cache; downloaded there when --metrics asks for lpips)")
    p.add_argument("--scale", type=int, choices=SCALES,
                   help="scale (bicubic: default 4; a checkpoint: must match its own)")
    p.add_argument("--results-dir", default="runs/results",
                   help="where rows are merged into results.csv and README.md (default runs/results/; the published "
                        "table is results/: pass --results-dir results to add to it)")
    p.add_argument("--no-results", action="store_true", help="print the table only, do not merge rows")
    p.add_argument("--save-images", metavar="DIR", help="also save the SR benchmark images under DIR/<set>/")
    p.add_argument("--input", metavar="IMG_OR_DIR", help="super-resolve this image or folder instead of scoring")
    p.add_argument("--output", metavar="PATH", help="output image (its extension chooses the format: .png, .jpg, "
                   ".webp, .bmp, .tif) for one image, or a folder (NAME/ or an existing one)")
    p.add_argument("--force", action="store_true", help="--input: replace outputs that exist (never an input image)")
    p.add_argument("--max-megapixels", type=int, metavar="N",
                   help="--input: the largest output image, in megapixels (default 256, ~0.75 GB)")
    p.add_argument("--tile", type=int, metavar="N",
                   help="LR tile side for tiled inference (default: 128 for --input, untiled for benchmarks)")
    p.add_argument("--device", help="torch: cpu, cuda, cuda:1; keras: cpu, gpu")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="arithmetic of the generator: fp32, bf16, fp16 (CUDA), auto (bf16 where the device has it in "
                        "hardware); default: fp32 when scoring benchmarks (published rows stay exact), "
                        f"{INPUT_PRECISION} for --input too (bf16 is faster, but on Set14 up to 3 grey levels off "
                        "fp32: results/README.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    from srapp.scoring import run_test

    return run_cli(lambda: run_test(args))


if __name__ == "__main__":
    sys.exit(main())
