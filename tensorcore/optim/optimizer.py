"""``Optimizer``: parameter groups, per-parameter state, and PyTorch's state-dict format.

Subclasses implement :meth:`Optimizer._update` for one parameter on raw arrays (NumPy on ``cpu``,
CuPy on ``cuda``): the parameter's storage, its gradient, its state dict of arrays. The base class
walks the groups, skips parameters without a gradient and bumps each updated parameter's version.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..device import CPU, move
from ..nn.parameter import zero_grads
from ..tensor import Tensor


class Optimizer:
    """Base class of optimizers: ``Optimizer(params, defaults)`` where ``params`` is an iterable of
    tensors or of dicts (parameter groups with their own hyper-parameters)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params argument given to the optimizer should be an iterable "
                            "of Tensors or dicts, but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("add_param_group: optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; use a list instead")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"add_param_group: optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("add_param_group: can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("add_param_group: a parameter group contains duplicate parameters")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        group["params"] = params
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("add_param_group: some parameters appear in more than one parameter group")
        self._validate(group)
        self.param_groups.append(group)
        self._init_group_state(group)

    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError for out-of-range hyper-parameters in ``group``."""
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")

    def _init_group_state(self, group: dict[str, Any]) -> None:
        """Create state eagerly for a new group (most optimizers create it lazily in ``_update``)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to ``None`` (default) or to zeros in place."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (re-evaluating the loss with
        autograd on) runs first when given, and its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._device_type = p.device.type  # for updates that run through a backend entry
                self._update(p._data, p.grad._data, self.state[p], group, p._xp)
                p._version[0] += 1
        return loss

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any], xp: Any) -> None:
        """Update the array ``param`` in place from ``grad`` (never modified) and ``state``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: Tensor or number}}, "param_groups": [{..., "params": [index]}]}``,
        with parameters numbered in group order, as ``torch.optim``. Tensors share storage with the
        optimizer's state; :func:`tensorcore.save` it or copy it to keep a snapshot."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {k: v if isinstance(v, (int, float)) else Tensor._wrap(v, p.device)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state and hyper-parameters saved by :meth:`state_dict` into an optimizer built
        over parameters of the same shapes, in the same group structure. Values are copied."""
        try:
            saved_groups = state_dict["param_groups"]
            saved_state = state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: loaded state dict has {len(saved_groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} parameters in "
                                 f"the loaded state dict, {len(group['params'])} in the optimizer")
        id_map = {idx: p for saved, group in zip(saved_groups, self.param_groups)
                  for idx, p in zip(saved["params"], group["params"])}
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, values in saved_state.items():
            idx = int(key)
            if idx not in id_map:
                raise ValueError(f"load_state_dict: state for parameter {idx} matches no parameter of the optimizer")
            p = id_map[idx]
            new_state[p] = {name: self._cast_state(p, name, v) for name, v in values.items()}
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            restored = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            restored["params"] = group["params"]
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    @staticmethod
    def _cast_state(p: Tensor, name: str, value: Any) -> Any:
        """A copy of one saved state value as an array on ``p``'s device (floating arrays in ``p``'s
        dtype), or a Python number for scalars such as ``step``."""
        if isinstance(value, Tensor):
            array, device = value._data, value.device
        elif isinstance(value, (np.ndarray, np.generic)):
            array, device = np.asarray(value), CPU
        else:
            return copy.deepcopy(value)
        if array.ndim == 0 and name == "step":
            return int(float(array))
        if tuple(array.shape) != p.shape:
            raise ValueError(f"load_state_dict: state {name!r} has shape {tuple(array.shape)}, the parameter has "
                             f"shape {p.shape}")
        array = move(array, device, p.device)
        dtype = p._data.dtype if array.dtype.kind == "f" else array.dtype
        return p._xp.array(array, dtype=dtype, copy=True)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines) + "\n)"
