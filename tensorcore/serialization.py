"""``tensorcore.save`` / ``tensorcore.load``: checkpoints as NumPy ``.npz`` archives, without pickle.

An archive holds one array per tensor (``t0``, ``t1`` …) and a JSON description of the object
around them (``__structure__``, stored as bytes): dicts with ``str`` or ``int`` keys, lists,
tuples, numbers, strings, booleans and ``None`` — what model and optimizer state dicts are made of.
Loading never unpickles (``np.load(allow_pickle=False)``), so a checkpoint cannot run code.

Saving to a path is atomic: the archive goes to a temporary file in the same directory, is
flushed and fsync'ed, then ``os.replace``-d over the target, so a crash mid-save leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import IO, Any, Union

import numpy as np

from . import dtypes
from .device import CPU, Device, check_available, move
from .tensor import Tensor

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

_STRUCTURE = "__structure__"
_FORMAT = "tensorcore-checkpoint"
_VERSION = 1


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON-able description of ``obj``; tensors and arrays go into ``arrays``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.bool_, np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"__tensor__": key, "device": str(obj.device), "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("save: NumPy arrays of Python objects cannot be saved")
        key = f"t{len(arrays)}"
        arrays[key] = obj
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__} ({k!r})")
            items.append([k, _encode(v, arrays)])
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"save: cannot save an object of type {type(obj).__name__}; checkpoints hold tensors, "
                    "arrays, numbers, strings, None and dicts/lists/tuples of them (save a state_dict())")


def _decode(node: Any, archive: Any, map_location: Device | None) -> Any:
    if isinstance(node, list):
        return [_decode(v, archive, map_location) for v in node]
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        array = archive[node["__tensor__"]]
        if array.dtype not in dtypes._BY_NUMPY:
            raise ValueError(f"a tensor is stored with dtype {array.dtype}, which a Tensor cannot hold")
        device = map_location if map_location is not None else Device(node["device"])
        if device.type != "cpu":
            check_available(device, "load")
            array = move(array, CPU, device)
        t = Tensor._wrap(array, device)
        if node["requires_grad"]:
            t.requires_grad = True
        return t
    if "__ndarray__" in node:
        return archive[node["__ndarray__"]]
    if "__tuple__" in node:
        return tuple(_decode(v, archive, map_location) for v in node["__tuple__"])
    return {k: _decode(v, archive, map_location) for k, v in node["__dict__"]}


def _write_archive(f: IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """Write the ``.npz`` archive to the open binary file ``f``."""
    np.savez(f, **arrays)


def save(obj: Any, f: PathOrFile) -> None:
    """Save ``obj`` (typically a ``state_dict()``: nested dicts, lists, numbers and tensors) to a path
    (``str`` or ``os.PathLike``, written atomically) or to a binary file object."""
    arrays: dict[str, np.ndarray] = {}
    structure = {"format": _FORMAT, "version": _VERSION, "object": _encode(obj, arrays)}
    arrays[_STRUCTURE] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    if hasattr(f, "write"):
        _write_archive(f, arrays)  # type: ignore[arg-type]
        return
    path = os.fspath(f)  # type: ignore[arg-type]
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            _write_archive(tmp_file, arrays)
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not every platform lets a directory be opened
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load(f: PathOrFile, map_location: Any = None) -> Any:
    """Load an object written by :func:`save` from a path or binary file object. Tensors return
    to the device they were saved from, or to ``map_location`` (``"cpu"``, ``"cuda"``) when given."""
    name = repr(getattr(f, "name", f)) if hasattr(f, "read") else repr(os.fspath(f))  # type: ignore[arg-type]
    location = Device(map_location) if map_location is not None else None
    if not hasattr(f, "read") and not os.path.exists(os.fspath(f)):  # type: ignore[arg-type]
        raise FileNotFoundError(f"load: no checkpoint file at {name}")
    try:
        archive = np.load(f, allow_pickle=False)  # type: ignore[arg-type]
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("the file holds a single array, not an .npz archive")
        with archive:
            structure = json.loads(bytes(archive[_STRUCTURE]).decode("utf-8"))
            if not isinstance(structure, dict) or structure.get("format") != _FORMAT:
                raise ValueError("the archive does not describe a tensorcore checkpoint")
            if structure.get("version") != _VERSION:
                raise ValueError(f"checkpoint format version {structure.get('version')} is not supported "
                                 f"(this tensorcore reads version {_VERSION})")
            return _decode(structure["object"], archive, location)
    except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise RuntimeError(f"load: {name} is not a valid tensorcore checkpoint or is corrupt "
                           f"({type(exc).__name__}: {exc})") from exc
