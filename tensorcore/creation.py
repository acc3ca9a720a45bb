"""Creating tensors: from data (``tensor``, ``from_numpy``, ``from_dlpack``), filled
(``zeros``, ``ones``, ``full``, ``empty``, ``eye``, ``arange``), random (``rand``, ``randn``,
``randint``) and ``*_like``. float32 is the default floating dtype, as in PyTorch."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import dtypes
from .device import CPU, Device, check_available, move, namespace_for
from .random import Generator, rng
from .tensor import Tensor


def _device(device: Any, op: str) -> Device:
    d = Device(device) if device is not None else CPU
    check_available(d, op)
    return d


def _size(op: str, size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        shape = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: size must be ints, got {size!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {shape}")
    return shape


def _place(host: np.ndarray, device: Device, requires_grad: bool) -> Tensor:
    data = move(host, CPU, device) if device.type != "cpu" else host
    t = Tensor._wrap(data, device)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or a Tensor).

    Python floats become float32; NumPy arrays keep their dtype (float64 stays float64).
    """
    if isinstance(data, Tensor):
        src_device = data.device
        arr = data._data.copy()
    elif hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray):
        src_device = Device("cuda")
        arr = data.copy()
    else:
        src_device = CPU
        try:
            arr = np.array(data)
        except ValueError as exc:
            raise ValueError(f"tensor: cannot make a tensor from ragged or invalid data ({exc})") from None
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"tensor: cannot make a tensor from data of type {type(data).__name__} "
                            "(expected numbers, nested lists of numbers, or an array)")
        if arr.dtype == np.float64 and not isinstance(data, np.ndarray) and not isinstance(data, np.floating):
            arr = arr.astype(np.float32)
    dt = dtypes.as_dtype(dtype if dtype is not None else arr.dtype, "tensor")
    arr = arr.astype(dt.numpy, copy=False)
    target = _device(device, "tensor") if device is not None else src_device
    t = Tensor._wrap(move(arr, src_device, target), target)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor` but returns ``data`` itself when it already fits."""
    if isinstance(data, Tensor):
        out = data
        if dtype is not None:
            out = out.to(dtype=dtype)
        return out.to(device) if device is not None else out
    if isinstance(data, np.ndarray) and dtype is None and device is None and data.dtype in dtypes._BY_NUMPY:
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A cpu tensor sharing memory with ``array`` (float32, float64, int64 or bool)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in dtypes._BY_NUMPY:
        raise TypeError(f"from_numpy: dtype {array.dtype} is not supported without a copy; expected float32, "
                        "float64, int64 or bool (convert with array.astype(...) first)")
    return Tensor._wrap(array, CPU)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer (NumPy, CuPy, PyTorch …)."""
    if not hasattr(obj, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: {type(obj).__name__} does not implement the DLPack protocol")
    kind, index = obj.__dlpack_device__()
    if int(kind) == 1:  # kDLCPU
        arr = np.from_dlpack(obj)
        if arr.dtype not in dtypes._BY_NUMPY:
            raise TypeError(f"from_dlpack: unsupported dtype {arr.dtype}")
        return Tensor._wrap(arr, CPU)
    import cupy

    return Tensor._wrap(cupy.from_dlpack(obj), Device(f"cuda:{index}"))


def _filled(op: str, size: tuple, fill: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    shape = _size(op, size)
    dev = _device(device, op)
    if dtype is None:
        dt = dtypes.int64 if isinstance(fill, (int, np.integer)) and not isinstance(fill, bool) and op == "full" \
            else (dtypes.bool_ if isinstance(fill, bool) and op == "full" else dtypes.default_float)
    else:
        dt = dtypes.as_dtype(dtype, op)
    xp = namespace_for(dev)
    data = xp.empty(shape, dtype=dt.numpy) if fill is None else xp.full(shape, fill, dtype=dt.numpy)
    t = Tensor._wrap(data, dev)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled("zeros", size, 0, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled("ones", size, 1, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled("empty", size, None, dtype, device, requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    return _filled("full", (tuple(size),), fill_value, dtype, device, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype, "eye") if dtype is not None else dtypes.default_float
    return _place(np.eye(n, m, dtype=dt.numpy), _device(device, "eye"), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps of ``step``; int64 when all three are ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dt = dtypes.int64 if ints else dtypes.default_float
    else:
        dt = dtypes.as_dtype(dtype, "arange")
    return _place(np.arange(start, end, step).astype(dt.numpy), _device(device, "arange"), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> Tensor:
    dt = dtypes.as_dtype(dtype, "linspace") if dtype is not None else dtypes.default_float
    return _place(np.linspace(start, end, steps).astype(dt.numpy), _device(device, "linspace"), False)


def _random(op: str, size: tuple, draw: Any, dtype: Any, device: Any, requires_grad: bool,
            generator: Generator | None) -> Tensor:
    shape = _size(op, size)
    dt = dtypes.as_dtype(dtype, op) if dtype is not None else dtypes.default_float
    if not dt.is_floating_point:
        raise TypeError(f"{op}: expected a floating point dtype, got {dt}")
    return _place(draw(rng(generator), shape).astype(dt.numpy), _device(device, op), requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator: Generator | None = None) -> Tensor:
    """Uniform on ``[0, 1)``."""
    return _random("rand", size, lambda g, s: g.random(s), dtype, device, requires_grad, generator)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          generator: Generator | None = None) -> Tensor:
    """Standard normal."""
    return _random("randn", size, lambda g, s: g.standard_normal(s), dtype, device, requires_grad, generator)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), dtype: Any = None, device: Any = None,
            generator: Generator | None = None) -> Tensor:
    """Integers uniform on ``[low, high)`` (int64 by default)."""
    if high is None:
        low, high = 0, low
    dt = dtypes.as_dtype(dtype, "randint") if dtype is not None else dtypes.int64
    return _place(rng(generator).integers(low, high, size=tuple(size)).astype(dt.numpy),
                  _device(device, "randint"), False)


def randperm(n: int, device: Any = None, generator: Generator | None = None) -> Tensor:
    return _place(rng(generator).permutation(n).astype(np.int64), _device(device, "randperm"), False)


def _like(fn: Any, t: Tensor, dtype: Any, device: Any, requires_grad: bool, **kw: Any) -> Tensor:
    return fn(*t.shape, dtype=dtype if dtype is not None else t.dtype,
              device=device if device is not None else t.device, requires_grad=requires_grad, **kw)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(ones, t, dtype, device, requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(empty, t, dtype, device, requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype if dtype is not None else t.dtype,
                device=device if device is not None else t.device, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(rand, t, dtype, device, requires_grad)


def randn_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(randn, t, dtype, device, requires_grad)
