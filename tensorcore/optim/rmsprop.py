"""``optim.RMSprop``: divide the gradient by a running root-mean-square of recent gradients."""
from __future__ import annotations

from typing import Any, Iterable

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """PyTorch's RMSprop: ``v = alpha * v + (1 - alpha) * g²``; ``avg = sqrt(v) + eps`` (centered:
    ``sqrt(v - ḡ²) + eps`` with ``ḡ`` the running mean gradient); then ``p -= lr * g / avg``, or
    through a momentum buffer ``b = momentum * b + g / avg``, ``p -= lr * b``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        for name in ("eps", "momentum", "weight_decay", "alpha"):
            if group[name] < 0.0:
                raise ValueError(f"Invalid {name} value: {group[name]}")

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any], xp: Any) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += grad / avg
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * (grad / avg)
