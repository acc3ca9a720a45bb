"""The NumPy reference backend: the kernel contract, and the ground truth every backend is tested against.

Every entry is written against the array namespace of its inputs (``numpy`` on ``cpu``, ``cupy`` on
``cuda``), so the same code is the fallback on every device. Entries take arrays of one dtype and
plain Python values and return new arrays; the autograd layer above handles broadcasting of
gradients, shape checks and allocation policy. Numerically delicate entries (softmax, log-softmax,
cross-entropy) subtract the row maximum first so logits of ±1e4 stay finite.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or cupy.ndarray


def namespace(x: Array):
    """``numpy`` for NumPy arrays, ``cupy`` for CuPy arrays."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np
    import cupy

    return cupy


# --------------------------------------------------------------------------- matmul

def matmul(a: Array, b: Array) -> Array:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)``; batch dims already broadcast to equal shapes."""
    return namespace(a).matmul(a, b)


# --------------------------------------------------------------------------- softmax family

def softmax(x: Array) -> Array:
    """Softmax over the last axis, max-subtracted: ``exp(x - max) / sum(exp(x - max))``."""
    xp = namespace(x)
    shifted = x - _row_max(x)
    e = xp.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = softmax(x)``: ``dx = y * (dy - sum(dy * y))`` over the last axis."""
    return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))


def log_softmax(x: Array) -> Array:
    """``x - max - log(sum(exp(x - max)))`` over the last axis."""
    xp = namespace(x)
    shifted = x - _row_max(x)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = log_softmax(x)``: ``dx = dy - exp(y) * sum(dy)`` over the last axis."""
    xp = namespace(y)
    return grad_y - xp.exp(y) * grad_y.sum(axis=-1, keepdims=True)


def cross_entropy(logits: Array, target: Array) -> tuple[Array, Array]:
    """Fused log-softmax + negative log-likelihood for ``(N, C)`` logits and ``(N,)`` int64 targets.

    Returns the per-row losses ``(N,)`` and the log-probabilities ``(N, C)`` that the backward reuses.
    """
    xp = namespace(logits)
    logp = log_softmax(logits)
    losses = -xp.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    return losses, logp


def cross_entropy_backward(logp: Array, target: Array, grad_losses: Array) -> Array:
    """``d logits = (softmax - onehot(target)) * grad_losses[:, None]``."""
    xp = namespace(logp)
    grad = xp.exp(logp)
    grad[xp.arange(grad.shape[0]), target] -= 1
    return grad * grad_losses[:, None]


def _row_max(x: Array) -> Array:
    xp = namespace(x)
    m = x.max(axis=-1, keepdims=True)
    # A row of -inf would give inf - inf = nan; shifting such rows by 0 keeps exp(-inf) = 0.
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


# --------------------------------------------------------------------------- elementwise

def add(a: Array, b: Array) -> Array:
    return a + b


def sub(a: Array, b: Array) -> Array:
    return a - b


def mul(a: Array, b: Array) -> Array:
    return a * b


def div(a: Array, b: Array) -> Array:
    return a / b


def pow(a: Array, b: Array) -> Array:  # noqa: A001 - the contract's name
    return namespace(a).power(a, b)


def neg(x: Array) -> Array:
    return -x


def exp(x: Array) -> Array:
    return namespace(x).exp(x)


def log(x: Array) -> Array:
    return namespace(x).log(x)


def sqrt(x: Array) -> Array:
    return namespace(x).sqrt(x)


def abs(x: Array) -> Array:  # noqa: A001
    return namespace(x).abs(x)


def sign(x: Array) -> Array:
    return namespace(x).sign(x)


def tanh(x: Array) -> Array:
    return namespace(x).tanh(x)


def tanh_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = tanh(x)``: ``dx = dy * (1 - y^2)``."""
    return grad_y * (1 - y * y)


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))`` computed as ``0.5 * (1 + tanh(x / 2))``, which never overflows."""
    xp = namespace(x)
    return (0.5 * (1 + xp.tanh(0.5 * x))).astype(x.dtype, copy=False)


def sigmoid_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = sigmoid(x)``: ``dx = dy * y * (1 - y)``."""
    return grad_y * y * (1 - y)


def relu(x: Array) -> Array:
    return namespace(x).maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward(x: Array, grad_y: Array) -> Array:
    """``dx = dy`` where ``x > 0``, else 0 (PyTorch's convention at exactly 0)."""
    return grad_y * (x > 0)


def maximum(a: Array, b: Array) -> Array:
    return namespace(a).maximum(a, b)


def minimum(a: Array, b: Array) -> Array:
    return namespace(a).minimum(a, b)


def clamp(x: Array, low: float | None, high: float | None) -> Array:
    xp = namespace(x)
    if low is not None:
        x = xp.maximum(x, xp.asarray(low, dtype=x.dtype))
    if high is not None:
        x = xp.minimum(x, xp.asarray(high, dtype=x.dtype))
    return x


def where(cond: Array, a: Array, b: Array) -> Array:
    return namespace(a).where(cond, a, b)


def compare(op: str, a: Array, b: Array) -> Array:
    """Elementwise comparison ``op`` in ``eq ne lt le gt ge``; returns booleans."""
    xp = namespace(a)
    return getattr(xp, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                        "gt": "greater", "ge": "greater_equal"}[op])(a, b)


# --------------------------------------------------------------------------- reductions

def sum(x: Array, axis: tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.sum(axis=axis, keepdims=keepdims)


def mean(x: Array, axis: tuple[int, ...] | None, keepdims: bool) -> Array:
    return x.mean(axis=axis, keepdims=keepdims)


def max(x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.max(axis=axis, keepdims=keepdims)


def min(x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.min(axis=axis, keepdims=keepdims)


def argmax(x: Array, axis: int | None, keepdims: bool) -> Array:
    return namespace(x).argmax(x, axis=axis, keepdims=keepdims)


def argmin(x: Array, axis: int | None, keepdims: bool) -> Array:
    return namespace(x).argmin(x, axis=axis, keepdims=keepdims)


CONTRACT: tuple[str, ...] = (
    "matmul",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "sign",
    "tanh", "tanh_backward", "sigmoid", "sigmoid_backward", "relu", "relu_backward",
    "maximum", "minimum", "clamp", "where", "compare",
    "sum", "mean", "max", "min", "argmax", "argmin",
)
"""Every entry a backend may implement; the reference implements them all."""


def _kernels() -> dict:
    return {name: globals()[name] for name in CONTRACT}


BACKEND = None  # set by tensorcore.backends when it registers the reference
