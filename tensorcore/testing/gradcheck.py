"""``gradcheck``: the full Jacobian from autograd against central finite differences, in float64."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names the input and element."""


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list:
    from ..tensor import Tensor

    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Check every ``d output[j] / d input[i]`` of ``fn`` for inputs that require grad.

    Inputs must be float64 (float32 differences are too coarse to be meaningful). Returns True, or
    raises :class:`GradcheckError` saying which input, which input and output elements, the
    analytical and numerical values and the difference.
    """
    from ..autograd.grad_mode import no_grad
    from ..tensor import Tensor

    inputs = list(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff_idx:
        if inputs[i].dtype.numpy != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs")

    with no_grad():
        outs = _outputs(fn, inputs)
    sizes = [o.numel() for o in outs]

    # Analytical Jacobian: one backward per output element.
    analytical = {i: np.zeros((sum(sizes), inputs[i].numel())) for i in diff_idx}
    row = 0
    for k, size in enumerate(sizes):
        for j in range(size):
            for i in diff_idx:
                inputs[i].grad = None
            out = _outputs(fn, inputs)[k]
            if not out.requires_grad:
                row += 1
                continue
            seed = np.zeros(size)
            seed[j] = 1.0
            out.backward(Tensor._wrap(out._xp.asarray(seed.reshape(out.shape), dtype=out._data.dtype), out.device))
            for i in diff_idx:
                g = inputs[i].grad
                if g is not None:
                    analytical[i][row] = np.asarray(g).reshape(-1)
            row += 1

    # Numerical Jacobian: central differences, one input element at a time.
    for i in diff_idx:
        x = inputs[i]
        flat = x._data.reshape(-1)
        numerical = np.zeros_like(analytical[i])
        for e in range(x.numel()):
            orig = flat[e].item()
            with no_grad():
                flat[e] = orig + eps
                plus = np.concatenate([np.asarray(o.detach()).reshape(-1) for o in _outputs(fn, inputs)])
                flat[e] = orig - eps
                minus = np.concatenate([np.asarray(o.detach()).reshape(-1) for o in _outputs(fn, inputs)])
                flat[e] = orig
            numerical[:, e] = (plus - minus) / (2 * eps)
        bad = ~np.isclose(analytical[i], numerical, rtol=rtol, atol=atol)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}), element {tuple(int(i) for i in np.unravel_index(c, x.shape))}, output element "
                f"{r}: autograd gives {analytical[i][r, c]:.8g}, finite differences {numerical[r, c]:.8g} "
                f"(difference {abs(analytical[i][r, c] - numerical[r, c]):.3g}; {int(bad.sum())} of "
                f"{bad.size} Jacobian entries disagree)")
    for i in diff_idx:
        inputs[i].grad = None
    return True
