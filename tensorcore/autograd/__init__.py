"""Reverse-mode automatic differentiation: ``Function``, the backward engine and grad mode."""
from .engine import backward, unbroadcast
from .function import Context, Function, Node
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Context", "Function", "Node", "backward", "unbroadcast", "enable_grad", "is_grad_enabled",
           "no_grad", "set_grad_enabled"]
