"""Every Numba-CUDA kernel compiles to PTX for sm_90 (``numba.cuda.compile_ptx``): a real type and
codegen check with no GPU, including the warp-shuffle code the simulator cannot run.

This needs the real ``numba.cuda``, so it runs in a process without ``NUMBA_ENABLE_CUDASIM``; the
simulator tests (``test_numba_sim.py``) run in their own process. Importing this module imports
``numba.cuda`` at collection time, which also fixes the main test process to the real one.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("PTX compile check needs the real numba.cuda; this process runs Numba's CUDA simulator "
                "(it runs in the plain `pytest` process)", allow_module_level=True)

numba = pytest.importorskip("numba", reason="numba is not installed")
from numba import cuda  # noqa: E402

if numba.config.ENABLE_CUDASIM:
    pytest.skip("numba.cuda in this process is the simulator (NUMBA_ENABLE_CUDASIM was set when numba was "
                "first imported); run the PTX check in a fresh process", allow_module_level=True)

from tensorcore.kernels.numba import conv, elementwise, loss, lstm, matmul, optim, pool, reduction, softmax  # noqa: E402

CC = (9, 0)
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module", autouse=True)
def nvvm_and_target():
    """Skip without NVVM; compile device functions for sm_90 without a driver.

    A kernel that calls a ``cuda.jit(device=True)`` function compiles that function through its
    dispatcher, which asks the *current device* for its compute capability — there is none here.
    ``compile_ptx`` itself takes ``cc``, so the dispatcher is told the same target for the duration
    of this module.
    """
    try:
        cuda.compile_ptx(lambda a: None, (numba.float32[::1],), cc=CC)
    except Exception as exc:  # NVVM / libdevice missing or unusable
        pytest.skip(f"NVVM is not usable, so no PTX can be compiled ({type(exc).__name__}: {exc}); "
                    "install numba-cuda with its CUDA extras (numba-cuda[cu13])")
    import numba.cuda.dispatcher as dispatcher

    class _Target:
        compute_capability = CC

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _Target()
    yield
    dispatcher.get_current_device = saved


def _ptx(fn, sig) -> str:
    ptx, _ = cuda.compile_ptx(fn, sig, cc=CC)
    assert ".target sm_90" in ptx and ".entry" in ptx
    return ptx


def _no_f64_math(ptx: str) -> bool:
    """No float64 arithmetic or conversion in a float32 kernel (a stray ``0.5`` promotes to float64)."""
    return re.search(r"\.f64\b", ptx) is None


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(matmul.VARIANTS))
def test_matmul_variant_compiles(name, dtype):
    v = matmul.VARIANTS[name]
    ptx = _ptx(v.python(dtype), v.signature(dtype))
    if name not in ("naive", "coalesced"):
        assert ".shared" in ptx
    if name not in ("naive", "coalesced", "smem_tiled"):
        # The cuda.local.array accumulators were promoted to registers (no local-memory traffic in the
        # PTX; ptxas can still spill on the GPU, which only a real build with -v would show).
        assert "ld.local" not in ptx and "st.local" not in ptx
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("variant", softmax.VARIANTS)
def test_softmax_compiles(variant, backward, log, dtype):
    threads = 128 if variant == "warp" else 256
    ptx = _ptx(softmax.python(variant, backward, dtype, threads, log), softmax.signature(backward, dtype))
    if variant == "warp":
        assert "shfl.sync.bfly" in ptx and "bar.sync" not in ptx
    else:
        assert ".shared" in ptx and "bar.sync" in ptx
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_cross_entropy_compiles(dtype):
    fwd, bwd = loss.signatures(dtype)
    ptx_f = _ptx(loss.python_forward(dtype, 256), fwd)
    ptx_b = _ptx(loss.cross_entropy_backward, bwd)
    if dtype is np.float32:
        assert _no_f64_math(ptx_f) and _no_f64_math(ptx_b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", reduction.KINDS)
def test_reduction_compiles(kind, dtype):
    ptx = _ptx(reduction.python(kind, dtype, 256), reduction.signature(dtype))
    middle = _ptx(reduction.python_middle(kind, dtype), reduction.signature_middle(dtype))
    assert ".shared" in middle and "bar.sync" in middle
    if dtype is np.float32:
        assert _no_f64_math(ptx) and _no_f64_math(middle)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(elementwise.UNARY))
def test_unary_elementwise_compiles(name, dtype):
    k = elementwise.UNARY[name]
    ptx = _ptx(k.python(), k.signature(dtype))
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(elementwise.BINARY))
def test_binary_elementwise_compiles(name, dtype):
    k = elementwise.BINARY[name]
    for kind in ("contiguous", "broadcast"):
        ptx = _ptx(k.python(kind), k.signature(dtype, kind, ndim=3))
        if dtype is np.float32:
            assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", pool.KINDS)
def test_pool_compiles(kind, dtype):
    ptx = _ptx(pool.python(kind, dtype), pool.signature(kind, dtype))
    if kind == "max_backward_scatter":
        assert re.search(r"\b(atom|red)\.global\.add\.f(32|64)\b", ptx)
    else:
        assert "atom." not in ptx and "red." not in ptx      # gathers write each element once
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", lstm.KINDS)
def test_lstm_cell_compiles(kind, dtype):
    ptx = _ptx(lstm.python(kind, dtype), lstm.signature(kind, dtype))
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", conv.KINDS)
def test_conv_data_movement_compiles(name, dtype):
    ptx = _ptx(conv.python(name, dtype), conv.signature(name, dtype))
    assert "atom." not in ptx and "red." not in ptx      # col2im gathers: each input gradient written once
    if dtype is np.float32:
        assert _no_f64_math(ptx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fused_adam_compiles(dtype):
    ptx = _ptx(optim.python("adam", dtype), optim.signature("adam", dtype))
    if dtype is np.float32:
        assert "sqrt.rn.f32" in ptx and _no_f64_arithmetic(ptx)


def _no_f64_arithmetic(ptx: str) -> bool:
    """The optimizer kernels take float64 scalars and convert them once (``cvt.*.f64``); no arithmetic
    may be done in float64 in a float32 kernel."""
    return re.search(r"\b(?:add|sub|mul|neg|abs|fma|div|sqrt|max|min)(?:\.rn)?\.f64\b", ptx) is None


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fused_sgd_compiles(dtype):
    ptx = _ptx(optim.python("sgd", dtype), optim.signature("sgd", dtype))
    if dtype is np.float32:
        assert _no_f64_arithmetic(ptx)
