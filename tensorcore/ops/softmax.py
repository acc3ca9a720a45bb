"""Softmax, log-softmax and the fused losses built on them (cross-entropy, negative log-likelihood).

The backend entries work on the last axis of a compact array; these ops move ``dim`` there and
back. Cross-entropy is one fused forward (log-softmax + NLL) and one fused backward
(``softmax - onehot``), so the ``N × C`` probabilities are computed once.
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd.function import Function
from .util import backend, check_indices, normalize_dim, out, require_float


def _last(xp: Any, a: Any, dim: int) -> Any:
    moved = xp.moveaxis(a, dim, -1)
    return moved if moved.flags.c_contiguous else xp.ascontiguousarray(moved)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        xp = x._xp
        B = backend(x)
        y = xp.moveaxis((B.log_softmax if log else B.softmax)(_last(xp, x._data, dim)), -1, dim)
        ctx.dim, ctx.log = dim, log
        result = out(y, x)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        xp, B, dim = g._xp, backend(g), ctx.dim
        fn = B.log_softmax_backward if ctx.log else B.softmax_backward
        return xp.moveaxis(fn(_last(xp, y._data, dim), _last(xp, g._data, dim)), -1, dim), None, None


def softmax(x: Any, dim: int) -> Any:
    """``exp(x) / sum(exp(x))`` along ``dim``, stable for logits of any magnitude."""
    require_float("softmax", x)
    return Softmax.apply(x, normalize_dim(dim, x.ndim, "softmax"), False)


def log_softmax(x: Any, dim: int) -> Any:
    require_float("log_softmax", x)
    return Softmax.apply(x, normalize_dim(dim, x.ndim, "log_softmax"), True)


def _reduce(losses: Any, keep: Any, reduction: str) -> Any:
    """``losses`` summed, or averaged over the rows that count (``keep``: 1 or 0 a row). The count stays
    on the device: ``float()`` of it would wait for the GPU every step."""
    from ..tensor import Tensor

    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / Tensor._wrap(keep.sum(), losses.device)


def _check_targets(op: str, logits_shape: tuple, target: Any, ignore_index: int) -> Any:
    """Check the targets' dtype and shape now and their values with :func:`check_indices`; returns the
    row mask ``keep`` (1 for rows that count, 0 for ``ignore_index`` and, on cuda, for out-of-range
    rows, which then raise at the next synchronization) in the logits' dtype."""
    if target.dtype is not dtypes.int64:
        raise TypeError(f"{op}: target must be an int64 tensor of class indices, got {target.dtype}")
    n, c = logits_shape
    if target.shape != (n,):
        raise ValueError(f"{op}: expected target of shape ({n},) for input of shape {logits_shape}, "
                         f"got {target.shape}")
    t = target._data
    counted = t != ignore_index
    ok = check_indices(op, target._xp.where(counted, t, 0), target.device, c,
                       f"target values must be in [0, {c - 1}] (or ignore_index={ignore_index})")
    return counted & ok


class CrossEntropy(Function):
    """Per-row ``-log softmax(logits)[target]`` via the backend's fused entries."""

    @staticmethod
    def forward(ctx, logits, target, keep):
        B = backend(logits)
        safe = logits._xp.where(keep, target._data, 0)
        losses, logp = B.cross_entropy(logits._data, safe)
        ctx.logp, ctx.safe, ctx.keep = logp, safe, keep
        return out(losses * keep, logits)

    @staticmethod
    def backward(ctx, g):
        grad_rows = g._data * ctx.keep
        return backend(g).cross_entropy_backward(ctx.logp, ctx.safe, grad_rows), None, None


class NLL(Function):
    """Per-row ``-input[target]`` for log-probabilities."""

    @staticmethod
    def forward(ctx, logp, target, keep):
        xp = logp._xp
        safe = xp.where(keep, target._data, 0)
        ctx.shape, ctx.safe, ctx.keep = logp.shape, safe, keep
        return out(-xp.take_along_axis(logp._data, safe[:, None], axis=1)[:, 0] * keep, logp)

    @staticmethod
    def backward(ctx, g):
        xp = g._xp
        grad = xp.zeros(ctx.shape, dtype=g._data.dtype)
        grad[xp.arange(ctx.shape[0]), ctx.safe] = -g._data * ctx.keep
        return grad, None, None


def _flatten_classes(op: str, input: Any, target: Any) -> tuple[Any, Any]:
    """``(N, C, d1, ...)`` inputs and ``(N, d1, ...)`` targets as ``(N*d1*..., C)`` and ``(N*d1*...,)``."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1)
    if input.ndim > 2:
        c = input.shape[1]
        if target.shape != (input.shape[0],) + input.shape[2:]:
            raise ValueError(f"{op}: expected target of shape {(input.shape[0],) + input.shape[2:]} for input of "
                             f"shape {input.shape}, got {target.shape}")
        return input.permute(0, *range(2, input.ndim), 1).reshape(-1, c), target.reshape(-1)
    return input, target


def _loss(fn: type, op: str, input: Any, target: Any, reduction: str, ignore_index: int) -> Any:
    from ..tensor import Tensor

    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    require_float(op, input)
    if input.device != target.device:
        raise RuntimeError(f"{op}: input is on {input.device} but target is on {target.device}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    out_shape = target.shape
    flat_in, flat_t = _flatten_classes(op, input, target)
    keep = _check_targets(op, flat_in.shape, flat_t, ignore_index).astype(flat_in._data.dtype)
    losses = fn.apply(flat_in, flat_t, keep)
    if reduction == "none":
        return losses.reshape(out_shape)
    return _reduce(losses, keep, reduction)


def cross_entropy(input: Any, target: Any, reduction: str = "mean", ignore_index: int = -100) -> Any:
    """Cross-entropy between logits ``(N, C)`` (or ``(N, C, d…)``) and int64 class indices."""
    return _loss(CrossEntropy, "cross_entropy", input, target, reduction, ignore_index)


def nll_loss(input: Any, target: Any, reduction: str = "mean", ignore_index: int = -100) -> Any:
    """Negative log-likelihood of log-probabilities ``(N, C)`` at int64 class indices."""
    return _loss(NLL, "nll_loss", input, target, reduction, ignore_index)
