"""Optimizers step by step against torch.optim, hyper-parameter checks and state-dict round trips."""
import numpy as np
import pytest

import tensorcore as tc
from tensorcore import nn, optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (1,)]
STEPS = 5


def run_pair(name, kwargs, dtype=np.float64, steps=STEPS):
    """Run tensorcore's and torch's optimizer ``name`` over the same parameters and gradients
    (fresh random gradients each step) and return both parameter lists after every step."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(tc.tensor(a)) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    history = []
    for _ in range(steps):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        for p, g in zip(ours, grads):
            p.grad = tc.tensor(g)
        for p, g in zip(theirs, grads):
            p.grad = torch.tensor(g)
        opt.step()
        ref.step()
        history.append(([p.detach().numpy().copy() for p in ours], [p.detach().numpy().copy() for p in theirs]))
    return history, opt, ref


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.2, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.6), maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_matches_torch_float64(name, kwargs):
    history, _, _ = run_pair(name, kwargs)
    for step, (ours, theirs) in enumerate(history):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=f"step {step + 1}")


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)), ("RMSprop", dict(centered=True)),
                                         ("Adagrad", dict(lr_decay=0.1))])
def test_matches_torch_float32(name, kwargs):
    history, opt, _ = run_pair(name, kwargs, dtype=np.float32)
    for ours, theirs in history:
        for a, b in zip(ours, theirs):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("name,kwargs", [(n, k) for n, k in CASES if n != "SGD" or "momentum" in k])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    rng = np.random.default_rng(1)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(6)]

    def make():
        params = [nn.Parameter(tc.tensor(a)) for a in init]
        return params, getattr(optim, name)(params, **kwargs)

    def run(params, opt, steps):
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = tc.tensor(g)
            opt.step()

    params_a, opt_a = make()
    run(params_a, opt_a, grads)
    params_b, opt_b = make()
    run(params_b, opt_b, grads[:3])
    saved = opt_b.state_dict()
    assert sorted(saved) == ["param_groups", "state"]
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    snapshot = [p.detach().numpy().copy() for p in params_b]
    params_c, opt_c = make()
    for p, s in zip(params_c, snapshot):
        with tc.no_grad():
            p.copy_(tc.tensor(s))
    opt_c.load_state_dict(saved)
    run(params_c, opt_c, grads[3:])
    for a, c in zip(params_a, params_c):
        np.testing.assert_array_equal(a.detach().numpy(), c.detach().numpy())


def test_state_dict_format_matches_torch_keys():
    _, opt, ref = run_pair("Adam", dict(lr=0.01, amsgrad=True), steps=2)
    ours, theirs = opt.state_dict(), ref.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    assert sorted(ours["state"][0]) == sorted(theirs["state"][0])
    assert ours["state"][0]["step"] == 2
    assert isinstance(ours["state"][0]["exp_avg"], tc.Tensor)
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
        assert ours["param_groups"][0][key] == theirs["param_groups"][0][key]


def test_load_torch_optimizer_state():
    history, opt, ref = run_pair("Adam", dict(lr=0.01), steps=2)
    converted = ref.state_dict()
    converted = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in converted["state"].items()},
                 "param_groups": converted["param_groups"]}
    opt.load_state_dict(converted)
    assert opt.state_dict()["state"][0]["step"] == 2


def test_param_groups_and_skipping_params_without_grad():
    a, b, c = (nn.Parameter(tc.ones(2)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1, momentum=0.0)
    opt.add_param_group({"params": [c], "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0, 0.5]
    assert opt.param_groups[0]["momentum"] == 0.0
    a.grad, b.grad = tc.ones(2), tc.ones(2)
    version = c._version[0]
    opt.step()
    assert a.detach().numpy().tolist() == pytest.approx([0.9, 0.9])
    assert b.detach().numpy().tolist() == [0.0, 0.0]
    assert c.detach().numpy().tolist() == [1.0, 1.0] and c._version[0] == version
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    opt.zero_grad(set_to_none=False)
    assert a.grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_bumps_version_and_works_with_closure():
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = tc.randn(8, 3), tc.randn(8, 1)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = model.weight._version[0]
    first = opt.step(closure).item()
    assert model.weight._version[0] == before + 1
    for _ in range(20):
        last = opt.step(closure).item()
    assert last < first


def test_module_to_keeps_optimizer_valid():
    model = nn.Linear(2, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model.to(tc.float64)
    model(tc.randn(4, 2, dtype=tc.float64)).sum().backward()
    w = model.weight.detach().numpy().copy()
    opt.step()
    assert model.weight.dtype is tc.float64
    assert not np.array_equal(w, model.weight.detach().numpy())


@pytest.mark.parametrize("factory,match", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "Invalid epsilon"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), "Invalid alpha"),
])
def test_hyperparameter_validation(factory, match):
    with pytest.raises(ValueError, match=match):
        factory([nn.Parameter(tc.ones(1))])


def test_bad_params_arguments():
    p = nn.Parameter(tc.ones(1))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    other = optim.SGD([nn.Parameter(tc.ones(1)), nn.Parameter(tc.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0"):
        opt.load_state_dict(other.state_dict())
    assert repr(opt).startswith("SGD (\nParameter Group 0\n")
