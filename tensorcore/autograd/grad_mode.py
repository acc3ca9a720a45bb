"""Whether operations record the autograd graph: ``no_grad`` and ``enable_grad``."""
from __future__ import annotations

import contextvars
import functools
from typing import Any, Callable

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("tensorcore_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    return _ENABLED.get()


class _GradMode:
    """Context manager and decorator that sets grad mode for its block, then restores it."""

    mode: bool

    def __enter__(self) -> None:
        self._token = _ENABLED.set(self.mode)

    def __exit__(self, *exc: Any) -> None:
        _ENABLED.reset(self._token)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Operations inside do not record the graph (``with tc.no_grad():`` or ``@tc.no_grad()``)."""

    mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
