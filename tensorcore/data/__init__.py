"""Data loading: the counterpart of ``torch.utils.data`` plus the datasets of ``torchvision``.

Quick start::

    from tensorcore.data import DataLoader
    from tensorcore.data.datasets import FashionMNIST

    train = FashionMNIST(train=True)                 # Debian's copy, or download=True
    loader = DataLoader(train, batch_size=100, shuffle=True)
    for images, labels in loader:                    # float32 (100, 1, 28, 28), int64 (100,)
        ...

    x, y = train.arrays(flatten=True)                # whole split as NumPy: (60000, 784), (60000,)
"""
from .dataloader import DataLoader, default_collate
from .dataset import Dataset, Subset, TensorDataset, has_batch_fast_path, random_split
from .datasets import (MNIST, CorruptFileError, DatasetError, DatasetNotFoundError, Digits,
                       DownloadError, FashionMNIST)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate",
    "has_batch_fast_path", "MNIST", "FashionMNIST", "Digits",
    "DatasetError", "DatasetNotFoundError", "CorruptFileError", "DownloadError",
]
from .datasets import SlotFilling

__all__ += ["SlotFilling"]
