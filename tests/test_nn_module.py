"""nn.Module and nn.Parameter: registration, naming, state dicts, modes, devices and dtypes."""
import copy

import numpy as np
import pytest

import tensorcore as tc
from tensorcore import nn


class Block(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.act = nn.ReLU()
        self.register_buffer("running", tc.zeros(n_out))
        self.register_buffer("scratch", tc.zeros(2), persistent=False)

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(4, 5)
        self.head = nn.Linear(5, 3)
        self.scale = nn.Parameter(tc.ones(1))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.head(self.block(x))) * self.scale


def test_parameter_shares_storage_and_requires_grad():
    t = tc.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, tc.Tensor) and p.requires_grad and p.is_leaf
    assert p._data is t._data
    with tc.no_grad():
        p.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), p.detach().numpy())
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert "requires_grad=True" in repr(p)
    assert type(p * 2) is tc.Tensor


def test_parameter_deepcopy_is_independent():
    p = nn.Parameter(tc.ones(3))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    with tc.no_grad():
        q.mul_(2.0)
    assert p.detach().numpy().tolist() == [1.0, 1.0, 1.0]


def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "block.fc.weight", "block.fc.bias", "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 5
    assert len(list(net.parameters(recurse=False))) == 1
    assert [n for n, _ in net.named_buffers()] == ["block.running", "block.scratch"]
    assert [n for n, _ in net.named_children()] == ["block", "head", "drop"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.act", "head", "drop"]
    assert list(net.children())[0] is net.block
    assert [n for n, _ in net.named_parameters(prefix="model")][0] == "model.scale"


def test_shared_parameters_are_listed_once():
    net = nn.Module()
    net.a = nn.Linear(3, 3)
    net.b = nn.Linear(3, 3)
    net.b.weight = net.a.weight
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.weight", "a.bias", "b.bias"]
    shared = nn.Sequential(net.a, net.a)
    assert len(list(shared.parameters())) == 2
    assert list(shared.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_state_dict_keys_detached_and_sharing_storage():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "block.running", "block.fc.weight", "block.fc.bias", "head.weight", "head.bias"]
    w = sd["block.fc.weight"]
    assert not w.requires_grad and not isinstance(w, nn.Parameter)
    assert w._data is net.block.fc.weight._data
    assert net.state_dict(keep_vars=True)["head.weight"] is net.head.weight


def test_load_state_dict_copies_in_place_and_casts():
    src, dst = Net(), Net()
    weight_before = dst.head.weight
    version = weight_before._version[0]
    sd = {k: v.numpy().astype(np.float64) for k, v in src.state_dict().items()}
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert dst.head.weight is weight_before and dst.head.weight.dtype is tc.float32
    assert dst.head.weight._version[0] == version + 1
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[k].numpy(), v.numpy())
    x = tc.randn(2, 4)
    src.eval(), dst.eval()
    np.testing.assert_array_equal(src(x).detach().numpy(), dst(x).detach().numpy())


def test_load_state_dict_strict_reports_every_problem():
    net = Net()
    before = net.head.bias.detach().numpy().copy()
    sd = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    del sd["block.running"]
    sd["extra.weight"] = np.zeros(2, np.float32)
    sd["head.weight"] = np.zeros((7, 5), np.float32)
    sd["head.bias"] = np.full(3, 9.0, np.float32)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "block.running"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert ("size mismatch for head.weight: copying a param with shape (7, 5) from checkpoint, "
            "the shape in current model is (3, 5)") in msg
    np.testing.assert_array_equal(net.head.bias.detach().numpy(), before)  # nothing was copied


def test_load_state_dict_non_strict():
    net = Net()
    sd = {k: v.numpy() * 0 for k, v in net.state_dict().items() if k != "scale"}
    sd["foo"] = np.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["foo"]
    assert np.all(net.head.weight.detach().numpy() == 0)
    bad = dict(sd, **{"head.bias": np.zeros(4)})
    with pytest.raises(RuntimeError, match="size mismatch for head.bias"):
        net.load_state_dict(bad, strict=False)


def test_buffers_in_state_dict_and_non_persistent_excluded():
    b = Block(2, 3)
    assert "running" in b.state_dict() and "scratch" not in b.state_dict()
    b.running = tc.ones(3)
    assert b.state_dict()["running"].numpy().tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="buffer 'running'"):
        b.running = 3
    assert [n for n, _ in b.named_buffers()] == ["running", "scratch"]


def test_train_eval_recursive():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block.fc.training


def test_attribute_errors_name_class_and_attribute():
    net = Net()
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'missing'"):
        net.missing
    with pytest.raises(TypeError, match="parameter 'weight'"):
        net.head.weight = tc.zeros(3, 5)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tc.ones(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\)"):
        Early()
    with pytest.raises(NotImplementedError, match='"forward"'):
        nn.Module()(tc.ones(1))


def test_register_and_delete():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(tc.ones(2)))
    m.register_parameter("absent", None)
    m.add_module("sub", nn.Linear(2, 2))
    m.register_buffer("buf", tc.zeros(1))
    assert m.absent is None
    assert list(m.state_dict()) == ["w", "buf", "sub.weight", "sub.bias"]
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", tc.zeros(1))
    with pytest.raises(TypeError):
        m.register_parameter("x", tc.ones(1))
    del m.w, m.sub, m.buf
    assert list(m.state_dict()) == []
    m.plain = 3
    del m.plain
    with pytest.raises(AttributeError):
        m.plain
    m.w = nn.Parameter(tc.ones(1))
    with pytest.raises(TypeError, match="cannot assign 'Linear' as parameter 'w'"):
        m.w = nn.Linear(1, 1)
    m.w = None
    assert m.w is None and list(m.state_dict()) == []
    m.sub = nn.Linear(1, 1)
    m.sub = nn.Parameter(tc.ones(1))  # a parameter replaces a child of the same name
    assert [n for n, _ in m.named_parameters()] == ["sub"] and list(m.children()) == []


def test_zero_grad_and_requires_grad():
    net = Net()
    net.eval()
    net(tc.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.block.requires_grad_(False)
    assert not net.block.fc.weight.requires_grad and net.head.weight.requires_grad


def test_to_float64_keeps_parameter_identity():
    net = Net()
    params = list(net.parameters())
    net(tc.randn(2, 4)).sum().backward()
    assert net.to(tc.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype is tc.float64 and p.grad.dtype is tc.float64 for p in net.parameters())
    assert net.block.running.dtype is tc.float64
    assert net.eval()(tc.randn(2, 4, dtype=tc.float64)).dtype is tc.float64
    net.float()
    assert all(p.dtype is tc.float32 for p in net.parameters())
    net.to("cpu")
    assert all(p.device == "cpu" for p in net.parameters())


def test_apply_and_repr():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Block", "Linear", "Dropout", "Net"]
    expected = ("Net(\n"
                "  (block): Block(\n"
                "    (fc): Linear(in_features=4, out_features=5, bias=True)\n"
                "    (act): ReLU()\n"
                "  )\n"
                "  (head): Linear(in_features=5, out_features=3, bias=True)\n"
                "  (drop): Dropout(p=0.5)\n"
                ")")
    assert repr(net) == expected
    assert "scale" in dir(net)


def test_deepcopy_module_is_independent():
    net = Net()
    clone = copy.deepcopy(net)
    assert isinstance(clone.head.weight, nn.Parameter) and clone.head.weight.requires_grad
    with tc.no_grad():
        clone.head.weight.zero_()
    assert net.head.weight.detach().numpy().any()
    assert list(clone.state_dict()) == list(net.state_dict())
