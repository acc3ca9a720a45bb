"""``nn.Embedding``: a lookup table of learned vectors, indexed by int64 token ids."""
from __future__ import annotations

from typing import Any

from ..autograd.grad_mode import no_grad
from ..creation import empty
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """``weight[input]``: int64 indices of any shape ``S`` give vectors of shape ``S + (embedding_dim,)``.

    ``weight`` ``(num_embeddings, embedding_dim)`` starts as ``N(0, 1)``, as in PyTorch. The row at
    ``padding_idx`` (negative values count from the end) starts as zeros and gets no gradient, so it
    stays a zero vector for padding tokens.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Embedding: {name} must be an int >= 0, got {value!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight from ``N(0, 1)`` and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None) -> "Embedding":
        """An embedding holding a copy of the 2-D ``embeddings``; ``freeze=True`` turns off its gradient."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        layer = cls(embeddings.shape[0], embeddings.shape[1], padding_idx, device=embeddings.device,
                    dtype=embeddings.dtype)
        with no_grad():
            layer.weight.copy_(embeddings)
        layer.weight.requires_grad_(not freeze)
        return layer

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"Embedding: input must be a Tensor of int64 indices, got {type(input).__name__}")
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"
