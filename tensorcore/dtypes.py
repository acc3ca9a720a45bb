"""The dtypes a Tensor can hold, named as in PyTorch, and PyTorch's promotion rules between them."""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class DType:
    """A tensor element type (``tensorcore.float32`` …); ``.numpy`` is the NumPy dtype behind it."""

    def __init__(self, name: str, numpy_dtype: Any, is_floating_point: bool) -> None:
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.is_floating_point = is_floating_point

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"tensorcore.{self.name}"

    def __reduce__(self) -> str:
        return self.name


float32 = DType("float32", np.float32, True)
float64 = DType("float64", np.float64, True)
int64 = DType("int64", np.int64, False)
bool_ = DType("bool", np.bool_, False)
float = float32  # noqa: A001 - PyTorch's alias
double = float64
long = int64

_BY_NUMPY = {d.numpy: d for d in (float32, float64, int64, bool_)}
# Narrower integer and float types that NumPy users hand in are widened the way torch.from_numpy
# users expect after a .float() / .long(): unsigned and small ints to int64, float16 to float32.
_WIDEN = {np.dtype(t): int64 for t in (np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32)}
_WIDEN[np.dtype(np.float16)] = float32

default_float = float32


def as_dtype(value: Any, op: str = "tensor") -> DType:
    """Turn a ``DType``, NumPy dtype, Python type or name into a ``DType``; a clear error otherwise."""
    if isinstance(value, DType):
        return value
    if value is bool or value == "bool":
        return bool_
    if value is int:
        return int64
    if value is builtins.float:
        return default_float
    try:
        nd = np.dtype(value)
    except TypeError:
        nd = None
    if nd is not None:
        if nd in _BY_NUMPY:
            return _BY_NUMPY[nd]
        if nd in _WIDEN:
            return _WIDEN[nd]
    raise TypeError(f"{op}: unsupported dtype {value!r}; expected one of "
                    "tensorcore.float32, tensorcore.float64, tensorcore.int64, tensorcore.bool")



def from_numpy_dtype(nd: np.dtype, op: str = "tensor") -> DType:
    return as_dtype(nd, op)


def promote(a: DType, b: DType) -> DType:
    """Result dtype of a binary op between two tensors (PyTorch's category-then-width rule)."""
    if a is b:
        return a
    rank = {bool_: 0, int64: 1, float32: 2, float64: 3}
    return a if rank[a] >= rank[b] else b


def promote_scalar(t: DType, scalar: Any) -> DType:
    """Result dtype of a tensor with a Python scalar: the tensor's, unless the scalar is of a
    higher category (an int tensor with a float scalar gives the default float)."""
    if isinstance(scalar, (bool, np.bool_)):
        return t
    if isinstance(scalar, (int, np.integer)):
        return int64 if t is bool_ else t
    return t if t.is_floating_point else default_float
