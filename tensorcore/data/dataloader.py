"""``DataLoader`` and ``default_collate``: batches of a dataset, reshuffled every epoch."""
from __future__ import annotations

import collections.abc
import numbers
from typing import Any, Callable, Iterator, Optional

import numpy as np

from .dataset import _tc, has_batch_fast_path

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch, following ``torch.utils.data.default_collate``.

    - Tensors / NumPy arrays are stacked along a new dim 0 (shapes must match).
    - Python ints become an int64 tensor, floats a float64 tensor (as in PyTorch), bools a bool
      tensor; NumPy scalars keep their dtype (as far as tensorcore has it).
    - Strings and bytes stay a list.
    - Mappings are collated per key; named tuples per field; other sequences (tuples, lists) are
      transposed and collated element-wise into a **list** (PyTorch returns a list for tuples too).
    """
    if not isinstance(batch, (list, tuple)):
        raise TypeError(f"default_collate: expected a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    tc = _tc()
    if isinstance(elem, tc.Tensor):
        _check_same(batch, tc.Tensor, "tensors")
        shapes = {tuple(t.shape) for t in batch}
        if len(shapes) != 1:
            raise RuntimeError(f"default_collate: cannot stack tensors of different shapes "
                               f"{sorted(shapes)}; pad them or pass a collate_fn")
        return tc.stack(list(batch), dim=0)
    if isinstance(elem, np.ndarray):
        _check_same(batch, np.ndarray, "arrays")
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: NumPy arrays of dtype {elem.dtype} cannot become "
                            f"tensors")
        shapes = {a.shape for a in batch}
        if len(shapes) != 1:
            raise RuntimeError(f"default_collate: cannot stack arrays of different shapes "
                               f"{sorted(shapes)}; pad them or pass a collate_fn")
        return tc.from_numpy(np.stack(batch))
    if isinstance(elem, np.generic) and elem.dtype.kind in "biuf":
        return tc.from_numpy(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, (bool, np.bool_)):
        return tc.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return tc.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return tc.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(s) != size for s in batch):
            raise RuntimeError("default_collate: every sample in a batch must have the same number "
                               f"of fields; got lengths {sorted({len(s) for s in batch})}")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: don't know how to batch {type(elem).__name__}; samples must "
                    "be tensors, NumPy arrays, numbers, strings, or dicts / tuples / lists of "
                    "those (or pass a collate_fn)")


def _check_same(batch: list, kind: type, what: str) -> None:
    for x in batch:
        if not isinstance(x, kind):
            raise TypeError(f"default_collate: a batch mixes {what} with {type(x).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``, like ``torch.utils.data.DataLoader``.

    - ``shuffle=True`` draws a new permutation of all indices at every ``iter(loader)`` (every
      epoch) from ``generator`` (a ``tensorcore.random.Generator``; None uses the default generator,
      so ``tensorcore.manual_seed`` makes runs repeatable). Same seed, same sequence of orders.
    - ``drop_last=True`` drops the final batch when it is smaller than ``batch_size``.
    - ``collate_fn`` merges a list of samples into a batch; by default :func:`default_collate`.
    - Fast path: when ``collate_fn`` is not given and the dataset has ``get_batch(indices)``
      (``TensorDataset``, ``MNIST``, ``FashionMNIST``, ``Digits``, ``Subset`` of those), each batch is
      one call of it — a fancy index per array — instead of ``batch_size`` item fetches and a stack.

    ``len(loader)`` is the number of batches per epoch. Data loading runs in the calling process
    (there are no worker processes).
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: Any = None,
                 collate_fn: Optional[Callable[[list], Any]] = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be a positive int, got "
                            f"{type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__ (a map-style "
                            f"dataset), got {type(dataset).__name__}")
        if generator is not None and not hasattr(generator, "numpy_rng"):
            raise TypeError(f"DataLoader: generator must be a tensorcore.random.Generator, got "
                            f"{type(generator).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            from .. import random as tc_random

            return tc_random.rng(self.generator).permutation(n)
        return np.arange(n, dtype=np.int64)

    def __iter__(self) -> Iterator[Any]:
        # The permutation is drawn here, when the epoch's iterator is created, not lazily.
        order = self._order()
        fast = self.collate_fn is None and has_batch_fast_path(self.dataset)
        return self._batches(order, len(self), fast)

    def _batches(self, order: np.ndarray, n_batches: int, fast: bool) -> Iterator[Any]:
        collate = self.collate_fn or default_collate
        dataset = self.dataset
        bs = self.batch_size
        for b in range(n_batches):
            idx = order[b * bs:(b + 1) * bs]
            if fast:
                yield dataset.get_batch(idx)
            else:
                yield collate([dataset[int(i)] for i in idx])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")
