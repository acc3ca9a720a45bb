"""Every Tensor op, forward and backward, against PyTorch on odd, broadcast and non-contiguous shapes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensorcore as tc
from oracle import compare, torch

rng = np.random.default_rng(0)


def arr(*shape, dtype=np.float32, positive=False):
    a = rng.standard_normal(shape).astype(dtype)
    return np.abs(a) + 0.5 if positive else a


DTYPES = [np.float32, np.float64]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: a.maximum(b) if isinstance(a, tc.Tensor) else torch.maximum(a, b),
    "minimum": lambda a, b: a.minimum(b) if isinstance(a, tc.Tensor) else torch.minimum(a, b),
}
BROADCAST = [((7,), (7,)), ((3, 1), (1, 5)), ((2, 3, 4), (4,)), ((1,), (13, 1)), ((5, 1, 3), (2, 1)), ((), (3, 2))]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_broadcast(name, shapes, dtype):
    a, b = arr(*shapes[0], dtype=dtype), arr(*shapes[1], dtype=dtype, positive=name == "div")
    compare(BINARY[name], None, [a, b])


def test_binary_ties_split_gradient_like_torch():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float64)
    b = np.array([1.0, 5.0, 3.0], dtype=np.float64)
    compare(BINARY["maximum"], BINARY["maximum"], [a, b])
    compare(BINARY["minimum"], BINARY["minimum"], [a, b])


@pytest.mark.parametrize("scalar", [2, 0.5, -3.0])
def test_scalars_on_both_sides(scalar):
    a = arr(4, 3)
    for f in (lambda x: x + scalar, lambda x: scalar + x, lambda x: x - scalar, lambda x: scalar - x,
              lambda x: x * scalar, lambda x: scalar * x, lambda x: x / scalar, lambda x: -x):
        compare(f, None, [a])
    compare(lambda x: scalar / x, None, [arr(4, 3, positive=True)])


def test_pow():
    x = arr(5, 3, positive=True, dtype=np.float64)
    for p in (2, 3, 0.5, -1.5, 0):
        compare(lambda t: t ** p, None, [x])
    compare(lambda a, b: a ** b, None, [x, arr(5, 3, dtype=np.float64)])
    compare(lambda t: 2.0 ** t, None, [arr(4, dtype=np.float64)])


UNARY = {
    "exp": (lambda t: t.exp(), False),
    "log": (lambda t: t.log(), True),
    "sqrt": (lambda t: t.sqrt(), True),
    "abs": (lambda t: t.abs(), False),
    "tanh": (lambda t: t.tanh(), False),
    "sigmoid": (lambda t: t.sigmoid(), False),
    "relu": (lambda t: t.relu(), False),
    "neg": (lambda t: -t, False),
    "clamp": (lambda t: t.clamp(-0.5, 0.7), False),
    "clamp_min": (lambda t: t.clamp(min=0.1), False),
    "clamp_max": (lambda t: t.clamp(max=0.1), False),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(1,), (17,), (3, 5, 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary(name, shape, dtype):
    fn, positive = UNARY[name]
    compare(fn, None, [arr(*shape, dtype=dtype, positive=positive)])


def test_functions_in_namespace_match_methods():
    x = tc.tensor([[-1.0, 2.0], [3.0, -4.0]])
    assert tc.equal(tc.relu(x), x.relu())
    assert tc.equal(tc.exp(x), x.exp())
    assert tc.equal(tc.where(x > 0, x, tc.zeros_like(x)), x.relu())
    assert tc.equal(tc.maximum(x, tc.tensor(0.0)), x.relu())


def test_where_gradients():
    cond = rng.random((4, 5)) > 0.5
    a, b = arr(4, 5), arr(5)
    compare(lambda x, y: tc.where(tc.tensor(cond), x, y), lambda x, y: torch.where(torch.tensor(cond), x, y), [a, b])
    assert tc.where(tc.tensor(cond), 1.0, 0.0).dtype == tc.float32


def test_sigmoid_and_tanh_saturate_without_overflow():
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32)
    compare(lambda t: t.sigmoid(), None, [x])
    compare(lambda t: t.tanh(), None, [x])


def test_nan_and_inf_propagate_like_torch():
    x = np.array([[np.nan, 1.0, 2.0], [np.inf, -np.inf, 0.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    for f in (lambda t: t.exp(), lambda t: t.relu(), lambda t: t.sum(1), lambda t: t.amax(1),
              lambda t: t.clamp(-1, 1), lambda t: t * 2):
        compare(f, None, [x], grad=False)
    assert tc.tensor(x).argmax(1).tolist() == torch.tensor(x).argmax(1).tolist()
    assert tc.tensor(x).max(1).indices.tolist() == torch.tensor(x).max(1).indices.tolist()


# ------------------------------------------------------------------ reductions

DIMS = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "var", "std"])
def test_reductions(op, dim, keepdim):
    x = arr(3, 5, 7, dtype=np.float64)
    if dim is None and op in ("sum", "mean", "amax", "amin", "var", "std") and keepdim:
        compare(lambda t: getattr(t, op)(dim=(0, 1, 2), keepdim=True), None, [x])
        return
    if dim is None:
        compare(lambda t: getattr(t, op)(), None, [x])
    else:
        compare(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), None, [x])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_along_dim(op, dim, keepdim):
    x = arr(4, 6, dtype=np.float64)
    compare(lambda t: tuple(getattr(t, op)(dim, keepdim)), None, [x])


def test_max_ties_share_gradient_and_argmax_picks_first():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=np.float64)
    compare(lambda t: t.max(), None, [x])
    compare(lambda t: t.amax(1), None, [x])
    assert tc.tensor(x).argmax(1).tolist() == [1, 0]
    compare(lambda t: tuple(t.max(1)), None, [x])


def test_var_correction_and_argmax_flat():
    x = arr(6, 4, dtype=np.float64)
    compare(lambda t: t.var(0, correction=0), lambda t: t.var(0, correction=0), [x])
    compare(lambda t: t.std(1, unbiased=False), lambda t: t.std(1, unbiased=False), [x])
    assert tc.tensor(x).argmax().item() == int(np.argmax(x))
    assert tc.tensor(x).argmin(dim=0, keepdim=True).shape == (1, 4)


def test_sum_of_bool_and_int():
    assert tc.tensor([True, False, True]).sum().item() == 2
    assert tc.tensor([[1, 2], [3, 4]]).sum(0).tolist() == [4, 6]
    assert tc.tensor([1, 2]).sum().dtype == tc.int64


def test_empty_reductions():
    e = tc.zeros(0, 3)
    assert e.sum().item() == 0
    assert e.sum(0).tolist() == [0, 0, 0]
    assert e.amax(1).shape == (0,)
    with pytest.raises(ValueError, match="max.*empty"):
        e.max()
    with pytest.raises(ValueError, match="argmax.*empty"):
        e.argmax(0)


def test_reduction_bad_dims():
    x = tc.zeros(2, 3)
    with pytest.raises(IndexError, match="sum: dim 2 is out of range"):
        x.sum(2)
    with pytest.raises(ValueError, match="repeats"):
        x.sum((0, 0))
    with pytest.raises(TypeError, match="mean: expected a floating point"):
        tc.tensor([1, 2]).mean()


# ------------------------------------------------------------------ shapes and indexing

SHAPE_OPS = [
    lambda t: t.reshape(5, 6),
    lambda t: t.reshape(-1),
    lambda t: t.view(2, 15),
    lambda t: t.transpose(0, 1),
    lambda t: t.permute(2, 0, 1),
    lambda t: t.flatten(),
    lambda t: t.flatten(1),
    lambda t: t.unsqueeze(1),
    lambda t: t.unsqueeze(-1).squeeze(-1),
    lambda t: t[:, :1].squeeze(1),
    lambda t: t[:1].expand(4, 3, 5) if isinstance(t, tc.Tensor) else t[:1].expand(4, 3, 5),
    lambda t: t.T if isinstance(t, tc.Tensor) else t.permute(2, 1, 0),
]


@pytest.mark.parametrize("i", range(len(SHAPE_OPS)))
def test_shape_ops(i):
    compare(SHAPE_OPS[i], None, [arr(2, 3, 5)])


INDEXES = [
    (1,), (slice(None, None, 2),), (Ellipsis, 1), (None, 0), (slice(1, 3), slice(None, None, -1)) if False else (slice(1, 3), 2),
    ([0, 2, 2],), (np.array([1, 0]), slice(None), np.array([3, 3])), (-1, -1, -1),
]


@pytest.mark.parametrize("key", INDEXES)
def test_getitem(key):
    x = arr(3, 4, 5)
    compare(lambda t: t[key], None, [x])


def test_getitem_with_tensors_and_masks():
    x = arr(5, 4)
    mask = x[:, 0] > 0
    compare(lambda t: t[tc.tensor(mask)] if isinstance(t, tc.Tensor) else t[torch.tensor(mask)], None, [x])
    compare(lambda t: t[t > 0] if True else None, None, [x])
    idx = np.array([4, 0, 0, 1])
    compare(lambda t: t[tc.tensor(idx)] if isinstance(t, tc.Tensor) else t[torch.tensor(idx)], None, [x])


def test_getitem_errors():
    x = tc.zeros(3, 4)
    with pytest.raises(IndexError, match="getitem"):
        x[5]
    with pytest.raises(IndexError, match="int64 or bool"):
        x[tc.tensor([0.5])]


def test_cat_and_stack():
    a, b, c = arr(2, 3), arr(4, 3), arr(1, 3)
    compare(lambda *t: tc.cat(t, 0) if isinstance(t[0], tc.Tensor) else torch.cat(t, 0), None, [a, b, c])
    compare(lambda *t: tc.stack(t, 1) if isinstance(t[0], tc.Tensor) else torch.stack(t, 1), None,
            [arr(2, 3), arr(2, 3)])
    with pytest.raises(ValueError, match="cat: shapes"):
        tc.cat([tc.zeros(2, 3), tc.zeros(2, 4)])
    with pytest.raises(ValueError, match="stack: expects tensors of one shape"):
        tc.stack([tc.zeros(2), tc.zeros(3)])
    with pytest.raises(ValueError, match="non-empty"):
        tc.cat([])


def test_shape_errors():
    x = tc.zeros(2, 3)
    with pytest.raises(ValueError, match="reshape: shape \\(4, 2\\) is invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="view: .*not compatible"):
        x.T.view(6)
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="expand"):
        x.expand(4, 3)


# ------------------------------------------------------------------ matmul

MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((1, 1), (1, 1)), ((17, 33), (33, 9)),
    ((4, 5, 6), (6, 7)), ((2, 5, 6), (2, 6, 3)), ((3, 1, 4, 5), (2, 5, 2)), ((5,), (2, 5, 3)),
    ((7, 2, 3), (3,)), ((0, 3), (3, 4)), ((3, 0), (0, 4)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["numpy", "cpp"])
def test_matmul(sa, sb, dtype, backend):
    if not tc.backends.available()[backend]:
        pytest.skip(f"backend {backend} unavailable: {tc.backends.available()[backend].reason}")
    with tc.use_backend(backend):
        compare(lambda a, b: a @ b, None, [arr(*sa, dtype=dtype), arr(*sb, dtype=dtype)], tol_scale=10)


def test_matmul_non_contiguous_and_errors():
    compare(lambda a, b: a @ b, None, [arr(6, 4), arr(5, 6)], views=lambda t: t.transpose(0, 1))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied"):
        tc.zeros(2, 3) @ tc.zeros(4, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tc.tensor(2.0) @ tc.zeros(2)
    with pytest.raises(ValueError, match="batch dimensions"):
        tc.zeros(2, 2, 3) @ tc.zeros(3, 3, 4)
    assert (tc.tensor([[1, 2]]) @ tc.tensor([[3], [4]])).tolist() == [[11]]


# ------------------------------------------------------------------ softmax and losses

@pytest.mark.parametrize("shape,dim", [((1, 1), 1), ((7, 13), 1), ((7, 13), 0), ((2, 3, 5), 1), ((11,), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(shape, dim, log):
    f = (lambda t: t.log_softmax(dim)) if log else (lambda t: t.softmax(dim))
    compare(f, None, [arr(*shape)])
    compare(f, None, [arr(*shape, dtype=np.float64)])


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]], dtype=np.float32)
    compare(lambda t: t.softmax(1), None, [x])
    compare(lambda t: t.log_softmax(1), None, [x])
    y = tc.tensor([[-np.inf, 0.0]]).softmax(1)
    assert y.tolist() == [[0.0, 1.0]]


def test_softmax_rejects_int():
    with pytest.raises(TypeError, match="softmax: expected a floating point"):
        tc.tensor([1, 2]).softmax(0)


# ------------------------------------------------------------------ hypothesis: any broadcastable, any layout

@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_broadcast_arithmetic_property(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(-3, 3)))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(0.5, 3)))
    compare(lambda x, y: (x * y - x / y).tanh() + y, None, [a, b])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_non_contiguous_inputs_property(data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3)))
    perm = data.draw(st.permutations(range(len(shape))))
    view = (lambda t: t.permute(*perm)[..., ::2]) if len(shape) else None
    compare(lambda t: (t.exp() * t).sum(-1).softmax(-1) if t.ndim > 1 else t.exp(), None, [x], views=view)
