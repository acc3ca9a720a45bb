"""Fused cross-entropy: log-softmax + negative log-likelihood forward, ``softmax − onehot`` backward.

Forward, ``cross_entropy_forward(X (N, C), target (N,) int64, losses (N,), logp (N, C))``: one block
per row (grid-stride over rows), the ``block`` softmax strategy of :mod:`.softmax` — a shared-memory
max reduction, a sum of ``exp(x − max)``, then ``logp = x − max − log Σ`` written once and thread 0
writes ``losses[row] = −logp[target]``. The ``N×C`` probabilities never exist as a separate array:
``3·N·C`` reads and ``N·C`` writes (plus ``N`` targets and losses), ``N·C`` exponentials. A target
outside ``[0, C)`` gives a NaN loss instead of an out-of-bounds read (the op layer rejects such
targets before launching).

Backward, ``cross_entropy_backward(logp, target, grad_losses (N,), dX (N, C))``: one thread per
element in a grid-stride loop, ``dX[r, j] = (exp(logp[r, j]) − [j == target[r]]) · grad[r]``:
``2·N·C·itemsize`` bytes (read ``logp``, write ``dX``), no reduction, so no shared memory.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .common import block_max, block_sum, exp, isfinite, log, nanmax


def _make_forward(T, NT):
    def cross_entropy_forward(X, target, losses, logp):
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
            lse = log(block_sum(buf, t, s))
            for j in range(t, C, NT):
                logp[row, j] = (X[row, j] - m) - lse
            if t == 0:
                k = target[row]
                losses[row] = -((X[row, k] - m) - lse) if (k >= 0 and k < C) else T(math.nan)
    return cross_entropy_forward


def cross_entropy_backward(logp, target, grad, dx):
    R, C = logp.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, R * C, stride):
        r = i // C
        j = i - r * C
        v = exp(logp[r, j])
        if j == target[r]:
            v -= type(v)(1)
        dx[r, j] = v * grad[r]


def python_forward(dtype, threads: int):
    """The undecorated forward kernel (``threads``: a power of two) for ``cuda.compile_ptx``."""
    return _make_forward(numba.from_dtype(np.dtype(dtype)), threads)


@functools.lru_cache(maxsize=None)
def _forward(dtype: str, threads: int):
    return cuda.jit(python_forward(np.dtype(dtype), threads))


def forward(dtype, threads: int):
    return _forward(np.dtype(dtype).str, threads)


backward = cuda.jit(cross_entropy_backward)


def signatures(dtype) -> tuple[tuple, tuple]:
    """Argument types of the forward and the backward kernel."""
    T = numba.from_dtype(np.dtype(dtype))
    mat, vec = numba.types.Array(T, 2, "C"), numba.types.Array(T, 1, "C")
    tgt = numba.types.Array(numba.int64, 1, "C")
    return (mat, tgt, vec, mat), (mat, tgt, vec, mat)
