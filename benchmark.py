#!/usr/bin/env python3
"""Speed and memory of the paper's x4 architecture in each backend; writes results/speed.md.

The command itself: srapp/commands/benchmark.py (installed as `srgan-benchmark`);
`python benchmark.py --help` lists its options.
"""

import sys

from srapp.commands.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
