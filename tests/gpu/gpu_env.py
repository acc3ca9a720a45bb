"""The one gate of the GPU-only tests: CuPy and a usable NVIDIA GPU, or a skip that says what is missing.

``cupy = gpu_env.require_gpu()`` at the top of a test module skips the whole module with the reason
(no CuPy, no driver, no GPU, or this process running Numba's CUDA simulator) and returns CuPy.
"""
from __future__ import annotations

import os
from types import ModuleType

import pytest


def require_gpu() -> ModuleType:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("needs a real GPU; this process runs Numba's CUDA simulator", allow_module_level=True)
    cupy = pytest.importorskip("cupy", reason="needs CuPy and an NVIDIA GPU (pip install tensorcore[cuda13])")
    try:
        gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # driver missing
        pytest.skip(f"no usable CUDA driver or GPU ({exc})", allow_module_level=True)
    if not gpus:
        pytest.skip("no NVIDIA GPU was found", allow_module_level=True)
    return cupy
