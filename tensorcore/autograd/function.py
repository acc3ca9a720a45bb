"""``Function``: one differentiable operation, with a forward and a backward, as in PyTorch.

Subclasses define static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``; ``apply``
runs the forward without recording, and when any input requires grad, links the outputs to a
:class:`Node` that the engine walks in :func:`tensorcore.autograd.engine.backward`.
"""
from __future__ import annotations

from typing import Any

from .grad_mode import is_grad_enabled, no_grad


class Context:
    """What a forward leaves for its backward: saved tensors (checked against in-place changes)
    and any plain attributes the forward sets."""

    def __init__(self) -> None:
        self._saved: tuple | None = ()
        self._versions: tuple = ()
        self._freed = False
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors
        self._versions = tuple(t._version[0] if t is not None else None for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(
                "backward: trying to backward through the graph a second time (or to use saved tensors "
                "after they were freed); pass retain_graph=True to the first backward() to keep them")
        for t, v in zip(self._saved, self._versions):
            if t is not None and t._version[0] != v:
                raise RuntimeError(
                    f"backward: a tensor of shape {tuple(t.shape)} saved for the gradient was modified by "
                    f"an in-place operation (version {v} when saved, {t._version[0]} now)")
        return self._saved

    def free(self) -> None:
        self._saved = None
        self._freed = True


class Node:
    """One recorded call of a ``Function``: its context, where its inputs' gradients go, and the
    shapes and dtypes of its outputs (to make zero gradients for outputs that received none)."""

    __slots__ = ("fn", "ctx", "edges", "out_meta", "retained", "__weakref__")

    def __init__(self, fn: type, ctx: Context, edges: list, out_meta: list) -> None:
        self.fn = fn
        self.ctx = ctx
        self.edges = edges
        self.out_meta = out_meta
        self.retained: dict = {}

    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def _tensor_class() -> type:
    """``tensorcore.Tensor``, resolved once: this module is imported before the Tensor class exists."""
    global _TENSOR
    if _TENSOR is None:
        from ..tensor import Tensor

        _TENSOR = Tensor
    return _TENSOR


_TENSOR: type | None = None


class Function:
    """Base class of differentiable operations (``class MyOp(tc.autograd.Function)``)."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        Tensor = _tensor_class()
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if not record:
            return out
        outputs = out if isinstance(out, tuple) else (out,)
        edges = []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                # A leaf edge holds the tensor (its .grad is written); an inner edge only the shape, so
                # intermediate activations are not kept alive by the graph beyond what ctx saved.
                edges.append((a._grad_fn, a._output_nr, a.shape) if a._grad_fn is not None else (None, 0, a))
            else:
                edges.append(None)
        out_meta = []
        node = Node(cls, ctx, edges, out_meta)
        for i, o in enumerate(outputs):
            if not isinstance(o, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got {type(o).__name__}")
            out_meta.append((o.shape, o._data.dtype, o.device))
            if o.dtype.is_floating_point:
                o._requires_grad = True
                o._grad_fn = node
                o._output_nr = i
        return out
