"""nn layers, containers, losses and init, forward and backward against PyTorch."""
import math
import warnings

import numpy as np
import pytest
torch = pytest.importorskip("torch")

import tensorcore as tc
from tensorcore import nn
from tensorcore.nn import functional as F

DTYPES = [(np.float32, tc.float32, torch.float32, 1e-5), (np.float64, tc.float64, torch.float64, 1e-12)]


def check_against_torch(tc_layer, torch_layer, x, rtol, grad_input=True):
    """Copy tc_layer's weights into torch_layer, run both on x with the same upstream gradient,
    and compare outputs, input gradients and parameter gradients."""
    sd = {k: torch.from_numpy(v.numpy().copy()) for k, v in tc_layer.state_dict().items()}
    torch_layer.load_state_dict(sd)
    xt = tc.tensor(x, requires_grad=grad_input)
    xr = torch.tensor(x, requires_grad=grad_input)
    out, ref = tc_layer(xt), torch_layer(xr)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=rtol)
    upstream = np.random.default_rng(1).standard_normal(ref.shape).astype(x.dtype)
    (out * tc.tensor(upstream)).sum().backward()
    (ref * torch.from_numpy(upstream)).sum().backward()
    if grad_input:
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=rtol, atol=rtol)
    torch_params = dict(torch_layer.named_parameters())
    for name, p in tc_layer.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_params[name].grad.numpy(), rtol=rtol, atol=rtol,
                                   err_msg=name)


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", DTYPES)
@pytest.mark.parametrize("n_in,n_out,batch", [(1, 1, (1,)), (7, 13, (5,)), (4, 3, (2, 3)), (6, 2, ()), (3, 5, (0,))])
def test_linear_matches_torch(np_dt, tc_dt, torch_dt, tol, n_in, n_out, batch):
    layer = nn.Linear(n_in, n_out, dtype=tc_dt)
    assert layer.weight.dtype is tc_dt and layer.weight.shape == (n_out, n_in)
    check_against_torch(layer, torch.nn.Linear(n_in, n_out, dtype=torch_dt), data(batch + (n_in,), np_dt), tol)


def test_linear_without_bias_and_mismatch_error():
    layer = nn.Linear(5, 3, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    check_against_torch(layer, torch.nn.Linear(5, 3, bias=False), data((4, 5), np.float32), 1e-5)
    assert repr(layer) == "Linear(in_features=5, out_features=3, bias=False)"
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(3, 5\)"):
        layer(tc.randn(2, 4))


def test_functional_linear_gradients_layout_and_bad_input():
    """F.linear against torch on a strided input with and without bias; the weight gradient arrives as
    an owned C-contiguous array (no transposed view to copy); ints and mixed dtypes follow matmul's
    promotion; bad weights, biases and devices are named."""
    from oracle import compare

    x, w, b = data((3, 6, 4), np.float64), data((5, 4), np.float64, 1), data((5,), np.float64, 2)
    strided = lambda t: t.transpose(0, 1) if t.ndim == 3 else t    # noqa: E731 - x as (6, 3, 4), not contiguous
    compare(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: torch.nn.functional.linear(x, w, b), [x, w, b],
            views=strided)
    compare(lambda x, w: F.linear(x, w), lambda x, w: torch.nn.functional.linear(x, w), [x, w], views=strided)
    layer = nn.Linear(4, 5)
    layer(tc.randn(2, 4)).sum().backward()
    grad = layer.weight.grad.numpy()
    assert grad.flags.c_contiguous and grad.flags.owndata and grad.shape == (5, 4)
    np.testing.assert_array_equal(F.linear(tc.tensor([[1, 2]]), tc.tensor([[3, 4]]), tc.tensor([1])).numpy(), [[12]])
    assert F.linear(tc.randn(2, 3), tc.randn(4, 3, dtype=tc.float64)).dtype is tc.float64
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D \(out_features, in_features\), got shape \(3,\)"):
        F.linear(tc.randn(2, 3), tc.randn(3))
    with pytest.raises(ValueError, match=r"linear: expected a bias of shape \(4,\), got \(3,\)"):
        F.linear(tc.randn(2, 3), tc.randn(4, 3), tc.randn(3))
    with pytest.raises(TypeError, match="linear: input and weight must be Tensors"):
        F.linear(np.ones((2, 3)), tc.randn(4, 3))


def test_linear_default_init_bounds_and_generator():
    tc.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # fills the interval
    assert abs(w.mean()) < 0.01 * bound and abs(w.var() - bound ** 2 / 3) < 0.02 * bound ** 2
    tc.manual_seed(0)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)


@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", DTYPES)
@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh", "Identity"])
def test_elementwise_activations(np_dt, tc_dt, torch_dt, tol, name):
    check_against_torch(getattr(nn, name)(), getattr(torch.nn, name)(), data((3, 7), np_dt), tol)


@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", DTYPES)
@pytest.mark.parametrize("name,dim", [("Softmax", 1), ("Softmax", 0), ("LogSoftmax", -1), ("LogSoftmax", 1)])
def test_softmax_layers(np_dt, tc_dt, torch_dt, tol, name, dim):
    layer = getattr(nn, name)(dim=dim)
    assert repr(layer) == f"{name}(dim={dim})"
    check_against_torch(layer, getattr(torch.nn, name)(dim=dim), data((4, 5, 3), np_dt), tol)


def test_softmax_without_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(tc.randn(2, 3))
    np.testing.assert_allclose(out.detach().numpy().sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (2, 3)])
def test_flatten(start, end):
    layer = nn.Flatten(start, end)
    check_against_torch(layer, torch.nn.Flatten(start, end), data((2, 3, 4, 5), np.float64), 1e-12)


def test_dropout_train_and_eval():
    layer = nn.Dropout(0.25)
    x = tc.ones(200, 50, requires_grad=True)
    tc.manual_seed(3)
    y = layer(x)
    vals = y.detach().numpy()
    assert set(np.unique(vals)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((vals == 0).mean() - 0.25) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), vals)
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_sequential_matches_torch_and_container_protocol():
    tc.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.LogSoftmax(dim=1))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                              torch.nn.LogSoftmax(dim=1)).double()
    seq.double()
    assert list(seq.state_dict()) == list(ref.state_dict())
    check_against_torch(seq, ref, data((6, 4), np.float64), 1e-12)
    assert len(seq) == 4 and isinstance(seq[1], nn.Tanh) and seq[-1] is seq[3]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and head[0] is seq[0] and len(head) == 2
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear", "LogSoftmax"]
    seq.append(nn.Identity())
    assert len(seq) == 5 and "4" in dict(seq.named_children())
    with pytest.raises(IndexError):
        seq[5]
    named = nn.Sequential({"enc": nn.Linear(2, 2), "act": nn.ReLU()})
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    assert list(named[1:].named_children())[0][0] == "act"


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 6
    assert list(holder.state_dict())[:2] == ["layers.0.weight", "layers.0.bias"]
    layers.append(nn.ReLU())
    layers.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in layers] == ["Tanh", "Linear", "Linear", "Linear", "ReLU"]
    del layers[0]
    assert isinstance(layers[0], nn.Linear) and list(dict(layers.named_children())) == ["0", "1", "2", "3"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers += [nn.Sigmoid()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Sigmoid)


@pytest.mark.parametrize("np_dt,tc_dt,torch_dt,tol", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(np_dt, tc_dt, torch_dt, tol, reduction):
    logits = data((6, 4), np_dt)
    target = np.array([0, 3, 1, 2, 3, 1])
    target[2] = -100 if reduction != "none" else 2
    cases = [(nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction), target),
             (nn.NLLLoss(reduction=reduction, ignore_index=3), torch.nn.NLLLoss(reduction=reduction, ignore_index=3),
              np.where(target < 0, 3, target))]
    for ours, theirs, classes in cases:
        xt, xr = tc.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        out = ours(xt, tc.tensor(classes))
        ref = theirs(xr, torch.from_numpy(classes))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=tol, atol=tol)
    pred, goal = data((3, 5), np_dt), data((3, 5), np_dt, seed=1)
    out = nn.MSELoss(reduction=reduction)(tc.tensor(pred), tc.tensor(goal))
    ref = torch.nn.MSELoss(reduction=reduction)(torch.from_numpy(pred), torch.from_numpy(goal))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=tol)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"
    logits = tc.randn(4, 3)
    for fn, name in ((F.cross_entropy, "cross_entropy"), (F.nll_loss, "nll_loss")):
        with pytest.raises(IndexError, match=rf"{name}: target values must be in \[0, 2\] \(or ignore_index=-100\); "
                                             r"got values outside it from -2 to 3"):
            fn(logits, tc.tensor([0, 3, -2, 1]))
        with pytest.raises(IndexError, match=rf"{name}: .*; got 5$"):
            fn(logits, tc.tensor([5, 1, -100, 2]))
        with pytest.raises(TypeError, match=rf"{name}: target must be an int64 tensor"):
            fn(logits, tc.tensor([0.0, 1.0, 2.0, 0.0]))
        with pytest.raises(ValueError, match=rf"{name}: expected target of shape \(4,\)"):
            fn(logits, tc.tensor([0, 1]))
    # ignored rows may hold any value, and an all-ignored mean is 0/0 as in PyTorch
    assert np.isfinite(F.cross_entropy(logits, tc.tensor([-100, 1, -100, 2])).item())
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.cross_entropy(logits, tc.tensor([-100, -100, -100, -100])).item())


def test_torch_state_dict_loads_and_matches():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = data((4, 5), np.float32)
    np.testing.assert_allclose(model(tc.tensor(x)).detach().numpy(), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_init_functions():
    g = tc.Generator(0)
    w = tc.empty(200, 300)
    nn.init.uniform_(w, -2.0, 3.0, generator=g)
    assert w.numpy().min() >= -2.0 and w.numpy().max() < 3.0
    nn.init.normal_(w, 1.0, 0.5, generator=g)
    assert abs(w.numpy().mean() - 1.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    bound = math.sqrt(6 / 500)
    nn.init.xavier_uniform_(w, generator=g)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    a, b = tc.empty(3, 4), tc.empty(3, 4)
    nn.init.normal_(a, generator=tc.Generator(5))
    nn.init.normal_(b, generator=tc.Generator(5))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(tc.empty(3))


def test_init_on_parameters_and_gains():
    p = nn.Parameter(tc.zeros(2, 2))
    nn.init.ones_(p)  # init writes under the hood without recording, like torch's no_grad init
    assert p.is_leaf and p.requires_grad and np.all(p.detach().numpy() == 1)
    for name in ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")


def test_layer_reprs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
        assert repr(nn.ReLU()) == "ReLU()"
        assert repr(nn.Identity(3, foo=1)) == "Identity()"
