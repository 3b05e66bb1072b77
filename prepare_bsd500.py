#!/usr/bin/env python3
"""Prepare BSDS500 training crops and the BSD100 / Set5 / Set14 benchmarks for SRGAN training.

The command itself: srapp/commands/prepare.py (installed as `srgan-prepare`);
`python prepare_bsd500.py --help` lists its options.
"""

import sys

from srapp.commands.prepare import get_args_parser, main  # noqa: F401  (get_args_parser: for the docs and tests)

if __name__ == "__main__":
    sys.exit(main())
