"""The C++ CPU backend: entries implemented by the pybind11 extension ``tensorcore._C``.

The C++ kernels take compact arrays of exactly the shapes and dtypes they implement and raise on
anything else; the wrappers here are the glue between them and the reference contract
(:mod:`tensorcore.backends.reference`): they compact non-contiguous inputs, fold any number of
batch dimensions into one, and send dtypes the C++ code has no kernel for to the reference.

``TENSORCORE_NUM_THREADS`` (a positive integer), read when the backend loads, sets how many
OpenMP threads the kernels use; :func:`set_num_threads` changes it later.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import reference
from .registry import BackendUnavailable

_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_C = None  # the extension module, once loaded


def _extension():
    """``tensorcore._C``, or :class:`BackendUnavailable` saying why it cannot be imported."""
    global _C
    if _C is None:
        try:
            from .. import _C as ext
        except ImportError as exc:
            raise BackendUnavailable(f"the C++ extension tensorcore._C is not built ({exc}); "
                                     "run `pip install -e .`") from exc
        _C = ext
    return _C


def _compact(x: np.ndarray) -> np.ndarray:
    """``x`` itself when the kernel can read it directly, else a C-contiguous aligned copy."""
    if x.flags.c_contiguous and x.flags.aligned:
        return x
    return np.require(x, requirements=("C", "A"))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)``; batch dims already broadcast to equal shapes.

    float32 / float64 run the C++ kernel (batch dims folded into one). Everything outside that
    contract -- other dtypes (int64), mixed or byte-swapped dtypes, non-NumPy arrays, fewer than two
    dims, batch dims not yet broadcast -- goes to the reference, so results and errors match it.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.dtype != b.dtype \
            or a.dtype not in _NATIVE_DTYPES or not a.dtype.isnative \
            or a.ndim < 2 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        return reference.matmul(a, b)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"tensorcore.backends.cpp.matmul: inner dimensions differ: "
                         f"a is {a.shape}, b is {b.shape}")
    C = _extension()
    a, b = _compact(a), _compact(b)
    if a.ndim <= 3:
        return C.matmul(a, b)
    batch = a.shape[:-2]
    nb = math.prod(batch)  # not -1: reshape cannot infer it when an array is empty
    out = C.matmul(a.reshape(nb, *a.shape[-2:]), b.reshape(nb, *b.shape[-2:]))
    return out.reshape(*batch, *out.shape[-2:])


def set_num_threads(n: int) -> None:
    """Threads the C++ kernels may use, process-wide (no effect in a build without OpenMP)."""
    _extension().set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the C++ kernels may use now."""
    return _extension().get_num_threads()


def _threads_from_env(C) -> None:
    value = os.environ.get("TENSORCORE_NUM_THREADS", "").strip()
    if not value:
        return
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"TENSORCORE_NUM_THREADS must be a positive integer, got {value!r}")
    C.set_num_threads(n)


def kernels() -> dict:
    C = _extension()
    _threads_from_env(C)
    return {"matmul": matmul}
