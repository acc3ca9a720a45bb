"""Elementwise kernels, each generated from one scalar Python function.

:func:`unary` and :func:`binary` take a scalar function, compile it as a device function
(``cuda.jit(device=True)``) and wrap it in 1-D grid-stride kernels over flat C-contiguous arrays::

    neg = unary("neg", lambda x: -x)
    out[i] = f(x[i])            for i = grid(1), grid(1) + gridsize(1), ...

Binary functions get two kernels: ``contiguous`` for operands of the output's shape, and
``broadcast``, which takes the output shape and each operand's element strides as tuples (0 along a
broadcast axis; passed by value in the launch parameters, no copy) and unravels the flat index, so
a ``(N, C) + (C,)`` bias add reads the ``(C,)`` operand in place instead of materializing it.

Cost model: memory-bound. ``contiguous`` reads each operand once and writes the output once —
``(arity + 1)·n·itemsize`` bytes, coalesced, the same traffic as a device copy of that size; the
arithmetic is a few FLOPs (a libdevice call for ``exp``/``log``/``tanh``). ``broadcast`` adds an
integer div/mod per output axis per element, and its broadcast operand is mostly served from cache.
No shared memory; a handful of registers.

Constants in the scalar functions are written ``T(c)`` with ``T = type(x)`` so float32 stays float32
(a bare ``0.5`` is a float64 to Numba). Math goes through :mod:`.common`'s names so the simulator
gives the GPU's ``inf`` / ``nan`` instead of Python exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from numba import cuda

from . import common


@dataclass(frozen=True)
class Elementwise:
    """A generated elementwise kernel family: ``scalar`` is the Python function it was built from."""

    name: str
    arity: int
    scalar: Callable
    device: Callable
    kernels: dict      # kernel kind ("contiguous", "broadcast") -> (python function, cuda.jit kernel)

    def python(self, kind: str = "contiguous") -> Callable:
        return self.kernels[kind][0]

    def kernel(self, kind: str = "contiguous"):
        return self.kernels[kind][1]

    def signature(self, dtype, kind: str = "contiguous", ndim: int = 2) -> tuple:
        """Argument types for ``cuda.compile_ptx`` (``ndim``: the output rank, ``broadcast`` only)."""
        vec = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 1, "C")
        if kind == "contiguous":
            return (vec,) * (self.arity + 1)
        dims = numba.types.UniTuple(numba.int64, ndim)
        return (vec,) * (self.arity + 1) + (dims,) * (self.arity + 1)


def unary(name: str, fn: Callable) -> Elementwise:
    """``out[i] = fn(x[i])`` over flat arrays, one grid-stride kernel."""
    f = cuda.jit(device=True)(fn)

    def contiguous(x, out):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = f(x[i])

    contiguous.__name__ = f"{name}_contiguous"
    return Elementwise(name, 1, fn, f, {"contiguous": (contiguous, cuda.jit(contiguous))})


def binary(name: str, fn: Callable) -> Elementwise:
    """``out = fn(a, b)`` elementwise: a kernel for operands of the output's shape and one that
    broadcasts through strides."""
    f = cuda.jit(device=True)(fn)

    def contiguous(a, b, out):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = f(a[i], b[i])

    def broadcast(a, b, out, shape, a_strides, b_strides):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            rem = i
            ia = 0
            ib = 0
            for d in range(len(shape) - 1, -1, -1):
                q = rem // shape[d]
                k = rem - q * shape[d]
                rem = q
                ia += k * a_strides[d]
                ib += k * b_strides[d]
            out[i] = f(a[ia], b[ib])

    contiguous.__name__ = f"{name}_contiguous"
    broadcast.__name__ = f"{name}_broadcast"
    return Elementwise(name, 2, fn, f, {"contiguous": (contiguous, cuda.jit(contiguous)),
                                        "broadcast": (broadcast, cuda.jit(broadcast))})


# --------------------------------------------------------------------------- scalar functions

exp_, log_, sqrt_, tanh_ = common.exp, common.log, common.sqrt, common.tanh


def _add(a, b):
    return a + b


def _sub(a, b):
    return a - b


def _mul(a, b):
    return a * b


def _div(a, b):
    return a / b


def _neg(x):
    return -x


def _exp(x):
    return exp_(x)


def _log(x):
    return log_(x)


def _sqrt(x):
    return sqrt_(x)


def _tanh(x):
    return tanh_(x)


def _sigmoid(x):
    # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x)); the reference's formula.
    T = type(x)
    return T(0.5) * (T(1) + tanh_(T(0.5) * x))


def _relu(x):
    # NaN propagates (x != x), as numpy.maximum(x, 0) does.
    return x if (x > 0 or x != x) else type(x)(0)


def _relu_backward(x, g):
    # g * (x > 0): at x <= 0 the product with 0 keeps NaN / inf upstream gradients NaN, as the reference.
    return g if x > 0 else g * type(g)(0)


def _tanh_backward(y, g):
    return g * (type(y)(1) - y * y)


def _sigmoid_backward(y, g):
    return g * y * (type(y)(1) - y)


def _maximum(a, b):
    return a if (a > b or a != a) else b


def _minimum(a, b):
    return a if (a < b or a != a) else b


UNARY: dict[str, Elementwise] = {name: unary(name, fn) for name, fn in [
    ("neg", _neg), ("exp", _exp), ("log", _log), ("sqrt", _sqrt), ("tanh", _tanh),
    ("sigmoid", _sigmoid), ("relu", _relu),
]}
"""One-input kernels, by contract name."""

BINARY: dict[str, Elementwise] = {name: binary(name, fn) for name, fn in [
    ("add", _add), ("sub", _sub), ("mul", _mul), ("div", _div), ("maximum", _maximum), ("minimum", _minimum),
    ("relu_backward", _relu_backward), ("tanh_backward", _tanh_backward), ("sigmoid_backward", _sigmoid_backward),
]}
"""Two-input kernels, by contract name (``*_backward`` take ``(x or y, grad_y)``)."""
