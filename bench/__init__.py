"""tensorcore's benchmarks: kernel timings against NumPy and PyTorch, and the course's training runs.

``python -m bench`` runs the kernel benchmarks (``--quick`` for a short run); ``python -m bench.train``
trains the course's MLP and compares its epoch time with PyTorch. Results are JSON files in
``bench/results/`` with the machine's description (:mod:`bench.machine`, :mod:`bench.report`).
"""
