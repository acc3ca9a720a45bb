"""Kernel benchmarks: each backend's kernel entry, called directly on compact arrays, against NumPy and
PyTorch measured in the same run.

What is timed for each op:

* ``matmul``: ``C = A @ B`` in float32 for square sizes and one ragged ``1000×1001×999`` shape
  (M×K×N), 2·M·N·K flops. Every available CPU backend runs ``tc.backends.get(name).matmul(a, b)``
  inside ``tc.use_backend(name)``; one extra row per backend goes through ``Tensor @ Tensor`` to
  show what the Python layer adds. References: ``numpy.matmul`` (OpenBLAS here) and ``torch.mm``.
* ``softmax`` / ``log_softmax``: forward and backward over the last axis of ``(rows, cols)``
  float32, reported in GB/s of compulsory traffic (forward reads x and writes y, backward reads y
  and dy and writes dx: 5 arrays). References: plain NumPy and ``torch.softmax`` +
  ``torch._softmax_backward_data``.
* ``cross_entropy``: the fused loss forward and backward on ``(N, C)`` logits with int64 targets
  (GB/s: logits read, log-probabilities written and read back, gradient written). References: NumPy and
  ``torch.nn.functional.cross_entropy(reduction="none")`` with autograd.

PyTorch runs with ``torch.set_num_threads`` equal to the tensorcore C++ kernels' thread count (the
machine's usable cores when the C++ backend is missing). Each result row carries
``time_vs_numpy`` / ``time_vs_torch``: this row's median time divided by the reference's
(1.0 = as fast, 2.0 = twice as slow), and ``variant``: whether the entry is ``handwritten`` in
that backend or fell back to the NumPy ``reference`` (from :meth:`Backend.table`).
Every kernel result is checked against NumPy (``max_abs_err``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import timing

OPS = ("matmul", "softmax", "log_softmax", "cross_entropy")

MATMUL_SIZES = (128, 256, 512, 1024)
MATMUL_SIZES_QUICK = (128, 256, 512)
RAGGED = (1000, 1001, 999)  # M, K, N
SOFTMAX_SHAPES = ((100, 10), (1024, 1024), (4096, 1000), (64, 50_000))
SOFTMAX_SHAPES_QUICK = ((100, 10), (4096, 1000))
TENSOR_ROW_SIZE = 512  # the size of the one ``Tensor @`` row per backend
TENSOR_ROW_SIZE_QUICK = 256
#: Seconds to pause before each measurement, so the worker threads of the library measured before
#: (OpenBLAS, PyTorch's and tensorcore's OpenMP pools) stop spin-waiting and leave the cores idle.
SETTLE_S = 0.2


@dataclass
class Case:
    """One benchmark: an op at one shape, the backend-independent inputs, and the work it does."""

    op: str
    shape: tuple[int, ...]
    inputs: tuple[np.ndarray, ...]
    flops: float = 0.0   # for compute-bound ops (GFLOP/s)
    nbytes: float = 0.0  # for memory-bound ops (GB/s)


def cpu_threads() -> int:
    """Threads tensorcore's CPU kernels use: the C++ backend's OpenMP count, else the usable cores."""
    import tensorcore as tc

    try:
        if hasattr(tc, "get_num_threads"):
            return int(tc.get_num_threads())
        from tensorcore.backends import cpp

        return int(cpp.get_num_threads())
    except Exception:
        from .machine import usable_cores

        return usable_cores()


def set_cpu_threads(n: int) -> None:
    """Make tensorcore's C++ kernels use ``n`` threads."""
    import tensorcore as tc

    if hasattr(tc, "set_num_threads"):
        tc.set_num_threads(n)
    else:
        from tensorcore.backends import cpp

        cpp.set_num_threads(n)


def _torch(threads: int) -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


# --------------------------------------------------------------------------- cases

def matmul_cases(sizes: Iterable[int], ragged: bool = True, seed: int = 0) -> list[Case]:
    """Square ``n×n @ n×n`` float32 cases for ``sizes``, plus the ragged ``1000×1001×999`` one."""
    rng = np.random.default_rng(seed)
    shapes = [(n, n, n) for n in sizes] + ([RAGGED] if ragged else [])
    out = []
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out.append(Case("matmul", (m, k, n), (a, b), flops=2.0 * m * n * k))
    return out


def rowwise_cases(op: str, shapes: Iterable[tuple[int, int]], seed: int = 0) -> list[Case]:
    """``(rows, cols)`` float32 cases for softmax / log_softmax / cross_entropy."""
    rng = np.random.default_rng(seed)
    out = []
    for r, c in shapes:
        x = rng.standard_normal((r, c), dtype=np.float32) * 3
        if op == "cross_entropy":
            t = rng.integers(0, c, size=r, dtype=np.int64)
            out.append(Case(op, (r, c), (x, t), nbytes=4.0 * x.nbytes + t.nbytes))
        else:
            g = rng.standard_normal((r, c), dtype=np.float32)
            out.append(Case(op, (r, c), (x, g), nbytes=5.0 * x.nbytes))
    return out


# --------------------------------------------------------------------------- callables

def kernel_fn(backend: Any, case: Case) -> Callable[[], np.ndarray]:
    """A call of the backend's kernel entries for ``case`` (forward and backward where both exist);
    returns the final array (for the correctness check)."""
    if case.op == "matmul":
        a, b = case.inputs
        return lambda: backend.matmul(a, b)
    if case.op in ("softmax", "log_softmax"):
        x, g = case.inputs
        fwd = getattr(backend, case.op)
        bwd = getattr(backend, case.op + "_backward")
        return lambda: bwd(fwd(x), g)
    if case.op == "cross_entropy":
        x, t = case.inputs
        ones = np.ones(x.shape[0], dtype=x.dtype)

        def ce() -> np.ndarray:
            _, logp = backend.cross_entropy(x, t)
            return backend.cross_entropy_backward(logp, t, ones)

        return ce
    raise ValueError(f"unknown op {case.op!r}; expected one of {OPS}")


def entries(op: str) -> tuple[str, ...]:
    """The contract entries an op's benchmark calls."""
    return ("matmul",) if op == "matmul" else (op, op + "_backward")


def variant(backend: Any, op: str) -> str:
    """``handwritten`` / ``reference`` for the op's entries in ``backend``, or a mix such as
    ``fwd handwritten, bwd reference``."""
    table = backend.table()
    kinds = [table[e] for e in entries(op)]
    if len(set(kinds)) == 1:
        return kinds[0]
    return f"fwd {kinds[0]}, bwd {kinds[1]}"


def numpy_fn(case: Case) -> Callable[[], np.ndarray]:
    """The same computation in careful plain NumPy (in-place where it saves a temporary): the
    reference every row is compared with."""
    if case.op == "matmul":
        a, b = case.inputs
        return lambda: a @ b
    x, second = case.inputs
    rows = np.arange(x.shape[0])

    def shifted() -> np.ndarray:
        return x - x.max(axis=-1, keepdims=True)

    def softmax() -> np.ndarray:
        y = shifted()
        np.exp(y, out=y)
        y /= y.sum(axis=-1, keepdims=True)
        dx = second * y                       # y * (g - sum(g * y)) = g*y - y * sum(g*y)
        dx -= y * dx.sum(axis=-1, keepdims=True)
        return dx

    def log_softmax() -> np.ndarray:
        y = shifted()
        y -= np.log(np.exp(y).sum(axis=-1, keepdims=True))
        np.exp(y, out=y)                      # dx = g - exp(y) * sum(g)
        y *= second.sum(axis=-1, keepdims=True)
        return second - y

    def cross_entropy() -> np.ndarray:
        p = shifted()
        np.exp(p, out=p)
        p /= p.sum(axis=-1, keepdims=True)
        p[rows, second] -= 1
        return p

    fns = {"softmax": softmax, "log_softmax": log_softmax, "cross_entropy": cross_entropy}
    if case.op in fns:
        return fns[case.op]
    raise ValueError(f"unknown op {case.op!r}")


def torch_fn(torch: Any, case: Case) -> Callable[[], Any]:
    """The same computation in PyTorch on the CPU (tensors share the NumPy inputs' memory)."""
    if case.op == "matmul":
        a, b = (torch.from_numpy(v) for v in case.inputs)
        return lambda: torch.mm(a, b)
    x, second = (torch.from_numpy(v) for v in case.inputs)
    if case.op in ("softmax", "log_softmax"):
        fwd = torch.softmax if case.op == "softmax" else torch.log_softmax
        bwd = torch._softmax_backward_data if case.op == "softmax" else torch._log_softmax_backward_data
        return lambda: bwd(second, fwd(x, -1), -1, x.dtype)
    if case.op == "cross_entropy":
        fn = torch.nn.functional.cross_entropy

        def ce() -> Any:
            xr = x.detach().requires_grad_(True)
            fn(xr, second, reduction="sum").backward()
            return xr.grad

        return ce
    raise ValueError(f"unknown op {case.op!r}")


def tensor_fn(tc: Any, case: Case) -> Callable[[], Any]:
    """``Tensor @ Tensor`` with autograd off: the kernel plus tensorcore's Python layer."""
    a, b = (tc.from_numpy(v) for v in case.inputs)

    def mm() -> Any:
        with tc.no_grad():
            return a @ b

    return mm


# --------------------------------------------------------------------------- running

def _row(case: Case, source: str, backend: str, device: str, t: timing.Timing, var: str,
         err: float | None, threads: int) -> dict[str, Any]:
    med = t.median
    return {
        "op": case.op, "source": source, "backend": backend, "device": device,
        "shape": list(case.shape), "dtype": "float32", "threads": threads,
        **t.summary(),
        "gflops": case.flops / med / 1e9 if case.flops else None,
        "gbps": case.nbytes / med / 1e9 if case.nbytes else None,
        "time_vs_numpy": None, "time_vs_torch": None,
        "variant": var, "max_abs_err": err,
    }


def _measure(fn: Callable[[], Any], min_time: float, settle: float) -> timing.Timing:
    if settle > 0:
        time.sleep(settle)
    return timing.measure(fn, min_time=min_time)


def _max_err(result: Any, expected: np.ndarray) -> float:
    arr = result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)
    return float(np.max(np.abs(arr.astype(np.float64) - expected))) if expected.size else 0.0


def run(ops: Sequence[str] = ("matmul", "softmax"), *, quick: bool = False, backends: Sequence[str] | None = None,
        sizes: Sequence[int] | None = None, ragged: bool | None = None,
        shapes: Sequence[tuple[int, int]] | None = None, torch: bool = True, tensor_row: bool = True,
        min_time: float | None = None, settle: float = SETTLE_S, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run the kernel benchmarks and return result rows (see :mod:`bench.report` for the schema).

    ``backends`` restricts the tensorcore backends (default: every available CPU backend);
    ``sizes`` / ``shapes`` / ``ragged`` override the matmul sizes, row-wise shapes and the ragged
    case; ``torch=False`` skips the PyTorch reference; ``min_time`` is the seconds of timed runs per
    row (default 0.1 quick, 0.3 full); ``settle`` the pause before each row (:data:`SETTLE_S`).
    ``progress`` receives one line per finished row.
    """
    import tensorcore as tc

    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown}; expected some of {OPS}")
    min_time = (0.1 if quick else 0.3) if min_time is None else min_time
    threads = cpu_threads()
    torch_mod = _torch(threads) if torch else None
    avail = tc.backends.available()
    if backends is None:
        names = [n for n, a in avail.items() if a.available and a.device == "cpu"]
    else:
        names = list(backends)
        for n in names:
            if n not in avail:
                raise ValueError(f"unknown backend {n!r}; registered: {sorted(avail)}")
            if not avail[n].available:
                raise RuntimeError(f"backend {n!r} is not available here: {avail[n].reason}")
            if avail[n].device != "cpu":
                raise RuntimeError(f"backend {n!r} runs on {avail[n].device}; only CPU kernels are "
                                   "benchmarked so far")
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if progress is not None:
            progress(f"{row['op']:<13} {row['backend']:<10} {'x'.join(map(str, row['shape'])):<14} "
                     f"{row['median_s'] * 1e3:9.3f} ms")

    for op in ops:
        if op == "matmul":
            cases = matmul_cases(sizes if sizes is not None else (MATMUL_SIZES_QUICK if quick else MATMUL_SIZES),
                                 ragged=True if ragged is None else ragged)
        else:
            cases = rowwise_cases(op, shapes if shapes is not None else
                                  (SOFTMAX_SHAPES_QUICK if quick else SOFTMAX_SHAPES))
        tensor_size = TENSOR_ROW_SIZE_QUICK if quick else TENSOR_ROW_SIZE
        if sizes is not None:
            tensor_size = max(sizes)
        for case in cases:
            ref_fn = numpy_fn(case)
            expected = np.asarray(ref_fn(), dtype=np.float64)
            group = [_row(case, "reference", "numpy", "cpu", _measure(ref_fn, min_time, settle),
                          "NumPy " + ("matmul (BLAS)" if op == "matmul" else "expressions"), 0.0, threads)]
            emit(group[-1])
            if torch_mod is not None:
                fn = torch_fn(torch_mod, case)
                group.append(_row(case, "reference", "torch", "cpu", _measure(fn, min_time, settle),
                                  f"PyTorch {torch_mod.__version__}", _max_err(fn(), expected), threads))
                emit(group[-1])
            for name in names:
                with tc.use_backend(name) as B:
                    fn = kernel_fn(B, case)
                    group.append(_row(case, "kernel", name, "cpu", _measure(fn, min_time, settle),
                                      variant(B, op), _max_err(fn(), expected), threads))
                    emit(group[-1])
                    if op == "matmul" and tensor_row and case.shape == (tensor_size,) * 3:
                        fn = tensor_fn(tc, case)
                        group.append(_row(case, "tensor", name, "cpu", _measure(fn, min_time, settle),
                                          "Tensor @ Tensor, " + variant(B, op), _max_err(fn(), expected),
                                          threads))
                        emit(group[-1])
            ref_np = group[0]["median_s"]
            ref_torch = group[1]["median_s"] if torch_mod is not None else None
            for row in group:
                row["time_vs_numpy"] = row["median_s"] / ref_np
                row["time_vs_torch"] = row["median_s"] / ref_torch if ref_torch else None
    return rows
