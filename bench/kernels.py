"""Kernel benchmarks: each backend's kernel entry, called directly on compact arrays, against NumPy and
PyTorch measured in the same run.

Every entry of the kernel contract (:data:`tensorcore.backends.reference.CONTRACT`) that the course's
models use is timed, forward and backward, at the course models' layer sizes. What is timed for
each op (``--op``; one row per contract entry unless said otherwise):

* ``matmul``: ``C = A @ B`` in float32 for square sizes and one ragged ``1000×1001×999`` shape
  (M×K×N), 2·M·N·K flops. Every available backend runs ``tc.backends.get(name).matmul(a, b)``
  inside ``tc.use_backend(name)``; one extra row per backend goes through ``Tensor @ Tensor`` to
  show what the Python layer adds. References: ``numpy.matmul`` (OpenBLAS here) and ``torch.mm``.
* ``matmul_ladder``: every rung of the handwritten matmuls side by side at one size
  (:data:`LADDER_SIZE`): the C++ ``tensorcore._C.matmul_variant`` names ``naive``, ``blocked``,
  ``packed``, ``packed_avx2``, ``packed_avx512`` (those ``_C.cpu_features()`` says the CPU runs) and,
  on a real GPU, the Numba-CUDA rungs (``tensorcore.backends.numba.matmul_variant``). The row's
  ``variant`` is the rung's name.
* ``softmax`` / ``log_softmax``: forward and backward together (one row) over the last axis of
  ``(rows, cols)`` float32, reported in GB/s of compulsory traffic (forward reads x and writes y,
  backward reads y and dy and writes dx: 5 arrays). References: plain NumPy and ``torch.softmax`` +
  ``torch._softmax_backward_data``.
* ``cross_entropy``: the fused loss forward and backward together (one row) on ``(N, C)`` logits
  with int64 targets (GB/s: logits read, log-probabilities written and read back, gradient
  written). References: NumPy and ``torch.nn.functional.cross_entropy`` with autograd.
* ``conv2d`` (rows ``conv2d`` and ``conv2d_backward``, both input and weight gradients): the course
  CNN's two convolutions, ``100×1×28×28`` with 25 filters 3×3 and ``100×25×13×13`` with 50 filters
  3×3 (stride 1, no padding), GFLOP/s. PyTorch: ``conv2d`` and ``aten.convolution_backward``.
* ``max_pool2d`` / ``avg_pool2d`` (forward and ``_backward`` rows): 2×2 pooling of the two
  convolutions' outputs, ``100×25×26×26`` and ``100×50×11×11``, GB/s. PyTorch:
  ``aten.max_pool2d_with_indices`` (+ backward) and ``avg_pool2d`` (+ ``aten.avg_pool2d_backward``).
* ``lstm_cell`` (forward and backward rows): batch 64, hidden 128 and 512 (input size = hidden),
  GFLOP/s of its GEMMs. PyTorch: ``torch.lstm_cell`` and autograd on a kept graph
  (``retain_graph=True``) for the backward.
* ``relu`` (forward and backward rows), ``add`` (equal shapes) and ``sum`` (over the batch axis,
  a bias gradient) on the MLP's hidden activation ``100×500`` and a conv-sized ``100×16900``, GB/s.
* ``copy``: a large array copy (``numpy.copyto``; device-to-device on a GPU), the memory bandwidth
  that the rooflines of ``python -m bench plot`` use. Reference rows only.

PyTorch runs with ``torch.set_num_threads`` equal to the tensorcore C++ kernels' thread count (the
machine's usable cores when the C++ backend is missing); on CUDA with TF32 off. Each result row carries
``time_vs_numpy`` / ``time_vs_torch``: this row's median time divided by the reference's
(1.0 = as fast, 2.0 = twice as slow), and ``variant``: whether the entry is ``handwritten`` in
that backend or fell back to the NumPy ``reference`` (from :meth:`Backend.table`).
Every kernel result is checked against the NumPy reference (``max_abs_err``, the largest over the
entry's outputs). GPU backends are benchmarked when a real GPU is present (not under the simulator),
timed with CUDA events and an L2 flush between runs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import timing

OPS = ("matmul", "matmul_ladder", "softmax", "log_softmax", "cross_entropy", "conv2d", "max_pool2d", "avg_pool2d",
       "lstm_cell", "relu", "add", "sum", "copy")
DEFAULT_OPS = OPS
#: The contract entries each ``--op`` times (one result row per entry and shape).
OP_ENTRIES: dict[str, tuple[str, ...]] = {
    "matmul": ("matmul",), "matmul_ladder": ("matmul_ladder",),
    "softmax": ("softmax",), "log_softmax": ("log_softmax",), "cross_entropy": ("cross_entropy",),
    "conv2d": ("conv2d", "conv2d_backward"), "max_pool2d": ("max_pool2d", "max_pool2d_backward"),
    "avg_pool2d": ("avg_pool2d", "avg_pool2d_backward"), "lstm_cell": ("lstm_cell", "lstm_cell_backward"),
    "relu": ("relu", "relu_backward"), "add": ("add",), "sum": ("sum",), "copy": ("copy",),
}

MATMUL_SIZES = (128, 256, 512, 1024)
MATMUL_SIZES_QUICK = (128, 256, 512)
RAGGED = (1000, 1001, 999)  # M, K, N
SOFTMAX_SHAPES = ((100, 10), (1024, 1024), (4096, 1000), (64, 50_000))
SOFTMAX_SHAPES_QUICK = ((100, 10), (4096, 1000))
TENSOR_ROW_SIZE = 512  # the size of the one ``Tensor @`` row per backend
TENSOR_ROW_SIZE_QUICK = 256
LADDER_SIZE = 512
LADDER_SIZE_QUICK = 256
LADDER_SIZE_GPU = 2048
CPP_LADDER = ("naive", "blocked", "packed", "packed_avx2", "packed_avx512")
CONV_SHAPES = ((100, 1, 28, 28, 25, 3, 3), (100, 25, 13, 13, 50, 3, 3))  # N, C, H, W, O, KH, KW
POOL_SHAPES = ((100, 25, 26, 26, 2), (100, 50, 11, 11, 2))              # N, C, H, W, kernel (= stride)
LSTM_SHAPES = ((64, 128, 128), (64, 512, 512))                          # N, input, hidden
ELEMENTWISE_SHAPES = ((100, 500), (100, 16900))
COPY_FLOATS = 1 << 25        # 128 MiB per array
COPY_FLOATS_QUICK = 1 << 24  # 64 MiB
#: Seconds to pause before each measurement, so the worker threads of the library measured before
#: (OpenBLAS, PyTorch's and tensorcore's OpenMP pools) stop spin-waiting and leave the cores idle.
SETTLE_S = 0.2


@dataclass
class Case:
    """One benchmark: a contract entry at one shape, the backend-independent inputs, and the work it
    does. ``op`` is the row's op (a contract entry, ``matmul_ladder`` or ``copy``); ``kw`` holds the
    entry's plain arguments (stride, kernel size ...)."""

    op: str
    shape: tuple[int, ...]
    inputs: tuple[Any, ...]
    flops: float = 0.0   # for compute-bound ops (GFLOP/s)
    nbytes: float = 0.0  # for memory-bound ops (GB/s)
    kw: dict[str, Any] = field(default_factory=dict)
    rate: str = ""       # "gflops" or "gbps": the throughput reported


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


# --------------------------------------------------------------------------- work

def _conv_out(shape: Sequence[int]) -> tuple[int, int]:
    n, c, h, w, o, kh, kw = shape
    return h - kh + 1, w - kw + 1


def work(op: str, shape: Sequence[int]) -> tuple[float, float]:
    """``(flops, bytes)`` of one row: the arithmetic (multiply-adds count 2) and the compulsory memory
    traffic (every input read once, every output written once), float32 data and int64 indices.
    Elementwise and reduction flops count one per element; the softmax family a handful."""
    s = list(shape)
    f = 4.0
    if op in ("matmul", "matmul_ladder"):
        m, k, n = s
        return 2.0 * m * n * k, f * (m * k + k * n + m * n)
    if op in ("softmax", "log_softmax"):
        r, c = s
        return 9.0 * r * c, 5 * f * r * c
    if op == "cross_entropy":
        r, c = s
        return 8.0 * r * c, 4 * f * r * c + 8.0 * r
    if op in ("conv2d", "conv2d_backward"):
        n, c, h, w, o, kh, kw = s
        oh, ow = _conv_out(s)
        x, wt, y = n * c * h * w, o * c * kh * kw, n * o * oh * ow
        flops = 2.0 * n * o * oh * ow * c * kh * kw
        return (flops, f * (x + wt + y)) if op == "conv2d" else (2 * flops, f * (2 * x + 2 * wt + y))
    if op in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"):
        n, c, h, w, k = s
        x, y = n * c * h * w, n * c * (h // k) * (w // k)
        index = 8.0 * y if op.startswith("max") else 0.0
        if op.endswith("_backward"):
            return float(max(y, x) if op.startswith("avg") else y), f * (x + y) + index
        return float(y * k * k), f * (x + y) + index
    if op in ("lstm_cell", "lstm_cell_backward"):
        n, i, h = s
        gemm = 2.0 * n * 4 * h * (i + h)
        weights = 4 * h * i + 4 * h * h + 4 * h
        if op == "lstm_cell":  # reads x, h, c, weights; writes h', c', gates
            return gemm + 10.0 * n * h, f * (n * i + 2 * n * h + weights + 2 * n * h + 4 * n * h)
        # reads x, h, c, weights, gates, dh', dc'; writes dx, dh, dc, weight and bias gradients
        return 2 * gemm + 20.0 * n * h, f * (2 * n * i + 6 * n * h + 2 * weights - 4 * h + 4 * n * h + 4 * h)
    if op in ("relu", "relu_backward", "add", "sum"):
        size = math.prod(s)
        arrays = {"relu": 2, "relu_backward": 3, "add": 3}.get(op)
        if op == "sum":
            return float(size), f * (size + s[-1])
        return float(size), f * arrays * size
    if op == "copy":
        (n,) = s
        return 0.0, 2 * f * n
    raise ValueError(f"work: unknown op {op!r}")


# --------------------------------------------------------------------------- cases

def _case(op: str, shape: Sequence[int], inputs: tuple[Any, ...], rate: str, **kw: Any) -> Case:
    flops, nbytes = work(op, shape)
    return Case(op, tuple(shape), inputs, flops=flops if rate == "gflops" else 0.0,
                nbytes=nbytes if rate == "gbps" else 0.0, kw=kw, rate=rate)


def matmul_cases(sizes: Iterable[int], ragged: bool = True, seed: int = 0, op: str = "matmul") -> list[Case]:
    """Square ``n×n @ n×n`` float32 cases for ``sizes``, plus the ragged ``1000×1001×999`` one."""
    rng = np.random.default_rng(seed)
    shapes = [(n, n, n) for n in sizes] + ([RAGGED] if ragged else [])
    out = []
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out.append(_case(op, (m, k, n), (a, b), "gflops"))
    return out


def rowwise_cases(op: str, shapes: Iterable[tuple[int, int]], seed: int = 0) -> list[Case]:
    """``(rows, cols)`` float32 cases for softmax / log_softmax / cross_entropy."""
    rng = np.random.default_rng(seed)
    out = []
    for r, c in shapes:
        x = rng.standard_normal((r, c), dtype=np.float32) * 3
        if op == "cross_entropy":
            t = rng.integers(0, c, size=r, dtype=np.int64)
            out.append(Case(op, (r, c), (x, t), nbytes=4.0 * x.nbytes + t.nbytes, rate="gbps"))
        else:
            g = rng.standard_normal((r, c), dtype=np.float32)
            out.append(Case(op, (r, c), (x, g), nbytes=5.0 * x.nbytes, rate="gbps"))
    return out


def course_cases(op: str, seed: int = 0, copy_floats: int = COPY_FLOATS) -> list[Case]:
    """The cases of ``--op op`` (conv2d, pooling, lstm_cell, relu, add, sum, copy) at the course
    models' sizes: forward entries first, then the backward ones. Inputs of a backward entry come from
    the NumPy reference's forward."""
    from tensorcore.backends import reference as R

    rng = np.random.default_rng(seed)

    def randn(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    fwd: list[Case] = []
    bwd: list[Case] = []
    one = (1, 1)
    if op == "conv2d":
        for s in CONV_SHAPES:
            n, c, h, w, o, kh, kw = s
            x, wt = randn(n, c, h, w), randn(o, c, kh, kw) * np.float32(1 / math.sqrt(c * kh * kw))
            gy = randn(n, o, *_conv_out(s))
            args = dict(stride=one, padding=(0, 0), dilation=one, groups=1)
            fwd.append(_case("conv2d", s, (x, wt), "gflops", **args))
            bwd.append(_case("conv2d_backward", s, (x, wt, gy), "gflops", **args))
    elif op in ("max_pool2d", "avg_pool2d"):
        for s in POOL_SHAPES:
            n, c, h, w, k = s
            x = randn(n, c, h, w)
            args = dict(kernel=(k, k), stride=(k, k), padding=(0, 0))
            gy = randn(n, c, h // k, w // k)
            fwd.append(_case(op, s, (x,), "gbps", **args))
            if op == "max_pool2d":
                _, index = R.max_pool2d(x, (k, k), (k, k), (0, 0))
                bwd.append(_case("max_pool2d_backward", s, (gy, index, x), "gbps", **args))
            else:
                bwd.append(_case("avg_pool2d_backward", s, (gy, x), "gbps", **args))
    elif op == "lstm_cell":
        for s in LSTM_SHAPES:
            n, i, h = s
            scale = np.float32(1 / math.sqrt(h))
            x, hh, cc = randn(n, i), randn(n, h), randn(n, h)
            w_ih, w_hh, b = randn(4 * h, i) * scale, randn(4 * h, h) * scale, randn(4 * h) * scale
            _, _, gates = R.lstm_cell(x, hh, cc, w_ih, w_hh, b)
            fwd.append(_case("lstm_cell", s, (x, hh, cc, w_ih, w_hh, b), "gflops"))
            bwd.append(_case("lstm_cell_backward", s, (x, hh, cc, w_ih, w_hh, b, gates, randn(n, h), randn(n, h)),
                             "gflops"))
    elif op == "relu":
        for s in ELEMENTWISE_SHAPES:
            x, g = randn(*s), randn(*s)
            fwd.append(_case("relu", s, (x,), "gbps"))
            bwd.append(_case("relu_backward", s, (x, g), "gbps"))
    elif op == "add":
        fwd = [_case("add", s, (randn(*s), randn(*s)), "gbps") for s in ELEMENTWISE_SHAPES]
    elif op == "sum":
        fwd = [_case("sum", s, (randn(*s),), "gbps", axis=(0,), keepdims=False) for s in ELEMENTWISE_SHAPES]
    elif op == "copy":
        src = rng.random(copy_floats, dtype=np.float32)
        fwd = [_case("copy", (copy_floats,), (src, np.empty_like(src)), "gbps")]
    else:
        raise ValueError(f"course_cases: unknown op {op!r}")
    return fwd + bwd


# --------------------------------------------------------------------------- callables

def _call(entry: Callable, case: Case, inputs: Sequence[Any]) -> Any:
    """Call the contract entry ``case.op`` (``entry``) with ``inputs`` and the case's plain arguments."""
    op, kw = case.op, case.kw
    if op == "conv2d":
        x, w = inputs
        return entry(x, w, kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    if op == "conv2d_backward":
        x, w, gy = inputs
        return entry(x, w, gy, kw["stride"], kw["padding"], kw["dilation"], kw["groups"], True, True)
    if op == "max_pool2d":
        return entry(inputs[0], kw["kernel"], kw["stride"], kw["padding"])
    if op == "max_pool2d_backward":
        gy, index, x = inputs
        return entry(gy, index, tuple(x.shape))
    if op == "avg_pool2d":
        return entry(inputs[0], kw["kernel"], kw["stride"], kw["padding"], True)
    if op == "avg_pool2d_backward":
        gy, x = inputs
        return entry(gy, tuple(x.shape), kw["kernel"], kw["stride"], kw["padding"], True)
    if op == "lstm_cell":
        return entry(*inputs)
    if op == "lstm_cell_backward":
        x, h, c, w_ih, w_hh, _b, gates, gh, gc = inputs
        return entry(x, h, c, w_ih, w_hh, gates, gh, gc)
    if op == "sum":
        return entry(inputs[0], kw["axis"], kw["keepdims"])
    return entry(*inputs)  # relu, relu_backward, add


def kernel_fn(backend: Any, case: Case, inputs: Sequence[Any] | None = None) -> Callable[[], Any]:
    """A call of the backend's kernel entries for ``case`` (forward and backward together for the
    softmax family and cross-entropy); returns the entry's result (for the correctness check).
    ``inputs`` are the case's inputs on the backend's device (default: ``case.inputs``)."""
    ins = tuple(case.inputs if inputs is None else inputs)
    if case.op == "matmul":
        a, b = ins
        return lambda: backend.matmul(a, b)
    if case.op in ("softmax", "log_softmax"):
        x, g = ins
        fwd = getattr(backend, case.op)
        bwd = getattr(backend, case.op + "_backward")
        return lambda: bwd(fwd(x), g)
    if case.op == "cross_entropy":
        x, t = ins
        ones = _namespace(x).ones(x.shape[0], dtype=x.dtype)

        def ce() -> Any:
            _, logp = backend.cross_entropy(x, t)
            return backend.cross_entropy_backward(logp, t, ones)

        return ce
    if case.op in _COURSE_ENTRIES:
        entry = getattr(backend, case.op)
        return lambda: _call(entry, case, ins)
    raise ValueError(f"unknown op {case.op!r}; expected one of {OPS}")


_COURSE_ENTRIES = ("conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
                   "avg_pool2d_backward", "lstm_cell", "lstm_cell_backward", "relu", "relu_backward", "add", "sum")


def entries(op: str) -> tuple[str, ...]:
    """The contract entries a row of ``op`` calls."""
    if op in ("softmax", "log_softmax", "cross_entropy"):
        return (op, op + "_backward")
    return (op,)


def variant(backend: Any, op: str) -> str:
    """``handwritten`` / ``reference`` for the op's entries in ``backend``, or a mix such as
    ``fwd handwritten, bwd reference``."""
    table = backend.table()
    kinds = [table[e] for e in entries(op)]
    if len(set(kinds)) == 1:
        return kinds[0]
    return f"fwd {kinds[0]}, bwd {kinds[1]}"


def numpy_fn(case: Case) -> Callable[[], Any]:
    """The same computation in careful plain NumPy (in-place where it saves a temporary): the
    reference every row is compared with. For the course ops it is the NumPy reference backend's
    entry itself (``tensorcore.backends.reference``); ``copy`` is ``numpy.copyto``."""
    if case.op == "matmul":
        a, b = case.inputs
        return lambda: a @ b
    if case.op == "copy":
        src, dst = case.inputs

        def copy() -> np.ndarray:
            np.copyto(dst, src)
            return dst

        return copy
    if case.op in _COURSE_ENTRIES:
        from tensorcore.backends import reference as R

        entry = getattr(R, case.op)
        return lambda: _call(entry, case, case.inputs)
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


def torch_fn(torch: Any, case: Case, device: str = "cpu") -> Callable[[], Any]:
    """The same computation in PyTorch on ``device`` (on the CPU the tensors share the NumPy inputs'
    memory)."""
    t = tuple(torch.from_numpy(v).to(device) for v in case.inputs)
    aten = torch.ops.aten
    op = case.op
    if op == "matmul":
        a, b = t
        return lambda: torch.mm(a, b)
    if op in ("softmax", "log_softmax"):
        x, second = t
        fwd = torch.softmax if op == "softmax" else torch.log_softmax
        bwd = torch._softmax_backward_data if op == "softmax" else torch._log_softmax_backward_data
        return lambda: bwd(second, fwd(x, -1), -1, x.dtype)
    if op == "cross_entropy":
        x, second = t
        fn = torch.nn.functional.cross_entropy

        def ce() -> Any:
            xr = x.detach().requires_grad_(True)
            fn(xr, second, reduction="sum").backward()
            return xr.grad

        return ce
    kw = case.kw
    if op == "conv2d":
        x, w = t
        return lambda: torch.nn.functional.conv2d(x, w)
    if op == "conv2d_backward":
        x, w, gy = t
        return lambda: aten.convolution_backward(gy, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                                 [True, True, False])[:2]
    if op in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"):
        k, s = list(kw["kernel"]), list(kw["stride"])
        if op == "max_pool2d":
            return lambda: aten.max_pool2d_with_indices(t[0], k, s)
        if op == "max_pool2d_backward":
            gy, index, x = t
            return lambda: aten.max_pool2d_with_indices_backward(gy, x, k, s, [0, 0], [1, 1], False, index)
        if op == "avg_pool2d":
            return lambda: aten.avg_pool2d(t[0], k, s)
        gy, x = t
        return lambda: aten.avg_pool2d_backward(gy, x, k, s, [0, 0], False, True, None)
    if op == "lstm_cell":
        x, h, c, w_ih, w_hh, b = t
        zero = torch.zeros_like(b)
        return lambda: torch.lstm_cell(x, [h, c], w_ih, w_hh, b, zero)
    if op == "lstm_cell_backward":
        x, h, c, w_ih, w_hh, b, _gates, gh, gc = t
        leaves = [v.detach().requires_grad_(True) for v in (x, h, c, w_ih, w_hh, b)]
        h2, c2 = torch.lstm_cell(leaves[0], [leaves[1], leaves[2]], leaves[3], leaves[4], leaves[5],
                                 torch.zeros_like(b))
        return lambda: torch.autograd.grad((h2, c2), leaves, (gh, gc), retain_graph=True)
    if op == "relu":
        return lambda: torch.relu(t[0])
    if op == "relu_backward":
        x, g = t
        return lambda: aten.threshold_backward(g, x, 0)
    if op == "add":
        return lambda: torch.add(*t)
    if op == "sum":
        return lambda: torch.sum(t[0], dim=kw["axis"])
    raise ValueError(f"unknown op {op!r}")


def tensor_fn(tc: Any, case: Case) -> Callable[[], Any]:
    """``Tensor @ Tensor`` with autograd off: the kernel plus tensorcore's Python layer."""
    a, b = (tc.from_numpy(v) for v in case.inputs)

    def mm() -> Any:
        with tc.no_grad():
            return a @ b

    return mm


# --------------------------------------------------------------------------- devices

def _namespace(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return np
    import cupy  # pragma: no cover - GPU only

    return cupy  # pragma: no cover


def _on_device(case: Case, device: str) -> tuple[Any, ...]:
    """The case's inputs on ``device`` (CuPy arrays on a GPU), converted once per case and device."""
    if device == "cpu":
        return case.inputs
    cache = case.kw.setdefault("_device_inputs", {})
    if device not in cache:  # pragma: no cover - GPU only
        import cupy

        cache[device] = tuple(cupy.asarray(v) for v in case.inputs)
    return cache[device]


def _real_gpu() -> bool:
    import tensorcore as tc
    from tensorcore.device import simulated

    return tc.cuda.is_available() and not simulated()


def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # torch
        return v.detach().cpu().numpy()
    if hasattr(v, "get") and not isinstance(v, np.ndarray):  # cupy
        return v.get()
    return np.asarray(v)


def _outputs(result: Any) -> list[np.ndarray]:
    if isinstance(result, (tuple, list)):
        return [_to_numpy(v) for v in result if v is not None]
    return [_to_numpy(result)]


def _max_err(result: Any, expected: Sequence[np.ndarray]) -> float:
    """The largest absolute difference over the outputs both sides produce (pairwise, in order)."""
    err = 0.0
    for got, want in zip(_outputs(result), expected):
        if want.size:
            err = max(err, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
    return err


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


def _measure(fn: Callable[[], Any], min_time: float, settle: float, device: str = "cpu") -> timing.Timing:
    if settle > 0:
        time.sleep(settle)
    flush = timing.l2_flush(device) if device != "cpu" else None
    return timing.measure(fn, device=device, min_time=min_time, flush=flush)


def _select_backends(backends: Sequence[str] | None) -> list[tuple[str, str]]:
    """``(name, device)`` of the tensorcore backends to run: by default every available CPU backend,
    plus the GPU ones on a real GPU (never the simulator: it is a correctness tool, not a device)."""
    import tensorcore as tc

    avail = tc.backends.available()
    if backends is None:
        return [(n, a.device) for n, a in avail.items()
                if a.available and (a.device == "cpu" or _real_gpu())]
    out = []
    for n in backends:
        if n not in avail:
            raise ValueError(f"unknown backend {n!r}; registered: {sorted(avail)}")
        if not avail[n].available:
            raise RuntimeError(f"backend {n!r} is not available here: {avail[n].reason}")
        if avail[n].device != "cpu" and not _real_gpu():
            raise RuntimeError(f"backend {n!r} runs on the simulated {avail[n].device} device; "
                               "benchmarks need a real GPU")
        out.append((n, avail[n].device))
    return out


def ladder_variants(device: str = "cpu") -> list[str]:
    """The matmul ladder's rungs this machine runs: the C++ names the CPU supports, or the Numba-CUDA
    variant names on ``cuda``."""
    if device == "cpu":
        try:
            from tensorcore import _C
        except ImportError:
            return []
        feats = _C.cpu_features()
        need = {"packed_avx2": feats.get("avx2_fma", False), "packed_avx512": feats.get("avx512f", False)}
        return [v for v in CPP_LADDER if need.get(v, True)]
    from tensorcore.kernels.numba import matmul as nb_mm  # pragma: no cover - GPU only

    return list(nb_mm.VARIANTS)  # pragma: no cover


def ladder_fn(backend: str, name: str, inputs: Sequence[Any]) -> Callable[[], Any]:
    """One rung of ``backend``'s matmul ladder on ``inputs``."""
    a, b = inputs
    if backend == "cpp":
        from tensorcore import _C

        return lambda: _C.matmul_variant(a, b, name)
    if backend == "numba":  # pragma: no cover - GPU only
        import tensorcore as tc
        from tensorcore.backends import numba as nb

        tc.backends.get("numba")  # loads the kernels
        return lambda: nb.matmul_variant(a, b, name)
    raise ValueError(f"no matmul ladder for backend {backend!r}")


def run(ops: Sequence[str] = DEFAULT_OPS, *, quick: bool = False, backends: Sequence[str] | None = None,
        sizes: Sequence[int] | None = None, ragged: bool | None = None,
        shapes: Sequence[tuple[int, int]] | None = None, torch: bool = True, tensor_row: bool = True,
        min_time: float | None = None, settle: float = SETTLE_S, ladder_size: int | None = None,
        copy_floats: int | None = None, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run the kernel benchmarks and return result rows (see :mod:`bench.report` for the schema).

    ``backends`` restricts the tensorcore backends (default: every available CPU backend, and the GPU
    ones on a real GPU); ``sizes`` / ``shapes`` / ``ragged`` override the matmul sizes, row-wise
    shapes and the ragged case; ``ladder_size`` the matmul ladder's size (default
    :data:`LADDER_SIZE`, :data:`LADDER_SIZE_GPU` on a GPU); ``copy_floats`` the copy's length;
    ``torch=False`` skips the PyTorch reference; ``min_time`` is the seconds of timed runs per row
    (default 0.1 quick, 0.3 full); ``settle`` the pause before each row (:data:`SETTLE_S`).
    ``progress`` receives one line per finished row.
    """
    import tensorcore as tc

    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown}; expected some of {OPS}")
    min_time = (0.1 if quick else 0.3) if min_time is None else min_time
    threads = cpu_threads()
    torch_mod = _torch(threads) if torch else None
    selected = _select_backends(backends)
    devices = ["cpu"] + sorted({d for _, d in selected if d != "cpu"})
    torch_devices = ["cpu"]
    if torch_mod is not None and "cuda" in devices and torch_mod.cuda.is_available():  # pragma: no cover
        torch_mod.backends.cuda.matmul.allow_tf32 = False
        torch_mod.backends.cudnn.allow_tf32 = False
        torch_devices.append("cuda")
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if progress is not None:
            label = row["backend"] if row["source"] != "kernel" or row["op"] != "matmul_ladder" else \
                f"{row['backend']}:{row['variant']}"
            progress(f"{row['op']:<20} {label:<20} {row['device']:<5} {'x'.join(map(str, row['shape'])):<18} "
                     f"{row['median_s'] * 1e3:9.3f} ms")

    def finish(group: list[dict[str, Any]]) -> None:
        # Ratios against NumPy on the CPU and PyTorch on the row's device, at the same shape.
        ref_np = next((r for r in group if r["source"] == "reference" and r["backend"] == "numpy"), None)
        trefs = {r["device"]: r for r in group if r["source"] == "reference" and r["backend"] == "torch"}
        for r in group:
            tref = trefs.get(r["device"])
            r["time_vs_numpy"] = r["median_s"] / ref_np["median_s"] \
                if ref_np and ref_np["shape"] == r["shape"] else None
            r["time_vs_torch"] = r["median_s"] / tref["median_s"] if tref and tref["shape"] == r["shape"] else None

    def references(case: Case, expected: list[np.ndarray], group: list[dict[str, Any]]) -> None:
        if torch_mod is None or case.op in ("copy", "matmul_ladder"):
            return
        for dev in torch_devices:
            fn = torch_fn(torch_mod, case, dev)
            group.append(_row(case, "reference", "torch", dev, _measure(fn, min_time, settle, dev),
                              f"PyTorch {torch_mod.__version__}", _max_err(fn(), expected), threads))
            emit(group[-1])

    for op in ops:
        if op in ("matmul", "matmul_ladder"):
            if op == "matmul":
                cases = matmul_cases(sizes if sizes is not None else (MATMUL_SIZES_QUICK if quick else MATMUL_SIZES),
                                     ragged=True if ragged is None else ragged)
            else:
                n = ladder_size or (LADDER_SIZE_QUICK if quick else LADDER_SIZE)
                cases = matmul_cases([n], ragged=False, op="matmul_ladder")
        elif op in ("softmax", "log_softmax", "cross_entropy"):
            cases = rowwise_cases(op, shapes if shapes is not None else
                                  (SOFTMAX_SHAPES_QUICK if quick else SOFTMAX_SHAPES))
        else:
            cases = course_cases(op, copy_floats=copy_floats or (COPY_FLOATS_QUICK if quick else COPY_FLOATS))
        tensor_size = TENSOR_ROW_SIZE_QUICK if quick else TENSOR_ROW_SIZE
        if sizes is not None:
            tensor_size = max(sizes)
        for case in cases:
            if op == "matmul_ladder":
                group = _ladder_rows(case, selected, ladder_size, min_time, settle, threads, emit)
                finish(group)
                continue
            ref_fn = numpy_fn(case)
            expected = _outputs(ref_fn())
            what = {"matmul": "NumPy matmul (BLAS)", "copy": "numpy.copyto"}.get(
                op, "NumPy expressions" if op in ("softmax", "log_softmax", "cross_entropy")
                else "NumPy reference (tensorcore.backends.reference)")
            group = [_row(case, "reference", "numpy", "cpu", _measure(ref_fn, min_time, settle), what, 0.0, threads)]
            emit(group[-1])
            if op == "copy":
                for dev in devices[1:]:  # pragma: no cover - GPU only: device-to-device copy
                    src, dst = _on_device(case, dev)
                    fn = (lambda s=src, d=dst: d.__setitem__(Ellipsis, s))
                    group.append(_row(case, "reference", "cupy", dev, _measure(fn, min_time, settle, dev),
                                      "device-to-device copy (CuPy)", None, threads))
                    emit(group[-1])
                finish(group)
                continue
            references(case, expected, group)
            for name, dev in selected:
                with tc.use_backend(name) as B:
                    fn = kernel_fn(B, case, _on_device(case, dev))
                    group.append(_row(case, "kernel", name, dev, _measure(fn, min_time, settle, dev),
                                      variant(B, case.op), _max_err(fn(), expected), threads))
                    emit(group[-1])
                    if op == "matmul" and tensor_row and dev == "cpu" and case.shape == (tensor_size,) * 3:
                        fn = tensor_fn(tc, case)
                        group.append(_row(case, "tensor", name, dev, _measure(fn, min_time, settle),
                                          "Tensor @ Tensor, " + variant(B, case.op), _max_err(fn(), expected),
                                          threads))
                        emit(group[-1])
            finish(group)
    return rows


def _ladder_rows(case: Case, selected: Sequence[tuple[str, str]], ladder_size: int | None, min_time: float,
                 settle: float, threads: int, emit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Rows of every matmul-ladder rung (C++ on the CPU; Numba-CUDA on a GPU, at its own size), with a
    NumPy BLAS row at the same shape for the ratios."""
    a, b = case.inputs
    expected = [a @ b]
    group = [_row(case, "reference", "numpy", "cpu", _measure(lambda: a @ b, min_time, settle),
                  "NumPy matmul (BLAS)", 0.0, threads)]
    emit(group[-1])
    names = {n for n, _ in selected}
    if "cpp" in names:
        for rung in ladder_variants("cpu"):
            fn = ladder_fn("cpp", rung, case.inputs)
            group.append(_row(case, "kernel", "cpp", "cpu", _measure(fn, min_time, settle), rung,
                              _max_err(fn(), expected), threads))
            emit(group[-1])
    if "numba" in names:  # pragma: no cover - GPU only
        gpu_case = matmul_cases([ladder_size or LADDER_SIZE_GPU], ragged=False, op="matmul_ladder")[0]
        gpu_expected = [gpu_case.inputs[0].astype(np.float64) @ gpu_case.inputs[1].astype(np.float64)]
        for rung in ladder_variants("cuda"):
            fn = ladder_fn("numba", rung, _on_device(gpu_case, "cuda"))
            group.append(_row(gpu_case, "kernel", "numba", "cuda", _measure(fn, min_time, settle, "cuda"), rung,
                              _max_err(fn(), gpu_expected), threads))
            emit(group[-1])
    return group
