"""``python -m bench gpu``: one benchmark report for a GPU backend (``numba`` or ``cupy``) against
cuBLAS, device-to-device copy bandwidth and PyTorch, all measured in the same run.

What is timed (float32, one row per measurement):

* ``matmul``: every rung of the backend's matmul ladder, called by name, at 1024, 2048 and 4096
  (square), in GFLOP/s against cuBLAS (CuPy ``a @ b`` with ``CUPY_TF32=0``). ``numba``:
  ``tensorcore.backends.numba.matmul_variant`` over ``tensorcore.kernels.numba.matmul.VARIANTS``;
  ``cupy``: ``tensorcore.backends.cupy.matmul_variant`` over ``SGEMM`` with ``allow_tf32 = False``
  (its opt-in ``tf32_mma`` rung is listed for scale and marked as TF32). The default rung is marked.
  A rung predicted (from its time at the previous size, times n³) to take more than
  ``--max-call-s`` a call is skipped and listed as skipped; slow rungs get fewer runs.
* ``softmax`` (forward and backward: the backend's named strategies ``softmax_variant`` and the
  contract entries), ``cross_entropy`` (forward and backward together) and pooling
  (``max_pool2d``, ``avg_pool2d`` and their backward entries), in GB/s of compulsory traffic (every
  input read once, every output written once) against a device-to-device copy that moves the same
  bytes; PyTorch is listed next to them for scale.
* ``conv2d`` (forward; the data and the weight gradient of ``conv2d_backward`` as separate rows)
  and ``lstm_cell`` (forward, backward), in GFLOP/s against PyTorch on the same device with TF32
  off (cuDNN and cuBLAS on a GPU). Without PyTorch these rows have no reference.

Contract entries are called through the backend table (``tc.backends.get(name).<entry>``) and each
of their rows records whether the entry is ``handwritten`` or fell back to the NumPy ``reference``
(:meth:`tensorcore.backends.registry.Backend.table`), so the report says which kernel ran.

``ratio`` is a row's median time over its reference's median time (1.00 = as fast, 2.00 = twice as
slow). ``max_rel_err`` compares the row's first output with the NumPy reference contract
(:mod:`tensorcore.backends.reference`) run on the same arrays: the largest absolute difference over
the largest magnitude of the expected output.

Timing is :func:`bench.timing.measure` (CUDA events and an L2 flush before every run on a GPU): one
call for the output check, one warm-up call, then the median of up to ``--max-repeat`` runs, fewer
for kernels slower than ``--min-time`` / ``--max-repeat`` (at least :data:`MIN_REPEAT`).

The same code runs on the CPU (``--device cpu`` with the ``numpy`` or ``cpp`` backend: NumPy
arrays, ``perf_counter``, the C++ ladder ``tensorcore._C.matmul_variant`` against ``numpy.matmul``,
``numpy.copyto`` for the copy bandwidth, PyTorch on the CPU), so it is tested without a GPU;
``--tiny`` shrinks every shape to a smoke run.

Output: ``bench/results/gpu-<backend>-<machine>-<time>.json`` (top level :data:`TOP_KEYS`, rows
:data:`ROW_KEYS`), and markdown tables printed at the end and saved next to it as ``.md``. A
measurement that raises is listed under ``errors`` and the run goes on; the command then exits 1.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import kernels, timing

SCHEMA = 1
TOP_KEYS = ("schema", "kind", "backend", "device", "time", "command", "tf32", "torch", "plan", "machine",
            "skipped", "errors", "interrupted", "results")
ROW_KEYS = ("section", "kernel", "entry", "table", "source", "impl", "shape", "params",
            "median_s", "q1_s", "q3_s", "iqr_s", "min_s", "max_s", "repeat", "warmup", "timer",
            "gflops", "gbps", "reference", "ratio", "max_rel_err", "note")
"""Keys of a result row. ``source``: ``variant`` (a named rung or strategy called directly),
``kernel`` (a contract entry through the backend table; ``entry`` and ``table`` say which and
whether it is ``handwritten`` or ``reference``), ``reference`` (what the section's ratios are
against) or ``library`` (PyTorch shown for scale on memory-bound kernels). ``shape``: matmul
``[M, K, N]``, softmax and cross-entropy ``[rows, cols]``, pooling ``[N, C, H, W]``, conv2d
``[N, C, H, W, O, KH, KW]``, lstm_cell ``[N, input, hidden]``, copy ``[floats]``; ``params``: the
plain arguments (kernel, stride, padding)."""

SECTIONS = ("matmul", "softmax", "cross_entropy", "pooling", "conv2d", "lstm_cell")
DEVICE_BACKENDS: dict[str, tuple[str, ...]] = {"cuda": ("numba", "cupy"), "cpu": ("numpy", "cpp")}

MIN_TIME = 0.2     # seconds of timed runs a row aims for: fast kernels get MAX_REPEAT runs
MIN_REPEAT = 3
MAX_REPEAT = 20
MAX_CALL_S = 1.0   # a ladder rung predicted slower than this per call is skipped
WARMUP = 1         # after the output-check call, which also pays for JIT / NVRTC compilation


@dataclass(frozen=True)
class Plan:
    """The shapes one run measures (all float32)."""

    sizes: tuple[int, ...]                                          # square matmul sizes
    softmax: tuple[tuple[int, int], ...]                            # (rows, cols)
    cross_entropy: tuple[tuple[int, int], ...]                      # (rows, classes)
    pool: tuple[tuple[tuple[int, int, int, int], int, int, int], ...]  # (N, C, H, W), kernel, stride, padding
    conv: tuple[tuple[int, int, int, int, int, int, int, int], ...]    # N, C, H, W, O, K, stride, padding
    lstm: tuple[tuple[int, int, int], ...]                          # N, input, hidden


PLANS: dict[str, Plan] = {
    # A real GPU: matmul sizes from the issue; softmax rows short to long; the pooling, conv2d and
    # LSTM shapes of a ResNet stem / stage and of a mid-size recurrent tagger.
    "cuda": Plan(sizes=(1024, 2048, 4096),
                 softmax=((65536, 128), (8192, 1024), (4096, 4000), (256, 65536)),
                 cross_entropy=((65536, 128), (8192, 4096)),
                 pool=(((32, 64, 112, 112), 3, 2, 1), ((32, 64, 112, 112), 2, 2, 0)),
                 conv=((32, 64, 56, 56, 64, 3, 1, 1), (32, 128, 28, 28, 256, 3, 2, 1), (64, 3, 224, 224, 64, 7, 2, 3)),
                 lstm=((64, 512, 512), (256, 1024, 1024))),
    # The CPU: the course models' sizes, small enough for a few cores.
    "cpu": Plan(sizes=(256, 512),
                softmax=((1024, 1000),),
                cross_entropy=((1024, 1000),),
                pool=(((100, 25, 26, 26), 2, 2, 0), ((16, 32, 28, 28), 3, 2, 1)),
                conv=((100, 1, 28, 28, 25, 3, 1, 0), (16, 16, 28, 28, 32, 3, 2, 1)),
                lstm=((64, 128, 128),)),
    # A smoke run in seconds; odd sizes cross tile edges.
    "tiny": Plan(sizes=(16, 33),
                 softmax=((8, 10), (3, 70)),
                 cross_entropy=((8, 10),),
                 pool=(((2, 3, 8, 8), 2, 2, 0), ((2, 3, 9, 9), 3, 2, 1)),
                 conv=((2, 3, 8, 8, 4, 3, 1, 1), (2, 3, 9, 9, 4, 3, 2, 1)),
                 lstm=((4, 8, 8),)),
}


# --------------------------------------------------------------------------- devices

@dataclass
class Device:
    """Where the report runs: ``kind`` (``cuda`` or ``cpu``), the array namespace ``xp`` (CuPy or
    NumPy), PyTorch on that device (``torch``, or None with ``torch_note`` saying why), the L2 flush
    run before every timed call, and the names of the matmul and copy references."""

    kind: str
    xp: Any
    torch: Any | None
    torch_note: str
    flush: Callable[[], None] | None
    matmul_ref: str
    copy_ref: str
    torch_sync: bool = False  # PyTorch queues on another stream than CuPy's: bracket its calls

    def asarray(self, a: np.ndarray) -> Any:
        """``a`` on this device."""
        return self.xp.asarray(a)

    def to_torch(self, a: Any) -> Any:
        """A PyTorch tensor sharing ``a``'s memory (zero-copy on both devices)."""
        if self.kind == "cpu":
            return self.torch.from_numpy(a)
        return self.torch.as_tensor(a, device="cuda")

    def from_any(self, v: Any) -> Any:
        """A PyTorch tensor or an array as an array of this device."""
        if hasattr(v, "detach"):
            v = v.detach()
            return v.numpy() if self.kind == "cpu" else self.xp.asarray(v)
        return v

    def torch_fn(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn`` made safe to time with this device's timer (see :attr:`torch_sync`)."""
        if not self.torch_sync:
            return fn
        sync = self.torch.cuda.synchronize

        def synced() -> Any:
            sync()
            out = fn()
            sync()
            return out

        return synced


def _real_gpu() -> bool:
    import tensorcore as tc
    from tensorcore.device import simulated

    return tc.cuda.is_available() and not simulated()


def _import_torch(kind: str) -> tuple[Any | None, str]:
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    except Exception as exc:  # a broken install must not stop the tensorcore rows
        return None, f"PyTorch failed to import ({type(exc).__name__}: {exc})"
    if kind == "cuda" and not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} cannot use the GPU"
    return torch, f"PyTorch {torch.__version__}"


def make_device(kind: str, use_torch: bool = True) -> Device:
    """The :class:`Device` for ``kind``; on ``cuda`` it needs a real GPU (not Numba's simulator) and
    TF32 off, and turns PyTorch's TF32 off for matmul and cuDNN."""
    torch, note = _import_torch(kind) if use_torch else (None, "PyTorch not used (--no-torch)")
    if kind == "cpu":
        if torch is not None:
            torch.set_num_threads(kernels.cpu_threads())  # the same threads as tensorcore's C++ kernels
        return Device("cpu", np, torch, note, None, "numpy.matmul", "numpy.copyto")
    if kind != "cuda":
        raise ValueError(f"make_device: unknown device {kind!r}; expected 'cuda' or 'cpu'")
    if os.environ.get("CUPY_TF32", "0") != "0":
        raise RuntimeError(f"CUPY_TF32={os.environ['CUPY_TF32']} lets cuBLAS use TF32; the FP32 comparisons "
                           "need it off: run with CUPY_TF32=0")
    if not _real_gpu():
        import tensorcore as tc

        raise RuntimeError(f"--device cuda needs a real GPU ({tc.cuda.why_unavailable()}); "
                           "--device cpu runs the same report on the CPU")
    import cupy

    sync = False
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest algorithm during the warm-up
        sync = torch.cuda.current_stream().cuda_stream != cupy.cuda.get_current_stream().ptr
        note += " (TF32 off)"
    try:
        flush = timing.l2_flush("cuda")
    except Exception:  # CuPy versions differ in how they report the L2 size; 256 MiB exceeds any L2 so far
        flush = timing.l2_flush("cuda", nbytes=256 << 20)
    return Device("cuda", cupy, torch, note, flush, "cuBLAS (CuPy a @ b, TF32 off)",
                  "cupy.copyto (device to device)", torch_sync=sync)


# --------------------------------------------------------------------------- backends

@dataclass(frozen=True)
class Ladder:
    """A backend's matmul ladder: rung names slowest first, the default rung, ``run(a, b, name)``,
    and a note for rungs that are not plain FP32."""

    names: tuple[str, ...]
    default: str
    run: Callable[[Any, Any, str], Any]
    notes: dict[str, str] = dataclasses.field(default_factory=dict)


def load_backend(name: str) -> Any:
    """``tc.backends.get(name)`` with TF32 off (the cupy backend's ``allow_tf32``)."""
    import tensorcore as tc

    backend = tc.backends.get(name)
    if name == "cupy":
        from tensorcore.backends import cupy as glue

        glue.allow_tf32 = False
    return backend


def ladder(name: str) -> Ladder | None:
    """The matmul ladder of backend ``name`` (None for ``numpy``, whose matmul is NumPy's)."""
    if name == "numba":
        from tensorcore.backends import numba as glue
        from tensorcore.kernels.numba import matmul as mm

        return Ladder(tuple(mm.VARIANTS), mm.DEFAULT, glue.matmul_variant)
    if name == "cupy":
        from tensorcore.backends import cupy as glue

        return Ladder(tuple(glue.SGEMM), glue.SGEMM_DEFAULT, glue.matmul_variant,
                      {"tf32_mma": "TF32 tensor cores, not FP32"})
    if name == "cpp":
        from tensorcore import _C

        names = tuple(kernels.ladder_variants("cpu"))
        # The C++ matmul entry runs the widest packed rung the CPU supports: the last one here.
        return Ladder(names, names[-1], _C.matmul_variant) if names else None
    return None


def softmax_variants(name: str, cols: int) -> tuple[dict[str, Callable[..., Any]], dict[str, str]]:
    """``(strategies, skipped)``: the named softmax strategies of backend ``name`` that take rows of
    ``cols`` columns (each called as ``fn(x, variant, grad_y=None)``), and why others are left out."""
    if name == "numba":
        from tensorcore.backends import numba as glue
        from tensorcore.kernels.numba import softmax as sm

        return {v: glue.softmax_variant for v in sm.VARIANTS}, {}
    if name == "cupy":
        from tensorcore.backends import cupy as glue

        if cols > glue.SOFTMAX_MAX_WARP_C:
            return {"block": glue.softmax_variant}, {
                "warp": f"the warp kernels take rows of up to {glue.SOFTMAX_MAX_WARP_C} columns"}
        return {v: glue.softmax_variant for v in ("warp", "block")}, {}
    return {}, {}


def _pool_note(name: str, kernel: int, stride: int) -> str:
    """How the GPU backends' max-pool backward runs for this geometry."""
    if name not in ("cupy", "numba"):
        return ""
    from tensorcore.backends import pool_geometry

    return "atomic scatter (windows overlap)" if pool_geometry.overlaps((kernel, kernel), (stride, stride)) else "gather"


# --------------------------------------------------------------------------- measuring

def _first(v: Any) -> Any:
    """The first array of an entry's result (tuples may hold None for gradients not asked for)."""
    if isinstance(v, (tuple, list)):
        return next(x for x in v if x is not None)
    return v


def rel_err(device: Device, got: Any, want: Any) -> float:
    """Largest ``|got - want|`` over the largest ``|want|`` (the absolute difference where ``want`` is
    all zeros), on the first output of each."""
    xp = device.xp
    g = device.from_any(_first(got)).astype(xp.float64)
    w = device.from_any(_first(want)).astype(xp.float64)
    if g.shape != w.shape:
        raise ValueError(f"output shape {tuple(g.shape)} differs from the reference's {tuple(w.shape)}")
    if not w.size:
        return 0.0
    diff, scale = float(xp.abs(g - w).max()), float(xp.abs(w).max())
    return diff / scale if scale > 0 else diff


class _Session:
    """One run: the rows measured so far, what was skipped, and what failed."""

    def __init__(self, backend: str, device: Device, min_time: float, max_repeat: int, settle: float,
                 progress: Callable[[str], None] | None) -> None:
        from tensorcore.backends import reference

        self.name = backend
        self.B = load_backend(backend)
        self.table = self.B.table()
        self.R = reference
        self.device = device
        self.min_time, self.max_repeat, self.settle = min_time, max_repeat, settle
        self.progress = progress or (lambda line: None)
        self.rng = np.random.default_rng(0)
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._copies: dict[tuple[str, int], dict[str, Any] | None] = {}
        torch = device.torch
        self.torch_name = f"PyTorch {torch.__version__}" if torch is not None else None

    # -- helpers

    def randn(self, *shape: int, scale: float = 1.0) -> Any:
        a = self.rng.standard_normal(shape, dtype=np.float32)
        if scale != 1.0:
            a *= np.float32(scale)
        return self.device.asarray(a)

    def fail(self, section: str, kernel: str, shape: Sequence[int], impl: str, exc: BaseException) -> None:
        self.errors.append({"section": section, "kernel": kernel, "shape": list(shape), "impl": impl,
                            "error": f"{type(exc).__name__}: {exc}"})
        self.progress(f"FAILED {kernel} {_shape_text(shape)} {impl}: {type(exc).__name__}: {exc}")

    @contextlib.contextmanager
    def case(self, section: str, kernel: str, shape: Sequence[int]) -> Iterator[None]:
        """Run one case's setup and rows; an exception is recorded and the run goes on, so one failing
        kernel does not cost the rest of a one-shot GPU run."""
        try:
            yield
        except Exception as exc:
            self.fail(section, kernel, shape, "(setup)", exc)

    def add(self, section: str, kernel: str, shape: Sequence[int], source: str, impl: str,
            fn: Callable[[], Any], *, entry: str | None = None, table: str | None = None,
            params: dict[str, Any] | None = None, flops: float = 0.0, nbytes: float = 0.0,
            ref: dict[str, Any] | None = None, expected: Any = None, note: str = "") -> dict[str, Any] | None:
        """Time ``fn`` and append its row (None, and an entry in ``errors``, when it raises)."""
        if self.settle > 0:
            time.sleep(self.settle)
        try:
            out = fn()
            t = timing.measure(fn, device=self.device.kind, warmup=WARMUP, min_time=self.min_time,
                               min_repeat=MIN_REPEAT, max_repeat=self.max_repeat, flush=self.device.flush)
        except Exception as exc:
            self.fail(section, kernel, shape, impl, exc)
            return None
        err = None
        if expected is not None:
            try:
                err = rel_err(self.device, out, expected)
            except Exception as exc:  # a wrong-looking output is reported, the timing is kept
                note = "; ".join(filter(None, [note, f"output check failed: {exc}"]))
        if entry is not None and table is None:
            table = self.table[entry]
        med = t.median
        row = {"section": section, "kernel": kernel, "entry": entry, "table": table, "source": source,
               "impl": impl, "shape": [int(v) for v in shape], "params": dict(params or {}), **t.summary(),
               "gflops": flops / med / 1e9 if flops else None, "gbps": nbytes / med / 1e9 if nbytes else None,
               "reference": impl if source == "reference" else (ref["impl"] if ref else None),
               "ratio": 1.0 if source == "reference" else (med / ref["median_s"] if ref else None),
               "max_rel_err": err, "note": note}
        self.rows.append(row)
        self.progress(_progress_line(row))
        return row

    def copy_ref(self, section: str, nbytes: float) -> dict[str, Any] | None:
        """The copy row that moves ``nbytes`` (half read, half written), measured once per section."""
        n = max(1, round(nbytes / 8))
        key = (section, n)
        if key not in self._copies:
            xp = self.device.xp
            src = xp.ones(n, dtype=np.float32)
            dst = xp.empty_like(src)
            self._copies[key] = self.add(section, "copy", [n], "reference", self.device.copy_ref,
                                         functools.partial(xp.copyto, dst, src), nbytes=8.0 * n)
        return self._copies[key]

    def torch_row(self, section: str, kernel: str, shape: Sequence[int], fn: Callable[[], Any], *,
                  source: str = "library", **kw: Any) -> dict[str, Any] | None:
        return self.add(section, kernel, shape, source, self.torch_name, self.device.torch_fn(fn), **kw)

    # -- sections

    def matmul(self, sizes: Sequence[int], max_call_s: float) -> None:
        lad = ladder(self.name)
        last: dict[str, tuple[int, float]] = {}  # rung -> (size, median) at the last size it ran
        for n in sizes:
            shape = [n, n, n]
            with self.case("matmul", "matmul", shape):
                a, b = self.randn(n, n), self.randn(n, n)
                expected = self.R.matmul(a, b)
                kw = dict(flops=2.0 * n ** 3, expected=expected)
                ref = self.add("matmul", "matmul", shape, "reference", self.device.matmul_ref,
                               functools.partial(self.device.xp.matmul, a, b), **kw)
                if lad is None:
                    self.add("matmul", "matmul", shape, "kernel", self.name, functools.partial(self.B.matmul, a, b),
                             entry="matmul", ref=ref, **kw)
                    continue
                for rung in lad.names:
                    if rung in last:
                        size, median = last[rung]
                        predicted = median * (n / size) ** 3
                        if predicted > max_call_s:
                            self.skipped.append({"section": "matmul", "kernel": "matmul", "impl": rung, "shape": shape,
                                                 "reason": f"predicted {predicted:.2f} s a call from {size}^3 "
                                                           f"(over --max-call-s {max_call_s:g})"})
                            continue
                    note = "; ".join(filter(None, ["default" if rung == lad.default else "", lad.notes.get(rung, "")]))
                    row = self.add("matmul", "matmul", shape, "variant", rung, functools.partial(lad.run, a, b, rung),
                                   ref=ref, note=note, **kw)
                    if row is not None:
                        last[rung] = (n, row["median_s"])

    def softmax(self, shapes: Sequence[tuple[int, int]]) -> None:
        torch = self.device.torch
        for rows, cols in shapes:
            shape = [rows, cols]
            with self.case("softmax", "softmax", shape):
                x, g = self.randn(rows, cols, scale=3.0), self.randn(rows, cols)
                y = self.R.softmax(x)
                dx = self.R.softmax_backward(y, g)
                variants, left_out = softmax_variants(self.name, cols)
                for v, why in left_out.items():
                    self.skipped.append({"section": "softmax", "kernel": "softmax", "impl": v, "shape": shape,
                                         "reason": why})
                size = 4.0 * rows * cols
                # forward: read x, write y; backward: read y and dy, write dx
                for kernel, nbytes, want, extra in (("softmax", 2 * size, y, {}),
                                                    ("softmax_backward", 3 * size, dx, {"grad_y": g})):
                    src = x if kernel == "softmax" else y
                    copy = self.copy_ref("softmax", nbytes)
                    kw = dict(nbytes=nbytes, ref=copy, expected=want)
                    for v, fn in variants.items():
                        self.add("softmax", kernel, shape, "variant", v, functools.partial(fn, src, v, **extra), **kw)
                    entry = getattr(self.B, kernel)
                    call = functools.partial(entry, x) if kernel == "softmax" else functools.partial(entry, y, g)
                    self.add("softmax", kernel, shape, "kernel", self.name, call, entry=kernel, **kw)
                    if torch is not None:
                        xt, yt, gt = (self.device.to_torch(v) for v in (x, y, g))
                        tfn = (functools.partial(torch.softmax, xt, -1) if kernel == "softmax" else
                               functools.partial(torch._softmax_backward_data, gt, yt, -1, yt.dtype))
                        self.torch_row("softmax", kernel, shape, tfn, **kw)

    def cross_entropy(self, shapes: Sequence[tuple[int, int]]) -> None:
        torch = self.device.torch
        xp = self.device.xp
        for rows, cols in shapes:
            shape = [rows, cols]
            with self.case("cross_entropy", "cross_entropy", shape):
                x = self.randn(rows, cols, scale=3.0)
                t = self.device.asarray(self.rng.integers(0, cols, size=rows, dtype=np.int64))
                ones = xp.ones(rows, dtype=np.float32)

                def both(B: Any) -> Any:
                    _, logp = B.cross_entropy(x, t)
                    return B.cross_entropy_backward(logp, t, ones)

                # logits read, log-probabilities written and read back, gradient written; targets read
                nbytes = 4.0 * 4 * rows * cols + 8.0 * rows
                copy = self.copy_ref("cross_entropy", nbytes)
                kw = dict(nbytes=nbytes, ref=copy, expected=both(self.R))
                self.add("cross_entropy", "cross_entropy", shape, "kernel", self.name, functools.partial(both, self.B),
                         entry="cross_entropy", table=kernels.variant(self.B, "cross_entropy"),
                         note="forward and backward", **kw)
                if torch is not None:
                    xt, tt = self.device.to_torch(x), self.device.to_torch(t)

                    def torch_both() -> Any:
                        leaf = xt.detach().requires_grad_(True)
                        torch.nn.functional.cross_entropy(leaf, tt, reduction="sum").backward()
                        return leaf.grad

                    self.torch_row("cross_entropy", "cross_entropy", shape, torch_both, note="forward and backward",
                                   **kw)

    def pooling(self, cases: Sequence[tuple[tuple[int, int, int, int], int, int, int]]) -> None:
        torch = self.device.torch
        B, R = self.B, self.R
        for x_shape, k, s, p in cases:
            shape = list(x_shape)
            params = {"kernel": k, "stride": s, "padding": p}
            with self.case("pooling", "max_pool2d", shape):
                K, S, P = (k, k), (s, s), (p, p)
                x = self.randn(*x_shape)
                y, _ = R.max_pool2d(x, K, S, P)
                gy = self.randn(*y.shape)
                _, index = B.max_pool2d(x, K, S, P)  # the backend's own index, as in a training step
                xb, yb, ib = 4.0 * x.size, 4.0 * y.size, 8.0 * y.size
                rows = [
                    ("max_pool2d", functools.partial(B.max_pool2d, x, K, S, P), xb + yb + ib, y, ""),
                    ("max_pool2d_backward", functools.partial(B.max_pool2d_backward, gy, index, tuple(x.shape)),
                     yb + ib + xb, R.max_pool2d_backward(gy, index, tuple(x.shape)), _pool_note(self.name, k, s)),
                    ("avg_pool2d", functools.partial(B.avg_pool2d, x, K, S, P, True), xb + yb,
                     R.avg_pool2d(x, K, S, P, True), ""),
                    ("avg_pool2d_backward", functools.partial(B.avg_pool2d_backward, gy, tuple(x.shape), K, S, P, True),
                     yb + xb, R.avg_pool2d_backward(gy, tuple(x.shape), K, S, P, True), ""),
                ]
                torch_fns: dict[str, Callable[[], Any]] = {}
                if torch is not None:
                    aten = torch.ops.aten
                    xt, gyt = self.device.to_torch(x), self.device.to_torch(gy)
                    kk, ss, pp = [k, k], [s, s], [p, p]
                    _, it = aten.max_pool2d_with_indices(xt, kk, ss, pp)
                    torch_fns = {
                        "max_pool2d": functools.partial(aten.max_pool2d_with_indices, xt, kk, ss, pp),
                        "max_pool2d_backward": functools.partial(aten.max_pool2d_with_indices_backward, gyt, xt, kk,
                                                                 ss, pp, [1, 1], False, it),
                        "avg_pool2d": functools.partial(aten.avg_pool2d, xt, kk, ss, pp, False, True),
                        "avg_pool2d_backward": functools.partial(aten.avg_pool2d_backward, gyt, xt, kk, ss, pp, False,
                                                                 True, None),
                    }
                for kernel, fn, nbytes, want, note in rows:
                    kw = dict(params=params, nbytes=nbytes, ref=self.copy_ref("pooling", nbytes), expected=want)
                    self.add("pooling", kernel, shape, "kernel", self.name, fn, entry=kernel, note=note, **kw)
                    if kernel in torch_fns:
                        self.torch_row("pooling", kernel, shape, torch_fns[kernel], **kw)

    def conv2d(self, cases: Sequence[tuple[int, int, int, int, int, int, int, int]]) -> None:
        torch = self.device.torch
        B, R = self.B, self.R
        for n, c, h, w, o, k, s, p in cases:
            shape = [n, c, h, w, o, k, k]
            params = {"stride": s, "padding": p}
            with self.case("conv2d", "conv2d", shape):
                S, P, D = (s, s), (p, p), (1, 1)
                x, wt = self.randn(n, c, h, w), self.randn(o, c, k, k, scale=1 / math.sqrt(c * k * k))
                y = R.conv2d(x, wt, S, P, D, 1)
                gy = self.randn(*y.shape)
                flops = 2.0 * n * o * y.shape[2] * y.shape[3] * c * k * k  # each of the three GEMMs
                ours = {
                    "conv2d": (functools.partial(B.conv2d, x, wt, S, P, D, 1), y),
                    "conv2d_backward_data": (functools.partial(B.conv2d_backward, x, wt, gy, S, P, D, 1, True, False),
                                             R.conv2d_backward(x, wt, gy, S, P, D, 1, True, False)),
                    "conv2d_backward_weight": (functools.partial(B.conv2d_backward, x, wt, gy, S, P, D, 1, False, True),
                                               R.conv2d_backward(x, wt, gy, S, P, D, 1, False, True)),
                }
                theirs: dict[str, Callable[[], Any]] = {}
                if torch is not None:
                    xt, wtt, gyt = (self.device.to_torch(v) for v in (x, wt, gy))
                    back = functools.partial(torch.ops.aten.convolution_backward, gyt, xt, wtt, None, [s, s], [p, p],
                                             [1, 1], False, [0, 0], 1)
                    theirs = {"conv2d": functools.partial(torch.nn.functional.conv2d, xt, wtt, None, s, p),
                              "conv2d_backward_data": functools.partial(back, [True, False, False]),
                              "conv2d_backward_weight": functools.partial(back, [False, True, False])}
                for kernel, (fn, want) in ours.items():
                    kw = dict(params=params, flops=flops, expected=want)
                    ref = self.torch_row("conv2d", kernel, shape, theirs[kernel], source="reference", **kw) \
                        if kernel in theirs else None
                    entry = "conv2d" if kernel == "conv2d" else "conv2d_backward"
                    self.add("conv2d", kernel, shape, "kernel", self.name, fn, entry=entry, ref=ref, **kw)

    def lstm_cell(self, cases: Sequence[tuple[int, int, int]]) -> None:
        torch = self.device.torch
        B, R = self.B, self.R
        for n, i, hid in cases:
            shape = [n, i, hid]
            with self.case("lstm_cell", "lstm_cell", shape):
                scale = 1 / math.sqrt(hid)
                x, h, c = self.randn(n, i), self.randn(n, hid), self.randn(n, hid)
                w_ih, w_hh = self.randn(4 * hid, i, scale=scale), self.randn(4 * hid, hid, scale=scale)
                b = self.randn(4 * hid, scale=scale)
                gh, gc = self.randn(n, hid), self.randn(n, hid)
                _, _, gates = R.lstm_cell(x, h, c, w_ih, w_hh, b)
                _, _, our_gates = B.lstm_cell(x, h, c, w_ih, w_hh, b)
                ours = {
                    "lstm_cell": (functools.partial(B.lstm_cell, x, h, c, w_ih, w_hh, b),
                                  R.lstm_cell(x, h, c, w_ih, w_hh, b)),
                    "lstm_cell_backward": (functools.partial(B.lstm_cell_backward, x, h, c, w_ih, w_hh, our_gates,
                                                             gh, gc),
                                           R.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, gh, gc)),
                }
                theirs: dict[str, Callable[[], Any]] = {}
                if torch is not None:
                    xt, ht, ct, wit, wht, bt, ght, gct = (self.device.to_torch(v)
                                                          for v in (x, h, c, w_ih, w_hh, b, gh, gc))
                    zero = torch.zeros_like(bt)
                    leaves = [v.detach().requires_grad_(True) for v in (xt, ht, ct, wit, wht, bt)]
                    h2, c2 = torch.lstm_cell(leaves[0], [leaves[1], leaves[2]], *leaves[3:], zero)
                    # The backward alone: gradients of every input through a graph kept between runs.
                    theirs = {"lstm_cell": functools.partial(torch.lstm_cell, xt, [ht, ct], wit, wht, bt, zero),
                              "lstm_cell_backward": functools.partial(torch.autograd.grad, (h2, c2), leaves,
                                                                      (ght, gct), retain_graph=True)}
                for kernel, (fn, want) in ours.items():
                    kw = dict(flops=kernels.work(kernel, (n, i, hid))[0], expected=want)
                    ref = self.torch_row("lstm_cell", kernel, shape, theirs[kernel], source="reference", **kw) \
                        if kernel in theirs else None
                    self.add("lstm_cell", kernel, shape, "kernel", self.name, fn, entry=kernel, ref=ref, **kw)


class Interrupted(BaseException):
    """Raised by the SIGTERM handler of :func:`main` (a ``timeout`` ran out): :func:`run` stops and returns
    what it measured so far. A BaseException, so the per-row ``except Exception`` does not swallow it."""


def run(backend: str, device: Device, plan: Plan, *, min_time: float = MIN_TIME, max_repeat: int = MAX_REPEAT,
        max_call_s: float = MAX_CALL_S, settle: float | None = None, machine: dict[str, Any] | None = None,
        command: str | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every section of ``plan`` for ``backend`` on ``device`` and return the result document
    (:data:`TOP_KEYS`; ``machine`` defaults to :func:`bench.machine.describe`). ``settle`` is the pause
    before each row (default :data:`bench.kernels.SETTLE_S` on the CPU, where the thread pools of the
    library timed before must go idle, and none on a GPU). ``progress`` gets one line per row."""
    from . import machine as machine_mod

    if backend not in DEVICE_BACKENDS.get(device.kind, ()):
        raise ValueError(f"backend {backend!r} does not run on {device.kind!r}; expected one of "
                         f"{DEVICE_BACKENDS.get(device.kind)}")
    if settle is None:
        settle = kernels.SETTLE_S if device.kind == "cpu" else 0.0
    s = _Session(backend, device, min_time, max_repeat, settle, progress)
    interrupted = None
    try:
        s.matmul(plan.sizes, max_call_s)
        s.softmax(plan.softmax)
        s.cross_entropy(plan.cross_entropy)
        s.pooling(plan.pool)
        s.conv2d(plan.conv)
        s.lstm_cell(plan.lstm)
    except Interrupted as exc:
        interrupted = f"{exc} after {len(s.rows)} rows; the sections after that are missing"
    return {"schema": SCHEMA, "kind": f"gpu-{backend}", "backend": backend, "device": device.kind,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command if command is not None else " ".join(["python -m bench"] + sys.argv[1:]),
            "tf32": False, "torch": device.torch.__version__ if device.torch is not None else None,
            "plan": dataclasses.asdict(plan),
            "machine": machine if machine is not None else machine_mod.describe(),
            "skipped": s.skipped, "errors": s.errors, "interrupted": interrupted, "results": s.rows}


# --------------------------------------------------------------------------- output

TITLES = {
    "matmul": "matmul ladder (float32, square) against {matmul_ref}",
    "softmax": "softmax forward / backward, GB/s of compulsory traffic against a copy of the same bytes",
    "cross_entropy": "cross_entropy forward + backward, GB/s against a copy of the same bytes",
    "pooling": "pooling, GB/s of compulsory traffic against a copy of the same bytes",
    "conv2d": "conv2d forward and gradients against PyTorch",
    "lstm_cell": "lstm_cell forward and backward against PyTorch",
}
HEADER = ("kernel", "shape", "impl", "entry", "median", "runs", "throughput", "time / ref", "reference",
          "max rel err", "note")


def _shape_text(shape: Sequence[int], params: dict[str, Any] | None = None) -> str:
    text = "x".join(str(v) for v in shape)
    if params:
        text += " " + " ".join(f"{k[0]}{v}" for k, v in params.items())
    return text


def _time_text(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def _rate_text(row: dict[str, Any]) -> str:
    if row["gflops"] is not None:
        g = row["gflops"]
        return f"{g / 1e3:.2f} TFLOP/s" if g >= 1e3 else f"{g:.1f} GFLOP/s"
    return f"{row['gbps']:.1f} GB/s" if row["gbps"] is not None else "-"


def _progress_line(row: dict[str, Any]) -> str:
    ratio = f"{row['ratio']:.2f}x {row['reference']}" if row["ratio"] is not None else "no reference"
    return (f"{row['kernel']:<23} {_shape_text(row['shape'], row['params']):<28} {row['impl']:<32} "
            f"{_time_text(row['median_s']):>11} {_rate_text(row):>15}  {ratio}")


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    entry = f"{row['entry']} ({row['table']})" if row["entry"] else "-"
    shape = f"{row['shape'][0]} floats" if row["kernel"] == "copy" else _shape_text(row["shape"], row["params"])
    return (row["kernel"], shape, row["impl"], entry, _time_text(row["median_s"]),
            str(row["repeat"]), _rate_text(row), "-" if row["ratio"] is None else f"{row['ratio']:.2f}x",
            row["reference"] or "-", "-" if row["max_rel_err"] is None else f"{row['max_rel_err']:.1e}",
            row["note"] or "")


def format_markdown(doc: dict[str, Any]) -> str:
    """The result document as markdown: a short header, one table per section, then what was skipped
    and what failed."""
    gpu = doc["machine"].get("gpu", {})
    where = gpu.get("name") if doc["device"] == "cuda" and gpu.get("found") else doc["machine"]["cpu"]["model"]
    matmul_ref = next((r["impl"] for r in doc["results"] if r["section"] == "matmul" and r["source"] == "reference"),
                      "the matmul reference")
    torch = f"PyTorch {doc['torch']}" if doc["torch"] else "no PyTorch, so conv2d and lstm_cell rows have no reference"
    tf32 = "TF32 off for every FP32 comparison; " if doc["device"] == "cuda" else ""
    lines = [f"## {doc['kind']}: the {doc['backend']} backend on {doc['device']} ({where}), {doc['time']}", "",
             f"- {tf32}{torch}",
             "- time / ref: median time over the reference's median time (1.00x = as fast, 2.00x = twice as slow)",
             "- runs: timed runs after the warm-up; slow kernels get fewer; max rel err: first output against the "
             "NumPy reference contract on the same arrays",
             "- entry: the contract entry called through the backend table and whether it is handwritten or fell "
             "back to the reference; variants are called by name"]
    for section in SECTIONS:
        rows = [r for r in doc["results"] if r["section"] == section]
        if not rows:
            continue
        lines += ["", f"### {TITLES[section].format(matmul_ref=matmul_ref)}", "",
                  "| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    if doc["skipped"]:
        lines += ["", "Skipped:"]
        lines += [f"- {s['kernel']} {s['impl']} at {_shape_text(s['shape'])}: {s['reason']}" for s in doc["skipped"]]
    if doc["interrupted"]:
        lines += ["", f"INTERRUPTED: {doc['interrupted']}"]
    if doc["errors"]:
        lines += ["", f"FAILED ({len(doc['errors'])}):"]
        lines += [f"- {e['kernel']} {_shape_text(e['shape'])} {e['impl']}: {e['error']}" for e in doc["errors"]]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], markdown: str, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``<out_dir>/gpu-<backend>-<machine>-<time>.json`` and the ``.md`` next to it (``out_dir``
    defaults to ``bench/results``); returns both paths."""
    from .machine import short_name
    from .report import RESULTS_DIR

    out = Path(out_dir) if out_dir is not None else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{doc['kind']}-{short_name(doc['machine'])}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = out / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = out / f"{stem}-{n}.json"
    # NumPy / CuPy scalars become Python numbers rather than failing the write at the end of a run.
    path.write_text(json.dumps(doc, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n",
                    encoding="utf-8")
    md = path.with_suffix(".md")
    md.write_text(markdown, encoding="utf-8")
    return path, md


# --------------------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``gpu`` subcommand's options."""
    names = sorted({b for bs in DEVICE_BACKENDS.values() for b in bs})
    p.add_argument("--backend", required=True, choices=names,
                   help="backend to measure: numba or cupy on cuda; numpy or cpp on cpu")
    p.add_argument("--device", choices=tuple(DEVICE_BACKENDS), default="cuda",
                   help="cuda (a real GPU, the default) or cpu (the same report with NumPy arrays)")
    p.add_argument("--tiny", action="store_true", help="tiny shapes: a smoke run in seconds")
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="square matmul sizes (default: 1024 2048 4096 on cuda)")
    p.add_argument("--min-time", type=float, default=MIN_TIME, help=f"seconds of timed runs a row aims for "
                                                                   f"(default {MIN_TIME})")
    p.add_argument("--max-repeat", type=int, default=MAX_REPEAT, help=f"most timed runs a row (default {MAX_REPEAT})")
    p.add_argument("--max-call-s", type=float, default=MAX_CALL_S,
                   help=f"skip a ladder rung predicted slower than this a call (default {MAX_CALL_S})")
    p.add_argument("--settle", type=float, default=None,
                   help=f"seconds to pause before each row (default {kernels.SETTLE_S} on cpu, 0 on cuda)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    p.add_argument("--out", default=None, help="folder for the JSON and markdown files (default: bench/results)")
    p.add_argument("--no-json", action="store_true", help="print the tables only")


def main(args: argparse.Namespace) -> int:
    """The ``gpu`` subcommand: returns 0, 1 when a measurement failed, 2 when it cannot run here."""
    from . import machine

    start = time.perf_counter()
    if args.backend not in DEVICE_BACKENDS[args.device]:
        print(f"bench gpu: backend {args.backend!r} does not run on {args.device}; expected one of "
              f"{', '.join(DEVICE_BACKENDS[args.device])}", file=sys.stderr)
        return 2
    try:
        device = make_device(args.device, use_torch=not args.no_torch)
        load_backend(args.backend)
    except RuntimeError as exc:
        print(f"bench gpu: {exc}", file=sys.stderr)
        return 2
    desc = machine.describe()
    print("\n".join(machine.summary_lines(desc)), flush=True)
    print(f"PyTorch reference: {device.torch_note}", flush=True)
    print(flush=True)
    plan = PLANS["tiny" if args.tiny else args.device]
    if args.sizes:
        plan = dataclasses.replace(plan, sizes=tuple(args.sizes))
    def terminated(signum: int, frame: Any) -> None:
        raise Interrupted(f"stopped by signal {signum} (a time limit)")

    # `timeout` sends SIGTERM: keep the rows measured so far instead of losing the whole report.
    signal.signal(signal.SIGTERM, terminated)
    doc = run(args.backend, device, plan, min_time=args.min_time, max_repeat=args.max_repeat,
              max_call_s=args.max_call_s, settle=args.settle, machine=desc,
              command=" ".join(["python -m bench"] + list(getattr(args, "argv", sys.argv[1:]))),
              progress=lambda line: print("  " + line, flush=True))
    text = format_markdown(doc)
    print()
    print(text)
    if not args.no_json:
        path, md = write(doc, text, args.out)
        print(f"results written to {path} and {md.name}")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 1 if doc["errors"] or doc["interrupted"] else 0
