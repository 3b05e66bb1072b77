#!/usr/bin/env python3
"""Score super-resolution on the benchmarks, or super-resolve your own images.

The command itself: srapp/commands/test.py (installed as `srgan-test`);
`python test.py --help` lists its options.
"""

import sys

from srapp.commands.test import get_args_parser, main  # noqa: F401  (get_args_parser: for the docs and tests)

if __name__ == "__main__":
    sys.exit(main())
