"""The course's models, built from ``tensorcore.nn`` layers: ``MLP`` (fully connected network),
``CNN`` and the slot-filling ``LSTMTagger``."""
from .cnn import CNN
from .lstm import LSTMTagger, evaluate_tagger, predict_tags
from .mlp import MLP

__all__ = ["MLP", "CNN", "LSTMTagger", "predict_tags", "evaluate_tagger"]
