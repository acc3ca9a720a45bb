"""The backend registry: which kernel tables exist, which can run here, and which one is active.

A backend is one flat table of kernels with the names and signatures of the NumPy reference
(:mod:`tensorcore.backends.reference`). Native backends register a loader that returns the entries
they implement by hand; every other entry falls back to the reference, and :meth:`Backend.table`
says which is which.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Iterator


class BackendUnavailable(RuntimeError):
    """Raised by a backend loader when the backend cannot run on this machine (the message says why)."""


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; falsy when it cannot, with ``reason`` saying why."""

    name: str
    device: str
    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"<{self.name} ({self.device}): {state}>"


class Backend:
    """One kernel table: handwritten entries first, the reference for everything else."""

    def __init__(self, name: str, device: str, kernels: dict[str, Callable], reference: "Backend | None") -> None:
        self.name = name
        self.device = device
        self._kernels = dict(kernels)
        self._reference = reference
        from .reference import CONTRACT

        unknown = set(self._kernels) - set(CONTRACT)
        if unknown:
            raise ValueError(f"backend {name!r} registers entries outside the contract: {sorted(unknown)}")
        for entry in CONTRACT:
            fn = self._kernels.get(entry)
            if fn is None and reference is not None:
                fn = getattr(reference, entry)
            setattr(self, entry, fn)

    def table(self) -> dict[str, str]:
        """Entry name → ``"handwritten"`` or ``"reference"`` (fell back to the NumPy reference)."""
        from .reference import CONTRACT

        if self._reference is None:
            return {entry: "reference" for entry in CONTRACT}
        return {entry: ("handwritten" if entry in self._kernels else "reference") for entry in CONTRACT}

    def __repr__(self) -> str:
        native = sum(v == "handwritten" for v in self.table().values())
        return f"<Backend {self.name} on {self.device}: {native} handwritten entries>"


@dataclass
class _Spec:
    name: str
    device: str
    loader: Callable[[], dict[str, Callable]]
    priority: int
    backend: Backend | None = None
    error: str | None = None


_SPECS: dict[str, _Spec] = {}
_DEFAULTS: dict[tuple[int, str], Backend] = {}  # (id of _SPECS, device) -> default; every op asks
_ACTIVE: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("tensorcore_active_backends", default={})


def register(name: str, device: str, loader: Callable[[], dict[str, Callable]], priority: int = 0) -> None:
    """Register a backend for ``device``. ``loader`` returns its handwritten entries or raises
    :class:`BackendUnavailable`; it runs on first use, never at import. Higher priority wins as the
    device's default."""
    _SPECS[name] = _Spec(name, device, loader, priority)
    _DEFAULTS.clear()


def _load(spec: _Spec) -> Backend | None:
    if spec.backend is None and spec.error is None:
        from . import reference

        try:
            kernels = spec.loader()
        except BackendUnavailable as exc:
            spec.error = str(exc)
            return None
        except ImportError as exc:
            spec.error = f"import failed: {exc}"
            return None
        is_reference = spec.name == "numpy"
        spec.backend = Backend(spec.name, spec.device, kernels, None if is_reference else reference.BACKEND)
    return spec.backend


def available() -> dict[str, Availability]:
    """Every registered backend, with whether it can run on this machine and, if not, why."""
    out = {}
    for spec in _SPECS.values():
        ok = _load(spec) is not None
        out[spec.name] = Availability(spec.name, spec.device, ok, spec.error or "")
    return out


def get(name: str) -> Backend:
    """The backend called ``name``; a clear error if it is unknown or cannot run here."""
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown backend {name!r}; registered: {sorted(_SPECS)}")
    backend = _load(spec)
    if backend is None:
        raise RuntimeError(f"backend {name!r} is not available on this machine: {spec.error}")
    return backend


def default(device: str) -> Backend:
    """The fastest available backend for ``device`` (highest priority that loads)."""
    key = (id(_SPECS), device)
    found = _DEFAULTS.get(key)
    if found is None:
        found = _DEFAULTS[key] = _find_default(device)
    return found


def _find_default(device: str) -> Backend:
    for spec in sorted(_SPECS.values(), key=lambda s: -s.priority):
        if spec.device == device and _load(spec) is not None:
            return spec.backend  # type: ignore[return-value]
    if device == "cuda":
        # The reference is written against the array namespace, so it runs on CuPy arrays (and on
        # the simulator's NumPy storage) when no GPU backend loads.
        from .reference import BACKEND

        return BACKEND
    raise RuntimeError(f"no backend is available for device {device!r}: "
                       + "; ".join(f"{s.name}: {s.error}" for s in _SPECS.values() if s.device == device))


def current(device: str) -> Backend:
    """The backend ops on ``device`` use now: the one chosen by :func:`use_backend`, else the default."""
    chosen = _ACTIVE.get().get(device)
    return get(chosen) if chosen is not None else default(device)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Run the ops of the backend's device on ``name`` inside the ``with`` block (for comparisons)."""
    backend = get(name)
    token = _ACTIVE.set({**_ACTIVE.get(), backend.device: name})
    try:
        yield backend
    finally:
        _ACTIVE.reset(token)
