"""A training step on a real GPU copies nothing to the host and never waits for the device.

The proof: a kernel that spins for a few seconds is queued first on CuPy's current stream, then the
whole step (forward, loss, backward, optimizer update) is issued. Every op goes onto that stream
behind the spinning kernel, so any copy to the host or synchronization inside the step would block
until the spin ends. The step must return while the spin is still running (a CUDA event recorded
after it is not yet complete), and only ``loss.item()`` afterwards waits. (A copy *to* the device from
pageable host memory waits too, so the step's inputs are made before the spin, as a data loader
would.) This catches what the
simulator's audit (tests/test_numba_sim_conv.py) cannot: a stray ``float()`` or ``int()`` of a device
array anywhere in an op.
"""
from __future__ import annotations

import time

import numpy as np
import gpu_env
import pytest

pytestmark = pytest.mark.gpu

cupy = gpu_env.require_gpu()

import tensorcore as tc  # noqa: E402
from tensorcore import nn  # noqa: E402

SPIN_S = 3.0

_SPIN = cupy.RawKernel(r'''
extern "C" __global__ void spin(unsigned long long ns) {
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        __nanosleep(100000);
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < ns);
}
''', "spin")


def _spin(seconds: float) -> None:
    _SPIN((1,), (1,), (np.uint64(int(seconds * 1e9)),))


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _lstm_step(cell: nn.LSTMCell, head: nn.Linear, x: tc.Tensor, h: tc.Tensor, c: tc.Tensor) -> tc.Tensor:
    for t in range(x.shape[0]):
        h, c = cell(x[t], (h, c))
    return head(h)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("model", ["mlp", "cnn", "lstm"])
@pytest.mark.parametrize("backend", ["numba", "cupy"])
def test_training_step_does_not_wait_for_the_gpu(backend, model, optimizer):
    rng = np.random.default_rng(0)
    with tc.use_backend(backend):
        if model == "lstm":
            cell, head = nn.LSTMCell(28, 64).to("cuda"), nn.Linear(64, 10).to("cuda")
            params = list(cell.parameters()) + list(head.parameters())
            # 8 steps: a stream queues about a thousand launches before cuLaunchKernel itself blocks, and
            # an LSTM step is ~20 launches a time step; a longer sequence would fail for the wrong reason.
            x = tc.tensor(rng.standard_normal((8, 32, 28)).astype(np.float32), device="cuda")
            h0 = c0 = tc.zeros(32, 64, device="cuda")
            forward = lambda: _lstm_step(cell, head, x, h0, c0)  # noqa: E731
        else:
            net = (_cnn() if model == "cnn" else _mlp()).to("cuda")
            params = list(net.parameters())
            x = tc.tensor(rng.standard_normal((32, 1, 28, 28)).astype(np.float32), device="cuda")
            forward = lambda: net(x)  # noqa: E731
        target = tc.tensor(rng.integers(0, 10, 32), device="cuda")
        opt = tc.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd" else tc.optim.Adam(params, lr=1e-3)

        def step() -> tc.Tensor:
            opt.zero_grad()
            loss = tc.nn.functional.cross_entropy(forward(), target)
            loss.backward()
            opt.step()
            return loss

        for _ in range(2):          # compile every kernel and fill the memory pool first
            step().item()
        tc.cuda.synchronize()

        _spin(SPIN_S)
        start = time.perf_counter()
        loss = step()
        issued = time.perf_counter() - start
        after = cupy.cuda.Event()
        after.record()
        assert not after.done, f"the step waited for the GPU (it took {issued:.2f} s to issue)"
        assert issued < SPIN_S / 2
        assert np.isfinite(loss.item())     # this one waits, by design
        assert time.perf_counter() - start >= SPIN_S * 0.9
