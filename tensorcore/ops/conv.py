"""2-D convolution (``conv2d``) through the backend's ``conv2d`` / ``conv2d_backward`` entries.

The op layer does everything the kernels do not: it validates shapes, dtypes and devices with
messages that name the op, turns ``int``/pair/``"same"`` arguments into ``(height, width)`` pairs,
compacts inputs, adds the bias (a broadcast add forward, a sum backward) and handles unbatched
``(C, H, W)`` input. The spatial-argument helpers here are shared with :mod:`.pool`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function
from .util import backend, out, same_device


def compact(xp: Any, a: Any) -> Any:
    """``a`` as a C-contiguous array (itself when it already is): the kernels' input contract."""
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def pair(op: str, name: str, value: Any) -> tuple[int, int]:
    """``3`` or ``(3, 2)`` as a ``(height, width)`` pair of Python ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 \
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def check_spatial_input(op: str, x: Any) -> bool:
    """Check that ``x`` is a floating point ``(N, C, H, W)`` or ``(C, H, W)`` tensor; True if batched."""
    from ..tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {x.dtype}")
    return x.ndim == 4


def check_at_least(op: str, name: str, value: tuple[int, int], low: int) -> None:
    if min(value) < low:
        raise ValueError(f"{op}: {name} must be >= {low}, got {value}")


class Conv2d(Function):
    """``y = conv(x, w) + b``; the backend entries see compact NCHW/OIHW arrays of one dtype."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp, B = x._xp, backend(x)
        y = B.conv2d(compact(xp, x._data), compact(xp, weight._data), stride, padding, dilation, groups)
        if bias is not None:
            y += bias._data.reshape(1, -1, 1, 1)  # y is a fresh array from the kernel
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding, dilation, groups)
        return out(y, x)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        xp, B = g._xp, backend(g)
        need = ctx.needs_input_grad
        gy = compact(xp, g._data)
        gx, gw = None, None
        if need[0] or need[1]:
            gx, gw = B.conv2d_backward(compact(xp, x._data), compact(xp, weight._data), gy, *ctx.args,
                                       need[0], need[1])
        gb = gy.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gw, gb, None, None, None, None


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Symmetric padding and a leading crop that together give PyTorch's ``padding="same"``.

    PyTorch pads ``total = dilation * (kernel - 1)`` per axis, ``total // 2`` before and the rest
    after. The kernels take symmetric padding, so an odd total is padded ``total // 2 + 1`` on both
    sides and the first output row/column (the one the extra leading pad created) is cropped.
    """
    pad, crop = [], []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pad.append((total + 1) // 2)
        crop.append(total % 2)
    return (pad[0], pad[1]), (crop[0], crop[1])


def _check_operands(x: Any, weight: Any, bias: Any, groups: Any) -> None:
    from ..tensor import Tensor

    if not isinstance(weight, Tensor):
        raise TypeError(f"conv2d: weight must be a Tensor, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"conv2d: bias must be a Tensor or None, got {type(bias).__name__}")
    same_device("conv2d", *(t for t in (x, weight, bias) if t is not None))
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), "
                         f"got shape {weight.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not x.dtype:
            raise TypeError(f"conv2d: input is {x.dtype} but {name} is {t.dtype}; convert one so both match "
                            f"(e.g. {name}.to({x.dtype}))")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    o, cg = weight.shape[:2]
    c = x.shape[-3]
    if o % groups:
        raise ValueError(f"conv2d: out_channels {o} (weight shape {weight.shape}) is not divisible by groups {groups}")
    if c % groups:
        raise ValueError(f"conv2d: in_channels {c} (input shape {x.shape}) is not divisible by groups {groups}")
    if c != cg * groups:
        raise ValueError(f"conv2d: input has {c} channels but weight expects {cg * groups} "
                         f"(weight shape {weight.shape}, groups {groups})")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv2d: expected bias of shape ({o},) for weight of shape {weight.shape}, got {bias.shape}")


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """``torch.nn.functional.conv2d``: cross-correlation of ``(N, C, H, W)`` (or ``(C, H, W)``) input with
    an ``(O, C / groups, kH, kW)`` weight, plus an optional ``(O,)`` bias.

    ``stride``, ``dilation`` (>= 1) and ``padding`` (>= 0) are ints or ``(h, w)`` pairs; ``padding``
    may also be ``"valid"`` (no padding) or ``"same"`` (output as large as the input; stride 1 only).
    """
    batched = check_spatial_input("conv2d", input)
    _check_operands(input, weight, bias, groups)
    stride = pair("conv2d", "stride", stride)
    dilation = pair("conv2d", "dilation", dilation)
    check_at_least("conv2d", "stride", stride, 1)
    check_at_least("conv2d", "dilation", dilation, 1)
    kernel = (weight.shape[2], weight.shape[3])
    crop = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"conv2d: padding='same' is not supported for strided convolutions (stride {stride})")
            padding, crop = _same_padding(kernel, dilation)
        else:
            raise ValueError(f"conv2d: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    padding = pair("conv2d", "padding", padding)
    check_at_least("conv2d", "padding", padding, 0)
    h, w = input.shape[-2:]
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if extent[0] > padded[0] or extent[1] > padded[1]:
        raise ValueError(f"conv2d: the kernel {kernel} (extent {extent} with dilation {dilation}) is larger than "
                         f"the padded input {padded} (input shape {input.shape}, padding {padding})")
    x = input if batched else input.unsqueeze(0)
    y = Conv2d.apply(x, weight, bias, stride, padding, dilation, int(groups))
    if crop != (0, 0):
        y = y[:, :, crop[0]:, crop[1]:]
    return y if batched else y.squeeze(0)
