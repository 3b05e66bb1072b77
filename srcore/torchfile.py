"""Read a PyTorch `.pth` file of tensors into numpy arrays without importing torch.

The Keras backend uses this to load torchvision's ImageNet VGG19 (`vgg19-dcbb9e9d.pth`) so that both
backends' perceptual losses use the same weights, without making torch a dependency of Keras runs.

Both of torch.save's formats are understood: the zip archive (torch >= 1.6: `<name>/data.pkl` plus one
raw record per storage) and the older "legacy" stream (magic number, protocol, sys info, the pickle,
the storage keys, then each storage as an int64 element count and its raw bytes). The pickle is read
with an unpickler that resolves only a fixed list of names (tensor rebuilding, storage types,
OrderedDict): like torch.load(weights_only=True), nothing in the file can run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
    """Not a readable tensor file (damaged, another format, or objects other than tensors)."""


class _StorageType:
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)


class _Storage:
    """A lazily filled flat array: the file names storages (in the pickle) before it stores their bytes.

    `parent`: (root storage, element offset) for the legacy format's views into another storage.
    """

    def __init__(self, dtype: np.dtype, numel: int, parent: tuple[_Storage, int] | None = None) -> None:
        self.dtype, self.numel, self.parent = dtype, _count(numel, "storage size"), parent
        self.data: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self.parent is not None:
            root, offset = self.parent
            whole = root.array()
            if _count(offset, "storage offset") + self.numel > whole.size:
                raise TorchFileError("a storage view reaches past the end of its storage")
            flat = whole[offset:offset + self.numel]
        else:
            flat = self.data
        if flat is None:
            raise TorchFileError("a tensor's storage is missing from the file")
        if flat.size != self.numel:
            raise TorchFileError("a storage holds fewer values than the file says")
        return flat


def _count(value: Any, what: str) -> int:
    """A non-negative int from the file, or TorchFileError: offsets, sizes and strides are never trusted."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TorchFileError(f"invalid {what} {value!r} in the file")
    return value


class _LazyTensor:
    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any) -> None:
        if not isinstance(storage, _Storage) or not isinstance(size, tuple | list) \
                or not isinstance(stride, tuple | list) or len(size) != len(stride):
            raise TorchFileError("a tensor record is malformed")
        self.storage, self.offset = storage, _count(offset, "tensor offset")
        self.size = tuple(_count(n, "tensor size") for n in size)
        self.stride = tuple(_count(s, "tensor stride") for s in stride)

    def materialise(self) -> np.ndarray:
        """The tensor's values, read only from inside its storage (checked before any array is made)."""
        flat = self.storage.array()
        if any(n == 0 for n in self.size):
            return np.empty(self.size, flat.dtype)
        elements = int(np.prod(self.size, dtype=object))
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= flat.size:
            raise TorchFileError("a tensor reaches past the end of its storage")
        if elements > flat.size:  # only broadcast (stride-0) views exceed their storage; checkpoints hold none
            raise TorchFileError("a tensor claims more values than its storage holds")
        if not self.size:
            return np.array(flat[self.offset])
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=[s * flat.itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *args: Any) -> _LazyTensor:
    return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data: _LazyTensor, *args: Any) -> _LazyTensor:
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(f, encoding="latin1")  # latin1: old Python-2-era pickles
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise TorchFileError(f"the file contains objects other than tensors ({module}.{name})")
        return fn

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or _ascii(pid[0]) != "storage":
            raise TorchFileError("the file contains objects other than tensors")
        if len(pid) < 5:
            raise TorchFileError("a storage record is malformed")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise TorchFileError(f"unsupported tensor type {storage_type!r}")
        key = _ascii(key)
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        storage = self.storages[key]
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy format: a view into another storage (very old files)
            if not isinstance(view, tuple) or len(view) != 3:
                raise TorchFileError("a storage view record is malformed")
            _view_key, offset, size = view
            return _Storage(storage.dtype, int(size), parent=(storage, int(offset)))
        return storage


def _ascii(x: Any) -> str:
    return x.decode("ascii") if isinstance(x, bytes) else str(x)


def _finish(obj: Any, tensors: bool = True) -> Any:
    """Replace lazy tensors by numpy arrays (None without `tensors`) throughout the loaded containers
    (OrderedDict -> dict)."""
    if isinstance(obj, _LazyTensor):
        return obj.materialise() if tensors else None
    if isinstance(obj, dict):
        return {k: _finish(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v, tensors) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(v, tensors) for v in obj)
    return obj


def _read_zip(path: Path, tensors: bool = True) -> Any:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise TorchFileError("a zip file without data.pkl (not a torch.save file)")
        prefix = pkl[0][: -len("data.pkl")]
        order = "little"
        if f"{prefix}byteorder" in names:
            order = z.read(f"{prefix}byteorder").decode("ascii").strip()
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        if not tensors:  # the storages are separate records: never read them
            return _finish(obj, tensors=False)
        for key, st in storages.items():
            raw = z.read(f"{prefix}data/{key}")
            dtype = st.dtype.newbyteorder("<" if order == "little" else ">")
            st.data = np.frombuffer(raw, dtype=dtype, count=st.numel).astype(st.dtype)
    return _finish(obj)


def _read_legacy(f: BinaryIO, tensors: bool = True) -> Any:
    def load() -> Any:
        return _Unpickler(f, {}).load()

    if load() != LEGACY_MAGIC:
        raise TorchFileError("not a PyTorch file (bad magic number)")
    load()  # protocol version
    sys_info = load()
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    if not tensors:  # the storages follow the pickle: stop before them
        return _finish(obj, tensors=False)
    keys = _Unpickler(f, storages).load()
    if not isinstance(keys, list):
        raise TorchFileError("damaged storage table")
    for key in keys:
        st = storages.get(_ascii(key))
        if st is None:
            raise TorchFileError("damaged storage table")
        count = np.frombuffer(f.read(8), dtype="<i8" if little else ">i8")
        if count.size != 1:
            raise TorchFileError("truncated file")
        n = int(count[0])
        if n != st.numel:
            raise TorchFileError("a storage's size differs from the one its tensors were given")
        dtype = st.dtype.newbyteorder("<" if little else ">")
        raw = f.read(n * dtype.itemsize)
        if len(raw) != n * dtype.itemsize:
            raise TorchFileError("truncated file")
        st.data = np.frombuffer(raw, dtype=dtype).astype(st.dtype)
    return _finish(obj)


def read_torch_file(path: str | Path, tensors: bool = True) -> Any:
    """The object torch.save wrote (dicts, lists, numbers, strings; tensors as numpy arrays).

    `tensors` False: every tensor is None and no tensor data is read (a checkpoint's metadata, cheaply).

    Raises TorchFileError (one line) for anything else: damaged or truncated files, other formats,
    and files that pickle objects other than plain containers and tensors.
    """
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            return _read_zip(p, tensors)
        with open(p, "rb") as f:
            return _read_legacy(f, tensors)
    except TorchFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            zipfile.BadZipFile, UnicodeDecodeError, RecursionError, OverflowError, MemoryError, OSError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TorchFileError(f"not a readable PyTorch tensor file ({detail[:160]})") from None
