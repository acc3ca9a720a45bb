"""``optim.Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""
from __future__ import annotations

from typing import Any, Iterable

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """PyTorch's Adagrad: ``sum += g²``; ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``. State is created at construction, as in PyTorch."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if group[name] < 0.0:
                raise ValueError(f"Invalid {name} value: {group[name]}")

    def _init_group_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            state = self.state[p]
            state["step"] = 0
            state["sum"] = p._xp.full(p.shape, group["initial_accumulator_value"], dtype=p._data.dtype)

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any], xp: Any) -> None:
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        param -= clr * (grad / (xp.sqrt(state["sum"]) + group["eps"]))
