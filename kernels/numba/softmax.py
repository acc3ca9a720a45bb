"""Softmax and log-softmax over the last axis of a C-contiguous ``(R, C)`` array, forward and backward.

Two strategies, each built per ``(dtype, threads, log)``:

``block`` (the default, and the one the simulator runs)
    One thread block per row (rows beyond the grid are taken in a grid-stride loop). The block's
    threads stride through the row; partial maxima and sums meet in a shared-memory tree reduction
    (``threads`` slots, ``log2(threads)`` ``syncthreads`` steps; see :mod:`.common`). Suits long rows.

``warp``
    One warp per row, ``WARPS`` rows per block; reductions are ``shfl_xor_sync`` butterflies in
    registers — no shared memory, no ``syncthreads``. Suits short rows (C up to a few thousand), where
    a whole block per row would leave most threads idle. Numba's simulator has no warp shuffles, so
    this variant is covered by the PTX compile check and the GPU tests only.

Cost model (forward): three reads of the row (max, sum of exponentials, output) and one write:
``4·R·C·itemsize`` bytes, ``R·C`` exponentials (``2·R·C`` for softmax, which recomputes them in
the output pass instead of storing them). Backward: two reads of ``y`` and ``dy`` and one write,
``5·R·C·itemsize`` bytes. All memory-bound; the reference for speed is a device-to-device copy.

Numerics match the reference: the row maximum is subtracted first, and a row whose maximum is not
finite (all ``-inf``, or containing ``+inf`` / NaN) is shifted by 0 instead, so ``-inf`` logits give
probability 0 rather than NaN.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .common import WARP, block_max, block_sum, exp, isfinite, log, nanmax, warp_max, warp_sum

WARPS = 4
"""Rows (warps) per block in the ``warp`` variant: 128-thread blocks."""

VARIANTS = ("block", "warp")


def _make_block_forward(T, NT, LOG):
    def softmax_block(X, Y):
        buf = cuda.shared.array(NT, T)
        t = cuda.threadIdx.x
        R, C = X.shape
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            m = T(-math.inf)
            for j in range(t, C, NT):
                m = nanmax(m, X[row, j])
            m = block_max(buf, t, m)
            if not isfinite(m):
                m = T(0)
            s = T(0)
            for j in range(t, C, NT):
                s += exp(X[row, j] - m)
            s = block_sum(buf, t, s)
            if LOG:
                lse = log(s)
                for j in range(t, C, NT):
                    Y[row, j] = (X[row, j] - m) - lse
            else:
                for j in range(t, C, NT):
                    Y[row, j] = exp(X[row, j] - m) / s
    return softmax_block


def _make_block_backward(T, NT, LOG):
    def softmax_backward_block(Yv, G, DX):
        """``dx = y·(dy − Σ dy·y)`` (softmax) or ``dx = dy − exp(y)·Σ dy`` (log-softmax), per row."""
        buf = cuda.shared.array(NT, T)
        t = cuda.threadIdx.x
        R, C = Yv.shape
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            s = T(0)
            for j in range(t, C, NT):
                s += G[row, j] if LOG else G[row, j] * Yv[row, j]
            s = block_sum(buf, t, s)
            for j in range(t, C, NT):
                if LOG:
                    DX[row, j] = G[row, j] - exp(Yv[row, j]) * s
                else:
                    DX[row, j] = Yv[row, j] * (G[row, j] - s)
    return softmax_backward_block


def _make_warp_forward(T, NT, LOG):
    W = NT // WARP

    def softmax_warp(X, Y):
        lane, w = cuda.threadIdx.x % WARP, cuda.threadIdx.x // WARP
        R, C = X.shape
        # `row` is the same for all lanes of a warp, so each shuffle sees a converged warp.
        for row in range(cuda.blockIdx.x * W + w, R, cuda.gridDim.x * W):
            m = T(-math.inf)
            for j in range(lane, C, WARP):
                m = nanmax(m, X[row, j])
            m = warp_max(m)
            if not isfinite(m):
                m = T(0)
            s = T(0)
            for j in range(lane, C, WARP):
                s += exp(X[row, j] - m)
            s = warp_sum(s)
            if LOG:
                lse = log(s)
                for j in range(lane, C, WARP):
                    Y[row, j] = (X[row, j] - m) - lse
            else:
                for j in range(lane, C, WARP):
                    Y[row, j] = exp(X[row, j] - m) / s
    return softmax_warp


def _make_warp_backward(T, NT, LOG):
    W = NT // WARP

    def softmax_backward_warp(Yv, G, DX):
        lane, w = cuda.threadIdx.x % WARP, cuda.threadIdx.x // WARP
        R, C = Yv.shape
        for row in range(cuda.blockIdx.x * W + w, R, cuda.gridDim.x * W):
            s = T(0)
            for j in range(lane, C, WARP):
                s += G[row, j] if LOG else G[row, j] * Yv[row, j]
            s = warp_sum(s)
            for j in range(lane, C, WARP):
                if LOG:
                    DX[row, j] = G[row, j] - exp(Yv[row, j]) * s
                else:
                    DX[row, j] = Yv[row, j] * (G[row, j] - s)
    return softmax_backward_warp


_MAKERS = {
    ("block", False): _make_block_forward, ("block", True): _make_block_backward,
    ("warp", False): _make_warp_forward, ("warp", True): _make_warp_backward,
}


def python(variant: str, backward: bool, dtype, threads: int, log: bool):
    """The undecorated kernel (for ``cuda.compile_ptx``). ``threads`` is the block size: a power of
    two for ``block``, a multiple of 32 for ``warp``."""
    if variant == "warp" and threads % WARP:
        raise ValueError(f"softmax: the warp variant needs a multiple of {WARP} threads, got {threads}")
    if variant == "block" and threads & (threads - 1):
        raise ValueError(f"softmax: the block variant needs a power-of-two block size, got {threads}")
    return _MAKERS[variant, backward](numba.from_dtype(np.dtype(dtype)), threads, log)


@functools.lru_cache(maxsize=None)
def _jitted(variant: str, backward: bool, dtype: str, threads: int, log: bool):
    return cuda.jit(python(variant, backward, np.dtype(dtype), threads, log))


def kernel(variant: str, backward: bool, dtype, threads: int, log: bool):
    """The ``cuda.jit`` kernel. Forward: ``(X, Y)``; backward: ``(Y, dY, dX)``; all ``(R, C)``."""
    return _jitted(variant, backward, np.dtype(dtype).str, threads, log)


def signature(backward: bool, dtype) -> tuple:
    arr = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 2, "C")
    return (arr,) * (3 if backward else 2)


def rows_per_block(variant: str, threads: int) -> int:
    return threads // WARP if variant == "warp" else 1
