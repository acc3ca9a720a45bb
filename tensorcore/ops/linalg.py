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
from .util import as_tensor_like, backend, broadcast_shape, operands, out, same_device


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


class Linear(Function):
    """``y = x @ w^T + b`` over the last dim of ``x`` (leading dims folded into the GEMM's rows).

    The backward makes each gradient in its parameter's own layout: ``dw = g^T @ x`` is a fresh
    C-contiguous ``(out, in)`` array that the engine adopts as ``weight.grad`` as it is, where
    ``matmul(x, w.T)`` would hand back ``(x^T @ g)^T``, a transposed view the engine must copy (at
    batch 1 that copy of the weight is most of the step). ``dx = g @ w`` and ``db`` is a column sum.
    Cost: three GEMMs of ``2·rows·in·out`` FLOPs each, forward included.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        B, xp = backend(x), x._xp
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        x2 = _compact(xp, x._data).reshape(rows, x.shape[-1])
        y = B.matmul(x2, w._data.T)
        if b is not None:
            y = B.add(y, b._data)
        ctx.x2, ctx.w, ctx.x_shape = x2, w._data, x.shape
        return out(y.reshape(x.shape[:-1] + (w.shape[0],)), x)

    @staticmethod
    def backward(ctx, g):
        B, xp = backend(g), g._xp
        g2 = _compact(xp, g._data).reshape(ctx.x2.shape[0], ctx.w.shape[0])
        gx = B.matmul(g2, ctx.w).reshape(ctx.x_shape) if ctx.needs_input_grad[0] else None
        gw = B.matmul(g2.T, ctx.x2) if ctx.needs_input_grad[1] else None
        gb = B.sum(g2, (0,), False) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """``torch.nn.functional.linear``: ``input @ weight.T + bias`` with ``weight`` of shape
    ``(out_features, in_features)``, through :class:`Linear` for float tensors."""
    from ..tensor import Tensor

    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"linear: input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match weight of shape {weight.shape} "
                         f"(expected last dimension {weight.shape[-1]})")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (weight.shape[0],)):
        raise ValueError(f"linear: expected a bias of shape ({weight.shape[0]},), got "
                         f"{getattr(bias, 'shape', type(bias).__name__)}")
    input, weight = operands("linear", input, weight)
    if bias is not None:
        same_device("linear", input, bias)
        bias = bias._cast(input.dtype)
    if not input.dtype.is_floating_point:
        y = matmul(input, weight.T)
        return y + bias if bias is not None else y
    return Linear.apply(input, weight, bias)


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
