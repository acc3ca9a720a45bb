"""``nn.Parameter``: a tensor that a :class:`~tensorcore.nn.Module` registers as trainable state."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module picks up as a parameter when assigned as an attribute.

    ``Parameter(t)`` shares ``t``'s storage (and in-place version counter); it requires grad unless
    ``requires_grad=False``. Operations on a parameter return plain tensors, as in PyTorch.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            from ..creation import empty

            data = empty(0)
        elif not isinstance(data, Tensor):
            from ..creation import as_tensor

            data = as_tensor(data)
        self._init(data._data, data._device, False, version=data._version)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(Tensor._wrap(self._data.copy(), self._device), self._requires_grad)
        if self.grad is not None:
            result.grad = Tensor._wrap(self.grad._data.copy(), self.grad._device)
        memo[id(self)] = result
        return result


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Reset each tensor's ``.grad``: to ``None``, or to zeros in place (bumping its version)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad._data[...] = 0
            p.grad._version[0] += 1
