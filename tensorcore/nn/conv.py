"""``nn.Conv2d``: a 2-D convolution layer over :func:`tensorcore.nn.functional.conv2d`."""
from __future__ import annotations

import math
from typing import Any

from ..creation import empty
from ..ops.conv import check_at_least, pair
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Conv2d: {name} must be a positive int, got {value!r}")


class Conv2d(Module):
    """Cross-correlation of ``(N, C_in, H, W)`` (or ``(C_in, H, W)``) input with ``out_channels`` filters.

    ``weight`` has shape ``(out_channels, in_channels / groups, kH, kW)`` and ``bias`` ``(out_channels,)``;
    both start as in PyTorch: ``kaiming_uniform_(a=√5)`` for the weight, which is
    ``U(-1/√fan_in, 1/√fan_in)`` with ``fan_in = in_channels / groups * kH * kW``, and the same
    interval for the bias. ``padding`` is an int, a pair, ``"valid"`` or ``"same"``; only zero padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("out_channels", out_channels)
        _check_positive("groups", groups)
        if in_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"Conv2d: out_channels ({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = pair("Conv2d", "kernel_size", kernel_size)
        self.stride = pair("Conv2d", "stride", stride)
        self.dilation = pair("Conv2d", "dilation", dilation)
        check_at_least("Conv2d", "kernel_size", self.kernel_size, 1)
        check_at_least("Conv2d", "stride", self.stride, 1)
        check_at_least("Conv2d", "dilation", self.dilation, 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions "
                                 f"(stride {self.stride})")
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = pair("Conv2d", "padding", padding)
            check_at_least("Conv2d", "padding", self.padding, 0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size, device=device,
                                      dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights and bias with PyTorch's default scheme."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if isinstance(input, Tensor) and input.ndim in (3, 4) and input.shape[-3] != self.in_channels:
            raise ValueError(f"Conv2d: expected input with {self.in_channels} channels (dim -3), got input of "
                             f"shape {input.shape}")
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
