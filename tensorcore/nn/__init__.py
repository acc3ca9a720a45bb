"""``tensorcore.nn``: modules, layers, losses, parameter initialisation and the functional API."""
from . import functional, init
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module
from .parameter import Parameter

__all__ = ["functional", "init", "Module", "Parameter", "IncompatibleKeys", "Linear", "Identity", "ReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Sequential", "ModuleList",
           "MSELoss", "CrossEntropyLoss", "NLLLoss"]
from .conv import Conv2d
from .pooling import AvgPool2d, MaxPool2d

__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d"]
from .normalization import BatchNorm1d, BatchNorm2d
from .sparse import Embedding

__all__ += ["BatchNorm1d", "BatchNorm2d", "Embedding"]
from .rnn import LSTM, RNN, LSTMCell

__all__ += ["LSTMCell", "LSTM", "RNN"]
