"""Fused optimizer steps in Numba-CUDA, Adam / AdamW and SGD: the whole update in one pass over the parameter.

``adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, 1 − β1, β2, 1 − β2, eps,
weight_decay, decoupled, 1 − lr·weight_decay, maximize, step_size, bias2_sqrt)`` on flat C-contiguous
arrays, in place:
one thread per element in a grid-stride loop computes PyTorch's rule (see
:func:`tensorcore.backends.reference.adam_step`)::

    g  = ±grad (+ weight_decay·p, or p *= 1 − lr·weight_decay when decoupled)
    m += (1 − β1)(g − m);  v = β2·v + (1 − β2)·g²;  v̂ = max(v̂, v) with AMSGrad
    p −= step_size · m / (sqrt(v or v̂) / bias2_sqrt + eps)

with ``step_size = lr / (1 − β1^t)``, ``bias2_sqrt = sqrt(1 − β2^t)`` and the ``1 − x`` terms computed
once on the host in float64, as PyTorch does: in float32, ``1 − 0.999`` is off by 1.3e-5 relative.
Cost: memory-bound, ~15 FLOPs and one square root per element; it reads p, g, m, v (and v̂) and
writes p, m, v (and v̂): ``7·n·itemsize`` bytes (9 with AMSGrad), against ~10 passes and a scratch
array for the reference's array expressions. ``max_exp_avg_sq`` is any array of the dtype when
``amsgrad`` is false (it is not touched). Scalars arrive as float64 and are cast to the array's type
once, so float32 arithmetic stays float32.

``sgd(param, grad, momentum_buffer, with_buffer, lr, momentum, 1 − dampening, weight_decay, nesterov,
maximize, first)``: PyTorch's SGD (see :func:`tensorcore.backends.reference.sgd_step`), one thread an
element; the buffer is written, not read, on the ``first`` step. ``4·n·itemsize`` bytes moved (6 with
momentum), 2-6 FLOPs an element, against ~5 passes and two temporaries for the reference.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import cuda

from .common import KernelFamily, nanmax, sqrt


def _make_adam(T):
    def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, one_minus_beta1, beta2, one_minus_beta2,
             eps, weight_decay, decoupled, decay, maximize, step_size, bias2_sqrt):
        a1, b2, a2, wd = T(one_minus_beta1), T(beta2), T(one_minus_beta2), T(weight_decay)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, param.shape[0], stride):
            p = param[i]
            g = -grad[i] if maximize else grad[i]
            if wd != T(0):
                if decoupled:
                    p *= T(decay)
                else:
                    g += wd * p
            m = exp_avg[i] + a1 * (g - exp_avg[i])
            v = b2 * exp_avg_sq[i] + a2 * g * g
            exp_avg[i] = m
            exp_avg_sq[i] = v
            if amsgrad:
                v = nanmax(max_exp_avg_sq[i], v)
                max_exp_avg_sq[i] = v
            param[i] = p - T(step_size) * m / (sqrt(v) / T(bias2_sqrt) + T(eps))
    return adam


def _make_sgd(T):
    def sgd(param, grad, momentum_buffer, with_buffer, lr, momentum, one_minus_dampening, weight_decay, nesterov,
            maximize, first):
        lr_, mom, keep, wd = T(lr), T(momentum), T(one_minus_dampening), T(weight_decay)
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, param.shape[0], stride):
            g = -grad[i] if maximize else grad[i]
            if wd != T(0):
                g += wd * param[i]
            if with_buffer:
                b = g if first else mom * momentum_buffer[i] + keep * g
                momentum_buffer[i] = b
                g = g + mom * b if nesterov else b
            param[i] -= lr_ * g
    return sgd


_FAMILY = KernelFamily("optim", {"adam": _make_adam, "sgd": _make_sgd})
KINDS = _FAMILY.kinds
python, kernel = _FAMILY.python, _FAMILY.kernel


def signature(kind: str, dtype) -> tuple:
    """Argument types of kernel ``kind`` for ``cuda.compile_ptx``."""
    _FAMILY.check(kind)
    vec = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 1, "C")
    f, b = numba.float64, numba.boolean
    if kind == "sgd":
        return (vec,) * 3 + (b, f, f, f, f, b, b, b)
    return (vec,) * 5 + (b, f, f, f, f, f, b, f, b, f, f)
