"""The pointwise half of one LSTM step, fused into one kernel each way; the gate GEMMs run through the
SGEMM ladder (:mod:`.matmul`) in the glue.

Layout and gate order as the reference (:func:`tensorcore.backends.reference.lstm_cell`): gates
``(N, 4H)`` are ``[input | forget | cell | output]``. Both kernels are 1-D grid-stride loops with one
thread per ``(n, j)`` hidden unit of the ``N×H`` state, consecutive threads on consecutive ``j``, so
each of the four gate columns a warp touches is a coalesced run.

``forward(gx, gh, b, c, h_out, c_out, act)``, with ``gx = x @ w_ih^T`` and ``gh = h @ w_hh^T``::

    pre_k = gx[n, kH + j] + gh[n, kH + j] + b[kH + j]           k = 0..3
    i, f, o = sigmoid(pre_i, pre_f, pre_o);  g = tanh(pre_g)     sigmoid as 0.5·(1 + tanh(x/2))
    c' = f·c + i·g;  h' = o·tanh(c')

It writes the activated gates (kept for backward), ``c'`` and ``h'``: one launch instead of about ten
elementwise ones (bias add, four activations, three products, a sum, a tanh). Per ``(n, j)``: 13 reads
(4 of them bias values that every row shares, served from cache) and 6 writes, 5 ``tanh``: about
``15·N·H·itemsize`` bytes of DRAM traffic.

``backward(act, c, grad_h, grad_c, d, dc)``::

    tc  = tanh(f·c + i·g)                                        c' recomputed, not stored
    dc' = grad_c + grad_h·o·(1 − tc²)
    d_i = dc'·g·i(1 − i);  d_f = dc'·c·f(1 − f);  d_g = dc'·i(1 − g²);  d_o = grad_h·tc·o(1 − o)
    dc  = dc'·f

It writes the pre-activation gradient ``d (N, 4H)``, which the glue feeds to four GEMMs (``dx = d @
w_ih``, ``dh = d @ w_hh``, ``dw_ih = d^T @ x``, ``dw_hh = d^T @ h``) and a column sum (``db``), and
``dc``. Per ``(n, j)``: 7 reads, 5 writes, one ``tanh``.

Per-dtype kernels (``T`` closed over: constants are ``T(1)``, so float32 stays float32):
``python(kind, dtype)`` is the undecorated function (for ``cuda.compile_ptx``, with
``signature(kind, dtype)``), ``kernel(kind, dtype)`` the ``cuda.jit`` kernel, built once.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import cuda

from .common import KernelFamily, tanh


def _make_forward(T):
    def lstm_cell_forward(gx, gh, b, c, h_out, c_out, act):
        N, H = c.shape
        half, one = T(0.5), T(1)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for e in range(start, N * H, stride):
            n = e // H
            j = e - n * H
            pi = gx[n, j] + gh[n, j] + b[j]
            pf = gx[n, H + j] + gh[n, H + j] + b[H + j]
            pg = gx[n, 2 * H + j] + gh[n, 2 * H + j] + b[2 * H + j]
            po = gx[n, 3 * H + j] + gh[n, 3 * H + j] + b[3 * H + j]
            # The reference's sigmoid, 0.5 * (1 + tanh(x / 2)): no overflow for large |x|.
            i = half * (one + tanh(half * pi))
            f = half * (one + tanh(half * pf))
            g = tanh(pg)
            o = half * (one + tanh(half * po))
            cn = f * c[n, j] + i * g
            act[n, j] = i
            act[n, H + j] = f
            act[n, 2 * H + j] = g
            act[n, 3 * H + j] = o
            c_out[n, j] = cn
            h_out[n, j] = o * tanh(cn)
    return lstm_cell_forward


def _make_backward(T):
    def lstm_cell_backward(act, c, grad_h, grad_c, d, dc):
        N, H = c.shape
        one = T(1)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for e in range(start, N * H, stride):
            n = e // H
            j = e - n * H
            i, f = act[n, j], act[n, H + j]
            g, o = act[n, 2 * H + j], act[n, 3 * H + j]
            cv, dh = c[n, j], grad_h[n, j]
            tc = tanh(f * cv + i * g)
            # c' reaches the loss directly and through h' = o * tanh(c').
            dcn = grad_c[n, j] + dh * o * (one - tc * tc)
            d[n, j] = dcn * g * i * (one - i)
            d[n, H + j] = dcn * cv * f * (one - f)
            d[n, 2 * H + j] = dcn * i * (one - g * g)
            d[n, 3 * H + j] = dh * tc * o * (one - o)
            dc[n, j] = dcn * f
    return lstm_cell_backward


_FAMILY = KernelFamily("lstm", {"forward": _make_forward, "backward": _make_backward})
KINDS = _FAMILY.kinds
python, kernel = _FAMILY.python, _FAMILY.kernel


def signature(kind: str, dtype) -> tuple:
    """Argument types of kernel ``kind`` for ``cuda.compile_ptx``: the bias is 1-D, the rest 2-D."""
    _FAMILY.check(kind)
    T = numba.from_dtype(np.dtype(dtype))
    mat, vec = numba.types.Array(T, 2, "C"), numba.types.Array(T, 1, "C")
    if kind == "forward":
        return (mat, mat, vec, mat, mat, mat, mat)
    return (mat,) * 6
