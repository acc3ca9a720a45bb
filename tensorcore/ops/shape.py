"""Shape operations: views (reshape, permute, expand …), joins (cat, stack), copies and device moves.

A result that shares memory with its input is a *view*: it shares the input's version counter, so
an in-place change through either is seen by autograd's saved-tensor check.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd.function import Function
from ..device import Device, move
from .util import normalize_dim, same_device


def shape_arg(args: tuple) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape ``(2, 3)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _view_of(data: Any, x: Any) -> Any:
    from ..tensor import Tensor

    if data.size and x._xp.may_share_memory(data, x._data):
        return Tensor._wrap(data, x.device, version=x._version, is_view=True)
    return Tensor._wrap(data, x.device)


def _infer_shape(op: str, shape: Sequence[int], numel: int, src: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid shape {shape}")
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or numel % known:
            raise ValueError(f"{op}: shape {shape} is invalid for input of size {numel} (shape {src})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise ValueError(f"{op}: shape {shape} is invalid for input of size {numel} (shape {src})")
    return shape


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape, require_view):
        ctx.shape = x.shape
        if require_view:
            try:
                data = x._data.view()
                data.shape = shape
            except AttributeError:
                raise RuntimeError(f"view: shape {shape} is not compatible with the input's layout (shape "
                                   f"{x.shape}, strides {x.stride()}); use .reshape() or .contiguous().view()") from None
        else:
            data = x._data.reshape(shape)
        return _view_of(data, x)

    @staticmethod
    def backward(ctx, g):
        return g._data.reshape(ctx.shape), None, None


def reshape(x: Any, shape: Sequence[int]) -> Any:
    shape = _infer_shape("reshape", shape, x.numel(), x.shape)
    return x if shape == x.shape else Reshape.apply(x, shape, False)


def view(x: Any, shape: Sequence[int]) -> Any:
    return Reshape.apply(x, _infer_shape("view", shape, x.numel(), x.shape), True)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return _view_of(x._data.transpose(dims), x)

    @staticmethod
    def backward(ctx, g):
        return g._data.transpose(ctx.inverse), None


def permute(x: Any, dims: Sequence[int]) -> Any:
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dimensions")
    return Permute.apply(x, dims)


def transpose(x: Any, dim0: int, dim1: int) -> Any:
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, tuple(dims))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:s] + (-1 if x.numel() else int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def squeeze(x: Any, dim: Any = None) -> Any:
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dims = {normalize_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1)))


def unsqueeze(x: Any, dim: int) -> Any:
    d = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return _view_of(x._xp.broadcast_to(x._data, shape), x)

    @staticmethod
    def backward(ctx, g):
        return g._data, None  # the engine sums over the expanded axes


def expand(x: Any, sizes: Sequence[int]) -> Any:
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"expand: the target {sizes} has fewer dimensions than the tensor {x.shape}")
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        src = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if src is None:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i} of {sizes}")
            s = src
        if src is not None and src != 1 and src != s:
            raise ValueError(f"expand: the expanded size {s} must match the existing size {src} at "
                             f"dimension {i} (tensor {x.shape}, target {sizes})")
        shape.append(s)
    return Expand.apply(x, tuple(shape))


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        first = tensors[0]
        return _fresh(first._xp.concatenate([t._data for t in tensors], axis=dim), first)

    @staticmethod
    def backward(ctx, g):
        bounds = np.cumsum(ctx.sizes)[:-1]
        return (None, *g._xp.split(g._data, bounds, axis=ctx.dim))


def _fresh(data: Any, like: Any) -> Any:
    from ..tensor import Tensor

    return Tensor._wrap(data, like.device)


def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join tensors along an existing dimension ``dim``; all other dimensions must agree."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    from ..tensor import Tensor
    from .. import dtypes

    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"cat: expected a sequence of Tensors, got {type(t).__name__}")
    same_device("cat", *tensors)
    d = normalize_dim(dim, tensors[0].ndim, "cat")
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != d):
            raise ValueError(f"cat: shapes {ref} and {t.shape} differ outside dim {d}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = dtypes.promote(dt, t.dtype)
    return Cat.apply(d, *[t._cast(dt) for t in tensors])


def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join same-shaped tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {tuple(getattr(t, "shape", ())) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: expects tensors of one shape, got {sorted(shapes)}")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return _fresh(x._data.copy(), x)

    @staticmethod
    def backward(ctx, g):
        return g._data


def clone(x: Any) -> Any:
    return Clone.apply(x)


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        from ..tensor import Tensor

        ctx.src = x.device
        return Tensor._wrap(move(x._data, x.device, device), device)

    @staticmethod
    def backward(ctx, g):
        return move(g._data, g.device, ctx.src), None


def to_device(x: Any, device: Device) -> Any:
    return x if x.device == device else ToDevice.apply(x, device)
