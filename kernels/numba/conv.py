"""Convolution as im2col + GEMM in Numba-CUDA: the data-movement kernels around the matmul ladder.

A 2-D convolution ``(N, C, H, W) * (O, C/G, KH, KW) -> (N, O, OH, OW)`` with ``G`` groups is, per
group, one matrix product ``W_g (Og, K) @ cols_g (K, P)`` with ``K = Cg·KH·KW`` (the reduction over
input channels and kernel taps) and ``P = N·OH·OW`` (every output pixel of the batch). The GEMM is
the matmul ladder's (:mod:`.matmul`, batched over the groups in ``blockIdx.z``); this module holds the
kernels that move data in and out of GEMM layout:

* ``im2col`` writes ``cols (G, K, P)``: ``cols[g, (c·KH + a)·KW + b, (n·OH + i)·OW + j] =
  x[n, g·Cg + c, i·sh − ph + a·dh, j·sw − pw + b·dw]`` (0 outside the input: the zero padding is never
  materialized). One thread per element of ``cols`` in a grid-stride loop; consecutive threads take
  consecutive ``j``, so the writes are coalesced and, at stride 1, so are the reads.
  ``im2col_t`` writes the transpose ``(G, P, K)``, the right operand of the weight gradient
  ``dW_g = dY_g (Og, P) @ cols_g^T (P, K)``; its consecutive threads take consecutive taps, so its
  reads are the scattered ones. That GEMM has a tiny output (``Og × K``: a few blocks) and a huge
  reduction (``P``), so few SMs would do all the work; ``im2col_t_per_image`` writes
  ``(N·G, OH·OW, K)`` instead, making the weight gradient ``N·G`` small GEMMs with NCHW ``dY`` as
  their left operand as it is, whose ``(N, O·K)`` partials one reduction over ``N`` adds up (a
  split-K by image). The glue takes it when the partials are no larger than the column matrix
  (``OH·OW ≥ Og``).
  Cost: ``G·K·P = N·OH·OW·C·KH·KW`` elements written (``KH·KW`` times the input at stride 1) and as
  many read (mostly from cache: each input element is read by up to ``KH·KW`` threads). No FLOPs.
* ``col2im`` is the adjoint, for the data gradient ``dX = col2im(W_g^T @ dY_g)``: one thread per
  *input* element gathers the ``KH·KW`` column entries that came from it — the output positions
  ``i = (h + ph − a·dh) / sh`` that divide exactly and fall in ``[0, OH)`` — so every input gradient
  is written once, with no atomics and a deterministic summation order. Cost: ``N·C·H·W`` writes,
  ``KH·KW`` reads and adds each at most.
* ``swap01`` turns ``(A, B, L)`` into ``(B, A, L)``: the GEMM's ``(O, N, OH·OW)`` output into NCHW,
  and NCHW output gradients into ``(O, N, OH·OW)``. One thread per element; ``L`` is the fastest
  axis of both sides, so reads and writes are both coalesced. ``2·n·itemsize`` bytes, like a copy.

FLOPs of the whole convolution are the GEMM's, ``2·N·O·OH·OW·Cg·KH·KW``; the extra traffic is the
column matrix, written once and read once by the GEMM. That is the price of this strategy next to an
implicit GEMM (which forms the columns tile by tile in shared memory, see ``kernels/cuda/conv.cu``)
— and its merit is that every piece is a kernel a reader has already met.

Geometry travels as one tuple of plain ints, ``(N, C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw,
G)`` (:data:`GEOMETRY`), passed by value in the launch parameters. Indices are 64-bit.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import cuda

from .common import KernelFamily

GEOMETRY = ("N", "C", "H", "W", "OH", "OW", "KH", "KW", "sh", "sw", "ph", "pw", "dh", "dw", "G")
"""The order of the geometry tuple every kernel here takes."""


def _make_im2col(T, transposed: bool, per_image: bool = False):
    def im2col(x, cols, geo):
        N, C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, G = geo
        cg = C // G
        K = cg * KH * KW
        L = OH * OW
        P = N * L
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for e in range(start, G * K * P, stride):
            # Walk e in the output's memory order, so consecutive threads write consecutive elements.
            if transposed:          # taps fastest
                k = e % K
                r = e // K
                l_ = r % L
                r = r // L
                if per_image:       # cols[n·G + g, l, k]
                    g = r % G
                    n = r // G
                else:               # cols[g, n·L + l, k]
                    n = r % N
                    g = r // N
                p = n * L + l_
            else:                   # cols[g, k, p]: output pixels fastest
                p = e % P
                k = (e // P) % K
                g = e // (K * P)
                n = p // L
                l_ = p - n * L
            c = k // (KH * KW)
            a = (k // KW) % KH
            b = k % KW
            i = l_ // OW
            j = l_ - i * OW
            h = i * sh - ph + a * dh
            w = j * sw - pw + b * dw
            v = T(0)
            if h >= 0 and h < H and w >= 0 and w < W:
                v = x[n, g * cg + c, h, w]
            if not transposed:
                cols[g, k, p] = v
            elif per_image:
                cols[n * G + g, l_, k] = v
            else:
                cols[g, p, k] = v
    im2col.__name__ = ("im2col_t_per_image" if per_image else "im2col_t") if transposed else "im2col"
    return im2col


def _make_col2im(T):
    def col2im(cols, dx, geo):
        N, C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, G = geo
        cg = C // G
        L = OH * OW
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for e in range(start, N * C * H * W, stride):
            w = e % W
            h = (e // W) % H
            ch = (e // (H * W)) % C
            n = e // (C * H * W)
            g = ch // cg
            c = ch - g * cg
            acc = T(0)
            for a in range(KH):
                hs = h + ph - a * dh
                if hs < 0 or hs % sh != 0:
                    continue
                i = hs // sh
                if i >= OH:
                    continue
                for b in range(KW):
                    ws = w + pw - b * dw
                    if ws < 0 or ws % sw != 0:
                        continue
                    j = ws // sw
                    if j < OW:
                        acc += cols[g, (c * KH + a) * KW + b, n * L + i * OW + j]
            dx[n, ch, h, w] = acc
    return col2im


def swap01(src, dst):
    """``dst[b, a, l] = src[a, b, l]`` for ``src (A, B, L)``, ``dst (B, A, L)``; grid-stride over ``dst``."""
    A, B, L = src.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, A * B * L, stride):
        l_ = e % L
        a = (e // L) % A
        b = e // (L * A)
        dst[b, a, l_] = src[a, b, l_]


_FAMILY = KernelFamily("conv", {
    "im2col": lambda T: _make_im2col(T, False), "im2col_t": lambda T: _make_im2col(T, True),
    "im2col_t_per_image": lambda T: _make_im2col(T, True, per_image=True),
    "col2im": _make_col2im, "swap01": lambda T: swap01,
})
KINDS = _FAMILY.kinds
python, kernel = _FAMILY.python, _FAMILY.kernel


def signature(name: str, dtype) -> tuple:
    """Argument types of kernel ``name`` for ``cuda.compile_ptx``."""
    _FAMILY.check(name)
    T = numba.from_dtype(np.dtype(dtype))
    geo = numba.types.UniTuple(numba.int64, len(GEOMETRY))
    a3, a4 = numba.types.Array(T, 3, "C"), numba.types.Array(T, 4, "C")
    if name.startswith("im2col"):
        return a4, a3, geo
    if name == "col2im":
        return a3, a4, geo
    return a3, a3
