#!/usr/bin/env python3
"""Convert checkpoints between PyTorch, Keras and the backend-neutral format (directions from the file names).

The command itself: srapp/commands/convert.py (installed as `srgan-convert`);
`python convert_weights.py --help` lists its options.
"""

import sys

from srapp.commands.convert import get_args_parser, main  # noqa: F401  (get_args_parser: for the docs and tests)

if __name__ == "__main__":
    sys.exit(main())
