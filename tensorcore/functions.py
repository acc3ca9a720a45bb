"""The ``tensorcore.*`` math functions (``tc.exp(x)``, ``tc.sum(x, dim)`` …), as in ``torch.*``."""
from __future__ import annotations

from typing import Any

from .ops.elementwise import (abs, add, clamp, div, exp, log, maximum, minimum, mul, neg, pow, relu,  # noqa: F401
                              sigmoid, sign, sqrt, sub, tanh, where)
from .ops.linalg import matmul  # noqa: F401
from .ops.reduction import amax, amin, argmax, argmin, max, mean, min, std, sum, var  # noqa: F401
from .ops.shape import cat, expand, flatten, permute, reshape, squeeze, stack, transpose, unsqueeze  # noqa: F401
from .ops.softmax import log_softmax, softmax  # noqa: F401

clip = clamp

__all__ = ["abs", "add", "allclose", "amax", "amin", "argmax", "argmin", "cat", "clamp", "clip", "div", "equal",
           "exp", "expand", "flatten", "log", "log_softmax", "matmul", "max", "maximum", "mean", "min", "minimum",
           "mul", "neg", "permute", "pow", "relu", "reshape", "sigmoid", "sign", "softmax", "sqrt", "squeeze",
           "stack", "std", "sub", "sum", "tanh", "transpose", "unsqueeze", "var", "where"]


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    from .ops.util import operands

    a, b = operands("allclose", a, b)
    return bool(a._xp.allclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a: Any, b: Any) -> bool:
    """True when both tensors have the same shape and elements."""
    return a.shape == b.shape and bool((a == b)._data.all())
