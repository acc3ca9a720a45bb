"""``Tensor``: an n-dimensional array on a device, with autograd.

A tensor holds its storage (a NumPy array on ``cpu``, a CuPy array on ``cuda``), its device, and —
when it takes part in autograd — the graph node that produced it. Views (``reshape``,
``transpose``, basic indexing …) share storage and an in-place version counter with their base,
so a backward that saved a tensor later modified in place raises instead of going silently wrong.
Every operation is an autograd ``Function`` in :mod:`tensorcore.ops`; the methods here only
dispatch to them.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from . import dtypes
from .autograd import engine
from .autograd.grad_mode import is_grad_enabled
from .device import CPU, Device, move, namespace_for
from .dtypes import DType


class Tensor:
    """An n-dimensional array with autograd; create one with :func:`tensorcore.tensor` and friends."""

    __slots__ = ("_data", "_device", "_requires_grad", "_grad_fn", "_output_nr", "grad", "_version",
                 "_is_view", "__weakref__")
    __array_priority__ = 1000  # NumPy defers `ndarray op Tensor` to Tensor's reflected operators

    def __init__(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> None:
        from .creation import tensor as _tensor

        t = _tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self._init(t._data, t._device, requires_grad)

    def _init(self, data: Any, device: Device, requires_grad: bool = False, version: list | None = None,
              is_view: bool = False) -> None:
        self._data = data
        self._device = device
        self._requires_grad = requires_grad
        self._grad_fn = None
        self._output_nr = 0
        self.grad: Tensor | None = None
        self._version = version if version is not None else [0]
        self._is_view = is_view

    @classmethod
    def _wrap(cls, data: Any, device: Device = CPU, requires_grad: bool = False, version: list | None = None,
              is_view: bool = False) -> "Tensor":
        """A tensor around an existing array (no copy, no checks): the library's internal constructor."""
        if isinstance(data, np.generic):  # NumPy turns 0-d results into scalars; keep arrays
            data = np.asarray(data)
        t = object.__new__(cls)
        t._init(data, device, requires_grad, version, is_view)
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @property
    def dtype(self) -> DType:
        return dtypes._BY_NUMPY.get(self._data.dtype) or dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def _xp(self) -> Any:
        return namespace_for(self._device)

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        from .ops.util import normalize_dim

        return self.shape[normalize_dim(dim, self.ndim, "size")]

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim: int | None = None) -> Any:
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[dim]

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None and not value:
            raise RuntimeError("requires_grad: cannot turn off requires_grad on a non-leaf tensor; use .detach()")
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(f"requires_grad: only floating point tensors can require gradients, got {self.dtype}")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self) -> Any:
        return self._grad_fn

    @property
    def data(self) -> "Tensor":
        """The same storage without autograd history (like PyTorch's ``.data``)."""
        return Tensor._wrap(self._data, self._device, version=self._version, is_view=True)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._data = value._data
        self._device = value._device

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on ``cpu``)."""
        if self._requires_grad and is_grad_enabled():
            raise RuntimeError("numpy: the tensor requires grad; call .detach().numpy() instead")
        if self._device.type != "cpu":
            raise TypeError(f"numpy: the tensor is on {self._device}; call .cpu() first")
        return self._data

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted, got shape {self.shape}")
        return move(self._data.reshape(()), self._device, CPU).item()

    def tolist(self) -> Any:
        return self.cpu()._data.tolist()

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._data, self._device, version=self._version, is_view=True)

    def clone(self) -> "Tensor":
        from .ops import shape as _shape

        return _shape.clone(self)

    def contiguous(self) -> "Tensor":
        return self if self.is_contiguous() else self.clone()

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> "Tensor":
        """``.to("cuda")``, ``.to(tc.float64)``, ``.to("cpu", tc.float32)``, ``.to(other_tensor)``."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None:
            out = out._cast(dtypes.as_dtype(dtype, "to"))
        if device is not None:
            from .ops.shape import to_device

            out = to_device(out, Device(device))
        return out

    def _cast(self, dtype: DType) -> "Tensor":
        if dtype.numpy == self._data.dtype:
            return self
        from .ops.elementwise import cast

        return cast(self, dtype)

    def float(self) -> "Tensor":
        return self._cast(dtypes.float32)

    def double(self) -> "Tensor":
        return self._cast(dtypes.float64)

    def long(self) -> "Tensor":
        return self._cast(dtypes.int64)

    def bool(self) -> "Tensor":
        return self._cast(dtypes.bool_)

    def type(self, dtype: Any) -> "Tensor":
        return self._cast(dtypes.as_dtype(dtype, "type"))

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self._data if self._device.type == "cpu" else move(self._data, self._device, CPU)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._data.__dlpack_device__()

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
        engine.backward(self, gradient, retain_graph)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``."""
        engine.retain(self)

    # ------------------------------------------------------------------ python protocol
    def __repr__(self) -> str:
        data = self._data if self._device.type == "cpu" else move(self._data, self._device, CPU)
        body = np.array2string(np.asarray(data), separator=", ", prefix="tensor(",
                               threshold=1000, edgeitems=3, precision=4)
        extras = []
        if self._device.type != "cpu":
            extras.append(f"device='{self._device}'")
        if self._data.size == 0 or self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={self.dtype}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self._data.size} elements is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype is not dtypes.int64 or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> "Tensor":
        return _ew.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return _ew.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return _ew.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return _ew.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return _ew.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return _ew.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return _ew.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _ew.div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        return _ew.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return _ew.pow(other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _linalg.matmul(other, self)

    def __neg__(self) -> "Tensor":
        return _ew.neg(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return _ew.abs(self)

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return _ew.compare("eq", self, other)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return _ew.compare("ne", self, other)

    def __lt__(self, other: Any) -> "Tensor":
        return _ew.compare("lt", self, other)

    def __le__(self, other: Any) -> "Tensor":
        return _ew.compare("le", self, other)

    def __gt__(self, other: Any) -> "Tensor":
        return _ew.compare("gt", self, other)

    def __ge__(self, other: Any) -> "Tensor":
        return _ew.compare("ge", self, other)

    def __invert__(self) -> "Tensor":
        if self.dtype is not dtypes.bool_:
            raise TypeError(f"invert: expected a bool tensor, got {self.dtype}")
        return Tensor._wrap(~self._data, self._device)

    def __and__(self, other: Any) -> "Tensor":
        return _ew.logical("and", self, other)

    def __or__(self, other: Any) -> "Tensor":
        return _ew.logical("or", self, other)

    def __xor__(self, other: Any) -> "Tensor":
        return _ew.logical("xor", self, other)

    # ------------------------------------------------------------------ in place
    def _inplace(self, op: str, result_fn: Any) -> "Tensor":
        from .ops.inplace import apply_inplace

        return apply_inplace(self, op, result_fn)

    def add_(self, other: Any, alpha: float = 1) -> "Tensor":
        return self._inplace("add_", lambda t: t + (other * alpha if alpha != 1 else other))

    def sub_(self, other: Any, alpha: float = 1) -> "Tensor":
        return self._inplace("sub_", lambda t: t - (other * alpha if alpha != 1 else other))

    def mul_(self, other: Any) -> "Tensor":
        return self._inplace("mul_", lambda t: t * other)

    def div_(self, other: Any) -> "Tensor":
        return self._inplace("div_", lambda t: t / other)

    def pow_(self, other: Any) -> "Tensor":
        return self._inplace("pow_", lambda t: t ** other)

    def clamp_(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    def copy_(self, src: Any) -> "Tensor":
        return self._inplace("copy_", lambda t: t * 0 + src)

    def zero_(self) -> "Tensor":
        return self._inplace("zero_", lambda t: t * 0)

    def fill_(self, value: Any) -> "Tensor":
        return self._inplace("fill_", lambda t: t * 0 + value)

    def __iadd__(self, other: Any) -> "Tensor":
        return self.add_(other)

    def __isub__(self, other: Any) -> "Tensor":
        return self.sub_(other)

    def __imul__(self, other: Any) -> "Tensor":
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> "Tensor":
        return self.div_(other)

    def __setitem__(self, key: Any, value: Any) -> None:
        from .ops.inplace import setitem

        setitem(self, key, value)

    # ------------------------------------------------------------------ math
    def exp(self) -> "Tensor":
        return _ew.exp(self)

    def log(self) -> "Tensor":
        return _ew.log(self)

    def sqrt(self) -> "Tensor":
        return _ew.sqrt(self)

    def abs(self) -> "Tensor":
        return _ew.abs(self)

    def sign(self) -> "Tensor":
        return _ew.sign(self)

    def tanh(self) -> "Tensor":
        return _ew.tanh(self)

    def sigmoid(self) -> "Tensor":
        return _ew.sigmoid(self)

    def relu(self) -> "Tensor":
        return _ew.relu(self)

    def pow(self, exponent: Any) -> "Tensor":
        return _ew.pow(self, exponent)

    def clamp(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        return _ew.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> "Tensor":
        return _ew.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return _ew.minimum(self, other)

    def softmax(self, dim: int) -> "Tensor":
        return _softmax.softmax(self, dim)

    def log_softmax(self, dim: int) -> "Tensor":
        return _softmax.log_softmax(self, dim)

    def matmul(self, other: Any) -> "Tensor":
        return _linalg.matmul(self, other)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _red.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _red.mean(self, dim, keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _red.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _red.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _red.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return _red.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _red.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _red.argmin(self, dim, keepdim)

    def var(self, dim: Any = None, keepdim: bool = False, *, correction: int = 1, unbiased: bool | None = None) -> "Tensor":
        return _red.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim: Any = None, keepdim: bool = False, *, correction: int = 1, unbiased: bool | None = None) -> "Tensor":
        return _red.std(self, dim, keepdim, correction=correction, unbiased=unbiased)

    # ------------------------------------------------------------------ shapes
    def reshape(self, *shape: Any) -> "Tensor":
        return _shape.reshape(self, _shape.shape_arg(shape))

    def view(self, *shape: Any) -> "Tensor":
        return _shape.view(self, _shape.shape_arg(shape))

    def view_as(self, other: "Tensor") -> "Tensor":
        return _shape.view(self, other.shape)

    def reshape_as(self, other: "Tensor") -> "Tensor":
        return _shape.reshape(self, other.shape)

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        return _shape.transpose(self, dim0, dim1)

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dimensions, got {self.ndim}")
        return _shape.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def T(self) -> "Tensor":
        return _shape.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> "Tensor":
        return _shape.transpose(self, -2, -1)

    def permute(self, *dims: Any) -> "Tensor":
        return _shape.permute(self, _shape.shape_arg(dims))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return _shape.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None) -> "Tensor":
        return _shape.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> "Tensor":
        return _shape.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> "Tensor":
        return _shape.expand(self, _shape.shape_arg(sizes))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return _shape.expand(self, other.shape)

    def __getitem__(self, key: Any) -> "Tensor":
        return _index.getitem(self, key)


from .ops import elementwise as _ew  # noqa: E402  (ops import Tensor; bound after the class exists)
from .ops import indexing as _index  # noqa: E402
from .ops import linalg as _linalg  # noqa: E402
from .ops import reduction as _red  # noqa: E402
from .ops import shape as _shape  # noqa: E402
from .ops import softmax as _softmax  # noqa: E402
