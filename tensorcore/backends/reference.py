"""The NumPy reference backend: the kernel contract, and the ground truth every backend is tested against.

Every entry is written against the array namespace of its inputs (``numpy`` on ``cpu``, ``cupy`` on
``cuda``), so the same code is the fallback on every device. Entries take arrays of one dtype and
plain Python values and return new arrays; the autograd layer above handles broadcasting of
gradients, shape checks and allocation policy. Numerically delicate entries (softmax, log-softmax,
cross-entropy) subtract the row maximum first so logits of ±1e4 stay finite.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or cupy.ndarray


def namespace(x: Array):
    """``numpy`` for NumPy arrays, ``cupy`` for CuPy arrays."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np
    import cupy

    return cupy


# --------------------------------------------------------------------------- matmul

def matmul(a: Array, b: Array) -> Array:
    """``(..., M, K) @ (..., K, N) -> (..., M, N)``; batch dims already broadcast to equal shapes.

    The one entry that also takes strided operands: 2-D operands may be views (a transposed weight),
    and each backend compacts what its kernel cannot read in place.
    """
    return namespace(a).matmul(a, b)


# --------------------------------------------------------------------------- softmax family

def softmax(x: Array) -> Array:
    """Softmax over the last axis, max-subtracted: ``exp(x - max) / sum(exp(x - max))``."""
    xp = namespace(x)
    shifted = x - _row_max(x)
    e = xp.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = softmax(x)``: ``dx = y * (dy - sum(dy * y))`` over the last axis."""
    return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))


def log_softmax(x: Array) -> Array:
    """``x - max - log(sum(exp(x - max)))`` over the last axis."""
    xp = namespace(x)
    shifted = x - _row_max(x)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = log_softmax(x)``: ``dx = dy - exp(y) * sum(dy)`` over the last axis."""
    xp = namespace(y)
    return grad_y - xp.exp(y) * grad_y.sum(axis=-1, keepdims=True)


def cross_entropy(logits: Array, target: Array) -> tuple[Array, Array]:
    """Fused log-softmax + negative log-likelihood for ``(N, C)`` logits and ``(N,)`` int64 targets.

    Returns the per-row losses ``(N,)`` and the log-probabilities ``(N, C)`` that the backward reuses.
    """
    xp = namespace(logits)
    logp = log_softmax(logits)
    losses = -xp.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    return losses, logp


def cross_entropy_backward(logp: Array, target: Array, grad_losses: Array) -> Array:
    """``d logits = (softmax - onehot(target)) * grad_losses[:, None]``."""
    xp = namespace(logp)
    grad = xp.exp(logp)
    grad[xp.arange(grad.shape[0]), target] -= 1
    return grad * grad_losses[:, None]


def _row_max(x: Array) -> Array:
    xp = namespace(x)
    m = x.max(axis=-1, keepdims=True)
    # A row of -inf would give inf - inf = nan; shifting such rows by 0 keeps exp(-inf) = 0.
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


# --------------------------------------------------------------------------- elementwise

def add(a: Array, b: Array) -> Array:
    return a + b


def sub(a: Array, b: Array) -> Array:
    return a - b


def mul(a: Array, b: Array) -> Array:
    return a * b


def div(a: Array, b: Array) -> Array:
    return a / b


def pow(a: Array, b: Array) -> Array:  # noqa: A001 - the contract's name
    return namespace(a).power(a, b)


def neg(x: Array) -> Array:
    return -x


def exp(x: Array) -> Array:
    return namespace(x).exp(x)


def log(x: Array) -> Array:
    return namespace(x).log(x)


def sqrt(x: Array) -> Array:
    return namespace(x).sqrt(x)


def abs(x: Array) -> Array:  # noqa: A001
    return namespace(x).abs(x)


def sign(x: Array) -> Array:
    return namespace(x).sign(x)


def tanh(x: Array) -> Array:
    return namespace(x).tanh(x)


def tanh_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = tanh(x)``: ``dx = dy * (1 - y^2)``."""
    return grad_y * (1 - y * y)


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))`` computed as ``0.5 * (1 + tanh(x / 2))``, which never overflows."""
    xp = namespace(x)
    return (0.5 * (1 + xp.tanh(0.5 * x))).astype(x.dtype, copy=False)


def sigmoid_backward(y: Array, grad_y: Array) -> Array:
    """Given ``y = sigmoid(x)``: ``dx = dy * y * (1 - y)``."""
    return grad_y * y * (1 - y)


def relu(x: Array) -> Array:
    return namespace(x).maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward(x: Array, grad_y: Array) -> Array:
    """``dx = dy`` where ``x > 0``, else 0 (PyTorch's convention at exactly 0)."""
    return grad_y * (x > 0)


def maximum(a: Array, b: Array) -> Array:
    return namespace(a).maximum(a, b)


def minimum(a: Array, b: Array) -> Array:
    return namespace(a).minimum(a, b)


def clamp(x: Array, low: float | None, high: float | None) -> Array:
    xp = namespace(x)
    if low is not None:
        x = xp.maximum(x, xp.asarray(low, dtype=x.dtype))
    if high is not None:
        x = xp.minimum(x, xp.asarray(high, dtype=x.dtype))
    return x


def where(cond: Array, a: Array, b: Array) -> Array:
    return namespace(a).where(cond, a, b)


def compare(op: str, a: Array, b: Array) -> Array:
    """Elementwise comparison ``op`` in ``eq ne lt le gt ge``; returns booleans."""
    xp = namespace(a)
    return getattr(xp, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                        "gt": "greater", "ge": "greater_equal"}[op])(a, b)


# --------------------------------------------------------------------------- reductions

def sum(x: Array, axis: tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.sum(axis=axis, keepdims=keepdims)


def mean(x: Array, axis: tuple[int, ...] | None, keepdims: bool) -> Array:
    return x.mean(axis=axis, keepdims=keepdims)


def max(x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.max(axis=axis, keepdims=keepdims)


def min(x: Array, axis: int | tuple[int, ...] | None, keepdims: bool) -> Array:  # noqa: A001
    return x.min(axis=axis, keepdims=keepdims)


def argmax(x: Array, axis: int | None, keepdims: bool) -> Array:
    return namespace(x).argmax(x, axis=axis, keepdims=keepdims)


def argmin(x: Array, axis: int | None, keepdims: bool) -> Array:
    return namespace(x).argmin(x, axis=axis, keepdims=keepdims)


# --------------------------------------------------------------------------- convolution
#
# Layout: NCHW input ``x``, OIHW weight ``w`` (``O = groups * Og`` output channels, ``Cg = C / groups``
# input channels per group), all spatial arguments ``(height, width)`` pairs of plain ints. Output
# size per axis: ``(size + 2 * pad - dilation * (k - 1) - 1) // stride + 1``; the op layer has checked
# that it is at least 1, that channels match and that the dtypes agree.

def _pad2d(x: Array, padding: tuple[int, int], value: float = 0.0) -> Array:
    """``x`` with ``padding`` rows/columns of ``value`` on both sides of H and W (``x`` itself if none)."""
    ph, pw = padding
    if not ph and not pw:
        return x
    return namespace(x).pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _out_size(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _windows(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
             out_hw: tuple[int, int]) -> Array:
    """A read-only ``(N, C, OH, OW, KH, KW)`` strided view of the padded input, no copy:
    ``[n, c, i, j, a, b] = xpad[n, c, i * sh + a * dh, j * sw + b * dw]``.

    Built with ``as_strided`` from the array's own byte strides, which exists as
    ``numpy.lib.stride_tricks`` and ``cupy.lib.stride_tricks`` alike.
    """
    xp = namespace(xpad)
    n, c = xpad.shape[:2]
    s0, s1, s2, s3 = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(n, c, out_hw[0], out_hw[1], kernel[0], kernel[1]),
        strides=(s0, s1, s2 * stride[0], s3 * stride[1], s2 * dilation[0], s3 * dilation[1]))


def _im2col(x: Array, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
            dilation: tuple[int, int], groups: int, out_hw: tuple[int, int]) -> Array:
    """The ``(G, Cg*KH*KW, N*OH*OW)`` column matrix of ``x``: one contiguous copy of the window view
    (``N*OH*OW * C*KH*KW`` elements, the memory cost of the im2col strategy)."""
    n, c = x.shape[:2]
    oh, ow = out_hw
    kh, kw = kernel
    cg = c // groups
    win = _windows(_pad2d(x, padding), kernel, stride, dilation, out_hw)
    # (N, G, Cg, OH, OW, KH, KW) -> (G, Cg, KH, KW, N, OH, OW): the reduction axes (Cg, KH, KW) become
    # the GEMM's K and all output pixels its N, so each group is a single large matmul.
    cols = win.reshape(n, groups, cg, oh, ow, kh, kw).transpose(1, 2, 5, 6, 0, 3, 4)
    return cols.reshape(groups, cg * kh * kw, n * oh * ow)


def _col2im(cols: Array, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int], dilation: tuple[int, int]) -> Array:
    """Adjoint of the window view: sum ``cols`` of shape ``(N, C, KH, KW, OH, OW)`` back onto the input
    positions each window element came from; returns a compact ``x_shape`` array (padding cropped).

    One strided ``+=`` per kernel position (KH*KW passes over ``N*C*OH*OW`` elements): positions of one
    kernel offset never collide, so plain slicing is exact and no scatter-add is needed.
    """
    xp = namespace(cols)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = cols.shape[-2:]
    grad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            grad[:, :, a * dh:a * dh + sh * (oh - 1) + 1:sh, b * dw:b * dw + sw * (ow - 1) + 1:sw] += cols[:, :, a, b]
    if ph or pw:
        grad = xp.ascontiguousarray(grad[:, :, ph:ph + h, pw:pw + w])
    return grad


def conv2d(x: Array, w: Array, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> Array:
    """2-D cross-correlation (PyTorch's ``conv2d`` without bias): ``(N, C, H, W) * (O, C/G, KH, KW)
    -> (N, O, OH, OW)``.

    Strategy: im2col as a strided view of the zero-padded input, made contiguous once as a
    ``(G, Cg*KH*KW, N*OH*OW)`` matrix, then one batched GEMM ``(G, Og, K) @ (G, K, P)`` (a single
    ``matmul`` call; each group is one large GEMM) and a transpose back to NCHW.
    Cost: ``2 * N*O*OH*OW * Cg*KH*KW`` FLOPs; memory moved beyond input and output is the column
    matrix, ``N*OH*OW * C*KH*KW * itemsize`` bytes (KH*KW times the input for stride 1), plus the
    padded copy of the input when padding > 0.
    """
    xp = namespace(x)
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    out_hw = (_out_size(h, kh, stride[0], padding[0], dilation[0]),
              _out_size(wd, kw, stride[1], padding[1], dilation[1]))
    cols = _im2col(x, (kh, kw), stride, padding, dilation, groups, out_hw)
    y = xp.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols)  # (G, Og, N*OH*OW)
    y = y.reshape(groups, o // groups, n, *out_hw).transpose(2, 0, 1, 3, 4).reshape(n, o, *out_hw)
    return xp.ascontiguousarray(y)


def conv2d_backward(x: Array, w: Array, grad_y: Array, stride: tuple[int, int], padding: tuple[int, int],
                    dilation: tuple[int, int], groups: int, need_x: bool,
                    need_w: bool) -> tuple[Array | None, Array | None]:
    """Gradients of :func:`conv2d` with respect to ``x`` and ``w`` (``None`` where not needed).

    ``grad_w = grad_y @ cols^T`` per group (the column matrix is rebuilt from ``x`` rather than kept
    from the forward, trading one im2col copy for not holding ``KH*KW`` times the input between
    forward and backward); ``grad_x = col2im(w^T @ grad_y)``. Each is one batched GEMM of
    ``2 * N*O*OH*OW * Cg*KH*KW`` FLOPs; the ``grad_x`` path materializes a column-sized
    ``(G, K, P)`` array and sums it back with KH*KW strided adds.
    """
    xp = namespace(x)
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // groups
    oh, ow = grad_y.shape[2:]
    gy = grad_y.reshape(n, groups, og, oh * ow).transpose(1, 2, 0, 3).reshape(groups, og, n * oh * ow)
    grad_x = grad_w = None
    if need_w:
        cols = _im2col(x, (kh, kw), stride, padding, dilation, groups, (oh, ow))
        grad_w = xp.matmul(gy, cols.transpose(0, 2, 1)).reshape(o, cg, kh, kw)
    if need_x:
        dcols = xp.matmul(w.reshape(groups, og, cg * kh * kw).transpose(0, 2, 1), gy)  # (G, K, N*OH*OW)
        dcols = dcols.reshape(groups, cg, kh, kw, n, oh, ow).transpose(4, 0, 1, 2, 3, 5, 6)
        dcols = dcols.reshape(n, c, kh, kw, oh, ow)
        grad_x = _col2im(dcols, x.shape, (kh, kw), stride, padding, dilation)
    return grad_x, grad_w


# --------------------------------------------------------------------------- pooling
#
# NCHW input, ``kernel``/``stride``/``padding`` as ``(height, width)`` pairs, no dilation, floor
# output sizes (PyTorch's ``ceil_mode=False``). The op layer has checked ``2 * padding <= kernel``,
# so every window holds at least one real input element.

def max_pool2d(x: Array, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> tuple[Array, Array]:
    """Max over each window; returns ``y (N, C, OH, OW)`` and the int64 ``index`` of each maximum as a
    flat offset ``h * W + w`` into its input plane (PyTorch's ``return_indices`` convention).

    Padding is ``-inf``, so it never wins against a real element. Ties go to the first maximum in
    row-major window order (``argmax``), which is what PyTorch's CPU kernel picks; a NaN in a window
    is its maximum. Strategy: the window view is made contiguous as ``(N, C, OH, OW, KH*KW)`` and
    reduced with one ``argmax``. Cost: ``N*C*OH*OW * KH*KW`` compares, ``N*C*OH*OW*KH*KW * itemsize``
    bytes materialized.
    """
    xp = namespace(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = _out_size(h, kh, sh, ph, 1), _out_size(w, kw, sw, pw, 1)
    win = _windows(_pad2d(x, padding, -xp.inf), kernel, stride, (1, 1), (oh, ow)).reshape(n, c, oh, ow, kh * kw)
    arg = win.argmax(axis=-1)
    y = xp.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    top = xp.arange(oh).reshape(oh, 1) * sh - ph
    left = xp.arange(ow).reshape(1, ow) * sw - pw
    rows, cols = top + arg // kw, left + arg % kw
    # A window whose real elements are all -inf ties with its padding, and argmax may pick a padded
    # position, outside the plane. PyTorch reports the window's first real element; so do we.
    outside = (rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)
    rows = xp.where(outside, xp.maximum(top, 0), rows)
    cols = xp.where(outside, xp.maximum(left, 0), cols)
    return y, (rows * w + cols).astype(xp.int64)


def max_pool2d_backward(grad_y: Array, index: Array, x_shape: tuple[int, ...]) -> Array:
    """Route each output gradient to the input element its window's maximum came from; windows that
    overlap (stride < kernel) may pick the same element, so the routing is a scatter-add
    (``xp.add.at``; CuPy implements it with atomics). Cost: ``N*C*OH*OW`` adds into a zeroed input."""
    xp = namespace(grad_y)
    n, c, h, w = x_shape
    grad = xp.zeros((n * c, h * w), dtype=grad_y.dtype)
    planes = xp.arange(n * c).reshape(n * c, 1) * (h * w)
    xp.add.at(grad.reshape(-1), (planes + index.reshape(n * c, -1)).reshape(-1), grad_y.reshape(-1))
    return grad.reshape(x_shape)


def _avg_divisor(xp: Any, x_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], out_hw: tuple[int, int], count_include_pad: bool, dtype: Any) -> Any:
    """What each window's sum is divided by: ``KH*KW``, or with ``count_include_pad=False`` the number of
    real (unpadded) elements, which factors into valid rows times valid columns."""
    if count_include_pad:
        return kernel[0] * kernel[1]
    counts = []
    for size, k, s, p, o in zip(x_hw, kernel, stride, padding, out_hw):
        start = xp.arange(o) * s - p
        counts.append(xp.minimum(start + k, size) - xp.maximum(start, 0))
    return (counts[0].reshape(-1, 1) * counts[1].reshape(1, -1)).astype(dtype)


def avg_pool2d(x: Array, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
               count_include_pad: bool) -> Array:
    """Mean over each window of the zero-padded input.

    Strategy: sum over the last two axes of the strided window view (nothing materialized but the
    padded copy when padding > 0), then divide. Cost: ``N*C*OH*OW * KH*KW`` adds.
    """
    xp = namespace(x)
    h, w = x.shape[2:]
    out_hw = (_out_size(h, kernel[0], stride[0], padding[0], 1), _out_size(w, kernel[1], stride[1], padding[1], 1))
    win = _windows(_pad2d(x, padding), kernel, stride, (1, 1), out_hw)
    divisor = _avg_divisor(xp, (h, w), kernel, stride, padding, out_hw, count_include_pad, x.dtype)
    return win.sum(axis=(-2, -1)) / divisor


def avg_pool2d_backward(grad_y: Array, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], count_include_pad: bool) -> Array:
    """Spread each ``grad_y / divisor`` evenly over its window: :func:`_col2im` of a broadcast (not
    materialized) ``(N, C, KH, KW, OH, OW)`` view. Cost: KH*KW strided adds of ``N*C*OH*OW`` elements."""
    xp = namespace(grad_y)
    n, c, h, w = x_shape
    oh, ow = grad_y.shape[2:]
    g = grad_y / _avg_divisor(xp, (h, w), kernel, stride, padding, (oh, ow), count_include_pad, grad_y.dtype)
    spread = xp.broadcast_to(g.reshape(n, c, 1, 1, oh, ow), (n, c, kernel[0], kernel[1], oh, ow))
    return _col2im(spread, x_shape, kernel, stride, padding, (1, 1))


# --------------------------------------------------------------------------- LSTM cell

def lstm_cell(x: Array, h: Array, c: Array, w_ih: Array, w_hh: Array, b: Array) -> tuple[Array, Array, Array]:
    """One fused LSTM step for a batch: ``x (N, I)``, ``h, c (N, H)``, ``w_ih (4H, I)``, ``w_hh (4H, H)``,
    ``b (4H,)`` (``b_ih + b_hh``).

    ``gates = x @ w_ih^T + h @ w_hh^T + b`` in PyTorch's order (input, forget, cell, output);
    ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``. Returns ``h'``,
    ``c'`` and the activated gates ``(N, 4H)`` that :func:`lstm_cell_backward` needs.
    Cost: two GEMMs, ``2 * N * 4H * (I + H)`` FLOPs; one ``(N, 4H)`` gate array kept for backward.
    """
    xp = namespace(x)
    hid = h.shape[1]
    gates = xp.matmul(x, w_ih.T) + xp.matmul(h, w_hh.T) + b
    act = xp.empty_like(gates)
    act[:, :2 * hid] = sigmoid(gates[:, :2 * hid])
    act[:, 2 * hid:3 * hid] = xp.tanh(gates[:, 2 * hid:3 * hid])
    act[:, 3 * hid:] = sigmoid(gates[:, 3 * hid:])
    i, f, g, o = (act[:, k * hid:(k + 1) * hid] for k in range(4))
    c_new = f * c + i * g
    return o * xp.tanh(c_new), c_new, act


def lstm_cell_backward(x: Array, h: Array, c: Array, w_ih: Array, w_hh: Array, gates: Array, grad_h: Array,
                       grad_c: Array) -> tuple[Array, Array, Array, Array, Array, Array]:
    """All gradients of :func:`lstm_cell` at once: ``(dx, dh, dc, dw_ih, dw_hh, db)``, given the activated
    ``gates`` from the forward and the gradients of ``h'`` and ``c'``.

    ``c'`` is recomputed from the gates (two multiplies and an add) instead of being saved. The
    pre-activation gradient ``(N, 4H)`` feeds four GEMMs (``dx``, ``dh``, ``dw_ih``, ``dw_hh``),
    ``4 * N * 4H * (I + H)`` FLOPs in all; ``db`` is its column sum.
    """
    xp = namespace(x)
    hid = h.shape[1]
    i, f, g, o = (gates[:, k * hid:(k + 1) * hid] for k in range(4))
    tanh_c = xp.tanh(f * c + i * g)
    dc_new = grad_c + grad_h * o * (1 - tanh_c * tanh_c)  # c' reaches the loss directly and through h'
    d = xp.empty_like(gates)
    d[:, :hid] = dc_new * g * i * (1 - i)
    d[:, hid:2 * hid] = dc_new * c * f * (1 - f)
    d[:, 2 * hid:3 * hid] = dc_new * i * (1 - g * g)
    d[:, 3 * hid:] = grad_h * tanh_c * o * (1 - o)
    return (xp.matmul(d, w_ih), xp.matmul(d, w_hh), dc_new * f,
            xp.matmul(d.T, x), xp.matmul(d.T, h), d.sum(axis=0))


# --------------------------------------------------------------------------- optimizer steps

def adam_step(param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array, max_exp_avg_sq: Array | None,
              step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
              decoupled: bool, maximize: bool) -> None:
    """One Adam (``decoupled=False``) or AdamW step for one parameter, in place, PyTorch's rule:
    ``m += (1-β1)(g - m)``, ``v = β2 v + (1-β2) g²``, ``p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)``
    (``max(v)`` over time when ``max_exp_avg_sq`` is given: AMSGrad). Weight decay adds
    ``weight_decay · p`` to the gradient, or with ``decoupled`` scales ``p`` by ``1 - lr · weight_decay``.

    Memory-bound (~12 FLOPs per element): this version makes ~10 passes over the arrays with one
    scratch array; a native backend fuses them into one.
    """
    xp = namespace(param)
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    tmp = xp.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp  # exp_avg.lerp_(grad, 1 - beta1), as PyTorch writes it
    exp_avg_sq *= beta2
    xp.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq += tmp
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    xp.sqrt(second, out=tmp)
    tmp /= (1 - beta2 ** step) ** 0.5
    tmp += eps
    xp.divide(exp_avg, tmp, out=tmp)
    tmp *= lr / (1 - beta1 ** step)
    param -= tmp



def sgd_step(param: Array, grad: Array, momentum_buffer: Array | None, lr: float, momentum: float,
             dampening: float, weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """One SGD step for one parameter, in place, PyTorch's rule: ``g = ±grad (+ weight_decay · p)``;
    with momentum, ``b = g`` on the ``first`` step, else ``b = momentum · b + (1 - dampening) · g``,
    and ``g = g + momentum · b`` (Nesterov) or ``b``; then ``p -= lr · g``. ``momentum_buffer`` is
    needed (and updated) only when ``momentum != 0``; its contents do not matter on the first step.

    Memory-bound (2-6 FLOPs per element): this version makes ~5 passes with temporaries; a native
    backend fuses them into one.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if first:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * grad

CONTRACT: tuple[str, ...] = (
    "adam_step", "sgd_step",
    "matmul",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "sign",
    "tanh", "tanh_backward", "sigmoid", "sigmoid_backward", "relu", "relu_backward",
    "maximum", "minimum", "clamp", "where", "compare",
    "sum", "mean", "max", "min", "argmax", "argmin",
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "lstm_cell", "lstm_cell_backward",
)
"""Every entry a backend may implement; the reference implements them all."""


def _kernels() -> dict:
    return {name: globals()[name] for name in CONTRACT}


BACKEND = None  # set by tensorcore.backends when it registers the reference
