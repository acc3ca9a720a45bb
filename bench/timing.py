"""Timing helpers: warm up, synchronize, repeat, and summarize with the median and its spread.

A benchmark here is "call ``fn`` many times and report the median". Each run is bracketed by the
device's synchronize hook, so asynchronous GPU work is inside the measured interval:

* ``cpu``: :func:`time.perf_counter` around each call; the sync hook is a no-op.
* ``cuda`` with CuPy on a real GPU: CUDA events recorded on the current stream around each call
  (``cupy.cuda.get_elapsed_time``), then a stream synchronize. Under Numba's CUDA simulator the
  storage is NumPy and the CPU clock is used.

The number of runs adapts to the kernel: after the warm-up, one timed call estimates the cost and
enough runs are made to fill ``min_time`` seconds (between ``min_repeat`` and ``max_repeat``).
:func:`l2_flush` evicts the GPU's L2 cache between runs whose inputs would fit in it.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Timing:
    """Wall times of ``repeat`` runs (seconds) and their summary."""

    times: tuple[float, ...] = field(repr=False)
    warmup: int
    timer: str  # "perf_counter" or "cuda_events"

    @property
    def repeat(self) -> int:
        return len(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    @property
    def q1(self) -> float:
        return _quantile(self.times, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.times, 0.75)

    @property
    def iqr(self) -> float:
        """Interquartile range: the spread of the middle half of the runs."""
        return self.q3 - self.q1

    def summary(self) -> dict[str, Any]:
        """The JSON-friendly summary: median, q1, q3, iqr, min, max (seconds), repeat, warmup, timer."""
        return {"median_s": self.median, "q1_s": self.q1, "q3_s": self.q3, "iqr_s": self.iqr,
                "min_s": self.min, "max_s": self.max, "repeat": self.repeat, "warmup": self.warmup,
                "timer": self.timer}


def _quantile(xs: tuple[float, ...], q: float) -> float:
    """Linear-interpolated quantile (NumPy's default method) of a non-empty sequence."""
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# --------------------------------------------------------------------------- synchronization

def _noop() -> None:
    return None


def _real_gpu() -> bool:
    from tensorcore import cuda
    from tensorcore.device import simulated

    return cuda.is_available() and not simulated()


def sync_hook(device: str) -> Callable[[], None]:
    """The function that waits for ``device``'s queued work: a no-op on ``cpu`` (and on the CUDA
    simulator, whose storage is NumPy), :func:`tensorcore.cuda.synchronize` on a real GPU."""
    kind = str(device).split(":")[0]
    if kind == "cpu":
        return _noop
    if kind != "cuda":
        raise ValueError(f"sync_hook: unknown device {device!r}; expected 'cpu' or 'cuda'")
    if not _real_gpu():
        return _noop
    from tensorcore import cuda

    return cuda.synchronize


def l2_flush(device: str, nbytes: int | None = None) -> Callable[[], None]:
    """A function that evicts the GPU's L2 cache by writing a buffer larger than it (a no-op on
    ``cpu`` and the simulator). ``nbytes`` defaults to twice the device's L2 size."""
    if str(device).split(":")[0] != "cuda" or not _real_gpu():
        return _noop
    import cupy

    if nbytes is None:
        l2 = cupy.cuda.Device().attributes.get("L2CacheSize", 64 << 20)
        nbytes = 2 * int(l2)
    buf = cupy.empty(nbytes // 4, dtype=cupy.int32)

    def flush() -> None:
        buf.fill(0)

    return flush


# --------------------------------------------------------------------------- measuring

def measure(fn: Callable[[], Any], *, device: str = "cpu", warmup: int = 2, repeat: int | None = None,
            min_time: float = 0.2, min_repeat: int = 5, max_repeat: int = 10_000,
            sync: Callable[[], None] | None = None, flush: Callable[[], None] | None = None) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` timed ones (chosen to fill about
    ``min_time`` seconds when None), each bracketed by ``sync`` (default: :func:`sync_hook` of
    ``device``). ``flush`` (e.g. :func:`l2_flush`) runs untimed before every call."""
    if warmup < 0 or (repeat is not None and repeat < 1) or min_repeat < 1 or max_repeat < min_repeat:
        raise ValueError(f"measure: bad counts warmup={warmup}, repeat={repeat}, "
                         f"min_repeat={min_repeat}, max_repeat={max_repeat}")
    sync = sync_hook(device) if sync is None else sync
    use_events = str(device).split(":")[0] == "cuda" and _real_gpu()
    timed = _event_timer(fn, sync, flush) if use_events else _clock_timer(fn, sync, flush)
    for _ in range(warmup):
        if flush is not None:
            flush()
        fn()
    sync()
    times = [timed()]
    if repeat is None:
        repeat = int(min(max_repeat, max(min_repeat, math.ceil(min_time / max(times[0], 1e-9)))))
    while len(times) < repeat:
        times.append(timed())
    return Timing(tuple(times), warmup, "cuda_events" if use_events else "perf_counter")


def _clock_timer(fn: Callable[[], Any], sync: Callable[[], None],
                 flush: Callable[[], None] | None) -> Callable[[], float]:
    clock = time.perf_counter

    def once() -> float:
        if flush is not None:
            flush()
        sync()
        start = clock()
        fn()
        sync()
        return clock() - start

    return once


def _event_timer(fn: Callable[[], Any], sync: Callable[[], None],
                 flush: Callable[[], None] | None) -> Callable[[], float]:
    import cupy

    start, stop = cupy.cuda.Event(), cupy.cuda.Event()

    def once() -> float:
        if flush is not None:
            flush()
        sync()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        sync()
        return cupy.cuda.get_elapsed_time(start, stop) / 1e3

    return once


__all__ = ["Timing", "measure", "sync_hook", "l2_flush"]
