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
