"""Convert checkpoints between PyTorch, Keras and the backend-neutral format (directions from the file names).

    python convert_weights.py runs/x/srresnet/last.pth last_keras.weights.h5    # PyTorch -> Keras
    python convert_weights.py runs/y/srgan/last.weights.h5 srgan.pth             # Keras -> PyTorch
    python convert_weights.py runs/x/srresnet/last.pth srresnet_x4.safetensors   # -> backend-neutral
    python convert_weights.py srresnet_x4.safetensors srresnet_x4.weights.h5     # neutral -> Keras
    python convert_weights.py --vgg19 vgg19-dcbb9e9d.pth vgg19.safetensors       # torchvision VGG19 -> neutral
    python convert_weights.py srresnet_x4.safetensors srresnet_x4.onnx           # export: ONNX (needs torch)
    python convert_weights.py srresnet_x4.safetensors srresnet_x4.tflite         # export: TFLite (needs Keras)

File types: .pth (PyTorch), NAME.weights.h5 or NAME.json (Keras: NAME.weights.h5, NAME.state.npz and
NAME.json are written), .safetensors or .npz (backend-neutral: torch-layout tensors + the metadata).
The generator and, for SRGAN checkpoints, the discriminator are converted (--generator-only: the generator);
optimizer state is not. The metadata is kept; "trained_backend" records where the weights were trained.
Export (.onnx, .tflite): the generator as an upscaler, float32 [0, 1] in and out (srconvert/export.py; the
README's "Export" section runs the ONNX file with onnxruntime, numpy and Pillow only).
"""

from __future__ import annotations

import argparse
import sys

from srcore.errors import run_cli


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="checkpoint to convert (.pth, .weights.h5/.json, .safetensors, .npz)")
    p.add_argument("output", metavar="OUT", help="file to write; its name picks the format (.onnx, .tflite: export)")
    p.add_argument("--vgg19", action="store_true",
                   help="IN is a torchvision VGG19 state dict (vgg19-dcbb9e9d.pth); OUT a .safetensors/.npz for "
                        "--vgg-weights")
    p.add_argument("--generator-only", action="store_true",
                   help="leave the discriminator out (an SRGAN checkpoint's ~6 MB generator: what inference and "
                        "--pretrained use; how results/weights/ are made)")
    p.add_argument("--round-fp16", action="store_true",
                   help="round every weight to float16 precision (the file stays float32; each weight moves by at "
                        "most 2^-11 of itself, 3e-8 below 6e-5): a warm-restart snapshot that git stores in ~3.6 MB "
                        "instead of ~5.8; not for shipped weights")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    from srapp.conversion import run_convert

    return run_cli(lambda: run_convert(args))


if __name__ == "__main__":
    sys.exit(main())
