"""Reductions along the last axis of a C-contiguous ``(R, C)`` array: ``sum``, ``mean``, ``max``, ``min``.

One block per row (grid-stride over rows); each thread folds a strided slice of the row
(``j = t, t + threads, …``: a warp reads 32 consecutive elements per step, coalesced) into a
register, then the block combines the partials in a shared-memory tree (``threads`` slots,
``log2(threads)`` ``syncthreads`` steps) and thread 0 writes ``out[row]``. Cost: ``R·C`` reads,
``R`` writes, ``R·C`` adds or compares; memory-bound. ``max`` / ``min`` propagate NaN as NumPy does.

Reductions over other axes, or of integer arrays, are left to the reference (CuPy's reductions).
The tree sums in a different order from NumPy's pairwise summation; both are ``O(log C)``-accurate.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .common import block_max, block_min, block_sum, nanmax, nanmin

KINDS = ("sum", "mean", "max", "min")


def _make(T, NT, KIND):
    K = KINDS.index(KIND)

    def reduce_last_axis(X, out):
        buf = cuda.shared.array(NT, T)
        t = cuda.threadIdx.x
        R, C = X.shape
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            if K <= 1:
                acc = T(0)
                for j in range(t, C, NT):
                    acc += X[row, j]
                acc = block_sum(buf, t, acc)
                if K == 1:
                    acc = acc / T(C)
            elif K == 2:
                acc = T(-math.inf)
                for j in range(t, C, NT):
                    acc = nanmax(acc, X[row, j])
                acc = block_max(buf, t, acc)
            else:
                acc = T(math.inf)
                for j in range(t, C, NT):
                    acc = nanmin(acc, X[row, j])
                acc = block_min(buf, t, acc)
            if t == 0:
                out[row] = acc
    return reduce_last_axis


def python(kind: str, dtype, threads: int):
    """The undecorated kernel ``(X (R, C), out (R,))`` for ``cuda.compile_ptx``; ``threads`` is a power of two."""
    if kind not in KINDS:
        raise ValueError(f"reduction: unknown kind {kind!r}; expected one of {KINDS}")
    return _make(numba.from_dtype(np.dtype(dtype)), threads, kind)


@functools.lru_cache(maxsize=None)
def _jitted(kind: str, dtype: str, threads: int):
    return cuda.jit(python(kind, np.dtype(dtype), threads))


def kernel(kind: str, dtype, threads: int):
    return _jitted(kind, np.dtype(dtype).str, threads)


def signature(dtype) -> tuple:
    T = numba.from_dtype(np.dtype(dtype))
    return numba.types.Array(T, 2, "C"), numba.types.Array(T, 1, "C")
