"""Handwritten GPU kernels: ``numba/`` (Numba-CUDA) and ``cuda/`` (CUDA C compiled by NVRTC).

Installed as ``tensorcore.kernels``; nothing here is imported unless a GPU backend asks for it.
"""
