"""``MLP``: the course's fully connected network, ``Linear → activation (→ Dropout)`` repeated."""
from __future__ import annotations

from typing import Sequence

from .. import nn
from ..tensor import Tensor

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class MLP(nn.Module):
    """A multilayer perceptron with layer widths ``sizes`` (input, hidden..., output).

    ``MLP([784, 500, 500, 10])`` is ``Flatten → Linear(784, 500) → ReLU → Linear(500, 500) → ReLU →
    Linear(500, 10)``: every hidden layer is followed by ``activation`` (``"relu"``, ``"sigmoid"`` or
    ``"tanh"``) and, when ``dropout > 0``, a ``Dropout(dropout)``; the output layer returns logits
    (pair it with ``nn.CrossEntropyLoss``). Inputs of shape ``(N, ...)`` are flattened to
    ``(N, sizes[0])``, so image batches ``(N, 1, 28, 28)`` go in as they come from a DataLoader.

    The layers live in ``self.layers`` (an ``nn.Sequential``), so state-dict keys read
    ``layers.1.weight``, ``layers.1.bias``, ... as in the equivalent PyTorch model.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must list at least an input and an output width, all >= 1; got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: dropout must be in [0, 1), got {dropout}")
        self.sizes = tuple(sizes)
        self.activation = activation
        self.dropout = float(dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, sizes[-1])`` for inputs ``(N, ...)`` with ``sizes[0]`` features per sample."""
        if x.ndim < 2:
            raise ValueError(f"MLP: expected a batch of shape (N, ...) with {self.sizes[0]} features per sample, "
                             f"got shape {tuple(x.shape)}")
        features = 1
        for d in x.shape[1:]:
            features *= d
        if features != self.sizes[0]:
            raise ValueError(f"MLP: expected {self.sizes[0]} input features per sample, got shape "
                             f"{tuple(x.shape)} ({features} features)")
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"sizes={list(self.sizes)}, activation={self.activation!r}, dropout={self.dropout}"
