"""The slot-filling LSTM of Hung-yi Lee's RNN lecture: a tagger that labels every word.

``Embedding → LSTM → Linear`` applied per token: the LSTM's hidden state carries the words seen so
far, which is what tells "arrive taipei" (destination) from "leave taipei" (departure). Trained
on :class:`tensorcore.data.SlotFilling` with ``F.cross_entropy(..., ignore_index=IGNORE_INDEX)``
so padding does not count.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..creation import from_numpy
from ..data.datasets.slot_filling import SlotFilling, slot_f1, token_accuracy
from ..tensor import Tensor


class LSTMTagger(nn.Module):
    """Sequence tagger: token ids ``(N, L)`` (``padding_idx`` for padding) → tag logits ``(N, L, num_tags)``.

    Args:
        vocab_size: number of word ids (``len(vocab)``).
        num_tags: number of tags.
        embedding_dim: width of the word vectors.
        hidden_size: LSTM hidden size.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers (needs ``num_layers > 1``) and before the output layer.
        padding_idx: the padding word id, whose vector stays zero.
    """

    def __init__(self, vocab_size: int, num_tags: int, embedding_dim: int = 32, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, padding_idx: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_tags)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 2:
            raise ValueError(f"LSTMTagger: expected token ids of shape (N, L), got {tokens.shape}")
        hidden, _ = self.lstm(self.embedding(tokens))
        return self.out(self.dropout(hidden))


def predict_tags(model: LSTMTagger, dataset: SlotFilling, batch_size: int = 500) -> list[list[str]]:
    """The model's tag strings for every sentence of ``dataset`` (evaluation mode, no gradients;
    the model's previous mode is restored)."""
    was_training = model.training
    model.eval()
    rows = []
    with no_grad():
        for start in range(0, len(dataset), batch_size):
            logits = model(from_numpy(dataset.token_ids[start:start + batch_size]))
            rows.append(np.asarray(logits.numpy()).argmax(-1))
    model.train(was_training)
    ids = np.concatenate(rows) if rows else np.zeros((0, dataset.token_ids.shape[1]), dtype=np.int64)
    return dataset.decode_tags(ids)


def evaluate_tagger(model: LSTMTagger, dataset: SlotFilling, batch_size: int = 500) -> dict[str, Any]:
    """``{"token_accuracy": …, "slot_f1": …}`` of ``model`` on ``dataset`` (padding excluded)."""
    pred = predict_tags(model, dataset, batch_size)
    gold = [list(s.tags) for s in dataset.sentences]
    return {"token_accuracy": token_accuracy(pred, gold), "slot_f1": slot_f1(pred, gold)}
