"""2-D max and average pooling over ``P = N·C`` independent ``H×W`` planes, forward and backward.

Geometry as the reference (:mod:`tensorcore.backends.reference`): kernel ``(KH, KW)``, stride
``(SH, SW)``, padding ``(PH, PW)``, no dilation, floor output sizes ``OH×OW``. Arrays are compact
planes — ``x (P, H, W)``, ``y (P, OH, OW)`` — and the geometry comes as plain ints, so every index
is 64-bit. The max-pool index is int64, the flat offset ``h·W + w`` of the maximum in its plane
(PyTorch's ``return_indices`` convention). Every kernel is a 1-D grid-stride loop, one thread per
output (forward) or per input element (gather backward), consecutive threads on consecutive
columns; no shared memory.

``max_forward(x, y, index, KH, KW, SH, SW, PH, PW)``: each thread scans the *real* elements of its
window in row-major order — the clipped ranges ``[max(h0, 0), min(h0 + KH, H))`` and the same for
columns — keeping the first maximum (a strictly larger value or the first NaN replaces it; nothing
replaces a NaN). Padding is ``-inf`` in the reference, so it can only tie, never win: skipping it
gives the reference's answer, and starting from ``-inf`` at the window's first real element gives
its rule for a window whose real elements are all ``-inf`` (that element's index). Cost per output:
``KH·KW`` compares and loads (neighbouring windows share them through L1/L2), one value and one int64
written: ideal traffic ``P·(H·W·itemsize + OH·OW·(itemsize + 8))`` bytes.

Max backward, two strategies (the glue picks):

* ``max_backward_gather(gy, index, gx, KH, KW, SH, SW, PH, PW)`` when windows do not overlap
  (``SH >= KH`` and ``SW >= KW``): one thread per input element. At most one window holds ``(h, w)``
  — row ``(h + PH) // SH`` if the offset inside it is below ``KH``, likewise for columns — so the
  thread reads that window's index and writes its gradient or 0. Every ``gx`` element is written
  exactly once: no zero fill, no atomics, deterministic. Reads ``P·OH·OW·(8 + itemsize)`` bytes,
  writes ``P·H·W·itemsize``.
* ``max_backward_scatter(gy (P, L), index (P, L), gx (P, H·W))`` for any geometry: one thread per
  output, ``cuda.atomic.add`` of its gradient into a zeroed ``gx`` at its index (overlapping windows
  may pick the same element). Collisions are rare but their summation order is not fixed. An index
  outside the plane is dropped instead of written out of bounds.

``avg_forward(x, y, KH, KW, SH, SW, PH, PW, count_include_pad)``: one thread per output, the sum of the
window's real elements (padding is zero) over the divisor — ``KH·KW``, or with
``count_include_pad=False`` the real element count ``rows·cols``. ``KH·KW`` adds and one divide.

``avg_backward(gy, gx, KH, KW, SH, SW, PH, PW, count_include_pad)``: a gather for every geometry, one
thread per input element summing ``gy / divisor`` over the windows that hold it. Those are the
closed-form ranges ``ceil((h + PH − KH + 1) / SH) <= oh <= (h + PH) // SH`` clipped to ``[0, OH)``
(and the same for columns), so overlapping windows need no atomics, and each ``gx`` element is
written once: ``ceil(KH/SH)·ceil(KW/SW)`` reads, divides and adds at most per element.

Per-dtype kernels (``T`` closed over: constants are ``T(0)``, so float32 stays float32):
``python(kind, dtype)`` is the undecorated function (for ``cuda.compile_ptx``, with
``signature(kind, dtype)``), ``kernel(kind, dtype)`` the ``cuda.jit`` kernel, built once.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from .common import KernelFamily


def _make_max_forward(T):
    def max_pool2d_forward(x, y, index, KH, KW, SH, SW, PH, PW):
        P, H, W = x.shape
        OH, OW = y.shape[1], y.shape[2]
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, P * OH * OW, stride):
            ow = i % OW
            rest = i // OW
            oh = rest % OH
            p = rest // OH
            h0, w0 = oh * SH - PH, ow * SW - PW
            h_lo, w_lo = max(h0, 0), max(w0, 0)
            best = T(-math.inf)
            bh, bw = h_lo, w_lo          # the first real element: the answer when all are -inf
            for h in range(h_lo, min(h0 + KH, H)):
                for w in range(w_lo, min(w0 + KW, W)):
                    v = x[p, h, w]
                    if best == best and (v > best or v != v):
                        best, bh, bw = v, h, w
            y[p, oh, ow] = best
            index[p, oh, ow] = bh * W + bw
    return max_pool2d_forward


def _make_max_backward_gather(T):
    def max_pool2d_backward_gather(gy, index, gx, KH, KW, SH, SW, PH, PW):
        P, H, W = gx.shape
        OH, OW = gy.shape[1], gy.shape[2]
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, P * H * W, stride):
            w = i % W
            rest = i // W
            h = rest % H
            p = rest // H
            th, tw = h + PH, w + PW
            oh, ow = th // SH, tw // SW
            v = T(0)
            if th - oh * SH < KH and oh < OH and tw - ow * SW < KW and ow < OW:
                if index[p, oh, ow] == h * W + w:
                    v = gy[p, oh, ow]
            gx[p, h, w] = v
    return max_pool2d_backward_gather


def _make_max_backward_scatter(T):
    def max_pool2d_backward_scatter(gy, index, gx):
        P, L = gy.shape
        HW = gx.shape[1]
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, P * L, stride):
            p = i // L
            q = i - p * L
            at = index[p, q]
            if at >= 0 and at < HW:
                cuda.atomic.add(gx, (p, at), gy[p, q])
    return max_pool2d_backward_scatter


def _make_avg_forward(T):
    def avg_pool2d_forward(x, y, KH, KW, SH, SW, PH, PW, count_include_pad):
        P, H, W = x.shape
        OH, OW = y.shape[1], y.shape[2]
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, P * OH * OW, stride):
            ow = i % OW
            rest = i // OW
            oh = rest % OH
            p = rest // OH
            h0, w0 = oh * SH - PH, ow * SW - PW
            h_lo, h_hi = max(h0, 0), min(h0 + KH, H)
            w_lo, w_hi = max(w0, 0), min(w0 + KW, W)
            s = T(0)
            for h in range(h_lo, h_hi):
                for w in range(w_lo, w_hi):
                    s += x[p, h, w]
            div = KH * KW if count_include_pad else (h_hi - h_lo) * (w_hi - w_lo)
            y[p, oh, ow] = s / T(div)
    return avg_pool2d_forward


def _make_avg_backward(T):
    def avg_pool2d_backward(gy, gx, KH, KW, SH, SW, PH, PW, count_include_pad):
        P, H, W = gx.shape
        OH, OW = gy.shape[1], gy.shape[2]
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, P * H * W, stride):
            w = i % W
            rest = i // W
            h = rest % H
            p = rest // H
            # Window oh holds h iff oh*SH - PH <= h <= oh*SH - PH + KH - 1.
            th, tw = h + PH, w + PW
            oh_lo = (th - KH + SH) // SH if th - KH + 1 > 0 else 0
            ow_lo = (tw - KW + SW) // SW if tw - KW + 1 > 0 else 0
            oh_hi, ow_hi = min(th // SH, OH - 1), min(tw // SW, OW - 1)
            s = T(0)
            for oh in range(oh_lo, oh_hi + 1):
                h0 = oh * SH - PH
                rows = KH if count_include_pad else min(h0 + KH, H) - max(h0, 0)
                for ow in range(ow_lo, ow_hi + 1):
                    w0 = ow * SW - PW
                    cols = KW if count_include_pad else min(w0 + KW, W) - max(w0, 0)
                    s += gy[p, oh, ow] / T(rows * cols)
            gx[p, h, w] = s
    return avg_pool2d_backward


_FAMILY = KernelFamily("pool", {
    "max_forward": _make_max_forward, "max_backward_gather": _make_max_backward_gather,
    "max_backward_scatter": _make_max_backward_scatter, "avg_forward": _make_avg_forward,
    "avg_backward": _make_avg_backward,
})
KINDS = _FAMILY.kinds
python, kernel = _FAMILY.python, _FAMILY.kernel


def signature(kind: str, dtype) -> tuple:
    """Argument types of kernel ``kind`` for ``cuda.compile_ptx``."""
    _FAMILY.check(kind)
    T = numba.from_dtype(np.dtype(dtype))
    planes, idx = numba.types.Array(T, 3, "C"), numba.types.Array(numba.int64, 3, "C")
    geom = (numba.int64,) * 6
    if kind == "max_forward":
        return (planes, planes, idx, *geom)
    if kind == "max_backward_gather":
        return (planes, idx, planes, *geom)
    if kind == "max_backward_scatter":
        rows = numba.types.Array(T, 2, "C")
        return (rows, numba.types.Array(numba.int64, 2, "C"), rows)
    return (planes, planes, *geom, numba.boolean)
