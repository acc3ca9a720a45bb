"""What the GPU backends remember between a max-pool forward and its backward.

The contract's ``max_pool2d_backward(grad_y, index, x_shape)`` gets no window geometry, but a GPU
backward can skip atomics when the windows do not overlap: then each input element lies in at most
one window and can *gather* its gradient, written once. So the forward remembers the geometry of
each ``index`` array it returns, keyed by ``id()`` and checked by identity through a weak reference:
a recycled id, or an index array made elsewhere (another backend, a copy), never picks up a stale
geometry. Those take the atomic scatter, which is right for every geometry.
"""
from __future__ import annotations

import weakref
from typing import Any, NamedTuple


class Window(NamedTuple):
    """A max-pool forward's geometry, as every backend records it."""

    x_shape: tuple[int, ...]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


_GEOMETRY: dict[int, tuple[Any, Window]] = {}


def remember(index: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int]) -> None:
    """Remember the geometry of the forward that returned ``index``, for as long as the array lives."""
    key = id(index)
    try:
        ref = weakref.ref(index, lambda _, key=key: _GEOMETRY.pop(key, None))
    except TypeError:   # arrays that cannot be weakly referenced: always scatter
        return
    _GEOMETRY[key] = (ref, Window(tuple(map(int, x_shape)), tuple(map(int, kernel)), tuple(map(int, stride)),
                                  tuple(map(int, padding))))


def overlaps(kernel: tuple[int, int], stride: tuple[int, int]) -> bool:
    """Whether pooling windows overlap (then max-pool backward scatters with atomics)."""
    return stride[0] < kernel[0] or stride[1] < kernel[1]


def gather_window(index: Any, x_shape: tuple[int, ...]) -> Window | None:
    """The geometry remembered for this very ``index`` array when the backward may gather: the forward
    was over an input of ``x_shape`` and its windows do not overlap. None otherwise (scatter)."""
    entry = _GEOMETRY.get(id(index))
    if entry is None or entry[0]() is not index:
        return None
    window = entry[1]
    if window.x_shape != tuple(x_shape) or overlaps(window.kernel, window.stride):
        return None
    return window
