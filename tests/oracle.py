"""One helper to compare a tensorcore computation with PyTorch's, forward and backward."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pytest

import tensorcore as tc

torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the test oracle: pip install torch==2.13.0")

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _tol(dtype: Any, scale: float) -> dict:
    base = TOL[np.dtype(dtype).type]
    return {k: v * scale for k, v in base.items()}


def compare(fn_tc: Callable, fn_torch: Callable | None, arrays: Sequence[np.ndarray], grad: Sequence[bool] | bool = True,
            tol_scale: float = 1.0, seed: int = 0, views: Callable | None = None) -> None:
    """Run ``fn_tc`` on tensorcore tensors and ``fn_torch`` (default: the same function) on torch
    tensors made from ``arrays``; assert equal outputs and equal gradients for a random upstream
    gradient. ``views`` maps each input tensor to the tensor actually passed (e.g. a transpose),
    for non-contiguous inputs; it must accept both libraries' tensors."""
    fn_torch = fn_torch or fn_tc
    grads = [grad] * len(arrays) if isinstance(grad, bool) else list(grad)
    grads = [g and np.asarray(a).dtype.kind == "f" for g, a in zip(grads, arrays)]
    tcs = [tc.tensor(np.array(a), requires_grad=g) for a, g in zip(arrays, grads)]
    ths = [torch.tensor(np.array(a), requires_grad=g) for a, g in zip(arrays, grads)]
    vt = [views(t) if views else t for t in tcs]
    vh = [views(t) if views else t for t in ths]
    out_tc = fn_tc(*vt)
    out_th = fn_torch(*vh)
    outs_tc = out_tc if isinstance(out_tc, (tuple, list)) else (out_tc,)
    outs_th = out_th if isinstance(out_th, (tuple, list)) else (out_th,)
    assert len(outs_tc) == len(outs_th)
    for a, b in zip(outs_tc, outs_th):
        expected = b.detach().numpy()
        got = np.asarray(a.detach())
        assert got.shape == expected.shape, (got.shape, expected.shape)
        assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, equal_nan=True, **_tol(got.dtype, tol_scale))
        else:
            np.testing.assert_array_equal(got, expected)
    if not any(grads):
        return
    rng = np.random.default_rng(seed)
    float_outs = [(a, b) for a, b in zip(outs_tc, outs_th) if b.requires_grad]
    if not float_outs:
        return
    total_tc, total_th = 0, 0
    for a, b in float_outs:
        up = rng.standard_normal(b.shape).astype(b.detach().numpy().dtype)
        total_tc = total_tc + (a * tc.tensor(up)).sum()
        total_th = total_th + (b * torch.tensor(up)).sum()
    total_tc.backward()
    total_th.backward()
    for i, (a, b) in enumerate(zip(tcs, ths)):
        if not grads[i]:
            continue
        if b.grad is None:
            assert a.grad is None or not np.asarray(a.grad).any(), f"input {i}: torch has no gradient"
            continue
        assert a.grad is not None, f"input {i}: tensorcore produced no gradient"
        np.testing.assert_allclose(np.asarray(a.grad), b.grad.numpy(), equal_nan=True,
                                   err_msg=f"gradient of input {i}", **_tol(b.grad.numpy().dtype, tol_scale * 10))
