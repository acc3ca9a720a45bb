"""The Numba-CUDA pooling and LSTM-cell kernels under Numba's CUDA simulator, against the NumPy reference.

Runs only with ``NUMBA_ENABLE_CUDASIM=1`` already set (in the subprocess that
``tests/test_numba_sim.py::test_simulator_suite_in_subprocess`` starts); nothing here imports numba in
the plain process. Shapes are small and odd (every simulated thread is a Python thread) and the launch
sizes of the simulator (at most 4 blocks of 32 threads) make every kernel walk its grid-stride loop.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
pytestmark = pytest.mark.skipif(not SIMULATED, reason="runs under Numba's CUDA simulator, in the subprocess "
                                "started by tests/test_numba_sim.py::test_simulator_suite_in_subprocess")

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
ENTRIES = ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "lstm_cell", "lstm_cell_backward")

# (kernel, stride, padding): non-overlapping windows (max-pool backward gathers), overlapping ones
# (it scatters with atomics), a stride that skips rows, padding on one axis only.
POOL_CASES = [((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 1), (1, 1)), ((3, 3), (2, 1), (1, 1)),
              ((2, 2), (3, 3), (1, 0)), ((3, 3), (2, 2), (1, 1))]


@pytest.fixture(scope="module")
def nb():
    import tensorcore as tc

    backend = tc.backends.get("numba")
    from tensorcore.backends import numba as glue

    return backend, glue


def _close(got, expected, scale=1.0):
    assert isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype == expected.dtype, \
        (type(got), getattr(got, "shape", None), getattr(got, "dtype", None), expected.shape, expected.dtype)
    tol = {k: v * scale for k, v in TOL[expected.dtype.type].items()}
    np.testing.assert_allclose(got, expected, equal_nan=True, **tol)


def _pool_input(dtype):
    """``(2, 3, 7, 5)`` with ties along rows, a NaN, and a corner of -inf that padded windows see alone."""
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 5)).astype(dtype)
    x[..., ::3, 1] = x[..., ::3, 0]
    x[0, 1, 3, 2] = np.nan
    x[1, 2, :2, :2] = -np.inf
    return x


def test_entries_are_handwritten(nb):
    backend, glue = nb
    table = backend.table()
    assert all(table[e] == "handwritten" for e in ENTRIES), {e: table[e] for e in ENTRIES}
    assert set(ENTRIES) <= set(glue.HANDWRITTEN)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_forward_and_both_backward_strategies(nb, dtype, monkeypatch):
    from tensorcore.backends import reference as R

    backend, glue = nb
    used = []
    kernel_of = glue._pool.kernel
    monkeypatch.setattr(glue._pool, "kernel", lambda kind, dt: used.append(kind) or kernel_of(kind, dt))
    x = _pool_input(dtype)
    gy_rng = np.random.default_rng(2)
    for kernel, stride, padding in POOL_CASES:
        y, index = backend.max_pool2d(x, kernel, stride, padding)
        ry, rindex = R.max_pool2d(x, kernel, stride, padding)
        np.testing.assert_array_equal(y, ry)                     # exact, NaN where the reference has NaN
        assert index.dtype == np.int64
        np.testing.assert_array_equal(index, rindex)
        gy = gy_rng.standard_normal(y.shape).astype(dtype)
        expected = R.max_pool2d_backward(gy, rindex, x.shape)
        # The index the forward returned: windows that do not overlap take the gather.
        _close(backend.max_pool2d_backward(gy, index, x.shape), expected)
        non_overlapping = stride[0] >= kernel[0] and stride[1] >= kernel[1]
        assert used[-1] == ("max_backward_gather" if non_overlapping else "max_backward_scatter")
        # Any other index array (geometry unknown) takes the atomic scatter.
        _close(backend.max_pool2d_backward(gy, index.copy(), x.shape), expected)
        assert used[-1] == "max_backward_scatter"


def test_max_pool2d_nan_minus_inf_and_ties(nb):
    from tensorcore.backends import reference as R

    backend, _ = nb
    x = np.array([[[[1, np.nan, 3, 3], [2, 5, 5, np.nan], [-np.inf, -np.inf, 0, 1],
                    [-np.inf, -np.inf, 1, 1]]]], dtype=np.float32)
    for kernel, stride, padding in [((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (1, 1)), ((3, 3), (1, 1), (1, 1))]:
        y, index = backend.max_pool2d(x, kernel, stride, padding)
        ry, rindex = R.max_pool2d(x, kernel, stride, padding)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(index, rindex)
    # A padded window whose real elements are all -inf points at its first real element.
    x = np.full((1, 2, 5, 4), -np.inf)
    x[0, 1, 3:, 2:] = np.random.default_rng(3).standard_normal((2, 2))
    y, index = backend.max_pool2d(x, (3, 3), (2, 2), (1, 1))
    ry, rindex = R.max_pool2d(x, (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(index, rindex)
    assert index[0, 0, 0, 0] == 0 and index[0, 0, 2, 1] == 3 * 4 + 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d_forward_and_backward(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 5)).astype(dtype)
    gy_rng = np.random.default_rng(5)
    for kernel, stride, padding in POOL_CASES:
        for count_include_pad in (True, False):
            args = (kernel, stride, padding, count_include_pad)
            y = backend.avg_pool2d(x, *args)
            _close(y, R.avg_pool2d(x, *args), scale=2)
            gy = gy_rng.standard_normal(y.shape).astype(dtype)
            _close(backend.avg_pool2d_backward(gy, x.shape, *args), R.avg_pool2d_backward(gy, x.shape, *args), scale=2)
    xt = x.transpose(0, 1, 3, 2)                                  # non-contiguous input is compacted
    _close(backend.avg_pool2d(xt, (3, 2), (2, 1), (1, 1), False), R.avg_pool2d(xt, (3, 2), (2, 1), (1, 1), False))


def _lstm_arrays(dtype, N=3, I=5, H=7):
    rng = np.random.default_rng(6)
    x, h, c = (rng.standard_normal(s).astype(dtype) for s in ((N, I), (N, H), (N, H)))
    w_ih, w_hh, b = (rng.standard_normal(s).astype(dtype) * 0.5 for s in ((4 * H, I), (4 * H, H), (4 * H,)))
    return x, h, c, w_ih, w_hh, b


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_forward_and_backward(nb, dtype):
    from tensorcore.backends import reference as R

    backend, _ = nb
    x, h, c, w_ih, w_hh, b = _lstm_arrays(dtype)
    got, expected = backend.lstm_cell(x, h, c, w_ih, w_hh, b), R.lstm_cell(x, h, c, w_ih, w_hh, b)
    for g, e in zip(got, expected):
        _close(g, e, scale=4)
    rng = np.random.default_rng(7)
    grad_h, grad_c = rng.standard_normal(h.shape).astype(dtype), rng.standard_normal(c.shape).astype(dtype)
    gates = expected[2]
    got = backend.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c)
    expected = R.lstm_cell_backward(x, h, c, w_ih, w_hh, gates, grad_h, grad_c)
    for g, e in zip(got, expected):
        _close(g, e, scale=10)


def test_fallbacks_to_the_reference(nb, monkeypatch):
    """Integer and mixed dtypes, index arrays of another dtype and mismatched shapes never reach a kernel."""
    from tensorcore.backends import reference as R

    backend, glue = nb

    def no_launch(*args, **kwargs):
        raise AssertionError("a kernel was launched for input the kernels do not take")

    monkeypatch.setattr(glue, "_launch", no_launch)
    ints = np.arange(2 * 3 * 5 * 4).reshape(2, 3, 5, 4) % 7
    y, index = backend.max_pool2d(ints, (2, 2), (2, 2), (0, 0))
    ry, rindex = R.max_pool2d(ints, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(index, rindex)
    np.testing.assert_array_equal(backend.avg_pool2d(ints, (2, 2), (1, 1), (0, 0), True),
                                  R.avg_pool2d(ints, (2, 2), (1, 1), (0, 0), True))
    gy = np.ones(ry.shape, np.float32)
    np.testing.assert_array_equal(backend.max_pool2d_backward(gy, rindex.astype(np.int32), ints.shape),
                                  R.max_pool2d_backward(gy, rindex.astype(np.int32), ints.shape))
    small = np.ones((2, 3, 2, 2))                     # not the output shape of this geometry
    np.testing.assert_array_equal(backend.avg_pool2d_backward(small, ints.shape, (2, 2), (1, 1), (0, 0), True),
                                  R.avg_pool2d_backward(small, ints.shape, (2, 2), (1, 1), (0, 0), True))
    x, h, c, w_ih, w_hh, b = _lstm_arrays(np.float64)
    mixed = (x.astype(np.float32), h, c, w_ih, w_hh, b)
    for g, e in zip(backend.lstm_cell(*mixed), R.lstm_cell(*mixed)):
        np.testing.assert_array_equal(g, e)
    assert backend.lstm_cell(*mixed)[0].dtype == np.float64


def test_pooling_and_lstm_training_step_matches_cpu():
    """Forward and backward through F.max_pool2d, F.avg_pool2d and nn.LSTMCell on simulated cuda (the
    numba backend) give the gradients the cpu gives."""
    import tensorcore as tc
    import tensorcore.nn.functional as F

    assert tc.backends.current("cuda").name == "numba"
    rng = np.random.default_rng(8)
    image = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    seq = rng.standard_normal((2, 3, 5)).astype(np.float32)
    cpu_cell = tc.nn.LSTMCell(5, 7)
    state = {k: v.numpy() for k, v in cpu_cell.state_dict().items()}

    def run(device):
        cell = cpu_cell if device == "cpu" else tc.nn.LSTMCell(5, 7, device=device)
        cell.load_state_dict({k: tc.tensor(v, device=device) for k, v in state.items()})
        img = tc.tensor(image, device=device, requires_grad=True)
        pooled = F.max_pool2d(img, 3, stride=2, padding=1) * F.avg_pool2d(img, (3, 2), 2, 1, count_include_pad=False)
        h = c = None
        for t in range(seq.shape[0]):
            h, c = cell(tc.tensor(seq[t], device=device), None if h is None else (h, c))
        loss = (pooled * pooled).sum() + (h * h).sum() + c.sum()
        loss.backward()
        grads = [img.grad] + [p.grad for p in cell.parameters()]
        return loss.item(), [g.cpu().numpy() for g in grads]

    loss_cpu, cpu = run("cpu")
    loss_cuda, cuda = run("cuda")
    np.testing.assert_allclose(loss_cuda, loss_cpu, rtol=1e-5)
    for got, expected in zip(cuda, cpu):
        assert np.any(expected != 0)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
