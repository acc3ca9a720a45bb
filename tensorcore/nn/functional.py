"""``tensorcore.nn.functional`` (``F``): the stateless functions behind the ``nn`` layers."""
from __future__ import annotations

from typing import Any

from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.linalg import matmul
from ..ops.softmax import cross_entropy, log_softmax, nll_loss, softmax  # noqa: F401
from ..random import Generator, rng


def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """``input @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``."""
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match weight of shape {weight.shape} "
                         f"(expected last dimension {weight.shape[-1]})")
    out = matmul(input, weight.T)
    return out + bias if bias is not None else out


def dropout(input: Any, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Any:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..creation import _place

    keep = (rng(generator).random(input.shape) >= p).astype(input._data.dtype) / input._data.dtype.type(1.0 - p)
    return input * _place(keep, input.device, False)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or summed, or per-element) squared error; shapes must match, as PyTorch recommends."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    sq = diff * diff
    if reduction == "mean":
        return sq.mean()
    if reduction == "sum":
        return sq.sum()
    if reduction == "none":
        return sq
    raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
