"""F.batch_norm, F.embedding and F.binary_cross_entropy_with_logits against PyTorch, and their bad input."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
import tensorcore.nn.functional as F
from oracle import compare, torch
from tensorcore.testing import gradcheck

TF = torch.nn.functional
rng = np.random.default_rng(3)
DTYPES = [np.float32, np.float64]


def arr(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- batch_norm

@pytest.mark.parametrize("shape", [(6, 3), (4, 5, 7), (3, 2, 4, 5), (1, 3, 2, 2)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch_and_updates_running_stats(shape, dtype, training, affine):
    c = shape[1]
    mean0, var0 = arr(c, dtype=dtype), (np.abs(arr(c)) + 0.5).astype(dtype)
    stats_tc = [tc.tensor(mean0.copy()), tc.tensor(var0.copy())]
    stats_th = [torch.tensor(mean0.copy()), torch.tensor(var0.copy())]
    arrays = [arr(*shape, dtype=dtype) * 2 + 1] + ([arr(c, dtype=dtype), arr(c, dtype=dtype)] if affine else [])
    compare(lambda x, *wb: F.batch_norm(x, *stats_tc, *wb, training=training, momentum=0.3, eps=1e-3),
            lambda x, *wb: TF.batch_norm(x, *stats_th, *wb, training=training, momentum=0.3, eps=1e-3), arrays)
    for got, expected in zip(stats_tc, stats_th):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_batch_norm_training_without_running_stats_and_gradcheck():
    compare(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
            lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), [arr(4, 3, 2, 2), arr(3), arr(3)])
    inputs = [tc.tensor(a, requires_grad=True) for a in (arr(3, 2, 2, 1), arr(2), arr(2))]
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), inputs)


def test_batch_norm_bad_input():
    x = tc.randn(4, 3)
    with pytest.raises(ValueError, match=r"batch_norm: expected running_mean of shape \(3,\) .* got \(2,\)"):
        F.batch_norm(x, tc.zeros(2), tc.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are required"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training"):
        F.batch_norm(tc.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected an input of shape \(N, C, ...\)"):
        F.batch_norm(tc.randn(3), tc.zeros(3), tc.ones(3))
    with pytest.raises(TypeError, match=r"batch_norm: input is tensorcore.float32 but weight is tensorcore.float64"):
        F.batch_norm(x, tc.zeros(3), tc.ones(3), tc.ones(3, dtype=tc.float64))


# --------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch_with_repeated_indices(dtype):
    idx = np.array([[1, 4, 1], [0, 1, 9]], dtype=np.int64)
    compare(lambda w, i: F.embedding(i, w), lambda w, i: TF.embedding(i, w), [arr(10, 3, dtype=dtype), idx])
    compare(lambda w, i: F.embedding(i, w, padding_idx=1), lambda w, i: TF.embedding(i, w, padding_idx=1),
            [arr(10, 3, dtype=dtype), idx])
    compare(lambda w, i: F.embedding(i, w, padding_idx=-1), lambda w, i: TF.embedding(i, w, padding_idx=-1),
            [arr(10, 3, dtype=dtype), idx])
    compare(lambda w, i: F.embedding(i, w), lambda w, i: TF.embedding(i, w), [arr(5, 2, dtype=dtype),
                                                                                np.array(3, dtype=np.int64)])


def test_embedding_bad_input():
    w = tc.randn(10, 3)
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 9\] for a weight of shape \(10, 3\); "
                                         r"got 10$"):
        F.embedding(tc.tensor([0, 10]), w)
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 9\].* outside it from -1 to 12"):
        F.embedding(tc.tensor([-1, 2, 12]), w)
    with pytest.raises(TypeError, match=r"embedding: input must be an int64 tensor of indices, got tensorcore.float32"):
        F.embedding(tc.tensor([0.0, 1.0]), w)
    with pytest.raises(ValueError, match=r"embedding: weight must be 2-D"):
        F.embedding(tc.tensor([0]), tc.randn(10))
    with pytest.raises(ValueError, match=r"embedding: padding_idx 10 is out of range for 10 embeddings"):
        F.embedding(tc.tensor([0]), w, padding_idx=10)


# --------------------------------------------------------------------------- binary_cross_entropy_with_logits

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(dtype, reduction):
    x = arr(4, 3, dtype=dtype) * 3
    t = rng.random((4, 3)).astype(dtype)
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, t])
    extra = [np.abs(arr(4, 3, dtype=dtype)), np.abs(arr(3, dtype=dtype)) + 0.5]
    compare(lambda a, b, w, p: F.binary_cross_entropy_with_logits(a, b, w, reduction=reduction, pos_weight=p),
            lambda a, b, w, p: TF.binary_cross_entropy_with_logits(a, b, w, reduction=reduction, pos_weight=p),
            [x, t] + extra, grad=[True, True, False, False])  # torch differentiates neither weight nor pos_weight


def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0], dtype=np.float32)
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none"), [x, t])


def test_bce_with_logits_gradcheck_and_bad_input():
    inputs = [tc.tensor(arr(3, 2), requires_grad=True), tc.tensor(rng.random((3, 2)), requires_grad=True),
              tc.tensor(np.abs(arr(2)) + 0.5, requires_grad=True)]
    assert gradcheck(lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, pos_weight=p), inputs)
    x = tc.randn(4, 3)
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target size \(4,\) must be the same "
                                         r"as input size \(4, 3\)"):
        F.binary_cross_entropy_with_logits(x, tc.rand(4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: reduction must be"):
        F.binary_cross_entropy_with_logits(x, tc.rand(4, 3), reduction="avg")
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2, 4, 3\) does not broadcast to the input shape"):
        F.binary_cross_entropy_with_logits(x, tc.rand(4, 3), pos_weight=tc.ones(2, 4, 3))
