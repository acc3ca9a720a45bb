"""The CuPy backend (device ``cuda``): CUDA C kernels from ``kernels/cuda/*.cu``, compiled at run time
by NVRTC through ``cupy.RawModule``, with the reference's names and signatures.

What runs where
    Handwritten (:data:`HANDWRITTEN`): ``matmul`` (the SGEMM ladder, float64 through the templated
    ``blocktile_2d``), the softmax family and fused cross-entropy, ``conv2d`` forward and backward
    (implicit GEMM, any stride / padding / dilation / groups), max and average pooling forward and
    backward, and the LSTM cell's fused pointwise kernels (its gate GEMMs go through ``matmul``).
    Every other entry (elementwise ops, reductions) and every input the kernels do not take (integer
    or mixed dtypes, sizes past 32-bit indexing, grids past CUDA's limits) falls back to the NumPy
    *reference* running on the same CuPy arrays -- not to the ``numba`` backend: a backend is one
    table plus the reference (see :mod:`tensorcore.backends.registry`).

Compilation
    Each kernel is a C++ template; a configuration (dtype, tile sizes, strategy) is one *name
    expression* such as ``tc::sgemm_warptile<128, 128, 16, 64, 64, 4, 8, 4, 128>``. Every name
    expression the glue may launch is listed in :data:`NAME_EXPRESSIONS` (built from the variant
    tables below, without importing CuPy), and the CI test ``tests/test_cuda_nvrtc.py`` compiles
    exactly those with NVRTC and :data:`NVRTC_OPTIONS`, so what the glue launches is what CI compiled.
    At run time a configuration is compiled on first use, once per (file, expression, device), and
    kept in :data:`_FUNCTIONS` (CuPy also caches the binary on disk). ``#include "common.cuh"`` is
    inlined by :func:`source`, so CuPy's disk cache, keyed on the source text, sees header edits.

Glue duties
    Check shapes and dtypes, compact inputs where a kernel needs row-major data (the ``blocktile_2d``
    SGEMM reads arbitrary element strides in place), allocate outputs with CuPy (running out of memory
    raises :class:`tensorcore.device.OutOfMemoryError`), pick the variant and the launch sizes (pure
    functions here, tested without a GPU), and launch on CuPy's current stream.

TF32
    ``allow_tf32`` (module attribute, default ``False``) lets ``matmul`` use the TF32 tensor-core
    kernel for float32: about 8x the FP32 FMA throughput, ~1e-3 relative error (inputs rounded to a
    10-bit mantissa). ``matmul_variant(a, b, "tf32_mma")`` runs it explicitly.

The backend loads only on a real GPU with CuPy: :func:`kernels` raises
:class:`~tensorcore.backends.registry.BackendUnavailable` otherwise (including under Numba's CUDA
simulator), and importing this module never imports CuPy.
"""
from __future__ import annotations

import builtins
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..device import empty as device_empty
from ..device import zeros as device_zeros
from . import pool_geometry, reference
from .registry import BackendUnavailable

# =========================================================================== configuration (no CuPy)

def _kernel_dir() -> Path:
    from .. import kernels as pkg   # tensorcore.kernels is the top-level kernels/ (package-dir mapping)

    return Path(list(pkg.__path__)[0]) / "cuda"


KERNEL_DIR = _kernel_dir()
"""Where the ``.cu`` sources live: ``kernels/cuda`` (installed as ``tensorcore/kernels/cuda``)."""

NVRTC_OPTIONS: tuple[str, ...] = ("--generate-line-info",)
"""Options for every module (CuPy adds the target architecture; the CI test adds compute_90). Line
info lets compute-sanitizer and profilers point at source lines; it does not change the code."""

_TYPES = {"float32": "float", "float64": "double"}

MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65535
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class GemmConfig:
    """One compiled configuration of an SGEMM rung: the name expression, threads a block, the
    ``(BM, BN)`` tile of C a block computes, and the kernel's argument convention (``strided``:
    element strides for A and B; otherwise row-major operands plus the ``vec`` flag)."""

    expr: str
    threads: int
    tile: tuple[int, int]
    strided: bool


SGEMM: dict[str, dict[str, GemmConfig]] = {
    "blocktile_2d": {
        "float32": GemmConfig("tc::sgemm_blocktile_2d<float, 128, 128, 8, 8, 8>", 256, (128, 128), True),
        "float64": GemmConfig("tc::sgemm_blocktile_2d<double, 64, 64, 8, 4, 4>", 256, (64, 64), True),
    },
    "vectorized": {"float32": GemmConfig("tc::sgemm_vectorized<128, 128, 8, 8, 8>", 256, (128, 128), False)},
    "double_buffered": {
        "float32": GemmConfig("tc::sgemm_double_buffered<128, 128, 16, 8, 8>", 256, (128, 128), False)},
    "warptile": {
        "float32": GemmConfig("tc::sgemm_warptile<128, 128, 16, 64, 64, 4, 8, 4, 128>", 128, (128, 128), False)},
    "tf32_mma": {"float32": GemmConfig("tc::sgemm_tf32_mma<128, 128, 16, 2, 4>", 256, (128, 128), False)},
}
"""The CUDA C ladder, slowest first (it continues ``tensorcore.kernels.numba.matmul.VARIANTS``)."""

SGEMM_DEFAULT = "warptile"
"""The float32 rung ``matmul`` uses (Boehm's fastest FP32 kernel; ``bench/gpu_check.sh`` measures all)."""

COMPACT_MIN_WORK = 1 << 24
"""Below this many multiply-adds a non-row-major operand is read in place by the strided
``blocktile_2d``; at or above it, copying it row-major and using the faster rung wins."""

SOFTMAX_WARPS = 4                    # rows (warps) a block in the warp-per-row kernels
SOFTMAX_VPT = (1, 2, 4, 8, 16, 32)   # values a lane: rows up to 32 * VPT columns
SOFTMAX_BLOCK_THREADS = 512          # block-per-row kernels
SOFTMAX_MAX_WARP_C = 32 * SOFTMAX_VPT[-1]
_MODES = {"softmax": 0, "log_softmax": 1, "cross_entropy": 2}

CONV_TILE = (64, 64, 16, 4, 4)       # BM, BN, BK, TM, TN of the implicit GEMMs: 256 threads
CONV_THREADS = (CONV_TILE[0] // CONV_TILE[3]) * (CONV_TILE[1] // CONV_TILE[4])

FLAT_THREADS = 256                   # 1-D grid-stride kernels
FLAT_MAX_BLOCKS = 65535 * 8
OPTIM_CHUNK = 16384                  # elements per block in the multi-tensor optimizer kernels


def softmax_expr(kind: str, mode: str, dtype: str, size: int) -> str:
    """Name expression of a softmax-family kernel. ``kind`` is ``warp`` or ``block``; ``mode`` is
    ``softmax`` / ``log_softmax`` / ``cross_entropy`` (forward) or ``backward`` / ``log_backward``;
    ``size`` is the values a lane (warp) or the block size (block)."""
    t = _TYPES[dtype]
    if mode in ("backward", "log_backward"):
        log = int(mode == "log_backward")
        if kind == "warp":
            return f"tc::softmax_warp_backward<{t}, {log}, {size}, {SOFTMAX_WARPS}>"
        return f"tc::softmax_block_backward<{t}, {log}, {size}>"
    if kind == "warp":
        return f"tc::softmax_warp_forward<{t}, {_MODES[mode]}, {size}, {SOFTMAX_WARPS}>"
    return f"tc::softmax_block_forward<{t}, {_MODES[mode]}, {size}>"


def conv_expr(which: str, dtype: str) -> str:
    """``which`` in ``forward``, ``backward_data``, ``backward_weight``."""
    bm, bn, bk, tm, tn = CONV_TILE
    return f"tc::conv2d_{which}<{_TYPES[dtype]}, {bm}, {bn}, {bk}, {tm}, {tn}>"


def _all_name_expressions() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {f: [] for f in ("sgemm.cu", "softmax.cu", "conv.cu", "pool.cu", "lstm.cu", "optim.cu")}
    for configs in SGEMM.values():
        out["sgemm.cu"] += [c.expr for c in configs.values()]
    for dt, t in _TYPES.items():
        for mode in ("softmax", "log_softmax", "cross_entropy", "backward", "log_backward"):
            out["softmax.cu"] += [softmax_expr("warp", mode, dt, v) for v in SOFTMAX_VPT]
            out["softmax.cu"].append(softmax_expr("block", mode, dt, SOFTMAX_BLOCK_THREADS))
        out["softmax.cu"].append(f"tc::cross_entropy_backward<{t}>")
        out["conv.cu"] += [conv_expr(w, dt) for w in ("forward", "backward_data", "backward_weight")]
        out["pool.cu"] += [f"tc::{k}<{t}>" for k in ("max_pool2d_forward", "max_pool2d_backward_gather",
                                                       "max_pool2d_backward_scatter", "avg_pool2d_forward",
                                                       "avg_pool2d_backward")]
        out["lstm.cu"] += [f"tc::lstm_cell_forward<{t}>", f"tc::lstm_cell_backward<{t}>"]
        out["optim.cu"] += [f"tc::multi_tensor_adam<{t}>", f"tc::multi_tensor_sgd<{t}>"]
    return {f: tuple(v) for f, v in out.items()}


NAME_EXPRESSIONS: dict[str, tuple[str, ...]] = _all_name_expressions()
"""Every ``(file, name expression)`` the glue can launch: the list the NVRTC CI test compiles."""


def source(filename: str) -> str:
    """The text of ``kernels/cuda/<filename>`` with each ``#include "x.cuh"`` replaced by that file's
    text (once; ``#pragma once`` semantics), ready for NVRTC without an include path."""
    seen: set[str] = set()

    def expand(name: str) -> str:
        if name in seen:
            return ""
        seen.add(name)
        text = (KERNEL_DIR / name).read_text()
        return re.sub(r'^\s*#include\s+"([^"]+)"\s*$', lambda m: expand(m.group(1)), text, flags=re.M)

    return expand(filename)


# --------------------------------------------------------------------------- pure launch arithmetic

def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def select_sgemm(M: int, N: int, K: int, dtype: str, a_row_major: bool, b_row_major: bool,
                 allow_tf32: bool = False) -> tuple[str, bool]:
    """``(variant, compact)`` for ``matmul``: which rung runs, and whether non-row-major operands are
    copied row-major first (``False``: the strided ``blocktile_2d`` reads them in place).

    float64 -> ``blocktile_2d`` (the only templated-on-T rung). float32 with both operands row-major
    -> ``tf32_mma`` when TF32 is allowed, else :data:`SGEMM_DEFAULT`. A transposed or sliced float32
    operand is read in place by ``blocktile_2d`` for small products and copied for large ones, where
    the copy (``O(n^2)``) is cheap next to the faster kernel (``O(n^3)``)."""
    if dtype != "float32":
        return "blocktile_2d", False
    fast = "tf32_mma" if allow_tf32 else SGEMM_DEFAULT
    if a_row_major and b_row_major:
        return fast, False
    if M * N * K < COMPACT_MIN_WORK:
        return "blocktile_2d", False
    return fast, True


def sgemm_grid(M: int, N: int, tile: tuple[int, int]) -> tuple[int, int]:
    """``(grid x, grid y)``: x walks column tiles of C, y row tiles (batch entries go on z)."""
    return _cdiv(N, tile[1]), _cdiv(M, tile[0])


def sgemm_vec_ok(K: int, N: int, pointers: tuple[int, ...], batch_strides: tuple[int, ...]) -> bool:
    """Whether the float4 path is safe: rows of A (K floats), of B and C (N floats) start 16-byte
    aligned in every batch entry."""
    return K % 4 == 0 and N % 4 == 0 and all(p % 16 == 0 for p in pointers) and all(s % 4 == 0 for s in batch_strides)


def softmax_plan(C: int, force: str | None = None) -> tuple[str, int]:
    """``(kind, size)``: a warp per row holding ``size`` values a lane for ``C <= 1024`` (the smallest
    ``size`` with ``32 * size >= C``), else a block of ``SOFTMAX_BLOCK_THREADS`` per row. ``force``
    picks the strategy (``"warp"`` needs ``C <= 1024``)."""
    kind = force or ("warp" if C <= SOFTMAX_MAX_WARP_C else "block")
    if kind == "block":
        return "block", SOFTMAX_BLOCK_THREADS
    if C > SOFTMAX_MAX_WARP_C:
        raise ValueError(f"softmax: the warp strategy takes rows of at most {SOFTMAX_MAX_WARP_C} values, got {C}")
    return "warp", next(v for v in SOFTMAX_VPT if 32 * v >= C)


def softmax_launch(R: int, kind: str) -> tuple[int, int]:
    """``(blocks, threads)`` for ``R`` rows; the kernels grid-stride over rows past the grid."""
    if kind == "warp":
        return builtins.max(1, builtins.min(_cdiv(R, SOFTMAX_WARPS), MAX_GRID_YZ)), 32 * SOFTMAX_WARPS
    return builtins.max(1, builtins.min(R, MAX_GRID_YZ * 4)), SOFTMAX_BLOCK_THREADS


def flat_launch(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` for a 1-D grid-stride kernel over ``n`` elements."""
    return builtins.max(1, builtins.min(_cdiv(n, FLAT_THREADS), FLAT_MAX_BLOCKS)), FLAT_THREADS


def conv_weight_split(og: int, kred: int, groups: int, P: int, sm_count: int = 132) -> tuple[int, int]:
    """``(splits, chunk)`` for the weight-gradient GEMM: its output (``Og x Cg*KH*KW`` per group) is
    small and its reduction (``P = N*OH*OW``) long, so the reduction is cut into ``splits`` chunks of
    ``chunk`` indices (a multiple of BK) to give at least ~4 blocks an SM, each split at least 8 BK
    slabs long and ``groups * splits`` within grid z; no split is empty."""
    bm, bn, bk = CONV_TILE[:3]
    tiles = _cdiv(og, bm) * _cdiv(kred, bn) * groups
    want = _cdiv(4 * sm_count, tiles)
    splits = builtins.max(1, builtins.min(want, P // (8 * bk), MAX_GRID_YZ // groups))
    chunk = _cdiv(_cdiv(P, splits), bk) * bk
    return _cdiv(P, chunk), chunk


def optim_chunks(sizes: list[int], chunk: int = OPTIM_CHUNK) -> tuple[list[int], list[int]]:
    """``(tensor of each block, first element of each block)`` for a multi-tensor launch: every
    tensor cut into ``chunk``-element pieces (empty tensors get none)."""
    tensors, starts = [], []
    for t, n in enumerate(sizes):
        for s in range(0, n, chunk):
            tensors.append(t)
            starts.append(s)
    return tensors, starts


# =========================================================================== run time (CuPy)

allow_tf32 = False
"""Let ``matmul`` use the TF32 tensor-core kernel for float32 (~1e-3 relative error). Off by default,
as in PyTorch's ``torch.backends.cuda.matmul.allow_tf32``."""

_cupy: Any = None
_FUNCTIONS: dict[tuple[str, str, int], Any] = {}
_SM_COUNT: dict[int, int] = {}


def kernels() -> dict[str, Callable]:
    """The handwritten entries, or :class:`BackendUnavailable` saying why they cannot run here."""
    global _cupy
    from ..device import cuda_status, simulated

    if simulated():
        raise BackendUnavailable("the cupy backend needs a real GPU; Numba's CUDA simulator is active "
                                 "(NUMBA_ENABLE_CUDASIM=1)")
    ok, reason = cuda_status()
    if not ok:
        raise BackendUnavailable(f"the cuda device is not available: {reason}")
    try:
        import cupy
    except ImportError as exc:  # cuda_status found it, so this is unlikely; say it plainly anyway
        raise BackendUnavailable(f"CuPy is not installed ({exc})") from exc
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as exc:
        raise BackendUnavailable(f"CuPy cannot load NVRTC, which compiles the CUDA C kernels ({exc})") from exc
    if not KERNEL_DIR.is_dir():
        raise BackendUnavailable(f"the CUDA C sources are missing: {KERNEL_DIR} is not a directory")
    _cupy = cupy
    return {name: globals()[name] for name in HANDWRITTEN}


def _function(filename: str, expr: str, device: int) -> Any:
    """The compiled kernel ``expr`` of ``filename`` on ``device``: compiled on first use (one
    RawModule a configuration, so a launch never pays for instantiations it does not use)."""
    key = (filename, expr, device)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        if expr not in NAME_EXPRESSIONS[filename]:
            raise KeyError(f"{expr} is not a configuration of {filename} listed in NAME_EXPRESSIONS")
        with _cupy.cuda.Device(device):
            module = _cupy.RawModule(code=source(filename), options=NVRTC_OPTIONS, name_expressions=[expr])
            fn = _FUNCTIONS[key] = module.get_function(expr)
    return fn


def _device(x: Any) -> int:
    return x.device.id


def _launch(filename: str, expr: str, grid: Any, block: int, args: tuple, device: int) -> None:
    """Launch on CuPy's current stream of ``device`` (switching the current device only if needed)."""
    fn = _function(filename, expr, device)
    grid = grid if isinstance(grid, tuple) else (grid,)
    if _cupy.cuda.runtime.getDevice() == device:
        fn(grid, (block,), args)
    else:
        with _cupy.cuda.Device(device):
            fn(grid, (block,), args)


def _sm_count(device: int) -> int:
    n = _SM_COUNT.get(device)
    if n is None:
        n = _SM_COUNT[device] = int(_cupy.cuda.runtime.getDeviceProperties(device)["multiProcessorCount"])
    return n


def _scalar(dtype: Any) -> Callable[[float], Any]:
    return np.float32 if np.dtype(dtype) == np.float32 else np.float64


def _i32(v: int) -> np.int32:
    return np.int32(v)


def _i64(v: int) -> np.int64:
    return np.int64(v)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _native(*arrays: Any) -> bool:
    """True when the kernels take these arrays: CuPy arrays on one GPU, of one native float dtype."""
    first = arrays[0]
    return (all(isinstance(a, _cupy.ndarray) and a.dtype == first.dtype for a in arrays)
            and first.dtype in _FLOATS and first.dtype.isnative
            and all(a.device.id == first.device.id for a in arrays))


def _fits_int32(*sizes: int) -> bool:
    return all(0 <= s <= INT32_MAX for s in sizes)


def _compact(x: Any) -> Any:
    return x if x.flags.c_contiguous else _cupy.ascontiguousarray(x)


def _empty(shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    return device_empty(_cupy, shape, dtype, op)


def _zeros(shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    return device_zeros(_cupy, shape, dtype, op)


def _describe(x: Any) -> str:
    return f"{type(x).__name__} {getattr(x, 'dtype', '?')} {getattr(x, 'shape', '?')}"


# --------------------------------------------------------------------------- matmul

def _matmul_native(a: Any, b: Any) -> bool:
    return _native(a, b) and a.ndim >= 2 and a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]


def _elem_strides(x: Any) -> tuple[int, ...] | None:
    item = x.itemsize
    if any(s % item for s in x.strides):
        return None
    return tuple(s // item for s in x.strides)


def _row_major(strides: tuple[int, ...] | None, cols: int) -> bool:
    """A (Z, rows, cols) array whose every matrix is row-major with leading dimension ``cols``."""
    return strides is not None and strides[2] == 1 and strides[1] == cols


def matmul(a: Any, b: Any) -> Any:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)``; the rung is :func:`select_sgemm`'s choice (TF32
    only with :data:`allow_tf32`). Batch dims are folded into ``blockIdx.z``. Other dtypes, mixed
    dtypes, batch dims not yet broadcast or sizes past int32 go to the reference."""
    if not _matmul_native(a, b):
        return reference.matmul(a, b)
    return _matmul(a, b, None, "matmul")


def matmul_variant(a: Any, b: Any, name: str) -> Any:
    """``a @ b`` with one named rung of the CUDA C ladder (:data:`SGEMM`), for tests and benchmarks.
    Takes what ``matmul`` takes; every rung but ``blocktile_2d`` is float32 only."""
    op = f"matmul_variant({name!r})"
    if _cupy is None:
        raise RuntimeError(f"{op}: the cupy backend is not loaded; use tensorcore.backends.get('cupy') first")
    if name not in SGEMM:
        raise ValueError(f"{op}: unknown variant; expected one of {list(SGEMM)}")
    if not _matmul_native(a, b) or a.dtype.name not in SGEMM[name]:
        raise TypeError(f"{op}: expected two CuPy arrays of one dtype ({', '.join(SGEMM[name])}) on one GPU, "
                        f"ndim >= 2 with equal batch dims; got {_describe(a)} and {_describe(b)}")
    return _matmul(a, b, name, op)


def _matmul(a: Any, b: Any, name: str | None, op: str) -> Any:
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"{op}: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    batch, (M, K), N = a.shape[:-2], a.shape[-2:], b.shape[-1]
    Z = math.prod(batch)
    if not _fits_int32(M, N, K):
        if name is None:
            return reference.matmul(a, b)
        raise ValueError(f"{op}: sizes M={M}, N={N}, K={K} exceed the kernels' 32-bit indexing")
    if K == 0:
        return _zeros((*batch, M, N), a.dtype, op)
    out = _empty((*batch, M, N), a.dtype, op)
    if out.size == 0:
        return out
    a3, b3 = a.reshape(Z, M, K), b.reshape(Z, K, N)   # views whenever the batch dims fold
    sa, sb = _elem_strides(a3), _elem_strides(b3)
    dtype = a.dtype.name
    if name is None:
        name, compact = select_sgemm(M, N, K, dtype, _row_major(sa, K), _row_major(sb, N), allow_tf32)
    else:
        compact = not SGEMM[name][dtype].strided
    cfg = SGEMM[name][dtype]
    if sa is None or (compact and not _row_major(sa, K)):
        a3 = _cupy.ascontiguousarray(a3)
        sa = _elem_strides(a3)
    if sb is None or (compact and not _row_major(sb, N)):
        b3 = _cupy.ascontiguousarray(b3)
        sb = _elem_strides(b3)
    gx, gy = sgemm_grid(M, N, cfg.tile)
    if gy > MAX_GRID_YZ or gx > MAX_GRID_X:
        if name is None:
            return reference.matmul(a, b)
        raise ValueError(f"{op}: an output of {M}x{N} needs a grid of {gx}x{gy} blocks, more than CUDA allows")
    c3 = out.reshape(Z, M, N)
    dev = _device(a)
    for z0 in range(0, Z, MAX_GRID_YZ):          # grid z is at most 65535 batch entries a launch
        z1 = builtins.min(Z, z0 + MAX_GRID_YZ)
        A, B, C = a3[z0:z1], b3[z0:z1], c3[z0:z1]
        if cfg.strided:
            args = (A, B, C, _i32(M), _i32(N), _i32(K), _i64(sa[0]), _i64(sa[1]), _i64(sa[2]),
                    _i64(sb[0]), _i64(sb[1]), _i64(sb[2]), _i64(M * N))
        else:
            vec = sgemm_vec_ok(K, N, (A.data.ptr, B.data.ptr, C.data.ptr), (sa[0], sb[0], M * N))
            args = (A, B, C, _i32(M), _i32(N), _i32(K), _i64(sa[0]), _i64(sb[0]), _i64(M * N), _i32(int(vec)))
        _launch("sgemm.cu", cfg.expr, (gx, gy, z1 - z0), cfg.threads, args, dev)
    return out


# --------------------------------------------------------------------------- softmax family

def _softmax_ok(*arrays: Any) -> bool:
    x = arrays[0]
    return (_native(*arrays) and x.ndim >= 1 and x.shape[-1] > 0 and all(a.shape == x.shape for a in arrays)
            and _fits_int32(x.shape[-1], x.size // x.shape[-1]))


def _as_rows(x: Any) -> Any:
    x = _compact(x)
    return x.reshape(x.size // x.shape[-1], x.shape[-1])


def _softmax_forward(x: Any, mode: str, force: str | None, op: str, target: Any = None) -> tuple[Any, Any]:
    rows = _as_rows(x)
    R, C = rows.shape
    y = _empty(x.shape, x.dtype, op)
    loss = _empty((R,), x.dtype, op) if mode == "cross_entropy" else None
    if R:
        kind, size = softmax_plan(C, force)
        blocks, threads = softmax_launch(R, kind)
        tgt = target if target is not None else rows          # unused unless cross_entropy (any pointer)
        lss = loss if loss is not None else y
        _launch("softmax.cu", softmax_expr(kind, mode, x.dtype.name, size), blocks, threads,
                (rows, y, _i32(R), _i32(C), tgt, lss), _device(x))
    return y, loss


def _softmax_backward(y: Any, grad_y: Any, log: bool, force: str | None, op: str) -> Any:
    ry, rg = _as_rows(y), _as_rows(grad_y)
    R, C = ry.shape
    out = _empty(y.shape, y.dtype, op)
    if R:
        kind, size = softmax_plan(C, force)
        blocks, threads = softmax_launch(R, kind)
        _launch("softmax.cu", softmax_expr(kind, "log_backward" if log else "backward", y.dtype.name, size),
                blocks, threads, (ry, rg, out, _i32(R), _i32(C)), _device(y))
    return out


def softmax(x: Any) -> Any:
    """Softmax over the last axis: a warp per row (row in registers) up to 1024 columns, else a block
    per row with the online max/sum."""
    if not _softmax_ok(x):
        return reference.softmax(x)
    return _softmax_forward(x, "softmax", None, "softmax")[0]


def log_softmax(x: Any) -> Any:
    if not _softmax_ok(x):
        return reference.log_softmax(x)
    return _softmax_forward(x, "log_softmax", None, "log_softmax")[0]


def softmax_backward(y: Any, grad_y: Any) -> Any:
    if not _softmax_ok(y, grad_y):
        return reference.softmax_backward(y, grad_y)
    return _softmax_backward(y, grad_y, False, None, "softmax_backward")


def log_softmax_backward(y: Any, grad_y: Any) -> Any:
    if not _softmax_ok(y, grad_y):
        return reference.log_softmax_backward(y, grad_y)
    return _softmax_backward(y, grad_y, True, None, "log_softmax_backward")


def softmax_variant(x: Any, variant: str, log: bool = False, grad_y: Any = None) -> Any:
    """(Log-)softmax over the last axis with a named strategy, ``"warp"`` (rows up to 1024) or
    ``"block"``; with ``grad_y``, the backward given ``x = y`` the forward's output."""
    op = f"softmax_variant({variant!r})"
    if _cupy is None:
        raise RuntimeError(f"{op}: the cupy backend is not loaded; use tensorcore.backends.get('cupy') first")
    if variant not in ("warp", "block"):
        raise ValueError(f"{op}: unknown variant; expected 'warp' or 'block'")
    arrays = (x,) if grad_y is None else (x, grad_y)
    if not _softmax_ok(*arrays):
        raise TypeError(f"{op}: expected CuPy arrays of one float dtype and shape with a non-empty last axis; "
                        "got " + " and ".join(_describe(a) for a in arrays))
    if grad_y is None:
        return _softmax_forward(x, "log_softmax" if log else "softmax", variant, op)[0]
    return _softmax_backward(x, grad_y, log, variant, op)


def _ce_ok(logits: Any, target: Any) -> bool:
    return (_native(logits) and logits.ndim == 2 and logits.shape[1] > 0 and isinstance(target, _cupy.ndarray)
            and target.dtype == np.int64 and target.shape == logits.shape[:1]
            and target.device.id == logits.device.id and _fits_int32(*logits.shape))


def cross_entropy(logits: Any, target: Any) -> tuple[Any, Any]:
    """Fused log-softmax + NLL for ``(N, C)`` logits and ``(N,)`` int64 targets: ``(losses, logp)``,
    one read of the logits (the softmax kernels' cross-entropy mode)."""
    if not _ce_ok(logits, target):
        return reference.cross_entropy(logits, target)
    logp, losses = _softmax_forward(logits, "cross_entropy", None, "cross_entropy", _compact(target))
    return losses, logp


def cross_entropy_backward(logp: Any, target: Any, grad_losses: Any) -> Any:
    """``(softmax - onehot(target)) * grad_losses[:, None]``, one thread per element."""
    if not (_ce_ok(logp, target) and _native(logp, grad_losses) and grad_losses.shape == logp.shape[:1]):
        return reference.cross_entropy_backward(logp, target, grad_losses)
    R, C = logp.shape
    out = _empty(logp.shape, logp.dtype, "cross_entropy_backward")
    if out.size:
        blocks, threads = flat_launch(out.size)
        _launch("softmax.cu", f"tc::cross_entropy_backward<{_TYPES[logp.dtype.name]}>", blocks, threads,
                (_compact(logp), _compact(target), _compact(grad_losses), out, _i32(R), _i32(C)), _device(logp))
    return out


# --------------------------------------------------------------------------- convolution

def _conv_args(x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int], stride, padding,
               dilation, groups: int) -> tuple:
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    return tuple(_i32(v) for v in (n, c, h, w, o, out_hw[0], out_hw[1], kh, kw, stride[0], stride[1],
                                   padding[0], padding[1], dilation[0], dilation[1], groups))


def _conv_ok(x: Any, w: Any, groups: int, out_hw: tuple[int, int], *more: Any) -> bool:
    if not (_native(x, w, *more) and x.ndim == 4 and w.ndim == 4 and groups >= 1):
        return False
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = out_hw
    return (c == cg * groups and o % groups == 0 and oh >= 1 and ow >= 1 and groups <= MAX_GRID_YZ
            and _fits_int32(x.size, w.size, n * o * oh * ow, n * h * wd, n * oh * ow))


def _conv_out(x_shape, w_shape, stride, padding, dilation) -> tuple[int, int]:
    return (reference._out_size(x_shape[2], w_shape[2], stride[0], padding[0], dilation[0]),
            reference._out_size(x_shape[3], w_shape[3], stride[1], padding[1], dilation[1]))


def conv2d(x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> Any:
    """``(N, C, H, W) * (O, C/G, KH, KW) -> (N, O, OH, OW)`` as one implicit-GEMM launch (grid z = groups)."""
    out_hw = _conv_out(x.shape, w.shape, stride, padding, dilation) if x.ndim == 4 and w.ndim == 4 else (0, 0)
    if not _conv_ok(x, w, groups, out_hw):
        return reference.conv2d(x, w, stride, padding, dilation, groups)
    n, o = x.shape[0], w.shape[0]
    y = _empty((n, o, *out_hw), x.dtype, "conv2d")
    bm, bn = CONV_TILE[:2]
    grid = (_cdiv(n * out_hw[0] * out_hw[1], bn), _cdiv(o // groups, bm), groups)
    _launch("conv.cu", conv_expr("forward", x.dtype.name), grid, CONV_THREADS,
            (_compact(x), _compact(w), y, *_conv_args(x.shape, w.shape, out_hw, stride, padding, dilation, groups)),
            _device(x))
    return y


def conv2d_backward(x: Any, w: Any, grad_y: Any, stride: tuple[int, int], padding: tuple[int, int],
                    dilation: tuple[int, int], groups: int, need_x: bool,
                    need_w: bool) -> tuple[Any | None, Any | None]:
    """Data gradient as an implicit-GEMM gather (each input gradient written once, no atomics); weight
    gradient as an implicit GEMM with the reduction over ``N*OH*OW`` split (:func:`conv_weight_split`)
    into a workspace summed afterwards."""
    out_hw = tuple(grad_y.shape[2:]) if grad_y.ndim == 4 else (0, 0)
    if not (_conv_ok(x, w, groups, out_hw, grad_y) and out_hw == _conv_out(x.shape, w.shape, stride, padding, dilation)
            and grad_y.shape[:2] == (x.shape[0], w.shape[0])):
        return reference.conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_x, need_w)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og, kred, P = o // groups, cg * kh * kw, n * out_hw[0] * out_hw[1]
    x, w, gy = _compact(x), _compact(w), _compact(grad_y)
    geo = _conv_args(x.shape, w.shape, out_hw, stride, padding, dilation, groups)
    bm, bn = CONV_TILE[:2]
    dev = _device(x)
    grad_x = grad_w = None
    if need_x:
        grad_x = _empty(x.shape, x.dtype, "conv2d_backward")
        grid = (_cdiv(n * h * wd, bn), _cdiv(cg, bm), groups)
        _launch("conv.cu", conv_expr("backward_data", x.dtype.name), grid, CONV_THREADS, (w, gy, grad_x, *geo), dev)
    if need_w:
        splits, chunk = conv_weight_split(og, kred, groups, P, _sm_count(dev))
        ws = _empty((splits, o, kred), x.dtype, "conv2d_backward")
        grid = (_cdiv(kred, bn), _cdiv(og, bm), groups * splits)
        _launch("conv.cu", conv_expr("backward_weight", x.dtype.name), grid, CONV_THREADS,
                (x, gy, ws, *geo, _i32(splits), _i32(chunk)), dev)
        grad_w = (ws[0] if splits == 1 else ws.sum(axis=0)).reshape(o, cg, kh, kw)
    return grad_x, grad_w


# --------------------------------------------------------------------------- pooling

def _pool_ok(x: Any) -> bool:
    return _native(x) and x.ndim == 4 and _fits_int32(x.size)


def _pool_geo(x_shape, out_hw, kernel, stride, padding) -> tuple:
    h, w = x_shape[2:]
    return tuple(_i32(v) for v in (h, w, out_hw[0], out_hw[1], kernel[0], kernel[1], stride[0], stride[1],
                                   padding[0], padding[1]))


def _pool_out(x_shape, kernel, stride, padding) -> tuple[int, int]:
    return (reference._out_size(x_shape[2], kernel[0], stride[0], padding[0], 1),
            reference._out_size(x_shape[3], kernel[1], stride[1], padding[1], 1))


def max_pool2d(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> tuple[Any, Any]:
    """Max over each window, one thread per output; ``(y, int64 index)`` exactly as the reference
    (first maximum in row-major window order wins; padding is ``-inf``; NaN is a maximum)."""
    out_hw = _pool_out(x.shape, kernel, stride, padding) if getattr(x, "ndim", 0) == 4 else (0, 0)
    if not (_pool_ok(x) and min(out_hw) >= 1 and _fits_int32(x.shape[0] * x.shape[1] * out_hw[0] * out_hw[1])):
        return reference.max_pool2d(x, kernel, stride, padding)
    n, c = x.shape[:2]
    y = _empty((n, c, *out_hw), x.dtype, "max_pool2d")
    index = _empty((n, c, *out_hw), np.int64, "max_pool2d")
    if y.size:
        blocks, threads = flat_launch(y.size)
        _launch("pool.cu", f"tc::max_pool2d_forward<{_TYPES[x.dtype.name]}>", blocks, threads,
                (_compact(x), y, index, _i32(n * c), *_pool_geo(x.shape, out_hw, kernel, stride, padding)), _device(x))
    pool_geometry.remember(index, x.shape, kernel, stride, padding)
    return y, index


def max_pool2d_backward(grad_y: Any, index: Any, x_shape: tuple[int, ...]) -> Any:
    """Non-overlapping windows (known from the forward): a gather, each input gradient written once,
    no atomics. Otherwise (or when the geometry is unknown): an atomicAdd scatter into zeros."""
    x_shape = tuple(x_shape)
    if not (_pool_ok(grad_y) and isinstance(index, _cupy.ndarray) and index.dtype == np.int64
            and index.shape == grad_y.shape and len(x_shape) == 4 and _fits_int32(math.prod(x_shape))
            and index.device.id == grad_y.device.id):
        return reference.max_pool2d_backward(grad_y, index, x_shape)
    n, c, h, w = x_shape
    oh, ow = grad_y.shape[2:]
    dt = _TYPES[grad_y.dtype.name]
    window = pool_geometry.gather_window(index, x_shape)
    gy, idx = _compact(grad_y), _compact(index)
    dev = _device(grad_y)
    if window is not None:
        _, kernel, stride, padding = window
        gx = _empty(x_shape, grad_y.dtype, "max_pool2d_backward")
        if gx.size:
            blocks, threads = flat_launch(gx.size)
            _launch("pool.cu", f"tc::max_pool2d_backward_gather<{dt}>", blocks, threads,
                    (gy, idx, gx, _i32(n * c), *_pool_geo(x_shape, (oh, ow), kernel, stride, padding)), dev)
        return gx
    gx = _zeros(x_shape, grad_y.dtype, "max_pool2d_backward")
    if gy.size:
        blocks, threads = flat_launch(gy.size)
        # Only H, W, OH and OW matter to the scatter; the window arguments are placeholders.
        _launch("pool.cu", f"tc::max_pool2d_backward_scatter<{dt}>", blocks, threads,
                (gy, idx, gx, _i32(n * c), *_pool_geo(x_shape, (oh, ow), (1, 1), (1, 1), (0, 0))), dev)
    return gx


def avg_pool2d(x: Any, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
               count_include_pad: bool) -> Any:
    """Mean over each window, one thread per output."""
    out_hw = _pool_out(x.shape, kernel, stride, padding) if getattr(x, "ndim", 0) == 4 else (0, 0)
    if not (_pool_ok(x) and min(out_hw) >= 1 and _fits_int32(x.shape[0] * x.shape[1] * out_hw[0] * out_hw[1])):
        return reference.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    n, c = x.shape[:2]
    y = _empty((n, c, *out_hw), x.dtype, "avg_pool2d")
    if y.size:
        blocks, threads = flat_launch(y.size)
        _launch("pool.cu", f"tc::avg_pool2d_forward<{_TYPES[x.dtype.name]}>", blocks, threads,
                (_compact(x), y, _i32(n * c), *_pool_geo(x.shape, out_hw, kernel, stride, padding),
                 _i32(int(bool(count_include_pad)))), _device(x))
    return y


def avg_pool2d_backward(grad_y: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], count_include_pad: bool) -> Any:
    """A gather for every geometry: each input element sums ``dy / divisor`` over the windows that hold
    it (closed-form ranges), written once; no atomics even where windows overlap."""
    x_shape = tuple(x_shape)
    if not (_pool_ok(grad_y) and len(x_shape) == 4 and _fits_int32(math.prod(x_shape))
            and tuple(grad_y.shape[2:]) == _pool_out(x_shape, kernel, stride, padding)):
        return reference.avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad)
    n, c = x_shape[:2]
    gx = _empty(x_shape, grad_y.dtype, "avg_pool2d_backward")
    if gx.size:
        blocks, threads = flat_launch(gx.size)
        _launch("pool.cu", f"tc::avg_pool2d_backward<{_TYPES[grad_y.dtype.name]}>", blocks, threads,
                (_compact(grad_y), gx, _i32(n * c), *_pool_geo(x_shape, grad_y.shape[2:], kernel, stride, padding),
                 _i32(int(bool(count_include_pad)))), _device(grad_y))
    return gx


# --------------------------------------------------------------------------- LSTM cell

def _lstm_ok(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, *more: Any) -> bool:
    if not (_native(x, h, c, w_ih, w_hh, *more) and x.ndim == 2 and h.ndim == 2 and w_ih.ndim == 2
            and w_hh.ndim == 2):
        return False
    n, hid = h.shape
    return (c.shape == (n, hid) and x.shape[0] == n and w_ih.shape == (4 * hid, x.shape[1])
            and w_hh.shape == (4 * hid, hid) and _fits_int32(4 * n * hid))


def lstm_cell(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, b: Any) -> tuple[Any, Any, Any]:
    """Gate GEMMs ``x @ w_ih^T`` and ``h @ w_hh^T`` through :func:`matmul` (the transposed weights are
    read in place or copied per :func:`select_sgemm`), then one fused pointwise kernel for bias,
    activations, ``c'`` and ``h'``."""
    if not (_lstm_ok(x, h, c, w_ih, w_hh, b) and b.shape == (w_ih.shape[0],)):
        return reference.lstm_cell(x, h, c, w_ih, w_hh, b)
    n, hid = h.shape
    gx, gh = matmul(x, w_ih.T), matmul(h, w_hh.T)
    h_new = _empty((n, hid), x.dtype, "lstm_cell")
    c_new = _empty((n, hid), x.dtype, "lstm_cell")
    act = _empty((n, 4 * hid), x.dtype, "lstm_cell")
    if n * hid:
        blocks, threads = flat_launch(n * hid)
        _launch("lstm.cu", f"tc::lstm_cell_forward<{_TYPES[x.dtype.name]}>", blocks, threads,
                (_compact(gx), _compact(gh), _compact(b), _compact(c), h_new, c_new, act, _i32(n), _i32(hid)),
                _device(x))
    return h_new, c_new, act


def lstm_cell_backward(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, gates: Any, grad_h: Any,
                       grad_c: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """One fused pointwise kernel for the pre-activation gradient ``d`` and ``dc``, then four GEMMs
    through :func:`matmul` and a column sum for ``db``."""
    if not (_lstm_ok(x, h, c, w_ih, w_hh, gates, grad_h, grad_c) and gates.shape == (h.shape[0], 4 * h.shape[1])
            and grad_h.shape == h.shape and grad_c.shape == h.shape):
        return reference.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c)
    n, hid = h.shape
    d = _empty((n, 4 * hid), x.dtype, "lstm_cell_backward")
    dc = _empty((n, hid), x.dtype, "lstm_cell_backward")
    if n * hid:
        blocks, threads = flat_launch(n * hid)
        _launch("lstm.cu", f"tc::lstm_cell_backward<{_TYPES[x.dtype.name]}>", blocks, threads,
                (_compact(gates), _compact(c), _compact(grad_h), _compact(grad_c), d, dc, _i32(n), _i32(hid)),
                _device(x))
    return matmul(d, w_ih), matmul(d, w_hh), dc, matmul(d.T, x), matmul(d.T, h), d.sum(axis=0)


# --------------------------------------------------------------------------- fused optimizer steps

def _multi_tensor(op: str, lists: list[list[Any]], optional_last: bool) -> list[tuple[Any, list[tuple]]]:
    """Validate parallel lists of arrays (params first) and group them by dtype:
    ``[(dtype, [(param, grad, ...), ...]), ...]``. ``optional_last``: the last list may hold ``None``."""
    if _cupy is None:
        raise RuntimeError(f"{op}: the cupy backend is not loaded; use tensorcore.backends.get('cupy') first")
    n = len(lists[0])
    if any(len(lst) != n for lst in lists):
        raise ValueError(f"{op}: expected lists of equal length, got {[len(lst) for lst in lists]}")
    groups: dict[Any, list[tuple]] = {}
    for i, arrays in enumerate(zip(*lists)):
        p = arrays[0]
        present = arrays[:-1] if optional_last and arrays[-1] is None else arrays
        for a in present:
            if not (isinstance(a, _cupy.ndarray) and a.dtype == p.dtype and a.dtype in _FLOATS and a.shape == p.shape
                    and a.flags.c_contiguous and a.device.id == p.device.id):
                raise TypeError(f"{op}: entry {i}: expected C-contiguous CuPy arrays of one float dtype, shape and "
                                f"GPU; got " + ", ".join(_describe(b) for b in present))
        groups.setdefault((p.dtype, p.device.id), []).append(arrays)
    return list(groups.items())


def _multi_tensor_launch(expr: str, entries: list[tuple], device: int, scalars: tuple) -> None:
    sizes = [int(e[0].size) for e in entries]
    tensors, starts = optim_chunks(sizes)
    if not tensors:
        return
    ptrs = [[(a.data.ptr if a is not None else 0) for a in column] for column in zip(*entries)]
    meta = np.array([p for column in ptrs for p in column] + sizes + tensors + starts, dtype=np.uint64).view(np.int64)
    if len(tensors) > MAX_GRID_X:
        raise ValueError(f"multi-tensor step: {len(tensors)} chunks are more blocks than one launch takes")
    with _cupy.cuda.Device(device):
        meta_d = _cupy.asarray(meta)   # one host-to-device copy a step; ordered on the current stream
    _launch("optim.cu", expr, len(tensors), FLAT_THREADS, (meta_d, _i32(len(entries)), _i32(OPTIM_CHUNK), *scalars),
            device)


def fused_adam_step(params: list[Any], grads: list[Any], exp_avgs: list[Any], exp_avg_sqs: list[Any], step: int,
                    lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                    weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """One Adam (``decoupled=True``: AdamW) step over all parameters in one launch per dtype, in place,
    with ``tensorcore.optim.Adam``'s formulas; ``step`` is the 1-based step count after this update.
    All arrays C-contiguous CuPy arrays, matching shapes. No amsgrad / maximize (use the optimizer)."""
    op = "fused_adam_step"
    if step < 1:
        raise ValueError(f"{op}: step counts from 1, got {step}")
    beta1, beta2 = betas
    for (dtype, dev), entries in _multi_tensor(op, [params, grads, exp_avgs, exp_avg_sqs], False):
        S = _scalar(dtype)
        scalars = (S(1 - beta1), S(beta2), S(1 - beta2), S(eps), S(weight_decay), S(1 - lr * weight_decay),
                   S(lr / (1 - beta1 ** step)), S((1 - beta2 ** step) ** 0.5), _i32(int(bool(decoupled))))
        _multi_tensor_launch(f"tc::multi_tensor_adam<{_TYPES[dtype.name]}>", entries, dev, scalars)


def fused_sgd_step(params: list[Any], grads: list[Any], momentum_buffers: list[Any] | None, lr: float,
                   momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                   first_step: bool = False) -> None:
    """One SGD step (with momentum: ``momentum_buffers`` updated in place, set to the gradient when
    ``first_step``) over all parameters in one launch per dtype, with ``tensorcore.optim.SGD``'s
    formulas. Without momentum the buffers may be ``None``."""
    op = "fused_sgd_step"
    if momentum != 0 and momentum_buffers is None:
        raise ValueError(f"{op}: momentum needs momentum_buffers")
    bufs = momentum_buffers if momentum != 0 else [None] * len(params)
    if momentum != 0 and any(b is None for b in bufs):
        raise ValueError(f"{op}: momentum needs a buffer for every parameter")
    for (dtype, dev), entries in _multi_tensor(op, [params, grads, list(bufs)], momentum == 0):
        S = _scalar(dtype)
        scalars = (S(lr), S(momentum), S(dampening), S(weight_decay), _i32(int(bool(nesterov))),
                   _i32(int(bool(first_step))))
        _multi_tensor_launch(f"tc::multi_tensor_sgd<{_TYPES[dtype.name]}>", entries, dev, scalars)


HANDWRITTEN: tuple[str, ...] = (
    "matmul", "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "lstm_cell", "lstm_cell_backward",
)
"""The entries this backend implements; the rest of the contract falls back to the reference."""
