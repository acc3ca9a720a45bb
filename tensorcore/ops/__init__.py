"""Differentiable operations: each is an autograd ``Function`` whose forward calls the active backend.

One module per family: ``elementwise``, ``reduction``, ``shape``, ``indexing``, ``linalg``,
``softmax`` (softmax, log-softmax and the fused losses), ``inplace``.
"""
