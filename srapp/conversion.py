"""What convert_weights.py does: one conversion between checkpoint formats, or of torchvision's VGG19."""

from __future__ import annotations

from typing import Any


def run_convert(args: Any) -> None:
    """Convert `args.input` into `args.output` (formats from the names; --vgg19: VGG19 weights) and report it."""
    from srconvert.convert import convert_checkpoint, convert_vgg19

    convert = convert_vgg19 if args.vgg19 else convert_checkpoint
    for line in convert(args.input, args.output, force=args.force):
        print(line)
