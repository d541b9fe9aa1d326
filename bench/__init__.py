"""Benchmark suite: tracegrad against numpy, JAX, Numba, PyTensor, autograd and the machine.

Run ``python -m bench --help`` from the project root.
"""
