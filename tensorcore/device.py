"""Devices and their storage: NumPy arrays on ``cpu``, CuPy arrays on ``cuda``.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the ``cuda`` device is simulated: its
storage is NumPy, so the whole GPU path runs on machines without a GPU.
"""
from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np


class Device:
    """A device, ``cpu`` or ``cuda[:index]``; compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, spec: "str | Device") -> None:
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda', got {spec!r}")
        kind, _, index = spec.partition(":")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
            raise ValueError(f"device: unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        self.type = kind
        self.index = int(index) if index else (0 if kind == "cuda" else None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = Device("cpu")


def simulated() -> bool:
    """True when Numba's CUDA simulator stands in for the GPU."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


@functools.lru_cache(maxsize=None)
def cuda_status() -> tuple[bool, str]:
    """``(available, reason)`` for the ``cuda`` device; probed once, never raises."""
    if simulated():
        return True, "simulated by Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        import cupy
    except ImportError as exc:
        return False, f"CuPy is not installed ({exc}); install tensorcore[cuda12] or tensorcore[cuda13]"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: report, do not crash
        return False, f"no usable CUDA driver or GPU ({exc})"
    if count == 0:
        return False, "no NVIDIA GPU was found"
    return True, f"{count} GPU(s)"


def is_cuda_available() -> bool:
    return cuda_status()[0]


def namespace_for(device: Device) -> Any:
    """The array module that holds storage on ``device``."""
    if device.type == "cpu" or simulated():
        return np
    import cupy

    return cupy


def check_available(device: Device, op: str = "to") -> None:
    if device.type == "cuda":
        ok, reason = cuda_status()
        if not ok:
            raise RuntimeError(f"{op}: device 'cuda' is not available: {reason}")


class OutOfMemoryError(RuntimeError):
    """The GPU could not allocate memory (a ``RuntimeError``, like ``torch.cuda.OutOfMemoryError``)."""


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def out_of_memory_error(op: str, nbytes: int) -> OutOfMemoryError:
    """The error to raise when allocating ``nbytes`` for ``op`` failed: it says how much was asked
    and how much the GPU and CuPy's memory pool have free (raise it ``from`` CuPy's error)."""
    detail = ""
    try:
        import cupy

        free, total = cupy.cuda.runtime.memGetInfo()
        pool = cupy.get_default_memory_pool()
        detail = (f"; the GPU has {_gib(free)} free of {_gib(total)}, and CuPy's memory pool holds "
                  f"{_gib(pool.total_bytes())} ({_gib(pool.free_bytes())} of it cached and unused)")
    except Exception:  # reporting must not fail on top of the original error
        pass
    return OutOfMemoryError(f"{op}: out of GPU memory: tried to allocate {_gib(nbytes)} ({nbytes} bytes){detail}")


def empty(xp: Any, shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    """A new uninitialized array of namespace ``xp``; on a GPU, running out of memory raises
    :class:`OutOfMemoryError` naming ``op``, the request and what is free (the GPU backends' allocator)."""
    if xp is np:
        return np.empty(shape, dtype=dtype)
    try:
        return xp.empty(shape, dtype=dtype)
    except xp.cuda.memory.OutOfMemoryError as exc:
        raise out_of_memory_error(op, int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize) from exc


def zeros(xp: Any, shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    """:func:`empty`, filled with zeros."""
    out = empty(xp, shape, dtype, op)
    out.fill(0)
    return out


# --------------------------------------------------------------------------- checks on the device
#
# Some input checks need the values, not just the shapes: a class index must lie in [0, C). On the
# cpu the values are at hand; on cuda, reading them would copy to the host and wait for the GPU at
# every training step. So on cuda the check itself runs on the device — a boolean reduction into a
# 0-d flag, queued like any kernel — and the flag is read at the next point where the host waits for
# the device anyway (``.item()``, ``.cpu()``, ``.numpy()`` via ``.cpu()``, ``tensorcore.cuda.synchronize()``),
# which then raises. This is PyTorch's "device-side assert" with a readable message and a context
# that stays usable. Flags of one check accumulate with an elementwise OR on the device, so a loop
# that never synchronizes keeps one flag per distinct check, not one per step.

_DEFERRED: dict[tuple, tuple[Any, type, str]] = {}


def defer_check(key: tuple, failed: Any, error: type, message: str) -> None:
    """Raise ``error(message)`` at the next host synchronization if the 0-d device array ``failed`` is
    true. ``key`` identifies the check (its op and parameters); repeated checks are OR-ed together."""
    entry = _DEFERRED.get(key)
    if entry is not None:
        failed = entry[0] | failed
    _DEFERRED[key] = (failed, error, message)


def raise_deferred() -> None:
    """Read the pending device-side checks (one small copy each) and raise the first that failed; all
    pending checks are cleared either way."""
    if not _DEFERRED:
        return
    pending = list(_DEFERRED.values())
    _DEFERRED.clear()
    for failed, error, message in pending:
        if bool(failed):
            raise error(message + " (checked on the device; reported at this synchronization, the first "
                                  "after the op ran)")


def move(array: Any, src: Device, dst: Device) -> Any:
    """Copy ``array`` from ``src`` to ``dst`` (the same object when nothing has to move).

    Every copy from a GPU to the host in tensorcore goes through here (``.item()``, ``.cpu()``,
    ``__array__``, state dicts), and so through :func:`raise_deferred`: the one place where the host
    waits for the device."""
    if src == dst:
        return array
    check_available(dst)
    if src.type == "cuda" and dst.type == "cpu":
        raise_deferred()
    if simulated():
        return array.copy()
    if dst.type == "cpu":
        return array.get()
    import cupy

    with cupy.cuda.Device(dst.index):
        try:
            return cupy.asarray(array)
        except cupy.cuda.memory.OutOfMemoryError as exc:
            raise out_of_memory_error(f"to({dst})", array.nbytes) from exc


def device_of(array: Any) -> Device:
    """The device an array's storage lives on (NumPy storage is ``cpu``)."""
    if isinstance(array, np.ndarray):
        return CPU
    return Device(f"cuda:{array.device.id}")
