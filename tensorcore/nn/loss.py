"""Loss layers: ``MSELoss``, ``CrossEntropyLoss``, ``NLLLoss`` (thin wrappers over ``F``)."""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error between ``input`` and a ``target`` of the same shape, averaged by default."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy between logits ``(N, C)`` (or ``(N, C, d…)``) and int64 class indices;
    targets equal to ``ignore_index`` contribute nothing (and do not count in the mean)."""

    def __init__(self, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction, ignore_index=self.ignore_index)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities ``(N, C)`` at int64 class indices."""

    def __init__(self, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, reduction=self.reduction, ignore_index=self.ignore_index)
