"""``optim.SGD``: stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any, Iterable

from ..backends.registry import current
from .optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD: ``g += weight_decay * p``; with momentum ``b = momentum * b + (1 - dampening) * g``
    (``b = g`` on the first step) and ``g = g + momentum * b`` (Nesterov) or ``g = b``; then
    ``p -= lr * g`` (``+=`` when ``maximize``)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any], xp: Any) -> None:
        momentum = group["momentum"]
        buf, first = None, False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.empty_like(param)
                first = True
        # One contract entry for the whole update, so a native backend can fuse its ~5 passes.
        current(self._device_type).sgd_step(param, grad, buf, group["lr"], momentum, group["dampening"],
                                             group["weight_decay"], group["nesterov"], group["maximize"], first)
