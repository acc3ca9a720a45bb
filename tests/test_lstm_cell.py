"""The fused LSTM cell against PyTorch's ``torch.lstm_cell``: one step, an unrolled sequence with
gradients to the initial state and the weights, gradcheck, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
import tensorcore.nn.functional as F
from oracle import compare, torch
from tensorcore.testing import gradcheck

rng = np.random.default_rng(2)
DTYPES = [np.float32, np.float64]


def arr(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def params(inp, hid, dtype, bias=True):
    ws = [arr(4 * hid, inp, dtype=dtype), arr(4 * hid, hid, dtype=dtype)]
    return ws + ([arr(4 * hid, dtype=dtype), arr(4 * hid, dtype=dtype)] if bias else [])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_one_step_matches_torch(dtype, bias):
    arrays = [arr(3, 5, dtype=dtype), arr(3, 7, dtype=dtype), arr(3, 7, dtype=dtype)] + params(5, 7, dtype, bias)

    def step(lib):
        def f(x, h, c, *w):
            return lib(x, (h, c), *w)
        return f

    compare(step(F.lstm_cell), step(torch.lstm_cell), arrays)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unrolled_sequence_gradients_reach_initial_state_and_weights(dtype):
    steps, batch, inp, hid = 5, 2, 3, 4
    arrays = [arr(steps, batch, inp, dtype=dtype), arr(batch, hid, dtype=dtype), arr(batch, hid, dtype=dtype)] \
        + params(inp, hid, dtype)

    def unroll(lib):
        def f(xs, h, c, *w):
            outs = []
            for t in range(steps):
                h, c = lib(xs[t], (h, c), *w)
                outs.append(h)
            return (*outs, c)  # every hidden state and the last cell state carry an upstream gradient
        return f

    compare(unroll(F.lstm_cell), unroll(torch.lstm_cell), arrays)


def test_unbatched_and_only_h_used():
    arrays = [arr(5), arr(4), arr(4)] + params(5, 4, np.float64)
    compare(lambda x, h, c, *w: F.lstm_cell(x, (h, c), *w)[0],
            lambda x, h, c, *w: torch.lstm_cell(x[None], (h[None], c[None]), *w)[0][0], arrays)


def test_non_contiguous_weights():
    arrays = [arr(2, 3), arr(2, 4), arr(2, 4), arr(3, 16), arr(4, 16)]
    compare(lambda x, h, c, wi, wh: F.lstm_cell(x, (h, c), wi.T, wh.T),
            lambda x, h, c, wi, wh: torch.lstm_cell(x, (h, c), wi.T, wh.T), arrays)


def test_gradcheck():
    inputs = [tc.tensor(a, requires_grad=True) for a in [arr(2, 3), arr(2, 2), arr(2, 2)] + params(3, 2, np.float64)]

    def two_steps(x, h, c, *w):
        h1, c1 = F.lstm_cell(x, (h, c), *w)
        return F.lstm_cell(x, (h1, c1), *w)

    assert gradcheck(two_steps, inputs)


def test_bad_input():
    x, h, c = tc.randn(2, 3), tc.zeros(2, 4), tc.zeros(2, 4)
    w_ih, w_hh = tc.randn(16, 3), tc.randn(16, 4)
    with pytest.raises(ValueError, match=r"lstm_cell: expected w_ih of shape \(16, 5\) .* got \(16, 3\)"):
        F.lstm_cell(tc.randn(2, 5), (h, c), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected c of shape \(2, 4\) .* got \(3, 4\)"):
        F.lstm_cell(x, (h, tc.zeros(3, 4)), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected b_hh of shape \(16,\)"):
        F.lstm_cell(x, (h, c), w_ih, w_hh, tc.zeros(16), tc.zeros(15))
    with pytest.raises(ValueError, match=r"lstm_cell: expected w_ih \(4\*hidden, input_size\)"):
        F.lstm_cell(x, (h, c), tc.randn(15, 3), w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected a 1-D .* or 2-D .* input, got shape \(1, 2, 3\)"):
        F.lstm_cell(x.unsqueeze(0), (h, c), w_ih, w_hh)
    with pytest.raises(TypeError, match=r"lstm_cell: input is tensorcore.float32 but w_hh is tensorcore.float64"):
        F.lstm_cell(x, (h, c), w_ih, w_hh.double())
    with pytest.raises(TypeError, match=r"lstm_cell: hx must be a pair \(h, c\)"):
        F.lstm_cell(x, h, w_ih, w_hh)
