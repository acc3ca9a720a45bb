"""In-place updates (``add_``, ``mul_``, ``copy_``, ``x[key] = v`` …).

Each computes the out-of-place result, writes it into the tensor's storage (so views see it) and
bumps the shared version counter. Under autograd the tensor takes over the result's graph node;
autograd refuses leaves that require grad (use ``no_grad()``, as optimizers do) and views of them.
"""
from __future__ import annotations

from typing import Any, Callable

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .indexing import _convert
from .util import as_tensor_like


def apply_inplace(t: Any, op: str, result_fn: Callable[[Any], Any]) -> Any:
    recording = is_grad_enabled()
    if recording and t.requires_grad:
        if t.is_leaf:
            raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in place while "
                               "autograd records; wrap the update in `with tensorcore.no_grad():`")
        if t._is_view:
            raise RuntimeError(f"{op}: a view of a tensor that requires grad cannot be modified in place "
                               "while autograd records; modify a .clone() instead")
    result = result_fn(t)
    if result.shape != t.shape:
        raise ValueError(f"{op}: the result of shape {result.shape} does not fit the tensor of shape {t.shape}")
    if result.dtype is not t.dtype:
        if result.dtype.is_floating_point and not t.dtype.is_floating_point:
            raise TypeError(f"{op}: the result type {result.dtype} cannot be written into a {t.dtype} tensor")
        result = result._cast(t.dtype)
    t._data[...] = result._data
    t._version[0] += 1
    if recording and result.requires_grad:
        t._requires_grad = True
        t._grad_fn = result._grad_fn
        t._output_nr = result._output_nr
    return t


class SetItem(Function):
    """``out = x.clone(); out[key] = value``: the gradient of ``x`` is zero at ``key``; ``value``
    gets the gradient at ``key`` (summed where it was broadcast)."""

    @staticmethod
    def forward(ctx, x, key, value):
        from ..tensor import Tensor

        ctx.key, ctx.vshape = key, value.shape
        data = x._data.copy()
        try:
            data[key] = value._data
        except (IndexError, ValueError) as exc:
            raise type(exc)(f"setitem: {exc} (tensor shape {x.shape}, value shape {value.shape})") from None
        return Tensor._wrap(data, x.device)

    @staticmethod
    def backward(ctx, g):
        gx = g._data.copy()
        gx[ctx.key] = 0
        gv = None
        if ctx.needs_input_grad[2]:
            gv = g._data[ctx.key]
            from ..autograd.engine import unbroadcast

            gv = unbroadcast(gv, ctx.vshape)
        return gx, None, gv


def setitem(t: Any, key: Any, value: Any) -> None:
    key, _ = _convert(key, t)
    value = as_tensor_like(value, t, "setitem")
    if value.dtype is not t.dtype:
        value = value._cast(t.dtype)
    apply_inplace(t, "setitem", lambda x: SetItem.apply(x, key, value))
