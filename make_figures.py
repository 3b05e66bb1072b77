#!/usr/bin/env python3
"""Draw the figures of results/: training curves from run logs and visual comparisons from shipped weights.

The command itself: srapp/commands/figures.py (installed as `srgan-figures`);
`python make_figures.py --help` lists its options.
"""

import sys

from srapp.commands.figures import get_args_parser, main  # noqa: F401  (get_args_parser: for the docs and tests)

if __name__ == "__main__":
    sys.exit(main())
