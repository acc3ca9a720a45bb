"""Elementwise operations with NumPy broadcasting; gradients are un-broadcast by the engine.

Forwards call the active backend's entries (``add``, ``exp``, ``relu`` …); backwards call the
fused ``*_backward`` entries where one exists, so a native backend can replace each in one place.
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd.function import Function
from .util import backend, broadcast_shape, operands, out, same_device, as_tensor_like


def _promote_float(t: Any) -> Any:
    """Integer tensors become float32 before a transcendental function, as in PyTorch."""
    return t if t.dtype.is_floating_point else t._cast(dtypes.float32)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x._data.dtype
        return out(x._data.astype(dtype.numpy), x)

    @staticmethod
    def backward(ctx, g):
        return g._data.astype(ctx.src), None


def cast(x: Any, dtype: dtypes.DType) -> Any:
    return Cast.apply(x, dtype)


# --------------------------------------------------------------------------- binary

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return out(backend(a).add(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        return g._data, g._data


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return out(backend(a).sub(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        return g._data, (backend(g).neg(g._data) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # Keep only what a gradient needs, so `x.mul_(2)` on a non-leaf stays differentiable.
        need = ctx.needs_input_grad
        ctx.save_for_backward(a if need[1] else None, b if need[0] else None)
        return out(backend(a).mul(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        B = backend(g)
        return (B.mul(g._data, b._data) if ctx.needs_input_grad[0] else None,
                B.mul(g._data, a._data) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return out(backend(a).div(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        B = backend(g)
        ga = B.div(g._data, b._data) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = B.neg(B.div(B.mul(g._data, a._data), B.mul(b._data, b._data)))
        return ga, gb


class Pow(Function):
    """``a ** b`` for two tensors: ``da = g b a^(b-1)``, ``db = g a^b log a``."""

    @staticmethod
    def forward(ctx, a, b):
        y = out(backend(a).pow(a._data, b._data), a)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        B = backend(g)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = B.mul(g._data, B.mul(b._data, B.pow(a._data, B.sub(b._data, 1))))
        if ctx.needs_input_grad[1]:
            gb = B.mul(g._data, B.mul(y._data, B.log(a._data)))
        return ga, gb


class PowScalar(Function):
    """``x ** p`` for a Python number ``p``: ``dx = g p x^(p-1)``."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        B = backend(x)
        if p == 2:
            return out(B.mul(x._data, x._data), x)
        return out(B.pow(x._data, x._xp.asarray(p, dtype=x._data.dtype)), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        B = backend(g)
        p = ctx.p
        if p == 2:
            return B.mul(g._data, B.mul(x._data, x._xp.asarray(2, dtype=x._data.dtype))), None
        dx = B.mul(x._data.dtype.type(p), B.pow(x._data, x._xp.asarray(p - 1, dtype=x._data.dtype)))
        return B.mul(g._data, dx), None


class Maximum(Function):
    """Elementwise max; at ties the gradient is split evenly between the inputs (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return out(backend(a).maximum(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(g._data, a._data > b._data, a._data == b._data)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return out(backend(a).minimum(a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(g._data, a._data < b._data, a._data == b._data)


def _tie_split(g: Any, a_wins: Any, tie: Any) -> tuple[Any, Any]:
    share_a = a_wins + 0.5 * tie
    share_b = (~a_wins & ~tie) + 0.5 * tie
    return (g * share_a).astype(g.dtype, copy=False), (g * share_b).astype(g.dtype, copy=False)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond._data
        return out(backend(a).where(cond._data, a._data, b._data), a)

    @staticmethod
    def backward(ctx, g):
        xp = g._xp
        zero = xp.zeros((), dtype=g._data.dtype)
        return (None, xp.where(ctx.cond, g._data, zero) if ctx.needs_input_grad[1] else None,
                xp.where(ctx.cond, zero, g._data) if ctx.needs_input_grad[2] else None)


def _binary(fn: type, op: str, a: Any, b: Any) -> Any:
    a, b = operands(op, a, b)
    broadcast_shape(op, a.shape, b.shape)
    return fn.apply(a, b)


def add(a: Any, b: Any) -> Any:
    return _binary(Add, "add", a, b)


def sub(a: Any, b: Any) -> Any:
    return _binary(Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Any:
    return _binary(Mul, "mul", a, b)


def div(a: Any, b: Any) -> Any:
    a, b = operands("div", a, b)
    return _binary(Div, "div", _promote_float(a), _promote_float(b))


def pow(a: Any, b: Any) -> Any:  # noqa: A001
    from ..tensor import Tensor

    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if not a.dtype.is_floating_point and (isinstance(b, float) or b < 0):
            a = a._cast(dtypes.float32)
        return PowScalar.apply(a, b)
    return _binary(Pow, "pow", a, b)


def maximum(a: Any, b: Any) -> Any:
    return _binary(Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Any:
    return _binary(Minimum, "minimum", a, b)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` is true, else ``b``; all three broadcast together."""
    from ..tensor import Tensor

    like = cond if isinstance(cond, Tensor) else (a if isinstance(a, Tensor) else b)
    if not isinstance(like, Tensor):
        raise TypeError("where: expected at least one Tensor argument")
    cond = as_tensor_like(cond, like, "where")
    if cond.dtype is not dtypes.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor_like(a, cond, "where")
    a, b = operands("where", a, b)
    same_device("where", cond, a)
    broadcast_shape("where", cond.shape, a.shape, b.shape)
    return Where.apply(cond, a, b)


def compare(op: str, a: Any, b: Any) -> Any:
    """Elementwise comparison (no gradient); returns a bool tensor."""
    a, b = operands(op, a, b)
    broadcast_shape(op, a.shape, b.shape)
    return out(backend(a).compare(op, a._data, b._data), a)


def logical(op: str, a: Any, b: Any) -> Any:
    a, b = operands(f"logical_{op}", a, b)
    if a.dtype is not dtypes.bool_:
        raise TypeError(f"logical_{op}: expected bool tensors, got {a.dtype}")
    fn = {"and": a._xp.logical_and, "or": a._xp.logical_or, "xor": a._xp.logical_xor}[op]
    return out(fn(a._data, b._data), a)


# --------------------------------------------------------------------------- unary

class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return out(backend(x).neg(x._data), x)

    @staticmethod
    def backward(ctx, g):
        return backend(g).neg(g._data)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = out(backend(x).exp(x._data), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return backend(g).mul(g._data, y._data)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return out(backend(x).log(x._data), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return backend(g).div(g._data, x._data)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = out(backend(x).sqrt(x._data), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        B = backend(g)
        return B.div(g._data, B.mul(y._data, y._data.dtype.type(2)))


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return out(backend(x).abs(x._data), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        B = backend(g)
        return B.mul(g._data, B.sign(x._data))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = out(backend(x).tanh(x._data), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return backend(g).tanh_backward(y._data, g._data)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = out(backend(x).sigmoid(x._data), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return backend(g).sigmoid_backward(y._data, g._data)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        y = out(backend(x).relu(x._data), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        # y > 0 exactly where x > 0, so the output serves as the mask and x need not be kept.
        return backend(g).relu_backward(y._data, g._data)


class Clamp(Function):
    """Clamp to ``[low, high]``; the gradient passes where ``low <= x <= high`` (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return out(backend(x).clamp(x._data, low, high), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        mask = x._xp.ones(x.shape, dtype=bool)
        if low is not None:
            mask &= x._data >= low
        if high is not None:
            mask &= x._data <= high
        return g._data * mask, None, None


def neg(x: Any) -> Any:
    return Neg.apply(x)


def exp(x: Any) -> Any:
    return Exp.apply(_promote_float(x))


def log(x: Any) -> Any:
    return Log.apply(_promote_float(x))


def sqrt(x: Any) -> Any:
    return Sqrt.apply(_promote_float(x))


def abs(x: Any) -> Any:  # noqa: A001
    return Abs.apply(x)


def sign(x: Any) -> Any:
    return out(backend(x).sign(x._data), x)


def tanh(x: Any) -> Any:
    return Tanh.apply(_promote_float(x))


def sigmoid(x: Any) -> Any:
    return Sigmoid.apply(_promote_float(x))


def relu(x: Any) -> Any:
    return Relu.apply(x)


def clamp(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    from ..tensor import Tensor

    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if min is not None:
            x = maximum(x, min)
        if max is not None:
            x = minimum(x, max)
        return x
    return Clamp.apply(x, min, max)
