"""Draw the figures of results/: training curves from run logs and visual comparisons from shipped weights.

    python make_figures.py                       # results/curves_*.png, results/comparison_<backend>.png
    python make_figures.py --data data --images Set14/baboon BSD100/8023
    python make_figures.py --images Set14/baboon my_photos/cat      # my_photos/cat.jpg: one's own HR photo
"""

from __future__ import annotations

import argparse
import sys

from srcore.errors import run_cli

DEFAULT_IMAGES = ["Set14/baboon", "Set14/comic", "BSD100/8023", "BSD100/253027"]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logs", default="results/logs", help="folder of <model>_x4_<backend>_quick.jsonl training logs "
                   "(default results/logs)")
    p.add_argument("--weights", default="results/weights", help="folder of the shipped .npz generators "
                   "(default results/weights)")
    p.add_argument("--data", default="data", help="folder written by prepare_bsd500.py with Set14 (default data/)")
    p.add_argument("--images", nargs="+", default=DEFAULT_IMAGES, metavar="SET/NAME",
                   help="images of the visual comparison: a prepared benchmark's (SET/NAME) or a photo of a folder "
                   "of one's own HR photos (FOLDER/NAME, its LR made as test.py --datasets FOLDER does) (default "
                   f"{' '.join(DEFAULT_IMAGES)})")
    p.add_argument("--out", default="results", help="where the PNG files go (default results/)")
    p.add_argument("--device", help="torch: cpu, cuda; keras: cpu, gpu")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    from srapp.figures import run_figures

    def work() -> None:
        for path in run_figures(args):
            print(f"wrote {path}")

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
