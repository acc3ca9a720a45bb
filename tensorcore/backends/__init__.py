"""Kernel backends: one flat table of kernels per backend, probed on first use, never at import.

``available()`` lists what this machine can run and why the rest cannot; ``use_backend(name)``
switches a device's backend inside a ``with`` block; ``current(device)`` is what ops use now.
"""
from __future__ import annotations

from . import reference
from .registry import (Availability, Backend, BackendUnavailable, available, current, default, get,
                       register, use_backend)

register("numpy", "cpu", reference._kernels, priority=10)
reference.BACKEND = get("numpy")


def _load_cpp() -> dict:
    from . import cpp

    return cpp.kernels()


# The default on a device is its fastest backend. The C++ matmul is still a plain blocked kernel
# that OpenBLAS (behind NumPy) outruns, so `cpp` is opt-in (`use_backend("cpp")`) until it wins.
register("cpp", "cpu", _load_cpp, priority=5)

__all__ = ["Availability", "Backend", "BackendUnavailable", "available", "current", "default", "get",
           "register", "use_backend", "reference"]
