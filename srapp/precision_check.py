"""The rule for test.py --input's default precision: a precision may be the default only if, on a benchmark set
(Set14), its outputs differ from fp32's by at most 2 grey levels and its PSNR by at most 0.05 dB.

    python -m srapp.precision_check --weights results/weights/srresnet_x4_torch_long.safetensors --dataset Set14

runs the checkpoint as --input does (tiled, 128 LR pixels per tile) in fp32 and in the other precision, and prints
the largest grey-level difference, the two PSNRs and the two times.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from srapp.loading import load_sr_model
from srcore.data import load_benchmark
from srcore.errors import run_cli
from srcore.evaluate import make_sr_function
from srcore.metrics import psnr
from srcore.precision import PRECISIONS

MAX_GREY_LEVELS = 2
MAX_PSNR_DB = 0.05
INPUT_TILE = 128  # srapp.scoring.DEFAULT_TILE: the --input path


def compare(weights: str, dataset: str, data: str = "data", precision: str = "bf16", backend: str | None = None,
            device: str | None = None) -> dict[str, Any]:
    """fp32 against `precision` on `dataset`: max |difference| (grey levels), mean PSNRs, seconds, and the verdict."""
    images = load_benchmark(data, dataset, 4)
    outputs, psnrs, seconds = {}, {}, {}
    for p in ("fp32", precision):
        upscale, meta, _ = load_sr_model(weights, backend, device, None, p)
        scale = meta["scale"]
        sr_fn = make_sr_function(upscale, scale, tile=INPUT_TILE)
        t0 = time.perf_counter()
        outputs[p] = [sr_fn(im.lr) for im in images]
        seconds[p] = time.perf_counter() - t0
        psnrs[p] = float(np.mean([psnr(sr, im.hr, scale) for sr, im in zip(outputs[p], images)]))
    diff = max(int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
               for a, b in zip(outputs["fp32"], outputs[precision]))
    delta = abs(psnrs[precision] - psnrs["fp32"])
    return {"weights": weights, "dataset": dataset, "precision": precision, "max_grey_levels": diff,
            "psnr_fp32": psnrs["fp32"], f"psnr_{precision}": psnrs[precision], "psnr_delta": delta,
            "seconds_fp32": seconds["fp32"], f"seconds_{precision}": seconds[precision],
            "passes": diff <= MAX_GREY_LEVELS and delta <= MAX_PSNR_DB}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", nargs="+", required=True, metavar="CKPT")
    p.add_argument("--dataset", default="Set14")
    p.add_argument("--data", default="data")
    p.add_argument("--precision", default="bf16", choices=[x for x in PRECISIONS if x != "fp32"])
    p.add_argument("--backend", choices=("torch", "keras"))
    p.add_argument("--device")
    args = p.parse_args(argv)

    def run() -> None:
        for w in args.weights:
            print(compare(w, args.dataset, args.data, args.precision, args.backend, args.device), flush=True)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
