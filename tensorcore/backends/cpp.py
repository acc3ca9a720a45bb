"""The C++ CPU backend: entries implemented by the pybind11 extension ``tensorcore._C``.

The C++ kernels take compact arrays of exactly the shapes and dtypes they implement and raise on
anything else; the wrappers here are the glue between them and the reference contract
(:mod:`tensorcore.backends.reference`): they compact non-contiguous inputs, fold any number of
batch dimensions into one, and send dtypes the C++ code has no kernel for to the reference.

Entries: ``matmul``, the softmax family (``softmax``, ``log_softmax``, their backwards, the fused
``cross_entropy`` forward and backward), the training-step elementwise entries ``relu``,
``relu_backward`` and ``add`` (equal shapes, or a bias row), ``conv2d`` / ``conv2d_backward``,
``max_pool2d`` / ``avg_pool2d`` and their backwards, and the fused ``lstm_cell`` /
``lstm_cell_backward``, all for float32 and float64; the rest fall back to the reference.

Thread count: :mod:`tensorcore.threads` (``tc.set_num_threads``, ``TENSORCORE_NUM_THREADS``, read
when the backend loads).
"""
from __future__ import annotations

import math

import numpy as np

from .. import threads
from . import reference
from .registry import BackendUnavailable

_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_C = None  # the extension module, once loaded


def _extension():
    """``tensorcore._C``, or :class:`BackendUnavailable` saying why it cannot be imported."""
    global _C
    if _C is None:
        try:
            from .. import _C as ext
        except ImportError as exc:
            raise BackendUnavailable(f"the C++ extension tensorcore._C is not built ({exc}); "
                                     "run `pip install -e .`") from exc
        _C = ext
    return _C


def _compact(x: np.ndarray) -> np.ndarray:
    """``x`` itself when the kernel can read it directly, else a C-contiguous aligned copy."""
    if x.flags.c_contiguous and x.flags.aligned:
        return x
    return np.require(x, requirements=("C", "A"))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)``; batch dims already broadcast to equal shapes.

    float32 / float64 run the C++ kernel (batch dims folded into one; a 2-D transposed view is read
    in place through the packing instead of being copied). Everything outside that
    contract -- other dtypes (int64), mixed or byte-swapped dtypes, non-NumPy arrays, fewer than two
    dims, batch dims not yet broadcast -- goes to the reference, so results and errors match it.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.dtype != b.dtype \
            or a.dtype not in _NATIVE_DTYPES or not a.dtype.isnative \
            or a.ndim < 2 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        return reference.matmul(a, b)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"tensorcore.backends.cpp.matmul: inner dimensions differ: "
                         f"a is {a.shape}, b is {b.shape}")
    C = _extension()
    if a.ndim == 2:
        (a, trans_a), (b, trans_b) = _maybe_transposed(a), _maybe_transposed(b)
        if trans_a or trans_b:  # a transposed view: the kernel reads it through its packing
            return C.gemm(a, b, trans_a, trans_b)
    a, b = _compact(a), _compact(b)
    if a.ndim <= 3:
        return C.matmul(a, b)
    batch = a.shape[:-2]
    nb = math.prod(batch)  # not -1: reshape cannot infer it when an array is empty
    out = C.matmul(a.reshape(nb, *a.shape[-2:]), b.reshape(nb, *b.shape[-2:]))
    return out.reshape(*batch, *out.shape[-2:])


def _maybe_transposed(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """A 2-D operand as ``(array, transposed)`` for ``_C.gemm``: ``x`` itself when it is
    C-contiguous, its C-contiguous transpose when ``x`` is a transposed view (Fortran order), else
    a compact copy."""
    if x.flags.c_contiguous and x.flags.aligned:
        return x, False
    if x.flags.f_contiguous and x.flags.aligned:
        return x.T, True
    return _compact(x), False


def _native(*arrays) -> bool:
    """Whether the C++ kernels take these arrays as they are dtype-wise: NumPy arrays of one native
    float32 / float64 dtype. Anything else goes to the reference (its results and errors)."""
    first = arrays[0]
    return all(isinstance(x, np.ndarray) for x in arrays) and first.dtype in _NATIVE_DTYPES \
        and first.dtype.isnative and all(x.dtype == first.dtype for x in arrays)


def _rows(x) -> bool:
    """Has a non-empty last axis to take the softmax along (the reference raises otherwise)."""
    return x.ndim >= 1 and x.shape[-1] > 0


def softmax(x):
    if not (_native(x) and _rows(x)):
        return reference.softmax(x)
    return _extension().softmax(_compact(x))


def log_softmax(x):
    if not (_native(x) and _rows(x)):
        return reference.log_softmax(x)
    return _extension().log_softmax(_compact(x))


def softmax_backward(y, grad_y):
    if not (_native(y, grad_y) and _rows(y) and y.shape == grad_y.shape):
        return reference.softmax_backward(y, grad_y)
    return _extension().softmax_backward(_compact(y), _compact(grad_y))


def log_softmax_backward(y, grad_y):
    if not (_native(y, grad_y) and _rows(y) and y.shape == grad_y.shape):
        return reference.log_softmax_backward(y, grad_y)
    return _extension().log_softmax_backward(_compact(y), _compact(grad_y))


def _targets(target, n) -> bool:
    return isinstance(target, np.ndarray) and target.dtype == np.int64 and target.dtype.isnative \
        and target.shape == (n,)


def cross_entropy(logits, target):
    """The C++ kernel for (N, C) float logits and (N,) int64 targets; it raises IndexError for a
    target outside [0, C) (the reference would wrap negative ones)."""
    if not (_native(logits) and logits.ndim == 2 and _targets(target, logits.shape[0])):
        return reference.cross_entropy(logits, target)
    return _extension().cross_entropy(_compact(logits), _compact(target))


def cross_entropy_backward(logp, target, grad_losses):
    if not (_native(logp, grad_losses) and logp.ndim == 2 and _targets(target, logp.shape[0])
            and grad_losses.shape == (logp.shape[0],)):
        return reference.cross_entropy_backward(logp, target, grad_losses)
    return _extension().cross_entropy_backward(_compact(logp), _compact(target), _compact(grad_losses))


def relu(x):
    if not _native(x):
        return reference.relu(x)
    return _extension().relu(_compact(x))


def relu_backward(x, grad_y):
    if not (_native(x, grad_y) and x.shape == grad_y.shape):
        return reference.relu_backward(x, grad_y)
    return _extension().relu_backward(_compact(x), _compact(grad_y))


def add(a, b):
    """Equal shapes, or ``(..., C) + (C,)`` (a linear layer's bias), in C++; any other broadcast,
    scalars and mixed dtypes in the reference."""
    if not (_native(a, b) and (a.shape == b.shape or a.ndim >= 2 and b.shape == a.shape[-1:])):
        return reference.add(a, b)
    return _extension().add(_compact(a), _compact(b))


# --------------------------------------------------------------------------- convolution, pooling


def _pair(v) -> tuple[int, int] | None:
    """``(height, width)`` as two Python ints, or None if ``v`` is not such a pair."""
    try:
        a, b = v
        if not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in (a, b)):
            return None
        return int(a), int(b)
    except (TypeError, ValueError):
        return None


def _pairs(*values):
    """The values as int pairs, or None if any is not one (the reference then decides)."""
    out = tuple(_pair(v) for v in values)
    return None if any(p is None for p in out) else out


def _spatial(*arrays) -> bool:
    """Native float arrays of one dtype, all 4-D (NCHW / OIHW)."""
    return _native(*arrays) and all(a.ndim == 4 for a in arrays)


def conv2d(x, w, stride, padding, dilation, groups):
    """NCHW x, OIHW w: the C++ kernel (im2col per image + packed GEMM) for float32 / float64."""
    args = _pairs(stride, padding, dilation)
    if args is None or not _spatial(x, w) or not isinstance(groups, (int, np.integer)):
        return reference.conv2d(x, w, stride, padding, dilation, groups)
    return _extension().conv2d(_compact(x), _compact(w), *args, int(groups))


def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_x, need_w):
    args = _pairs(stride, padding, dilation)
    if args is None or not _spatial(x, w, grad_y) or not isinstance(groups, (int, np.integer)):
        return reference.conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_x, need_w)
    return tuple(_extension().conv2d_backward(_compact(x), _compact(w), _compact(grad_y), *args,
                                              int(groups), bool(need_x), bool(need_w)))


def max_pool2d(x, kernel, stride, padding):
    """Values and int64 flat indices (first maximum in row-major window order, as the reference)."""
    args = _pairs(kernel, stride, padding)
    if args is None or not _spatial(x):
        return reference.max_pool2d(x, kernel, stride, padding)
    return tuple(_extension().max_pool2d(_compact(x), *args))


def max_pool2d_backward(grad_y, index, x_shape):
    if not (_spatial(grad_y) and isinstance(index, np.ndarray) and index.dtype == np.int64
            and index.dtype.isnative and index.shape == grad_y.shape and len(x_shape) == 4):
        return reference.max_pool2d_backward(grad_y, index, x_shape)
    return _extension().max_pool2d_backward(_compact(grad_y), _compact(index),
                                            tuple(int(d) for d in x_shape))


def avg_pool2d(x, kernel, stride, padding, count_include_pad):
    args = _pairs(kernel, stride, padding)
    if args is None or not _spatial(x):
        return reference.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    return _extension().avg_pool2d(_compact(x), *args, bool(count_include_pad))


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad):
    args = _pairs(kernel, stride, padding)
    if args is None or not _spatial(grad_y) or len(x_shape) != 4:
        return reference.avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad)
    return _extension().avg_pool2d_backward(_compact(grad_y), tuple(int(d) for d in x_shape), *args,
                                            bool(count_include_pad))


# --------------------------------------------------------------------------- LSTM cell


def lstm_cell(x, h, c, w_ih, w_hh, b):
    """One fused step (two packed GEMMs + one pointwise pass); returns ``(h', c', gates)``."""
    if not (_native(x, h, c, w_ih, w_hh, b) and x.ndim == 2 and h.ndim == 2):
        return reference.lstm_cell(x, h, c, w_ih, w_hh, b)
    return tuple(_extension().lstm_cell(*(_compact(a) for a in (x, h, c, w_ih, w_hh, b))))


def lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c):
    if not (_native(x, h, c, w_ih, w_hh, gates, grad_h, grad_c) and x.ndim == 2 and h.ndim == 2):
        return reference.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c)
    return tuple(_extension().lstm_cell_backward(
        *(_compact(a) for a in (x, h, c, w_ih, w_hh, gates, grad_h, grad_c))))


def set_num_threads(n: int) -> None:
    """Threads the C++ kernels may use, process-wide (see :mod:`tensorcore.threads`)."""
    _extension()
    threads.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the C++ kernels may use now."""
    _extension()
    return threads.get_num_threads()


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
              decoupled, maximize):
    """The whole Adam / AdamW update in one multithreaded C++ pass (the reference makes ~10). The
    state arrays are updated in place, so anything that is not compact, native float32/float64 of
    one dtype goes to the reference."""
    arrays = (param, grad, exp_avg, exp_avg_sq) + (() if max_exp_avg_sq is None else (max_exp_avg_sq,))
    if not (_native(*arrays) and all(a.shape == param.shape and a.flags.c_contiguous for a in arrays)):
        return reference.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2,
                                   eps, weight_decay, decoupled, maximize)
    _extension().adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                           weight_decay, decoupled, maximize, lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5)


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """The whole SGD update (momentum, Nesterov, weight decay) in one multithreaded C++ pass (the
    reference makes ~5 with temporaries); anything not compact, native float32/float64 of one dtype
    goes to the reference."""
    arrays = (param, grad) + (() if momentum == 0 else (momentum_buffer,))
    if not (_native(*arrays) and all(a.shape == param.shape and a.flags.c_contiguous for a in arrays)):
        return reference.sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                                  maximize, first)
    _extension().sgd_step(param, grad, momentum_buffer if momentum != 0 else None, lr, momentum, dampening,
                          weight_decay, nesterov, maximize, first)


def kernels() -> dict:
    C = _extension()
    threads.apply_env(C)
    return {"matmul": matmul, "softmax": softmax, "softmax_backward": softmax_backward,
            "log_softmax": log_softmax, "log_softmax_backward": log_softmax_backward,
            "cross_entropy": cross_entropy, "cross_entropy_backward": cross_entropy_backward,
            "relu": relu, "relu_backward": relu_backward, "add": add,
            "conv2d": conv2d, "conv2d_backward": conv2d_backward,
            "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward,
            "avg_pool2d": avg_pool2d, "avg_pool2d_backward": avg_pool2d_backward,
            "lstm_cell": lstm_cell, "lstm_cell_backward": lstm_cell_backward, "adam_step": adam_step,
            "sgd_step": sgd_step}
