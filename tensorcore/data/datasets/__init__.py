"""Ready-made datasets (the counterpart of ``torchvision.datasets``) and their file helpers.

- :class:`MNIST`, :class:`FashionMNIST`: the IDX files, found locally (Fashion-MNIST also in the
  Debian package's folder) or downloaded from mirrors with MD5 checks.
- :class:`Digits`: scikit-learn's offline 8×8 digits with a deterministic train/test split.
- :func:`read_idx` / :func:`write_idx`, :func:`download_file`, :func:`md5sum`.
"""
from .digits import Digits
from .download import check_md5, download_file, md5sum
from .idx import (CorruptFileError, DatasetError, DatasetNotFoundError, DownloadError, parse_idx,
                  read_idx, write_idx)
from .mnist import ENV_VAR, MNIST, FashionMNIST, data_home

__all__ = [
    "MNIST", "FashionMNIST", "Digits",
    "read_idx", "write_idx", "parse_idx", "download_file", "md5sum", "check_md5", "data_home",
    "ENV_VAR", "DatasetError", "DatasetNotFoundError", "CorruptFileError", "DownloadError",
]
from .slot_filling import SlotFilling, Vocabulary, bio_spans, slot_f1, token_accuracy

__all__ += ["SlotFilling", "Vocabulary", "bio_spans", "slot_f1", "token_accuracy"]
