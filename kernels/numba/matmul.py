"""The SGEMM ladder in Numba-CUDA: ``C[z] = A[z] @ B[z]`` for ``A (Z, M, K)``, ``B (Z, K, N)``, ``C (Z, M, N)``.

Every rung is kept, named and tested, after Simon Boehm's "How to optimize a CUDA matmul kernel"
worklog: ``naive`` → ``coalesced`` → ``smem_tiled`` → ``blocktile_1d`` → ``blocktile_2d`` →
``conflict_free`` (shared memory read without bank conflicts) → ``double_buffered`` (the next slab's
global loads overlap the current slab's FMAs). All take
C-contiguous 3-D arrays of one float dtype (float32 or float64) and handle any ``M, N, K`` (edge tiles
are guarded, so 17×33×9 works); the batch index is ``blockIdx.z``. Indices are 64-bit (Numba's
``intp``), so no product of sizes overflows. Accumulation is in the input dtype.

Cost model, for one ``M×K @ K×N`` product: ``2·M·N·K`` FLOPs; the ideal traffic is reading A and B
once and writing C once, ``(M·K + K·N + M·N)·itemsize`` bytes. What separates the rungs is how far
each is from that ideal — how many times an element of A or B is fetched from global memory (DRAM
or L2) and whether a warp's 32 fetches fall in one 128-byte line (coalesced) or 32 lines.

The kernel is built per dtype (shared and local arrays need a compile-time element type):
``VARIANTS[name].kernel(np.float32)`` is the ``cuda.jit`` kernel, ``.python(np.float32)`` the plain
function (for ``cuda.compile_ptx``), ``.launch(M, N, Z)`` the ``(grid, block)`` to launch it with.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from numba import cuda

# Launch geometry of each rung. Changing one changes the compiled kernel (they are closed over).
NAIVE_BLOCK = 16           # 16×16 threads, one output each
SMEM_TILE = 32             # 32×32 shared tiles of A and B, 1024 threads
BT1_BM, BT1_BN, BT1_BK, BT1_TM = 64, 64, 8, 8            # 512 threads, 8 outputs each (a column)
BT2_BM, BT2_BN, BT2_BK, BT2_TM, BT2_TN = 128, 128, 8, 8, 8  # 256 threads, 8×8 outputs each


def _make_naive(T):
    def matmul_naive(A, B, C):
        """One thread per output, ``row`` from ``threadIdx.x``.

        Every thread reads a whole row of A and column of B from global memory: ``2·M·N·K`` loads,
        no reuse beyond what L1/L2 catch. Worse, consecutive threads of a warp have consecutive
        *rows*, so their A loads are ``K`` elements apart and their C stores ``N`` apart: every
        warp-wide access touches 32 different cache lines. Registers: one accumulator.
        """
        z = cuda.blockIdx.z
        row = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        col = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        if row < M and col < N:
            acc = T(0)
            for k in range(K):
                acc += A[z, row, k] * B[z, k, col]
            C[z, row, col] = acc
    return matmul_naive


def _make_coalesced(T):
    def matmul_coalesced(A, B, C):
        """The naive kernel with ``col`` from ``threadIdx.x``: a warp now shares one ``row``.

        Same ``2·M·N·K`` loads, but a warp's B loads and C stores are 32 consecutive elements (one or
        two 128-byte transactions) and its A load is a single broadcast address. Typically several
        times faster than ``naive`` with no other change.
        """
        z = cuda.blockIdx.z
        col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        if row < M and col < N:
            acc = T(0)
            for k in range(K):
                acc += A[z, row, k] * B[z, k, col]
            C[z, row, col] = acc
    return matmul_coalesced


def _make_smem_tiled(T):
    TS = SMEM_TILE

    def matmul_smem_tiled(A, B, C):
        """Shared-memory tiling: a block computes a ``TS×TS`` tile of C, stepping through K in
        ``TS``-wide slabs. Each step, every thread loads one element of A's slab and one of B's
        (coalesced) into shared memory, ``syncthreads``, then does ``TS`` multiply-adds from shared
        memory.

        Global loads fall by a factor ``TS`` to ``2·M·N·K/TS``; shared memory holds
        ``2·TS²·itemsize`` bytes (8 KiB for float32 at TS=32); reads of ``As[ty, k]`` are a warp-wide
        broadcast and of ``Bs[k, tx]`` conflict-free. Still one output per thread, so each FMA needs
        two shared-memory loads: the kernel is now bound by shared-memory bandwidth.
        """
        As = cuda.shared.array((TS, TS), T)
        Bs = cuda.shared.array((TS, TS), T)
        z = cuda.blockIdx.z
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col = cuda.blockIdx.x * TS + tx
        row = cuda.blockIdx.y * TS + ty
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        acc = T(0)
        for k0 in range(0, K, TS):
            ka, kb = k0 + tx, k0 + ty
            As[ty, tx] = A[z, row, ka] if (row < M and ka < K) else T(0)
            Bs[ty, tx] = B[z, kb, col] if (kb < K and col < N) else T(0)
            cuda.syncthreads()
            for k in range(TS):
                acc += As[ty, k] * Bs[k, tx]
            cuda.syncthreads()
        if row < M and col < N:
            C[z, row, col] = acc
    return matmul_smem_tiled


def _make_blocktile_1d(T):
    BM, BN, BK, TM = BT1_BM, BT1_BN, BT1_BK, BT1_TM

    def matmul_blocktile_1d(A, B, C):
        """1-D register blocking: a block of ``BM·BN/TM`` threads computes a ``BM×BN`` tile of C and
        each thread a column of ``TM`` outputs, kept in a ``cuda.local.array`` (registers once the
        loops unroll). Per K step the block stages a ``BM×BK`` slab of A and a ``BK×BN`` slab of B
        in shared memory (``(BM + BN)·BK·itemsize`` bytes, 4 KiB for float32), one element of each
        per thread.

        In the inner loop one ``Bs`` value (a register) is reused for ``TM`` FMAs, so shared-memory
        loads per FMA fall from 2 to ``(1 + TM)/TM``; global loads are ``M·N·K·(1/BN + 1/BM)``.
        """
        As = cuda.shared.array((BM, BK), T)
        Bs = cuda.shared.array((BK, BN), T)
        acc = cuda.local.array(TM, T)
        z = cuda.blockIdx.z
        t = cuda.threadIdx.x
        tcol, trow = t % BN, t // BN           # this thread's outputs: rows trow*TM .. +TM, column tcol
        a_row, a_col = t // BK, t % BK          # the A element this thread stages
        b_row, b_col = t // BN, t % BN          # the B element this thread stages
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        for i in range(TM):
            acc[i] = T(0)
        for k0 in range(0, K, BK):
            r, c = row0 + a_row, k0 + a_col
            As[a_row, a_col] = A[z, r, c] if (r < M and c < K) else T(0)
            r, c = k0 + b_row, col0 + b_col
            Bs[b_row, b_col] = B[z, r, c] if (r < K and c < N) else T(0)
            cuda.syncthreads()
            for d in range(BK):
                b = Bs[d, tcol]
                for i in range(TM):
                    acc[i] += As[trow * TM + i, d] * b
            cuda.syncthreads()
        c = col0 + tcol
        for i in range(TM):
            r = row0 + trow * TM + i
            if r < M and c < N:
                C[z, r, c] = acc[i]
    return matmul_blocktile_1d


def _make_blocktile_2d(T):
    BM, BN, BK, TM, TN = BT2_BM, BT2_BN, BT2_BK, BT2_TM, BT2_TN
    NT = (BM // TM) * (BN // TN)               # threads per block
    ACC = TM * TN                              # accumulators per thread (a compile-time constant)
    A_STRIDE = NT // BK                        # rows of the A slab staged per pass
    B_STRIDE = NT // BN                        # rows of the B slab staged per pass

    def matmul_blocktile_2d(A, B, C):
        """2-D register blocking: each of ``(BM/TM)·(BN/TN)`` threads computes a ``TM×TN`` sub-tile
        of the block's ``BM×BN`` tile of C (``TM·TN`` accumulators plus ``TM + TN`` operand
        registers, all ``cuda.local.array``). Per K step the block stages ``BM×BK`` of A and
        ``BK×BN`` of B in shared memory (8 KiB for float32), each thread loading
        ``(BM + BN)·BK/NT`` elements in coalesced passes.

        The inner step is an outer product: ``TM + TN`` shared-memory loads feed ``TM·TN`` FMAs
        (16 loads for 64 FMAs at 8×8), and global loads are ``M·N·K·(1/BN + 1/BM)``. This is the
        backend's ``matmul``. Register pressure is the limit: ~90 registers a thread at 8×8.
        """
        As = cuda.shared.array((BM, BK), T)
        Bs = cuda.shared.array((BK, BN), T)
        acc = cuda.local.array(ACC, T)
        reg_m = cuda.local.array(TM, T)
        reg_n = cuda.local.array(TN, T)
        z = cuda.blockIdx.z
        t = cuda.threadIdx.x
        tcol, trow = t % (BN // TN), t // (BN // TN)
        a_row, a_col = t // BK, t % BK
        b_row, b_col = t // BN, t % BN
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        for i in range(ACC):
            acc[i] = T(0)
        for k0 in range(0, K, BK):
            for off in range(0, BM, A_STRIDE):
                r, c = row0 + a_row + off, k0 + a_col
                As[a_row + off, a_col] = A[z, r, c] if (r < M and c < K) else T(0)
            for off in range(0, BK, B_STRIDE):
                r, c = k0 + b_row + off, col0 + b_col
                Bs[b_row + off, b_col] = B[z, r, c] if (r < K and c < N) else T(0)
            cuda.syncthreads()
            for d in range(BK):
                for i in range(TM):
                    reg_m[i] = As[trow * TM + i, d]
                for j in range(TN):
                    reg_n[j] = Bs[d, tcol * TN + j]
                for i in range(TM):
                    for j in range(TN):
                        acc[i * TN + j] += reg_m[i] * reg_n[j]
            cuda.syncthreads()
        for i in range(TM):
            r = row0 + trow * TM + i
            for j in range(TN):
                c = col0 + tcol * TN + j
                if r < M and c < N:
                    C[z, r, c] = acc[i * TN + j]
    return matmul_blocktile_2d


def _make_conflict_free(T):
    BM, BN, BK, TM, TN = BT2_BM, BT2_BN, BT2_BK, BT2_TM, BT2_TN
    TX, TY = BN // TN, BM // TM                # 16×16 threads
    NT = TX * TY
    ACC = TM * TN
    A_STRIDE = NT // BK
    B_STRIDE = NT // BN
    AS_ROW = BM + 4                            # padded AsT rows: the transposing stores hit all 32 banks

    def matmul_conflict_free(A, B, C):
        """``blocktile_2d`` with shared memory read without bank conflicts.

        Two changes. A's slab is stored transposed, ``AsT[k, m]``, so a thread's ``TM`` values of one
        ``k`` sit in one row. And a thread's ``TM×TN`` outputs are strided rather than contiguous: rows
        ``ty + i·TY`` and columns ``tx + j·TX`` of the tile. In ``blocktile_2d`` the 16 column groups
        of a warp read ``Bs[d, tcol·8 + j]`` eight floats apart, so four threads share each bank (a
        4-way conflict on every operand load); here a warp reads ``Bs[d, tx + j·16]``, 16 consecutive
        floats (and the two ``ty`` of a warp read one ``AsT`` address, a broadcast). The transposing
        stores of A would conflict 8-way; padding each ``AsT`` row by 4 floats spreads them over all 32
        banks. The strided outputs also make the final stores coalesced (16 consecutive floats per
        row). Same FLOPs, shared memory ``(BK·(BM + 4) + BK·BN)·itemsize`` (8.3 KiB for float32), and
        global traffic as ``blocktile_2d``.
        """
        AsT = cuda.shared.array((BK, AS_ROW), T)
        Bs = cuda.shared.array((BK, BN), T)
        acc = cuda.local.array(ACC, T)
        reg_m = cuda.local.array(TM, T)
        reg_n = cuda.local.array(TN, T)
        z = cuda.blockIdx.z
        t = cuda.threadIdx.x
        tx, ty = t % TX, t // TX
        a_row, a_col = t // BK, t % BK
        b_row, b_col = t // BN, t % BN
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        for i in range(ACC):
            acc[i] = T(0)
        for k0 in range(0, K, BK):
            for off in range(0, BM, A_STRIDE):
                r, c = row0 + a_row + off, k0 + a_col
                AsT[a_col, a_row + off] = A[z, r, c] if (r < M and c < K) else T(0)
            for off in range(0, BK, B_STRIDE):
                r, c = k0 + b_row + off, col0 + b_col
                Bs[b_row + off, b_col] = B[z, r, c] if (r < K and c < N) else T(0)
            cuda.syncthreads()
            for d in range(BK):
                for i in range(TM):
                    reg_m[i] = AsT[d, ty + i * TY]
                for j in range(TN):
                    reg_n[j] = Bs[d, tx + j * TX]
                for i in range(TM):
                    for j in range(TN):
                        acc[i * TN + j] += reg_m[i] * reg_n[j]
            cuda.syncthreads()
        for i in range(TM):
            r = row0 + ty + i * TY
            for j in range(TN):
                c = col0 + tx + j * TX
                if r < M and c < N:
                    C[z, r, c] = acc[i * TN + j]
    return matmul_conflict_free


def _make_double_buffered(T):
    BM, BN, BK, TM, TN = BT2_BM, BT2_BN, BT2_BK, BT2_TM, BT2_TN
    TX, TY = BN // TN, BM // TM
    NT = TX * TY
    ACC = TM * TN
    A_STRIDE = NT // BK
    B_STRIDE = NT // BN
    A_LOADS = BM // A_STRIDE                   # elements of each slab one thread stages
    B_LOADS = BK // B_STRIDE
    AS_ROW = BM + 4

    def matmul_double_buffered(A, B, C):
        """``conflict_free`` with the next K slab in flight while the current one is multiplied.

        In the rungs before, a block loads a slab, waits at ``syncthreads``, computes, waits again:
        while its loads are in flight (hundreds of cycles from DRAM or L2) it has nothing to do, and
        only other resident blocks hide the latency. Here each thread first issues the global loads
        of slab ``k+1`` into registers (``A_LOADS + B_LOADS`` of them), then does the ``BK·TM·TN``
        FMAs of slab ``k`` from one of two shared buffers, and only then stores the registers into
        the other buffer — so the loads overlap the arithmetic. Two buffers also need one
        ``syncthreads`` per slab instead of two: nobody writes the buffer being read. Cost: twice the
        shared memory (16.5 KiB for float32) and ``A_LOADS + B_LOADS`` (8) more registers.
        """
        AsT = cuda.shared.array((2, BK, AS_ROW), T)
        Bs = cuda.shared.array((2, BK, BN), T)
        acc = cuda.local.array(ACC, T)
        reg_m = cuda.local.array(TM, T)
        reg_n = cuda.local.array(TN, T)
        next_a = cuda.local.array(A_LOADS, T)
        next_b = cuda.local.array(B_LOADS, T)
        z = cuda.blockIdx.z
        t = cuda.threadIdx.x
        tx, ty = t % TX, t // TX
        a_row, a_col = t // BK, t % BK
        b_row, b_col = t // BN, t % BN
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        M, K, N = A.shape[1], A.shape[2], B.shape[2]
        for i in range(ACC):
            acc[i] = T(0)
        for s in range(A_LOADS):
            r, c = row0 + a_row + s * A_STRIDE, a_col
            AsT[0, a_col, a_row + s * A_STRIDE] = A[z, r, c] if (r < M and c < K) else T(0)
        for s in range(B_LOADS):
            r, c = b_row + s * B_STRIDE, col0 + b_col
            Bs[0, b_row + s * B_STRIDE, b_col] = B[z, r, c] if (r < K and c < N) else T(0)
        cuda.syncthreads()
        cur = 0
        for k0 in range(0, K, BK):
            more = k0 + BK < K
            if more:
                for s in range(A_LOADS):
                    r, c = row0 + a_row + s * A_STRIDE, k0 + BK + a_col
                    next_a[s] = A[z, r, c] if (r < M and c < K) else T(0)
                for s in range(B_LOADS):
                    r, c = k0 + BK + b_row + s * B_STRIDE, col0 + b_col
                    next_b[s] = B[z, r, c] if (r < K and c < N) else T(0)
            for d in range(BK):
                for i in range(TM):
                    reg_m[i] = AsT[cur, d, ty + i * TY]
                for j in range(TN):
                    reg_n[j] = Bs[cur, d, tx + j * TX]
                for i in range(TM):
                    for j in range(TN):
                        acc[i * TN + j] += reg_m[i] * reg_n[j]
            if more:
                for s in range(A_LOADS):
                    AsT[1 - cur, a_col, a_row + s * A_STRIDE] = next_a[s]
                for s in range(B_LOADS):
                    Bs[1 - cur, b_row + s * B_STRIDE, b_col] = next_b[s]
            cuda.syncthreads()
            cur = 1 - cur
        for i in range(TM):
            r = row0 + ty + i * TY
            for j in range(TN):
                c = col0 + tx + j * TX
                if r < M and c < N:
                    C[z, r, c] = acc[i * TN + j]
    return matmul_double_buffered


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Variant:
    """One rung of the ladder: how to build its kernel for a dtype and how to launch it."""

    name: str
    make: Callable
    block: tuple[int, int, int]
    tile: tuple[int, int]          # (rows, cols) of C one block computes
    rows_on_x: bool = False        # True: grid x walks rows of C (only `naive`)

    def python(self, dtype) -> Callable:
        """The undecorated kernel function for ``dtype`` (what ``cuda.compile_ptx`` takes)."""
        return self.make(numba.from_dtype(np.dtype(dtype)))

    def kernel(self, dtype):
        """The ``cuda.jit`` kernel for ``dtype`` (built once per dtype)."""
        return _jitted(self.name, np.dtype(dtype).str)

    def launch(self, M: int, N: int, Z: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """``(grid, block)`` covering an ``M×N`` output for ``Z`` batch entries."""
        rows, cols = _cdiv(M, self.tile[0]), _cdiv(N, self.tile[1])
        grid = (rows, cols, Z) if self.rows_on_x else (cols, rows, Z)
        return grid, self.block

    def signature(self, dtype) -> tuple:
        """Argument types for ``cuda.compile_ptx``: three C-contiguous 3-D arrays of ``dtype``."""
        arr = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 3, "C")
        return (arr, arr, arr)

    @property
    def threads(self) -> int:
        return math.prod(self.block)


VARIANTS: dict[str, Variant] = {
    "naive": Variant("naive", _make_naive, (NAIVE_BLOCK, NAIVE_BLOCK, 1), (NAIVE_BLOCK, NAIVE_BLOCK), rows_on_x=True),
    "coalesced": Variant("coalesced", _make_coalesced, (NAIVE_BLOCK, NAIVE_BLOCK, 1), (NAIVE_BLOCK, NAIVE_BLOCK)),
    "smem_tiled": Variant("smem_tiled", _make_smem_tiled, (SMEM_TILE, SMEM_TILE, 1), (SMEM_TILE, SMEM_TILE)),
    "blocktile_1d": Variant("blocktile_1d", _make_blocktile_1d, (BT1_BM * BT1_BN // BT1_TM, 1, 1), (BT1_BM, BT1_BN)),
    "blocktile_2d": Variant("blocktile_2d", _make_blocktile_2d,
                            ((BT2_BM // BT2_TM) * (BT2_BN // BT2_TN), 1, 1), (BT2_BM, BT2_BN)),
    "conflict_free": Variant("conflict_free", _make_conflict_free,
                             ((BT2_BM // BT2_TM) * (BT2_BN // BT2_TN), 1, 1), (BT2_BM, BT2_BN)),
    "double_buffered": Variant("double_buffered", _make_double_buffered,
                               ((BT2_BM // BT2_TM) * (BT2_BN // BT2_TN), 1, 1), (BT2_BM, BT2_BN)),
}
"""The ladder, slowest first. Every rung is tested against the reference and benchmarked."""

DEFAULT = "blocktile_2d"
"""The rung the backend's ``matmul`` entry uses. Not yet chosen by measurement: ``conflict_free`` and
``double_buffered`` should be faster, and ``python -m bench gpu --backend numba`` times every rung
against cuBLAS so the fastest can take its place."""

# The 1-D and 2-D kernels index their staging loads by thread id; these must hold for them to be right.
assert BT1_BM * BT1_BK == BT1_BN * BT1_BK == BT1_BM * BT1_BN // BT1_TM
assert ((BT2_BM // BT2_TM) * (BT2_BN // BT2_TN)) % BT2_BK == 0 and ((BT2_BM // BT2_TM) * (BT2_BN // BT2_TN)) % BT2_BN == 0


@functools.lru_cache(maxsize=None)
def _jitted(name: str, dtype: str):
    return cuda.jit(VARIANTS[name].python(np.dtype(dtype)))
