"""The C++ backend: tensorcore._C.matmul directly (checks, edge sizes) and through the backend table."""
from __future__ import annotations

import concurrent.futures
import re
import sys

import numpy as np
import pytest

_C = pytest.importorskip(
    "tensorcore._C", reason="the C++ extension tensorcore._C is not built (run `pip install -e .`)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tensorcore import backends  # noqa: E402
from tensorcore.backends import cpp  # noqa: E402

FLOATS = [np.float32, np.float64]
OP = "tensorcore._C.matmul"


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(dtype)


def check_close(out, a, b):
    """``out`` against numpy.matmul computed in float64. Entries are sums of K products of values in
    [-1, 1]; blocked summation keeps the error a small multiple of eps * K."""
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == ref.shape and out.dtype == a.dtype
    k = a.shape[-1]
    np.testing.assert_allclose(out, ref, rtol=0, atol=8 * np.finfo(a.dtype).eps * max(k, 1))


@pytest.fixture
def threads():
    """Restores the kernels' thread count after a test changes it."""
    before = _C.get_num_threads()
    yield
    _C.set_num_threads(before)


# Shapes around the tile sizes (MR 6-14, NR 4-32, MC >= 96, KC 256, NC >= 128 elements,
# depending on dtype and vector width): ones, primes, exact tiles, and one that crosses every
# block boundary (M > MC, K > KC, N > NC).
SHAPES = [(1, 1, 1), (1, 7, 1), (7, 1, 5), (17, 33, 9), (6, 16, 8), (12, 64, 32), (31, 5, 67),
          (100, 300, 270)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul_2d(m, k, n, dtype):
    a, b = rand((m, k), dtype, 1), rand((k, n), dtype, 2)
    check_close(_C.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch,m,k,n", [(1, 3, 4, 5), (4, 17, 33, 9), (3, 1, 40, 1), (2, 97, 260, 140)])
def test_matmul_batched(batch, m, k, n, dtype):
    a, b = rand((batch, m, k), dtype, 3), rand((batch, k, n), dtype, 4)
    out = _C.matmul(a, b)
    check_close(out, a, b)
    for i in range(batch):  # each batch entry is its own product, not mixed with its neighbours
        check_close(out[i], a[i], b[i])


VARIANTS = ["naive", "blocked", "packed", "packed_avx2", "packed_avx512"]


def runnable(variant):
    """The variant, or a skip when this CPU lacks its instructions."""
    features = _C.cpu_features()
    needs = {"packed_avx2": "avx2_fma", "packed_avx512": "avx512f"}.get(variant)
    if needs and not features[needs]:
        pytest.skip(f"{variant} needs {needs}, which this CPU lacks")
    return variant


# Shapes for every variant: edges of the AVX-512 14 x 32 and AVX2 6 x 16 tiles, MC/KC/NC block
# edges (K > 256, N > 2048 for the SSE2/AVX2 float32 blocks; M > 336, K > 512 and N > 4096 for
# AVX-512's), and a prime-sized ragged one.
VARIANT_SHAPES = [(1, 1, 1), (13, 29, 31), (15, 33, 33), (7, 257, 17), (29, 300, 2081), (343, 521, 33),
                  (3, 517, 4099)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant(variant, dtype):
    runnable(variant)
    for m, k, n in VARIANT_SHAPES:
        a, b = rand((m, k), dtype, m), rand((k, n), dtype, n)
        check_close(_C.matmul_variant(a, b, variant), a, b)
    a, b = rand((3, 20, 37), dtype, 5), rand((3, 37, 41), dtype, 6)
    check_close(_C.matmul_variant(a, b, variant), a, b)


def test_dispatch_reports_the_isa_it_chose():
    features = _C.cpu_features()
    assert features["arch"] in ("x86_64", "aarch64", "other")
    expected = ("packed_avx512" if features["avx512f"] else
                "packed_avx2" if features["avx2_fma"] else "packed")
    assert features["matmul"] == expected
    if sys.platform == "linux" and features["arch"] == "x86_64":  # what the kernel says the CPU has
        flags = set(open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split())
        assert features["avx512f"] == ("avx512f" in flags)
        assert features["avx2_fma"] == ({"avx2", "fma"} <= flags)
    a, b = rand((40, 50), np.float32), rand((50, 60), np.float32, 1)
    np.testing.assert_array_equal(_C.matmul(a, b), _C.matmul_variant(a, b, expected))


def test_variant_errors():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="matmul_variant: unknown variant 'fast'"):
        _C.matmul_variant(a, a, "fast")
    with pytest.raises(ValueError, match=re.escape("tensorcore._C.matmul_variant: inner dimensions")):
        _C.matmul_variant(a, np.ones((3, 2), np.float32), "packed")


def test_float64_is_float64_accurate():
    a, b = rand((33, 257), np.float64), rand((257, 19), np.float64, 1)
    np.testing.assert_allclose(_C.matmul(a, b), a @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("a_shape,b_shape,out_shape", [
    ((64, 0), (0, 48), (64, 48)),          # K = 0: an empty sum, all zeros
    ((2, 5, 0), (2, 0, 3), (2, 5, 3)),
    ((0, 4), (4, 3), (0, 3)),              # M = 0
    ((4, 3), (3, 0), (4, 0)),              # N = 0
    ((0, 3, 4), (0, 4, 5), (0, 3, 5)),     # no batch entries
    ((0, 0), (0, 0), (0, 0)),
])
def test_empty_dims(a_shape, b_shape, out_shape, dtype):
    a, b = np.ones(a_shape, dtype), np.ones(b_shape, dtype)
    out = _C.matmul(a, b)
    assert out.shape == out_shape and out.dtype == dtype
    assert not out.any()


# --------------------------------------------------------------------------- bad input


def raises(exc, message):
    return pytest.raises(exc, match="^" + re.escape(f"{OP}: {message}"))


def test_inner_dimension_mismatch_message():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 2), np.float32)
    with pytest.raises(ValueError) as info:
        _C.matmul(a, b)
    assert str(info.value) == "tensorcore._C.matmul: inner dimensions differ: a is (3, 4), b is (5, 2)"


@pytest.mark.parametrize("a_shape,b_shape", [((3,), (3, 4)), ((3, 4), (4,)), ((2, 2, 3, 4), (2, 2, 4, 5)),
                                             ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((), ())])
def test_wrong_ndim(a_shape, b_shape):
    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    with raises(ValueError, "expected 2-D (M, K) @ (K, N) or 3-D"):
        _C.matmul(a, b)


def test_batch_mismatch():
    with raises(ValueError, "batch dimensions differ: a is (2, 3, 4), b is (3, 4, 5)"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5)))


def test_batched_inner_mismatch():
    with raises(ValueError, "inner dimensions differ: a is (2, 3, 4), b is (2, 5, 4)"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((2, 5, 4)))


def test_dtype_mismatch():
    with raises(TypeError, "dtypes differ: a is float32, b is float64"):
        _C.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float64))


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex64, np.dtype(">f4"), np.dtype(">f8")])
def test_unsupported_dtype(dtype):
    a = np.ones((2, 2), dtype)
    with raises(TypeError, f"unsupported dtype {np.dtype(dtype)}"):
        _C.matmul(a, a.copy())


def test_not_an_array():
    with raises(TypeError, "a must be a numpy.ndarray, got list"):
        _C.matmul([[1.0]], np.ones((1, 1)))
    with raises(TypeError, "b must be a numpy.ndarray, got NoneType"):
        _C.matmul(np.ones((1, 1)), None)


def test_non_contiguous_is_refused_not_copied():
    a = np.ones((4, 3), np.float32)
    with raises(ValueError, "a must be C-contiguous, got shape (3, 4) with strides (4, 12)"):
        _C.matmul(a.T, np.ones((4, 2), np.float32))
    with raises(ValueError, "b must be C-contiguous"):
        _C.matmul(np.ones((2, 3), np.float32), np.ones((3, 8), np.float32)[:, ::2])
    with raises(ValueError, "a must be C-contiguous"):
        _C.matmul(np.ones((4, 3, 3))[::2], np.ones((2, 3, 3)))


def test_unaligned_is_refused():
    raw = np.zeros(4 * 12 + 1, np.uint8)
    a = raw[1:].view(np.float32).reshape(3, 4)
    assert a.flags.c_contiguous and not a.flags.aligned
    with raises(ValueError, "a is not aligned"):
        _C.matmul(a, np.ones((4, 2), np.float32))


@pytest.mark.parametrize("big", [2**31, 2**40])  # 2**62 elements is 2**64 bytes; 2**80 elements
def test_output_size_overflow_is_refused(big):
    a, b = np.empty((big, 0), np.float32), np.empty((0, big), np.float32)  # zero-size inputs exist
    with raises(ValueError, "the output of"):
        _C.matmul(a, b)


# --------------------------------------------------------------------------- threads


def test_thread_count_set_get(threads):
    _C.set_num_threads(1)
    assert _C.get_num_threads() == 1
    _C.set_num_threads(3)
    assert _C.get_num_threads() == (3 if _C.has_openmp else 1)
    with pytest.raises(ValueError, match="set_num_threads: n must be >= 1, got 0"):
        _C.set_num_threads(0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(3, 200, 300, 150), (1, 301, 520, 333), (5, 30, 40, 50)])
def test_result_does_not_depend_on_thread_count(threads, variant, shape):
    runnable(variant)
    batch, m, k, n = shape
    a, b = rand((batch, m, k), np.float32), rand((batch, k, n), np.float32, 1)
    _C.set_num_threads(1)
    one = _C.matmul_variant(a, b, variant)
    for n_threads in (2, 3, 4):
        _C.set_num_threads(n_threads)
        # same tiles, same summation order: bitwise equal, not just close
        np.testing.assert_array_equal(_C.matmul_variant(a, b, variant), one)


def test_concurrent_calls_from_python_threads():
    pairs = [(rand((130, 170), np.float32, i), rand((170, 90), np.float32, i + 100)) for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda ab: _C.matmul(*ab), pairs))
    for out, (a, b) in zip(outs, pairs):
        check_close(out, a, b)


def test_num_threads_env_is_read_at_load(threads, monkeypatch):
    monkeypatch.setenv("TENSORCORE_NUM_THREADS", "1")
    cpp.kernels()
    assert _C.get_num_threads() == 1
    monkeypatch.setenv("TENSORCORE_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="TENSORCORE_NUM_THREADS must be a positive integer"):
        cpp.kernels()


# --------------------------------------------------------------------------- the backend wrapper


def test_missing_extension_is_reported_not_raised_on_import(monkeypatch):
    monkeypatch.setattr(cpp, "_C", None)
    monkeypatch.delattr(sys.modules["tensorcore"], "_C")
    monkeypatch.setitem(sys.modules, "tensorcore._C", None)  # makes the import fail
    with pytest.raises(backends.BackendUnavailable, match="tensorcore._C is not built"):
        cpp.kernels()


def test_backend_table_marks_matmul_handwritten():
    backend = backends.get("cpp")
    assert backend.table()["matmul"] == "handwritten"
    assert backend.matmul is cpp.matmul


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrapper_non_contiguous_inputs(dtype):
    a = rand((9, 17), dtype).T                     # transposed: (17, 9), Fortran order
    b = rand((9, 26), dtype, 1)[:, ::2]            # strided columns: (9, 13)
    check_close(cpp.matmul(a, b), a, b)
    a3 = rand((4, 17, 9), dtype)[::2]              # strided batch
    b3 = np.asfortranarray(rand((2, 9, 5), dtype, 1))
    check_close(cpp.matmul(a3, b3), a3, b3)


def test_wrapper_many_batch_dims():
    a, b = rand((2, 3, 5, 7), np.float32), rand((2, 3, 7, 4), np.float32, 1)
    check_close(cpp.matmul(a, b), a, b)
    a, b = rand((2, 0, 5, 7), np.float32), rand((2, 0, 7, 4), np.float32, 1)
    assert cpp.matmul(a, b).shape == (2, 0, 5, 4)


def test_wrapper_defers_other_dtypes_to_reference():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    b = np.arange(8, dtype=np.int64).reshape(4, 2)
    out = cpp.matmul(a, b)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, a @ b)
    mixed = cpp.matmul(a.astype(np.float32), b.astype(np.float64))
    assert mixed.dtype == np.float64


def test_wrapper_inner_mismatch_names_op():
    with pytest.raises(ValueError, match=re.escape("tensorcore.backends.cpp.matmul: inner dimensions "
                                                   "differ: a is (2, 2, 3, 4), b is (2, 2, 5, 4)")):
        cpp.matmul(np.ones((2, 2, 3, 4), np.float32), np.ones((2, 2, 5, 4), np.float32))


@st.composite
def matmul_inputs(draw):
    dtype = draw(st.sampled_from(FLOATS))
    batch = draw(st.lists(st.integers(0, 3), max_size=2))
    m, k, n = (draw(st.integers(0, 40)) for _ in range(3))
    a = rand((*batch, m, k), dtype, draw(st.integers(0, 2**16)))
    b = rand((*batch, k, n), dtype, draw(st.integers(0, 2**16)))
    if draw(st.booleans()):  # the same values, laid out transposed in memory
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if draw(st.booleans()):
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
    return a, b


@settings(max_examples=60, deadline=None)
@given(matmul_inputs())
def test_wrapper_matches_numpy(ab):
    a, b = ab
    check_close(cpp.matmul(a, b), a, b)


# --------------------------------------------------------------------------- softmax family, relu, add

from tensorcore.backends import reference  # noqa: E402
import tensorcore as tc  # noqa: E402

# Odd shapes: single rows and columns, primes, one row longer than an online block (512) and one
# longer than 256 blocks (so blocks grow past the minimum).
ROW_SHAPES = [(1, 1), (3, 1), (1, 7), (5, 13), (2, 3, 31), (3, 1031), (2, 140_009)]


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def logits(shape, dtype, seed=0, scale=8.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", ROW_SHAPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_forward_backward(name, shape, dtype):
    x = logits(shape, dtype)
    y = getattr(_C, name)(x)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, getattr(reference, name)(x), **tol(dtype))
    g = logits(shape, dtype, 1, 1.0)
    dx = getattr(_C, name + "_backward")(y, g)
    np.testing.assert_allclose(dx, getattr(reference, name + "_backward")(y, g), **tol(dtype))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_special_values_follow_reference(name):
    inf, nan = np.inf, np.nan
    x = np.array([[1e4, -1e4, 0.0], [-inf, 0.0, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0],
                  [nan, 0.0, 1.0], [-1e30, 1e30, 3.0]], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(getattr(_C, name)(x), getattr(reference, name)(x), rtol=1e-6,
                                   atol=1e-6, equal_nan=True)
    long = np.full((2, 3000), -inf, np.float32)
    long[0, 2999], long[1, :1500] = 5.0, np.linspace(-50, 50, 1500)  # max in a late block
    np.testing.assert_allclose(getattr(_C, name)(long), getattr(reference, name)(long), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n,c", [(1, 1), (7, 3), (64, 10), (5, 1031)])
def test_cross_entropy(n, c, dtype):
    x = logits((n, c), dtype)
    t = np.random.default_rng(2).integers(0, c, n)
    losses, logp = _C.cross_entropy(x, t)
    ref_losses, ref_logp = reference.cross_entropy(x, t)
    np.testing.assert_allclose(losses, ref_losses, **tol(dtype))
    np.testing.assert_allclose(logp, ref_logp, **tol(dtype))
    g = logits((n,), dtype, 3, 1.0)
    np.testing.assert_allclose(_C.cross_entropy_backward(logp, t, g),
                               reference.cross_entropy_backward(logp, t, g), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 17), (70_001,)])
def test_relu_and_add_match_reference_exactly(shape, dtype):
    x, g = logits(shape, dtype), logits(shape, dtype, 1)
    x.flat[::3] = 0.0
    np.testing.assert_array_equal(_C.relu(x), reference.relu(x))
    np.testing.assert_array_equal(_C.relu_backward(x, g), reference.relu_backward(x, g))
    np.testing.assert_array_equal(_C.add(x, g), x + g)
    if len(shape) >= 2:
        bias = logits(shape[-1:], dtype, 2)
        np.testing.assert_array_equal(_C.add(x, bias), x + bias)


def test_relu_special_values():
    x = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0], np.float32)
    g = np.array([1.0, np.inf, 2.0, np.nan, 3.0, np.inf], np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(_C.relu(x), reference.relu(x))
        np.testing.assert_array_equal(_C.relu_backward(x, g), reference.relu_backward(x, g))


ROW_OPS = {
    "softmax": lambda x, g, t: _C.softmax(x),
    "log_softmax": lambda x, g, t: _C.log_softmax(x),
    "softmax_backward": lambda x, g, t: _C.softmax_backward(_C.softmax(x), g),
    "log_softmax_backward": lambda x, g, t: _C.log_softmax_backward(_C.log_softmax(x), g),
    "cross_entropy": lambda x, g, t: _C.cross_entropy(x, t)[1],
    "cross_entropy_backward": lambda x, g, t: _C.cross_entropy_backward(x, t, g[:, 0].copy()),
    "relu": lambda x, g, t: _C.relu(x),
    "relu_backward": lambda x, g, t: _C.relu_backward(x, g),
    "add": lambda x, g, t: _C.add(x, g[0].copy()),
}


@pytest.mark.parametrize("name", sorted(ROW_OPS))
def test_row_ops_do_not_depend_on_thread_count(threads, name):
    x, g = logits((301, 700), np.float32), logits((301, 700), np.float32, 1)
    t = np.random.default_rng(2).integers(0, 700, 301)
    _C.set_num_threads(1)
    one = ROW_OPS[name](x, g, t)
    for n_threads in (2, 3):
        _C.set_num_threads(n_threads)
        np.testing.assert_array_equal(ROW_OPS[name](x, g, t), one)


def test_row_op_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"tensorcore._C.softmax: unsupported dtype int64 for x"):
        _C.softmax(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"log_softmax: x must have at least 1 dimension"):
        _C.log_softmax(np.zeros((), np.float32))
    with pytest.raises(ValueError, match=r"softmax_backward: shapes differ: y is \(2, 3\), grad_y is \(3, 2\)"):
        _C.softmax_backward(x, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match=r"relu_backward: dtypes differ: x is float32, grad_y is float64"):
        _C.relu_backward(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"tensorcore._C.relu: x must be C-contiguous"):
        _C.relu(np.ones((3, 2), np.float32).T)
    with pytest.raises(ValueError, match=r"add: shapes differ: a is \(2, 3\), b is \(2,\)"):
        _C.add(x, np.ones(2, np.float32))
    with pytest.raises(TypeError, match=r"softmax: x must be a numpy.ndarray, got list"):
        _C.softmax([[1.0]])


def test_cross_entropy_errors():
    x = np.zeros((3, 4), np.float32)
    op = "tensorcore._C.cross_entropy"
    with pytest.raises(IndexError, match=re.escape(f"{op}: target[1] = 4 is out of range for 4 classes")):
        _C.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match=re.escape("target[2] = -1 is out of range")):
        _C.cross_entropy_backward(x, np.array([0, 1, -1]), np.ones(3, np.float32))
    with pytest.raises(TypeError, match=re.escape(f"{op}: target must be native int64 class indices, got int32")):
        _C.cross_entropy(x, np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=re.escape(f"{op}: expected target of shape (3,) for logits of shape (3, 4), got (2,)")):
        _C.cross_entropy(x, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=re.escape(f"{op}: logits must be 2-D (N, C), got shape (12,)")):
        _C.cross_entropy(x.ravel(), np.zeros(12, np.int64))
    with pytest.raises(ValueError, match=re.escape("expected grad_losses of shape (3,)")):
        _C.cross_entropy_backward(x, np.zeros(3, np.int64), np.ones(4, np.float32))
    with pytest.raises(IndexError, match="out of range for 0 classes"):
        _C.cross_entropy(np.zeros((2, 0), np.float32), np.zeros(2, np.int64))


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrappers_non_contiguous_and_fallbacks(dtype):
    x = logits((9, 14), dtype)[:, ::2]  # strided: compacted by the wrapper
    g = np.asfortranarray(logits((9, 7), dtype, 1))
    t = np.arange(9) % 7
    for name in ["softmax", "log_softmax", "relu"]:
        np.testing.assert_allclose(getattr(cpp, name)(x), getattr(reference, name)(x), **tol(dtype))
    y = cpp.softmax(x)
    np.testing.assert_allclose(cpp.softmax_backward(y, g), reference.softmax_backward(y, g), **tol(dtype))
    np.testing.assert_allclose(cpp.relu_backward(x, g), reference.relu_backward(x, g))
    np.testing.assert_array_equal(cpp.add(x, g), x + g)
    np.testing.assert_array_equal(cpp.add(x, g[0]), x + g[0])
    losses, logp = cpp.cross_entropy(x, t[::-1])
    np.testing.assert_allclose(losses, reference.cross_entropy(x, t[::-1])[0], **tol(dtype))
    np.testing.assert_allclose(cpp.cross_entropy_backward(logp, t, g[:, 0]),
                               reference.cross_entropy_backward(logp, t, g[:, 0]), **tol(dtype))
    # outside the kernels' contract: the reference answers (or raises) instead
    assert cpp.add(x, np.float64(1.0)).dtype == np.result_type(x, np.float64(1.0))
    assert cpp.add(x[:, :1], x).shape == x.shape                   # general broadcast
    assert cpp.relu(np.arange(-2, 3)).tolist() == [0, 0, 0, 1, 2]  # int64
    with pytest.raises(ValueError):
        cpp.softmax(np.zeros((3, 0), dtype))                       # the reference's own error


def test_backend_table_lists_native_entries():
    table = backends.get("cpp").table()
    for name in ["matmul", *ROW_OPS]:
        assert table[name] == "handwritten", name


# --------------------------------------------------------------------------- tc.set_num_threads


def test_package_thread_api(threads, monkeypatch):
    tc.set_num_threads(1)
    assert tc.get_num_threads() == _C.get_num_threads() == 1
    tc.set_num_threads(2)
    assert tc.get_num_threads() == (2 if _C.has_openmp else 1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        tc.set_num_threads(0)
    with pytest.raises(TypeError):
        tc.set_num_threads(1.5)
    assert cpp.get_num_threads() == tc.get_num_threads()


# --------------------------------------------------------------------------- gemm with transposes


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (17, 33, 9), (31, 5, 67), (100, 300, 270)])
def test_gemm_transposes_match_matmul_bitwise(m, k, n, trans_a, trans_b, dtype):
    a = rand((k, m) if trans_a else (m, k), dtype, 1)
    b = rand((n, k) if trans_b else (k, n), dtype, 2)
    op_a = np.ascontiguousarray(a.T) if trans_a else a
    op_b = np.ascontiguousarray(b.T) if trans_b else b
    out = _C.gemm(a, b, trans_a, trans_b)
    # the transpose only changes how the packing reads: same tiles, same summation order (one-row
    # products take the GEMV path, whose order depends on B's layout: close, not bitwise)
    if m > 1:
        np.testing.assert_array_equal(out, _C.matmul(op_a, op_b))
    check_close(out, op_a, op_b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("k,n", [(1, 7), (33, 1), (784, 500), (257, 1031)])
def test_single_row_products_take_the_gemv_path(threads, k, n, dtype):
    """M = 1 (a batch-1 layer): the matmul entry and gemm stream B once (dot products when B is stored
    transposed, row updates otherwise) instead of packing it; correct for every transpose and batch,
    and bitwise the same for any thread count. The named ladder rungs still pack."""
    a, b = rand((1, k), dtype, 3), rand((k, n), dtype, 4)
    for trans_a in (False, True):
        for trans_b in (False, True):
            out = _C.gemm(np.ascontiguousarray(a.T) if trans_a else a, np.ascontiguousarray(b.T) if trans_b else b,
                          trans_a, trans_b)
            check_close(out, a, b)
    check_close(_C.matmul(a, b), a, b)
    a3, b3 = rand((3, 1, k), dtype, 5), rand((3, k, n), dtype, 6)
    check_close(_C.matmul(a3, b3), a3, b3)
    _C.set_num_threads(1)
    one = (_C.matmul(a, b), _C.gemm(a, np.ascontiguousarray(b.T), False, True))
    for n_threads in (2, 3):
        _C.set_num_threads(n_threads)
        np.testing.assert_array_equal(_C.matmul(a, b), one[0])
        np.testing.assert_array_equal(_C.gemm(a, np.ascontiguousarray(b.T), False, True), one[1])
    check_close(_C.matmul_variant(a, b, "packed"), a, b)


def test_wrapper_reads_transposed_views_in_place():
    w = rand((500, 784), np.float32)
    x = rand((100, 784), np.float32, 1)
    np.testing.assert_array_equal(cpp.matmul(x, w.T), _C.matmul(x, np.ascontiguousarray(w.T)))
    g = rand((100, 500), np.float32, 2)
    np.testing.assert_array_equal(cpp.matmul(g.T, x), _C.matmul(np.ascontiguousarray(g.T), x))


def gemm_raises(exc, message):
    return pytest.raises(exc, match="^" + re.escape(f"tensorcore._C.gemm: {message}"))


def test_gemm_errors():
    a = np.ones((4, 3), np.float32)
    with gemm_raises(ValueError, "inner dimensions differ: a is (4, 3) (transposed), b is (3, 2)"):
        _C.gemm(a, np.ones((3, 2), np.float32), True, False)
    with gemm_raises(ValueError, "expected 2-D arrays"):
        _C.gemm(np.ones((2, 4, 3), np.float32), a)
    with gemm_raises(ValueError, "a must be C-contiguous"):
        _C.gemm(a.T, np.ones((4, 2), np.float32))
    with gemm_raises(TypeError, "dtypes differ: a is float32, b is float64"):
        _C.gemm(a, np.ones((3, 2)))
