"""max_pool2d and avg_pool2d against PyTorch: forward, indices and gradients on awkward windows, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
import tensorcore.nn.functional as F
from oracle import compare, torch
from tensorcore.testing import gradcheck

TF = torch.nn.functional
rng = np.random.default_rng(1)
DTYPES = [np.float32, np.float64]


def arr(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# (input shape, keyword arguments)
CASES = {
    "windows_do_not_divide": ((2, 3, 7, 5), dict(kernel_size=2)),
    "padded": ((1, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    "overlapping": ((2, 3, 5, 5), dict(kernel_size=3, stride=1)),
    "stride_larger_than_kernel": ((1, 3, 9, 8), dict(kernel_size=2, stride=3)),
    "non_square": ((2, 7, 8, 9), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0))),
    "kernel_is_padded_input": ((1, 2, 2, 3), dict(kernel_size=(4, 5), padding=(1, 2))),
    "one_by_one": ((2, 3, 4, 5), dict(kernel_size=1)),
    "unbatched": ((3, 6, 5), dict(kernel_size=2, stride=1, padding=1)),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_matches_torch_with_indices(name, dtype):
    shape, kw = CASES[name]
    compare(lambda x: F.max_pool2d(x, **kw, return_indices=True),
            lambda x: TF.max_pool2d(x, **kw, return_indices=True), [arr(*shape, dtype=dtype)])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(name, dtype, count_include_pad):
    shape, kw = CASES[name]
    compare(lambda x: F.avg_pool2d(x, **kw, count_include_pad=count_include_pad),
            lambda x: TF.avg_pool2d(x, **kw, count_include_pad=count_include_pad), [arr(*shape, dtype=dtype)])


def test_max_pool2d_ties_go_to_the_first_maximum_in_row_major_order():
    # Few distinct values: most windows hold several equal maxima, and overlapping windows share them.
    x = rng.integers(0, 3, size=(2, 3, 7, 6)).astype(np.float64)
    for kw in (dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), stride=2)):
        compare(lambda t: F.max_pool2d(t, **kw, return_indices=True),
                lambda t: TF.max_pool2d(t, **kw, return_indices=True), [x])
    _, index = F.max_pool2d(tc.ones(1, 1, 2, 2), 2, return_indices=True)
    assert index.item() == 0


@pytest.mark.parametrize("backend", ["numpy", "cpp"])
def test_max_pool2d_all_minus_inf_window_points_at_a_real_element(backend):
    """A padded window whose real elements are all -inf: the index is its first real element, as in
    PyTorch, never a padded position outside the plane (whose gradient would land on a neighbour)."""
    if not tc.backends.available()[backend]:
        pytest.skip(f"backend {backend} unavailable: {tc.backends.available()[backend].reason}")
    x = np.full((1, 2, 5, 4), -np.inf)
    x[0, 1, 3:, 2:] = rng.standard_normal((2, 2))
    kw = dict(kernel_size=3, stride=2, padding=1, return_indices=True)
    with tc.use_backend(backend):
        compare(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])


def test_max_pool2d_keeps_nan():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 1, 2] = np.nan
    y = F.max_pool2d(tc.tensor(x), 2)
    assert np.isnan(y.numpy()[0, 0, 0, 1]) and not np.isnan(y.numpy()[0, 0, 0, 0])


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_non_contiguous_input(pool):
    fn_tc, fn_th = (F.max_pool2d, TF.max_pool2d) if pool == "max" else (F.avg_pool2d, TF.avg_pool2d)
    compare(lambda x: fn_tc(x.transpose(2, 3), 3, 2, 1), lambda x: fn_th(x.transpose(2, 3), 3, 2, 1),
            [arr(2, 3, 7, 6, dtype=np.float32)])


def test_pooling_gradcheck():
    x = tc.tensor(arr(1, 2, 5, 4), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1), [x])
    assert gradcheck(lambda t: F.avg_pool2d(t, (2, 3), 1, (1, 1), count_include_pad=False), [x])


BAD = [
    ((1, 3, 5, 5), dict(kernel_size=3, padding=2), ValueError,
     r"{op}: padding \(2, 2\) should be at most half of the kernel size \(3, 3\)"),
    ((1, 3, 5, 5), dict(kernel_size=2, padding=-1), ValueError, r"{op}: padding must be >= 0"),
    ((1, 3, 5, 5), dict(kernel_size=0), ValueError, r"{op}: kernel_size must be >= 1"),
    ((1, 3, 5, 5), dict(kernel_size=2, stride=0), ValueError, r"{op}: stride must be >= 1"),
    ((1, 3, 2, 5), dict(kernel_size=3), ValueError,
     r"{op}: the kernel \(3, 3\) is larger than the padded input \(2, 5\)"),
    ((3, 5, 5), dict(kernel_size=(2, 2, 2)), TypeError, r"{op}: kernel_size must be an int or a pair of ints"),
    ((5, 5), dict(kernel_size=2), ValueError, r"{op}: expected a 3-D .* or 4-D .* input, got shape \(5, 5\)"),
]


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape, kw, exc, msg", BAD)
def test_pooling_bad_input(op, shape, kw, exc, msg):
    with pytest.raises(exc, match=msg.format(op=op)):
        getattr(F, op)(tc.tensor(arr(*shape)), **kw)
    with pytest.raises(TypeError, match=f"{op}: expected a floating point input"):
        getattr(F, op)(tc.ones(1, 1, 4, 4, dtype=tc.int64), 2)
