"""Indexing: ``x[key]`` with ints, slices, ``None``, ``...``, integer arrays and boolean masks.

Basic indexing (ints, slices, None, ellipsis) returns a view; integer-array and mask indexing
copies, as in NumPy and PyTorch. The backward scatters the gradient into a zero tensor of the
input's shape, adding where an integer index repeats.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function
from .shape import _view_of


def _convert(key: Any, x: Any) -> tuple[Any, bool]:
    """The key with tensors and lists turned into arrays of ``x``'s namespace; and whether it is basic."""
    from ..tensor import Tensor

    items = key if isinstance(key, tuple) else (key,)
    converted = []
    basic = True
    for k in items:
        if isinstance(k, Tensor):
            if k.device != x.device:
                raise RuntimeError(f"getitem: the index is on {k.device} but the tensor is on {x.device}")
            if k.dtype.is_floating_point:
                raise IndexError(f"getitem: tensors used as indices must be int64 or bool, got {k.dtype}")
            k = k._data
            basic = False
        elif isinstance(k, (list, np.ndarray)):
            k = x._xp.asarray(k)
            if k.dtype.kind not in "iub" and k.size:
                raise IndexError(f"getitem: arrays used as indices must be integer or bool, got {k.dtype}")
            if k.size == 0:
                k = k.astype(np.int64)
            basic = False
        elif isinstance(k, (bool, np.bool_)):
            basic = False
        elif not (k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))):
            raise IndexError(f"getitem: unsupported index of type {type(k).__name__}")
        converted.append(k)
    return tuple(converted), basic


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, key, basic):
        ctx.shape, ctx.key, ctx.basic, ctx.dtype = x.shape, key, basic, x._data.dtype
        try:
            data = x._data[key]
        except IndexError as exc:
            raise IndexError(f"getitem: {exc} (tensor shape {x.shape})") from None
        if basic:
            return _view_of(data, x)
        from ..tensor import Tensor

        return Tensor._wrap(data, x.device)

    @staticmethod
    def backward(ctx, g):
        xp = g._xp
        grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
        if ctx.basic:
            grad[ctx.key] = g._data
        else:
            xp.add.at(grad, ctx.key, g._data)
        return grad, None, None


def getitem(x: Any, key: Any) -> Any:
    key, basic = _convert(key, x)
    return GetItem.apply(x, key, basic)
