"""MNIST and Fashion-MNIST from the standard IDX files, the counterpart of ``torchvision.datasets``.

Where the files are looked for (the first folder holding both files of the split wins):

- ``root`` given: ``root/<folder_name>`` then ``root`` itself (``folder_name`` is ``mnist`` or
  ``fashion-mnist``); ``download=True`` writes into ``root/<folder_name>``, so MNIST and
  Fashion-MNIST, whose files have the same names, can share one ``root``.
- ``root=None``: ``$TENSORCORE_DATA/<folder_name>`` when that variable is set, otherwise
  ``~/.cache/tensorcore/<folder_name>`` (``$XDG_CACHE_HOME`` is honoured); Fashion-MNIST also looks in
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``) right after the
  ``$TENSORCORE_DATA`` folder. Downloads go to the ``$TENSORCORE_DATA`` / cache folder.

Each file may be plain (``train-images-idx3-ubyte``) or gzip-compressed (``...-ubyte.gz``).

Checksums: each file has two known MD5s, one of the published ``.gz`` and one of its uncompressed
content. A present file counts as verified if either matches — Debian re-compressed the Fashion-MNIST
files, so their ``.gz`` MD5s differ from the published ones while the content is identical.
Checksums are verified for downloads and, with ``download=True``, for files already present (a file
that fails is fetched again); a plain load (``download=False``) only checks the IDX structure.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import numpy as np

from ..dataset import Dataset, TensorDataset, _index_array, _tc
from .download import DEFAULT_TIMEOUT, download_file, md5sum
from .idx import CorruptFileError, DatasetNotFoundError, PathLike, read_idx

__all__ = ["MNIST", "FashionMNIST", "data_home", "ENV_VAR"]

#: Environment variable naming the folder under which datasets live (replaces ~/.cache/tensorcore).
ENV_VAR = "TENSORCORE_DATA"


def data_home() -> Path:
    """``$TENSORCORE_DATA`` if set, else ``$XDG_CACHE_HOME/tensorcore`` (default ``~/.cache/tensorcore``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "tensorcore"


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images of 28×28, 10 classes.

    Args:
        root: folder with the IDX files (see the module docstring for the search order); None for
            the default locations.
        train: the training split (``train-*``) if True, else the test split (``t10k-*``).
        download: fetch missing (or checksum-failing) files from ``mirrors``, trying them in order.
        transform: called on each image, a uint8 NumPy array of shape (28, 28) (torchvision hands
            over a PIL image; tensorcore has no PIL dependency), its result returned as the image.
        target_transform: called on each label (a Python int).
        progress: download progress bar: True, False, or None for "only on a terminal".

    Attributes:
        data: uint8 NumPy array (N, 28, 28) — NumPy rather than a tensor, because tensorcore has no
            uint8 dtype and widening 60,000 images to int64 would take 376 MB.
        targets: int64 NumPy array (N,).
        classes: class names, ``classes[label]``.

    ``ds[i]`` is ``(image, label)``: without ``transform`` the image is a float32 ``Tensor`` of shape
    (1, 28, 28) scaled to [0, 1] (like ``ToTensor()``), the label a Python int. For whole-dataset
    work use :meth:`arrays` / :meth:`tensors`; ``DataLoader`` batches come from :meth:`get_batch`
    with one fancy index (no per-item work) as long as no transform is set.
    """

    folder_name: ClassVar[str] = "mnist"
    #: Extra folders searched when ``root`` is None (e.g. folders of distribution packages).
    system_folders: ClassVar[tuple[str, ...]] = ()
    #: Base URLs tried in order by ``download=True``.
    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    #: File name (without ``.gz``) -> (MD5 of the published ``.gz``, MD5 of the uncompressed file).
    resources: ClassVar[dict[str, tuple[str, str]]] = {
        "train-images-idx3-ubyte": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    }
    classes: ClassVar[list[str]] = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]
    debian_package: ClassVar[Optional[str]] = None

    def __init__(self, root: Optional[PathLike] = None, train: bool = True, download: bool = False,
                 transform: Optional[Callable[[np.ndarray], Any]] = None,
                 target_transform: Optional[Callable[[int], Any]] = None, *,
                 progress: Optional[bool] = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        images_path, labels_path = self._locate(root, download, progress, timeout)
        self.root: Path = images_path.parent
        self.files: tuple[Path, Path] = (images_path, labels_path)
        images = read_idx(images_path, expected_ndim=3, expected_dtype=np.uint8)
        labels = read_idx(labels_path, expected_ndim=1, expected_dtype=np.uint8)
        if images.shape[0] != labels.shape[0]:
            raise CorruptFileError(f"{type(self).__name__}: {images_path} holds {images.shape[0]} "
                                   f"images but {labels_path} holds {labels.shape[0]} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise CorruptFileError(f"{labels_path}: label {int(labels.max())} out of range for "
                                   f"{len(self.classes)} classes")
        self.data: np.ndarray = images
        self.targets: np.ndarray = labels.astype(np.int64)

    # ---------------------------------------------------------------- files

    @property
    def split(self) -> str:
        """``"train"`` or ``"test"``."""
        return "train" if self.train else "test"

    @classmethod
    def split_files(cls, train: bool = True) -> tuple[str, str]:
        """Names (without ``.gz``) of the image and label files of a split."""
        prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @classmethod
    def search_folders(cls, root: Optional[PathLike] = None) -> list[Path]:
        """The folders searched for the files, in order (see the module docstring)."""
        if root is not None:
            root = Path(root).expanduser()
            return [root / cls.folder_name, root]
        env = os.environ.get(ENV_VAR)
        folders = [Path(env).expanduser() / cls.folder_name] if env else []
        folders += [Path(p) for p in cls.system_folders]
        if not env:
            folders.append(data_home() / cls.folder_name)
        return folders

    @classmethod
    def download_folder(cls, root: Optional[PathLike] = None) -> Path:
        """Where ``download=True`` writes: ``root/<folder_name>`` or ``data_home()/<folder_name>``."""
        base = Path(root).expanduser() if root is not None else data_home()
        return base / cls.folder_name

    @staticmethod
    def _find(folder: Path, name: str) -> Optional[Path]:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    @classmethod
    def verify_file(cls, path: PathLike) -> bool:
        """True when ``path`` matches a known MD5: of the published ``.gz`` or of the uncompressed file."""
        path = Path(path)
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        if name not in cls.resources:
            return False
        gz_md5, raw_md5 = cls.resources[name]
        digest = md5sum(path)
        if digest in (gz_md5, raw_md5):
            return True
        if path.name.endswith(".gz"):
            try:
                raw = gzip.decompress(path.read_bytes())
            except (OSError, EOFError, zlib.error):
                return False
            return hashlib.md5(raw, usedforsecurity=False).hexdigest() == raw_md5
        return False

    def _locate(self, root: Optional[PathLike], download: bool, progress: Optional[bool],
                timeout: float) -> tuple[Path, Path]:
        names = self.split_files(self.train)
        folders = self.search_folders(root)
        for folder in folders:
            paths = [self._find(folder, n) for n in names]
            if all(p is not None for p in paths):
                if not download or all(self.verify_file(p) for p in paths):
                    return paths[0], paths[1]
        if download:
            target = self.download_folder(root)
            out = []
            for n in names:
                existing = self._find(target, n)
                if existing is not None and self.verify_file(existing):
                    out.append(existing)
                    continue
                out.append(download_file(f"{n}.gz", self.mirrors, target, self.resources[n][0],
                                         timeout=timeout, progress=progress))
            return out[0], out[1]
        first = folders[0] if folders else Path(".")
        missing = [str(first / f"{n}.gz") for n in names if self._find(first, n) is None]
        where = ", ".join(str(f) for f in folders)
        hint = f"pass download=True to fetch them from {self.mirrors[0]}"
        if self.debian_package:
            hint += (f", or install the Debian package {self.debian_package} (found with "
                     f"root=None)")
        hint += f", or put the files (plain or .gz) in one of those folders (or set ${ENV_VAR})"
        raise DatasetNotFoundError(
            f"{type(self).__name__} {self.split} split: file not found: {', '.join(missing)} "
            f"(looked for {names[0]}[.gz] and {names[1]}[.gz] in: {where}); {hint}")

    # ---------------------------------------------------------------- items

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers, got "
                            f"{type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__} index {index} is out of range for length {n}")
        img = self.data[index]
        if self.transform is not None:
            image = self.transform(img)
        else:
            image = _tc().from_numpy((img.astype(np.float32) / np.float32(255.0)).reshape(1, *img.shape))
        target: Any = int(self.targets[index])
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def supports_get_batch(self) -> bool:
        """The batch fast path applies only without transforms (they act on single items)."""
        return self.transform is None and self.target_transform is None

    def get_batch(self, indices: Any) -> list:
        """``[images, labels]`` for ``indices``: float32 (B, 1, 28, 28) in [0, 1] and int64 (B,).

        Equal to ``default_collate([ds[i] for i in indices])`` when no transform is set.
        """
        idx = _index_array(indices, len(self), f"{type(self).__name__}.get_batch")
        tc = _tc()
        images = self.data[idx].astype(np.float32)
        images /= np.float32(255.0)
        images = images.reshape(len(idx), 1, *self.data.shape[1:])
        return [tc.from_numpy(images), tc.from_numpy(self.targets[idx])]

    # ---------------------------------------------------------------- whole dataset

    def arrays(self, normalize: bool = True, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The whole split as NumPy arrays ``(images, labels)`` in one go.

        ``normalize=True``: float32 images scaled to [0, 1]; False: the raw uint8 values (a view).
        ``flatten=False``: images (N, 1, 28, 28), ready for ``conv2d``; True: (N, 784) for an MLP.
        Labels are int64 (N,).
        """
        images = self.data
        if normalize:
            images = images.astype(np.float32)
            images /= np.float32(255.0)
        shape = (len(self), -1) if flatten else (len(self), 1, *self.data.shape[1:])
        return images.reshape(shape), self.targets

    def tensors(self, normalize: bool = True, flatten: bool = False) -> tuple[Any, Any]:
        """:meth:`arrays` as ``tensorcore.Tensor`` s (zero-copy). With ``normalize=False`` the images
        become int64, since tensorcore has no uint8 dtype."""
        images, labels = self.arrays(normalize, flatten)
        tc = _tc()
        return tc.from_numpy(images), tc.from_numpy(labels)

    def as_tensor_dataset(self, normalize: bool = True, flatten: bool = False) -> TensorDataset:
        """A :class:`TensorDataset` of :meth:`tensors` (transforms are not applied)."""
        return TensorDataset(*self.tensors(normalize, flatten))

    @property
    def class_to_idx(self) -> dict[str, int]:
        """``{class name: label}``."""
        return {c: i for i, c in enumerate(self.classes)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, {len(self)} images of "
                f"{tuple(self.data.shape[1:])}, root={str(self.root)!r})")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: same format and sizes as :class:`MNIST`, 10 clothing classes.

    With ``root=None`` it also finds the Debian package ``dataset-fashion-mnist`` in
    ``/usr/share/datasets/fashion-mnist``. Everything else is as in :class:`MNIST`.
    """

    folder_name = "fashion-mnist"
    system_folders = ("/usr/share/datasets/fashion-mnist",)
    debian_package = "dataset-fashion-mnist"
    mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    resources = {
        "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
