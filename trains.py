#!/usr/bin/env python3
"""Train SRResNet / SRGAN (Ledig et al. 2017) with the PyTorch or the Keras backend.

The command itself: srapp/commands/train.py (installed as `srgan-train`);
`python trains.py --help` lists its options.
"""

import sys

from srapp.commands.train import get_args_parser, main  # noqa: F401  (get_args_parser: for the docs and tests)

if __name__ == "__main__":
    sys.exit(main())
