"""Helpers shared by the ops: the active backend, argument normalization and operand coercion."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..backends import registry
from ..device import Device, defer_check


def backend(t: Any) -> registry.Backend:
    """The backend that runs ops on ``t``'s device now."""
    return registry.current(t.device.type)


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """``dim`` as a non-negative axis of an ``ndim``-D tensor (a 0-d tensor accepts 0 and -1)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimension(s)")
    return int(dim) % n


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """``None`` (all dims) or a sorted tuple of distinct non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = tuple(sorted({normalize_dim(d, ndim, op) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    if ndim == 0:
        return None
    return out


def is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.number, np.bool_))


def same_device(op: str, *tensors: Any) -> Device:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors on the same device, got "
                           + " and ".join(sorted(str(d) for d in devices)))
    return tensors[0].device


def check_indices(op: str, values: Any, device: Device, high: int, expected: str) -> Any:
    """Check that the int64 array ``values`` lies in ``[0, high)``; returns a boolean array, true where it does.

    On the cpu a value outside raises ``IndexError`` now, naming the range found. On cuda the check
    runs on the device and raises at the next host synchronization
    (:func:`tensorcore.device.defer_check`), so a training step never waits for the GPU to validate
    its labels; the caller must keep the out-of-range entries from being read (the returned mask).
    ``expected`` completes the message, e.g. ``"target values must be in [0, 9]"``.
    """
    ok = (values >= 0) & (values < high)
    if device.type != "cuda":
        if values.size and not bool(ok.all()):
            bad = values[~ok]
            lo, hi = int(bad.min()), int(bad.max())
            got = f"got {lo}" if lo == hi else f"got values outside it from {lo} to {hi}"
            raise IndexError(f"{op}: {expected}; {got}")
        return ok
    if values.size:
        defer_check((op, expected, str(device)), ~ok.all(), IndexError,
                    f"{op}: {expected}; a value outside that range was given")
    return ok


def broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{op}: shapes " + " and ".join(str(tuple(s)) for s in shapes)
                         + " are not broadcastable") from None


def operands(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    """Two tensors of one dtype on one device from tensors, Python scalars or arrays.

    Scalars take the tensor's dtype (an int tensor with a float scalar becomes float32); two tensors
    follow PyTorch's promotion; the cast is differentiable.
    """
    from ..tensor import Tensor

    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        same_device(op, a, b)
        dt = dtypes.promote(a.dtype, b.dtype)
        return a._cast(dt), b._cast(dt)
    t, other = (a, b) if isinstance(a, Tensor) else (b, a)
    if is_scalar(other):
        dt = dtypes.promote_scalar(t.dtype, other)
        t = t._cast(dt)
        o = Tensor._wrap(t._xp.asarray(other, dtype=dt.numpy), t.device)
    else:
        o = as_tensor_like(other, t, op)
        dt = dtypes.promote(t.dtype, o.dtype)
        t, o = t._cast(dt), o._cast(dt)
    return (t, o) if isinstance(a, Tensor) else (o, t)


def as_tensor_like(x: Any, like: Any, op: str) -> Any:
    """``x`` (a tensor, scalar, list or array) as a tensor on ``like``'s device."""
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        same_device(op, x, like)
        return x
    if hasattr(x, "__cuda_array_interface__") and like.device.type == "cpu":
        raise RuntimeError(f"{op}: expected all tensors on the same device, got cpu and a GPU array")
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{op}: cannot use an object of type {type(x).__name__} as a tensor") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: cannot use an object of type {type(x).__name__} as a tensor")
    if arr.dtype.kind == "f":
        # Python floats and lists of them are float32 (the default), float64 arrays stay float64.
        dt = dtypes.float64 if isinstance(x, np.ndarray) and arr.dtype == np.float64 else dtypes.float32
    else:
        dt = dtypes.as_dtype(arr.dtype, op)
    from ..creation import tensor

    return tensor(arr, dtype=dt, device=like.device)


def out(data: Any, like: Any) -> Any:
    """A new tensor on ``like``'s device around ``data``."""
    from ..tensor import Tensor

    return Tensor._wrap(data, like.device)


def require_float(op: str, t: Any) -> None:
    if not t.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point tensor, got {t.dtype}")
