"""Matrix multiplication through the backend's ``matmul`` entry: 1-D, 2-D and batched with
broadcast batch dimensions, as ``torch.matmul``.

The backend entry sees only compact ``(B..., M, K) @ (B..., K, N)`` arrays with equal batch dims.
Where the right operand is a plain matrix, the batch is folded into M so one large GEMM runs
instead of many small ones (the common ``activations @ weight`` case).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from .shape import reshape
from .util import as_tensor_like, backend, broadcast_shape, operands


def _compact(xp: Any, a: Any) -> Any:
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def _gemm(B: Any, xp: Any, a: Any, b: Any) -> Any:
    """``a @ b`` for arrays of ndim >= 2 with broadcastable batch dims, via the backend entry.

    Plain matrices go to the entry as they are, transposed views included (``weight.T`` in every
    linear layer): each backend reads what it can in place and compacts the rest itself.
    """
    if b.ndim == 2:
        lead = a.shape[:-1]
        rows = int(np.prod(lead, dtype=np.int64))
        res = B.matmul(a if a.ndim == 2 else _compact(xp, a).reshape(rows, a.shape[-1]), b)
        return res.reshape(lead + (b.shape[-1],))
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    a = _compact(xp, xp.broadcast_to(a, batch + a.shape[-2:]))
    b = _compact(xp, xp.broadcast_to(b, batch + b.shape[-2:]))
    return B.matmul(a, b)


class MatMul(Function):
    """``y = a @ b``; ``da = g @ b^T`` and ``db = a^T @ g`` (batch dims un-broadcast by the engine)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        from ..tensor import Tensor

        return Tensor._wrap(_gemm(backend(a), a._xp, a._data, b._data), a.device)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        B, xp = backend(g), g._xp
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _gemm(B, xp, g._data, xp.swapaxes(b._data, -1, -2))
        if ctx.needs_input_grad[1]:
            if b.ndim == 2:
                k = a.shape[-1]
                rows = int(np.prod(a.shape[:-1], dtype=np.int64))
                gb = B.matmul(a._data.reshape(rows, k).T, g._data.reshape(rows, g.shape[-1]))
            else:
                gb = _gemm(B, xp, xp.swapaxes(a._data, -1, -2), g._data)
        return ga, gb


def matmul(a: Any, b: Any) -> Any:
    """``torch.matmul`` semantics: a 1-D operand is a vector (its dim is removed from the result)."""
    from ..tensor import Tensor

    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b, "matmul")
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a, "matmul")
    a, b = operands("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.dtype is dtypes.bool_:
        raise TypeError("matmul: bool tensors are not supported; convert with .float() or .long()")
    vec_a, vec_b = a.ndim == 1, b.ndim == 1
    a2 = reshape(a, (1,) + a.shape) if vec_a else a
    b2 = reshape(b, b.shape + (1,)) if vec_b else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a2.shape[-1]} != {b2.shape[-2]})")
    broadcast_shape("matmul (batch dimensions)", a2.shape[:-2], b2.shape[:-2])
    y = MatMul.apply(a2, b2)
    if vec_a and vec_b:
        return reshape(y, y.shape[:-2])
    if vec_a:
        return reshape(y, y.shape[:-2] + y.shape[-1:])
    if vec_b:
        return reshape(y, y.shape[:-1])
    return y
