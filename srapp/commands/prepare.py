"""Prepare BSDS500 training crops and the BSD100 / Set5 / Set14 benchmarks for SRGAN training.

    python prepare_bsd500.py --source /path/to/BSR_bsds500.tgz --benchmarks /path/to/Set5 /path/to/Set14

Without --source it downloads the official BSR_bsds500.tgz into <out>/downloads/. Re-running with the same
options only checks the existing build. See prepare() in srcore/prepare/build.py for the output layout and rules.
"""

from __future__ import annotations

import argparse
import sys

from srcore.errors import run_cli
from srcore.prepare import ALLOWED_SCALES, prepare


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Prepare BSDS500 256x256 HR crops + bicubic LR images and full-size benchmark sets.",
    )
    parser.add_argument(
        "--source",
        default=None,
        help="BSR_bsds500.tgz, an extracted BSR tree (any level), or a folder with train/ val/ test/ image "
        "folders. Default: reuse a finished build, else download the official tarball into <out>/downloads/",
    )
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    parser.add_argument(
        "--scales", type=int, nargs="+", default=[4], choices=ALLOWED_SCALES, metavar="S",
        help="downscaling factors to write lr_xS/ folders for, from 2 3 4 (default: 4)",
    )
    parser.add_argument(
        "--benchmarks", nargs="+", default=[], metavar="DIR",
        help="extra full-image benchmark folders (e.g. Set5 Set14), each named after its folder",
    )
    parser.add_argument("--crop-size", type=int, default=256,
                        help="HR training crop size (default: 256, the centre crop); 0: whole images, so training's "
                        "random crops see all of each image")
    parser.add_argument("--workers", type=int, default=None, help="worker threads (default: CPU count)")
    parser.add_argument("--verify", action="store_true", help="re-hash outputs when checking an existing build")
    parser.add_argument("--force", action="store_true", help="rebuild even if the existing build is up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or info lines (warnings still shown)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    return run_cli(
        lambda: prepare(source=args.source, out=args.out, scales=args.scales, benchmarks=args.benchmarks,
                        crop_size=args.crop_size, workers=args.workers, quiet=args.quiet, verify=args.verify,
                        force=args.force),
        interrupted="interrupted; the build is unfinished and will be redone on the next run",
    )


if __name__ == "__main__":
    sys.exit(main())
