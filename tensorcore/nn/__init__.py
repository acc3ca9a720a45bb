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
