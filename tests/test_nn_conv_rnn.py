"""Conv2d, pooling, batch norm, Embedding and the recurrent layers against PyTorch: forward, gradients,
parameter names, state dicts converted from PyTorch through NumPy, and bad-input errors."""
import math

import numpy as np
import pytest
torch = pytest.importorskip("torch")

import tensorcore as tc
from tensorcore import nn

F32, F64 = (np.float32, tc.float32, torch.float32, 2e-5), (np.float64, tc.float64, torch.float64, 1e-10)


def data(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def load_from_torch(tc_module, torch_module):
    """Copy the PyTorch module's state (parameters and buffers) into the tensorcore one through NumPy."""
    assert list(tc_module.state_dict()) == list(torch_module.state_dict())
    result = tc_module.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys


def outputs(value):
    """The tensors of a layer's result, flattened: ``out`` or ``out, (h, c)``."""
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in outputs(v)]
    return [value]


def check(tc_layer, torch_layer, inputs, tol, call=lambda layer, *xs: layer(*xs), grads=True):
    """Load torch_layer's state into tc_layer, run both on ``inputs`` (NumPy arrays), compare every
    output, then backpropagate one random upstream gradient per output and compare the gradients of
    the inputs (float ones) and of every parameter."""
    load_from_torch(tc_layer, torch_layer)
    tc_layer.zero_grad()
    torch_layer.zero_grad()
    xs_tc = [tc.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in inputs]
    xs_th = [torch.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in inputs]
    outs_tc, outs_th = outputs(call(tc_layer, *xs_tc)), outputs(call(torch_layer, *xs_th))
    assert len(outs_tc) == len(outs_th)
    for a, b in zip(outs_tc, outs_th):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)
    if not grads:
        return
    rng = np.random.default_rng(1)
    total_tc = total_th = 0
    for a, b in zip(outs_tc, outs_th):
        up = rng.standard_normal(b.shape).astype(b.detach().numpy().dtype)
        total_tc = total_tc + (a * tc.tensor(up)).sum()
        total_th = total_th + (b * torch.tensor(up)).sum()
    total_tc.backward()
    total_th.backward()
    for i, (a, b) in enumerate(zip(xs_tc, xs_th)):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=10 * tol, atol=10 * tol,
                                       err_msg=f"gradient of input {i}")
    torch_params = dict(torch_layer.named_parameters())
    assert [n for n, _ in tc_layer.named_parameters()] == list(torch_params)
    for name, p in tc_layer.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_params[name].grad.numpy(), rtol=10 * tol, atol=10 * tol,
                                   err_msg=name)


# ---------------------------------------------------------------- Conv2d

CONV_CASES = [
    # (in, out, kernel, kwargs, input shape)
    (1, 25, 3, {}, (2, 1, 9, 9)),
    (3, 4, (3, 2), dict(stride=(2, 1), padding=(1, 0)), (2, 3, 7, 5)),
    (4, 6, 3, dict(groups=2, dilation=2, padding=2, bias=False), (1, 4, 8, 6)),
    (2, 3, 2, dict(padding="same"), (3, 2, 5, 4)),
    (2, 5, 1, dict(stride=3), (2, 2, 7, 7)),
    (3, 2, 3, {}, (3, 6, 5)),  # unbatched
]


@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", [F32, F64])
@pytest.mark.parametrize("cin,cout,k,kw,shape", CONV_CASES)
def test_conv2d_matches_torch(np_dt, tc_dt, torch_dt, tol, cin, cout, k, kw, shape):
    layer = nn.Conv2d(cin, cout, k, dtype=tc_dt, **kw)
    check(layer, torch.nn.Conv2d(cin, cout, k, dtype=torch_dt, **kw), [data(shape, np_dt)], tol)


def test_conv2d_default_init_repr_and_errors():
    tc.manual_seed(0)
    layer = nn.Conv2d(25, 50, 3)
    bound = 1 / math.sqrt(25 * 9)
    w = layer.weight.detach().numpy()
    assert layer.weight.shape == (50, 25, 3, 3) and layer.bias.shape == (50,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound
    assert repr(layer) == "Conv2d(25, 50, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(2, 4, 3, padding=1, groups=2, bias=False)) == \
        "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2, bias=False)"
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 25 channels.*\(2, 3, 8, 8\)"):
        layer(tc.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"conv2d: expected a 3-D .* or 4-D .* got shape \(8, 8\)"):
        layer(tc.randn(8, 8))
    with pytest.raises(ValueError, match=r"conv2d: the kernel \(3, 3\).*larger than the padded input"):
        layer(tc.randn(1, 25, 2, 2))
    with pytest.raises(ValueError, match="in_channels .3. must be divisible by groups .2."):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: stride must be >= 1"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(TypeError, match="conv2d: input is tensorcore.float64 but weight is tensorcore.float32"):
        layer(tc.randn(1, 25, 5, 5, dtype=tc.float64))


def test_conv2d_state_dict_from_torch_gives_same_outputs():
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(3, 8, (3, 5), stride=2, padding=1)
    layer = nn.Conv2d(3, 8, (3, 5), stride=2, padding=1)
    load_from_torch(layer, ref)
    x = data((4, 3, 11, 13))
    np.testing.assert_allclose(layer(tc.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=2e-5, atol=2e-5)


# ---------------------------------------------------------------- pooling

POOL_CASES = [
    (2, {}, (2, 3, 8, 8)),
    (3, dict(stride=2, padding=1), (2, 2, 7, 5)),
    ((3, 2), dict(stride=(1, 2), padding=(1, 0)), (1, 3, 6, 9)),
    (2, dict(stride=1), (3, 5, 4)),  # unbatched
]


@pytest.mark.parametrize("k,kw,shape", POOL_CASES)
def test_max_pool2d_matches_torch(k, kw, shape):
    check(nn.MaxPool2d(k, **kw), torch.nn.MaxPool2d(k, **kw), [data(shape, np.float64)], 1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("k,kw,shape", POOL_CASES)
def test_avg_pool2d_matches_torch(k, kw, shape, count_include_pad):
    check(nn.AvgPool2d(k, count_include_pad=count_include_pad, **kw),
          torch.nn.AvgPool2d(k, count_include_pad=count_include_pad, **kw), [data(shape, np.float64)], 1e-12)


def test_pool_layers_repr_indices_and_errors():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.AvgPool2d(3, 1, 1, count_include_pad=False)) == \
        "AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)"
    x = data((1, 2, 4, 4))
    y, idx = nn.MaxPool2d(2, return_indices=True)(tc.tensor(x))
    ry, ridx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())
    with pytest.raises(ValueError, match="MaxPool2d: padding .2, 2. should be at most half of the kernel size"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match="AvgPool2d: stride must be >= 1"):
        nn.AvgPool2d(2, stride=0)
    with pytest.raises(ValueError, match=r"max_pool2d: the kernel \(5, 5\) is larger than the padded input"):
        nn.MaxPool2d(5)(tc.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match="avg_pool2d: expected a 3-D"):
        nn.AvgPool2d(2)(tc.randn(4, 4))


# ---------------------------------------------------------------- batch norm

def _bn_pair(cls, c, **kw):
    return getattr(nn, cls)(c, **kw), getattr(torch.nn, cls)(c, **kw)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 5, 2))])
@pytest.mark.parametrize("kw", [{}, dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                dict(eps=1e-3, momentum=0.3)])
def test_batch_norm_train_steps_then_eval_match_torch(cls, shape, kw):
    layer, ref = _bn_pair(cls, shape[1], **kw)
    layer.double()
    ref.double()
    with torch.no_grad():  # non-trivial affine parameters
        if ref.affine:
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-0.5, 0.5)
    for step in range(3):
        check(layer, ref, [data(shape, np.float64, seed=step) * (step + 1) + step], 1e-10)
        state, ref_state = layer.state_dict(), ref.state_dict()
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            if kw.get("track_running_stats", True):
                np.testing.assert_allclose(state[key].numpy(), ref_state[key].numpy(), rtol=1e-12, err_msg=key)
            else:
                assert key not in state and key not in ref_state
        ref.load_state_dict({k: v.clone() for k, v in ref_state.items()})  # check() copied it the other way
    layer.eval()
    ref.eval()
    check(layer, ref, [data(shape, np.float64, seed=9)], 1e-10)


def test_batch_norm2d_state_dict_from_torch_train_and_eval():
    torch.manual_seed(0)
    ref = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    for step in range(4):  # move the running statistics away from their initial values
        ref(torch.tensor(data((3, 4, 5, 5), seed=step) * 2 + 1))
    layer = nn.BatchNorm2d(4)
    load_from_torch(layer, ref)
    assert int(layer.num_batches_tracked.item()) == 4 and layer.num_batches_tracked.dtype is tc.int64
    x = data((2, 4, 3, 6), seed=7)
    ref.eval()
    layer.eval()
    np.testing.assert_allclose(layer(tc.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    ref.train()
    layer.train()
    np.testing.assert_allclose(layer(tc.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(layer, key).numpy(), getattr(ref, key).numpy(), rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked.item()) == 5


def test_batch_norm_buffers_repr_and_errors():
    layer = nn.BatchNorm2d(3)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert repr(layer) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D \(N, C, H, W\) input, got shape \(2, 3\)"):
        layer(tc.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 3 channels \(dim 1\).*\(2, 4\)"):
        nn.BatchNorm1d(3)(tc.randn(2, 4))
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(tc.randn(1, 3))
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be a positive int"):
        nn.BatchNorm1d(0)


# ---------------------------------------------------------------- Embedding

@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx):
    layer, ref = nn.Embedding(7, 4, padding_idx=padding_idx), torch.nn.Embedding(7, 4, padding_idx=padding_idx)
    assert layer.padding_idx == ref.padding_idx
    if padding_idx is not None:
        assert not layer.weight.detach().numpy()[padding_idx].any()
    idx = np.array([[0, 3, 3, 6], [6, 1, 0, 3], [2, 2, 2, 5]], dtype=np.int64)  # repeats accumulate
    check(layer, ref, [idx], 1e-6)
    if padding_idx is not None:
        assert not layer.weight.grad.numpy()[padding_idx].any()


def test_embedding_from_pretrained_repr_and_errors():
    w = tc.tensor(data((5, 3)))
    layer = nn.Embedding.from_pretrained(w, padding_idx=1)
    assert not layer.weight.requires_grad and repr(layer) == "Embedding(5, 3, padding_idx=1)"
    np.testing.assert_array_equal(layer(tc.tensor([4, 0])).numpy(), w.numpy()[[4, 0]])
    with pytest.raises(TypeError, match="embedding: input must be an int64 tensor of indices"):
        layer(tc.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 4\]"):
        layer(tc.tensor([1, 5]))
    with pytest.raises(ValueError, match="Embedding: padding_idx 5 must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)


# ---------------------------------------------------------------- recurrent layers

@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", [F32, F64])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_matches_torch(np_dt, tc_dt, torch_dt, tol, bias):
    layer, ref = nn.LSTMCell(5, 4, bias, dtype=tc_dt), torch.nn.LSTMCell(5, 4, bias, dtype=torch_dt)
    check(layer, ref, [data((3, 5), np_dt), data((3, 4), np_dt, 1), data((3, 4), np_dt, 2)], tol,
          call=lambda m, x, h, c: m(x, (h, c)))
    check(nn.LSTMCell(5, 4, bias, dtype=tc_dt), ref, [data((5,), np_dt)], tol)  # unbatched, zero state


def test_lstm_cell_init_repr_and_errors():
    tc.manual_seed(0)
    layer = nn.LSTMCell(10, 16)
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert all(np.abs(p.detach().numpy()).max() <= 0.25 for p in layer.parameters())
    assert repr(layer) == "LSTMCell(10, 16)"
    with pytest.raises(ValueError, match=r"LSTMCell: expected input of shape \(N, 10\) or \(10,\), got \(2, 9\)"):
        layer(tc.randn(2, 9))
    with pytest.raises(ValueError, match=r"lstm_cell: expected h of shape \(2, 16\)"):
        layer(tc.randn(2, 10), (tc.randn(3, 16), tc.randn(2, 16)))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_two_layer_lstm_state_dict_from_torch_outputs_and_gradients(batch_first, with_state):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, num_layers=2, batch_first=batch_first)
    layer = nn.LSTM(3, 5, num_layers=2, batch_first=batch_first)
    assert list(layer.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"]
    seq, batch = 6, 4
    x = data((batch, seq, 3) if batch_first else (seq, batch, 3))
    inputs = [x] + ([data((2, batch, 5), seed=1), data((2, batch, 5), seed=2)] if with_state else [])
    check(layer, ref, inputs, 2e-5, call=lambda m, x, *hc: m(x, tuple(hc) if hc else None))


def test_lstm_unbatched_float64_and_dropout_modes():
    ref = torch.nn.LSTM(2, 3, num_layers=2, dtype=torch.float64)
    layer = nn.LSTM(2, 3, num_layers=2, dtype=tc.float64)
    check(layer, ref, [data((5, 2), np.float64), data((2, 3), np.float64, 1), data((2, 3), np.float64, 2)], 1e-10,
          call=lambda m, x, h, c: m(x, (h, c)))
    drop = nn.LSTM(2, 3, num_layers=2, dropout=0.5, dtype=tc.float64)
    load_from_torch(drop, ref)
    x = tc.tensor(data((5, 4, 2), np.float64))
    ref.eval()
    drop.eval()
    np.testing.assert_allclose(drop(x)[0].detach().numpy(), ref(torch.tensor(x.numpy()))[0].detach().numpy(), rtol=1e-10)
    drop.train()
    assert not np.allclose(drop(x)[0].detach().numpy(), ref(torch.tensor(x.numpy()))[0].detach().numpy())


def test_lstm_errors_and_repr():
    layer = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    assert repr(layer) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    with pytest.raises(ValueError, match="LSTM: input.size.-1. must be equal to input_size. Expected 3"):
        layer(tc.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"LSTM: expected a 3-D \(N, L, input_size\)"):
        layer(tc.randn(2, 5, 1, 3))
    with pytest.raises(ValueError, match=r"LSTM: expected h0 of shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        layer(tc.randn(2, 5, 3), (tc.randn(1, 2, 4), tc.randn(2, 2, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a pair"):
        layer(tc.randn(2, 5, 3), tc.randn(2, 2, 4))
    with pytest.raises(ValueError, match="LSTM: expected a sequence length larger than 0"):
        layer(tc.randn(2, 0, 3))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_matches_torch(nonlinearity, batch_first):
    ref = torch.nn.RNN(3, 4, num_layers=2, nonlinearity=nonlinearity, batch_first=batch_first, dtype=torch.float64)
    layer = nn.RNN(3, 4, num_layers=2, nonlinearity=nonlinearity, batch_first=batch_first, dtype=tc.float64)
    check(layer, ref, [data((2, 5, 3), np.float64), data((2, 2 if batch_first else 5, 4), np.float64, 1)], 1e-10,
          call=lambda m, x, h: m(x, h))
    check(layer, ref, [data((6, 3), np.float64)], 1e-10)  # unbatched, zero state


def test_rnn_errors():
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="RNN: num_layers must be a positive int"):
        nn.RNN(3, 4, num_layers=0)
    assert repr(nn.RNN(3, 4, nonlinearity="relu", bias=False)) == "RNN(3, 4, bias=False, nonlinearity='relu')"
