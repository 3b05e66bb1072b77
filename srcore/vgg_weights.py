"""Where the perceptual losses' VGG19 gets its weights: the `--vgg-weights` policy of both backends.

`resolve_vgg_weights` turns the option into a decision (`VggWeights`), `ensure_vgg_weights` makes its file
available (downloading torchvision's ImageNet VGG19 into torch.hub's cache if needed, no torch needed),
`vgg19_file` is the file a backend then loads. The messages are here too, so both backends say the same.
Never a silent fallback to random weights: "random" is only ever what the user asked for, and warns loudly.
The backends keep only turning arrays into their layers, and Keras its own "keras-imagenet" file.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from srcore.errors import UserError
from srcore.fileio import atomic_path
from srcore.vgg19 import NO_DOWNLOAD, VGG19_SHA256_PREFIX, VGG19_URL, vgg19_cache_path

IMAGENET = "imagenet"  # torchvision's ImageNet VGG19, in torch.hub's cache: the default of both backends
RANDOM = "random"  # random weights: smoke tests only
KERAS_IMAGENET = "keras-imagenet"  # Keras' own ImageNet VGG19 (caffe input): only the Keras backend has it
KINDS = (IMAGENET, "file", RANDOM, KERAS_IMAGENET)


@dataclass(frozen=True)
class VggWeights:
    """What a `--vgg-weights` value asks for: `kind` (one of KINDS) and, for "imagenet" and "file", the file."""

    kind: str
    path: Path | None = None


def resolve_vgg_weights(weights: str | None) -> VggWeights:
    """None or "imagenet": torchvision's ImageNet file (torch.hub's cache); "random"; "keras-imagenet"; else a path."""
    if weights is None or weights == IMAGENET:
        return VggWeights(IMAGENET, vgg19_cache_path())  # read now: $TORCH_HOME decides the cache
    if weights in (RANDOM, KERAS_IMAGENET):
        return VggWeights(weights)
    return VggWeights("file", Path(weights))


def how_to_supply(files: str, more: str = "") -> str:
    """The ways around a missing download; `files` says which local files the backend reads, `more` any other."""
    return ("either allow that download (or copy the file there yourself), or pass --vgg-weights PATH to a local "
            f"{files}{more}; {NO_DOWNLOAD}")


def ensure_vgg_weights(weights: str | None, how: str) -> VggWeights:
    """Resolve `weights` and make its file available (UserError if it cannot be; `how`: see how_to_supply).

    A local file must exist; torchvision's ImageNet file is downloaded if missing; "random" needs nothing;
    "keras-imagenet" is left to the caller (Keras' own file, in Keras' cache).
    """
    choice = resolve_vgg_weights(weights)
    if choice.kind == "file" and not choice.path.is_file():  # type: ignore[union-attr]
        raise UserError(f"--vgg-weights {weights}: no such file")
    if choice.kind == IMAGENET:
        ensure_imagenet_vgg19(how)
    return choice


def ensure_imagenet_vgg19(how: str) -> Path:
    """torchvision's ImageNet VGG19 in torch.hub's cache (shared by both backends), downloaded if missing."""
    target = vgg19_cache_path()
    if target.is_file():
        return target
    print(f"downloading torchvision's VGG19 ImageNet weights (548 MB) for the perceptual loss to {target}",
          file=sys.stderr)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # inside: an unwritable cache is the same message
        download(VGG19_URL, target, VGG19_SHA256_PREFIX)  # a module-level lookup, so tests can stub it
    except Exception as e:  # noqa: BLE001 - any network/disk/hash failure means the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot get the VGG19 ImageNet weights for the perceptual loss: downloading {VGG19_URL} "
                        f"to {target} failed ({reason}); {how}") from None
    return target


def download(url: str, target: Path, sha256_prefix: str) -> None:
    """`url` into `target`, kept only if its SHA-256 starts with `sha256_prefix` (torch.hub's convention).

    Written under a temporary name and renamed when complete and checked: an interrupted or corrupt
    download never leaves a file that a later run would take for the weights.
    """
    digest = hashlib.sha256()
    with atomic_path(target) as part:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                      file=sys.stderr) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if not digest.hexdigest().startswith(sha256_prefix):
            raise ValueError(f"the downloaded file's SHA-256 does not start with the published {sha256_prefix}; "
                             "not kept, try again")


def vgg19_file(choice: VggWeights, how: str) -> Path:
    """The file of an "imagenet" or "file" choice, which ensure_vgg_weights must have made available."""
    path = choice.path
    if path is None or not path.is_file():
        raise UserError(f"the VGG19 weights for the perceptual loss are not at {path or choice.kind}; run "
                        f"check_vgg_available first (trains.py does), which downloads {VGG19_URL}, or {how}")
    return path


def warn_random_weights() -> None:
    """The loud warning of every VGG19 built with random weights."""
    bar = "!" * 78
    print(f"{bar}\nWARNING: VGG19 with RANDOM weights (--vgg-weights random): the perceptual loss is "
          f"meaningless.\nUse this for smoke tests only; results are not SRGAN.\n{bar}", file=sys.stderr, flush=True)
