"""tensorcore: a tensor engine that teaches deep learning down to the GPU kernel.

``import tensorcore as tc`` gives a PyTorch-like API: tensors with autograd, ``tc.nn``,
``tc.optim`` and ``tc.data``, running on kernel backends you can switch between
(``tc.use_backend("numpy")``) and inspect (``tc.backends.available()``).
"""
from . import autograd, backends, cuda, data, dtypes, nn, optim, random
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backends import use_backend
from .creation import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .device import Device as device
from .dtypes import bool_ as bool  # noqa: A001 - torch.bool
from .dtypes import DType as dtype
from .dtypes import double, float, float32, float64, int64, long  # noqa: A001
from .functions import *  # noqa: F401,F403
from .random import Generator, manual_seed
from .serialization import load, save
from .tensor import Tensor
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
