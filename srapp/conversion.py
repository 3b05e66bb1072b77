"""What convert_weights.py does: one conversion between checkpoint formats, or of torchvision's VGG19."""

from __future__ import annotations

from typing import Any


def run_convert(args: Any) -> None:
    """Convert `args.input` into `args.output` (formats from the names; --vgg19: VGG19 weights) and report it."""
    from pathlib import Path

    from srconvert.convert import convert_checkpoint, convert_vgg19
    from srcore.fileio import check_writable

    check_writable(Path(args.output).parent, "OUT")

    if args.vgg19:
        lines = convert_vgg19(args.input, args.output, force=args.force)
    else:
        lines = convert_checkpoint(args.input, args.output, force=args.force, generator_only=args.generator_only)
    for line in lines:
        print(line)
