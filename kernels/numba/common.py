"""Pieces shared by the Numba-CUDA kernels: scalar math, NaN-aware max/min, block-wide reductions.

Scalar math goes through the names here, not ``math`` directly: on the GPU they are ``math.exp`` &c.
(Numba lowers them to libdevice; ``exp`` of a float32 stays float32), but under Numba's CUDA
simulator kernels run as Python on NumPy scalars, where ``math.exp(1000.0)`` raises OverflowError
and ``math.log(0.0)`` raises ValueError. NumPy's functions give the IEEE answers the GPU gives
(``inf``, ``-inf``, ``nan``), so the simulator uses them instead.

Constants inside kernels are written ``T(0.5)`` with ``T = type(x)`` (or a closed-over Numba type):
a bare ``0.5`` is a float64 and would silently promote float32 arithmetic to float64.
"""
from __future__ import annotations

import math
from typing import Callable

import numba
import numpy as np
from numba import config, cuda

SIMULATED = bool(config.ENABLE_CUDASIM)
"""True when ``numba.cuda`` is the simulator in this process (fixed when numba is first imported)."""

if SIMULATED:
    exp, log, sqrt, tanh, isfinite = np.exp, np.log, np.sqrt, np.tanh, np.isfinite
else:
    exp, log, sqrt, tanh, isfinite = math.exp, math.log, math.sqrt, math.tanh, math.isfinite

WARP = 32
FULL_MASK = 0xFFFFFFFF


@cuda.jit(device=True)
def nanmax(a, b):
    """``max`` that propagates NaN like ``numpy.maximum`` (``a`` wins if it is NaN, else ``b`` if NaN)."""
    return a if (a > b or a != a) else b


@cuda.jit(device=True)
def nanmin(a, b):
    return a if (a < b or a != a) else b


@cuda.jit(device=True)
def add(a, b):
    return a + b


def _block_reduce(combine):
    """A block-wide reduction with ``combine`` through the shared array ``buf`` (one slot per thread,
    a power of two long); every thread gets the result. ``log2(len(buf))`` steps, each a
    ``syncthreads``; ``buf`` is free for reuse when it returns."""
    @cuda.jit(device=True)
    def block_reduce(buf, t, v):
        buf[t] = v
        cuda.syncthreads()
        s = buf.shape[0] // 2
        while s > 0:
            if t < s:
                buf[t] = combine(buf[t], buf[t + s])
            cuda.syncthreads()
            s //= 2
        total = buf[0]
        cuda.syncthreads()
        return total
    return block_reduce


def _warp_reduce(combine):
    """A butterfly reduction with ``combine`` over the 32 lanes of a warp (``shfl_xor_sync``); every
    lane gets the result. Registers only, no shared memory, no ``syncthreads``. Not available under
    the simulator."""
    @cuda.jit(device=True)
    def warp_reduce(v):
        off = WARP // 2
        while off > 0:
            v = combine(v, cuda.shfl_xor_sync(FULL_MASK, v, off))
            off //= 2
        return v
    return warp_reduce


block_sum, block_max, block_min = _block_reduce(add), _block_reduce(nanmax), _block_reduce(nanmin)
warp_sum, warp_max = _warp_reduce(add), _warp_reduce(nanmax)


class KernelFamily:
    """Kernels of one module, each built per float dtype by a factory ``make(T) -> function``.

    Shared and local arrays and constants like ``T(0)`` need the element type at compile time, so a
    kernel is a closure over its Numba type ``T``. ``python(kind, dtype)`` is the plain function (what
    ``cuda.compile_ptx`` takes); ``kernel(kind, dtype)`` the ``cuda.jit`` kernel, built once per pair
    and compiled on its first launch.
    """

    def __init__(self, op: str, makers: dict[str, Callable]) -> None:
        self.op = op
        self.kinds: tuple[str, ...] = tuple(makers)
        self._makers = dict(makers)
        self._jitted: dict[tuple[str, str], Callable] = {}

    def check(self, kind: str) -> None:
        if kind not in self._makers:
            raise ValueError(f"{self.op}: unknown kernel {kind!r}; expected one of {self.kinds}")

    def python(self, kind: str, dtype) -> Callable:
        """The undecorated kernel ``kind`` for ``dtype`` (float32 or float64)."""
        self.check(kind)
        return self._makers[kind](numba.from_dtype(np.dtype(dtype)))

    def kernel(self, kind: str, dtype) -> Callable:
        """The ``cuda.jit`` kernel ``kind`` for ``dtype``."""
        key = (kind, np.dtype(dtype).str)
        if key not in self._jitted:
            self._jitted[key] = cuda.jit(self.python(kind, dtype))
        return self._jitted[key]
