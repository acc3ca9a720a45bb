"""``tensorcore.nn.functional`` (``F``): the stateless functions behind the ``nn`` layers."""
from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from ..ops.conv import conv2d  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.embedding import embedding  # noqa: F401
from ..ops.linalg import linear, matmul  # noqa: F401
from ..ops.normalization import batch_norm  # noqa: F401
from ..ops.pool import avg_pool2d, max_pool2d  # noqa: F401
from ..ops.recurrent import lstm_cell  # noqa: F401
from ..ops.softmax import cross_entropy, log_softmax, nll_loss, softmax  # noqa: F401
from ..ops.util import as_tensor_like, backend, broadcast_shape, out, require_float
from ..random import Generator, rng


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


class _BCEWithLogits(Function):
    """Per-element ``(1 - t) * x + lw * softplus(-x)`` with ``lw = 1 + (pos_weight - 1) * t``.

    ``softplus(-x) = max(-x, 0) + log1p(exp(-|x|))`` never overflows; without ``pos_weight`` the loss
    is the familiar ``max(x, 0) - x * t + log1p(exp(-|x|))``. Gradients: ``dx = (1 - t) - lw * sigmoid(-x)``,
    ``dt = (pos_weight - 1) * softplus(-x) - x``, ``d pos_weight = t * softplus(-x)``.
    """

    @staticmethod
    def forward(ctx, x, t, pos_weight):
        xp = x._xp
        xd, td = x._data, t._data
        softplus_neg = xp.maximum(-xd, 0) + xp.log1p(xp.exp(-xp.abs(xd)))
        lw = 1 + (pos_weight._data - 1) * td if pos_weight is not None else 1
        ctx.save_for_backward(x, t, pos_weight)
        ctx.softplus_neg, ctx.lw = softplus_neg, lw
        return out((1 - td) * xd + lw * softplus_neg, x)

    @staticmethod
    def backward(ctx, g):
        x, t, pos_weight = ctx.saved_tensors
        gd, need = g._data, ctx.needs_input_grad
        gx = gt = gp = None
        if need[0]:
            gx = gd * ((1 - t._data) - ctx.lw * backend(g).sigmoid(-x._data))
        if need[1]:
            pw_minus_1 = pos_weight._data - 1 if pos_weight is not None else 0
            gt = gd * (pw_minus_1 * ctx.softplus_neg - x._data)
        if need[2]:
            gp = gd * t._data * ctx.softplus_neg
        return gx, gt, gp


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Any:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` (same shape), computed from the logits
    so it stays finite for any magnitude. ``weight`` rescales each element (broadcast), ``pos_weight``
    the positive term (broadcast along the last dimension, one per class)."""
    op = "binary_cross_entropy_with_logits"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    require_float(op, input)
    target = as_tensor_like(target, input, op)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {target.shape} must be the same as input size {input.shape}")
    target = target._cast(input.dtype)
    if pos_weight is not None:
        pos_weight = as_tensor_like(pos_weight, input, op)._cast(input.dtype)
        if broadcast_shape(op, pos_weight.shape, input.shape) != input.shape:
            raise ValueError(f"{op}: pos_weight of shape {pos_weight.shape} does not broadcast to the input "
                             f"shape {input.shape}")
    losses = _BCEWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        weight = as_tensor_like(weight, input, op)
        if broadcast_shape(op, weight.shape, input.shape) != input.shape:
            raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to the input "
                             f"shape {input.shape}")
        losses = losses * weight._cast(input.dtype)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
