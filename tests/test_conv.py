"""conv2d against PyTorch: forward and input/weight/bias gradients on edge-case shapes, gradcheck, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
import tensorcore.nn.functional as F
from oracle import compare, torch
from tensorcore.backends import reference
from tensorcore.testing import gradcheck

TF = torch.nn.functional
rng = np.random.default_rng(0)
DTYPES = [np.float32, np.float64]


def arr(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# (input shape, weight shape, keyword arguments): each stresses one edge of im2col / col2im.
CASES = {
    "kernel_larger_than_input_padded": ((2, 3, 3, 3), (4, 3, 5, 5), dict(padding=1)),
    "stride_larger_than_kernel": ((1, 3, 9, 8), (5, 3, 2, 2), dict(stride=3)),
    "one_by_one": ((2, 7, 4, 5), (3, 7, 1, 1), {}),
    "batch1_odd_channels": ((1, 5, 6, 6), (7, 5, 3, 3), dict(padding=1)),
    "groups2": ((2, 4, 6, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    "depthwise": ((2, 3, 6, 6), (3, 1, 3, 3), dict(groups=3)),
    "depthwise_multiplier": ((1, 3, 5, 6), (6, 1, 2, 3), dict(groups=3, stride=2, padding=1)),
    "dilation2": ((1, 3, 9, 9), (2, 3, 3, 3), dict(dilation=2, padding=2)),
    "non_square_everything": ((2, 3, 7, 10), (4, 3, 2, 4), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2))),
    "same_odd_kernel": ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding="same")),
    "same_even_kernel": ((2, 3, 5, 6), (4, 3, 4, 2), dict(padding="same")),
    "same_dilated": ((1, 2, 6, 5), (3, 2, 2, 3), dict(padding="same", dilation=(3, 2))),
    "valid": ((2, 3, 5, 6), (4, 3, 3, 2), dict(padding="valid")),
    "unbatched": ((3, 6, 5), (4, 3, 3, 3), dict(padding=1)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own padded-copy notice
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_matches_torch(name, dtype):
    xs, ws, kw = CASES[name]
    arrays = [arr(*xs, dtype=dtype), arr(*ws, dtype=dtype), arr(ws[0], dtype=dtype)]
    compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_without_bias_and_non_contiguous_input(dtype):
    arrays = [arr(2, 3, 6, 5, dtype=dtype), arr(4, 3, 3, 2, dtype=dtype)]
    compare(lambda x, w: F.conv2d(x.transpose(2, 3), w, stride=(2, 1), padding=1),
            lambda x, w: TF.conv2d(x.transpose(2, 3), w, stride=(2, 1), padding=1), arrays)


def test_conv2d_gradient_of_only_some_operands():
    arrays = [arr(1, 2, 5, 5), arr(3, 2, 3, 3), arr(3)]
    for grad in ([True, False, False], [False, True, False], [False, False, True]):
        compare(lambda x, w, b: F.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b), arrays, grad=grad)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(groups=2, dilation=(2, 1)), dict(padding="same")])
def test_conv2d_gradcheck(kw):
    x = tc.tensor(arr(1, 2, 5, 4), requires_grad=True)
    w = tc.tensor(arr(2, 1 if kw.get("groups") else 2, 2, 3), requires_grad=True)
    b = tc.tensor(arr(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])


def test_reference_kernels_return_compact_arrays():
    x, w = arr(2, 4, 5, 5), arr(6, 2, 3, 3)
    y = reference.conv2d(x, w, (1, 1), (1, 1), (1, 1), 2)
    gx, gw = reference.conv2d_backward(x, w, np.ones_like(y), (1, 1), (1, 1), (1, 1), 2, True, False)
    assert y.flags.c_contiguous and gx.flags.c_contiguous and gw is None


def _x(*shape, dtype=np.float32):
    return tc.tensor(arr(*shape, dtype=dtype))


BAD = [
    ((1, 3, 5, 5), (8, 4, 3, 3), {}, ValueError,
     r"conv2d: input has 3 channels but weight expects 4 \(weight shape \(8, 4, 3, 3\), groups 1\)"),
    ((1, 3, 4, 4), (2, 3, 5, 5), {}, ValueError,
     r"conv2d: the kernel \(5, 5\) .* is larger than the padded input \(4, 4\)"),
    ((1, 3, 4, 4), (2, 3, 3, 3), dict(dilation=2), ValueError, r"conv2d: the kernel \(3, 3\) \(extent \(5, 5\)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(padding=-1), ValueError, r"conv2d: padding must be >= 0, got \(-1, -1\)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(stride=(1, 0)), ValueError, r"conv2d: stride must be >= 1, got \(1, 0\)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(dilation=0), ValueError, r"conv2d: dilation must be >= 1"),
    ((3, 5, 5, 1, 1), (2, 3, 3, 3), {}, ValueError, r"conv2d: expected a 3-D .* or 4-D .* input, got shape \(3, 5"),
    ((1, 3, 5, 5), (2, 3, 3), {}, ValueError, r"conv2d: expected a 4-D weight .* got shape \(2, 3, 3\)"),
    ((1, 3, 5, 5), (4, 1, 3, 3), dict(groups=2), ValueError, r"conv2d: in_channels 3 .* not divisible by groups 2"),
    ((1, 4, 5, 5), (3, 2, 3, 3), dict(groups=2), ValueError, r"conv2d: out_channels 3 .* not divisible by groups 2"),
    ((1, 4, 5, 5), (4, 2, 3, 3), dict(groups=0), ValueError, r"conv2d: groups must be a positive int"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(padding="full"), ValueError, r"conv2d: padding must be 'valid', 'same'"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(padding="same", stride=2), ValueError, r"padding='same' is not supported"),
    ((1, 3, 5, 5), (2, 3, 3, 3), dict(stride=1.5), TypeError, r"conv2d: stride must be an int or a pair of ints"),
]


@pytest.mark.parametrize("xs, ws, kw, exc, msg", BAD)
def test_conv2d_bad_input_names_op_and_shapes(xs, ws, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        F.conv2d(_x(*xs), _x(*ws), **kw)


def test_conv2d_bad_dtypes_bias_and_devices(monkeypatch):
    x, w = _x(1, 3, 5, 5), _x(2, 3, 3, 3)
    with pytest.raises(TypeError, match=r"conv2d: input is tensorcore.float32 but weight is tensorcore.float64"):
        F.conv2d(x, w.double())
    with pytest.raises(TypeError, match=r"conv2d: input is tensorcore.float32 but bias is tensorcore.float64"):
        F.conv2d(x, w, _x(2, dtype=np.float64))
    with pytest.raises(TypeError, match=r"conv2d: expected a floating point input, got tensorcore.int64"):
        F.conv2d(tc.ones(1, 3, 5, 5, dtype=tc.int64), w)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(2,\) .* got \(3,\)"):
        F.conv2d(x, w, _x(3))
    from tensorcore.device import cuda_status

    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")  # a simulated cuda device: NumPy storage, no GPU
    cuda_status.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"conv2d: expected all tensors on the same device, got cpu and cuda:0"):
            F.conv2d(x, w.to("cuda"))
    finally:
        cuda_status.cache_clear()
