"""Batch normalization as one autograd ``Function`` with the closed-form backward.

Statistics are per channel (axis 1) over every other axis, so ``(N, C)``, ``(N, C, L)`` and
``(N, C, H, W)`` inputs all work. Training normalizes with the batch's biased variance and moves the
running statistics towards the batch's mean and *unbiased* variance, as PyTorch does.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from .util import out, same_device


class BatchNorm(Function):
    """``y = (x - mean) * invstd * weight + bias`` with per-channel ``mean`` and ``invstd``.

    ``batch_stats=True``: mean and invstd come from ``x`` itself, so the input gradient has the
    two extra terms of the mean and variance; otherwise they are constants (running statistics).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, batch_stats):
        xp = x._xp
        shape = (1, -1) + (1,) * (x.ndim - 2)
        xhat = (x._data - mean.reshape(shape)) * invstd.reshape(shape)
        y = xhat * weight._data.reshape(shape) if weight is not None else xhat
        if bias is not None:
            y = y + bias._data.reshape(shape)
        ctx.xhat, ctx.invstd, ctx.shape, ctx.batch_stats = xhat, invstd, shape, batch_stats
        ctx.save_for_backward(weight)
        return out(xp.ascontiguousarray(y), x)

    @staticmethod
    def backward(ctx, g):
        (weight,) = ctx.saved_tensors
        gy, xhat, shape = g._data, ctx.xhat, ctx.shape
        axes = (0,) + tuple(range(2, gy.ndim))
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            gxhat = gy * weight._data.reshape(shape) if weight is not None else gy
            if ctx.batch_stats:
                # d/dx of (x - mean) * invstd with mean and invstd functions of x: remove the gradient's
                # mean and its projection on xhat (M = elements per channel).
                gxhat = gxhat - gxhat.mean(axis=axes, keepdims=True) \
                    - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True)
            gx = gxhat * ctx.invstd.reshape(shape)
        if need[1]:
            gw = (gy * xhat).sum(axis=axes)
        if need[2]:
            gb = gy.sum(axis=axes)
        return gx, gw, gb, None, None, None


def _check(x: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any, training: bool) -> None:
    from ..tensor import Tensor

    op = "batch_norm"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...) with at least 2 dimensions, got {x.shape}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {x.dtype}")
    named = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    given = {k: v for k, v in named.items() if v is not None}
    for k, v in given.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {k} must be a Tensor or None, got {type(v).__name__}")
        if v.shape != (x.shape[1],):
            raise ValueError(f"{op}: expected {k} of shape ({x.shape[1]},) for input of shape {x.shape}, got {v.shape}")
        if v.dtype is not x.dtype:
            raise TypeError(f"{op}: input is {x.dtype} but {k} is {v.dtype}")
    same_device(op, x, *given.values())
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    if training and x.numel() // x.shape[1] <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape {x.shape}")


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """``torch.nn.functional.batch_norm``: normalize each channel of ``(N, C, ...)`` input.

    ``training=True`` uses the batch's statistics and, when given, updates ``running_mean`` and
    ``running_var`` in place: ``r = (1 - momentum) * r + momentum * batch_stat``, with the unbiased
    batch variance. ``training=False`` uses the running statistics.
    """
    _check(input, running_mean, running_var, weight, bias, training)
    xp = input._xp
    axes = (0,) + tuple(range(2, input.ndim))
    x = input._data
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        if running_mean is not None or running_var is not None:
            m = x.size // x.shape[1]
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(out(mean, input), alpha=momentum)
                if running_var is not None:
                    running_var.mul_(1 - momentum).add_(out(var * (m / (m - 1)), input), alpha=momentum)
    else:
        mean, var = running_mean._data, running_var._data
    invstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
    return BatchNorm.apply(input, weight, bias, mean, invstd, bool(training))
