"""Pooling layers ``nn.MaxPool2d`` and ``nn.AvgPool2d`` over ``F.max_pool2d`` / ``F.avg_pool2d``."""
from __future__ import annotations

from typing import Any

from ..ops.conv import check_at_least, pair
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Pool2d(Module):
    """Shared arguments: ``kernel_size``, ``stride`` (``None``: the kernel size) and ``padding``,
    each an int or an ``(h, w)`` pair, checked when the layer is built."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None,
                 padding: int | tuple[int, int]) -> None:
        super().__init__()
        name = type(self).__name__
        kernel = pair(name, "kernel_size", kernel_size)
        check_at_least(name, "kernel_size", kernel, 1)
        check_at_least(name, "stride", kernel if stride is None else pair(name, "stride", stride), 1)
        pad = pair(name, "padding", padding)
        check_at_least(name, "padding", pad, 0)
        if 2 * pad[0] > kernel[0] or 2 * pad[1] > kernel[1]:
            raise ValueError(f"{name}: padding {pad} should be at most half of the kernel size {kernel}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over ``kernel_size`` windows of ``(N, C, H, W)`` or ``(C, H, W)`` input
    (``-inf`` padding, floor output sizes); ``return_indices=True`` also returns the flat index of
    each maximum in its ``H * W`` plane."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, return_indices: bool = False) -> None:
        super().__init__(kernel_size, stride, padding)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.return_indices)


class AvgPool2d(_Pool2d):
    """Mean over ``kernel_size`` windows (zero padding); with ``count_include_pad=False`` the mean is
    over each window's unpadded elements only."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")
