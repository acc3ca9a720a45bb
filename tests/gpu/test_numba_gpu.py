"""The Numba-CUDA backend on a real GPU: CuPy storage, large shapes, every kernel strategy.

Skipped with a reason anywhere without a usable NVIDIA GPU, CuPy and numba-cuda (and under the
simulator, which ``test_numba_sim.py`` covers). Compares against CuPy (cuBLAS for matmul; TF32
stays off, CuPy's default) and the reference backend running on CuPy arrays.
"""
from __future__ import annotations


import numpy as np
import gpu_env
import pytest

pytestmark = pytest.mark.gpu

cupy = gpu_env.require_gpu()

import tensorcore as tc  # noqa: E402
from tensorcore.backends import reference as R  # noqa: E402


@pytest.fixture(scope="module")
def nb():
    backend = tc.backends.get("numba")
    from tensorcore.backends import numba as glue

    return backend, glue


def _rand(shape, dtype, seed=0):
    return cupy.random.default_rng(seed).standard_normal(shape, dtype=np.float64).astype(dtype)


def _rel(got, expected) -> float:
    got, expected = cupy.asnumpy(got).astype(np.float64), cupy.asnumpy(expected).astype(np.float64)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-300))


REL = {np.float32: 2e-6, np.float64: 1e-13}


def test_backend_is_the_cuda_default(nb):
    backend, _ = nb
    assert tc.backends.default("cuda").name in ("numba", "cupy")
    assert backend.table()["matmul"] == "handwritten"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["naive", "coalesced", "smem_tiled", "blocktile_1d", "blocktile_2d", "conflict_free",
                                  "double_buffered"])
def test_matmul_variants_large_and_odd(nb, name, dtype):
    _, glue = nb
    a, b = _rand((1000, 999), dtype, 1), _rand((999, 1001), dtype, 2)
    c = glue.matmul_variant(a, b, name)
    assert isinstance(c, cupy.ndarray) and c.dtype == dtype
    assert _rel(c, a @ b) < REL[dtype] * 10
    a, b = _rand((3, 257, 129), dtype, 3), _rand((3, 129, 255), dtype, 4)
    assert _rel(glue.matmul_variant(a, b, name), cupy.matmul(a, b)) < REL[dtype] * 10


def test_matmul_entry_2048(nb):
    backend, _ = nb
    a, b = _rand((2048, 2048), np.float32, 5), _rand((2048, 2048), np.float32, 6)
    assert _rel(backend.matmul(a, b), a @ b) < 1e-5


@pytest.mark.parametrize("shape", [(4096, 1000), (64, 50_000), (3, 7, 33)])
@pytest.mark.parametrize("variant", ["block", "warp"])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_strategies(nb, variant, log, shape):
    _, glue = nb
    x = _rand(shape, np.float32, 7) * 4
    g = _rand(shape, np.float32, 8)
    ref = R.log_softmax if log else R.softmax
    ref_b = R.log_softmax_backward if log else R.softmax_backward
    y = glue.softmax_variant(x, variant, log=log)
    assert _rel(y, ref(x)) < 1e-5
    assert _rel(glue.softmax_variant(y, variant, log=log, grad_y=g), ref_b(y, g)) < 1e-5


def test_cross_entropy(nb):
    backend, _ = nb
    logits = _rand((8192, 1000), np.float32, 9) * 3
    target = cupy.random.default_rng(10).integers(0, 1000, 8192).astype(np.int64)
    losses, logp = backend.cross_entropy(logits, target)
    ref_losses, ref_logp = R.cross_entropy(logits, target)
    assert _rel(losses, ref_losses) < 1e-5 and _rel(logp, ref_logp) < 1e-5
    grad = _rand(8192, np.float32, 11)
    assert _rel(backend.cross_entropy_backward(logp, target, grad), R.cross_entropy_backward(logp, target, grad)) < 1e-6


@pytest.mark.parametrize("kind", ["sum", "mean", "max", "min"])
def test_reductions(nb, kind):
    backend, _ = nb
    x = _rand((4096, 3000), np.float32, 12)
    y = _rand((3, 60000, 33), np.float32, 13)
    # rows; a bias gradient's batch axis (middle-axis kernel); all of it (split rows, two passes); a middle
    # axis of 60000. A sum near zero has no useful relative error: bound the error by the sum of |x|.
    for a, axis in ((x, (1,)), (x, (0,)), (x, None), (y, (1,))):
        got, expected = getattr(backend, kind)(a, axis, True), getattr(R, kind)(a, axis, True)
        scale = R.sum(cupy.abs(a), axis, True) / (1 if kind in ("sum", "max", "min") else a.size / expected.size)
        assert float(cupy.max(cupy.abs(got - expected) / scale)) < 1e-6, (kind, a.shape, axis)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "relu_backward",
                                  "tanh_backward", "sigmoid_backward"])
def test_binary_elementwise_large_and_broadcast(nb, name):
    backend, _ = nb
    a, b = _rand((4096, 2500), np.float32, 13), _rand((4096, 2500), np.float32, 14)
    bias = _rand((2500,), np.float32, 15)
    f, ref = getattr(backend, name), getattr(R, name)
    assert _rel(f(a, b), ref(a, b)) < 1e-6
    assert _rel(f(a, bias), ref(a, bias)) < 1e-6


@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu"])
def test_unary_elementwise_large(nb, name):
    backend, _ = nb
    x = _rand((10_000_000,), np.float32, 16)
    if name in ("log", "sqrt"):
        x = cupy.abs(x) + 1e-3
    assert _rel(getattr(backend, name)(x), getattr(R, name)(x)) < 1e-6


def test_kernels_run_on_cupys_current_stream(nb):
    """Work queued on a non-default CuPy stream stays ordered with the kernels (no implicit sync)."""
    backend, _ = nb
    with cupy.cuda.Stream(non_blocking=True) as stream:
        a = _rand((1500, 700), np.float32, 17)
        b = cupy.ones((700, 900), np.float32)
        c = backend.matmul(a * 2, b)
        d = backend.add(c, 1.0)
    stream.synchronize()
    assert _rel(d, (a * 2) @ b + 1) < 1e-5


def test_out_of_memory_says_how_much(nb):
    backend, _ = nb
    a, b = cupy.ones((1 << 20, 1), np.float32), cupy.ones((1, 1 << 20), np.float32)
    from tensorcore.device import OutOfMemoryError

    with pytest.raises(OutOfMemoryError, match=r"matmul: out of GPU memory: tried to allocate 4096\.00 GiB.*free of"):
        backend.matmul(a, b)


def test_mlp_training_step_matches_cpu():
    import tensorcore.nn.functional as F

    rng = np.random.default_rng(18)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    target = rng.integers(0, 10, 512)
    init = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in [(300, 256), (256,), (256, 10), (10,)]]

    def step(device):
        params = [tc.tensor(p, device=device, requires_grad=True) for p in init]
        w1, b1, w2, b2 = params
        h = (tc.tensor(x, device=device) @ w1 + b1).relu()
        loss = F.cross_entropy(h @ w2 + b2, tc.tensor(target, device=device))
        loss.backward()
        with tc.no_grad():
            return loss.item(), [(p - 0.1 * p.grad).cpu().numpy() for p in params]

    loss_cpu, cpu = step("cpu")
    with tc.use_backend("numba"):
        loss_gpu, gpu = step("cuda")
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    for got, expected in zip(gpu, cpu):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- pooling and the LSTM cell

# (shape, kernel, stride, padding): the ResNet stem's overlapping 3x3/2 (max-pool backward scatters),
# non-overlapping 2x2/2 (it gathers), an uneven overlapping geometry, and windows with gaps between them.
POOL_CASES = [((32, 64, 112, 112), (3, 3), (2, 2), (1, 1)), ((16, 96, 55, 55), (2, 2), (2, 2), (0, 0)),
              ((8, 33, 61, 47), (3, 2), (1, 2), (1, 1)), ((4, 17, 129, 127), (4, 3), (5, 3), (2, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}k{c[1]}s{c[2]}p{c[3]}")
def test_max_pool2d_large(nb, case, dtype):
    backend, _ = nb
    shape, kernel, stride, padding = case
    x = _rand(shape, dtype, 20)
    x[..., ::3, 1] = x[..., ::3, 0]                                   # ties: the first maximum wins
    y, index = backend.max_pool2d(x, kernel, stride, padding)
    ry, rindex = R.max_pool2d(x, kernel, stride, padding)
    assert isinstance(y, cupy.ndarray) and y.dtype == dtype and index.dtype == np.int64
    assert bool((y == ry).all()) and bool((index == rindex).all())
    gy = _rand(y.shape, dtype, 21)
    expected = R.max_pool2d_backward(gy, rindex, shape)
    assert _rel(backend.max_pool2d_backward(gy, index, shape), expected) < REL[dtype]
    # an index array the forward did not return: geometry unknown, so the atomic scatter
    assert _rel(backend.max_pool2d_backward(gy, index.copy(), shape), expected) < REL[dtype]


def test_max_pool2d_nan_and_minus_inf(nb):
    backend, _ = nb
    x = cupy.asarray([[[[1, np.nan, 3, 3], [2, 5, 5, np.nan], [-np.inf, -np.inf, 0, 1],
                        [-np.inf, -np.inf, 1, 1]]]], dtype=np.float32)
    for kernel, stride, padding in [((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (1, 1)), ((3, 3), (1, 1), (1, 1))]:
        y, index = backend.max_pool2d(x, kernel, stride, padding)
        ry, rindex = R.max_pool2d(x, kernel, stride, padding)
        np.testing.assert_array_equal(cupy.asnumpy(y), cupy.asnumpy(ry))
        np.testing.assert_array_equal(cupy.asnumpy(index), cupy.asnumpy(rindex))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}k{c[1]}s{c[2]}p{c[3]}")
def test_avg_pool2d_large(nb, case, count_include_pad, dtype):
    backend, _ = nb
    shape, kernel, stride, padding = case
    args = (kernel, stride, padding, count_include_pad)
    x = _rand(shape, dtype, 22)
    y = backend.avg_pool2d(x, *args)
    assert isinstance(y, cupy.ndarray) and y.dtype == dtype
    assert _rel(y, R.avg_pool2d(x, *args)) < REL[dtype] * 5
    gy = _rand(y.shape, dtype, 23)
    assert _rel(backend.avg_pool2d_backward(gy, shape, *args), R.avg_pool2d_backward(gy, shape, *args)) < REL[dtype] * 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("NIH", [(1, 1, 1), (129, 127, 130), (1000, 512, 1001)], ids=lambda s: "x".join(map(str, s)))
def test_lstm_cell_large(nb, NIH, dtype):
    """Against the reference in float64 on the same inputs (the float32 GEMMs accumulate in float32)."""
    backend, _ = nb
    N, I, H = NIH
    x, h, c = _rand((N, I), dtype, 24), _rand((N, H), dtype, 25), _rand((N, H), dtype, 26)
    w_ih, w_hh, b = ((_rand(s, dtype, seed) * 0.2).astype(dtype) for s, seed in (((4 * H, I), 27), ((4 * H, H), 28),
                                                                                 ((4 * H,), 29)))
    f64 = [a.astype(np.float64) for a in (x, h, c, w_ih, w_hh, b)]
    out = backend.lstm_cell(x, h, c, w_ih, w_hh, b)
    for got, expected in zip(out, R.lstm_cell(*f64)):
        assert isinstance(got, cupy.ndarray) and got.dtype == dtype
        assert _rel(got, expected) < REL[dtype] * 20
    gh, gc = _rand((N, H), dtype, 30), _rand((N, H), dtype, 31)
    grads = backend.lstm_cell_backward(x, h, c, w_ih, w_hh, out[2], gh, gc)
    ref = R.lstm_cell_backward(*f64[:5], out[2].astype(np.float64), gh.astype(np.float64), gc.astype(np.float64))
    for got, expected in zip(grads, ref):
        assert got.dtype == dtype and _rel(got, expected) < REL[dtype] * 50


def test_pooling_and_lstm_training_step_matches_cpu():
    """Forward and backward through F.max_pool2d, F.avg_pool2d and nn.LSTMCell with the numba backend
    give the gradients the cpu gives."""
    import tensorcore.nn.functional as F

    rng = np.random.default_rng(32)
    image = rng.standard_normal((8, 16, 33, 31)).astype(np.float32)
    seq = rng.standard_normal((5, 32, 64)).astype(np.float32)
    cpu_cell = tc.nn.LSTMCell(64, 128)
    state = {k: v.numpy() for k, v in cpu_cell.state_dict().items()}

    def run(device):
        cell = cpu_cell if device == "cpu" else tc.nn.LSTMCell(64, 128, device=device)
        cell.load_state_dict({k: tc.tensor(v, device=device) for k, v in state.items()})
        img = tc.tensor(image, device=device, requires_grad=True)
        pooled = F.max_pool2d(img, 3, stride=2, padding=1) * F.avg_pool2d(img, (3, 2), 2, 1, count_include_pad=False)
        h = c = None
        for t in range(seq.shape[0]):
            h, c = cell(tc.tensor(seq[t], device=device), None if h is None else (h, c))
        loss = (pooled * pooled).sum() + (h * h).sum() + c.sum()
        loss.backward()
        return loss.item(), [g.cpu().numpy() for g in [img.grad] + [p.grad for p in cell.parameters()]]

    loss_cpu, cpu = run("cpu")
    with tc.use_backend("numba"):
        loss_gpu, gpu = run("cuda")
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    for got, expected in zip(gpu, cpu):
        assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected)


# --------------------------------------------------------------------------- convolution

# (x shape, w shape, stride, padding, dilation, groups): the course CNN's layers, a ResNet-like 3x3 with
# stride 2, a 7x7 stem, grouped and depthwise convolutions, and odd sizes that fit no tile.
CONV_CASES = [
    ((100, 1, 28, 28), (25, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((32, 64, 28, 28), (128, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1),
    ((8, 3, 67, 61), (16, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1),
    ((5, 12, 17, 19), (18, 4, 3, 2), (1, 2), (1, 0), (2, 1), 3),
    ((4, 32, 15, 15), (32, 1, 3, 3), (1, 1), (1, 1), (1, 1), 32),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[0])) + f"_g{c[5]}")
def test_conv2d_large(nb, case, dtype):
    backend, _ = nb
    xs, ws, stride, padding, dilation, groups = case
    x, w = _rand(xs, dtype, 30), _rand(ws, dtype, 31)
    y = backend.conv2d(x, w, stride, padding, dilation, groups)
    assert isinstance(y, cupy.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    assert _rel(y, R.conv2d(x, w, stride, padding, dilation, groups)) < REL[dtype] * 10
    gy = _rand(y.shape, dtype, 32)
    got = backend.conv2d_backward(x, w, gy, stride, padding, dilation, groups, True, True)
    want = R.conv2d_backward(x, w, gy, stride, padding, dilation, groups, True, True)
    for g, e in zip(got, want):
        assert g.shape == e.shape and g.dtype == dtype
        assert _rel(g, e) < REL[dtype] * 100      # sums over N*OH*OW terms: more rounding than the forward


def test_cnn_training_step_matches_cpu():
    """A course-sized CNN step (conv, ReLU, max-pool, Linear, cross-entropy, SGD) on the numba backend
    gives the cpu's parameters."""
    from tensorcore import nn

    rng = np.random.default_rng(33)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    target = rng.integers(0, 10, 64)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}

    def step(device):
        model.load_state_dict(state)
        model.to(device)
        opt = tc.optim.SGD(model.parameters(), lr=0.1)
        loss = tc.nn.functional.cross_entropy(model(tc.tensor(x, device=device)), tc.tensor(target, device=device))
        loss.backward()
        opt.step()
        return loss.item(), {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    loss_cpu, cpu = step("cpu")
    with tc.use_backend("numba"):
        loss_gpu, gpu = step("cuda")
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    for name in cpu:
        np.testing.assert_allclose(gpu[name], cpu[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_step_large(nb, amsgrad):
    _, glue = nb
    p0, g = _rand((1000, 1003), np.float32, 40), _rand((1000, 1003), np.float32, 41)
    states = []
    for impl in (glue.adam_step, R.adam_step):
        p, m, v = p0.copy(), cupy.zeros_like(p0), cupy.zeros_like(p0)
        vmax = cupy.zeros_like(p0) if amsgrad else None
        for step in (1, 2):
            impl(p, g, m, v, vmax, step, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, False)
        states.append((p, m, v))
    for got, expected in zip(*states):
        assert _rel(got, expected) < 1e-6


@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_sgd_step_large(nb, nesterov):
    _, glue = nb
    p0 = _rand((1000, 1003), np.float32, 42)
    grads = [_rand((1000, 1003), np.float32, 43 + k) for k in range(2)]
    states = []
    for impl in (glue.sgd_step, R.sgd_step):
        p, buf = p0.copy(), cupy.empty_like(p0)
        for step, g in enumerate(grads):
            impl(p, g, buf, 0.1, 0.9, 0.0, 0.01, nesterov, False, step == 0)
        states.append((p, buf))
    for got, expected in zip(*states):
        assert _rel(got, expected) < 1e-6
