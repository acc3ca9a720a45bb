"""The C++ backend's convolution, pooling and LSTM-cell entries against the NumPy reference:
odd shapes, every spatial argument, non-contiguous inputs through the wrapper, bad input, and
results that do not depend on the thread count."""
from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

_C = pytest.importorskip(
    "tensorcore._C", reason="the C++ extension tensorcore._C is not built (run `pip install -e .`)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tensorcore import backends  # noqa: E402
from tensorcore.backends import cpp  # noqa: E402
from tensorcore.backends import reference as R  # noqa: E402

FLOATS = [np.float32, np.float64]
NEW_ENTRIES = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
               "avg_pool2d_backward", "lstm_cell", "lstm_cell_backward"]


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(dtype)


def close(out, ref, dtype, depth=1):
    """``out`` against a float64 reference: sums of ``depth`` products of values in [-1, 1]."""
    assert out.shape == ref.shape, (out.shape, ref.shape)
    assert out.dtype == dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(out, ref, rtol=16 * eps, atol=8 * eps * max(depth, 1))


def f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


@pytest.fixture
def threads():
    before = _C.get_num_threads()
    yield
    _C.set_num_threads(before)


# --------------------------------------------------------------------------- conv2d

# (x shape, w shape, stride, padding, dilation, groups)
CONV_CASES = {
    "all_ones": ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "basic": ((2, 3, 7, 9), (5, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    "primes": ((3, 5, 13, 11), (7, 5, 3, 2), (2, 1), (1, 2), (2, 1), 1),
    "groups": ((2, 6, 8, 7), (9, 2, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    "depthwise": ((2, 4, 9, 9), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 4),
    "dilation": ((1, 2, 11, 13), (3, 2, 3, 3), (1, 1), (0, 0), (2, 3), 1),
    "stride_larger_than_kernel": ((2, 3, 17, 15), (4, 3, 2, 2), (5, 4), (0, 0), (1, 1), 1),
    "padding": ((2, 2, 5, 6), (3, 2, 3, 3), (1, 1), (2, 1), (1, 1), 1),
    "padding_wider_than_kernel": ((1, 2, 4, 4), (2, 2, 2, 2), (3, 2), (3, 2), (1, 1), 1),
    "kernel_is_input": ((3, 2, 5, 7), (4, 2, 5, 7), (1, 1), (0, 0), (1, 1), 1),
    "pointwise_groups": ((2, 8, 6, 5), (6, 4, 1, 1), (1, 1), (0, 0), (1, 1), 2),
    "pointwise_strided": ((2, 3, 7, 7), (4, 3, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    "tiles": ((4, 17, 15, 14), (37, 17, 3, 3), (1, 1), (1, 1), (1, 1), 1),      # Og > MR, P > NR
    "deep": ((2, 32, 9, 9), (20, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1),         # K = 288 > KC
    "course_layer2": ((3, 25, 13, 13), (50, 25, 3, 3), (1, 1), (0, 0), (1, 1), 1),
}


def conv_inputs(case, dtype):
    xs, ws, *args = CONV_CASES[case]
    x, w = rand(xs, dtype, 1), rand(ws, dtype, 2)
    y = R.conv2d(*f64(x, w), *args)
    return x, w, args, rand(y.shape, dtype, 3), y


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_conv2d_forward_backward(case, dtype):
    x, w, args, gy, y_ref = conv_inputs(case, dtype)
    depth = w[0].size
    close(_C.conv2d(x, w, *args), y_ref, dtype, depth)
    gx, gw = _C.conv2d_backward(x, w, gy, *args, True, True)
    gx_ref, gw_ref = R.conv2d_backward(*f64(x, w, gy), *args, True, True)
    close(gx, gx_ref, dtype, w.shape[0] * w.shape[2] * w.shape[3])
    close(gw, gw_ref, dtype, gy.shape[0] * gy.shape[2] * gy.shape[3])


@pytest.mark.parametrize("need_x,need_w", [(True, False), (False, True), (False, False)])
def test_conv2d_backward_computes_only_what_is_needed(need_x, need_w):
    x, w, args, gy, _ = conv_inputs("primes", np.float32)
    gx, gw = _C.conv2d_backward(x, w, gy, *args, need_x, need_w)
    assert (gx is not None) == need_x and (gw is not None) == need_w
    ref = R.conv2d_backward(*f64(x, w, gy), *args, True, True)
    for got, want in zip((gx, gw), ref):
        if got is not None:
            close(got, want, np.float32, 200)


def test_conv2d_empty_batch():
    x, w = rand((0, 3, 6, 6), np.float32), rand((4, 3, 3, 3), np.float32)
    y = _C.conv2d(x, w, (1, 1), (0, 0), (1, 1), 1)
    assert y.shape == (0, 4, 4, 4)
    gx, gw = _C.conv2d_backward(x, w, y, (1, 1), (0, 0), (1, 1), 1, True, True)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros_like(w))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_conv2d_random_configurations(data):
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
    groups = draw(1, 3)
    c, o = groups * draw(1, 3), groups * draw(1, 4)
    kh, kw, dh, dw = draw(1, 4), draw(1, 4), draw(1, 3), draw(1, 3)
    ph, pw, sh, sw = draw(0, 3), draw(0, 3), draw(1, 4), draw(1, 4)
    h = max(draw(1, 12), dh * (kh - 1) + 1 - 2 * ph)
    w_ = max(draw(1, 12), dw * (kw - 1) + 1 - 2 * pw)
    x, w = rand((draw(1, 3), c, h, w_), np.float64, 1), rand((o, c // groups, kh, kw), np.float64, 2)
    args = ((sh, sw), (ph, pw), (dh, dw), groups)
    y = _C.conv2d(x, w, *args)
    np.testing.assert_allclose(y, R.conv2d(x, w, *args), rtol=1e-12, atol=1e-13)
    gy = rand(y.shape, np.float64, 3)
    for got, want in zip(_C.conv2d_backward(x, w, gy, *args, True, True),
                         R.conv2d_backward(x, w, gy, *args, True, True)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- pooling

# (x shape, kernel, stride, padding)
POOL_CASES = {
    "course": ((2, 3, 26, 26), (2, 2), (2, 2), (0, 0)),
    "odd_input": ((2, 3, 11, 11), (2, 2), (2, 2), (0, 0)),
    "one": ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0)),
    "primes": ((3, 5, 13, 7), (3, 2), (2, 3), (1, 1)),
    "overlapping": ((2, 3, 5, 5), (3, 3), (1, 1), (1, 0)),
    "stride_larger_than_kernel": ((1, 3, 9, 8), (2, 2), (3, 3), (0, 0)),
    "kernel_is_padded_input": ((1, 2, 2, 3), (4, 5), (1, 1), (1, 2)),
    "kernel_is_input": ((2, 2, 5, 7), (5, 7), (1, 1), (0, 0)),
}


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool2d(case, dtype):
    shape, *args = POOL_CASES[case]
    x = rand(shape, dtype)
    y, index = _C.max_pool2d(x, *args)
    y_ref, index_ref = R.max_pool2d(x, *args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)
    assert y.dtype == dtype and index.dtype == np.int64
    gy = rand(y.shape, dtype, 1)
    np.testing.assert_allclose(_C.max_pool2d_backward(gy, index, shape),
                               R.max_pool2d_backward(gy, index_ref, shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(case, dtype, count_include_pad):
    shape, *args = POOL_CASES[case]
    x = rand(shape, dtype)
    y = _C.avg_pool2d(x, *args, count_include_pad)
    close(y, R.avg_pool2d(x.astype(np.float64), *args, count_include_pad), dtype, 4)
    gy = rand(y.shape, dtype, 1)
    close(_C.avg_pool2d_backward(gy, shape, *args, count_include_pad),
          R.avg_pool2d_backward(gy.astype(np.float64), shape, *args, count_include_pad), dtype, 8)


@pytest.mark.parametrize("args", [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1))])
def test_max_pool2d_ties_and_nan_follow_reference(args):
    x = np.zeros((1, 2, 6, 6), np.float32)
    x[0, 1, 1, 1] = x[0, 1, 2, 3] = np.nan
    x[0, 1, 4:, 4:] = -np.inf
    y, index = _C.max_pool2d(x, *args)
    y_ref, index_ref = R.max_pool2d(x, *args)
    np.testing.assert_array_equal(y, y_ref)             # NaN positions agree too
    np.testing.assert_array_equal(index, index_ref)     # first maximum / first NaN


def test_max_pool2d_backward_accumulates_overlapping_windows():
    x = rand((2, 3, 7, 7), np.float32)
    y, index = _C.max_pool2d(x, (3, 3), (1, 1), (1, 1))
    gy = np.ones_like(y)
    gx = _C.max_pool2d_backward(gy, index, x.shape)
    np.testing.assert_array_equal(gx, R.max_pool2d_backward(gy, index, x.shape))
    assert gx.sum() == y.size


# --------------------------------------------------------------------------- LSTM cell

LSTM_CASES = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 100, 37), (2, 300, 70)]


def lstm_inputs(n, i, hid, dtype, scale=1.0):
    shapes = [(n, i), (n, hid), (n, hid), (4 * hid, i), (4 * hid, hid), (4 * hid,)]
    return [rand(s, dtype, k) * scale for k, s in enumerate(shapes)]


@pytest.mark.parametrize("n,i,hid", LSTM_CASES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_lstm_cell_forward_backward(n, i, hid, dtype):
    a = lstm_inputs(n, i, hid, dtype)
    out = _C.lstm_cell(*a)
    ref = R.lstm_cell(*f64(*a))
    for got, want in zip(out, ref):
        close(got, want, dtype, i + hid)
    gh, gc = rand((n, hid), dtype, 10), rand((n, hid), dtype, 11)
    grads = _C.lstm_cell_backward(*a[:5], out[2], gh, gc)
    grads_ref = R.lstm_cell_backward(*f64(*a[:5], out[2], gh, gc))
    depths = [4 * hid, 4 * hid, 1, n, n, n]
    for got, want, depth in zip(grads, grads_ref, depths):
        close(got, want, dtype, depth)


@pytest.mark.parametrize("n,i,hid", [(3, 4, 0), (3, 0, 5), (0, 4, 5)])
def test_lstm_cell_empty_dimensions(n, i, hid):
    a = lstm_inputs(n, i, hid, np.float64)
    out = _C.lstm_cell(*a)
    for got, want in zip(out, R.lstm_cell(*a)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    gh, gc = rand((n, hid), np.float64, 10), rand((n, hid), np.float64, 11)
    for got, want in zip(_C.lstm_cell_backward(*a[:5], out[2], gh, gc),
                         R.lstm_cell_backward(*a[:5], out[2], gh, gc)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", FLOATS)
def test_lstm_cell_saturated_gates_stay_finite(dtype):
    a = lstm_inputs(5, 8, 6, dtype, scale=40.0)  # pre-activations in the hundreds
    a[2] = rand((5, 6), dtype, 9)                # keep c moderate
    out = _C.lstm_cell(*a)
    ref = R.lstm_cell(*f64(*a))
    for got, want in zip(out, ref):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=0, atol=4 * np.finfo(dtype).eps)


def test_lstm_tanh_and_sigmoid_accuracy():
    """The vectorized tanh/sigmoid across the polynomial / exp switch, tiny and huge values."""
    v = np.concatenate([np.linspace(-12, 12, 4001), [0.0, 1e-30, -1e-30, 1e-7, 0.0999, 0.1001,
                                                      0.3999, 0.4001, 88.0, -88.0, 1e4, -1e4]])
    for dtype in FLOATS:
        n = v.size
        x = np.zeros((n, 1), dtype)
        h = np.zeros((n, 1), dtype)
        c = np.zeros((n, 1), dtype)
        w_ih = np.zeros((4, 1), dtype)
        w_hh = np.zeros((4, 1), dtype)
        b = np.zeros(4, dtype)
        # gates = b; put v through the cell gate via c' = i * g with i = sigmoid(big) = 1 ...
        x[:, 0] = v
        w_ih[:, 0] = 1.0
        _, c_new, gates = _C.lstm_cell(x, h, c, w_ih, w_hh, b)
        v64 = v.astype(dtype).astype(np.float64)
        with np.errstate(over="ignore"):
            sig = 1 / (1 + np.exp(-v64))
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(gates[:, 0], sig, rtol=8 * eps, atol=4 * np.finfo(dtype).tiny)
        np.testing.assert_allclose(gates[:, 2], np.tanh(v64), rtol=16 * eps, atol=4 * np.finfo(dtype).tiny)
        assert np.array_equal(np.sign(gates[:, 2]), np.sign(v64))


# --------------------------------------------------------------------------- thread count


def run_all(dtype=np.float32):
    outs = []
    for case in ("course_layer2", "primes", "groups", "tiles"):
        x, w, args, gy, _ = conv_inputs(case, dtype)
        outs += [_C.conv2d(x, w, *args), *_C.conv2d_backward(x, w, gy, *args, True, True)]
    x = rand((4, 7, 26, 26), dtype)
    for args in (((2, 2), (2, 2), (0, 0)), ((3, 2), (2, 1), (1, 1))):
        y, index = _C.max_pool2d(x, *args)
        outs += [y, index, _C.max_pool2d_backward(y, index, x.shape),
                 _C.avg_pool2d(x, *args, False), _C.avg_pool2d_backward(y, x.shape, *args, False)]
    a = lstm_inputs(64, 100, 37, dtype)
    out = _C.lstm_cell(*a)
    outs += [*out, *_C.lstm_cell_backward(*a[:5], out[2], out[0], out[1])]
    return outs


def test_results_do_not_depend_on_thread_count(threads):
    _C.set_num_threads(1)
    one = run_all()
    for n_threads in (2, 3, 5):
        _C.set_num_threads(n_threads)
        for got, want in zip(run_all(), one):
            # fixed summation order per element: bitwise equal, not just close
            np.testing.assert_array_equal(got, want)


def test_one_large_image_uses_the_team_gemm_path(threads):
    """Fewer (image, group) tasks than threads: each GEMM runs on the whole team."""
    x, w = rand((1, 16, 40, 40), np.float32), rand((24, 16, 3, 3), np.float32, 1)
    gy = rand((1, 24, 40, 40), np.float32, 2)
    args = ((1, 1), (1, 1), (1, 1), 1)
    _C.set_num_threads(1)
    one = [_C.conv2d(x, w, *args), *_C.conv2d_backward(x, w, gy, *args, True, True)]
    _C.set_num_threads(4)
    many = [_C.conv2d(x, w, *args), *_C.conv2d_backward(x, w, gy, *args, True, True)]
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)
    close(one[0], R.conv2d(*f64(x, w), *args), np.float32, 16 * 9)


def test_conv2d_grad_w_of_a_large_layer(threads):
    """Partial sums too large for several image chunks: grad_w splits its rows across threads."""
    x, w = rand((3, 128, 4, 3), np.float32), rand((1024, 128, 3, 3), np.float32, 1)
    gy = rand((3, 1024, 2, 1), np.float32, 2)
    args = ((1, 1), (0, 0), (1, 1), 1)
    _C.set_num_threads(1)
    one = _C.conv2d_backward(x, w, gy, *args, False, True)[1]
    close(one, R.conv2d_backward(*f64(x, w, gy), *args, False, True)[1], np.float32, 6)
    for n_threads in (2, 3):
        _C.set_num_threads(n_threads)
        np.testing.assert_array_equal(_C.conv2d_backward(x, w, gy, *args, False, True)[1], one)


def test_concurrent_calls_from_python_threads():
    cases = [conv_inputs(case, np.float32) for case in ("basic", "groups", "tiles", "primes")]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda c: _C.conv2d(c[0], c[1], *c[2]), cases))
    for out, (x, w, args, _, y_ref) in zip(outs, cases):
        close(out, y_ref, np.float32, w[0].size)


# --------------------------------------------------------------------------- the backend wrapper


def test_backend_table_lists_the_new_entries():
    table = backends.get("cpp").table()
    for name in NEW_ENTRIES:
        assert table[name] == "handwritten", name


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrapper_non_contiguous_inputs(dtype):
    x = rand((2, 3, 14, 18), dtype)[:, :, ::2, 1::2]        # strided (2, 3, 7, 9)
    w = np.transpose(rand((3, 3, 3, 5), dtype, 1), (3, 0, 1, 2))  # (5, 3, 3, 3), not C-order
    args = ((1, 2), (1, 0), (1, 1), 1)
    y = cpp.conv2d(x, w, *args)
    close(y, R.conv2d(*f64(x, w), *args), dtype, 27)
    gy = rand(y.shape[::-1], dtype, 2).T                    # Fortran-order grad
    for got, want in zip(cpp.conv2d_backward(x, w, gy, *args, True, True),
                         R.conv2d_backward(*f64(x, w, gy), *args, True, True)):
        close(got, want, dtype, 64)
    y, index = cpp.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(index, R.max_pool2d(x, (2, 2), (2, 2), (0, 0))[1])
    g = rand(y.shape[::-1], dtype).T
    np.testing.assert_allclose(cpp.max_pool2d_backward(g, index, x.shape),
                               R.max_pool2d_backward(g, index, x.shape))
    close(cpp.avg_pool2d(x, (3, 2), (1, 2), (1, 1), False),
          R.avg_pool2d(x.astype(np.float64), (3, 2), (1, 2), (1, 1), False), dtype, 6)
    a = [v.T.copy().T for v in lstm_inputs(5, 6, 7, dtype)]  # Fortran-order copies
    a[0] = rand((6, 5), dtype).T
    out = cpp.lstm_cell(*a)
    for got, want in zip(out, R.lstm_cell(*f64(*a))):
        close(got, want, dtype, 13)
    grads = cpp.lstm_cell_backward(*a[:5], out[2][:, ::-1][:, ::-1], out[0].T.copy().T, out[1])
    for got, want in zip(grads, R.lstm_cell_backward(*f64(*a[:5], out[2], out[0], out[1]))):
        close(got, want, dtype, 28)


def test_wrapper_defers_other_dtypes_to_reference():
    x, w = rand((1, 2, 5, 5), np.float16), rand((3, 2, 3, 3), np.float16)
    y = cpp.conv2d(x, w, (1, 1), (0, 0), (1, 1), 1)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, R.conv2d(x, w, (1, 1), (0, 0), (1, 1), 1))
    y, index = cpp.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    assert y.dtype == np.float16 and index.dtype == np.int64


def test_wrapper_through_autograd():
    """The ops layer on the cpp backend: a small CNN step matches the reference backend."""
    import tensorcore as tc
    import tensorcore.nn.functional as F

    x = rand((3, 2, 9, 8), np.float32)
    w = rand((4, 2, 3, 3), np.float32, 1)
    results = []
    for name in ("cpp", "numpy"):
        with tc.use_backend(name):
            xt, wt = tc.tensor(x, requires_grad=True), tc.tensor(w, requires_grad=True)
            y = F.max_pool2d(F.conv2d(xt, wt, padding=1), 2)
            y = F.avg_pool2d(y, 2, count_include_pad=False)
            y.sum().backward()
            results.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- bad input


def conv_ok():
    return rand((2, 4, 6, 6), np.float32), rand((6, 2, 3, 3), np.float32, 1)


@pytest.mark.parametrize("mutate,exc,pattern", [
    (lambda x, w, a: (x[0], w, a), ValueError, r"conv2d: x must be 4-D \(N, C, H, W\), got shape \(4, 6, 6\)"),
    (lambda x, w, a: (x, w.astype(np.float64), a), TypeError, "conv2d: dtypes differ: x is float32, w is float64"),
    (lambda x, w, a: (x.astype(np.int32), w, a), TypeError, "conv2d: unsupported dtype int32 for x"),
    (lambda x, w, a: (x[:, :, ::2], w, a), ValueError, "conv2d: x must be C-contiguous"),
    (lambda x, w, a: (x, w[:, :1].copy(), a), ValueError,
     r"conv2d: x is \(2, 4, 6, 6\) with 4 channels but w is \(6, 1, 3, 3\) with groups 2, which expects 2"),
    (lambda x, w, a: (x, w[:5].copy(), a), ValueError, r"out_channels 5 .* is not divisible by groups 2"),
    (lambda x, w, a: (x, w, ((0, 1),) + a[1:]), ValueError, r"conv2d: stride must be a pair of ints in \[1, "),
    (lambda x, w, a: (x, w, a[:1] + ((-1, 0),) + a[2:]), ValueError, "conv2d: padding must be"),
    (lambda x, w, a: (x, w, a[:2] + ((1, 0),) + a[3:]), ValueError, "conv2d: dilation must be"),
    (lambda x, w, a: (x, w, a[:3] + (0,)), ValueError, "conv2d: groups must be a positive int, got 0"),
    (lambda x, w, a: (x, w, a[:2] + ((3, 1),) + a[3:]), ValueError,
     r"conv2d: the kernel height extent 7 \(kernel 3, dilation 3\) is larger than the padded input height 6"),
    (lambda x, w, a: ([[1.0]], w, a), TypeError, "conv2d: x must be a numpy.ndarray, got list"),
])
def test_conv2d_bad_input(mutate, exc, pattern):
    x, w = conv_ok()
    x, w, args = mutate(x, w, ((1, 1), (0, 0), (1, 1), 2))
    with pytest.raises(exc, match=pattern):
        _C.conv2d(x, w, *args)


def test_conv2d_backward_bad_grad():
    x, w = conv_ok()
    args = ((1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected grad_y of shape \(2, 6, 4, 4\) "
                                         r"for x \(2, 4, 6, 6\) and w \(6, 2, 3, 3\), got \(2, 6, 4, 5\)"):
        _C.conv2d_backward(x, w, np.zeros((2, 6, 4, 5), np.float32), *args, True, True)
    with pytest.raises(TypeError, match="conv2d_backward: dtypes differ: x is float32, grad_y is float64"):
        _C.conv2d_backward(x, w, np.zeros((2, 6, 4, 4)), *args, True, True)


def test_conv2d_huge_padding_is_refused_not_allocated():
    x, w = conv_ok()
    with pytest.raises(ValueError, match="conv2d: padding must be a pair of ints in"):
        _C.conv2d(x, w, (1, 1), (2**40, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="conv2d: .* has too many elements to allocate"):
        _C.conv2d(x, w, (1, 1), (2**30, 2**30), (1, 1), 2)


def test_pool_bad_input():
    x = rand((2, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 0\) should be at most half of the kernel size \(3, 3\)"):
        _C.max_pool2d(x, (3, 3), (1, 1), (2, 0))
    with pytest.raises(ValueError, match=r"avg_pool2d: the kernel width extent 7 .* larger than the padded input width 6"):
        _C.avg_pool2d(x, (2, 7), (1, 1), (0, 0), True)
    with pytest.raises(ValueError, match=r"max_pool2d: kernel must be a pair of ints in \[1, "):
        _C.max_pool2d(x, (0, 2), (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"max_pool2d: x must be 4-D"):
        _C.max_pool2d(x[0], (2, 2), (2, 2), (0, 0))
    y, index = _C.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    bad = index.copy()
    bad[1, 2, 0, 1] = 36
    with pytest.raises(IndexError, match=r"max_pool2d_backward: index.flat\[46\] = 36 is outside its input plane of 6 x 6"):
        _C.max_pool2d_backward(y, bad, x.shape)
    bad[1, 2, 0, 1] = -1
    with pytest.raises(IndexError, match="= -1 is outside"):
        _C.max_pool2d_backward(y, bad, x.shape)
    with pytest.raises(TypeError, match="max_pool2d_backward: index must be native int64, got int32"):
        _C.max_pool2d_backward(y, index.astype(np.int32), x.shape)
    with pytest.raises(ValueError, match=r"max_pool2d_backward: grad_y is \(2, 3, 3, 3\) but x_shape is \(2, 4, 6, 6\)"):
        _C.max_pool2d_backward(y, index, (2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"avg_pool2d_backward: expected grad_y of shape \(2, 3, 5, 5\)"):
        _C.avg_pool2d_backward(y, x.shape, (2, 2), (1, 1), (0, 0), True)


def test_lstm_bad_input():
    a = lstm_inputs(3, 5, 4, np.float32)
    bad = list(a)
    bad[1] = rand((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"lstm_cell: expected h of shape \(3, 4\) for x \(3, 5\) and w_ih \(16, 5\), got \(3, 5\)"):
        _C.lstm_cell(*bad)
    bad = list(a)
    bad[3] = rand((15, 5), np.float32)
    with pytest.raises(ValueError, match=r"lstm_cell: w_ih must be \(4 \* hidden, input_size\), got \(15, 5\)"):
        _C.lstm_cell(*bad)
    bad = list(a)
    bad[4] = a[4].astype(np.float64)
    with pytest.raises(TypeError, match="lstm_cell: dtypes differ: x is float32, w_hh is float64"):
        _C.lstm_cell(*bad)
    bad = list(a)
    bad[5] = a[5][:-1].copy()
    with pytest.raises(ValueError, match=r"lstm_cell: expected b of shape \(16,\)"):
        _C.lstm_cell(*bad)
    bad = list(a)
    bad[2] = np.asfortranarray(rand((4, 3), np.float32).T)
    with pytest.raises(ValueError, match="lstm_cell: c must be C-contiguous"):
        _C.lstm_cell(*bad)
    h, c, gates = _C.lstm_cell(*a)
    with pytest.raises(ValueError, match=r"lstm_cell_backward: expected gates of shape \(3, 16\)"):
        _C.lstm_cell_backward(*a[:5], gates[:, :8].copy(), h, c)
    with pytest.raises(ValueError, match=r"lstm_cell_backward: expected grad_c of shape \(3, 4\)"):
        _C.lstm_cell_backward(*a[:5], gates, h, c[:2].copy())
