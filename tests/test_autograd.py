"""The autograd engine: Function API, accumulation, retain_graph, grad modes, errors, gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
from tensorcore.testing import GradcheckError, gradcheck


def leaf(*shape, dtype=tc.float64, seed=0):
    g = tc.Generator(seed)
    return tc.randn(*shape, dtype=dtype, generator=g, requires_grad=True)


class Cube(tc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class SplitHalves(tc.autograd.Function):
    """Two outputs, one of which may receive no gradient."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[0] // 2
        ctx.n = n
        return x[:n].clone(), x[n:].clone()

    @staticmethod
    def backward(ctx, ga, gb):
        return tc.cat([ga, gb])


def test_custom_function_matches_gradcheck():
    x = leaf(5)
    assert gradcheck(lambda t: Cube.apply(t), [x])
    y = Cube.apply(x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.detach().numpy() ** 2)
    assert y.grad_fn.name() == "SumBackward"


def test_multi_output_function_with_unused_output():
    x = leaf(6)
    a, b = SplitHalves.apply(x)
    (a * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2, 0, 0, 0])


def test_gradients_accumulate_and_zero():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5, 5, 5])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 1])


def test_shared_subexpression_sums_paths():
    x = leaf(4)
    y = x.exp()
    z = (y * y + y).sum()
    z.backward()
    e = np.exp(x.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e)


def test_broadcast_gradients_are_reduced_to_input_shape():
    a, b = leaf(3, 1), leaf(4)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy()[:, 0], np.full(3, b.detach().numpy().sum()))


def test_explicit_gradient_and_errors():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    with pytest.raises(RuntimeError, match="gradient has shape"):
        y.backward(tc.ones(3))
    y.backward(tc.ones(2, 3, dtype=tc.float64))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.ones(3).sum().backward()


def test_second_backward_through_freed_graph_raises_and_retain_graph_allows_it():
    x = leaf(3)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_on_leaf_accumulates_into_itself():
    x = leaf(2)
    x.backward(tc.ones(2, dtype=tc.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1])


def test_no_grad_context_and_decorator():
    x = leaf(3)
    with tc.no_grad():
        y = x * 2
        with tc.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @tc.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert tc.is_grad_enabled()


def test_detach_and_requires_grad_rules():
    x = leaf(3)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(RuntimeError, match="only floating point"):
        tc.tensor([1, 2]).requires_grad_()
    y = x * 2
    assert not y.is_leaf and x.is_leaf
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()


def test_retain_grad_on_intermediate():
    x = leaf(3)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.detach().numpy())


def test_inplace_rules():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.add_(1)
    with tc.no_grad():
        x.add_(1)
    y = x * 1
    y.mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3, 3])
    v = (x * 1)[0:2]
    with pytest.raises(RuntimeError, match="view"):
        v.add_(1)


def test_modifying_a_saved_tensor_is_detected():
    x = leaf(3)
    y = x * 1
    z = (y * y).sum()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


def test_setitem_is_differentiable():
    x = leaf(4)
    v = leaf(2, seed=1)
    y = x * 1
    y[1:3] = v
    (y * tc.tensor([1.0, 2.0, 3.0, 4.0], dtype=tc.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0, 4])
    np.testing.assert_array_equal(v.grad.numpy(), [2, 3])


def test_deep_graph_does_not_hit_recursion_limit():
    x = leaf(1)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 5000)


def test_gradcheck_reports_the_disagreeing_element():
    class Wrong(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 3.0

    with pytest.raises(GradcheckError, match=r"input 0 .*element \(\d,\).*autograd gives"):
        gradcheck(lambda t: Wrong.apply(t), [leaf(3)])
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, [leaf(3, dtype=tc.float32)])


def test_gradcheck_on_composite_expression():
    a, b = leaf(3, 4), leaf(4, 2, seed=1)
    assert gradcheck(lambda x, y: ((x @ y).tanh() ** 2).log_softmax(1)[[0, 2]].mean(0), [a, b])
