"""The Numba-CUDA backend (device ``cuda``): glue between the reference contract and ``kernels/numba``.

The kernels (``tensorcore.kernels.numba``) see only compact arrays of one float dtype and plain
ints. This module does the rest, with the reference's names and signatures
(:mod:`tensorcore.backends.reference`): it checks shapes and dtypes, compacts inputs, allocates
outputs with the device's array namespace (CuPy on a GPU, NumPy under the simulator), picks launch
sizes, and sends anything the kernels do not cover (integer dtypes, reductions over non-adjacent axes …)
to the reference, which runs on the same arrays.

No host round trips: on a GPU, CuPy arrays reach the kernels through ``__cuda_array_interface__``
(``numba.cuda.as_cuda_array(x, sync=False)``, a zero-copy view) and every launch goes on CuPy's
current stream, so kernels and CuPy work stay ordered without a synchronize. Under Numba's
simulator the NumPy storage is passed as is (the simulator copies it in and out itself).

The backend loads only where it can run: on a GPU with Numba and CuPy, or under the simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before numba is first imported in the process).
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Callable

import numpy as np

from ..device import cuda_status, simulated
from ..device import empty as device_empty
from ..device import zeros as device_zeros
from . import pool_geometry, reference
from .registry import BackendUnavailable

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_MAX_GRID_YZ = 65535
_MAX_GRID_X = 2**31 - 1

# Modules of tensorcore.kernels.numba, imported by kernels() once the backend can run.
_mm = _sm = _ew = _red = _loss = _conv = _pool = _lstm = _optim = None
_cuda = None      # numba.cuda (the real one or the simulator)
_cupy = None      # cupy, on a real GPU


# --------------------------------------------------------------------------- loading

def kernels() -> dict[str, Callable]:
    """The handwritten entries, or :class:`BackendUnavailable` saying why they cannot run here."""
    global _mm, _sm, _ew, _red, _loss, _conv, _pool, _lstm, _optim, _cuda, _cupy
    ok, reason = cuda_status()
    if not ok:
        raise BackendUnavailable(f"the cuda device is not available: {reason}")
    try:
        import numba
    except ImportError as exc:
        raise BackendUnavailable(f"numba is not installed ({exc})") from exc
    if simulated() != bool(numba.config.ENABLE_CUDASIM):
        raise BackendUnavailable(
            "NUMBA_ENABLE_CUDASIM changed after numba was imported in this process; the simulator is "
            "chosen once, when numba is first imported, so set it before anything imports numba")
    from numba import cuda

    if not simulated():
        if not cuda.is_available():
            raise BackendUnavailable("numba cannot use the GPU (numba.cuda.is_available() is False; "
                                     "check the driver and numba-cuda's CUDA extras)")
        import cupy

        _cupy = cupy
    from ..kernels.numba import conv, elementwise, loss, lstm, matmul, optim, pool, reduction, softmax

    _cuda, _mm, _sm, _ew, _red, _loss, _conv = cuda, matmul, softmax, elementwise, reduction, loss, conv
    _pool, _lstm, _optim = pool, lstm, optim
    return {name: globals()[name] for name in HANDWRITTEN}


# --------------------------------------------------------------------------- plumbing

def _xp():
    return np if _cupy is None else _cupy


def _native(*arrays: Any) -> bool:
    """True when the kernels take these arrays: this device's arrays of one native float dtype."""
    xp = _xp()
    first = arrays[0]
    return all(isinstance(a, xp.ndarray) and a.dtype == first.dtype for a in arrays) \
        and first.dtype in _FLOATS and first.dtype.isnative


def _compact(x: Any) -> Any:
    return x if x.flags.c_contiguous else _xp().ascontiguousarray(x)


def _empty(shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    """A new uninitialized array on the device; running out of GPU memory raises a clear error."""
    return device_empty(_xp(), shape, dtype, op)


def _zeros(shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    return device_zeros(_xp(), shape, dtype, op)


_STREAMS: dict[int, Any] = {}


def _launch(kernel: Any, grid: Any, block: Any, *args: Any) -> None:
    """Launch on CuPy's current stream with zero-copy views of the arrays (the arrays themselves
    under the simulator)."""
    if _cupy is None:
        kernel[grid, block](*args)
        return
    for a in args:
        if isinstance(a, _cupy.ndarray) and a.device.id != 0:
            # Numba launches in its current context (GPU 0); multi-GPU placement is not wired up yet.
            raise NotImplementedError(f"the numba backend runs on cuda:0 only; got an array on cuda:{a.device.id} "
                                      "(use tensorcore.use_backend('numpy') for other GPUs)")
    ptr = _cupy.cuda.get_current_stream().ptr
    stream = _STREAMS.get(ptr)
    if stream is None:
        stream = _STREAMS[ptr] = _cuda.default_stream() if ptr == 0 else _cuda.external_stream(ptr)
    args = tuple(_cuda.as_cuda_array(a, sync=False) if isinstance(a, _cupy.ndarray) else a for a in args)
    kernel[grid, block, stream](*args)


def _check_grid(op: str, grid: tuple[int, ...], what: str) -> None:
    if grid[0] > _MAX_GRID_X or any(g > _MAX_GRID_YZ for g in grid[1:]):
        raise ValueError(f"{op}: {what} needs a launch grid of {grid} blocks, more than CUDA allows "
                         f"(x <= {_MAX_GRID_X}, y and z <= {_MAX_GRID_YZ})")


# --------------------------------------------------------------------------- matmul

def matmul(a: Any, b: Any) -> Any:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)`` with the fastest rung of the ladder
    (:data:`tensorcore.kernels.numba.matmul.DEFAULT`); batch dims folded into ``blockIdx.z``.
    Other dtypes, mixed dtypes or batch dims not yet broadcast go to the reference."""
    if not _matmul_native(a, b):
        return reference.matmul(a, b)
    return _matmul(a, b, _mm.DEFAULT, "matmul")


def matmul_variant(a: Any, b: Any, name: str) -> Any:
    """``a @ b`` with one named rung of the ladder (``tensorcore.kernels.numba.matmul.VARIANTS``),
    for tests and benchmarks. Takes what the ``matmul`` entry takes, float32 / float64 only."""
    if _mm is None:
        raise RuntimeError("matmul_variant: the numba backend is not loaded; "
                           "use tensorcore.backends.get('numba') first")
    if name not in _mm.VARIANTS:
        raise ValueError(f"matmul_variant: unknown variant {name!r}; expected one of {list(_mm.VARIANTS)}")
    if not _matmul_native(a, b):
        raise TypeError(f"matmul_variant: expected two device arrays of one dtype (float32 or float64), "
                        f"ndim >= 2 with equal batch dims; got {_describe(a)} and {_describe(b)}")
    return _matmul(a, b, name, f"matmul_variant({name!r})")


def _describe(x: Any) -> str:
    return f"{type(x).__name__} {getattr(x, 'dtype', '?')} {getattr(x, 'shape', '?')}"


def _matmul_native(a: Any, b: Any) -> bool:
    return _native(a, b) and a.ndim >= 2 and a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]


def _matmul(a: Any, b: Any, name: str, op: str) -> Any:
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"{op}: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    batch, (M, K), N = a.shape[:-2], a.shape[-2:], b.shape[-1]
    Z = math.prod(batch)
    if K == 0:
        return _zeros((*batch, M, N), a.dtype, op)
    out = _empty((*batch, M, N), a.dtype, op)
    if out.size == 0:
        return out
    variant = _mm.VARIANTS[name]
    grid, block = variant.launch(M, N, 1)
    _check_grid(op, grid[:2], f"an output of {M}x{N}")
    a3 = _compact(a).reshape(Z, M, K)
    b3 = _compact(b).reshape(Z, K, N)
    c3 = out.reshape(Z, M, N)
    kernel = variant.kernel(a.dtype)
    for z0 in range(0, Z, _MAX_GRID_YZ):      # grid z is at most 65535 batch entries per launch
        z1 = builtins.min(Z, z0 + _MAX_GRID_YZ)
        _launch(kernel, (grid[0], grid[1], z1 - z0), block, a3[z0:z1], b3[z0:z1], c3[z0:z1])
    return out


# --------------------------------------------------------------------------- convolution

def _conv_out(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
              padding: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    return (reference._out_size(x_shape[2], w_shape[2], stride[0], padding[0], dilation[0]),
            reference._out_size(x_shape[3], w_shape[3], stride[1], padding[1], dilation[1]))


def _conv_ok(x: Any, w: Any, groups: int, out_hw: tuple[int, int], *more: Any) -> bool:
    if not (_native(x, w, *more) and x.ndim == 4 and w.ndim == 4 and isinstance(groups, int) and groups >= 1):
        return False
    o, cg = w.shape[:2]
    return x.shape[1] == cg * groups and o % groups == 0 and builtins.min(out_hw) >= 1 and groups <= _MAX_GRID_YZ


def _conv_geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int], stride, padding,
                   dilation, groups: int) -> tuple[int, ...]:
    """The geometry tuple of :data:`tensorcore.kernels.numba.conv.GEOMETRY`."""
    n, c, h, w = x_shape
    kh, kw = w_shape[2:]
    return tuple(int(v) for v in (n, c, h, w, out_hw[0], out_hw[1], kh, kw, stride[0], stride[1],
                                  padding[0], padding[1], dilation[0], dilation[1], groups))


def _conv_launch(name: str, dtype: Any, n: int, *args: Any) -> None:
    blocks, threads = _flat_launch(n)
    _launch(_conv.kernel(name, dtype), blocks, threads, *args)


def _swap01(src: Any, op: str) -> Any:
    """``(A, B, L) -> (B, A, L)`` as a compact new array (the ``swap01`` kernel)."""
    a, b, l_ = src.shape
    dst = _empty((b, a, l_), src.dtype, op)
    if dst.size:
        _conv_launch("swap01", src.dtype, dst.size, _compact(src), dst)
    return dst


def conv2d(x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> Any:
    """``(N, C, H, W) * (O, C/G, KH, KW) -> (N, O, OH, OW)``: ``im2col`` into ``(G, K, N·OH·OW)``, one
    batched GEMM of the ladder's default rung (grid z = groups), and ``swap01`` from ``(O, N, OH·OW)``
    to NCHW (see :mod:`tensorcore.kernels.numba.conv`)."""
    out_hw = _conv_out(x.shape, w.shape, stride, padding, dilation) if x.ndim == 4 and w.ndim == 4 else (0, 0)
    if not _conv_ok(x, w, groups, out_hw):
        return reference.conv2d(x, w, stride, padding, dilation, groups)
    n, o = x.shape[0], w.shape[0]
    cg, kh, kw = w.shape[1:]
    K, P = cg * kh * kw, n * out_hw[0] * out_hw[1]
    cols = _empty((groups, K, P), x.dtype, "conv2d")
    if cols.size:
        _conv_launch("im2col", x.dtype, cols.size, _compact(x), cols,
                     _conv_geometry(x.shape, w.shape, out_hw, stride, padding, dilation, groups))
    y = _matmul(_compact(w).reshape(groups, o // groups, K), cols, _mm.DEFAULT, "conv2d")
    return _swap01(y.reshape(o, n, out_hw[0] * out_hw[1]), "conv2d").reshape(n, o, *out_hw)


def conv2d_backward(x: Any, w: Any, grad_y: Any, stride: tuple[int, int], padding: tuple[int, int],
                    dilation: tuple[int, int], groups: int, need_x: bool,
                    need_w: bool) -> tuple[Any | None, Any | None]:
    """``grad_x = col2im(W_g^T @ dY_g)`` with ``dY`` brought to ``(O, N·OH·OW)`` by ``swap01``, and
    ``grad_w``: with ``OH·OW ≥ Og``, ``N·G`` per-image GEMMs ``dY[n, g] @ im2col_t_per_image(x)[n, g]``
    summed over the images (split-K: enough blocks to fill the GPU, partials no larger than the
    column matrix); otherwise one GEMM per group ``dY_g @ im2col_t(x)``. Each gradient is
    ``2·N·O·OH·OW·Cg·KH·KW`` FLOPs."""
    out_hw = tuple(grad_y.shape[2:]) if grad_y.ndim == 4 else (0, 0)
    if not (x.ndim == 4 and w.ndim == 4 and _conv_ok(x, w, groups, out_hw, grad_y)
            and out_hw == _conv_out(x.shape, w.shape, stride, padding, dilation)
            and grad_y.shape[:2] == (x.shape[0], w.shape[0])):
        return reference.conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_x, need_w)
    n, o = x.shape[0], w.shape[0]
    cg, kh, kw = w.shape[1:]
    L = out_hw[0] * out_hw[1]
    og, K, P = o // groups, cg * kh * kw, n * L
    geo = _conv_geometry(x.shape, w.shape, out_hw, stride, padding, dilation, groups)
    grad_x = grad_w = None
    gy = None
    if need_x or (need_w and L < og):
        gy = _swap01(grad_y.reshape(n, o, L), "conv2d_backward").reshape(groups, og, P)
    if need_w:
        if gy is None:
            cols_t = _empty((n * groups, L, K), x.dtype, "conv2d_backward")
            if cols_t.size:
                _conv_launch("im2col_t_per_image", x.dtype, cols_t.size, _compact(x), cols_t, geo)
            parts = _matmul(_compact(grad_y).reshape(n * groups, og, L), cols_t, _mm.DEFAULT, "conv2d_backward")
            grad_w = sum(parts.reshape(n, o * K), (0,), False).reshape(w.shape)
        else:
            cols_t = _empty((groups, P, K), x.dtype, "conv2d_backward")
            if cols_t.size:
                _conv_launch("im2col_t", x.dtype, cols_t.size, _compact(x), cols_t, geo)
            grad_w = _matmul(gy, cols_t, _mm.DEFAULT, "conv2d_backward").reshape(w.shape)
    if need_x:
        w_t = _compact(_compact(w).reshape(groups, og, K).transpose(0, 2, 1))
        dcols = _matmul(w_t, gy, _mm.DEFAULT, "conv2d_backward")
        grad_x = _empty(x.shape, x.dtype, "conv2d_backward")
        if grad_x.size:
            _conv_launch("col2im", x.dtype, grad_x.size, dcols, grad_x, geo)
    return grad_x, grad_w


# --------------------------------------------------------------------------- launch sizes

def _pow2_at_least(n: int) -> int:
    return 1 << builtins.max(0, n - 1).bit_length()


def _row_threads(C: int) -> int:
    """Block size for the one-block-per-row kernels: enough threads to cover a short row in one
    pass, 512 at most (16 at most under the simulator, where every thread is a Python thread)."""
    return builtins.max(1, builtins.min(_pow2_at_least(C), 16 if _cupy is None else 512))


def _row_grid(R: int) -> int:
    """Blocks for ``R`` rows; the kernels grid-stride over the rest (4 under the simulator, so its
    tests run the grid-stride loop too)."""
    return builtins.max(1, builtins.min(R, 4 if _cupy is None else 65535))


def _flat_launch(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` for a 1-D grid-stride kernel over ``n`` elements."""
    threads = 32 if _cupy is None else 256
    blocks = -(-n // threads)
    return builtins.max(1, builtins.min(blocks, 4 if _cupy is None else 8192)), threads


# --------------------------------------------------------------------------- softmax family

def _as_rows(x: Any) -> Any:
    x = _compact(x)
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _softmax_ok(*arrays: Any) -> bool:
    x = arrays[0]
    return _native(*arrays) and x.ndim >= 1 and x.shape[-1] > 0 and all(a.shape == x.shape for a in arrays)


def _softmax_forward(x: Any, log: bool, variant: str, op: str) -> Any:
    rows = _as_rows(x)
    R, C = rows.shape
    out = _empty(x.shape, x.dtype, op)
    if R:
        threads = 128 if variant == "warp" else _row_threads(C)
        per_block = _sm.rows_per_block(variant, threads)
        kernel = _sm.kernel(variant, False, x.dtype, threads, log)
        _launch(kernel, _row_grid(-(-R // per_block)), threads, rows, out.reshape(R, C))
    return out


def _softmax_backward(y: Any, grad_y: Any, log: bool, variant: str, op: str) -> Any:
    rows_y, rows_g = _as_rows(y), _as_rows(grad_y)
    R, C = rows_y.shape
    out = _empty(y.shape, y.dtype, op)
    if R:
        threads = 128 if variant == "warp" else _row_threads(C)
        per_block = _sm.rows_per_block(variant, threads)
        kernel = _sm.kernel(variant, True, y.dtype, threads, log)
        _launch(kernel, _row_grid(-(-R // per_block)), threads, rows_y, rows_g, out.reshape(R, C))
    return out


def softmax(x: Any) -> Any:
    """Softmax over the last axis: one block per row, shared-memory reductions."""
    if not _softmax_ok(x):
        return reference.softmax(x)
    return _softmax_forward(x, False, "block", "softmax")


def log_softmax(x: Any) -> Any:
    if not _softmax_ok(x):
        return reference.log_softmax(x)
    return _softmax_forward(x, True, "block", "log_softmax")


def softmax_backward(y: Any, grad_y: Any) -> Any:
    if not _softmax_ok(y, grad_y):
        return reference.softmax_backward(y, grad_y)
    return _softmax_backward(y, grad_y, False, "block", "softmax_backward")


def log_softmax_backward(y: Any, grad_y: Any) -> Any:
    if not _softmax_ok(y, grad_y):
        return reference.log_softmax_backward(y, grad_y)
    return _softmax_backward(y, grad_y, True, "block", "log_softmax_backward")


def softmax_variant(x: Any, variant: str, log: bool = False, grad_y: Any = None) -> Any:
    """(Log-)softmax over the last axis with a named strategy of ``tensorcore.kernels.numba.softmax``
    (``"block"`` or ``"warp"``); with ``grad_y``, the backward given ``x = y`` the forward's output.
    The ``warp`` strategy needs a real GPU (the simulator has no warp shuffles)."""
    op = f"softmax_variant({variant!r})"
    if _sm is None:
        raise RuntimeError(f"{op}: the numba backend is not loaded; use tensorcore.backends.get('numba') first")
    if variant not in _sm.VARIANTS:
        raise ValueError(f"{op}: unknown variant; expected one of {_sm.VARIANTS}")
    if variant == "warp" and _cupy is None:
        raise RuntimeError(f"{op}: warp shuffles need a real GPU; Numba's CUDA simulator has none")
    arrays = (x,) if grad_y is None else (x, grad_y)
    if not _softmax_ok(*arrays):
        raise TypeError(f"{op}: expected device arrays of one float dtype and shape with a non-empty "
                        f"last axis; got " + " and ".join(_describe(a) for a in arrays))
    if grad_y is None:
        return _softmax_forward(x, log, variant, op)
    return _softmax_backward(x, grad_y, log, variant, op)


def cross_entropy(logits: Any, target: Any) -> tuple[Any, Any]:
    """Fused log-softmax + NLL for ``(N, C)`` logits and ``(N,)`` int64 targets: ``(losses, logp)``."""
    xp = _xp()
    if not (_native(logits) and logits.ndim == 2 and logits.shape[1] > 0 and isinstance(target, xp.ndarray)
            and target.dtype == np.int64 and target.shape == logits.shape[:1]):
        return reference.cross_entropy(logits, target)
    N, C = logits.shape
    losses = _empty((N,), logits.dtype, "cross_entropy")
    logp = _empty((N, C), logits.dtype, "cross_entropy")
    if N:
        threads = _row_threads(C)
        _launch(_loss.forward(logits.dtype, threads), _row_grid(N), threads,
                _compact(logits), _compact(target), losses, logp)
    return losses, logp


def cross_entropy_backward(logp: Any, target: Any, grad_losses: Any) -> Any:
    """``(softmax − onehot(target)) · grad_losses[:, None]``, one thread per element."""
    xp = _xp()
    if not (_native(logp, grad_losses) and logp.ndim == 2 and isinstance(target, xp.ndarray)
            and target.dtype == np.int64 and target.shape == logp.shape[:1] == grad_losses.shape):
        return reference.cross_entropy_backward(logp, target, grad_losses)
    out = _empty(logp.shape, logp.dtype, "cross_entropy_backward")
    if out.size:
        blocks, threads = _flat_launch(out.size)
        _launch(_loss.backward, blocks, threads, _compact(logp), _compact(target), _compact(grad_losses), out)
    return out


# --------------------------------------------------------------------------- elementwise

def _unary_entry(name: str) -> Callable:
    ref = getattr(reference, name)

    def entry(x: Any) -> Any:
        if not _native(x):
            return ref(x)
        out = _empty(x.shape, x.dtype, name)
        if out.size:
            blocks, threads = _flat_launch(out.size)
            _launch(_ew.UNARY[name].kernel(), blocks, threads, _compact(x).reshape(-1), out.reshape(-1))
        return out

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"``{name}`` elementwise: the kernel generated from its scalar function (see kernels/numba/elementwise.py)."
    return entry


def _as_operand(v: Any, like: Any) -> Any:
    """``v`` as a device array of ``like``'s dtype, or None when the kernels cannot take it. A Python
    scalar (or a NumPy scalar of that dtype) becomes a 0-d array filled on the device — a fill
    kernel, not a host-to-device copy — following NumPy's rule that Python scalars take the array's
    dtype."""
    xp = _xp()
    if isinstance(v, xp.ndarray):
        return v if v.dtype == like.dtype else None
    if isinstance(v, (bool, int, float)) or (isinstance(v, np.generic) and v.dtype == like.dtype):
        return xp.full((), v, dtype=like.dtype)
    return None


def _strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a compact array of ``shape`` read as ``out_shape`` (0 along broadcast axes)."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, step = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = 0 if shape[d] == 1 else step
        step *= shape[d]
    return tuple(strides)


def _binary_entry(name: str) -> Callable:
    ref = getattr(reference, name)

    def entry(a: Any, b: Any) -> Any:
        xp = _xp()
        arr = a if isinstance(a, xp.ndarray) else b
        if not isinstance(arr, xp.ndarray) or arr.dtype not in _FLOATS or not arr.dtype.isnative:
            return ref(a, b)
        a2, b2 = _as_operand(a, arr), _as_operand(b, arr)
        if a2 is None or b2 is None:
            return ref(a, b)
        try:
            out_shape = tuple(np.broadcast_shapes(a2.shape, b2.shape))
        except ValueError:
            raise ValueError(f"{name}: shapes {a2.shape} and {b2.shape} are not broadcastable") from None
        kern = _ew.BINARY[name]
        if a2.shape == b2.shape:
            kind, sa, sb = "contiguous", None, None
        else:
            kind, sa, sb = "broadcast", _strides(a2.shape, out_shape), _strides(b2.shape, out_shape)
        a2, b2 = _compact(a2).reshape(-1), _compact(b2).reshape(-1)
        out = _empty(out_shape, arr.dtype, name)
        if out.size:
            blocks, threads = _flat_launch(out.size)
            args = (a2, b2, out.reshape(-1))
            if kind == "broadcast":
                args += (tuple(out_shape), sa, sb)
            _launch(kern.kernel(kind), blocks, threads, *args)
        return out

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"``{name}`` elementwise with broadcasting: the kernel generated from its scalar function."
    return entry


for _name in ("neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu"):
    globals()[_name] = _unary_entry(_name)
for _name in ("add", "sub", "mul", "div", "maximum", "minimum", "relu_backward", "tanh_backward", "sigmoid_backward"):
    globals()[_name] = _binary_entry(_name)
del _name


# --------------------------------------------------------------------------- reductions

def _adjacent_run(x: Any, axis: Any) -> tuple[int, int, int] | None:
    """``(O, R, I)``: ``x`` folded around the reduced axes when they are one run of adjacent axes
    (``None`` means all of them), or None when they are not."""
    if x.ndim == 0:
        return None
    if axis is None:
        axes = list(range(x.ndim))
    else:
        axes = sorted({int(a) % x.ndim for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis)})
    if not axes or axes[-1] - axes[0] != len(axes) - 1:
        return None
    shape = x.shape
    return (math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]), math.prod(shape[axes[-1] + 1:]))


def _reduce_entry(kind: str) -> Callable:
    ref = getattr(reference, kind)

    def entry(x: Any, axis: Any, keepdims: bool) -> Any:
        run = _adjacent_run(x, axis) if _native(x) else None
        if run is None or run[1] == 0:
            return ref(x, axis, keepdims)
        O, R, I = run
        out = _empty((O, I), x.dtype, kind)
        if out.size:
            src = _compact(x)
            if I == 1:
                _reduce_rows(kind, src.reshape(O, R), out)
            else:
                wx, ry = _red.MIDDLE_BLOCK
                grid = (-(-I // wx), builtins.min(O, _row_grid(O)))
                _check_grid(kind, (grid[0], grid[1]), f"a reduction to {O}x{I}")
                _launch(_red.kernel_middle(kind, x.dtype), grid, (wx, ry), src.reshape(O, R, I), out)
        return out.reshape(tuple(1 if _in(d, x.ndim, axis) else n for d, n in enumerate(x.shape) if keepdims
                                 or not _in(d, x.ndim, axis)))

    entry.__name__ = entry.__qualname__ = kind
    entry.__doc__ = (f"``{kind}`` over one run of adjacent axes: the last-axis kernel (a block per row) or the "
                     "middle-axis kernel (a column of 8 folds per output); other axis sets and integer dtypes "
                     "go to the reference.")
    return entry


def _row_chunks(rows: int, cols: int, threads: int) -> int:
    """How many chunks to split each row into: enough blocks to fill the GPU (~1024) when there are
    few rows, but never chunks shorter than 16 elements a thread."""
    if rows >= 1024:
        return 1
    return builtins.max(1, builtins.min(-(-cols // (threads * 16)), -(-1024 // rows)))


def _reduce_rows(kind: str, rows: Any, out: Any) -> None:
    """``out (R, 1)`` = the reduction of each row of the compact ``rows (R, C)``: one pass, or two when
    the rows are few and long (:func:`_row_chunks`)."""
    R, C = rows.shape
    threads = _row_threads(C)
    S = _row_chunks(R, C, threads)
    chunk = -(-C // S)
    part = out if S == 1 else _empty((R, S), rows.dtype, kind)
    _launch(_red.kernel(kind, rows.dtype, threads), _row_grid(R * S), threads, rows, part, chunk)
    if S > 1:
        # Partial means are already divided by C, so they add up; max / min of partials is the max / min.
        second = "sum" if kind in ("sum", "mean") else kind
        threads = _row_threads(S)
        _launch(_red.kernel(second, rows.dtype, threads), _row_grid(R), threads, part, out, S)


def _in(d: int, ndim: int, axis: Any) -> bool:
    """Whether axis ``d`` is reduced."""
    if axis is None:
        return True
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    return any(int(a) % ndim == d for a in axes)


sum = _reduce_entry("sum")  # noqa: A001 - the contract's names
mean = _reduce_entry("mean")
max = _reduce_entry("max")  # noqa: A001
min = _reduce_entry("min")  # noqa: A001


# --------------------------------------------------------------------------- pooling

def _pool_out(x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
              padding: tuple[int, int]) -> tuple[int, int]:
    return (reference._out_size(x_shape[2], kernel[0], stride[0], padding[0], 1),
            reference._out_size(x_shape[3], kernel[1], stride[1], padding[1], 1))


def _pool_args(kernel: Any, stride: Any, padding: Any) -> tuple[int, ...] | None:
    """``(KH, KW, SH, SW, PH, PW)`` as ints when the kernels take this geometry (pairs of ints, positive
    kernel and stride, padding >= 0), else None."""
    pairs = (kernel, stride, padding)
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(v, (int, np.integer)) for v in p)
               for p in pairs):
        return None
    kh, kw, sh, sw, ph, pw = (int(v) for p in pairs for v in p)
    return (kh, kw, sh, sw, ph, pw) if builtins.min(kh, kw, sh, sw) >= 1 and builtins.min(ph, pw) >= 0 else None


def _pool_ok(x: Any, geo: tuple[int, ...] | None) -> bool:
    """The kernels take ``x``: a non-empty native NCHW float array whose windows give a non-empty output."""
    return (geo is not None and _native(x) and x.ndim == 4 and x.size > 0
            and builtins.min(_pool_out(x.shape, geo[:2], geo[2:4], geo[4:])) >= 1)


def max_pool2d(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> tuple[Any, Any]:
    """Max over each window, one thread per output: ``(y, int64 index)`` exactly as the reference
    (first maximum in row-major window order wins; padding is ``-inf``; NaN is a maximum; an all
    ``-inf`` window points at its first real element)."""
    geo = _pool_args(kernel, stride, padding)
    if not _pool_ok(x, geo):
        return reference.max_pool2d(x, kernel, stride, padding)
    n, c, h, w = x.shape
    oh, ow = _pool_out(x.shape, geo[:2], geo[2:4], geo[4:])
    y = _empty((n, c, oh, ow), x.dtype, "max_pool2d")
    index = _empty((n, c, oh, ow), np.int64, "max_pool2d")
    blocks, threads = _flat_launch(y.size)
    _launch(_pool.kernel("max_forward", x.dtype), blocks, threads, _compact(x).reshape(n * c, h, w),
            y.reshape(n * c, oh, ow), index.reshape(n * c, oh, ow), *geo)
    pool_geometry.remember(index, x.shape, geo[:2], geo[2:4], geo[4:])
    return y, index


def max_pool2d_backward(grad_y: Any, index: Any, x_shape: tuple[int, ...]) -> Any:
    """Windows that do not overlap (known from the forward that returned ``index``): a gather, each
    input gradient written once, no atomics, deterministic. Otherwise, or when the geometry is
    unknown: an atomic-add scatter into zeros."""
    x_shape = tuple(x_shape)
    if not (_native(grad_y) and grad_y.ndim == 4 and isinstance(index, _xp().ndarray) and index.dtype == np.int64
            and index.shape == grad_y.shape and len(x_shape) == 4 and x_shape[:2] == grad_y.shape[:2]):
        return reference.max_pool2d_backward(grad_y, index, x_shape)
    n, c, h, w = x_shape
    oh, ow = grad_y.shape[2:]
    gy, idx = _compact(grad_y), _compact(index)
    window = pool_geometry.gather_window(index, x_shape)
    if window is not None:
        gx = _empty(x_shape, grad_y.dtype, "max_pool2d_backward")
        if gx.size:
            blocks, threads = _flat_launch(gx.size)
            _launch(_pool.kernel("max_backward_gather", grad_y.dtype), blocks, threads, gy.reshape(n * c, oh, ow),
                    idx.reshape(n * c, oh, ow), gx.reshape(n * c, h, w), *window.kernel, *window.stride, *window.padding)
        return gx
    gx = _zeros(x_shape, grad_y.dtype, "max_pool2d_backward")
    if gy.size and gx.size:
        blocks, threads = _flat_launch(gy.size)
        _launch(_pool.kernel("max_backward_scatter", grad_y.dtype), blocks, threads,
                gy.reshape(n * c, oh * ow), idx.reshape(n * c, oh * ow), gx.reshape(n * c, h * w))
    return gx


def avg_pool2d(x: Any, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
               count_include_pad: bool) -> Any:
    """Mean over each window of the zero-padded input, one thread per output."""
    geo = _pool_args(kernel, stride, padding)
    if not _pool_ok(x, geo):
        return reference.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    n, c, h, w = x.shape
    oh, ow = _pool_out(x.shape, geo[:2], geo[2:4], geo[4:])
    y = _empty((n, c, oh, ow), x.dtype, "avg_pool2d")
    blocks, threads = _flat_launch(y.size)
    _launch(_pool.kernel("avg_forward", x.dtype), blocks, threads, _compact(x).reshape(n * c, h, w),
            y.reshape(n * c, oh, ow), *geo, bool(count_include_pad))
    return y


def avg_pool2d_backward(grad_y: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], count_include_pad: bool) -> Any:
    """A gather for every geometry: each input element sums ``dy / divisor`` over the windows that
    hold it (closed-form ranges), written once; no atomics even where windows overlap."""
    x_shape = tuple(x_shape)
    geo = _pool_args(kernel, stride, padding)
    if not (geo is not None and _native(grad_y) and grad_y.ndim == 4 and grad_y.size > 0 and len(x_shape) == 4
            and tuple(grad_y.shape) == (*x_shape[:2], *_pool_out(x_shape, geo[:2], geo[2:4], geo[4:]))):
        return reference.avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad)
    n, c, h, w = x_shape
    oh, ow = grad_y.shape[2:]
    gx = _empty(x_shape, grad_y.dtype, "avg_pool2d_backward")
    if gx.size:
        blocks, threads = _flat_launch(gx.size)
        _launch(_pool.kernel("avg_backward", grad_y.dtype), blocks, threads, _compact(grad_y).reshape(n * c, oh, ow),
                gx.reshape(n * c, h, w), *geo, bool(count_include_pad))
    return gx


# --------------------------------------------------------------------------- LSTM cell

def _lstm_ok(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, *more: Any) -> bool:
    if not (_native(x, h, c, w_ih, w_hh, *more) and x.ndim == h.ndim == w_ih.ndim == w_hh.ndim == 2):
        return False
    n, hid = h.shape
    return (c.shape == (n, hid) and x.shape[0] == n and w_ih.shape == (4 * hid, x.shape[1])
            and w_hh.shape == (4 * hid, hid))


def lstm_cell(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, b: Any) -> tuple[Any, Any, Any]:
    """Gate GEMMs ``x @ w_ih^T`` and ``h @ w_hh^T`` through :func:`matmul` (the ladder's kernels take
    compact operands, so the transposed weights are compacted there), then one fused pointwise kernel
    for bias, activations, ``c'`` and ``h'``."""
    if not (_lstm_ok(x, h, c, w_ih, w_hh, b) and b.shape == (w_ih.shape[0],)):
        return reference.lstm_cell(x, h, c, w_ih, w_hh, b)
    n, hid = h.shape
    gx, gh = matmul(x, w_ih.T), matmul(h, w_hh.T)
    h_new = _empty((n, hid), x.dtype, "lstm_cell")
    c_new = _empty((n, hid), x.dtype, "lstm_cell")
    act = _empty((n, 4 * hid), x.dtype, "lstm_cell")
    if h_new.size:
        blocks, threads = _flat_launch(h_new.size)
        _launch(_lstm.kernel("forward", x.dtype), blocks, threads,
                _compact(gx), _compact(gh), _compact(b), _compact(c), h_new, c_new, act)
    return h_new, c_new, act


def lstm_cell_backward(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, gates: Any, grad_h: Any,
                       grad_c: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """One fused pointwise kernel for the pre-activation gradient ``d`` and ``dc``, then four GEMMs
    through :func:`matmul` and a column sum for ``db`` (an axis-0 sum: the array namespace's, as the
    ``sum`` kernel reduces the last axis only)."""
    if not (_lstm_ok(x, h, c, w_ih, w_hh, gates, grad_h, grad_c) and gates.shape == (h.shape[0], 4 * h.shape[1])
            and grad_h.shape == h.shape and grad_c.shape == h.shape):
        return reference.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c)
    n, hid = h.shape
    d = _empty((n, 4 * hid), x.dtype, "lstm_cell_backward")
    dc = _empty((n, hid), x.dtype, "lstm_cell_backward")
    if dc.size:
        blocks, threads = _flat_launch(dc.size)
        _launch(_lstm.kernel("backward", x.dtype), blocks, threads,
                _compact(gates), _compact(c), _compact(grad_h), _compact(grad_c), d, dc)
    return matmul(d, w_ih), matmul(d, w_hh), dc, matmul(d.T, x), matmul(d.T, h), d.sum(axis=0)


# --------------------------------------------------------------------------- optimizer step

def adam_step(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any | None, step: int,
              lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
              maximize: bool) -> None:
    """The whole Adam / AdamW update in one kernel pass (the reference makes ~10), in place. The state
    arrays are updated where they are, so anything that is not compact and of one native float dtype
    goes to the reference."""
    arrays = (param, grad, exp_avg, exp_avg_sq) + (() if max_exp_avg_sq is None else (max_exp_avg_sq,))
    if not (_native(*arrays) and all(a.shape == param.shape and a.flags.c_contiguous for a in arrays)):
        return reference.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2,
                                   eps, weight_decay, decoupled, maximize)
    if param.size == 0:
        return None
    flat = [a.reshape(-1) for a in arrays]
    amsgrad = max_exp_avg_sq is not None
    blocks, threads = _flat_launch(param.size)
    # Without AMSGrad the kernel never touches its max_exp_avg_sq argument; an empty array stands in
    # (not an alias of another argument: the simulator copies each argument back after the launch).
    unused = flat[4] if amsgrad else _empty((0,), param.dtype, "adam_step")
    _launch(_optim.kernel("adam", param.dtype), blocks, threads, *flat[:4], unused,
            amsgrad, 1.0 - beta1, float(beta2), 1.0 - beta2, float(eps), float(weight_decay), bool(decoupled),
            1.0 - lr * weight_decay, bool(maximize), float(lr / (1 - beta1 ** step)), float((1 - beta2 ** step) ** 0.5))
    return None


def sgd_step(param: Any, grad: Any, momentum_buffer: Any | None, lr: float, momentum: float, dampening: float,
             weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """The whole SGD update (momentum, Nesterov, weight decay) in one kernel pass, in place; anything
    not compact and of one native float dtype goes to the reference."""
    with_buffer = momentum != 0
    arrays = (param, grad) + ((momentum_buffer,) if with_buffer else ())
    if not (_native(*arrays) and all(a.shape == param.shape and a.flags.c_contiguous for a in arrays)):
        return reference.sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                                  maximize, first)
    if param.size == 0:
        return None
    # Without momentum an empty array stands in for the buffer (never an alias: see adam_step).
    buf = momentum_buffer.reshape(-1) if with_buffer else _empty((0,), param.dtype, "sgd_step")
    blocks, threads = _flat_launch(param.size)
    _launch(_optim.kernel("sgd", param.dtype), blocks, threads, param.reshape(-1), grad.reshape(-1), buf, with_buffer,
            float(lr), float(momentum), 1.0 - dampening, float(weight_decay), bool(nesterov), bool(maximize),
            bool(first))
    return None


HANDWRITTEN: tuple[str, ...] = (
    "matmul", "conv2d", "conv2d_backward", "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "tanh", "tanh_backward", "sigmoid",
    "sigmoid_backward", "relu", "relu_backward", "maximum", "minimum",
    "sum", "mean", "max", "min",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "lstm_cell", "lstm_cell_backward",
    "adam_step", "sgd_step",
)
"""The entries this backend implements; the rest of the contract falls back to the reference."""
