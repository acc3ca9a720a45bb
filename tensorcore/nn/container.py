"""Containers: ``Sequential`` (a pipeline of modules) and ``ModuleList`` (an indexable list)."""
from __future__ import annotations

import operator
from typing import Any, Iterable, Iterator

from .module import Module


def _index(op: str, idx: Any, n: int) -> int:
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"{op}: index {i} is out of range for {n} modules")
    return i % n


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b)(x) == b(a(x))``.

    Children are named ``"0"``, ``"1"`` … (or by the keys of one ``dict`` argument), so state-dict
    keys read ``"0.weight"``. Supports ``len``, iteration, ``seq[i]``, ``seq[i:j]`` (a new
    ``Sequential`` sharing the modules) and ``append``.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(dict(items[idx]))
        return items[_index("Sequential", idx, len(items))][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index("Sequential", idx, len(self))]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index("Sequential", idx, len(keys))]]):
            del self._modules[key]

    def append(self, module: Module) -> "Sequential":
        """Add ``module`` at the end; returns ``self``."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees (a plain list would hide them).

    Children are named ``"0"``, ``"1"`` …; supports indexing, slicing, ``len``, iteration,
    ``append``, ``extend``, ``insert`` and ``+=``. It has no ``forward``.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        values = list(self._modules.values())
        if isinstance(idx, slice):
            return type(self)(values[idx])
        return values[_index("ModuleList", idx, len(values))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index("ModuleList", idx, len(self))), module)

    def _renumber(self, modules: list[Module]) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __delitem__(self, idx: int | slice) -> None:
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else _index("ModuleList", idx, len(modules))]
        self._renumber(modules)

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def append(self, module: Module) -> "ModuleList":
        """Add ``module`` at the end; returns ``self``."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        """Append every module of ``modules``; returns ``self``."""
        for module in modules:
            self.append(module)
        return self

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)
