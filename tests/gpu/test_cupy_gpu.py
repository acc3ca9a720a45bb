"""The CuPy backend (CUDA C kernels through NVRTC) on a real GPU: every kernel against the reference.

Skipped with a reason anywhere without CuPy and a usable NVIDIA GPU (and under Numba's simulator).
Ragged shapes cross every tile edge; non-contiguous inputs go through the glue. The reference runs
on the same CuPy arrays (cuBLAS / CuPy kernels). FP32 results are compared in relative Frobenius
norm; TF32 at a looser tolerance. ``TC_GPU_SMALL=1`` shrinks the shapes (for compute-sanitizer).
"""
from __future__ import annotations

import os

import numpy as np
import gpu_env
import pytest

pytestmark = pytest.mark.gpu

cupy = gpu_env.require_gpu()

import tensorcore as tc  # noqa: E402
from tensorcore.backends import reference as R  # noqa: E402

SMALL = os.environ.get("TC_GPU_SMALL") == "1"
if SMALL:   # the compute-sanitizer runs: no memory pool, so an overrun reaches memory memcheck watches
    cupy.cuda.set_allocator(None)


@pytest.fixture(scope="module")
def cp():
    backend = tc.backends.get("cupy")
    from tensorcore.backends import cupy as glue

    glue.allow_tf32 = False
    return backend, glue


def _rand(shape, dtype, seed=0, scale=1.0):
    return (cupy.random.default_rng(seed).standard_normal(shape, dtype=np.float64) * scale).astype(dtype)


def _rel(got, expected) -> float:
    got, expected = cupy.asnumpy(got).astype(np.float64), cupy.asnumpy(expected).astype(np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-300))


def _f64(x):
    return x.astype(np.float64)


REL = {np.float32: 2e-6, np.float64: 1e-13}
DTYPES = [np.float32, np.float64]


def test_cupy_is_the_cuda_default(cp):
    backend, _ = cp
    assert tc.backends.default("cuda") is backend
    table = backend.table()
    assert table["matmul"] == table["conv2d"] == table["lstm_cell_backward"] == "handwritten"
    assert table["add"] == "reference"


# --------------------------------------------------------------------------- matmul

MM_SHAPES = [(1, 1, 1), (17, 33, 9), (33, 17, 127), (127, 129, 1), (129, 127, 130), (4, 5, 1000)]
if not SMALL:
    MM_SHAPES.append((1000, 1001, 999))


@pytest.mark.parametrize("mnk", MM_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", ["blocktile_2d", "vectorized", "double_buffered", "warptile", "tf32_mma"])
def test_sgemm_ladder(cp, name, mnk):
    _, glue = cp
    M, N, K = mnk
    a, b = _rand((M, K), np.float32, 1), _rand((K, N), np.float32, 2)
    expected = _f64(a) @ _f64(b)
    tol = 5e-3 if name == "tf32_mma" else 1e-5
    assert _rel(glue.matmul_variant(a, b, name), expected) < tol
    # batched, ragged, 16-byte aligned rows (K and N multiples of 4: the float4 path)
    a, b = _rand((3, M, 4 * K), np.float32, 3), _rand((3, 4 * K, 4 * N), np.float32, 4)
    assert _rel(glue.matmul_variant(a, b, name), cupy.matmul(_f64(a), _f64(b))) < tol


def test_sgemm_tf32_is_opt_in_and_looser(cp):
    backend, glue = cp
    a, b = _rand((300, 500), np.float32, 5), _rand((500, 200), np.float32, 6)
    exact = _f64(a) @ _f64(b)
    assert _rel(backend.matmul(a, b), exact) < 1e-5                 # default: FP32
    glue.allow_tf32 = True
    try:
        err = _rel(backend.matmul(a, b), exact)
    finally:
        glue.allow_tf32 = False
    assert 1e-5 < err < 5e-3                                         # tensor cores: ~1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_entry_non_contiguous_and_batched(cp, dtype):
    backend, _ = cp
    a, b = _rand((3, 65, 40), dtype, 7), _rand((3, 50, 65), dtype, 8)
    at, bt = a.transpose(0, 2, 1), b.transpose(0, 2, 1)               # (3, 40, 65) @ (3, 65, 50)
    assert _rel(backend.matmul(at, bt), cupy.matmul(_f64(at), _f64(bt))) < REL[dtype] * 10
    big_a, big_b = _rand((700, 600), dtype, 9), _rand((800, 700), dtype, 10)
    assert _rel(backend.matmul(big_a.T, big_b.T), _f64(big_a).T @ _f64(big_b).T) < REL[dtype] * 10
    sliced = _rand((90, 70), dtype, 11)[::2, 3:50]
    assert _rel(backend.matmul(sliced, sliced.T), _f64(sliced) @ _f64(sliced).T) < REL[dtype] * 10
    assert backend.matmul(_rand((0, 3), dtype), _rand((3, 4), dtype)).shape == (0, 4)
    assert float(abs(backend.matmul(_rand((3, 0), dtype), _rand((0, 4), dtype))).sum()) == 0


def test_matmul_float64_and_int_fall_back(cp):
    backend, _ = cp
    a = cupy.arange(12, dtype=np.int64).reshape(3, 4)
    assert (backend.matmul(a, a.T) == a @ a.T).all()


# --------------------------------------------------------------------------- softmax family

SM_SHAPES = [(1, 1), (7, 17), (5, 33), (9, 127), (3, 129), (4, 1000), (6, 1024), (3, 1025), (2, 5, 4097)]
if not SMALL:
    SM_SHAPES += [(4096, 1000), (64, 50_000)]


@pytest.mark.parametrize("shape", SM_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_family(cp, shape, dtype, log):
    backend, glue = cp
    x, g = _rand(shape, dtype, 12, scale=4), _rand(shape, dtype, 13)
    fwd, bwd = (backend.log_softmax, backend.log_softmax_backward) if log else (backend.softmax, backend.softmax_backward)
    ref, ref_b = (R.log_softmax, R.log_softmax_backward) if log else (R.softmax, R.softmax_backward)
    y = fwd(x)
    assert _rel(y, ref(x)) < REL[dtype] * 5
    assert _rel(bwd(y, g), ref_b(y, g)) < REL[dtype] * 5
    for variant in ("warp", "block"):
        if variant == "warp" and shape[-1] > 1024:
            continue
        yv = glue.softmax_variant(x, variant, log=log)
        assert _rel(yv, ref(x)) < REL[dtype] * 5
        assert _rel(glue.softmax_variant(yv, variant, log=log, grad_y=g), ref_b(yv, g)) < REL[dtype] * 5


@pytest.mark.parametrize("C", [4, 1100])
def test_softmax_non_finite_rows_match_the_reference(cp, C):
    backend, _ = cp
    x = cupy.zeros((5, C), np.float32)
    x[0, :2] = -np.inf
    x[1, :] = -np.inf
    x[2, 0] = np.inf
    x[3, 1] = np.nan
    x[4, :2] = cupy.asarray([1e4, -1e4])
    with np.errstate(all="ignore"):
        for f, ref in ((backend.softmax, R.softmax), (backend.log_softmax, R.log_softmax)):
            np.testing.assert_allclose(cupy.asnumpy(f(x)), cupy.asnumpy(ref(x)), rtol=1e-6, equal_nan=True)


def test_softmax_non_contiguous(cp):
    backend, _ = cp
    x = _rand((40, 70), np.float32, 14)[:, ::2]
    assert _rel(backend.softmax(x), R.softmax(x)) < 1e-5


@pytest.mark.parametrize("NC", [(1, 1), (17, 33), (129, 1000), (8, 5000)] + ([] if SMALL else [(8192, 1000)]),
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy(cp, NC, dtype):
    backend, _ = cp
    N, C = NC
    logits = _rand((N, C), dtype, 15, scale=3)
    target = cupy.random.default_rng(16).integers(0, C, N).astype(np.int64)
    losses, logp = backend.cross_entropy(logits, target)
    ref_losses, ref_logp = R.cross_entropy(logits, target)
    assert _rel(losses, ref_losses) < REL[dtype] * 5 and _rel(logp, ref_logp) < REL[dtype] * 5
    g = _rand(N, dtype, 17)
    assert _rel(backend.cross_entropy_backward(logp, target, g), R.cross_entropy_backward(logp, target, g)) < REL[dtype] * 5


# --------------------------------------------------------------------------- convolution

CONV_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 4, 11, 7), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),
    ((3, 5, 6, 6), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 2, 13, 10), (3, 2, 5, 4), (3, 2), (2, 1), (2, 1), 1),
    ((2, 70, 17, 17), (65, 70, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 6, 7, 7), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 6),
]
if not SMALL:
    CONV_CASES += [((16, 64, 56, 56), (128, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1),
                   ((8, 3, 127, 129), (33, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1)]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"x{c[0]}w{c[1]}s{c[2]}p{c[3]}d{c[4]}g{c[5]}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d(cp, case, dtype):
    backend, _ = cp
    xs, ws, stride, padding, dilation, groups = case
    x, w = _rand(xs, dtype, 18), _rand(ws, dtype, 19)
    y = backend.conv2d(x, w, stride, padding, dilation, groups)
    assert _rel(y, R.conv2d(_f64(x), _f64(w), stride, padding, dilation, groups)) < REL[dtype] * 20
    gy = _rand(y.shape, dtype, 20)
    gx, gw = backend.conv2d_backward(x, w, gy, stride, padding, dilation, groups, True, True)
    rx, rw = R.conv2d_backward(_f64(x), _f64(w), _f64(gy), stride, padding, dilation, groups, True, True)
    assert _rel(gx, rx) < REL[dtype] * 20 and _rel(gw, rw) < REL[dtype] * 50
    only_w = backend.conv2d_backward(x, w, gy, stride, padding, dilation, groups, False, True)
    assert only_w[0] is None and _rel(only_w[1], rw) < REL[dtype] * 50


def test_conv2d_through_the_tensor_api_non_contiguous(cp):
    import tensorcore.nn.functional as F

    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)

    def run(device):
        xt = tc.tensor(x, device=device, requires_grad=True)
        wt = tc.tensor(w, device=device, requires_grad=True)
        y = F.conv2d(xt.transpose(2, 3), wt, padding=1)              # a non-contiguous input
        (y * y).sum().backward()
        return y.cpu().numpy(), xt.grad.cpu().numpy(), wt.grad.cpu().numpy()

    for got, expected in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- pooling

POOL_CASES = [((2, 3, 7, 9), (2, 2), (2, 2), (0, 0)), ((1, 2, 9, 8), (3, 3), (2, 2), (1, 1)),
              ((2, 1, 5, 6), (3, 2), (1, 1), (1, 1)), ((1, 1, 17, 13), (4, 3), (5, 3), (2, 1)),
              ((1, 2, 6, 6), (2, 2), (3, 3), (1, 0)), ((3, 4, 33, 31), (3, 3), (2, 2), (1, 1))]
if not SMALL:
    POOL_CASES.append(((32, 64, 112, 112), (3, 3), (2, 2), (1, 1)))


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}k{c[1]}s{c[2]}p{c[3]}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d(cp, case, dtype):
    backend, _ = cp
    shape, kernel, stride, padding = case
    x = _rand(shape, dtype, 22)
    x[..., ::3, 1] = x[..., ::3, 0]                                   # ties: the first maximum wins
    y, index = backend.max_pool2d(x, kernel, stride, padding)
    ry, rindex = R.max_pool2d(x, kernel, stride, padding)
    assert _rel(y, ry) == 0 and bool((index == rindex).all())
    gy = _rand(y.shape, dtype, 23)
    expected = R.max_pool2d_backward(gy, rindex, shape)
    assert _rel(backend.max_pool2d_backward(gy, index, shape), expected) < REL[dtype]
    # an index array the forward did not return: geometry unknown, so the atomic scatter
    assert _rel(backend.max_pool2d_backward(gy, index.copy(), shape), expected) < REL[dtype]


def test_max_pool2d_nan_and_minus_inf(cp):
    backend, _ = cp
    x = cupy.asarray([[[[1, np.nan, 3, 3], [2, 5, 5, np.nan], [-np.inf, -np.inf, 0, 1],
                        [-np.inf, -np.inf, 1, 1]]]], dtype=np.float32)
    for kernel, stride, padding in [((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (1, 1)), ((3, 3), (1, 1), (1, 1))]:
        y, index = backend.max_pool2d(x, kernel, stride, padding)
        ry, rindex = R.max_pool2d(x, kernel, stride, padding)
        np.testing.assert_array_equal(cupy.asnumpy(y), cupy.asnumpy(ry))
        np.testing.assert_array_equal(cupy.asnumpy(index), cupy.asnumpy(rindex))


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}k{c[1]}s{c[2]}p{c[3]}")
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d(cp, case, count_include_pad, dtype):
    backend, _ = cp
    shape, kernel, stride, padding = case
    x = _rand(shape, dtype, 24)
    y = backend.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    assert _rel(y, R.avg_pool2d(x, kernel, stride, padding, count_include_pad)) < REL[dtype] * 5
    gy = _rand(y.shape, dtype, 25)
    assert _rel(backend.avg_pool2d_backward(gy, shape, kernel, stride, padding, count_include_pad),
                R.avg_pool2d_backward(gy, shape, kernel, stride, padding, count_include_pad)) < REL[dtype] * 5


# --------------------------------------------------------------------------- LSTM cell

@pytest.mark.parametrize("NIH", [(1, 1, 1), (17, 33, 9), (129, 127, 130)] + ([] if SMALL else [(1000, 512, 1001)]),
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell(cp, NIH, dtype):
    backend, _ = cp
    N, I, H = NIH
    x, h, c = _rand((N, I), dtype, 26), _rand((N, H), dtype, 27), _rand((N, H), dtype, 28)
    w_ih, w_hh, b = (_rand(s, dtype, seed, scale=0.2) for s, seed in (((4 * H, I), 29), ((4 * H, H), 30), ((4 * H,), 31)))
    out = backend.lstm_cell(x, h, c, w_ih, w_hh, b)
    ref = R.lstm_cell(*(_f64(a) for a in (x, h, c, w_ih, w_hh, b)))
    for got, expected in zip(out, ref):
        assert _rel(got, expected) < REL[dtype] * 20
    gh, gc = _rand((N, H), dtype, 32), _rand((N, H), dtype, 33)
    grads = backend.lstm_cell_backward(x, h, c, w_ih, w_hh, out[2], gh, gc)
    ref_grads = R.lstm_cell_backward(*(_f64(a) for a in (x, h, c, w_ih, w_hh, out[2], gh, gc)))
    for got, expected in zip(grads, ref_grads):
        assert _rel(got, expected) < REL[dtype] * 50


# --------------------------------------------------------------------------- fused optimizers

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled", [False, True], ids=["adam", "adamw"])
def test_fused_adam_matches_the_optimizer(cp, dtype, decoupled):
    _, glue = cp
    shapes = [(3,), (40_000,), (0,), (17, 5), (300, 129)]
    params = [_rand(s, dtype, 34 + i) for i, s in enumerate(shapes)]
    grads = [_rand(s, dtype, 44 + i) for i, s in enumerate(shapes)]
    m, v = [cupy.zeros_like(p) for p in params], [cupy.zeros_like(p) for p in params]
    tensors = [tc.tensor(cupy.asnumpy(p), requires_grad=True) for p in params]
    opt = (tc.optim.AdamW if decoupled else tc.optim.Adam)(tensors, lr=1e-2, weight_decay=0.1)
    for step in (1, 2, 3):
        for t, g in zip(tensors, grads):
            t.grad = tc.tensor(cupy.asnumpy(g))
        opt.step()
        glue.fused_adam_step(params, grads, m, v, step, 1e-2, (0.9, 0.999), 1e-8, 0.1, decoupled=decoupled)
    for p, t in zip(params, tensors):
        if p.size:
            assert _rel(p, t.detach().numpy()) < REL[dtype] * 10


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,dampening,nesterov", [(0.0, 0.0, False), (0.9, 0.1, False), (0.9, 0.0, True)])
def test_fused_sgd_matches_the_optimizer(cp, dtype, momentum, dampening, nesterov):
    _, glue = cp
    shapes = [(3,), (20_000,), (17, 5)]
    params = [_rand(s, dtype, 54 + i) for i, s in enumerate(shapes)]
    grads = [_rand(s, dtype, 64 + i) for i, s in enumerate(shapes)]
    bufs = [cupy.zeros_like(p) for p in params] if momentum else None
    tensors = [tc.tensor(cupy.asnumpy(p), requires_grad=True) for p in params]
    opt = tc.optim.SGD(tensors, lr=0.1, momentum=momentum, dampening=dampening, weight_decay=0.01, nesterov=nesterov)
    for step in (1, 2, 3):
        for t, g in zip(tensors, grads):
            t.grad = tc.tensor(cupy.asnumpy(g))
        opt.step()
        glue.fused_sgd_step(params, grads, bufs, 0.1, momentum, dampening, 0.01, nesterov, first_step=step == 1)
    for p, t in zip(params, tensors):
        assert _rel(p, t.detach().numpy()) < REL[dtype] * 10


# --------------------------------------------------------------------------- end to end

def test_kernels_run_on_cupys_current_stream(cp):
    backend, _ = cp
    with cupy.cuda.Stream(non_blocking=True) as stream:
        a = _rand((1500, 700), np.float32, 70)
        b = cupy.ones((700, 900), np.float32)
        c = backend.softmax(backend.matmul(a * 2, b))
    stream.synchronize()
    assert _rel(c, R.softmax((a * 2) @ b)) < 1e-5


def test_out_of_memory_says_how_much(cp):
    backend, _ = cp
    a, b = cupy.ones((1 << 20, 1), np.float32), cupy.ones((1, 1 << 20), np.float32)
    from tensorcore.device import OutOfMemoryError

    with pytest.raises(OutOfMemoryError, match=r"matmul: out of GPU memory: tried to allocate 4096\.00 GiB"):
        backend.matmul(a, b)


def test_cnn_training_step_matches_cpu():
    import tensorcore.nn.functional as F

    rng = np.random.default_rng(71)
    x = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    target = rng.integers(0, 10, 8)
    init = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in [(8, 3, 3, 3), (8 * 8 * 8, 10)]]

    def step(device):
        w1, w2 = (tc.tensor(p, device=device, requires_grad=True) for p in init)
        h = F.max_pool2d(F.conv2d(tc.tensor(x, device=device), w1, padding=1).relu(), 2)
        loss = F.cross_entropy(h.reshape(8, -1) @ w2, tc.tensor(target, device=device))
        loss.backward()
        return loss.item(), [w1.grad.cpu().numpy(), w2.grad.cpu().numpy()]

    loss_cpu, cpu = step("cpu")
    with tc.use_backend("cupy"):
        loss_gpu, gpu = step("cuda")
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    for got, expected in zip(gpu, cpu):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
