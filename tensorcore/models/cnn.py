"""The CNN of Hung-yi Lee's course, for 28×28 grey-scale images (MNIST, Fashion-MNIST).

Two convolution + max-pooling stages and a small dense head::

    conv 25@3×3 → ReLU → max-pool 2 → conv 50@3×3 → ReLU → max-pool 2 → flatten → dense 100 → ReLU → 10

On 28×28 input the feature maps are 25×26×26 → 25×13×13 → 50×11×11 → 50×5×5, so the dense head
sees 1250 features. The layout (``features.0.weight`` … ``classifier.3.bias``) matches the same
model written with ``torch.nn.Sequential``, so state dicts carry over through NumPy.
"""
from __future__ import annotations

from .. import nn
from ..tensor import Tensor


class CNN(nn.Module):
    """The course's CNN; returns logits ``(N, num_classes)`` for images ``(N, in_channels, H, W)``.

    Args:
        in_channels: image channels (1 for grey-scale).
        num_classes: output classes.
        image_size: height = width of the input images (28 for MNIST).
        channels: filters of the two convolutions.
        hidden: width of the dense hidden layer.
        kernel_size: side of the square convolution kernels.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 channels: tuple[int, int] = (25, 50), hidden: int = 100, kernel_size: int = 3) -> None:
        super().__init__()
        side = image_size
        for _ in range(2):
            side = (side - kernel_size + 1) // 2
        if side < 1:
            raise ValueError(f"CNN: image_size {image_size} is too small for two {kernel_size}×{kernel_size} "
                             "convolutions each followed by 2×2 pooling")
        c1, c2 = channels
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"CNN: expected images of shape (N, C, {self.image_size}, {self.image_size}), "
                             f"got {x.shape}")
        return self.classifier(self.features(x))
