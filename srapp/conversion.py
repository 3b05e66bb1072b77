"""What convert_weights.py does: one conversion between checkpoint formats, or of torchvision's VGG19."""

from __future__ import annotations

from typing import Any


def run_convert(args: Any) -> None:
    """Convert `args.input` into `args.output` (formats from the names; --vgg19: VGG19 weights) and report it."""
    from pathlib import Path

    from srconvert.convert import convert_checkpoint, convert_vgg19
    from srconvert.export import export_generator, export_kind
    from srcore.errors import UserError
    from srcore.fileio import check_writable

    check_writable(Path(args.output).parent, "OUT")

    if export_kind(args.output) is not None:
        if args.vgg19:
            raise UserError("--vgg19 converts the perceptual loss's weights; they are not exported")
        if args.round_fp16:
            raise UserError("--round-fp16 rounds a checkpoint's weights; an export (.onnx, .tflite) keeps them as "
                            "they are")
        lines = export_generator(args.input, args.output, force=args.force)
    elif args.vgg19:
        if args.round_fp16:
            raise UserError("--round-fp16 rounds a generator checkpoint's weights, not VGG19's")
        lines = convert_vgg19(args.input, args.output, force=args.force)
    else:
        lines = convert_checkpoint(args.input, args.output, force=args.force, generator_only=args.generator_only,
                                   round_fp16=args.round_fp16)
    for line in lines:
        print(line)
