"""Reader and writer for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the elements in C order, big-endian. MNIST's images are type 0x08
(uint8) with 3 dimensions (magic 2051), its labels uint8 with 1 dimension (magic 2049).

This module also holds the exception classes of :mod:`tensorcore.data.datasets`, because every
other module of the package depends on it.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "CorruptFileError",
    "DownloadError",
    "IDX_DTYPES",
    "parse_idx",
    "read_idx",
    "write_idx",
]


class DatasetError(RuntimeError):
    """Base class of every error raised while finding, reading or downloading a dataset."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset file is missing (and ``download=False``)."""


class CorruptFileError(DatasetError, ValueError):
    """A dataset file exists but is truncated, has a wrong header or is not valid gzip."""


class DownloadError(DatasetError):
    """Every mirror failed for a file; the message lists each URL and what went wrong."""


#: IDX type code -> big-endian NumPy dtype of the elements.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path, head: bytes) -> bool:
    return path.suffix == ".gz" or head[:2] == _GZIP_MAGIC


def parse_idx(buffer: bytes, name: str = "<buffer>", expected_ndim: int | None = None,
              expected_dtype: np.dtype | str | None = None) -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into a native-endian, writable array.

    ``name`` is the file name used in error messages. ``expected_ndim`` / ``expected_dtype``
    check the header (e.g. 3 and ``uint8`` for MNIST images). Raises :class:`CorruptFileError` on a
    bad magic number, a header that is cut short, or a payload shorter or longer than the header
    announces (the message gives expected and actual byte counts).
    """
    size = len(buffer)
    if size < 4:
        raise CorruptFileError(f"{name}: not an IDX file: only {size} bytes, expected at least a "
                               f"4-byte magic number")
    b0, b1, code, ndim = buffer[0], buffer[1], buffer[2], buffer[3]
    magic = int.from_bytes(buffer[:4], "big")
    if b0 != 0 or b1 != 0 or code not in IDX_DTYPES or ndim == 0:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise CorruptFileError(
            f"{name}: bad IDX magic number 0x{magic:08x} ({magic}): expected 0x0000 then a type code "
            f"({known}) and a dimension count >= 1, e.g. 2051 for images or 2049 for labels")
    dtype = IDX_DTYPES[code]
    if expected_ndim is not None and ndim != expected_ndim:
        raise CorruptFileError(f"{name}: IDX magic number {magic} announces {ndim} dimensions, "
                               f"expected {expected_ndim} (magic {0x0800 + expected_ndim} for uint8)")
    if expected_dtype is not None and dtype.newbyteorder("=") != np.dtype(expected_dtype):
        raise CorruptFileError(f"{name}: IDX type code 0x{code:02x} ({dtype.newbyteorder('=')}), "
                               f"expected {np.dtype(expected_dtype)}")
    header = 4 + 4 * ndim
    if size < header:
        raise CorruptFileError(f"{name}: truncated IDX header: expected {header} bytes for "
                               f"{ndim} dimensions, got {size}")
    shape = tuple(int.from_bytes(buffer[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if size < expected:
        raise CorruptFileError(f"{name}: truncated IDX file: header announces shape {shape} of "
                               f"{dtype.newbyteorder('=')} = {expected} bytes, file has {size} bytes")
    if size > expected:
        raise CorruptFileError(f"{name}: IDX file longer than its header says: shape {shape} of "
                               f"{dtype.newbyteorder('=')} = {expected} bytes, file has {size} bytes")
    arr = np.frombuffer(buffer, dtype=dtype, count=count, offset=header).reshape(shape)
    # astype copies: the result is writable, native-endian and owns its memory.
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike, expected_ndim: int | None = None,
             expected_dtype: np.dtype | str | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed (by ``.gz`` suffix or gzip magic bytes).

    Returns a native-endian NumPy array with the shape from the header. Errors:
    :class:`DatasetNotFoundError` if the file does not exist; :class:`CorruptFileError` (naming the
    file) for corrupt gzip data, a bad magic number or a truncated payload.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetNotFoundError(f"IDX file not found: {path}") from None
    if _is_gzip(path, raw):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise CorruptFileError(f"{path}: corrupt gzip data ({type(exc).__name__}: {exc}); "
                                   f"delete the file and download it again") from exc
    return parse_idx(raw, str(path), expected_ndim, expected_dtype)


def write_idx(path: PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64. Returns the path.
    """
    path = Path(path)
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"write_idx: unsupported dtype {arr.dtype}; expected one of "
                        f"{sorted(str(d) for d in _CODES)}")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got {arr.ndim}")
    header = bytes([0, 0, _CODES[native], arr.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[_CODES[native]]).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    path.write_bytes(payload)
    return path
