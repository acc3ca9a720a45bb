"""The backward pass: one walk over the recorded graph in topological order.

Gradients are NumPy/CuPy arrays inside the walk; they are un-broadcast to each input's shape in
exactly one place (:func:`unbroadcast`), summed where a tensor feeds several ops, and written into
``.grad`` of leaves that require grad (accumulating across calls, as in PyTorch).
"""
from __future__ import annotations

import weakref
from typing import Any

from .function import Node
from .grad_mode import no_grad


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach it from ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if lead:
        grad = grad.reshape(grad.shape[lead:])
    if grad.shape != tuple(shape):
        raise RuntimeError(f"backward: gradient of shape {grad.shape} cannot be reduced to shape {tuple(shape)}")
    return grad


def _topological_order(root: Node) -> list[Node]:
    """Nodes reachable from ``root``, each before every node it sends gradients to (iterative DFS,
    so graphs thousands of ops deep, like an unrolled LSTM, do not hit the recursion limit)."""
    order: list[Node] = []
    seen = {id(root)}
    stack = [(root, iter(root.edges))]
    while stack:
        node, edges = stack[-1]
        for edge in edges:
            if edge is not None and edge[0] is not None and id(edge[0]) not in seen:
                seen.add(id(edge[0]))
                stack.append((edge[0], iter(edge[0].edges)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _accumulate(leaf: Any, grad: Any, handed_out: set[int]) -> None:
    """Add ``grad`` into ``leaf.grad``. A gradient array becomes ``.grad`` itself only when this
    walk made it, owns its memory and has not given it to anyone else (add's backward passes one
    array to both inputs; optimizers update ``.grad`` in place); otherwise it is copied."""
    from ..tensor import Tensor

    if leaf.grad is None:
        fresh = (grad.dtype == leaf._data.dtype and grad.flags.owndata and grad.flags.writeable
                 and id(grad) not in handed_out)
        handed_out.add(id(grad))
        # A C-ordered copy: a transposed view's own layout would follow it into optimizer kernels.
        leaf.grad = Tensor._wrap(grad if fresh else grad.astype(leaf._data.dtype, order="C", copy=True), leaf.device)
    else:
        leaf.grad = Tensor._wrap(leaf.grad._data + grad.astype(leaf._data.dtype, copy=False), leaf.device)


def backward(root: Any, gradient: Any = None, retain_graph: bool = False) -> None:
    """Backpropagate from ``root`` (see :meth:`tensorcore.Tensor.backward`)."""
    from ..tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn; "
                           "create its inputs with requires_grad=True")
    xp = root._xp
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; the tensor "
                               f"has shape {tuple(root.shape)}, so pass gradient= of that shape")
        g = xp.ones(root.shape, dtype=root._data.dtype)
    else:
        g = gradient._data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=root._data.dtype)
        if tuple(g.shape) != tuple(root.shape):
            raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)} but the tensor has shape "
                               f"{tuple(root.shape)}")
    handed_out = {id(g)}  # the caller's gradient array is never adopted as anyone's .grad
    if root._grad_fn is None:
        _accumulate(root, g, handed_out)
        return

    pending: dict[Node, list] = {root._grad_fn: [None] * len(root._grad_fn.out_meta)}
    pending[root._grad_fn][root._output_nr] = g
    with no_grad():
        for node in _topological_order(root._grad_fn):
            grads = pending.pop(node, None)
            if grads is None:
                continue
            for i, (shape, dtype, device) in enumerate(node.out_meta):
                if grads[i] is None:
                    grads[i] = xp.zeros(shape, dtype=dtype)
                ref = node.retained.get(i)
                target = ref() if ref is not None else None
                if target is not None:
                    _accumulate(target, grads[i], handed_out)
            wrapped = [Tensor._wrap(a, device) for a, (_, _, device) in zip(grads, node.out_meta)]
            results = node.fn.backward(node.ctx, *wrapped)
            if not isinstance(results, tuple):
                results = (results,)
            if len(results) < len(node.edges):
                raise RuntimeError(f"{node.fn.__name__}.backward returned {len(results)} gradients for "
                                   f"{len(node.edges)} inputs of forward")
            for edge, r in zip(node.edges, results):
                if edge is None or r is None:
                    continue
                arr = r._data if isinstance(r, Tensor) else r
                parent, nr, target = edge
                shape = target.shape if parent is None else target
                arr = unbroadcast(arr, tuple(shape))
                if parent is None:
                    _accumulate(target, arr, handed_out)
                else:
                    slots = pending.setdefault(parent, [None] * len(parent.out_meta))
                    slots[nr] = arr if slots[nr] is None else slots[nr] + arr
            if not retain_graph:
                node.ctx.free()


def retain(tensor: Any) -> None:
    """Make the engine keep ``tensor``'s gradient in ``.grad`` although it is not a leaf."""
    if tensor._grad_fn is not None:
        tensor._grad_fn.retained[tensor._output_nr] = weakref.ref(tensor)
