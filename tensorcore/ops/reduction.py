"""Reductions along ``dim`` (an int, a tuple, or ``None`` for all) with ``keepdim``."""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from .. import dtypes
from ..autograd.function import Function
from .util import backend, normalize_dim, normalize_dims, out

MinMax = namedtuple("MinMax", ["values", "indices"])
"""What ``max(dim)`` / ``min(dim)`` return, like ``torch.return_types.max``."""


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape = x.shape
        ctx.axes = axes
        return out(backend(x).sum(x._data, axes, keepdim), x)

    @staticmethod
    def backward(ctx, g):
        grad = g._data.reshape(_kept_shape(ctx.shape, ctx.axes))
        return g._xp.broadcast_to(grad, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape = x.shape
        ctx.axes = axes
        return out(backend(x).mean(x._data, axes, keepdim), x)

    @staticmethod
    def backward(ctx, g):
        count = 1
        for i, n in enumerate(ctx.shape):
            if ctx.axes is None or i in ctx.axes:
                count *= n
        grad = g._data.reshape(_kept_shape(ctx.shape, ctx.axes)) / g._data.dtype.type(count or 1)
        return g._xp.broadcast_to(grad, ctx.shape), None, None


class Extreme(Function):
    """Max or min over some axes; the gradient is shared evenly among the tied extremes
    (PyTorch's ``amax`` / full ``max()`` rule)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, kind):
        B = backend(x)
        y = (B.max if kind == "max" else B.min)(x._data, axes, True)
        ctx.save_for_backward(x)
        ctx.y = y
        ctx.axes = axes
        return out(y if keepdim else y.reshape(_squeezed(x.shape, axes)), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        mask = x._data == ctx.y
        count = mask.sum(axis=ctx.axes, keepdims=True)
        grad = g._data.reshape(ctx.y.shape) / count
        return (grad * mask).astype(x._data.dtype, copy=False), None, None, None


class ExtremeDim(Function):
    """``max(dim)`` / ``min(dim)``: values and int64 indices; the gradient goes to the returned index."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, kind):
        B = backend(x)
        idx = (B.argmax if kind == "max" else B.argmin)(x._data, dim, True)
        values = x._xp.take_along_axis(x._data, idx, axis=dim)
        ctx.shape, ctx.dim, ctx.idx, ctx.keepdim = x.shape, dim, idx, keepdim
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        return out(values, x), out(idx.astype("int64", copy=False), x)

    @staticmethod
    def backward(ctx, g, _g_idx):
        xp = g._xp
        grad = xp.zeros(ctx.shape, dtype=g._data.dtype)
        gv = g._data if ctx.keepdim else xp.expand_dims(g._data, ctx.dim)
        xp.put_along_axis(grad, ctx.idx, gv, axis=ctx.dim)
        return grad, None, None, None


def _squeezed(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


def _check_nonempty(op: str, x: Any, axes: tuple[int, ...] | None) -> None:
    if x.numel() == 0 and (axes is None or any(x.shape[a] == 0 for a in axes)):
        raise ValueError(f"{op}: cannot reduce over an empty dimension (shape {x.shape}); "
                         "the operation has no identity")


def sum(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    if x.dtype is dtypes.bool_:
        x = x._cast(dtypes.int64)
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def mean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean: expected a floating point tensor, got {x.dtype}; call .float() first")
    return Mean.apply(x, normalize_dims(dim, x.ndim, "mean"), keepdim)


def _extreme(kind: str, x: Any, dim: Any, keepdim: bool) -> Any:
    if dim is None:
        _check_nonempty(kind, x, None)
        return Extreme.apply(x, None, False, kind)
    d = normalize_dim(dim, x.ndim, kind)
    if x.ndim == 0:
        return MinMax(x, out(x._xp.zeros((), dtype="int64"), x))
    _check_nonempty(kind, x, (d,))
    return MinMax(*ExtremeDim.apply(x, d, keepdim, kind))


def max(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The largest element, or ``(values, indices)`` along ``dim`` (the first index among ties)."""
    return _extreme("max", x, dim, keepdim)


def min(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    return _extreme("min", x, dim, keepdim)


def amax(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    axes = normalize_dims(dim, x.ndim, "amax")
    _check_nonempty("amax", x, axes)
    return Extreme.apply(x, axes, keepdim, "max")


def amin(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    axes = normalize_dims(dim, x.ndim, "amin")
    _check_nonempty("amin", x, axes)
    return Extreme.apply(x, axes, keepdim, "min")


def _arg(kind: str, x: Any, dim: int | None, keepdim: bool) -> Any:
    B = backend(x)
    fn = B.argmax if kind == "argmax" else B.argmin
    if dim is None:
        _check_nonempty(kind, x, None)
        idx = fn(x._data.reshape(-1), None, False)
        if keepdim:
            idx = idx.reshape((1,) * x.ndim)
        return out(x._xp.asarray(idx, dtype="int64"), x)
    d = normalize_dim(dim, x.ndim, kind)
    if x.ndim == 0:
        return out(x._xp.zeros((), dtype="int64"), x)
    _check_nonempty(kind, x, (d,))
    return out(fn(x._data, d, keepdim).astype("int64", copy=False), x)


def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the largest element (flattened when ``dim`` is None); the first among ties, and a
    NaN counts as the largest, as in PyTorch."""
    return _arg("argmax", x, dim, keepdim)


def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    return _arg("argmin", x, dim, keepdim)


def var(x: Any, dim: Any = None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Any:
    """Variance with Bessel's ``correction`` (1 by default, like PyTorch); built from differentiable ops."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = normalize_dims(dim, x.ndim, "var")
    n = 1
    for i, size in enumerate(x.shape):
        if axes is None or i in axes:
            n *= size
    centered = x - mean(x, axes, keepdim=True)
    denom = n - correction
    total = sum(centered * centered, axes, keepdim)
    if denom <= 0:
        return total * float("nan")
    return total / denom


def std(x: Any, dim: Any = None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Any:
    return var(x, dim, keepdim, correction=correction, unbiased=unbiased).sqrt()
