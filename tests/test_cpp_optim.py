"""The C++ fused Adam and SGD steps against the reference entries, and through ``optim`` against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
from tensorcore.backends import reference

if not tc.backends.available()["cpp"]:
    pytest.skip(f"cpp backend unavailable: {tc.backends.available()['cpp'].reason}", allow_module_level=True)

cpp = tc.backends.get("cpp")


def _state(shape, dtype, seed, amsgrad):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    arrays.append(np.abs(rng.standard_normal(shape)).astype(dtype))  # exp_avg_sq >= 0
    arrays.append(np.abs(rng.standard_normal(shape)).astype(dtype) if amsgrad else None)
    return arrays


@pytest.mark.parametrize("shape", [(1,), (7,), (17, 33), (300, 301)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad,decoupled,maximize,wd", [
    (False, False, False, 0.0), (True, False, False, 0.1), (False, True, False, 0.05), (False, False, True, 0.0),
])
def test_adam_step_matches_reference(shape, dtype, amsgrad, decoupled, maximize, wd):
    ours = _state(shape, dtype, 0, amsgrad)
    ref = [None if a is None else a.copy() for a in ours]
    for step in (1, 2, 7):
        args = (step, 1e-3, 0.9, 0.999, 1e-8, wd, decoupled, maximize)
        cpp.adam_step(*ours, *args)
        reference.adam_step(*ref, *args)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for name, a, b in zip(["param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"], ours, ref):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=name)


def test_adam_step_falls_back_for_views_and_checks_arguments():
    p, g, m, v, _ = _state((6, 4), np.float32, 1, False)
    pt, gt, mt, vt = (a.T for a in (p, g, m, v))  # not C-contiguous: the reference updates them in place
    expected = [a.copy() for a in (pt, gt, mt, vt)]
    cpp.adam_step(pt, gt, mt, vt, None, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0, False, False)
    reference.adam_step(*expected, None, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0, False, False)
    np.testing.assert_allclose(pt, expected[0], rtol=1e-6)
    with pytest.raises(ValueError, match="adam_step: shapes differ"):
        tc._C.adam_step(p, g[:3], m, v, None, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, 1.0, 1.0)
    with pytest.raises(TypeError, match="adam_step: dtypes differ"):
        tc._C.adam_step(p, g.astype(np.float64), m, v, None, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, 1.0, 1.0)
    frozen = p.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="param is read-only"):
        tc._C.adam_step(frozen, g, m, v, None, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, 1.0, 1.0)


def test_adam_through_cpp_matches_torch():
    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(2).standard_normal((5, 3))
    ours = tc.nn.Parameter(tc.tensor(w0))
    theirs = torch.nn.Parameter(torch.tensor(w0))
    opt = tc.optim.AdamW([ours], lr=1e-2, weight_decay=0.1, amsgrad=True)
    ref = torch.optim.AdamW([theirs], lr=1e-2, weight_decay=0.1, amsgrad=True)
    with tc.use_backend("cpp"):
        for step in range(5):
            grad = np.random.default_rng(step).standard_normal((5, 3))
            ours.grad, theirs.grad = tc.tensor(grad), torch.tensor(grad)
            opt.step()
            ref.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


SGD_FLAVOURS = [  # momentum, dampening, weight_decay, nesterov, maximize
    (0.0, 0.0, 0.0, False, False), (0.9, 0.0, 0.0, False, False), (0.9, 0.1, 0.01, False, True),
    (0.9, 0.0, 0.05, True, False),
]


@pytest.mark.parametrize("shape", [(1,), (7,), (17, 33), (300, 301)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,dampening,wd,nesterov,maximize", SGD_FLAVOURS)
def test_sgd_step_matches_reference(shape, dtype, momentum, dampening, wd, nesterov, maximize):
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    states = []
    for impl in (cpp.sgd_step, reference.sgd_step):
        p = p0.copy()
        buf = np.full(shape, np.nan, dtype) if momentum else None    # the first step must not read it
        for step, g in enumerate(grads):
            impl(p, g, buf, 0.1, momentum, dampening, wd, nesterov, maximize, step == 0)
        states.append((p, buf))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for got, expected in zip(*states):
        if got is not None:
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_sgd_step_falls_back_for_views_and_checks_arguments():
    rng = np.random.default_rng(4)
    p, g, b = (rng.standard_normal((6, 4)).astype(np.float32) for _ in range(3))
    pt, expected, expected_b = p.T, p.T.copy(), b.T.copy()   # not C-contiguous: the reference updates views
    cpp.sgd_step(pt, g.T, b.T, 0.1, 0.9, 0.0, 0.0, False, False, False)
    reference.sgd_step(expected, g.T, expected_b, 0.1, 0.9, 0.0, 0.0, False, False, False)
    np.testing.assert_allclose(b.T, expected_b, rtol=1e-6)
    np.testing.assert_allclose(pt, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="sgd_step: momentum needs a momentum_buffer"):
        tc._C.sgd_step(p, g, None, 0.1, 0.9, 0.0, 0.0, False, False, False)
    with pytest.raises(ValueError, match="sgd_step: shapes differ"):
        tc._C.sgd_step(p, g[:3], None, 0.1, 0.0, 0.0, 0.0, False, False, False)
    with pytest.raises(TypeError, match="sgd_step: dtypes differ"):
        tc._C.sgd_step(p, g, b.astype(np.float64), 0.1, 0.9, 0.0, 0.0, False, False, False)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_through_cpp_matches_torch(nesterov):
    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(5).standard_normal((5, 3)).astype(np.float32)
    ours = tc.nn.Parameter(tc.tensor(w0))
    theirs = torch.nn.Parameter(torch.tensor(w0))
    opt = tc.optim.SGD([ours], lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    ref = torch.optim.SGD([theirs], lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    with tc.use_backend("cpp"):
        for step in range(5):
            grad = np.random.default_rng(step).standard_normal((5, 3)).astype(np.float32)
            ours.grad, theirs.grad = tc.tensor(grad), torch.tensor(grad)
            opt.step()
            ref.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-6)
    torch_buf = ref.state[theirs]["momentum_buffer"].numpy()
    np.testing.assert_allclose(opt.state_dict()["state"][0]["momentum_buffer"].numpy(), torch_buf, rtol=1e-6)
