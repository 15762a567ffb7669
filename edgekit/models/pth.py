"""Read a PyTorch state dict (``.pth``/``.pt``) into numpy arrays, without torch.

Both of torch's file formats are understood: the legacy one (torch < 1.6: a run of pickles followed by
the raw storages) and the zip one (``archive/data.pkl`` plus ``archive/data/<key>``). The pickle is
read by a restricted unpickler that builds only ordered dicts, tensors and storages: any other class
in the file is refused (:class:`~edgekit.errors.ModelError`), so reading a weights file never runs its
code. Tensors come back as read-only-safe copies (``numpy.ndarray``) in the file's key order.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from edgekit.errors import ModelError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "int64": np.int64, "long": np.int64, "int32": np.int32,
    "int": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


class _StorageType:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


class _Storage:
    """A storage named in the pickle; its bytes are attached once the file's data is read."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ModelError(f"storage {self.storage.key} of a tensor is missing from the weights file")
        item = data.itemsize
        end = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1 if self.size else self.offset + 1
        if self.offset < 0 or end > data.size or any(s < 0 for s in self.stride):
            raise ModelError(f"a tensor reaches outside storage {self.storage.key}; the weights file is damaged")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=tuple(s * item for s in self.stride))
        return np.array(view, copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_rest):
    return data


class _Unpickler(pickle.Unpickler):
    """Builds only what a state dict holds; everything else is refused."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and name in _TORCH_DTYPES:
            return _StorageType(_TORCH_DTYPES[name])
        if module == "torch" and name == "UntypedStorage":
            return _StorageType(np.uint8)
        raise ModelError(f"the weights file asks for {module}.{name}, which a state dict does not hold; refusing to read it")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ModelError("the weights file holds an object edgekit cannot read (not a tensor storage)")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise ModelError("the weights file names a storage of an unknown type")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type.dtype, numel)
        return storage


def _tensors(obj, where: Path) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelError(f"{where}: not a state dict (a mapping of names to tensors)")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if isinstance(value, _Tensor):
            out[str(name)] = value.array()
    if not out:
        raise ModelError(f"{where}: the state dict holds no tensors")
    return out


def _read_legacy(raw: bytes, where: Path) -> dict[str, np.ndarray]:
    f = io.BytesIO(raw)
    if pickle.load(f) != _LEGACY_MAGIC:  # plain ints only: safe with the default unpickler
        raise ModelError(f"{where}: not a PyTorch weights file")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info (a dict of plain values)
    storages: dict[str, _Storage] = {}
    result = _Unpickler(f, storages).load()
    keys = _Unpickler(f, storages).load()
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ModelError(f"{where}: storage {key} is listed but never used; the file is damaged")
        head = f.read(8)
        if len(head) != 8:
            raise ModelError(f"{where}: the file ends inside storage {key}; it is truncated")
        (numel,) = struct.unpack("<q", head)
        nbytes = numel * storage.dtype.itemsize
        body = f.read(nbytes)
        if numel != storage.numel or len(body) != nbytes:
            raise ModelError(f"{where}: storage {key} has the wrong size; the file is damaged or truncated")
        storage.data = np.frombuffer(body, dtype=storage.dtype.newbyteorder("<"))
    return _tensors(result, where)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ModelError(f"{path}: a zip file without data.pkl is not a PyTorch weights file")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        result = _Unpickler(io.BytesIO(zf.read(pkl)), storages).load()
        for key, storage in storages.items():
            try:
                body = zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise ModelError(f"{path}: storage {key} is missing from the archive") from None
            storage.data = np.frombuffer(body, dtype=storage.dtype.newbyteorder("<"))
    return _tensors(result, path)


def read_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file, by name, as numpy arrays (no torch needed)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        return _read_legacy(path.read_bytes(), path)
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, struct.error, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__})") from None
