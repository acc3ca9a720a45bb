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
from typing import Any

_GEOMETRY: dict[int, tuple[Any, tuple]] = {}


def remember(index: Any, geometry: tuple) -> None:
    """Remember ``geometry`` for the array ``index`` for as long as it lives."""
    key = id(index)
    try:
        ref = weakref.ref(index, lambda _, key=key: _GEOMETRY.pop(key, None))
    except TypeError:   # arrays that cannot be weakly referenced: always scatter
        return
    _GEOMETRY[key] = (ref, geometry)


def recall(index: Any) -> tuple | None:
    """The geometry remembered for this very array, or None."""
    entry = _GEOMETRY.get(id(index))
    if entry is None or entry[0]() is not index:
        return None
    return entry[1]


def overlaps(kernel: tuple[int, int], stride: tuple[int, int]) -> bool:
    """Whether pooling windows overlap (then max-pool backward scatters with atomics)."""
    return stride[0] < kernel[0] or stride[1] < kernel[1]
