"""Tensor creation, attributes, conversion, interop and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
from oracle import torch


def test_creation_dtypes_follow_pytorch():
    assert tc.tensor([1.0, 2.0]).dtype == tc.float32
    assert tc.tensor([1, 2]).dtype == tc.int64
    assert tc.tensor([True]).dtype == tc.bool
    assert tc.tensor(np.zeros(2)).dtype == tc.float64
    assert tc.tensor(np.zeros(2, np.int32)).dtype == tc.int64
    assert tc.tensor([1, 2], dtype=tc.float64).dtype == tc.float64
    assert tc.tensor(3.5).shape == ()
    assert tc.zeros(2, 3).dtype == tc.float32 and tc.zeros((2, 3)).shape == (2, 3)
    assert tc.full((2,), 7).dtype == tc.int64 and tc.full((2,), 7.0).dtype == tc.float32
    assert tc.arange(5).tolist() == [0, 1, 2, 3, 4] and tc.arange(0, 1, 0.5).dtype == tc.float32
    assert tc.eye(3).numpy().trace() == 3
    assert tc.ones_like(tc.zeros(2, dtype=tc.float64)).dtype == tc.float64
    assert tc.empty(0, 4).shape == (0, 4)
    assert tc.randn(2, 3, dtype=tc.float64).dtype == tc.float64
    assert tc.randint(0, 3, (5,)).dtype == tc.int64


def test_seeding_is_reproducible():
    tc.manual_seed(3)
    a = tc.randn(4)
    tc.manual_seed(3)
    b = tc.randn(4)
    assert tc.equal(a, b)
    g1, g2 = tc.Generator(5), tc.Generator(5)
    assert tc.equal(tc.rand(3, generator=g1), tc.rand(3, generator=g2))


def test_attributes():
    x = tc.zeros(2, 3, 4, requires_grad=True)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3 and x.numel() == 24
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.size(1) == 3
    assert x.device == "cpu" and str(x.device) == "cpu"
    assert x.is_leaf and x.requires_grad and x.grad is None
    assert x.T.shape == (4, 3, 2) and tc.zeros(2, 3).T.shape == (3, 2)
    assert len(x) == 2 and x.is_contiguous() and not x.transpose(0, 1).is_contiguous()


def test_conversions():
    x = tc.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert x[0, 0].item() == 1.5 and float(x[0, 1]) == 2.0
    assert x.double().dtype == tc.float64 and x.long().tolist() == [[1, 2], [3, 4]]
    assert x.to(tc.float64).dtype == tc.float64 and x.to("cpu") is x
    assert np.asarray(x).dtype == np.float32
    with pytest.raises(ValueError, match="item: only a tensor with one element"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)


def test_from_numpy_shares_memory_and_rejects_narrow_dtypes():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tc.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    assert t.numpy() is a
    with pytest.raises(TypeError, match="from_numpy: dtype uint8"):
        tc.from_numpy(np.zeros(2, np.uint8))
    with pytest.raises(TypeError, match="expected a numpy.ndarray"):
        tc.from_numpy([1, 2])


def test_dlpack_round_trips_with_numpy_and_torch_without_copy():
    t = tc.arange(6).float()
    n = np.from_dlpack(t)
    n[0] = 9
    assert t[0].item() == 9
    th = torch.from_dlpack(t)
    assert th.tolist() == t.tolist()
    back = tc.from_dlpack(torch.arange(4.0))
    assert back.tolist() == [0, 1, 2, 3] and back.dtype == tc.float32
    with pytest.raises(TypeError, match="DLPack"):
        tc.from_dlpack([1, 2])


def test_repr_is_pytorch_like():
    assert repr(tc.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tc.tensor([1, 2])) == "tensor([1, 2])"
    assert "requires_grad=True" in repr(tc.zeros(2, requires_grad=True))
    assert "dtype=tensorcore.float64" in repr(tc.zeros(2, dtype=tc.float64))
    assert "grad_fn=<MulBackward>" in repr(tc.zeros(2, requires_grad=True) * 2)


def test_views_share_storage_and_version():
    x = tc.zeros(2, 3)
    v = x.view(6)
    v[0] = 5.0
    assert x[0, 0].item() == 5.0
    assert x._version[0] == v._version[0] == 1
    r = x.T.reshape(6)  # needs a copy: not a view
    r[1] = 7.0
    assert x.numpy().max() == 5.0


def test_inplace_ops():
    x = tc.ones(3)
    x.add_(2).mul_(2)
    assert x.tolist() == [6, 6, 6]
    x.sub_(1, alpha=2)
    x /= 2
    assert x.tolist() == [2, 2, 2]
    x.zero_()
    assert x.tolist() == [0, 0, 0]
    x.copy_(tc.tensor([1.0, 2.0, 3.0]))
    x.fill_(4)
    assert x.tolist() == [4, 4, 4]
    x.clamp_(max=1)
    assert x.tolist() == [1, 1, 1]
    i = tc.tensor([1, 2])
    with pytest.raises(TypeError, match="cannot be written into a tensorcore.int64"):
        i.add_(0.5)
    with pytest.raises(ValueError, match="does not fit"):
        tc.zeros(3).add_(tc.zeros(2, 3))


def test_comparisons_return_bool_without_grad():
    x = tc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == tc.bool and not m.requires_grad
    assert m.tolist() == [False, True, True]
    assert (x == 2).tolist() == [False, True, False]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert (~m).tolist() == [True, False, False]


def test_promotion():
    f32, f64, i64 = tc.zeros(2), tc.zeros(2, dtype=tc.float64), tc.zeros(2, dtype=tc.int64)
    assert (f32 + f64).dtype == tc.float64
    assert (i64 + f32).dtype == tc.float32
    assert (i64 + 1).dtype == tc.int64 and (i64 * 1.5).dtype == tc.float32
    assert (i64 / 2).dtype == tc.float32
    assert (f32 + np.float64(1.0)).dtype == tc.float32
    x = tc.ones(2, dtype=tc.float32, requires_grad=True)
    (x + tc.ones(2, dtype=tc.float64)).sum().backward()
    assert x.grad.dtype == tc.float32


def test_numpy_operands_on_either_side():
    x = tc.tensor([1.0, 2.0])
    assert (x + np.array([1.0, 1.0])).tolist() == [2, 3]
    assert isinstance(np.array([1.0, 1.0]) + x, tc.Tensor)


@pytest.mark.parametrize("bad,err,match", [
    ([[1, 2], [3]], ValueError, "ragged"),
    (["a"], TypeError, "cannot make a tensor"),
    (object(), TypeError, "cannot make a tensor"),
])
def test_bad_data(bad, err, match):
    with pytest.raises(err, match=match):
        tc.tensor(bad)


def test_bad_arguments():
    with pytest.raises(TypeError, match="unsupported dtype"):
        tc.zeros(2, dtype="complex64")
    with pytest.raises(ValueError, match="negative dimension"):
        tc.zeros(-1)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tc.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="add: shapes \\(2,\\) and \\(3,\\) are not broadcastable"):
        tc.zeros(2) + tc.zeros(3)
    with pytest.raises(TypeError, match="add: cannot use an object"):
        tc.zeros(2) + "x"


@pytest.mark.skipif(tc.cuda.is_available(), reason="checks the error on machines without a GPU")
def test_cuda_unavailable_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        tc.zeros(2).to("cuda")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        tc.zeros(2, device="cuda")
    assert not tc.cuda.is_available() and tc.cuda.why_unavailable()


def test_nan_inputs_are_kept_not_hidden():
    x = tc.tensor([float("nan"), 1.0])
    assert np.isnan(x.sum().item())
    assert np.isnan(x.max().item())
    assert x.argmax().item() == 0


@pytest.fixture
def simulated_cuda(monkeypatch):
    """The ``cuda`` device as Numba's simulator provides it (NumPy storage, no GPU)."""
    from tensorcore.device import cuda_status

    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    cuda_status.cache_clear()
    yield
    cuda_status.cache_clear()


def test_simulated_cuda_device_runs_autograd_and_refuses_mixing(simulated_cuda):
    x = tc.randn(3, 4, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda:0" and y.is_cuda and "device='cuda:0'" in repr(y.detach())
    loss = (y @ y.T).softmax(1).sum()
    loss.backward()
    assert loss.device == "cuda" and x.grad.device == "cpu" and x.grad.shape == (3, 4)
    with pytest.raises(RuntimeError, match="add: expected all tensors on the same device, got cpu and cuda:0"):
        x + y
    with pytest.raises(TypeError, match="numpy: the tensor is on cuda:0"):
        y.detach().numpy()
    assert y.detach().cpu().tolist() == x.detach().tolist()
