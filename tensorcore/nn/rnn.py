"""Recurrent layers: ``nn.LSTMCell`` (one step), ``nn.LSTM`` and ``nn.RNN`` (whole sequences, stacked).

Parameter names, shapes, gate order (input, forget, cell, output) and initialization
(``U(-1/√hidden_size, 1/√hidden_size)`` for every weight and bias) follow PyTorch, so a PyTorch
state dict converted to NumPy loads as is. ``LSTM`` runs the fused ``F.lstm_cell`` once per time
step and layer; ``RNN`` computes ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.
"""
from __future__ import annotations

import math
from typing import Any

from ..creation import empty, zeros
from ..functions import stack
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _positive(op: str, name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return value


def _init_uniform(module: Module, hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


class LSTMCell(Module):
    """One LSTM step: ``(input, (h, c)) -> (h', c')``.

    ``input`` is ``(N, input_size)`` or unbatched ``(input_size,)``; ``hx = (h, c)`` each
    ``(N, hidden_size)`` (zeros when omitted). Parameters ``weight_ih (4H, input_size)``,
    ``weight_hh (4H, H)``, ``bias_ih (4H,)``, ``bias_hh (4H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.input_size = _positive("LSTMCell", "input_size", input_size)
        self.hidden_size = _positive("LSTMCell", "hidden_size", hidden_size)
        self.bias = bias
        self.weight_ih = Parameter(empty(4 * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(empty(4 * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(4 * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(4 * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from ``U(-1/√hidden_size, 1/√hidden_size)``."""
        _init_uniform(self, self.hidden_size)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if not isinstance(input, Tensor):
            raise TypeError(f"LSTMCell: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"LSTMCell: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                             f"got {input.shape}")
        if hx is None:
            h = zeros(*input.shape[:-1], self.hidden_size, dtype=input.dtype, device=input.device)
            hx = (h, h)
        return F.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class _RNNBase(Module):
    """Stacked recurrent layers over a sequence; subclasses define the gate count and one step."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, device: Any, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive(name, "input_size", input_size)
        self.hidden_size = _positive(name, "hidden_size", hidden_size)
        self.num_layers = _positive(name, "num_layers", num_layers)
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout}")
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        rows = self._gates * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", Parameter(empty(rows, width, device=device, dtype=dtype)))
            setattr(self, f"weight_hh_l{layer}", Parameter(empty(rows, hidden_size, device=device, dtype=dtype)))
            if bias:
                setattr(self, f"bias_ih_l{layer}", Parameter(empty(rows, device=device, dtype=dtype)))
                setattr(self, f"bias_hh_l{layer}", Parameter(empty(rows, device=device, dtype=dtype)))
            else:
                self.register_parameter(f"bias_ih_l{layer}", None)
                self.register_parameter(f"bias_hh_l{layer}", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from ``U(-1/√hidden_size, 1/√hidden_size)``."""
        _init_uniform(self, self.hidden_size)

    def _layer_params(self, layer: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return tuple(getattr(self, f"{kind}_l{layer}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _check_input(self, input: Any) -> None:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        layout = "(N, L, input_size)" if self.batch_first else "(L, N, input_size)"
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 3-D {layout} or 2-D unbatched (L, input_size) input, "
                             f"got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got input of shape {input.shape}")
        if input.shape[0 if input.ndim == 2 or not self.batch_first else 1] == 0:
            raise ValueError(f"{name}: expected a sequence length larger than 0, got input of shape {input.shape}")

    def _check_state(self, name: str, state: Any, batch: int) -> None:
        expected = (self.num_layers, batch, self.hidden_size)
        if not isinstance(state, Tensor):
            raise TypeError(f"{type(self).__name__}: {name} must be a Tensor, got {type(state).__name__}")
        if state.shape != expected:
            raise ValueError(f"{type(self).__name__}: expected {name} of shape {expected} (num_layers, batch, "
                             f"hidden_size), got {state.shape}")

    def _run(self, input: Tensor, states: list[Tensor | None]) -> tuple[Tensor, list[Tensor]]:
        """Shared driver: ``input`` in the user's layout, ``states`` the initial state tensors (or
        None). Returns the output in the user's layout and the final state tensors (without the
        batch dimension for unbatched input)."""
        self._check_input(input)
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        seq_len, batch = x.shape[0], x.shape[1]
        names = ("h0", "c0")[:len(states)]
        initial = []
        for name, state in zip(names, states):
            if state is not None and unbatched:
                if not isinstance(state, Tensor) or state.ndim != 2:
                    raise ValueError(f"{type(self).__name__}: for unbatched input {name} must be 2-D "
                                     f"(num_layers, hidden_size), got {getattr(state, 'shape', state)}")
                state = state.unsqueeze(1)
            if state is None:
                state = zeros(self.num_layers, batch, self.hidden_size, dtype=x.dtype, device=x.device)
            self._check_state(name, state, batch)
            initial.append(state)
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, True)
            params = self._layer_params(layer)
            carry = tuple(s[layer] for s in initial)
            outputs = []
            for t in range(seq_len):
                carry = self._step(x[t], carry, params)
                outputs.append(carry[0])
            x = stack(outputs, 0)
            for final, value in zip(finals, carry):
                final.append(value)
        out = x.squeeze(1) if unbatched else (x.transpose(0, 1) if self.batch_first else x)
        last = [stack(final, 0) for final in finals]
        if unbatched:
            last = [s.squeeze(1) for s in last]
        return out, last

    def _step(self, x: Tensor, carry: tuple[Tensor, ...], params: tuple) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text


class LSTM(_RNNBase):
    """A multi-layer LSTM over a whole sequence.

    ``input`` is ``(L, N, input_size)``, or ``(N, L, input_size)`` with ``batch_first=True``, or
    unbatched ``(L, input_size)``. ``hx = (h0, c0)`` each ``(num_layers, N, hidden_size)`` —
    never batch-first — defaults to zeros. Returns ``output, (h_n, c_n)``: the last layer's hidden
    state at every step (in the input's layout) and every layer's final states. With ``dropout > 0``
    the outputs of every layer but the last go through dropout in training mode. Parameters per
    layer ``k``: ``weight_ih_lk (4H, in)``, ``weight_hh_lk (4H, H)``, ``bias_ih_lk``, ``bias_hh_lk (4H,)``.
    """

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, device, dtype)

    def _step(self, x: Tensor, carry: tuple[Tensor, ...], params: tuple) -> tuple[Tensor, ...]:
        return F.lstm_cell(x, carry, *params)

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a pair (h0, c0) of tensors, got {type(hx).__name__}")
        out, (h_n, c_n) = self._run(input, list(hx) if hx is not None else [None, None])
        return out, (h_n, c_n)


class RNN(_RNNBase):
    """A multi-layer Elman RNN, ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ``relu`` with
    ``nonlinearity="relu"``). Layouts as :class:`LSTM`; ``hx`` is ``h0`` alone, and the result is
    ``output, h_n``. Parameters per layer ``k``: ``weight_ih_lk (H, in)``, ``weight_hh_lk (H, H)``,
    ``bias_ih_lk``, ``bias_hh_lk (H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, device, dtype)

    def _step(self, x: Tensor, carry: tuple[Tensor, ...], params: tuple) -> tuple[Tensor, ...]:
        w_ih, w_hh, b_ih, b_hh = params
        pre = F.linear(x, w_ih, b_ih) + F.linear(carry[0], w_hh, b_hh)
        return (F.tanh(pre) if self.nonlinearity == "tanh" else F.relu(pre),)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, (h_n,) = self._run(input, [hx])
        return out, h_n

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + f", nonlinearity={self.nonlinearity!r}"
