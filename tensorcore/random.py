"""Random number generation: one default generator, seedable like ``torch.manual_seed``."""
from __future__ import annotations

import numpy as np


class Generator:
    """A seedable source of randomness, the counterpart of ``torch.Generator``.

    Wraps a NumPy ``Generator``; ``numpy_rng`` exposes it to code that draws arrays directly.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self.numpy_rng = np.random.default_rng(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.numpy_rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        return self.numpy_rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.numpy_rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every random op without an explicit generator draws from it)."""
    return default_generator.manual_seed(seed)


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator behind ``generator``, or behind the default one."""
    return (generator or default_generator).numpy_rng
