"""``tensorcore.cuda``: whether the ``cuda`` device can be used here, and synchronization."""
from __future__ import annotations

from .device import cuda_status, raise_deferred, simulated


def is_available() -> bool:
    """True when a GPU (or Numba's CUDA simulator) can hold ``cuda`` tensors."""
    return cuda_status()[0]


def why_unavailable() -> str:
    """A sentence saying why ``cuda`` is or is not available."""
    return cuda_status()[1]


def synchronize() -> None:
    """Wait for all work queued on the current GPU (a no-op on the simulator), then raise any device-side
    input check that failed since the last synchronization (:func:`tensorcore.device.defer_check`)."""
    if is_available() and not simulated():
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    raise_deferred()
