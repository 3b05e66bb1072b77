"""The torch-free .pth reader never trusts the file: crafted offsets, sizes and strides, and random damage to a
real checkpoint, end in TorchFileError or in values read from inside the tensor's own storage, never in a
crash, and never in an output file."""

from __future__ import annotations

import collections
import io
import itertools
import multiprocessing
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from srcore.torchfile import TorchFileError, read_torch_file

torch = pytest.importorskip("torch")
rebuild_tensor = pytest.importorskip("torch._utils")._rebuild_tensor_v2

MARKER = np.arange(1000, 1024, dtype=np.float32)  # the storage's values: anything else was read from outside it


class _Storage:
    pass


class _Tensor:
    def __init__(self, offset: object, size: object, stride: object) -> None:
        self.args = (offset, size, stride)

    def __reduce__(self) -> tuple:
        offset, size, stride = self.args
        return rebuild_tensor, (_Storage(), offset, size, stride, False, collections.OrderedDict())


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", MARKER.size)
        return None


def crafted_file(path: Path, offset: object, size: object, stride: object) -> Path:
    """A torch.save-style zip whose one tensor has the given offset, size and stride over MARKER."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({"weight": _Tensor(offset, size, stride)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", MARKER.tobytes())
    return path


def _check(path: Path) -> str:
    try:
        out = read_torch_file(path)
    except TorchFileError:
        return "refused"
    arrays = [v for v in (out.values() if isinstance(out, dict) else []) if isinstance(v, np.ndarray)]
    for a in arrays:
        if a.dtype == np.float32 and a.size and not np.isin(a, MARKER).all():
            raise AssertionError(f"{path.name}: values from outside the storage")
    return "read"


CRAFTED = [(o, sz, st) for o, (sz, st) in itertools.product(
    [0, 3, 23, 24, -1, -4, 10**12, 2**63, True, 1.5, "3"],
    [((4, 6), (6, 1)), ((4, 6), (-6, 1)), ((4, 6), (6, -1)), ((-4, 6), (6, 1)), ((24,), (1,)), ((25,), (1,)),
     ((5, 5), (5, 1)), ((3,), (0,)), ((10**9,), (0,)), ((2, 2), (1,)), ((), ()), ((4, 6), (1, 4)), ((0, 9), (9, 1)),
     ((2**62, 2), (1, 1)), ("x", "y")])]


def _fuzz(folder: str) -> None:
    """Runs in a child process: a segmentation fault there fails the test instead of killing pytest."""
    root = Path(folder)
    results = collections.Counter()
    for i, case in enumerate(CRAFTED):
        results[_check(crafted_file(root / f"crafted{i}.pth", *case))] += 1
    # Random damage to the pickle of a real checkpoint-like file.
    real = root / "real.pth"
    torch.save({"generator": {"w": torch.arange(24, dtype=torch.float32).reshape(4, 6) + 1000,
                              "b": torch.arange(3, dtype=torch.float32) + 1000}}, real)
    with zipfile.ZipFile(real) as z:
        names = z.namelist()
        contents = {n: z.read(n) for n in names}
    pkl = next(n for n in names if n.endswith("data.pkl"))
    rng = np.random.default_rng(0)
    for i in range(400):
        data = bytearray(contents[pkl])
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(len(data))] = rng.integers(256)
        mutated = root / f"mutated{i}.pth"
        with zipfile.ZipFile(mutated, "w") as z:
            for n in names:
                z.writestr(n, bytes(data) if n == pkl else contents[n])
        results[_check(mutated)] += 1
    assert results["refused"] > 0 and sum(results.values()) == len(CRAFTED) + 400


def test_crafted_and_damaged_files_never_crash_or_leak(tmp_path: Path) -> None:
    assert len(CRAFTED) >= 150
    p = multiprocessing.get_context("fork").Process(target=_fuzz, args=(str(tmp_path),))
    p.start()
    p.join(timeout=600)
    assert p.exitcode == 0  # 0: every case refused cleanly or read inside its storage; -11 would be a segfault


def test_the_reader_still_reads_what_torch_writes(tmp_path: Path) -> None:
    path = crafted_file(tmp_path / "ok.pth", 3, (4, 5), (5, 1))
    np.testing.assert_array_equal(read_torch_file(path)["weight"], MARKER[3:23].reshape(4, 5))
    transposed = crafted_file(tmp_path / "t.pth", 0, (6, 4), (1, 6))
    np.testing.assert_array_equal(read_torch_file(transposed)["weight"], MARKER.reshape(4, 6).T)


def test_a_crafted_checkpoint_writes_no_output(tmp_path: Path) -> None:
    from srconvert.convert import convert_checkpoint
    from srcore.errors import UserError

    bad = crafted_file(tmp_path / "bad.pth", -4, (4, 6), (6, 1))
    with pytest.raises(UserError):
        convert_checkpoint(bad, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
