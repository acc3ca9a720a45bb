"""2-D max and average pooling through the backend's ``max_pool2d`` / ``avg_pool2d`` entries and their
``*_backward`` twins; PyTorch semantics with ``ceil_mode=False`` and no dilation.

Max pooling breaks ties by taking the first maximum in row-major window order (the gradient goes to
that element only), which is the element PyTorch's CPU kernel picks.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from .conv import check_at_least, check_spatial_input, compact, pair
from .util import backend, out


class MaxPool2d(Function):
    """Returns the pooled values and the int64 flat indices of the maxima in their input planes."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        y, index = backend(x).max_pool2d(compact(x._xp, x._data), kernel, stride, padding)
        ctx.index, ctx.x_shape = index, x.shape
        return out(y, x), out(index, x)

    @staticmethod
    def backward(ctx, g, _):
        return backend(g).max_pool2d_backward(compact(g._xp, g._data), ctx.index, ctx.x_shape), None, None, None


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, count_include_pad):
        ctx.args = (x.shape, kernel, stride, padding, count_include_pad)
        return out(backend(x).avg_pool2d(compact(x._xp, x._data), kernel, stride, padding, count_include_pad), x)

    @staticmethod
    def backward(ctx, g):
        return backend(g).avg_pool2d_backward(compact(g._xp, g._data), *ctx.args), None, None, None, None


def _pool_args(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    """Validated ``(kernel, stride, padding)`` pairs; ``stride=None`` means the kernel size."""
    kernel = pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else pair(op, "stride", stride)
    padding = pair(op, "padding", padding)
    check_at_least(op, "kernel_size", kernel, 1)
    check_at_least(op, "stride", stride, 1)
    check_at_least(op, "padding", padding, 0)
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ValueError(f"{op}: padding {padding} should be at most half of the kernel size {kernel}")
    h, w = x.shape[-2:]
    if kernel[0] > h + 2 * padding[0] or kernel[1] > w + 2 * padding[1]:
        raise ValueError(f"{op}: the kernel {kernel} is larger than the padded input "
                         f"{(h + 2 * padding[0], w + 2 * padding[1])} (input shape {x.shape}, padding {padding})")
    return kernel, stride, padding


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               return_indices: bool = False) -> Any:
    """``torch.nn.functional.max_pool2d`` on ``(N, C, H, W)`` or ``(C, H, W)`` input; padding is ``-inf``
    and at most half the kernel. ``return_indices=True`` also returns the int64 index of each maximum
    as a flat offset into its ``H * W`` input plane."""
    batched = check_spatial_input("max_pool2d", input)
    args = _pool_args("max_pool2d", input, kernel_size, stride, padding)
    x = input if batched else input.unsqueeze(0)
    y, index = MaxPool2d.apply(x, *args)
    if not batched:
        y, index = y.squeeze(0), index.squeeze(0)
    return (y, index) if return_indices else y


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               count_include_pad: bool = True) -> Any:
    """``torch.nn.functional.avg_pool2d`` on ``(N, C, H, W)`` or ``(C, H, W)`` input, zero padding; with
    ``count_include_pad=False`` windows are averaged over their unpadded elements only."""
    batched = check_spatial_input("avg_pool2d", input)
    args = _pool_args("avg_pool2d", input, kernel_size, stride, padding)
    x = input if batched else input.unsqueeze(0)
    y = AvgPool2d.apply(x, *args, bool(count_include_pad))
    return y if batched else y.squeeze(0)
