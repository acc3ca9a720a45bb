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


# The default on a device is its fastest backend. `cpp` outranks `numpy`: its packed AVX-512 matmul
# measured 1.5-1.7x NumPy/OpenBLAS float32 at 512-2048 on 2 threads (AMD EPYC Zen 5, environment's
# OpenBLAS settings); entries it lacks fall back to the NumPy reference anyway.
register("cpp", "cpu", _load_cpp, priority=20)


def _load_numba() -> dict:
    from . import numba

    return numba.kernels()


# Handwritten Numba-CUDA kernels: the default on `cuda` where a GPU (or the simulator) can run them.
register("numba", "cuda", _load_numba, priority=10)


def _load_cupy() -> dict:
    from . import cupy

    return cupy.kernels()


# CUDA C kernels compiled by NVRTC through CuPy: the default on `cuda` on a real GPU (it does not load
# under the simulator). Entries it does not implement fall back to the NumPy reference on CuPy arrays,
# not to `numba`; use_backend("numba") still selects the Numba kernels for comparisons.
register("cupy", "cuda", _load_cupy, priority=30)

__all__ = ["Availability", "Backend", "BackendUnavailable", "available", "current", "default", "get",
           "register", "use_backend", "reference"]
