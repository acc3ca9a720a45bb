"""The Numba-CUDA backend under Numba's CUDA simulator, against the NumPy reference.

The simulator replaces ``numba.cuda`` for the whole process and must be switched on before numba is
first imported, while the PTX compile check (``test_numba_ptx.py``) needs the real ``numba.cuda``.
So the simulated tests here run only when ``NUMBA_ENABLE_CUDASIM=1`` is already in the environment,
and in a plain ``pytest`` run :func:`test_simulator_suite_in_subprocess` runs this module in a fresh
process with it set. Nothing in this module imports numba in the plain process.

Shapes are small (every simulated thread is a Python thread) but cross tile edges: 17×33×9 in a
batch of 3 for matmul, rows of 33 for the row kernels with fewer threads than elements.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
sim = pytest.mark.skipif(not SIMULATED, reason="runs under Numba's CUDA simulator, in the subprocess "
                                               "started by test_simulator_suite_in_subprocess")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
DTYPES = [np.float32, np.float64]


# --------------------------------------------------------------------------- plain process

def test_simulator_suite_in_subprocess():
    """Run this module and its siblings ``test_numba_sim_*.py`` with NUMBA_ENABLE_CUDASIM=1 in a fresh
    interpreter; they must pass, not skip."""
    if SIMULATED:
        pytest.skip("this process is the simulator run itself")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    modules = sorted(str(f) for f in Path(__file__).resolve().parent.glob("test_numba_sim*.py"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)
    report = proc.stdout[-8000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"simulator run failed:\n{report}"
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 20, f"simulator run passed too few tests:\n{report}"
    assert "failed" not in proc.stdout.splitlines()[-1]


def test_plain_process_did_not_import_numba_cuda_for_the_simulator():
    """The plain run must not have switched numba.cuda to the simulator (the PTX check needs the real one)."""
    if SIMULATED:
        pytest.skip("this process is the simulator run itself")
    numba = sys.modules.get("numba")
    if numba is not None:
        assert not numba.config.ENABLE_CUDASIM


def test_out_of_memory_message_says_how_much(monkeypatch):
    """The wrapper for CuPy's OutOfMemoryError names the op, the request and what is free."""
    import types

    from tensorcore.device import OutOfMemoryError, out_of_memory_error

    pool = types.SimpleNamespace(total_bytes=lambda: 3 * 2**30, free_bytes=lambda: 2**30)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
        memGetInfo=lambda: (2**29, 80 * 2**30))), get_default_memory_pool=lambda: pool)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    err = out_of_memory_error("matmul", 5 * 2**30)
    assert isinstance(err, OutOfMemoryError) and isinstance(err, RuntimeError)
    msg = str(err)
    assert msg.startswith("matmul: out of GPU memory: tried to allocate 5.00 GiB")
    assert "0.50 GiB free of 80.00 GiB" in msg and "3.00 GiB (1.00 GiB of it cached and unused)" in msg
    monkeypatch.setitem(sys.modules, "cupy", None)  # no CuPy at all: still a clear message
    assert str(out_of_memory_error("to(cuda)", 2**20)).startswith("to(cuda): out of GPU memory: tried to allocate 0.00 GiB (1048576 bytes)")


# --------------------------------------------------------------------------- simulator process

@pytest.fixture(scope="module")
def nb():
    if not SIMULATED:
        pytest.skip("needs the simulator")
    import tensorcore as tc

    backend = tc.backends.get("numba")
    from tensorcore.backends import numba as glue

    return backend, glue


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _close(got, expected, dtype=None, scale=1.0):
    dtype = np.dtype(dtype or expected.dtype).type
    assert type(got) is type(expected) or isinstance(got, np.ndarray)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    tol = {k: v * scale for k, v in TOL[dtype].items()}
    np.testing.assert_allclose(got, expected, equal_nan=True, **tol)


@sim
def test_backend_is_the_cuda_default_and_lists_its_entries(nb):
    import tensorcore as tc

    backend, glue = nb
    assert tc.backends.default("cuda") is backend
    table = backend.table()
    assert {e for e, how in table.items() if how == "handwritten"} == set(glue.HANDWRITTEN)
    assert table["argmax"] == "reference"


@sim
@pytest.mark.parametrize("name", ["naive", "coalesced", "smem_tiled", "blocktile_1d", "blocktile_2d", "conflict_free",
                                  "double_buffered"])
def test_matmul_variants_batched(nb, name):
    _, glue = nb
    rng = np.random.default_rng(1)
    a, b = _rand(rng, (3, 17, 33), np.float32), _rand(rng, (3, 33, 9), np.float32)
    _close(glue.matmul_variant(a, b, name), a @ b, scale=4)


@sim
@pytest.mark.parametrize("name", ["smem_tiled", "blocktile_1d", "blocktile_2d", "conflict_free", "double_buffered"])
def test_matmul_variants_cross_block_tiles(nb, name):
    """One more row and column than a block's tile, and K one more than the K slab (so a second slab
    is partly outside, and ``double_buffered`` swaps its buffers)."""
    from tensorcore.kernels.numba.matmul import VARIANTS

    _, glue = nb
    rows, cols = VARIANTS[name].tile
    rng = np.random.default_rng(2)
    a, b = _rand(rng, (rows + 1, 9), np.float64), _rand(rng, (9, cols + 1), np.float64)
    _close(glue.matmul_variant(a, b, name), a @ b)


@sim
def test_matmul_entry_shapes_dtypes_and_fallbacks(nb):
    backend, glue = nb
    rng = np.random.default_rng(3)
    a, b = _rand(rng, (2, 3, 5, 7), np.float64), _rand(rng, (2, 3, 7, 4), np.float64)
    _close(backend.matmul(a, b), a @ b)
    x, w = _rand(rng, (17, 33), np.float32), _rand(rng, (33, 9), np.float32)
    _close(backend.matmul(x, w), x @ w, scale=4)
    _close(backend.matmul(x.T, x), x.T @ x, scale=4)                     # non-contiguous input
    _close(backend.matmul(np.ones((3, 0)), np.ones((0, 4))), np.zeros((3, 4)))   # K = 0
    assert backend.matmul(np.ones((0, 2)), np.ones((2, 4))).shape == (0, 4)
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(backend.matmul(ints, ints.T), ints @ ints.T)  # int64: reference
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: a is \(2, 3\), b is \(2, 3\)"):
        backend.matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="unknown variant 'fast'"):
        glue.matmul_variant(x, w, "fast")
    with pytest.raises(TypeError, match="matmul_variant: expected two device arrays"):
        glue.matmul_variant(x, w.astype(np.float64), "naive")


@sim
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_forward_and_backward(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    rng = np.random.default_rng(4)
    x = _rand(rng, (3, 5, 33), dtype) * 3
    x[0, 0] = -np.inf                          # a row of -inf: probabilities 0 -> reference's NaN/0 rules
    x[0, 1, :5] = -np.inf
    x[1, 2, 7] = 1e4                           # large logits stay finite
    g = _rand(rng, x.shape, dtype)
    for name in ("softmax", "log_softmax"):
        y = getattr(backend, name)(x)
        _close(y, getattr(R, name)(x), scale=4)
        ry = getattr(R, name)(x)
        fin = np.where(np.isfinite(ry), ry, 0).astype(dtype)
        _close(getattr(backend, name + "_backward")(fin, g), getattr(R, name + "_backward")(fin, g), scale=4)
    t = _rand(rng, (4, 7), dtype).T            # non-contiguous
    _close(backend.softmax(t), R.softmax(t), scale=4)


@sim
def test_warp_softmax_needs_a_real_gpu(nb):
    _, glue = nb
    with pytest.raises(RuntimeError, match="warp shuffles need a real GPU"):
        glue.softmax_variant(np.ones((2, 3), np.float32), "warp")
    _close(glue.softmax_variant(np.ones((2, 3), np.float32), "block"), np.full((2, 3), 1 / 3, np.float32))


@sim
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_forward_and_backward(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    rng = np.random.default_rng(5)
    logits = _rand(rng, (17, 33), dtype) * 4
    target = rng.integers(0, 33, 17)
    target[:2] = [0, 32]
    losses, logp = backend.cross_entropy(logits, target)
    ref_losses, ref_logp = R.cross_entropy(logits, target)
    _close(losses, ref_losses, scale=4)
    _close(logp, ref_logp, scale=4)
    grad = _rand(rng, 17, dtype)
    _close(backend.cross_entropy_backward(ref_logp, target, grad), R.cross_entropy_backward(ref_logp, target, grad))


@sim
@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_over_adjacent_axes(nb, dtype):
    """Last-axis runs take the row kernel, others the middle-axis kernel (37 columns: the last block of
    outputs only partly used); non-adjacent axes go to the reference. NaN propagates in max / min. The
    full reduction is one row of 370, which the glue splits in two chunks: the two-pass path."""
    from tensorcore.backends import reference as R

    backend, _ = nb
    rng = np.random.default_rng(6)
    x = _rand(rng, (2, 5, 37), dtype)
    x[1, 3, 4] = np.nan
    every = [((2,), False), (-1, True), ((0,), False), ((1,), True), ((0, 1), False), ((1, 2), True), (None, False),
             ((0, 2), False)]
    for kind in ("sum", "mean", "max", "min"):
        for axis, keep in every if kind == "sum" else [((1,), True), ((1, 2), False)]:
            _close(getattr(backend, kind)(x, axis, keep), getattr(R, kind)(x, axis, keep), scale=4)
        col = x[:, :, 5:6].copy()     # (2, 5, 1): a middle-axis run with I == 1 is a row reduction
        _close(getattr(backend, kind)(col, (1,), False), getattr(R, kind)(col, (1,), False), scale=4)
        v = x[0, 0]
        _close(np.asarray(getattr(backend, kind)(v, None, False)), np.asarray(getattr(R, kind)(v, None, False)),
               scale=4)
    np.testing.assert_array_equal(backend.sum(np.arange(6).reshape(2, 3), (1,), False), [3, 12])


UNARY = ["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "relu_backward", "tanh_backward", "sigmoid_backward"]


@sim
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_elementwise(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    rng = np.random.default_rng(7)
    x = _rand(rng, (3, 11), dtype) * 3
    x[0, :4] = [0.0, np.inf, -np.inf, np.nan]
    pos = np.abs(x)
    with np.errstate(all="ignore"):
        for name in UNARY:
            arg = pos if name in ("log", "sqrt") else x
            _close(getattr(backend, name)(arg), getattr(R, name)(arg), scale=2)
            _close(getattr(backend, name)(arg.T), getattr(R, name)(arg.T), scale=2)   # non-contiguous
        _close(backend.log(-pos[:1]), R.log(-pos[:1]))                              # log(-x) = nan, log(0) = -inf
    np.testing.assert_array_equal(backend.neg(np.arange(3)), [0, -1, -2])           # int64: reference


@sim
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_elementwise_with_broadcasting_and_scalars(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    rng = np.random.default_rng(8)
    a, b = _rand(rng, (3, 11), dtype), _rand(rng, (3, 11), dtype)
    bias, col = _rand(rng, (11,), dtype), _rand(rng, (3, 1), dtype)
    a[0, 0], b[0, 1] = np.nan, np.nan
    for name in BINARY:
        f, ref = getattr(backend, name), getattr(R, name)
        _close(f(a, b), ref(a, b), scale=2)
        _close(f(a, bias), ref(a, bias), scale=2)          # (3, 11) with (11,)
        _close(f(col, bias), ref(col, bias), scale=2)      # (3, 1) with (11,) -> (3, 11)
        _close(f(a.T, b.T), ref(a.T, b.T), scale=2)        # non-contiguous
        zero_d = np.asarray(dtype(0.75))
        _close(f(a, zero_d), ref(a, zero_d), scale=2)      # 0-d array operand
        if not name.endswith("_backward"):
            _close(f(a, 2.0), ref(a, 2.0), scale=2)        # Python scalars take the array's dtype
            _close(f(3, a), ref(3, a), scale=2)
    np.testing.assert_array_equal(backend.add(np.arange(3), 1), [1, 2, 3])      # int64: reference
    assert backend.add(a.astype(np.float32), a.astype(np.float64)).dtype == np.float64  # mixed: reference
    with pytest.raises(ValueError, match=r"add: shapes \(3, 11\) and \(4,\) are not broadcastable"):
        backend.add(a, np.ones(4, dtype))


@sim
def test_one_training_step_of_an_mlp_matches_cpu():
    """Forward, cross-entropy, backward and an SGD update on simulated cuda (numba backend) give the
    parameters the cpu run gives."""
    import tensorcore as tc
    import tensorcore.nn.functional as F

    assert tc.backends.current("cuda").name == "numba"
    rng = np.random.default_rng(9)
    x = _rand(rng, (17, 13), np.float32)
    target = rng.integers(0, 5, 17)
    init = [_rand(rng, (13, 33), np.float32) * 0.3, _rand(rng, (33,), np.float32) * 0.1,
            _rand(rng, (33, 5), np.float32) * 0.3, _rand(rng, (5,), np.float32) * 0.1]

    def step(device):
        params = [tc.tensor(p, device=device, requires_grad=True) for p in init]
        w1, b1, w2, b2 = params
        xs, ts = tc.tensor(x, device=device), tc.tensor(target, device=device)
        h = (xs @ w1 + b1).relu()
        z = (h @ w2 + b2).sigmoid() * 4 - 2     # exercise more elementwise kernels on the way
        loss = F.cross_entropy(z, ts)
        loss.backward()
        with tc.no_grad():
            new = [(p - 0.5 * p.grad).cpu().numpy() for p in params]
        return loss.item(), new

    loss_cpu, cpu = step("cpu")
    loss_cuda, cuda = step("cuda")
    np.testing.assert_allclose(loss_cuda, loss_cpu, rtol=1e-5)
    for got, expected, before in zip(cuda, cpu, init):
        assert not np.allclose(expected, before)    # the step moved every parameter
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


@sim
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_adam_step_matches_the_reference(nb, dtype):
    """Three steps of every Adam flavour (plain, L2 weight decay, AdamW, AMSGrad, maximize) update the
    parameter and the state in place as the reference does; a strided parameter takes the reference."""
    backend, glue = nb
    from tensorcore.backends import reference

    assert backend.table()["adam_step"] == "handwritten"
    rng = np.random.default_rng(12)
    for wd, decoupled, amsgrad, maximize in ((0.0, False, False, False), (0.1, False, True, False),
                                             (0.1, True, False, True), (0.0, False, True, True)):
        p0, g = _rand(rng, (5, 13), dtype), _rand(rng, (5, 13), dtype)
        states = []
        for impl in (glue.adam_step, reference.adam_step):
            p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            vmax = np.zeros_like(p0) if amsgrad else None
            for step in (1, 2, 3):
                impl(p, g * step, m, v, vmax, step, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled, maximize)
            states.append([p, m, v] + ([vmax] if amsgrad else []))
        for got, expected in zip(*states):
            _close(got, expected, scale=0.2)     # float32: rtol 2e-6, so a 1 - beta2 rounded in float32 fails
    p, m, v = np.ones((4, 6), dtype)[:, ::2], np.zeros((4, 3), dtype), np.zeros((4, 3), dtype)
    glue.adam_step(p, np.ones((4, 3), dtype), m, v, None, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False)
    np.testing.assert_allclose(p, 0.9, rtol=1e-5)        # the reference updated the strided view in place


@sim
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_sgd_step_matches_the_reference(nb, dtype):
    """Three steps of plain SGD, momentum with dampening, weight decay and maximize, and Nesterov; the
    buffer's contents before the first step are never read (it starts as NaN here)."""
    backend, glue = nb
    from tensorcore.backends import reference

    assert backend.table()["sgd_step"] == "handwritten"
    rng = np.random.default_rng(13)
    for momentum, dampening, wd, nesterov, maximize in ((0.0, 0.0, 0.0, False, False), (0.9, 0.1, 0.01, False, True),
                                                        (0.9, 0.0, 0.05, True, False)):
        p0 = _rand(rng, (5, 13), dtype)
        grads = [_rand(rng, (5, 13), dtype) for _ in range(3)]
        states = []
        for impl in (glue.sgd_step, reference.sgd_step):
            p = p0.copy()
            buf = np.full_like(p0, np.nan) if momentum else None
            for step, g in enumerate(grads):
                impl(p, g, buf, 0.1, momentum, dampening, wd, nesterov, maximize, step == 0)
            states.append((p, buf))
        for got, expected in zip(*states):
            if got is not None:
                _close(got, expected, scale=0.2)
