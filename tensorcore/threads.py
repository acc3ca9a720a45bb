"""How many threads tensorcore's own C++ kernels use: ``tc.set_num_threads`` / ``tc.get_num_threads``.

The count applies to the ``cpp`` backend (OpenMP inside ``tensorcore._C``), process-wide, from
every Python thread. It does not change NumPy's BLAS threads (OpenBLAS reads
``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` when NumPy loads) nor PyTorch's: set those through
their own variables or APIs when comparing backends at equal thread counts.

``TENSORCORE_NUM_THREADS`` (a positive integer) sets the starting count when the ``cpp`` backend
loads; without it the count is OpenMP's default (``OMP_NUM_THREADS``, else one per CPU). An
explicit :func:`set_num_threads` wins over both. Without the extension there are no such threads:
the count is stored and applied if the extension appears, and :func:`get_num_threads` returns it.
"""
from __future__ import annotations

import operator
import os

_requested: int | None = None  # the last set_num_threads value, kept for a missing extension


_env_applied = False


def _extension():
    """``tensorcore._C`` (with the environment's count applied on first use), or None."""
    try:
        from . import _C
    except ImportError:
        return None
    if not _env_applied:
        apply_env(_C)
    return _C


def apply_env(C) -> None:
    """Give the extension ``C`` the count from ``TENSORCORE_NUM_THREADS`` unless
    :func:`set_num_threads` chose one; ValueError if the variable is invalid."""
    global _env_applied
    n = num_threads_from_env()
    if n is not None and _requested is None:
        C.set_num_threads(n)
    _env_applied = True


def num_threads_from_env() -> int | None:
    """``TENSORCORE_NUM_THREADS`` as an int, None when unset or blank; ValueError when invalid."""
    value = os.environ.get("TENSORCORE_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"TENSORCORE_NUM_THREADS must be a positive integer, got {value!r}")
    return n


def set_num_threads(n: int) -> None:
    """Use ``n`` (>= 1) threads in tensorcore's C++ kernels from now on, in every Python thread."""
    global _requested
    n = operator.index(n)  # TypeError for floats and strings, like torch.set_num_threads
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _requested = n
    C = _extension()
    if C is not None:
        C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads tensorcore's C++ kernels use now (1 in a build without OpenMP)."""
    C = _extension()
    if C is not None:
        return C.get_num_threads()
    return _requested if _requested is not None else 1
