"""Reductions along one run of adjacent axes: ``sum``, ``mean``, ``max``, ``min``.

Any reduction over adjacent axes of a C-contiguous array is one of two shapes once the axes before
and after the run are folded: ``(R, C)`` reduced along its last axis, or ``(O, R, I)`` reduced along
its middle axis (the batch axis of a bias gradient: ``(N, F)`` is ``(1, N, F)``).

``reduce_last_axis`` — ``(R, C) -> (R, S)``: one block per ``chunk`` of a row (grid-stride over the
``R·S`` chunks); each thread folds a strided slice of its chunk (``j = t, t + threads, …``: a warp
reads 32 consecutive elements per step, coalesced) into a register, then the block combines the
partials in a shared-memory tree (``threads`` slots, ``log2(threads)`` ``syncthreads`` steps) and
thread 0 writes ``out[row, s]``. With many rows ``S = 1`` and that is the answer. With few long rows
(a full reduction is one row) one block a row would leave the GPU idle, so the glue splits each row
into ``S`` chunks and reduces the ``(R, S)`` partials with the same kernel: two launches, and the
second reads only ``R·S`` values.

``reduce_middle_axis`` — ``(O, R, I) -> (O, I)``: a block of ``32 × 8`` threads owns 32 adjacent
outputs ``i`` of one ``o`` (grid-stride over ``o``). Thread ``(tx, ty)`` folds ``X[o, ty::8, i]``, so a
warp reads 32 consecutive elements of one row — coalesced, where one thread per output walking its
column would be too, but with 8 times fewer threads in flight for a short ``O·I`` (a bias gradient
has a few hundred outputs and tens of thousands of rows). The 8 partials of a column meet in a
``8 × 32`` shared array and thread ``ty = 0`` writes the result.

Cost, both: every input element read once (``O·R·I`` reads, coalesced), one write per output, one
add or compare per element; memory-bound. ``max`` / ``min`` propagate NaN as NumPy does. The tree
sums in a different order from NumPy's pairwise summation; both are ``O(log n)``-accurate. Integer
dtypes and non-adjacent axes are left to the reference (CuPy's reductions).
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .common import SIMULATED, add, block_max, block_min, block_sum, nanmax, nanmin

KINDS = ("sum", "mean", "max", "min")


# What each kind folds with, starts from, and reduces a block with (a mean is a sum, divided at the end).
_COMBINE = {"sum": add, "mean": add, "max": nanmax, "min": nanmin}
_IDENTITY = {"sum": 0.0, "mean": 0.0, "max": -math.inf, "min": math.inf}
_BLOCK = {"sum": block_sum, "mean": block_sum, "max": block_max, "min": block_min}


def _make(T, NT, KIND):
    combine, block, INIT, MEAN = _COMBINE[KIND], _BLOCK[KIND], _IDENTITY[KIND], KIND == "mean"

    def reduce_last_axis(X, out, chunk):
        buf = cuda.shared.array(NT, T)
        t = cuda.threadIdx.x
        R, C = X.shape
        S = out.shape[1]
        for b in range(cuda.blockIdx.x, R * S, cuda.gridDim.x):
            row = b // S
            lo = (b - row * S) * chunk
            hi = min(lo + chunk, C)
            acc = T(INIT)
            for j in range(lo + t, hi, NT):
                acc = combine(acc, X[row, j])
            acc = block(buf, t, acc)
            if MEAN:
                acc = acc / T(C)      # a mean's partials are divided by the whole row: they then add up
            if t == 0:
                out[row, b - row * S] = acc
    return reduce_last_axis


MIDDLE_BLOCK = (8, 4) if SIMULATED else (32, 8)
"""``(x, y)`` threads of ``reduce_middle_axis``: 32 adjacent outputs, 8 partial folds of each (8 and 4
under the simulator, where every thread is a Python thread; the logic is the same)."""


def _make_middle(T, KIND):
    combine, INIT, MEAN = _COMBINE[KIND], _IDENTITY[KIND], KIND == "mean"
    WX, RY = MIDDLE_BLOCK
    SHARED = (RY, WX)

    def reduce_middle_axis(X, out):
        buf = cuda.shared.array(SHARED, T)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        O, R, I = X.shape
        i = cuda.blockIdx.x * WX + tx
        for o in range(cuda.blockIdx.y, O, cuda.gridDim.y):
            acc = T(INIT)
            if i < I:
                for r in range(ty, R, RY):
                    acc = combine(acc, X[o, r, i])
            buf[ty, tx] = acc
            cuda.syncthreads()
            if ty == 0 and i < I:
                for k in range(1, RY):
                    acc = combine(acc, buf[k, tx])
                if MEAN:
                    acc = acc / T(R)
                out[o, i] = acc
            cuda.syncthreads()     # buf is rewritten for the next o
    return reduce_middle_axis


def python(kind: str, dtype, threads: int):
    """The undecorated kernel ``(X (R, C), out (R, S), chunk)`` for ``cuda.compile_ptx``; ``threads`` is a
    power of two."""
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
    return numba.types.Array(T, 2, "C"), numba.types.Array(T, 2, "C"), numba.int64


def python_middle(kind: str, dtype):
    """The undecorated ``reduce_middle_axis`` kernel ``(X (O, R, I), out (O, I))`` for ``cuda.compile_ptx``."""
    if kind not in KINDS:
        raise ValueError(f"reduction: unknown kind {kind!r}; expected one of {KINDS}")
    return _make_middle(numba.from_dtype(np.dtype(dtype)), kind)


@functools.lru_cache(maxsize=None)
def _jitted_middle(kind: str, dtype: str):
    return cuda.jit(python_middle(kind, np.dtype(dtype)))


def kernel_middle(kind: str, dtype):
    return _jitted_middle(kind, np.dtype(dtype).str)


def signature_middle(dtype) -> tuple:
    T = numba.from_dtype(np.dtype(dtype))
    return numba.types.Array(T, 3, "C"), numba.types.Array(T, 2, "C")
