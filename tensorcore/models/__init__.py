"""The course's models, built from ``tensorcore.nn`` layers: ``MLP`` (fully connected)."""
from .mlp import MLP

__all__ = ["MLP"]
from .cnn import CNN
from .lstm import LSTMTagger, evaluate_tagger, predict_tags

__all__ += ["CNN", "LSTMTagger", "predict_tags", "evaluate_tagger"]
