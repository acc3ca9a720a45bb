"""The Numba-CUDA convolution (im2col + the matmul ladder + col2im), device-side input checks, and a CNN
training step on the simulated ``cuda`` device with no host round trip.

Runs under Numba's CUDA simulator only, in the subprocess that
``tests/test_numba_sim.py::test_simulator_suite_in_subprocess`` starts; the plain process skips it.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
pytestmark = pytest.mark.skipif(not SIMULATED, reason="runs under Numba's CUDA simulator, in the subprocess "
                                                      "started by tests/test_numba_sim.py")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(scope="module")
def nb():
    import tensorcore as tc
    from tensorcore.backends import reference

    return tc.backends.get("numba"), reference


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# (x shape, w shape, stride, padding, dilation, groups): each crosses one edge of im2col / col2im. Where
# OH*OW >= O/G the weight gradient is split by image (im2col_t_per_image + a sum over N), elsewhere
# ("kernel_larger_than_input": one output pixel) it is one GEMM per group (im2col_t).
CASES = {
    "odd_padded": ((2, 3, 7, 5), (4, 3, 3, 2), (1, 1), (1, 0), (1, 1), 1),
    "kernel_larger_than_input": ((1, 2, 3, 3), (3, 2, 5, 5), (1, 1), (1, 1), (1, 1), 1),
    "stride_larger_than_kernel": ((1, 3, 9, 8), (5, 3, 2, 2), (3, 3), (0, 0), (1, 1), 1),
    "one_by_one": ((2, 5, 3, 4), (3, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "groups_dilation_stride": ((1, 4, 7, 6), (6, 2, 2, 3), (2, 1), (0, 1), (1, 2), 2),
    "depthwise": ((2, 3, 5, 5), (3, 1, 3, 3), (1, 2), (1, 1), (1, 1), 3),
}


@pytest.mark.parametrize("name", CASES)
def test_conv2d_forward_and_gradients_match_the_reference(nb, name):
    B, R = nb
    xs, ws, stride, padding, dilation, groups = CASES[name]
    rng = np.random.default_rng(len(name))
    for dtype in (np.float64, np.float32) if name == "odd_padded" else (np.float64,):
        x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
        y = B.conv2d(x, w, stride, padding, dilation, groups)
        expected = R.conv2d(x, w, stride, padding, dilation, groups)
        assert y.dtype == dtype and y.flags.c_contiguous
        np.testing.assert_allclose(y, expected, **TOL[dtype])
        gy = _rand(rng, y.shape, dtype)
        got = B.conv2d_backward(x, w, gy, stride, padding, dilation, groups, True, True)
        want = R.conv2d_backward(x, w, gy, stride, padding, dilation, groups, True, True)
        for g, e in zip(got, want):
            assert g.shape == e.shape and g.dtype == dtype
            np.testing.assert_allclose(g, e, **TOL[dtype])


def test_conv2d_backward_computes_only_what_is_asked(nb):
    B, R = nb
    rng = np.random.default_rng(1)
    x, w = _rand(rng, (1, 2, 5, 4), np.float64), _rand(rng, (3, 2, 2, 2), np.float64)
    gy = _rand(rng, (1, 3, 4, 3), np.float64)
    gx, gw = B.conv2d_backward(x, w, gy, (1, 1), (0, 0), (1, 1), 1, True, False)
    assert gw is None and gx.shape == x.shape
    gx, gw = B.conv2d_backward(x, w, gy, (1, 1), (0, 0), (1, 1), 1, False, True)
    assert gx is None
    np.testing.assert_allclose(gw, R.conv2d_backward(x, w, gy, (1, 1), (0, 0), (1, 1), 1, False, True)[1], rtol=1e-12)


def test_conv2d_is_handwritten_and_falls_back_for_other_dtypes(nb):
    B, R = nb
    assert B.table()["conv2d"] == B.table()["conv2d_backward"] == "handwritten"
    x, w = np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float64)
    y = B.conv2d(x, w, (1, 1), (0, 0), (1, 1), 1)     # mixed dtypes: the reference's promotion
    np.testing.assert_array_equal(y, R.conv2d(x, w, (1, 1), (0, 0), (1, 1), 1))
    xi = np.arange(9, dtype=np.int64).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(B.conv2d(xi, np.ones((1, 1, 2, 2), np.int64), (1, 1), (0, 0), (1, 1), 1),
                                  [[[[8, 12], [20, 24]]]])


def test_conv2d_layer_on_cuda_matches_cpu_with_bias_and_strided_input(nb):
    """Through ``F.conv2d`` with a bias and a non-contiguous (transposed) input, forward and all three
    gradients on simulated cuda equal the cpu's."""
    import tensorcore as tc
    import tensorcore.nn.functional as F

    rng = np.random.default_rng(2)
    x0 = _rand(rng, (2, 3, 5, 6), np.float32)
    w0, b0 = _rand(rng, (4, 3, 3, 3), np.float32), _rand(rng, (4,), np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        x = tc.tensor(x0, device=device).transpose(2, 3).requires_grad_()    # (2, 3, 6, 5), strided
        w = tc.tensor(w0, device=device, requires_grad=True)
        b = tc.tensor(b0, device=device, requires_grad=True)
        y = F.conv2d(x, w, b, stride=(2, 1), padding=1)
        (y * y).sum().backward()
        results[device] = [t.detach().cpu().numpy() for t in (y, x.grad, w.grad, b.grad)]
    for got, expected in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- checks on the device

def test_bad_class_indices_raise_at_the_next_synchronization(nb):
    """On cuda a target outside [0, C) does not stop the op (that would need the values on the host);
    the check runs on the device and raises at the next synchronization, naming the op, once."""
    import tensorcore as tc
    import tensorcore.nn.functional as F

    logits = tc.randn(4, 3, device="cuda")
    loss = F.cross_entropy(logits, tc.tensor([0, 3, 1, 2], device="cuda"))     # queued, no error yet
    with pytest.raises(IndexError, match=r"cross_entropy: target values must be in \[0, 2\] \(or ignore_index=-100\); "
                                         r"a value outside that range was given \(checked on the device"):
        loss.item()
    assert np.isfinite(F.cross_entropy(logits, tc.tensor([0, 2, 1, -100], device="cuda")).item())  # cleared

    F.nll_loss(logits, tc.tensor([-1, 0, 0, 0], device="cuda"))
    with pytest.raises(IndexError, match=r"nll_loss: target values must be in \[0, 2\]"):
        tc.cuda.synchronize()

    emb = F.embedding(tc.tensor([[1, 7]], device="cuda"), tc.randn(5, 2, device="cuda"))
    assert emb.shape == (1, 2, 2)                                      # never read outside the weight
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 4\] for a weight of shape \(5, 2\)"):
        emb.cpu()
    tc.cuda.synchronize()                                              # nothing pending any more


def test_cnn_training_step_on_cuda_matches_cpu_without_host_copies(nb, monkeypatch):
    """Conv → ReLU → max-pool → avg-pool → Linear → cross-entropy, backward and an Adam step on simulated
    cuda give the cpu's parameters; the step itself copies nothing to the host (every device-to-host path of
    tensorcore goes through ``device.move`` and is counted), the loss is read afterwards.

    On the simulator the storage is NumPy, so a stray ``float(array)`` inside an op would go unseen here;
    ``tests/gpu`` repeats the step behind a GPU kernel that keeps the stream busy, which catches that too."""
    import tensorcore as tc
    from tensorcore import nn

    device_mod = sys.modules["tensorcore.device"]     # the module (tc.device is the Device class)
    assert tc.backends.current("cuda").name == "numba"
    rng = np.random.default_rng(3)
    x0 = _rand(rng, (3, 2, 9, 8), np.float32)
    t0 = rng.integers(0, 5, 3)
    model0 = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d((2, 1)),
                           nn.Flatten(), nn.Linear(4 * 2 * 4, 5))
    state = {k: v.detach().numpy().copy() for k, v in model0.state_dict().items()}

    def run(device: str, audit: bool) -> tuple[float, dict]:
        model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d((2, 1)),
                              nn.Flatten(), nn.Linear(4 * 2 * 4, 5))
        model.load_state_dict(state)
        model.to(device)
        opt = tc.optim.Adam(model.parameters(), lr=1e-2)
        x, t = tc.tensor(x0, device=device), tc.tensor(t0, device=device)
        syncs = []
        if audit:   # every copy off the device (device.move from cuda) passes through raise_deferred
            real = device_mod.raise_deferred
            monkeypatch.setattr(device_mod, "raise_deferred", lambda: syncs.append(1) or real())
        opt.zero_grad()
        loss = tc.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        assert not syncs, f"{len(syncs)} copies to the host during one training step"
        value = loss.item()
        assert len(syncs) == int(audit)        # the audit sees a copy when there is one
        monkeypatch.undo()
        return value, {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    loss_cpu, cpu = run("cpu", False)
    loss_cuda, cuda = run("cuda", True)
    np.testing.assert_allclose(loss_cuda, loss_cpu, rtol=1e-5)
    for name in cpu:
        assert not np.allclose(cpu[name], state[name]), name
        np.testing.assert_allclose(cuda[name], cpu[name], rtol=1e-4, atol=1e-5, err_msg=name)
