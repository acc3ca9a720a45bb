"""The backend registry: availability with reasons, switching, and the handwritten/reference table."""
from __future__ import annotations

import numpy as np
import pytest

import tensorcore as tc
from tensorcore.backends import reference
from tensorcore.backends import registry
from tensorcore.backends.registry import Backend, BackendUnavailable, register


@pytest.fixture(autouse=True)
def private_registry(monkeypatch):
    """Backends registered by a test vanish after it."""
    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))


def test_reference_is_always_available_and_implements_the_whole_contract():
    avail = tc.backends.available()
    assert avail["numpy"] and avail["numpy"].device == "cpu"
    table = tc.backends.get("numpy").table()
    assert set(table) == set(reference.CONTRACT)
    for name in reference.CONTRACT:
        assert callable(getattr(tc.backends.get("numpy"), name))


def test_unavailable_backend_reports_why_and_import_never_fails():
    register("broken-test", "cpu", lambda: (_ for _ in ()).throw(BackendUnavailable("no such library")), priority=-1)
    status = tc.backends.available()["broken-test"]
    assert not status and "no such library" in status.reason
    with pytest.raises(RuntimeError, match="broken-test.*not available.*no such library"):
        tc.backends.get("broken-test")
    with pytest.raises(ValueError, match="unknown backend"):
        tc.backends.get("nonexistent")


def test_use_backend_switches_and_restores():
    before = tc.backends.current("cpu").name
    with tc.use_backend("numpy") as b:
        assert tc.backends.current("cpu") is b
    assert tc.backends.current("cpu").name == before


def test_ops_dispatch_to_the_active_backend():
    calls = []

    def spy_matmul(a, b):
        calls.append((a.shape, b.shape))
        return reference.matmul(a, b)

    register("spy-test", "cpu", lambda: {"matmul": spy_matmul}, priority=-1)
    spy = tc.backends.get("spy-test")
    assert spy.table()["matmul"] == "handwritten" and spy.table()["softmax"] == "reference"
    with tc.use_backend("spy-test"):
        (tc.ones(2, 3, requires_grad=True) @ tc.ones(3, 4)).sum().backward()
    assert calls[0] == ((2, 3), (3, 4)) and len(calls) == 2


def test_entries_outside_the_contract_are_refused():
    with pytest.raises(ValueError, match="outside the contract"):
        Backend("bad", "cpu", {"frobnicate": lambda: None}, reference.BACKEND)


def test_cpp_backend_registers_matmul_when_built():
    status = tc.backends.available()["cpp"]
    if not status:
        pytest.skip(f"cpp backend unavailable: {status.reason}")
    table = tc.backends.get("cpp").table()
    assert table["matmul"] == "handwritten"
    a = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    with tc.use_backend("cpp"):
        np.testing.assert_allclose((tc.tensor(a) @ tc.tensor(a.T)).numpy(), a @ a.T, rtol=1e-5, atol=1e-5)


def test_pool_geometry_lets_the_backward_gather_only_for_the_forwards_own_index():
    """The GPU backends' memo between max-pool forward and backward: one record format for both, and a
    gather only for the very index array the forward returned, over the same input shape, when windows
    do not overlap; anything else scatters (right for every geometry)."""
    import gc

    from tensorcore.backends import pool_geometry as pg

    tiled, overlapping = np.zeros((2, 3, 4, 4), np.int64), np.zeros((2, 3, 5, 5), np.int64)
    pg.remember(tiled, (2, 3, 8, 8), (2, 2), (2, 2), (0, 0))
    pg.remember(overlapping, (2, 3, 11, 11), (3, 3), (2, 2), (1, 1))
    window = pg.gather_window(tiled, (2, 3, 8, 8))
    assert window == pg.Window((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)) and window.kernel == (2, 2)
    assert pg.gather_window(tiled, (2, 3, 9, 9)) is None           # another input shape
    assert pg.gather_window(tiled.copy(), (2, 3, 8, 8)) is None    # another array, same id never reused live
    assert pg.gather_window(overlapping, (2, 3, 11, 11)) is None   # overlapping windows scatter
    key = id(tiled)
    del tiled
    gc.collect()
    assert key not in pg._GEOMETRY                                 # forgotten with its array
