"""Datasets: the abstract ``Dataset``, ``TensorDataset``, ``Subset`` and ``random_split``.

The counterpart of ``torch.utils.data.Dataset`` and friends. Array work stays in NumPy; values
become ``tensorcore.Tensor`` only at the edges (``tensorcore.from_numpy``, zero-copy).

Batch fast path: a dataset may define ``get_batch(indices)``, taking a 1-D int64 NumPy array of
indices and returning the already-collated batch (what ``default_collate`` would make of
``[dataset[i] for i in indices]``). :class:`~tensorcore.data.DataLoader` calls it instead of
fetching and stacking items one by one. ``TensorDataset``, ``Subset`` of such a dataset, ``MNIST``,
``FashionMNIST`` and ``Digits`` all have it; it costs one fancy index per array per batch.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "has_batch_fast_path"]


def _tc():
    """The tensorcore package, imported lazily (the data package must import without the core)."""
    import tensorcore

    return tensorcore


def _as_numpy(value: Any) -> Optional[np.ndarray]:
    """A NumPy view of a CPU tensor or array; None when it cannot be had without a device copy."""
    if isinstance(value, np.ndarray):
        return value
    try:
        if hasattr(value, "detach"):
            value = value.detach()
        out = value.numpy()
    except Exception:  # noqa: BLE001 - e.g. a tensor on a GPU: index it as a tensor instead
        return None
    return out if isinstance(out, np.ndarray) else None


def _index_array(indices: Any, n: int, who: str) -> np.ndarray:
    """Validate a batch of indices: a 1-D int64 array with every value in [-n, n)."""
    idx = np.asarray(indices)
    if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
        if idx.size == 0:
            idx = idx.astype(np.int64)
        else:
            raise TypeError(f"{who}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"{who}: index {int(bad)} is out of range for a dataset of length {n}")
    return idx


def has_batch_fast_path(dataset: Any) -> bool:
    """True when ``dataset`` can return a whole collated batch at once (``get_batch``)."""
    fast = getattr(dataset, "get_batch", None)
    if fast is None or not callable(fast):
        return False
    enabled = getattr(dataset, "supports_get_batch", True)
    return bool(enabled() if callable(enabled) else enabled)


class Dataset(ABC):
    """A map-style dataset: ``len(ds)`` items, ``ds[i]`` the i-th one for ``0 <= i < len(ds)``.

    Subclasses implement ``__getitem__`` and ``__len__``; they may add ``get_batch(indices)`` (see the
    module docstring) to let the DataLoader skip per-item collation.
    """

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The item at ``index``."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of items."""


class TensorDataset(Dataset):
    """Items are the ``index``-th rows of equally long tensors: ``ds[i] == (t[i] for t in tensors)``.

    Accepts ``tensorcore.Tensor`` objects or NumPy arrays (arrays are wrapped zero-copy with
    ``tensorcore.from_numpy``). All must have the same size along dim 0. ``.tensors`` holds them.
    Indexing a batch is a single fancy index per tensor (the DataLoader fast path). Items and
    batches of CPU tensors are read through their NumPy view, so they carry no autograd history.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        lengths = []
        for i, t in enumerate(tensors):
            shape = tuple(getattr(t, "shape", ()))
            if len(shape) == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-dimensional; every tensor needs a "
                                 f"first dimension to index along")
            lengths.append(shape[0])
        if len(set(lengths)) != 1:
            desc = ", ".join(f"tensor {i}: {tuple(t.shape)}" for i, t in enumerate(tensors))
            raise ValueError(f"TensorDataset: size mismatch along dim 0 ({desc}); every tensor must "
                             f"have the same first-dimension length")
        self._length = int(lengths[0])
        self._arrays = [_as_numpy(t) for t in tensors]
        tc = None
        wrapped = []
        for t, arr in zip(tensors, self._arrays):
            if isinstance(t, np.ndarray):
                tc = tc or _tc()
                t = tc.from_numpy(t)
            wrapped.append(t)
        self.tensors: tuple = tuple(wrapped)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> tuple:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"TensorDataset indices must be integers, got {type(index).__name__}")
        n = self._length
        if not -n <= index < n:
            raise IndexError(f"TensorDataset index {index} is out of range for length {n}")
        tc = _tc()
        out = []
        for t, arr in zip(self.tensors, self._arrays):
            out.append(tc.from_numpy(np.asarray(arr[index])) if arr is not None else t[int(index)])
        return tuple(out)

    def get_batch(self, indices: Any) -> list:
        """``[t[indices] for t in tensors]``: the collated batch, with one fancy index per tensor."""
        idx = _index_array(indices, self._length, "TensorDataset.get_batch")
        tc = _tc()
        out = []
        for t, arr in zip(self.tensors, self._arrays):
            if arr is not None:
                out.append(tc.from_numpy(np.ascontiguousarray(arr[idx])))
            else:
                out.append(t[tc.from_numpy(idx)])
        return out

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (``torch.utils.data.Subset``)."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = _index_array(indices, len(dataset), "Subset")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def supports_get_batch(self) -> bool:
        """Batches go through the parent's fast path only when the parent has one."""
        return has_batch_fast_path(self.dataset)

    def get_batch(self, indices: Any) -> Any:
        """The parent's ``get_batch`` at the mapped indices."""
        idx = _index_array(indices, len(self.indices), "Subset.get_batch")
        return self.dataset.get_batch(self.indices[idx])


def random_split(dataset: Any, lengths: Sequence[float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset`` s of the given lengths.

    ``lengths`` are item counts summing to ``len(dataset)``, or fractions summing to 1 (the
    remainder after flooring goes round-robin to the first subsets, as in PyTorch). ``generator``
    is a ``tensorcore.random.Generator``; None uses the default generator.
    """
    from .. import random as tc_random

    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= x <= 1 for x in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) != n:
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must be non-negative counts summing to the "
                         f"dataset length {n}, or fractions summing to 1")
    perm = tc_random.rng(generator).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + int(k)]))
        start += int(k)
    return out
