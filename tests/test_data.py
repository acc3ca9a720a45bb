"""Dataset, TensorDataset, Subset, random_split, default_collate and DataLoader."""
from __future__ import annotations


import numpy as np
import pytest

import tensorcore as tc
from tensorcore.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate,
                             has_batch_fast_path, random_split)
from tensorcore.random import Generator


def _np(t):
    return t.numpy()


class Items(Dataset):
    """A generic dataset (no fast path) that counts item fetches."""

    def __init__(self, n: int, item=None) -> None:
        self.n = n
        self.calls = 0
        self.item = item or (lambda i: (np.full(3, i, np.float32), i))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.item(i)


class Wrapped(Dataset):
    """The items of another dataset, without its fast path."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i):
        return self.inner[i]


def _labels(loader) -> list[list[int]]:
    return [_np(batch[1]).tolist() for batch in loader]


# ------------------------------------------------------------------------------------------ datasets


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_tensor_dataset_items():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([3, 1, 4, 1], np.int64)
    ds = TensorDataset(tc.from_numpy(x), y)
    assert len(ds) == 4
    assert all(isinstance(t, tc.Tensor) for t in ds.tensors)
    xi, yi = ds[2]
    assert isinstance(xi, tc.Tensor) and tuple(xi.shape) == (3,)
    np.testing.assert_array_equal(_np(xi), x[2])
    assert _np(yi).item() == 4 and tuple(yi.shape) == ()
    np.testing.assert_array_equal(_np(ds[-1][0]), x[-1])
    with pytest.raises(IndexError, match="out of range"):
        ds[4]
    with pytest.raises(TypeError):
        ds[1.0]


def test_tensor_dataset_length_mismatch():
    with pytest.raises(ValueError, match=r"size mismatch along dim 0.*\(4, 3\).*\(5,\)"):
        TensorDataset(np.zeros((4, 3), np.float32), np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(np.float32(1.0))


def test_subset_and_random_split():
    ds = TensorDataset(np.arange(10, dtype=np.int64))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and _np(sub[0][0]).item() == 7
    assert has_batch_fast_path(sub) and not has_batch_fast_path(Subset(Items(5), [1]))
    np.testing.assert_array_equal(_np(sub.get_batch(np.array([2, 0]))[0]), [5, 7])
    a, b = random_split(ds, [7, 3], generator=Generator(0))
    got = sorted(a.indices.tolist() + b.indices.tolist())
    assert (len(a), len(b)) == (7, 3) and got == list(range(10))
    c, d, e = random_split(ds, [0.5, 0.3, 0.2], generator=Generator(0))
    assert (len(c), len(d), len(e)) == (5, 3, 2)
    a2, _ = random_split(ds, [7, 3], generator=Generator(0))
    np.testing.assert_array_equal(a.indices, a2.indices)
    with pytest.raises(ValueError, match="summing"):
        random_split(ds, [4, 4])


# ------------------------------------------------------------------------------------------ collate


def test_default_collate_types():
    a = default_collate([(np.ones(2, np.float32), 1, 0.5, "a"), (np.zeros(2, np.float32), 2, 1.5, "b")])
    assert isinstance(a, list) and len(a) == 4
    assert tuple(a[0].shape) == (2, 2) and _np(a[0]).dtype == np.float32
    assert _np(a[1]).dtype == np.int64 and _np(a[1]).tolist() == [1, 2]
    assert _np(a[2]).dtype == np.float64  # as torch: Python floats collate to float64
    assert a[3] == ["a", "b"]
    d = default_collate([{"x": tc.from_numpy(np.ones(3, np.float32)), "y": True},
                         {"x": tc.from_numpy(np.zeros(3, np.float32)), "y": False}])
    assert tuple(d["x"].shape) == (2, 3) and _np(d["y"]).tolist() == [True, False]
    assert _np(default_collate([np.int64(3), np.int64(4)])).dtype == np.int64
    assert _np(default_collate([np.float32(3), np.float32(4)])).dtype == np.float32


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="different shapes"):
        default_collate([np.zeros(2, np.float32), np.zeros(3, np.float32)])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])
    with pytest.raises(TypeError, match="don't know how to batch"):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="same number of fields"):
        default_collate([(1, 2), (1,)])


# ------------------------------------------------------------------------------------------ loader


def test_loader_batches_in_order():
    ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10, dtype=np.int64))
    loader = DataLoader(ds, batch_size=3)
    assert len(loader) == 4
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(3, 1), (3, 1), (3, 1), (1, 1)]
    assert _labels(loader) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    dropped = DataLoader(ds, batch_size=3, drop_last=True)
    assert len(dropped) == 3 and _labels(dropped) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    exact = DataLoader(ds, batch_size=5, drop_last=True)
    assert len(exact) == 2 and len(list(exact)) == 2
    assert len(DataLoader(ds, batch_size=20)) == 1 and len(DataLoader(ds, batch_size=20, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=20, drop_last=True)) == []
    one = list(DataLoader(ds))
    assert len(one) == 10 and tuple(one[0][0].shape) == (1, 1)


def test_loader_shuffle_each_epoch():
    ds = TensorDataset(np.zeros((50, 2), np.float32), np.arange(50, dtype=np.int64))
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=Generator(123))
    epochs = [sum(_labels(loader), []) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(50))  # every index exactly once
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(50))
    again = DataLoader(ds, batch_size=8, shuffle=True, generator=Generator(123))
    assert [sum(_labels(again), []) for _ in range(3)] == epochs  # same seed, same orders
    other = DataLoader(ds, batch_size=8, shuffle=True, generator=Generator(124))
    assert sum(_labels(other), []) != epochs[0]
    dropped = DataLoader(ds, batch_size=8, shuffle=True, drop_last=True, generator=Generator(1))
    flat = sum(_labels(dropped), [])
    assert len(flat) == 48 and len(set(flat)) == 48


def test_loader_order_drawn_at_iter():
    ds = TensorDataset(np.arange(20, dtype=np.int64))
    loader = DataLoader(ds, batch_size=20, shuffle=True, generator=Generator(7))
    first, second = iter(loader), iter(loader)
    ref = DataLoader(ds, batch_size=20, shuffle=True, generator=Generator(7))
    expected_first = _np(next(iter(ref))[0]).tolist()
    _np(next(second)[0])
    assert _np(next(first)[0]).tolist() == expected_first


def test_loader_default_generator_seed():
    ds = TensorDataset(np.arange(30, dtype=np.int64))
    tc.random.manual_seed(5)
    a = [_np(b[0]).tolist() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    tc.random.manual_seed(5)
    b = [_np(b[0]).tolist() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    assert a == b


def test_fast_path_matches_generic_path():
    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.standard_normal((23, 4)).astype(np.float32), rng.integers(0, 5, 23))
    fast = DataLoader(ds, batch_size=5, shuffle=True, generator=Generator(9))
    slow = DataLoader(Wrapped(ds), batch_size=5, shuffle=True, generator=Generator(9))
    assert has_batch_fast_path(ds) and not has_batch_fast_path(Wrapped(ds))
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(_np(fx), _np(sx))
        np.testing.assert_array_equal(_np(fy), _np(sy))
        assert _np(fx).dtype == _np(sx).dtype and _np(fy).dtype == _np(sy).dtype


def test_generic_dataset_and_collate_fn():
    items = Items(7)
    batches = list(DataLoader(items, batch_size=4))
    assert items.calls == 7
    assert tuple(batches[0][0].shape) == (4, 3) and _np(batches[1][1]).tolist() == [4, 5, 6]
    seen = []
    out = list(DataLoader(items, batch_size=4, collate_fn=lambda b: seen.append(len(b)) or len(b)))
    assert out == [4, 3] and seen == [4, 3]
    ds = TensorDataset(np.arange(6, dtype=np.int64))
    assert list(DataLoader(ds, batch_size=4, collate_fn=len)) == [4, 2]  # collate_fn disables fast path


def test_loader_argument_errors():
    ds = TensorDataset(np.arange(4, dtype=np.int64))
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            DataLoader(ds, batch_size=bad)
    for bad in (2.5, True, None, "8"):
        with pytest.raises(TypeError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(ds, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="map-style"):
        DataLoader(iter([1, 2]))


def test_loader_takes_whole_batches_not_items(monkeypatch):
    """A shuffled epoch is one fancy index per batch, never one fetch per item (timed in bench/)."""
    x = np.arange(2000 * 3, dtype=np.float32).reshape(2000, 3)
    y = np.arange(2000, dtype=np.int64)
    ds = TensorDataset(x, y)
    batches = []
    original = TensorDataset.get_batch
    monkeypatch.setattr(TensorDataset, "get_batch", lambda self, idx: batches.append(len(idx)) or original(self, idx))
    monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: pytest.fail("fetched a single item"))
    loader = DataLoader(ds, batch_size=100, shuffle=True, generator=Generator(0))
    seen = np.concatenate([yb.numpy() for _, yb in loader])
    assert batches == [100] * 20
    assert sorted(seen.tolist()) == list(range(2000))


def test_loader_over_digits():
    pytest.importorskip("sklearn")
    from tensorcore.data import Digits

    ds = Digits(train=True)
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=Generator(0))
    x, y = next(iter(loader))
    assert tuple(x.shape) == (64, 64) and _np(x).dtype == np.float32 and _np(y).dtype == np.int64
    assert len(loader) == -(-len(ds) // 64)
