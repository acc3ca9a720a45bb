"""The LSTM cell as one fused autograd ``Function`` over the backend's ``lstm_cell`` and
``lstm_cell_backward`` entries: one node per time step instead of a dozen elementwise ones.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from .conv import compact
from .util import backend, out, same_device


class LSTMCell(Function):
    """``(x, h, c, w_ih, w_hh, b_ih, b_hh) -> (h', c')``; both biases get the same gradient."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        xp, B = x._xp, backend(x)
        hid4 = w_ih.shape[0]
        b = xp.zeros(hid4, dtype=x._data.dtype)
        for bias in (b_ih, b_hh):
            if bias is not None:
                b = b + bias._data
        arrays = [compact(xp, t._data) for t in (x, h, c, w_ih, w_hh)]
        h_new, c_new, gates = B.lstm_cell(*arrays, b)
        ctx.save_for_backward(x, h, c, w_ih, w_hh)
        ctx.gates = gates
        return out(h_new, x), out(c_new, x)

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        xp = grad_h._xp
        arrays = [compact(xp, t._data) for t in ctx.saved_tensors]
        dx, dh, dc, dw_ih, dw_hh, db = backend(grad_h).lstm_cell_backward(
            *arrays, ctx.gates, compact(xp, grad_h._data), compact(xp, grad_c._data))
        need = ctx.needs_input_grad
        return dx, dh, dc, dw_ih, dw_hh, db if need[5] else None, db if need[6] else None


def lstm_cell(input: Any, hx: tuple[Any, Any], w_ih: Any, w_hh: Any, b_ih: Any = None,
              b_hh: Any = None) -> tuple[Any, Any]:
    """One LSTM step, PyTorch's ``LSTMCell`` math and gate order (input, forget, cell, output):
    ``input (N, I)`` or ``(I,)``, ``hx = (h, c)`` each ``(N, H)`` or ``(H,)``, ``w_ih (4H, I)``,
    ``w_hh (4H, H)``, optional biases ``(4H,)``. Returns ``(h', c')`` shaped like ``h``."""
    from ..tensor import Tensor

    op = "lstm_cell"
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{op}: hx must be a pair (h, c) of tensors, got {type(hx).__name__}")
    h, c = hx
    named = {"input": input, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    tensors = {k: v for k, v in named.items() if v is not None}
    for k, v in tensors.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {k} must be a Tensor, got {type(v).__name__}")
    same_device(op, *tensors.values())
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype}")
    for k, v in tensors.items():
        if v.dtype is not input.dtype:
            raise TypeError(f"{op}: input is {input.dtype} but {k} is {v.dtype}; all tensors must share one dtype")
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected a 1-D (input_size,) or 2-D (batch, input_size) input, "
                         f"got shape {input.shape}")
    if w_ih.ndim != 2 or w_hh.ndim != 2 or w_ih.shape[0] % 4:
        raise ValueError(f"{op}: expected w_ih (4*hidden, input_size) and w_hh (4*hidden, hidden), got shapes "
                         f"{w_ih.shape} and {w_hh.shape}")
    hid = w_ih.shape[0] // 4
    batch = input.shape[:-1]
    expected = {"w_ih": (4 * hid, input.shape[-1]), "w_hh": (4 * hid, hid), "h": batch + (hid,), "c": batch + (hid,),
                "b_ih": (4 * hid,), "b_hh": (4 * hid,)}
    for k, shape in expected.items():
        if k in tensors and tensors[k].shape != shape:
            raise ValueError(f"{op}: expected {k} of shape {shape} for input of shape {input.shape} and w_ih of "
                             f"shape {w_ih.shape}, got {tensors[k].shape}")
    if input.ndim == 1:
        h_new, c_new = LSTMCell.apply(input.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0), w_ih, w_hh, b_ih, b_hh)
        return h_new.squeeze(0), c_new.squeeze(0)
    return LSTMCell.apply(input, h, c, w_ih, w_hh, b_ih, b_hh)
