"""Embedding lookup: rows of a weight matrix gathered by int64 indices; the backward scatters the
output gradient back onto those rows, adding where an index repeats."""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd.function import Function
from .util import check_indices, out, same_device


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, index, padding_idx):
        ctx.index, ctx.shape, ctx.padding_idx = index._data, weight.shape, padding_idx
        return out(weight._data[index._data], weight)

    @staticmethod
    def backward(ctx, g):
        xp = g._xp
        grad = xp.zeros(ctx.shape, dtype=g._data.dtype)
        # add.at, not grad[index] += g: an index that appears twice must receive both gradients.
        xp.add.at(grad, ctx.index.reshape(-1), g._data.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return grad, None, None


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Any:
    """``torch.nn.functional.embedding``: ``weight[input]`` for int64 indices of any shape and a
    ``(num_embeddings, embedding_dim)`` weight; the row at ``padding_idx`` receives no gradient."""
    from ..tensor import Tensor

    op = "embedding"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    same_device(op, input, weight)
    if input.dtype is not dtypes.int64:
        raise TypeError(f"{op}: input must be an int64 tensor of indices, got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for {n} embeddings")
        padding_idx = int(padding_idx) % n
    ok = check_indices(op, input._data, input.device, n,
                       f"indices must be in [0, {n - 1}] for a weight of shape {weight.shape}")
    if input.device.type == "cuda":
        # The range check reports later (at the next synchronization); until then, never read outside.
        input = Tensor._wrap(input._xp.where(ok, input._data, 0), input.device)
    return Embedding.apply(weight, input, padding_idx)
