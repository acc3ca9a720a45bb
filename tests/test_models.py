"""tensorcore.models.MLP: layer structure, shapes, activations, PyTorch parity and a short training run."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
from tensorcore import nn, optim
from tensorcore.models import MLP


def test_layers_and_parameter_count():
    model = MLP([784, 500, 500, 10])
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10
    assert list(model.state_dict()) == ["layers.1.weight", "layers.1.bias", "layers.3.weight",
                                        "layers.3.bias", "layers.5.weight", "layers.5.bias"]


@pytest.mark.parametrize("shape", [(3, 784), (3, 1, 28, 28), (1, 28, 28)])
def test_output_shape_and_flattening(shape):
    model = MLP([784, 32, 10])
    out = model(tc.randn(*shape))
    assert out.shape == (shape[0], 10) and out.dtype == tc.float32


def test_bad_input_and_arguments_raise():
    model = MLP([64, 8, 10])
    with pytest.raises(ValueError, match="64 input features"):
        model(tc.randn(2, 63))
    with pytest.raises(ValueError, match="batch"):
        model(tc.randn(64))
    with pytest.raises(ValueError, match="activation"):
        MLP([4, 2], activation="gelu")
    with pytest.raises(ValueError, match="sizes"):
        MLP([4])
    with pytest.raises(ValueError, match="sizes"):
        MLP([4, 0, 2])
    with pytest.raises(ValueError, match="dropout"):
        MLP([4, 2], dropout=1.0)


@pytest.mark.parametrize("activation,cls,fn", [
    ("relu", nn.ReLU, lambda z: np.maximum(z, 0)),
    ("sigmoid", nn.Sigmoid, lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", nn.Tanh, np.tanh),
])
def test_activations_compute_the_expected_function(activation, cls, fn):
    tc.manual_seed(0)
    model = MLP([6, 5, 4, 3], activation=activation)
    assert sum(isinstance(m, cls) for m in model.layers) == 2  # hidden layers only, none after the output
    x = np.random.default_rng(0).standard_normal((7, 6)).astype(np.float32)
    p = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    h = fn(x @ p["layers.1.weight"].T + p["layers.1.bias"])
    h = fn(h @ p["layers.3.weight"].T + p["layers.3.bias"])
    expected = h @ p["layers.5.weight"].T + p["layers.5.bias"]
    with tc.no_grad():
        got = model(tc.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_dropout_layers_train_and_eval():
    tc.manual_seed(0)
    model = MLP([20, 50, 50, 3], dropout=0.5)
    assert [type(m).__name__ for m in model.layers].count("Dropout") == 2
    x = tc.randn(4, 20)
    model.eval()
    with tc.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(a, b)
    model.train()
    with tc.no_grad():
        c = model(x).numpy()
    assert not np.allclose(a, c)


def test_matches_pytorch_forward_and_gradients():
    torch = pytest.importorskip("torch")
    tc.manual_seed(1)
    model = MLP([12, 9, 4], activation="tanh")
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 9), torch.nn.Tanh(), torch.nn.Linear(9, 4))
    state = {k: torch.from_numpy(v.detach().numpy().copy()) for k, v in model.state_dict().items()}
    ref.load_state_dict({k.removeprefix("layers."): v for k, v in state.items()})
    x = np.random.default_rng(1).standard_normal((5, 3, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 2, 3])
    loss = nn.CrossEntropyLoss()(model(tc.from_numpy(x)), tc.tensor(y))
    loss.backward()
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_short_training_run_on_digits_beats_chance_by_far():
    from tensorcore.data import DataLoader, Digits

    tc.manual_seed(0)
    train, test = Digits(train=True), Digits(train=False)
    model = MLP([64, 64, 10])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(train, batch_size=32, shuffle=True)
    for _ in range(8):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    model.eval()
    x, y = test.tensors()
    with tc.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    assert acc > 0.85, acc  # chance is 0.10


def test_readme_training_example_runs(capsys):
    """The README's training example is real code: run it as written."""
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not next to the tests (installed package)")
    section = readme.read_text(encoding="utf-8").split("## Train a model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(readme), "exec"), {"__name__": "readme_example"})
    acc = float(capsys.readouterr().out.split("test accuracy:")[1].split()[0])
    assert acc > 0.85, acc
