"""scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes): a small offline dataset."""
from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, Optional

import numpy as np

from ..dataset import Dataset, TensorDataset, _index_array, _tc

__all__ = ["Digits"]


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(features (1797, 64) float64 0..16, labels (1797,)), read once per process; never mutated."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("Digits needs scikit-learn, which ships the 8x8 digits data set: "
                          "pip install scikit-learn (or tensorcore[test])") from exc
    bunch = load_digits()
    return np.asarray(bunch.data), np.asarray(bunch.target)


class Digits(Dataset):
    """``sklearn.datasets.load_digits`` split deterministically into train and test sets.

    The split is stratified: within each class, a permutation drawn from
    ``numpy.random.default_rng(seed)`` puts ``round(test_fraction * class size)`` images in the test
    set. The same ``seed`` and ``test_fraction`` always give the same split, and the train and test
    sets of one seed are disjoint and together cover all 1,797 images.

    Args:
        train: the training part if True, else the test part.
        test_fraction: share of each class held out for the test set, in (0, 1).
        seed: seed of the split.
        flatten: features of shape (64,) if True (default), else images (1, 8, 8).
        transform / target_transform: called on each feature array (float32 NumPy) / label (int).

    Attributes: ``data`` float32 NumPy array (N, 64) or (N, 1, 8, 8) scaled to [0, 1] (pixel values
    0..16 divided by 16); ``targets`` int64 (N,); ``indices`` the rows of ``load_digits`` used.
    ``ds[i]`` is ``(features Tensor, label int)``. The DataLoader fast path applies.
    """

    classes: ClassVar[list[str]] = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, test_fraction: float = 0.2, seed: int = 0, *,
                 flatten: bool = True, transform: Optional[Callable[[np.ndarray], Any]] = None,
                 target_transform: Optional[Callable[[int], Any]] = None) -> None:
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        x, y = _load_digits()
        rng = np.random.default_rng(seed)
        test_mask = np.zeros(len(y), dtype=bool)
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            rng.shuffle(members)
            test_mask[members[:int(round(test_fraction * len(members)))]] = True
        self.train = bool(train)
        self.test_fraction = float(test_fraction)
        self.seed = seed
        self.transform = transform
        self.target_transform = target_transform
        self.indices: np.ndarray = np.flatnonzero(~test_mask if train else test_mask)
        data = (x[self.indices] / 16.0).astype(np.float32)
        self.data: np.ndarray = data if flatten else data.reshape(-1, 1, 8, 8)
        self.targets: np.ndarray = y[self.indices].astype(np.int64)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Digits indices must be integers, got {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"Digits index {index} is out of range for length {n}")
        x = self.data[index]
        feature = self.transform(x.copy()) if self.transform is not None else _tc().from_numpy(x.copy())
        target: Any = int(self.targets[index])
        if self.target_transform is not None:
            target = self.target_transform(target)
        return feature, target

    def supports_get_batch(self) -> bool:
        """The batch fast path applies only without transforms."""
        return self.transform is None and self.target_transform is None

    def get_batch(self, indices: Any) -> list:
        """``[features, labels]`` for ``indices`` with one fancy index each."""
        idx = _index_array(indices, len(self), "Digits.get_batch")
        tc = _tc()
        return [tc.from_numpy(self.data[idx]), tc.from_numpy(self.targets[idx])]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(data, targets)``: the whole split as NumPy arrays."""
        return self.data, self.targets

    def tensors(self) -> tuple[Any, Any]:
        """``(data, targets)`` as ``tensorcore.Tensor`` s (zero-copy)."""
        tc = _tc()
        return tc.from_numpy(self.data), tc.from_numpy(self.targets)

    def as_tensor_dataset(self) -> TensorDataset:
        """A :class:`TensorDataset` of :meth:`tensors`."""
        return TensorDataset(*self.tensors())

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"Digits(split={split!r}, {len(self)} items of {tuple(self.data.shape[1:])}, seed={self.seed})"
