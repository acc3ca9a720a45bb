"""The course's models, built from ``tensorcore.nn`` layers: ``MLP`` (fully connected)."""
from .mlp import MLP

__all__ = ["MLP"]
