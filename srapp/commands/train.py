"""Train SRResNet / SRGAN (Ledig et al. 2017) with the PyTorch or the Keras backend.

    python trains.py --backend torch                    # the whole recipe: SRResNet-MSE, then SRGAN
    python trains.py --backend keras --model srresnet   # phase 1 only
    python trains.py --backend torch --model srgan --pretrained runs/x/srresnet/last.pth
    python trains.py --resume runs/torch_quick_x4       # continue exactly where it stopped
"""

from __future__ import annotations

import argparse
import sys

from srapp.options import add_options
from srcore.errors import run_cli


def get_args_parser() -> argparse.ArgumentParser:
    """Every option is declared once (srapp/options.py: the TrainConfig fields, the architectures' parameters
    and the recipe's own options); the parser is derived from those declarations."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_options(p)


def main(argv: list[str] | None = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    from srapp.training import run_training

    return run_cli(lambda: run_training(args))


if __name__ == "__main__":
    sys.exit(main())
